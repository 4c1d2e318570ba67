"""The VEGETA tile ISA as modelled here: registers, instruction kinds and their operand shapes.

Registers (AMX-like state, reference/vegeta.md §2):
  treg t0..t7   1 KB each (16 rows x 64 B): a dense A tile 16x32 BF16, a B tile 32x16 BF16 or a C tile 16x16 FP32
  ureg u0..u3   two adjacent tregs (u0 = t0+t1, ...): a B tile 64x16 BF16 (2 KB)
  vreg v0, v1   four adjacent tregs (v0 = t0..t3, v1 = t4..t7): a B tile 128x16 BF16 (4 KB)
  mreg m0..m7   128 B each: one 2-bit position-in-block-of-4 per stored value of a compressed A treg (512 values)

Compute instructions (A = sparse, compressed along K; B and C dense; C += A x B, BF16 in, FP32 accumulate):
  TILE_GEMM    4:4  A 16x32 (treg)              B 32x16 (treg)   C 16x16
  TILE_SPMM_U  2:4  A 16x64 (treg + mreg)       B 64x16 (ureg)   C 16x16
  TILE_SPMM_V  1:4  A 16x128 (treg + mreg)      B 128x16 (vreg)  C 16x16
  TILE_SPMM_R  row-wise N:4, N in {1,2,4} per row; A 16x64 logical packed in a treg + mreg, B 64x16 (ureg),
               C 16x16; the per-row N codes are a 32-bit operand (2 bits per row). See formats.rowwise_tile.
Loads/stores: TILE_LOAD_T/U/V (1/2/4 KB into a treg/ureg/vreg), TILE_LOAD_M (128 B into an mreg),
TILE_STORE_T (a C treg to memory), TILE_ZERO (clear a treg).
"""
from __future__ import annotations

from dataclasses import dataclass, field

TREGS = 8
TREG_BYTES = 1024
MREGS = 8
MREG_BYTES = 128
TILE_M = 16            # rows of A / C per tile
TILE_N = 16            # columns of B / C per tile
DENSE_K = 32           # K of a dense tile (32 BF16 = 64 B per row)
BLOCK = 4              # M of N:M: every pattern here is N:4
SLOT_VALUES = 32       # stored values per A row-slot (one treg row of BF16)
BF16 = 2
FP32 = 4

# Logical K covered by one compute instruction and the tregs its B operand occupies.
K_PER_INSTR = {"TILE_GEMM": 32, "TILE_SPMM_U": 64, "TILE_SPMM_V": 128, "TILE_SPMM_R": 64}
B_TREGS = {"TILE_GEMM": 1, "TILE_SPMM_U": 2, "TILE_SPMM_V": 4, "TILE_SPMM_R": 2}
B_LOAD = {1: "TILE_LOAD_T", 2: "TILE_LOAD_U", 4: "TILE_LOAD_V"}
LOAD_WIDTH = {op: w for w, op in B_LOAD.items()}   # tregs a B-operand load fills
COMPUTE_OPS = frozenset(K_PER_INSTR)


@dataclass(frozen=True)
class Instr:
    """One instruction of a tile program.

    Registers are treg indices (`regs`: the destination first for loads/zero, (c, a, b) for computes, with b the
    first treg of a ureg/vreg); `mreg` is the metadata register of a sparse compute or the target of TILE_LOAD_M.
    Memory operands: `addr`, `rows` x `row_bytes` with `stride` between rows. `feed` is the number of cycles the
    instruction streams A through the array (16 for T/U/V, ceil(sum N / 2) for R); `rown` the per-row N of an R tile.
    """

    op: str
    regs: tuple[int, ...] = ()
    mreg: int = -1
    addr: int = 0
    rows: int = 0
    row_bytes: int = 0
    stride: int = 0
    feed: int = TILE_M
    rown: tuple[int, ...] = field(default=())

    @property
    def nbytes(self) -> int:
        return self.rows * self.row_bytes


