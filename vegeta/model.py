"""Cycles of a whole GEMM: register-blocked micro-kernels on the core, bounded by L2 and memory bandwidth.

1. The GEMM is tiled: Mt = ceil(M/16) row tiles of A/C, Nt = ceil(N/16) column tiles of B/C, Ks = ceil(K/Kinst)
   k-steps (Kinst = 32, 64, 128, 64 for T, U, V, R). Edge tiles run as full tiles (zero padding).
2. For every register blocking that fits the 8 tregs, every compute order, both loop orders (B micro-panel kept in
   L1 while A streams from L2, or the reverse) and K unsplit or split into panels whose resident micro-panel fits
   half of L1, the model simulates the micro-kernel instruction stream (timing.Core) for three blocks back to
   back: the steady interval between blocks plus the cold start of the first. Long K loops are extrapolated from
   the simulated steady k-step period (exact for dense patterns, whose steady state is periodic).
3. Bytes moved L2 -> L1 and memory -> L2 follow from the loop order and which panels fit (L1: the resident
   micro-panel; L2: the streamed operand's block, mc/nc-blocked so it fits half of L2).
4. cycles = max(core, L2 bytes / L2 bandwidth, memory bytes / memory bandwidth); the fastest candidate wins
   (a library would pick it the same way). No factor depends on the sparsity pattern: patterns differ only in
   the instructions, bytes and feed cycles they produce.
"""
from __future__ import annotations

import functools
import itertools
import math
from dataclasses import dataclass

from .engines import CoreConfig, Engine
from .isa import B_TREGS, BF16, FP32, K_PER_INSTR, TILE_M, TILE_N, TREG_BYTES
from .kernel import (
    A_TILE_BYTES,
    META_BYTES,
    APart,
    Blocking,
    block_stream,
    blockings,
    dense_part,
    tile_counts,
)
from .sparsity import Pattern, a_bytes_per_window
from .timing import Core

SIM_STEPS = {"dense": (24, 8), "rowwise": (48, 32)}   # (simulated k-steps, steps used for the period)
COPIES = 3


@dataclass(frozen=True)
class Gemm:
    """C[M x N] = A[M x K] x B[K x N]; A is the weight (sparse) operand. `count` = identical repeats."""

    name: str
    m: int
    k: int
    n: int
    count: int = 1
    sparse: bool = True          # False: activation x activation (no weights to prune), runs dense
    b_unique_bytes: int | None = None   # bytes of distinct B data in memory (im2col: the input feature map)

    @property
    def macs(self) -> int:
        return self.m * self.k * self.n


@dataclass(frozen=True)
class GemmTiming:
    cycles: float
    core_cycles: float
    l2_cycles: float
    mem_cycles: float
    bound: str                   # core | l2 | memory
    blocking: str
    loop_order: str              # B-in-L1 | A-in-L1
    k_panels: int
    op: str
    computes: int                # compute instructions
    busy: float                  # cycles the array streamed A
    l1_bytes: int                # bytes loaded L1 -> tile registers
    l2_bytes: int
    mem_bytes: int
    block: Blocking | None = None   # the chosen register blocking (for re-simulating the full stream)


def _a_step_bytes(p: Pattern) -> float:
    """Mean bytes (values + metadata) of one A tile per k-step."""
    if p.rowwise:
        v, m = a_bytes_per_window(1)
        return p.mean_half_slots() * (v + m)
    return A_TILE_BYTES + (0 if p.op == "TILE_GEMM" else META_BYTES)


@functools.lru_cache(maxsize=64)
def _windows(p: Pattern) -> tuple[tuple[APart, ...], ...]:
    return tuple(tuple(APart(f, *a_bytes_per_window(hs), rown=rn) for f, hs, rn in w.parts) for w in p.windows)


def _parts_source(p: Pattern):
    """a_parts callable for block_stream: constant for N:M, cycling through the sampled windows for row-wise."""
    if not p.rowwise:
        part = [dense_part(p.op)]
        return lambda k, i: part
    wins = itertools.cycle(_windows(p))
    return lambda k, i: next(wins)


