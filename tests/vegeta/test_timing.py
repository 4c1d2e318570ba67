"""Timing model: engine geometry and hand-worked cycle counts of single instructions and short streams.

Constants used below (vegeta/engines.py, CoreConfig defaults):
  t_operand = wake-up 2 + register read 2 = 4; weight load (WL) = 16 cycles; L1 -> tregs 192 B/cycle, latency 5;
  store 64 B/cycle.
  VEGETA-S-16-2: PE rows 32/16 = 2, PE cols 16/2 = 8, PE-row stage 1 + ceil(log2(16)/2) = 3,
                 drain = (8 - 1) + 2*3 + t_acc 1 + t_wb 2 = 16.
  RASA-SM = VEGETA-D-1-1: 32 rows, 16 cols, stage 1, drain = 15 + 32 + 3 = 50.
"""
import pytest

from vegeta.engines import CoreConfig, parse_engine
from vegeta.isa import Instr
from vegeta.kernel import Blocking
from vegeta.model import _chain
from vegeta.sparsity import parse_pattern
from vegeta.timing import Core, time_stream

S16 = parse_engine("VEGETA-S-16-2")
RASA = parse_engine("RASA-SM")
CORE = CoreConfig()
approx = pytest.approx


def load(op, reg, nbytes, mreg=-1):
    return Instr(op, (reg,) if reg is not None else (), mreg=mreg, rows=1, row_bytes=nbytes, stride=nbytes)


def test_engine_geometry():
    assert (S16.pe_rows, S16.pe_cols, S16.row_stage, S16.drain) == (2, 8, 3, 16)
    assert (RASA.pe_rows, RASA.pe_cols, RASA.row_stage, RASA.drain) == (32, 16, 1, 50)
    d12 = parse_engine("RASA-DM")                 # VEGETA-D-1-2: 32 rows x 8 cols
    assert (d12.name, d12.pe_cols, d12.drain) == ("VEGETA-D-1-2", 8, 7 + 32 + 3)
    s4 = parse_engine("vegeta-s-4-2")             # 8 rows, stage 1 + ceil(2/2) = 2
    assert (s4.pe_rows, s4.row_stage, s4.drain) == (8, 2, 7 + 16 + 3)
    assert not RASA.supports("TILE_SPMM_U") and S16.supports("TILE_SPMM_R")


def test_tile_loads_alone():
    # TILE_LOAD_T 1 KB: 1024/192 = 5 1/3 cycles on the load pipe + 5 latency = 10 1/3
    # TILE_LOAD_U 2 KB: 10 2/3 + 5 = 15 2/3; TILE_LOAD_V 4 KB: 21 1/3 + 5 = 26 1/3; TILE_LOAD_M 128 B: 2/3 + 5
    for op, nbytes, end in (("TILE_LOAD_T", 1024, 31 / 3), ("TILE_LOAD_U", 2048, 47 / 3),
                            ("TILE_LOAD_V", 4096, 79 / 3)):
        c = Core(S16, CORE)
        assert c.issue(load(op, 0, nbytes)) == (0, approx(end))
    c = Core(S16, CORE)
    assert c.issue(load("TILE_LOAD_M", None, 128, mreg=0))[1] == approx(17 / 3)
    # back to back: the second load starts when the first leaves the pipe (5 1/3), ends 10 2/3 + 5
    c = Core(S16, CORE)
    c.issue(load("TILE_LOAD_T", 0, 1024))
    assert c.issue(load("TILE_LOAD_T", 1, 1024)) == (approx(16 / 3), approx(47 / 3))


def test_tile_gemm_alone_operands_ready():
    # registers hold ready values at t = 0. WL: 0 + t_operand 4 -> 4, 16 cycles -> 20.
    # feed starts at max(WL done 20, A 0+4, C 0+4) = 20, 16 rows -> 36; C written 36 + drain.
    c = Core(S16, CORE)
    assert c.issue(Instr("TILE_GEMM", (4, 0, 2))) == (20, 36 + 16)
    c = Core(RASA, CORE)
    assert c.issue(Instr("TILE_GEMM", (4, 0, 2))) == (20, 36 + 50)


def test_tile_gemm_full_single_tile_program():
    # ZERO C(t4): 0 -> 1.  LOAD B(t2) 1 KB: pipe 0 -> 5 1/3, ready 10 1/3.  LOAD A(t0): pipe 5 1/3 -> 10 2/3,
    # ready 15 2/3.  WL: 10 1/3 + 4 = 14 1/3 -> 30 1/3.  feed: max(30 1/3, A 15 2/3 + 4, C 1 + 4) = 30 1/3 -> 46 1/3,
    # C ready 46 1/3 + 16 = 62 1/3.  STORE: 62 1/3 + 4 = 66 1/3, 1 KB / 64 = 16 -> 82 1/3.
    prog = [Instr("TILE_ZERO", (4,)), load("TILE_LOAD_T", 2, 1024), load("TILE_LOAD_T", 0, 1024),
            Instr("TILE_GEMM", (4, 0, 2)), Instr("TILE_STORE_T", (4,), rows=16, row_bytes=64, stride=64)]
    c = Core(S16, CORE)
    c.log = []
    t = c.run(prog)
    assert [x[1:] for x in c.log] == [(0, 1), (0, approx(31 / 3)), (approx(16 / 3), approx(47 / 3)),
                                      (approx(91 / 3), approx(187 / 3)), (approx(199 / 3), approx(247 / 3))]
    assert (t.end, t.busy, t.computes, t.weight_loads, t.loaded, t.stored) == (approx(247 / 3), 16, 1, 1, 2048, 1024)


