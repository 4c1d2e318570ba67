"""Tiled GEMM instruction streams with register blocking (the code a library would emit for VEGETA).

C[M x N] += A[M x K] x B[K x N]; A (weights) is the sparse operand, compressed along K. A register block holds
nA x nB C tiles, nA A tiles (+ their mregs) and nB B registers (treg/ureg/vreg) inside the 8 tregs:
  nA + nB * width(B) + nA * nB <= 8.
Per k-step the block loads its A tiles (+ metadata) and B registers, then runs nA x nB compute instructions. Loads
are issued in the order their registers are freed by the previous step (the load pipe is in order), computes in
`a-major` or `b-major` order (b-major reuses the weights already in the array for consecutive instructions).
A block starts with TILE_ZERO (first K panel) or TILE_LOAD_T of the partial C (later panels) and ends with
TILE_STORE_T of its C tiles.

Memory layout used by `gemm_program` (functional runs): A pre-packed per (row tile, k-step) into contiguous
compressed tiles (values then metadata), B row-major K x N BF16 (padded), C row-major M x N FP32 (padded).
"""
from __future__ import annotations

import math
from collections.abc import Callable, Iterator
from dataclasses import dataclass

from .isa import B_LOAD, B_TREGS, BF16, FP32, K_PER_INSTR, TILE_M, TILE_N, TREGS, Instr

A_TILE_BYTES = TILE_M * 32 * BF16          # 1 KB of stored values
META_BYTES = TILE_M * 32 // 4              # 128 B of 2-bit indices


def tile_counts(m: int, k: int, n: int, op: str) -> tuple[int, int, int]:
    """(row tiles of A/C, column tiles of B/C, k-steps) of an M x K x N GEMM run with `op`; edge tiles count
    as full tiles (zero padding)."""
    return math.ceil(m / TILE_M), math.ceil(n / TILE_N), math.ceil(k / K_PER_INSTR[op])


@dataclass(frozen=True)
class Blocking:
    n_a: int
    n_b: int
    order: str = "b-major"                 # or "a-major"

    def label(self) -> str:
        return f"{self.n_a}x{self.n_b}{'' if self.order == 'b-major' else ' a-major'}"

    def edge(self, n_a: int, n_b: int) -> Blocking:
        """The blocking of an edge block of this schedule that holds only n_a x n_b tiles (the compute order only
        exists when both are > 1)."""
        return Blocking(n_a, n_b, self.order if n_a > 1 and n_b > 1 else "b-major")


@dataclass(frozen=True)
class Alloc:
    """Register allocation of a block: B bases (aligned), A tregs, C tregs [a][b]."""

    b: tuple[int, ...]
    a: tuple[int, ...]
    c: tuple[tuple[int, ...], ...]


def fits(n_a: int, n_b: int, op: str) -> bool:
    return n_a >= 1 and n_b >= 1 and n_a + n_b * B_TREGS[op] + n_a * n_b <= TREGS


def blockings(op: str, max_a: int, max_b: int) -> list[Blocking]:
    """Every register blocking that fits the tregs (clipped to the tile counts), both compute orders."""
    out = []
    for n_a in range(1, TREGS + 1):
        for n_b in range(1, TREGS + 1):
            if fits(n_a, n_b, op) and n_a <= max(1, max_a) and n_b <= max(1, max_b):
                out.append(Blocking(n_a, n_b))
                if n_a > 1 and n_b > 1:
                    out.append(Blocking(n_a, n_b, "a-major"))
    return out


def allocate(n_a: int, n_b: int, op: str) -> Alloc:
    """B registers from the top (aligned to their width), then A tregs, then C tregs."""
    w = B_TREGS[op]
    b = tuple(TREGS - w * (j + 1) for j in range(n_b))
    a = tuple(range(n_a))
    c_flat = list(range(n_a, n_a + n_a * n_b))
    if c_flat and c_flat[-1] >= min(b):
        raise ValueError(f"blocking {n_a}x{n_b} does not fit the tregs for {op}")
    return Alloc(b, a, tuple(tuple(c_flat[i * n_b:(i + 1) * n_b]) for i in range(n_a)))


def compute_pairs(n_a: int, n_b: int, order: str) -> list[tuple[int, int]]:
    if order == "a-major":
        return [(i, j) for i in range(n_a) for j in range(n_b)]
    return [(i, j) for j in range(n_b) for i in range(n_a)]


def load_order(n_a: int, n_b: int, order: str) -> list[tuple[str, int]]:
    """Operands ordered by when the previous step stops reading them: A after the feed of its last compute, B after
    its last weight load (which ends before that compute's feed starts, hence the -0.5); ties by first use."""
    pairs = compute_pairs(n_a, n_b, order)
    first: dict[tuple[str, int], int] = {}
    freed: dict[tuple[str, int], float] = {}
    for p, (i, j) in enumerate(pairs):
        first.setdefault(("A", i), p)
        first.setdefault(("B", j), p)
        freed[("A", i)] = p
        if p == 0 or pairs[p - 1][1] != j:      # a new weight load reads B_j here
            freed[("B", j)] = p - 0.5
    return sorted(freed, key=lambda k: (freed[k], first[k], k))


