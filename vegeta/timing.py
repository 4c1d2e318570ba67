"""Cycle model of a tile-instruction stream on one core: load pipe, weight loads, the engine, the store pipe.

Pipes are in order; they run ahead of each other (decoupled, like reservation stations), limited by register
dependencies on the 8 architectural tregs / 8 mregs, renamed onto `CoreConfig.phys_tregs` / `phys_mregs` physical
registers (16 by default; 8 = no renaming):
  RAW  an operand is usable `t_operand` (= wake-up + register read) cycles after it is ready
  WAR  a register is overwritten only after its last reader has finished reading it
Resources and timing (all times in cycles, floats because bandwidths are bytes/cycle):
  tile load     load pipe busy bytes / l1_load_bytes_per_cycle; data ready l1_latency after the last byte
  weight load   B register -> the array's shadow weight buffer: wl_rows cycles on the weight-load port (all tregs
                of a ureg/vreg in parallel); two weight buffers (active + shadow), so the next instruction's weights
                load while the current one computes; skipped when the array already holds the same B register
                contents (consecutive instructions sharing B)
  compute       feed: the engine streams A for `feed` cycles (16 for T/U/V; row-wise ceil(sum N/2)); in order;
                starts after its weights are loaded and A, mreg and C are usable; C ready `drain` cycles after the
                feed ends (array skew + PE-row pipeline + accumulate + write-back, Engine.drain)
  store         store pipe busy bytes / store_bytes_per_cycle, from when C is usable
Because every dependency points backwards in program order and each pipe is in order, one pass computes the
schedule exactly.
"""
from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from .engines import CoreConfig, Engine
from .isa import B_TREGS, COMPUTE_OPS, LOAD_WIDTH, MREGS, TREGS, Instr


@dataclass
class StreamTiming:
    end: float = 0.0               # cycle the last instruction finished
    busy: float = 0.0              # cycles the engine streamed A (feed)
    computes: int = 0
    weight_loads: int = 0
    loaded: int = 0                # bytes L1 -> registers
    stored: int = 0                # bytes registers -> L1


