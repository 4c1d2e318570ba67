"""The generative model's building blocks: quantile tables, count tables and an order-k Markov chain.

Everything here is a pure function over plain JSON-able data, so a model file is just a dict:
no node names and no raw attribute sequences are ever stored (only quantiles, counts, and n-gram counts
over coarse node kinds).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence

import numpy as np

FORMAT = "chakra-synth-model"
VERSION = 3  # 3: collectives' process-group roles in their kinds (groups.py), no group_fraction
N_QUANTILES = 65  # 64 equal-probability bins: inverse-CDF sampling reproduces the CDF to within 1/64


def quantile_table(values: Sequence[float], n: int = N_QUANTILES, discrete: bool = False) -> list[float]:
    """Equally spaced quantiles (0 … 1) of `values`, rounded to 3 decimals: linear interpolation, or with
    `discrete` the inverse of the empirical CDF, so that every entry is an observed value (sizes: a byte count
    halfway between two layers' is no layer's)."""
    arr = np.asarray(values, dtype=float)
    if arr.size == 0:
        return []
    q = np.quantile(arr, np.linspace(0.0, 1.0, n), method="inverted_cdf" if discrete else "linear")
    return [round(float(v), 3) for v in q]


def sample_quantiles(table: Sequence[float], count: int, rng: np.random.Generator,
                     discrete: bool = False) -> np.ndarray:
    """`count` draws from the distribution a quantile table describes (inverse CDF, linear between quantiles;
    with `discrete` the nearest quantile, so that draws are the table's values: an atom of mass p is drawn for a
    share within 1/(2(n-1)) of p).

    The uniforms are stratified (one per 1/count slice, shuffled) so that small samples follow the CDF closely
    and their sum has little variance; that is what keeps a synthesized trace's total time near the model's.
    """
    if count <= 0:
        return np.zeros(0)
    if not table:
        return np.zeros(count)
    u = (rng.permutation(count) + rng.random(count)) / count
    if discrete:
        return np.asarray(table, dtype=float)[np.rint(u * (len(table) - 1)).astype(int)]
    grid = np.linspace(0.0, 1.0, len(table))
    return np.interp(u, grid, np.asarray(table, dtype=float))


def count_table(values: Sequence[int]) -> dict[str, int]:
    """{value: count} with string keys (JSON), sorted by value."""
    c = Counter(int(v) for v in values)
    return {str(k): c[k] for k in sorted(c)}


def sample_counts(table: dict[str, int], count: int, rng: np.random.Generator) -> np.ndarray:
    """`count` draws from a {value: count} table, stratified like `sample_quantiles`."""
    if count <= 0:
        return np.zeros(0, dtype=np.int64)
    if not table:
        return np.zeros(count, dtype=np.int64)
    vals = np.array([int(k) for k in table], dtype=np.int64)
    cdf = np.cumsum(np.array(list(table.values()), dtype=float))
    cdf /= cdf[-1]
    u = (rng.permutation(count) + rng.random(count)) / count
    return vals[np.minimum(np.searchsorted(cdf, u, side="right"), len(vals) - 1)]


def largest_remainder(weights: np.ndarray, total: int) -> np.ndarray:
    """`total` split in proportion to `weights` (sum > 0) into integers that add up to it: each gets the floor of
    its exact share, the rest go one each to the largest remainders (ties to the first)."""
    exact = weights * total / weights.sum()
    n = np.floor(exact + 1e-9).astype(np.int64)
    n[np.argsort(-(exact - n), kind="stable")[:total - int(n.sum())]] += 1
    return n


def thread_positions(slots: Sequence[int]) -> tuple[list[int], dict[int, list[int]]]:
    """Per node its position in its own thread's sequence, and per thread slot its nodes in order."""
    members: dict[int, list[int]] = {}
    pos = [0] * len(slots)
    for i, s in enumerate(slots):
        lst = members.setdefault(s, [])
        pos[i] = len(lst)
        lst.append(i)
    return pos, members


START = -1  # context symbol before the first node of a rank