# --------------------------------------------------------------------------- streams
@dataclass(frozen=True)
class APart:
    """One compute instruction's share of an A tile (row-wise tiles may need two)."""

    feed: int
    a_bytes: int
    m_bytes: int
    rown: tuple[int, ...] = ()
    a_addr: int = 0
    m_addr: int = 0


def dense_part(op: str) -> APart:
    return APart(TILE_M, A_TILE_BYTES, 0 if op == "TILE_GEMM" else META_BYTES)


def block_stream(op: str, blk: Blocking, k_steps: int, init: str, a_parts: Callable[[int, int], list[APart]],
                 b_addr: Callable[[int, int], tuple[int, int]] = lambda k, j: (0, 0),
                 c_addr: Callable[[int, int], tuple[int, int]] = lambda i, j: (0, 0)) -> Iterator[Instr]:
    """Instructions of one register block over `k_steps` k-steps.

    a_parts(k, i) -> the APart list of A tile i at step k; b_addr(k, j) -> (addr, stride) of B register j;
    c_addr(i, j) -> (addr, stride) of C tile (i, j); init = 'zero' | 'load'.
    """
    w = B_TREGS[op]
    al = allocate(blk.n_a, blk.n_b, op)
    k_rows = 32 * w
    for i in range(blk.n_a):
        for j in range(blk.n_b):
            if init == "zero":
                yield Instr("TILE_ZERO", (al.c[i][j],))
            else:
                addr, stride = c_addr(i, j)
                yield Instr("TILE_LOAD_T", (al.c[i][j],), addr=addr, rows=TILE_M, row_bytes=TILE_N * FP32,
                            stride=stride)
    pairs = compute_pairs(blk.n_a, blk.n_b, blk.order)
    loads = load_order(blk.n_a, blk.n_b, blk.order)
    last_pos = {i: pos for pos, (i, _) in enumerate(pairs)}    # the last compute of a round reading A tile i
    sparse = op != "TILE_GEMM"
    for k in range(k_steps):
        parts = {i: a_parts(k, i) for i in range(blk.n_a)}
        for kind, x in loads:
            if kind == "A":
                p = parts[x][0]
                yield Instr("TILE_LOAD_T", (al.a[x],), addr=p.a_addr, rows=1, row_bytes=p.a_bytes,
                            stride=p.a_bytes)
                if sparse:
                    yield Instr("TILE_LOAD_M", (), mreg=x, addr=p.m_addr, rows=1, row_bytes=p.m_bytes,
                                stride=p.m_bytes)
            else:
                addr, stride = b_addr(k, x)
                yield Instr(B_LOAD[w], (al.b[x],), addr=addr, rows=k_rows, row_bytes=TILE_N * BF16, stride=stride)
        # round r runs part r of every A tile (row-wise tiles may need two parts): all first parts, then the
        # second parts, so the two parts accumulating into one C are n_a x n_b instructions apart, not adjacent
        rounds = max(len(v) for v in parts.values())
        for r in range(rounds):
            for pos, (i, j) in enumerate(pairs):
                if len(parts[i]) <= r:
                    continue
                p = parts[i][r]
                yield Instr(op, (al.c[i][j], al.a[i], al.b[j]), mreg=i if sparse else -1, feed=p.feed, rown=p.rown)
                if len(parts[i]) > r + 1 and pos == last_pos[i]:     # A tile i is free: load its next part
                    nxt = parts[i][r + 1]
                    yield Instr("TILE_LOAD_T", (al.a[i],), addr=nxt.a_addr, rows=1, row_bytes=nxt.a_bytes,
                                stride=nxt.a_bytes)
                    yield Instr("TILE_LOAD_M", (), mreg=i, addr=nxt.m_addr, rows=1, row_bytes=nxt.m_bytes,
                                stride=nxt.m_bytes)
    for i in range(blk.n_a):
        for j in range(blk.n_b):
            addr, stride = c_addr(i, j)
            yield Instr("TILE_STORE_T", (al.c[i][j],), addr=addr, rows=TILE_M, row_bytes=TILE_N * FP32,
                        stride=stride)


def gemm_stream(op: str, blk: Blocking, mt: int, nt: int, ks: int, panels: int,
                a_parts: Callable[[int, int], list[APart]],
                b_addr: Callable[[int, int], tuple[int, int]] = lambda k, j: (0, 0),
                c_addr: Callable[[int, int], tuple[int, int]] = lambda i, j: (0, 0)) -> Iterator[Instr]:
    """The whole GEMM: for each K panel, for each block of row tiles, for each block of column tiles, one
    register block (edge blocks hold fewer tiles). a_parts/b_addr/c_addr take global tile indices."""
    kc = math.ceil(ks / panels)
    for p in range(panels):
        k0, k1 = p * kc, min(ks, (p + 1) * kc)
        if k0 >= k1:
            break
        for i0 in range(0, mt, blk.n_a):
            for j0 in range(0, nt, blk.n_b):
                na, nb = min(blk.n_a, mt - i0), min(blk.n_b, nt - j0)
                yield from block_stream(
                    op, blk.edge(na, nb), k1 - k0, "zero" if p == 0 else "load",
                    lambda kk, ii, i0=i0, k0=k0: a_parts(k0 + kk, i0 + ii),
                    lambda kk, jj, j0=j0, k0=k0: b_addr(k0 + kk, j0 + jj),
                    lambda ii, jj, i0=i0, j0=j0: c_addr(i0 + ii, j0 + jj))