@functools.lru_cache(maxsize=4096)
def _chain(engine: Engine, core: CoreConfig, pattern: Pattern, blk: Blocking, ks: int, init: str
           ) -> tuple[float, float]:
    """(end of the first block from cold, steady interval between blocks) for ks k-steps per block.

    Dense patterns are periodic: the interval between the 2nd and 3rd block is exact. Row-wise feeds vary per
    window, so enough blocks are chained to cover ~800 sampled windows and the interval is their mean.
    """
    copies = COPIES if not pattern.sampled else min(16, max(4, math.ceil(800 / (ks * blk.n_a))))
    c = Core(engine, core)
    src = _parts_source(pattern)
    ends = []
    for _ in range(copies):
        c.run(block_stream(pattern.op, blk, ks, init, src))
        ends.append(c.t.end)
    if pattern.sampled:
        return ends[0], (ends[-1] - ends[0]) / (copies - 1)
    return ends[0], ends[-1] - ends[-2]


def block_time(engine: Engine, core: CoreConfig, pattern: Pattern, blk: Blocking, ks: int, init: str
               ) -> tuple[float, float]:
    """(cold first block, steady interval) for any ks, extrapolating long K loops from the steady period."""
    s_max, span = SIM_STEPS["rowwise" if pattern.sampled else "dense"]
    if ks <= s_max:
        return _chain(engine, core, pattern, blk, ks, init)
    f1, i1 = _chain(engine, core, pattern, blk, s_max, init)
    _, i0 = _chain(engine, core, pattern, blk, s_max - span, init)
    period = (i1 - i0) / span
    return f1 + (ks - s_max) * period, i1 + (ks - s_max) * period


def _split(total: int, size: int) -> list[tuple[int, int]]:
    """[(size, count), (last, 1)] covering `total` tiles in chunks of `size`."""
    full, rest = divmod(total, size)
    out = [(size, full)] if full else []
    if rest:
        out.append((rest, 1))
    return out


def _core_cycles(engine, core, pattern, blk: Blocking, mt: int, nt: int, ks: int, panels: int) -> float:
    kc = math.ceil(ks / panels)
    last = ks - (panels - 1) * kc
    pan = [(kc, "zero", 1)] if panels == 1 else [(kc, "zero", 1), (kc, "load", panels - 2), (last, "load", 1)]
    total, cold = 0.0, None
    for na, ca in _split(mt, blk.n_a):
        for nb, cb in _split(nt, blk.n_b):
            b = blk.edge(na, nb)
            for k, init, cp in pan:
                if cp <= 0 or k <= 0:
                    continue
                first, interval = block_time(engine, core, pattern, b, k, init)
                total += ca * cb * cp * interval
                if cold is None:
                    cold = first - interval
    return total + (cold or 0.0)


def gemm_timing(g: Gemm, pattern: Pattern, engine: Engine, core: CoreConfig) -> GemmTiming:
    """The fastest schedule of one GEMM over the instruction choices of the pattern (see module docstring)."""
    if g.m <= 0 or g.n <= 0 or g.k <= 0:
        raise ValueError(f"GEMM {g.name!r}: M, N, K must be positive (got {g.m}, {g.n}, {g.k})")
    engine.require(pattern)
    return _best(g.m, g.k, g.n, g.b_unique_bytes, pattern, engine, core)


@functools.lru_cache(maxsize=1024)
def _best(m: int, k: int, n: int, b_unique: int | None, pattern: Pattern, engine: Engine, core: CoreConfig
          ) -> GemmTiming:
    g = Gemm("", m, k, n, b_unique_bytes=b_unique)
    return min((_gemm_timing(g, p, engine, core) for p in pattern.alternatives()), key=lambda t: t.cycles)


