"""Where in the step a kind's large and small messages come: its size order by position.

A step's collectives of one kind are not interchangeable: a data-parallel backward pass reduces the last layer's
gradients first and the first layer's last, and the one issued last is what the step waits for. `fit` stores per
comm kind a position profile (`comm_size_order`): its nodes' relative positions among the kind's nodes, in
`BINS` bins, each with the mean rank quantile of the sizes seen there (0 = the kind's smallest, 1 = its largest).
`sample` draws the kind's sizes as before (the same multiset) and hands them to its nodes in the profile's
order: the node whose bin expects the smallest size gets the smallest value, and so on; within a bin, in the
order drawn. It draws no random numbers.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

BINS = 16


def rank_quantiles(values: Sequence[float]) -> np.ndarray:
    """Each value's mid-rank quantile among `values` (ties share their mean rank): (rank + 0.5) / n in (0, 1)."""
    v = np.asarray(values, dtype=float)
    order = np.argsort(v, kind="stable")
    ranks = np.empty(v.size)
    ranks[order] = np.arange(v.size, dtype=float)
    uniq, inv = np.unique(v, return_inverse=True)
    mean_rank = np.bincount(inv, weights=ranks) / np.bincount(inv)
    return (mean_rank[inv] + 0.5) / v.size


def position_pairs(values: Sequence[float]) -> list[tuple[float, float]]:
    """(relative position, rank quantile) of each of one rank's values of a kind, in node order."""
    n = len(values)
    if n < 2:
        return []
    q = rank_quantiles(values)
    return [((j + 0.5) / n, float(q[j])) for j in range(n)]


def profile(pairs: Sequence[tuple[float, float]]) -> list[float] | None:
    """The mean rank quantile per position bin (an empty bin takes its nearest filled one's), or None when the
    pairs say nothing about order (fewer than two per rank, or every value equal)."""
    if not pairs:
        return None
    pos = np.array([p for p, _ in pairs])
    q = np.array([x for _, x in pairs])
    if np.ptp(q) == 0:
        return None
    b = np.minimum((pos * BINS).astype(int), BINS - 1)
    filled = np.bincount(b, minlength=BINS) > 0
    means = np.bincount(b, weights=q, minlength=BINS) / np.maximum(np.bincount(b, minlength=BINS), 1)
    where = np.flatnonzero(filled)
    nearest = where[np.abs(np.arange(BINS)[:, None] - where[None, :]).argmin(axis=1)]
    return [round(float(means[i]), 4) for i in nearest]


def in_order(values: np.ndarray, prof: Sequence[float] | None) -> np.ndarray:
    """`values` (one per node of a kind, in node order, as drawn) handed out again in the profile's order."""
    n = len(values)
    if prof is None or n < 2:
        return values
    bins = np.minimum(((np.arange(n) + 0.5) / n * len(prof)).astype(int), len(prof) - 1)
    target = np.asarray(prof, dtype=float)[bins]
    drawn = rank_quantiles(values)  # ties in the target keep the drawn order
    nodes = np.lexsort((drawn, target))
    out = np.empty_like(values)
    out[nodes] = np.sort(values, kind="stable")
    return out
