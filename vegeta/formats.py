"""Number and tile formats: BF16, compressed N:4 tiles (values + 2-bit metadata), row-wise N:4 tiles.

Compressed N:4 (used by TILE_SPMM_U/V and, with N = 4, equal to a dense tile): every block of 4 consecutive K
elements of a row keeps exactly N stored values in ascending position order; a block with fewer non-zeros is padded
with explicit zeros at its lowest unused positions. Each stored value has a 2-bit index = its position in the block.
A row's stored values are contiguous, block after block. Metadata is packed four indices per byte, the first index
in the lowest two bits, so a 16 x 32-value tile has exactly 128 B of metadata (one mreg).

Row-wise N:4 (TILE_SPMM_R): a 16 x 64 logical window (16 blocks per row) where row r keeps N_r in {1, 2, 4}
values per block. Row r is stored as N_r half-slots of 16 values; half-slot j holds the j-th stored value of each of
the 16 blocks, block order. Rows follow each other; a treg holds 512 values = 32 half-slots, so rows with
sum(N_r) > 32 are split over two instructions (contiguous rows, balanced: see rowwise_groups). The per-row N code
is 2 bits per row (0 = row not in this instruction, 1 -> N=1, 2 -> N=2, 3 -> N=4), 32 bits for a tile.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .isa import BLOCK, TILE_M

ROWWISE_K = 64                 # logical K of one row-wise window (16 blocks of 4)
ROWWISE_BLOCKS = ROWWISE_K // BLOCK
HALF_SLOT = ROWWISE_BLOCKS     # values per half-slot (one per block)
ROWWISE_MAX_HALF_SLOTS = 32    # 512 values per treg
N_CODE = {0: 0, 1: 1, 2: 2, 4: 3}
CODE_N = {v: k for k, v in N_CODE.items()}


# --------------------------------------------------------------------------- BF16
def to_bf16_bits(x: np.ndarray) -> np.ndarray:
    """float32 -> BF16 bit patterns (uint16), round to nearest even; NaN stays a quiet NaN."""
    f = np.ascontiguousarray(x, dtype=np.float32)
    bits = f.view(np.uint32).astype(np.uint64)
    rounded = ((bits + 0x7FFF + ((bits >> 16) & 1)) >> 16).astype(np.uint16)
    nan = np.isnan(f)
    if nan.any():
        rounded[nan] = ((bits[nan] >> 16) | 0x40).astype(np.uint16)
    return rounded


def from_bf16_bits(b: np.ndarray) -> np.ndarray:
    """BF16 bit patterns -> float32 (exact)."""
    return (np.asarray(b, dtype=np.uint16).astype(np.uint32) << 16).view(np.float32)


def bf16(x: np.ndarray) -> np.ndarray:
    """Round float values to the nearest BF16 value (returned as float32)."""
    return from_bf16_bits(to_bf16_bits(x))


# --------------------------------------------------------------------------- metadata packing
def pack_indices(idx: np.ndarray) -> np.ndarray:
    """2-bit indices (any shape, flattened in C order) -> bytes, four per byte, first index in the low bits."""
    flat = np.asarray(idx, dtype=np.uint8).ravel()
    if flat.size and int(flat.max()) > 3:
        raise ValueError("metadata index out of range 0..3")
    pad = (-flat.size) % 4
    q = np.concatenate([flat, np.zeros(pad, np.uint8)]).reshape(-1, 4)
    return (q[:, 0] | (q[:, 1] << 2) | (q[:, 2] << 4) | (q[:, 3] << 6)).astype(np.uint8)


def unpack_indices(packed: np.ndarray, count: int) -> np.ndarray:
    """Inverse of pack_indices: the first `count` 2-bit indices."""
    p = np.asarray(packed, dtype=np.uint8)
    q = np.stack([p & 3, (p >> 2) & 3, (p >> 4) & 3, (p >> 6) & 3], axis=1).ravel()
    return q[:count].astype(np.uint8)


# --------------------------------------------------------------------------- N:4 compression
def block_nnz(a: np.ndarray) -> np.ndarray:
    """Non-zeros per block of 4 along the last axis (K must be a multiple of 4)."""
    a = np.asarray(a)
    if a.shape[-1] % BLOCK:
        raise ValueError(f"K = {a.shape[-1]} is not a multiple of {BLOCK}")
    return (a.reshape(*a.shape[:-1], -1, BLOCK) != 0).sum(axis=-1)


def compress_nm(a: np.ndarray, n: int) -> tuple[np.ndarray, np.ndarray]:
    """(values, indices) of an N:4-sparse matrix rows x K -> rows x (K/4*n) each.

    Raises ValueError when a block has more than n non-zeros.
    """
    if n not in (1, 2, 4):
        raise ValueError(f"N must be 1, 2 or 4 (got {n})")
    a = np.asarray(a, dtype=np.float32)
    rows, k = a.shape
    blocks = a.reshape(rows, k // BLOCK, BLOCK)
    nz = blocks != 0
    if (nz.sum(axis=-1) > n).any():
        r, b = np.argwhere(nz.sum(axis=-1) > n)[0]
        raise ValueError(f"row {r} block {b} has more than {n} non-zeros: not {n}:4 sparse")
    # non-zeros first (key = position), padding zeros after (key = position + 4); keep n, then ascending positions
    key = np.where(nz, 0, BLOCK) + np.arange(BLOCK)
    keep = np.sort(np.argsort(key, axis=-1, kind="stable")[..., :n], axis=-1)
    vals = np.take_along_axis(blocks, keep, axis=-1)
    return vals.reshape(rows, -1), keep.reshape(rows, -1).astype(np.uint8)


def decompress_nm(values: np.ndarray, idx: np.ndarray, n: int) -> np.ndarray:
    """Dense rows x K matrix from compress_nm's output."""
    rows, stored = values.shape
    nblk = stored // n
    out = np.zeros((rows, nblk, BLOCK), dtype=np.float32)
    v = values.reshape(rows, nblk, n)
    i = idx.reshape(rows, nblk, n).astype(np.intp)
    np.put_along_axis(out, i, v, axis=-1)
    return out.reshape(rows, nblk * BLOCK)