def _gemm_timing(g: Gemm, pattern: Pattern, engine: Engine, core: CoreConfig) -> GemmTiming:
    op = pattern.op
    kin = K_PER_INSTR[op]
    mt, nt, ks = tile_counts(g.m, g.k, g.n, op)
    a_step = _a_step_bytes(pattern)
    b_tile = B_TREGS[op] * TREG_BYTES
    a_total = mt * ks * a_step
    k4 = math.ceil(g.k / 4) * 4                     # partial k-steps load only the rows of B that exist
    b_total = k4 * nt * TILE_N * BF16
    b_mem = b_total if g.b_unique_bytes is None else min(b_total, g.b_unique_bytes)
    c_total = mt * nt * TILE_M * TILE_N * FP32
    c_out = mt * nt * TILE_M * TILE_N * BF16        # the final output, converted to BF16 before it is written
    feed = pattern.mean_feed() if pattern.rowwise else TILE_M
    parts = pattern.mean_parts() if pattern.rowwise else 1.0
    half_l1, half_l2 = core.l1_bytes / 2, core.l2_bytes / 2
    busy = mt * nt * ks * feed           # the engine streams A at least this long
    best = None
    # most accumulators first: usually the fastest, so the lower bounds below prune the rest without simulating
    for blk in sorted(blockings(op, mt, nt), key=lambda b: (-b.n_a * b.n_b, -b.n_a, b.order)):
        mb, nb = math.ceil(mt / blk.n_a), math.ceil(nt / blk.n_b)
        # between consecutive k-steps of a full block: its feeds, and at least one accumulation chain
        # (feed + drain + operand latency); the first step of every block/panel starts a fresh chain. Only for
        # fixed feeds: with sampled row-wise feeds the mean-based chain is not a strict bound.
        step = blk.n_a * blk.n_b * feed
        chain = step if pattern.sampled else max(step, feed + engine.drain + engine.t_operand)
        for order in ("B-in-L1", "A-in-L1"):
            res_step = blk.n_b * b_tile if order == "B-in-L1" else blk.n_a * a_step
            fit = max(1, int(half_l1 // res_step))
            for panels in sorted({1, math.ceil(ks / fit)}):
                kc = math.ceil(ks / panels)
                lower = max(busy, (mt // blk.n_a) * (nt // blk.n_b) * (ks * chain - panels * (chain - step)))
                resident_fits = kc * res_step <= half_l1
                c_l2 = c_total * (2 * panels - 1)
                c_mem = c_out + (0 if panels == 1 or c_total <= half_l2 else 2 * (panels - 1) * c_total)
                if order == "B-in-L1":
                    l2 = a_total * nb + b_total * (1 if resident_fits else mb) + c_l2
                    mem = a_total + b_mem * max(1, math.ceil(mt * kc * a_step / half_l2)) + c_mem
                else:
                    l2 = b_total * mb + a_total * (1 if resident_fits else nb) + c_l2
                    mem = b_mem + a_total * max(1, math.ceil(nt * kc * kin * TILE_N * BF16 / half_l2)) + c_mem
                l2_c, mem_c = l2 / core.l2_bytes_per_cycle, mem / core.mem_bytes_per_cycle
                if best is not None and max(l2_c, mem_c, lower) >= best[0]:
                    continue                # cannot beat the best schedule: skip simulating it
                core_c = _core_cycles(engine, core, pattern, blk, mt, nt, ks, panels)
                total = max(core_c, l2_c, mem_c)
                if best is None or total < best[0] - 1e-9:
                    bound = "core" if total == core_c else ("l2" if total == l2_c else "memory")
                    best = (total, core_c, l2_c, mem_c, bound, blk, order, panels, l2, mem)
    total, core_c, l2_c, mem_c, bound, blk, order, panels, l2, mem = best
    l1 = a_total * math.ceil(nt / blk.n_b) + b_total * math.ceil(mt / blk.n_a) + c_total * (2 * panels - 1)
    return GemmTiming(total, core_c, l2_c, mem_c, bound, blk.label(), order, panels, op,
                      int(round(mt * nt * ks * parts)), busy, int(round(l1)), int(round(l2)), int(round(mem)),
                      blk)


def full_stream_cycles(g: Gemm, pattern: Pattern, engine: Engine, core: CoreConfig, t: GemmTiming) -> float:
    """Core cycles of schedule `t` simulated instruction by instruction over the whole GEMM (no extrapolation):
    the reference the block model is checked against (tests, bench)."""
    from .kernel import gemm_stream
    p = next(x for x in pattern.alternatives() if x.op == t.op)
    mt, nt, ks = tile_counts(g.m, g.k, g.n, p.op)
    c = Core(engine, core)
    return c.run(gemm_stream(p.op, t.block, mt, nt, ks, t.k_panels, _parts_source(p))).end
