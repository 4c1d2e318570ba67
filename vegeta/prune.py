"""Pruning dense weights (A, M x K, sparse along K) to the patterns VEGETA runs.

- `prune_nm(w, n)`: keep the n largest-magnitude values of every block of 4 (ties: lower position).
- `prune_row_wise(w, density)`: choose N in {1, 2, 4} per row and 64-wide K window (16 blocks) by magnitude:
  start every window row at N = 1 and upgrade the (row, window) pairs that gain the most retained magnitude per
  added non-zero (1 -> 2 adds the 2nd largest of each block, 2 -> 4 the 3rd and 4th) until `density` is reached.
- `prune_unstructured(w, sparsity)`: keep the largest-magnitude values of the whole matrix.
- `rowwise_cover(a)`: for an already sparse matrix, the smallest row-wise N:4 that holds every non-zero: per row
  and window, the N in {1, 2, 4} fitting its densest block. Unstructured sparsity runs on VEGETA this way.
"""
from __future__ import annotations

import numpy as np

from .formats import ROWWISE_K, row_n_for
from .isa import BLOCK


def _pad_k(w: np.ndarray, multiple: int) -> np.ndarray:
    w = np.asarray(w, dtype=np.float32)
    if w.ndim != 2:
        raise ValueError(f"expected a 2-D matrix, got shape {w.shape}")
    pad = (-w.shape[1]) % multiple
    return np.pad(w, ((0, 0), (0, pad))) if pad else w


def _block_order(blocks: np.ndarray) -> np.ndarray:
    """Per block, positions sorted by decreasing magnitude (stable: ties keep the lower position first)."""
    return np.argsort(-np.abs(blocks), axis=-1, kind="stable")


def prune_nm(w: np.ndarray, n: int) -> np.ndarray:
    """Magnitude N:4 pruning (K is zero-padded to a multiple of 4 and cropped back)."""
    if n not in (1, 2, 4):
        raise ValueError(f"N must be 1, 2 or 4 (got {n})")
    k = np.asarray(w).shape[1]
    a = _pad_k(w, BLOCK)
    blocks = a.reshape(a.shape[0], -1, BLOCK)
    order = _block_order(blocks)
    mask = np.zeros(blocks.shape, bool)
    np.put_along_axis(mask, order[..., :n], True, axis=-1)
    return np.where(mask, blocks, 0).reshape(a.shape)[:, :k]


def prune_unstructured(w: np.ndarray, sparsity: float) -> np.ndarray:
    """Keep the round((1 - sparsity) * size) largest-magnitude values (ties: lower flat index first)."""
    if not 0 <= sparsity < 1:
        raise ValueError(f"sparsity must be in [0, 1), got {sparsity}")
    a = np.asarray(w, dtype=np.float32)
    keep = int(round((1 - sparsity) * a.size))
    flat = np.abs(a).ravel()
    order = np.argsort(-flat, kind="stable")
    mask = np.zeros(a.size, bool)
    mask[order[:keep]] = True
    return np.where(mask.reshape(a.shape), a, 0).astype(np.float32)


def random_sparse(shape: tuple[int, int], sparsity: float, rng: np.random.Generator) -> np.ndarray:
    """Gaussian weights pruned by magnitude to `sparsity` (so non-zero positions are uniformly random)."""
    return prune_unstructured(rng.standard_normal(shape).astype(np.float32), sparsity)


def rowwise_cover(a: np.ndarray, window: int = ROWWISE_K) -> np.ndarray:
    """N per (row, window) of the smallest row-wise N:4 cover of a sparse matrix: rows x ceil(K/window)."""
    m = _pad_k(a, window)
    nnz = (m.reshape(m.shape[0], -1, BLOCK) != 0).sum(axis=-1)
    return row_n_for(nnz.reshape(m.shape[0], -1, window // BLOCK))


def prune_row_wise(w: np.ndarray, density: float, window: int = ROWWISE_K) -> tuple[np.ndarray, np.ndarray]:
    """(pruned matrix, N per row and window) for a target density in [1/4, 1] (see module docstring)."""
    if not 0.25 <= density <= 1:
        raise ValueError(f"row-wise N:4 density must be in [0.25, 1], got {density}")
    k = np.asarray(w).shape[1]
    a = _pad_k(w, window)
    rows, kp = a.shape
    nwin = kp // window
    bpw = window // BLOCK
    blocks = a.reshape(rows, nwin, bpw, BLOCK)
    order = _block_order(blocks)
    mag = np.take_along_axis(np.abs(blocks), order, axis=-1)          # sorted magnitudes per block
    gain12 = mag[..., 1].sum(axis=-1) / bpw                           # per added non-zero, 1 -> 2
    gain24 = mag[..., 2:].sum(axis=(-1, -2)) / (2 * bpw)              # per added non-zero, 2 -> 4
    budget = int(round(density * rows * kp)) - rows * kp // BLOCK     # non-zeros beyond N = 1 everywhere
    # candidates: (gain, stage, flat index); stage 0 must precede stage 1 of the same unit, and gain12 >= gain24
    # (2nd largest >= mean of 3rd and 4th), so a global sort by (-gain, stage) keeps the order per unit
    g = np.concatenate([gain12.ravel(), gain24.ravel()])
    stage = np.repeat([0, 1], rows * nwin)
    unit = np.tile(np.arange(rows * nwin), 2)
    cost = np.where(stage == 0, bpw, 2 * bpw)
    order_c = np.lexsort((unit, stage, -g))
    n = np.ones(rows * nwin, np.int64)
    spent = 0
    for c in order_c:
        u, s = unit[c], stage[c]
        if spent + cost[c] > budget:
            continue
        if (s == 0 and n[u] == 1) or (s == 1 and n[u] == 2):
            n[u] = 2 if s == 0 else 4
            spent += cost[c]
    n = n.reshape(rows, nwin)
    keep = np.zeros(blocks.shape, bool)
    ranks = np.argsort(order, axis=-1)                                # rank of each position in its block
    keep |= ranks < n[:, :, None, None]
    pruned = np.where(keep, blocks, 0).reshape(rows, kp)[:, :k]
    return pruned.astype(np.float32), n