def position_bin(i: int, length: int, bins: int) -> int:
    """Which of `bins` equal slices of a rank's node sequence node i falls in (its phase of the step)."""
    return min(bins - 1, i * bins // max(length, 1))


def markov_counts(sequences: Sequence[Sequence[int]], order: int, bins: int = 0) -> dict[str, dict[str, int]]:
    """n-gram counts for every context length 0..order: {"a,b": {"c": count}} (kind indices; -1 = start).

    With `bins` > 0 the same counts are also kept per position bin (relative position in the rank's sequence),
    keyed "<bin>|a,b": a step is forward, backward, gradient all-reduces, optimizer, in that order, and an
    order-k chain alone forgets where in the step it is (a 200-node sample can end before any all-reduce).
    """
    table: dict[str, Counter] = {}
    for seq in sequences:
        padded = [START] * order + list(seq)
        n = len(seq)
        for i in range(order, len(padded)):
            nxt = str(padded[i])
            b = f"{position_bin(i - order, n, bins)}|" if bins else ""
            for j in range(order + 1):
                ctx = ",".join(map(str, padded[i - j:i]))
                table.setdefault(ctx, Counter())[nxt] += 1
                if bins:
                    table.setdefault(b + ctx, Counter())[nxt] += 1
    return {ctx: dict(sorted(c.items(), key=lambda kv: int(kv[0]))) for ctx, c in sorted(table.items())}


class MarkovSampler:
    """Samples a kind sequence from n-gram counts, backing off to shorter contexts when one is unseen.

    With position bins, the longest context seen at the current bin wins (staying in the step's phase matters
    more than a long history); only a bin that never saw any context falls back to the pooled counts.
    """

    def __init__(self, counts: dict[str, dict[str, int]], order: int, bins: int = 0):
        self.order = order
        self.bins = bins
        self.table = {}  # context -> (next kinds, their CDF, their probabilities)
        for ctx, nxt in counts.items():
            vals = np.array([int(k) for k in nxt], dtype=np.int64)
            cdf = np.cumsum(np.array(list(nxt.values()), dtype=float))
            cdf = cdf / cdf[-1]
            self.table[ctx] = (vals, cdf, np.diff(cdf, prepend=0.0))

    def _entries(self, i: int, length: int, hist: list[int]):
        """The tables to draw node i from, longest context (in its position bin) first."""
        b = f"{position_bin(i, length, self.bins)}|" if self.bins else None
        for prefix in ((b, "") if b is not None else ("",)):
            for j in range(self.order, -1, -1):
                entry = self.table.get(prefix + (",".join(map(str, hist[len(hist) - j:])) if j else ""))
                if entry is not None:
                    yield entry

    def sample(self, length: int, rng: np.random.Generator, budget: np.ndarray | None = None) -> list[int]:
        """A kind sequence of `length`. With `budget` (nodes of every kind, summing to `length`) the sequence
        has exactly that many of each kind: at every step the chain's probabilities are multiplied by how far
        each kind is behind its schedule (remaining budget / budget x length / remaining positions; 0 once
        used up), backing off to shorter contexts when the chain only proposes used-up kinds, and to the
        remaining budget itself when no context does."""
        hist = [START] * self.order
        out = []
        u = rng.random(length)
        if budget is not None:
            left = np.asarray(budget, dtype=float).copy()
            share = np.maximum(left, 1e-12)
        for i in range(length):
            k = None
            for vals, cdf, prob in self._entries(i, length, hist):
                if budget is None:
                    k = int(vals[min(int(np.searchsorted(cdf, u[i], side="right")), len(vals) - 1)])
                    break
                p = prob * left[vals] / share[vals]
                if p.sum() > 0:
                    c = np.cumsum(p)
                    k = int(vals[min(int(np.searchsorted(c, u[i] * c[-1], side="right")), len(vals) - 1)])
                    break
            if k is None:
                if budget is None or left.sum() <= 0:
                    raise ValueError("model has no kind statistics")
                c = np.cumsum(left)
                k = int(min(np.searchsorted(c, u[i] * c[-1], side="right"), len(c) - 1))
            if budget is not None:
                left[k] -= 1
            out.append(k)
            if self.order:
                hist = hist[1:] + [k]
        return out