def test_tile_spmm_u_single_tile():
    # loads in the order A, M, B (the B load waits behind them): A pipe 0 -> 5 1/3 (ready 10 1/3); M 5 1/3 -> 6
    # (ready 11); B ureg 2 KB 6 -> 16 2/3 (ready 21 2/3). WL 25 2/3 -> 41 2/3; feed 41 2/3 -> 57 2/3 (A/M long
    # ready); C ready 57 2/3 + 16 = 73 2/3.
    prog = [Instr("TILE_ZERO", (3,)), load("TILE_LOAD_T", 0, 1024), load("TILE_LOAD_M", None, 128, mreg=0),
            load("TILE_LOAD_U", 6, 2048), Instr("TILE_SPMM_U", (3, 0, 6), mreg=0)]
    t = time_stream(prog, S16, CORE)
    assert t.end == approx(221 / 3)


def test_tile_spmm_v_single_tile():
    # B vreg first: 4 KB pipe 0 -> 21 1/3, ready 26 1/3; A 21 1/3 -> 26 2/3 (ready 31 2/3); M 26 2/3 -> 27 1/3
    # (ready 32 1/3). WL 30 1/3 -> 46 1/3; feed max(46 1/3, 35 2/3, 36 1/3) = 46 1/3 -> 62 1/3; C at 78 1/3.
    prog = [Instr("TILE_ZERO", (3,)), load("TILE_LOAD_V", 4, 4096), load("TILE_LOAD_T", 0, 1024),
            load("TILE_LOAD_M", None, 128, mreg=0), Instr("TILE_SPMM_V", (3, 0, 4), mreg=0)]
    c = Core(S16, CORE)
    c.log = []
    c.run(prog)
    assert c.log[-1][1:] == (approx(139 / 3), approx(235 / 3))


def test_tile_spmm_r_feed_is_half_the_half_slots():
    # rows: twelve with N = 1, four with N = 2 -> 20 half-slots, two per cycle -> feed 10 cycles
    # (640 B of values + 80 B of metadata). Registers ready at 0: WL 4 -> 20, feed 20 -> 30, C at 30 + 16 = 46.
    rown = (1,) * 12 + (2,) * 4
    c = Core(S16, CORE)
    assert c.issue(Instr("TILE_SPMM_R", (3, 0, 6), mreg=0, feed=10, rown=rown)) == (20, 46)


def test_weights_reused_by_consecutive_instructions():
    # same B register, untouched: the second instruction skips its WL and starts when the feed port frees (36)
    c = Core(S16, CORE)
    c.issue(Instr("TILE_GEMM", (4, 0, 2)))
    assert c.issue(Instr("TILE_GEMM", (5, 1, 2))) == (36, 36 + 16 + 16)
    assert c.t.weight_loads == 1


def test_dependent_accumulation_waits_for_the_drain():
    # second instruction accumulates into the same C: it may start at C ready + t_operand.
    # RASA: first C ready 86 -> 90 (its WL 20 -> 36 overlapped); S-16-2: first C ready 52 -> 56.
    for eng, start in ((RASA, 90), (S16, 56)):
        c = Core(eng, CORE)
        c.issue(Instr("TILE_GEMM", (4, 0, 2)))
        assert c.issue(Instr("TILE_GEMM", (4, 1, 3)))[0] == start


@pytest.mark.parametrize("engine,spec,blk,period", [
    # 2x2 dense: 4 instructions x 16 = 64 cycles per k-step unless the accumulation chain is longer:
    # RASA chain = feed 16 + drain 50 + t_operand 4 = 70 > 64  ->  70 (this is the 1.09x of VEGETA at 4:4)
    (RASA, "4:4", Blocking(2, 2), 70),
    (S16, "4:4", Blocking(2, 2), 64),             # chain 16 + 16 + 4 = 36 < 64: engine-bound
    (S16, "2:4", Blocking(3, 1), 48),             # 3 x 16, chain 36 < 48
    (S16, "1:4", Blocking(2, 1), 36),             # only 2 accumulators fit beside a vreg: chain 36 > 32
])
def test_steady_k_step_period(engine, spec, blk, period):
    p = parse_pattern(spec)
    (_, i24), (_, i16) = _chain(engine, CORE, p, blk, 24, "zero"), _chain(engine, CORE, p, blk, 16, "zero")
    assert (i24 - i16) / 8 == approx(period)


def test_without_renaming_the_vreg_reload_serialises():
    # 8 physical tregs = no renaming: the next B vreg load waits for the WL reading the current one:
    # 4096/192 + 5 + t_operand 4 + WL 16 = 46 1/3 cycles per k-step instead of 36
    core8 = CoreConfig(phys_tregs=8, phys_mregs=8)
    p = parse_pattern("1:4")
    (_, i24), (_, i16) = _chain(S16, core8, p, Blocking(2, 1), 24, "zero"), _chain(S16, core8, p, Blocking(2, 1), 16,
                                                                                     "zero")
    assert (i24 - i16) / 8 == approx(4096 / 192 + 25)


def test_dense_only_engine_rejects_sparse_instructions():
    with pytest.raises(ValueError, match="dense-only"):
        Core(RASA, CORE).issue(Instr("TILE_SPMM_V", (3, 0, 4), mreg=0))