class Core:
    """Mutable pipeline state; `issue` one instruction at a time (or `run` a stream)."""

    def __init__(self, engine: Engine, core: CoreConfig):
        self.e = engine
        self.c = core
        self.t_op = engine.t_operand
        self.drain = engine.drain
        self.l1_bw = core.l1_load_bytes_per_cycle
        self.compute_ops = frozenset(op for op in COMPUTE_OPS if engine.supports(op))
        # architectural -> physical mapping (renaming); phys_free[p] = cycle physical register p can be reused
        self.tmap = list(range(TREGS))
        self.tfree = [0.0] * core.phys_tregs
        self.ready = [0.0] * TREGS          # current value of each architectural treg usable from here (+t_operand)
        self.reads = [0.0] * TREGS          # last read of the current value
        self.ver = [0] * TREGS
        self.mmap = list(range(MREGS))
        self.mfree = [0.0] * core.phys_mregs
        self.mready = [0.0] * MREGS
        self.mreads = [0.0] * MREGS
        self.load_free = 0.0
        self.store_free = 0.0
        self.engine_free = 0.0
        self.wl_free = 0.0
        self.buf_key: list[tuple | None] = [None, None]
        self.buf_done = [0.0, 0.0]
        self.buf_free = [0.0, 0.0]
        self.active = 0
        self.t = StreamTiming()
        self.log: list[tuple[str, float, float]] | None = None   # (op, start, end) when tracing

    @staticmethod
    def _rename(arch: int, amap: list[int], free: list[float], ready: list[float], reads: list[float]
                ) -> tuple[float, int]:
        """A new physical register for a write to `arch`; returns the cycle it is available. The old physical
        register is released once its value was written and read for the last time; the earliest-free
        unmapped physical register (lowest index on ties) is taken."""
        old = amap[arch]
        r, w = ready[arch], reads[arch]
        free[old] = r if r > w else w
        best, when = -1, 0.0
        for x, f in enumerate(free):
            if (best < 0 or f < when) and (x == old or x not in amap):
                best, when = x, f
        amap[arch] = best
        reads[arch] = 0.0
        return when, old

    def _write_tregs(self, regs) -> float:
        return max(self._rename(x, self.tmap, self.tfree, self.ready, self.reads)[0] for x in regs)

    def issue(self, ins: Instr) -> tuple[float, float]:
        """Schedule one instruction; returns its (start, end) - end = result ready / last byte moved."""
        op = ins.op
        e, c, t = self.e, self.c, self.t
        if op in self.compute_ops:
            cr, ar, br = ins.regs
            w = B_TREGS[op]
            bregs = range(br, br + w)
            key = (br, w, tuple(self.ver[x] for x in bregs))
            if self.buf_key[self.active] == key:
                buf = self.active
                wl_done = self.buf_done[buf]
            else:
                buf = 1 - self.active
                wl_start = max(max(self.ready[x] for x in bregs) + self.t_op, self.wl_free, self.buf_free[buf])
                wl_done = wl_start + e.wl_rows
                self.wl_free = wl_done
                for x in bregs:
                    self.reads[x] = max(self.reads[x], wl_done)
                self.buf_key[buf] = key
                self.buf_done[buf] = wl_done
                t.weight_loads += 1
            s = max(self.engine_free, wl_done, self.ready[ar] + self.t_op, self.ready[cr] + self.t_op)
            if ins.mreg >= 0:
                s = max(s, self.mready[ins.mreg] + self.t_op)
            # C is read during the feed and its new value written to a physical register allocated at dispatch;
            # the old one may be reused in place (row r is read before row r is written back)
            avail, old = self._rename(cr, self.tmap, self.tfree, self.ready, self.reads)
            s = max(s, avail)
            fe = s + ins.feed
            if self.tmap[cr] != old:
                self.tfree[old] = max(self.tfree[old], fe)
            if ins.mreg >= 0:
                self.mreads[ins.mreg] = max(self.mreads[ins.mreg], fe)
            self.engine_free = fe
            self.buf_free[buf] = fe
            self.active = buf
            self.reads[ar] = max(self.reads[ar], fe)
            end = fe + self.drain
            self.ready[cr] = end
            self.ver[cr] += 1
            t.busy += ins.feed
            t.computes += 1
        elif op == "TILE_LOAD_M":
            m = ins.mreg
            avail = self._rename(m, self.mmap, self.mfree, self.mready, self.mreads)[0]
            s = max(self.load_free, avail)
            dur = ins.nbytes / self.l1_bw
            self.load_free = s + dur
            end = s + dur + c.l1_latency
            self.mready[m] = end
            t.loaded += ins.nbytes
        elif op in LOAD_WIDTH:
            regs = range(ins.regs[0], ins.regs[0] + LOAD_WIDTH[op])
            s = max(self.load_free, self._write_tregs(regs))
            dur = ins.nbytes / self.l1_bw
            self.load_free = s + dur
            end = s + dur + c.l1_latency
            for x in regs:
                self.ready[x] = end
                self.ver[x] += 1
            t.loaded += ins.nbytes
        elif op == "TILE_STORE_T":
            r = ins.regs[0]
            s = max(self.store_free, self.ready[r] + self.t_op)
            end = s + ins.nbytes / c.store_bytes_per_cycle
            self.store_free = end
            self.reads[r] = max(self.reads[r], end)
            t.stored += ins.nbytes
        elif op == "TILE_ZERO":
            r = ins.regs[0]
            s = self._write_tregs((r,))
            end = s + 1
            self.ready[r] = end
            self.ver[r] += 1
        else:
            if op in COMPUTE_OPS:
                e.require(op)           # a sparse instruction on a dense-only engine
            raise ValueError(f"unknown instruction {op!r}")
        if end > t.end:
            t.end = end
        if self.log is not None:
            self.log.append((op, s, end))
        return s, end

    def run(self, stream: Iterable[Instr]) -> StreamTiming:
        for ins in stream:
            self.issue(ins)
        return self.t


def time_stream(stream: Iterable[Instr], engine: Engine, core: CoreConfig | None = None) -> StreamTiming:
    """Cycles of an instruction stream on an idle core."""
    return Core(engine, core or CoreConfig()).run(stream)