# --------------------------------------------------------------------------- row-wise N:4 tiles
def row_n_for(nnz_per_block: np.ndarray) -> np.ndarray:
    """Smallest N in {1, 2, 4} covering each row's densest block (nnz_per_block: rows x blocks)."""
    worst = np.asarray(nnz_per_block).max(axis=-1, initial=0)
    return np.where(worst <= 1, 1, np.where(worst == 2, 2, 4)).astype(np.int64)


@dataclass(frozen=True)
class RowwiseTile:
    """One TILE_SPMM_R operand: packed values (BF16-representable float32), 2-bit indices and the per-row N."""

    values: np.ndarray          # (sum N_r * 16,)
    idx: np.ndarray             # (sum N_r * 16,) uint8
    rown: tuple[int, ...]       # 16 entries, 0 = row not in this instruction

    @property
    def half_slots(self) -> int:
        return sum(self.rown)

    @property
    def feed(self) -> int:
        """Cycles the tile streams through the array: two half-slots per cycle (the lo and hi K lanes)."""
        return (self.half_slots + 1) // 2

    @property
    def descriptor(self) -> int:
        """The 32-bit per-row N operand (2 bits per row, row 0 in the low bits)."""
        return sum(N_CODE[n] << (2 * r) for r, n in enumerate(self.rown))


def rowwise_tiles(window: np.ndarray, rown: np.ndarray | None = None) -> list[RowwiseTile]:
    """Pack a 16 x 64 logical window into 1 or 2 row-wise tiles (rown: N per row; default = smallest cover)."""
    w = np.asarray(window, dtype=np.float32)
    if w.shape != (TILE_M, ROWWISE_K):
        raise ValueError(f"a row-wise window is {TILE_M}x{ROWWISE_K}, got {w.shape}")
    cover = row_n_for(block_nnz(w))
    rn = cover if rown is None else np.asarray(rown, dtype=np.int64)
    if (rn < cover).any():
        r = int(np.argmax(rn < cover))
        raise ValueError(f"row {r} has a block with {int(block_nnz(w)[r].max())} non-zeros > N = {int(rn[r])}")
    per_row = []
    for r in range(TILE_M):
        n = int(rn[r])
        vals, idx = compress_nm(w[r:r + 1], n)
        # half-slot j = j-th stored value of every block
        per_row.append((n, vals.reshape(ROWWISE_BLOCKS, n).T.ravel(), idx.reshape(ROWWISE_BLOCKS, n).T.ravel()))
    out = []
    for rows in rowwise_groups(rn):
        rown_t = tuple(int(rn[r]) if r in rows else 0 for r in range(TILE_M))
        out.append(RowwiseTile(np.concatenate([per_row[r][1] for r in rows]).astype(np.float32),
                               np.concatenate([per_row[r][2] for r in rows]).astype(np.uint8), rown_t))
    return out


def rowwise_dense(tile: RowwiseTile) -> np.ndarray:
    """The 16 x 64 logical window a row-wise tile represents (absent rows are zero)."""
    out = np.zeros((TILE_M, ROWWISE_BLOCKS, BLOCK), np.float32)
    pos = 0
    for r, n in enumerate(tile.rown):
        if not n:
            continue
        cnt = n * HALF_SLOT
        v = tile.values[pos:pos + cnt].reshape(n, ROWWISE_BLOCKS)
        i = tile.idx[pos:pos + cnt].reshape(n, ROWWISE_BLOCKS).astype(np.intp)
        for j in range(n):
            out[r, np.arange(ROWWISE_BLOCKS), i[j]] += v[j]
        pos += cnt
    return out.reshape(TILE_M, ROWWISE_K)


def rowwise_groups(rown_rows) -> list[list[int]]:
    """Rows of each TILE_SPMM_R instruction for a tile with these per-row N values: one instruction when the
    half-slots fit a treg (sum N <= 32), else the contiguous split into two that balances their half-slots (so
    both instructions feed about equally long), else greedy packing in row order."""
    rows = [int(x) for x in rown_rows]
    total = sum(rows)
    if total <= ROWWISE_MAX_HALF_SLOTS:
        return [list(range(len(rows)))]
    best, acc = None, 0
    for cut in range(1, len(rows)):
        acc += rows[cut - 1]
        if acc <= ROWWISE_MAX_HALF_SLOTS and total - acc <= ROWWISE_MAX_HALF_SLOTS:
            cost = max(acc, total - acc)
            if best is None or cost < best[0]:
                best = (cost, cut)
    if best is not None:
        return [list(range(best[1])), list(range(best[1], len(rows)))]
    groups, cur, used = [], [], 0
    for r, n in enumerate(rows):
        if used + n > ROWWISE_MAX_HALF_SLOTS:
            groups.append(cur)
            cur, used = [], 0
        cur.append(r)
        used += n
    groups.append(cur)
    return groups
