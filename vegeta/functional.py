"""Functional model: tile registers, memory, and what every instruction computes.

Registers hold bytes exactly as the hardware would (BF16 bit patterns for A/B, FP32 for C, packed 2-bit metadata),
so a program's loads, strides and register grouping are exercised, not just the arithmetic. Compute semantics:
each instruction forms its 16 x 16 dot products exactly (BF16 x BF16 products are exact in FP32; the sum is formed
in float64) and adds them to the FP32 accumulator with one rounding - the reduction-tree model of a PU.
"""
from __future__ import annotations

import numpy as np

from .formats import CODE_N, HALF_SLOT, ROWWISE_BLOCKS, from_bf16_bits, unpack_indices
from .isa import (
    B_TREGS,
    BLOCK,
    COMPUTE_OPS,
    K_PER_INSTR,
    LOAD_WIDTH,
    MREG_BYTES,
    MREGS,
    TILE_M,
    TILE_N,
    TREG_BYTES,
    TREGS,
    Instr,
)


class Machine:
    """8 tregs + 8 mregs + a flat byte memory; `run(program)` executes instructions in order."""

    def __init__(self, memory: np.ndarray):
        self.mem = memory
        self.treg = np.zeros((TREGS, TREG_BYTES), np.uint8)
        self.mreg = np.zeros((MREGS, MREG_BYTES), np.uint8)

    # ----------------------------------------------------------------- memory <-> registers
    def _gather(self, ins: Instr) -> np.ndarray:
        if ins.rows <= 0 or ins.row_bytes <= 0:
            raise ValueError(f"{ins.op}: empty memory operand")
        end = ins.addr + (ins.rows - 1) * ins.stride + ins.row_bytes
        if ins.addr < 0 or end > self.mem.size:
            raise ValueError(f"{ins.op}: address range {ins.addr}..{end} outside memory of {self.mem.size} B")
        idx = ins.addr + np.arange(ins.rows)[:, None] * ins.stride + np.arange(ins.row_bytes)[None, :]
        return self.mem[idx].ravel()

    def _regs_bytes(self, base: int, width: int) -> np.ndarray:
        return self.treg[base:base + width].ravel()

    def load(self, ins: Instr) -> None:
        data = self._gather(ins)
        if ins.op == "TILE_LOAD_M":
            if data.size > MREG_BYTES:
                raise ValueError(f"TILE_LOAD_M: {data.size} B > mreg size {MREG_BYTES} B")
            self.mreg[ins.mreg] = 0
            self.mreg[ins.mreg, :data.size] = data
            return
        width = LOAD_WIDTH[ins.op]
        base = ins.regs[0]
        if base % width:
            raise ValueError(f"{ins.op}: t{base} is not aligned to a {width}-treg register")
        if data.size > width * TREG_BYTES:
            raise ValueError(f"{ins.op}: {data.size} B does not fit {width} treg(s)")
        flat = np.zeros(width * TREG_BYTES, np.uint8)
        flat[:data.size] = data
        self.treg[base:base + width] = flat.reshape(width, TREG_BYTES)

    def store(self, ins: Instr) -> None:
        data = self.treg[ins.regs[0]][: ins.rows * ins.row_bytes].reshape(ins.rows, ins.row_bytes)
        end = ins.addr + (ins.rows - 1) * ins.stride + ins.row_bytes
        if ins.addr < 0 or end > self.mem.size:
            raise ValueError(f"TILE_STORE_T: address range {ins.addr}..{end} outside memory")
        for r in range(ins.rows):
            o = ins.addr + r * ins.stride
            self.mem[o:o + ins.row_bytes] = data[r]

    # ----------------------------------------------------------------- views
    def c_tile(self, reg: int) -> np.ndarray:
        return self.treg[reg].view(np.float32).reshape(TILE_M, TILE_N)

    def b_tile(self, base: int, k: int) -> np.ndarray:
        width = k // 32
        raw = self._regs_bytes(base, width).view(np.uint16).reshape(k, TILE_N)
        return from_bf16_bits(raw).astype(np.float64)

    def a_values(self, reg: int, count: int) -> np.ndarray:
        return from_bf16_bits(self.treg[reg].view(np.uint16)[:count]).astype(np.float64)

    # ----------------------------------------------------------------- compute
    def compute(self, ins: Instr) -> None:
        c, a, b = ins.regs
        k = K_PER_INSTR[ins.op]
        if b % B_TREGS[ins.op]:
            raise ValueError(f"{ins.op}: B register t{b} is not aligned")
        if len({c, a} | set(range(b, b + B_TREGS[ins.op]))) != 2 + B_TREGS[ins.op]:
            raise ValueError(f"{ins.op}: C, A and B registers overlap")
        bt = self.b_tile(b, k)
        acc = np.zeros((TILE_M, TILE_N), np.float64)
        if ins.op == "TILE_GEMM":
            acc = self.a_values(a, TILE_M * 32).reshape(TILE_M, 32) @ bt
        elif ins.op in ("TILE_SPMM_U", "TILE_SPMM_V"):
            n = 2 if ins.op == "TILE_SPMM_U" else 1
            vals = self.a_values(a, TILE_M * 32).reshape(TILE_M, 32)
            idx = unpack_indices(self.mreg[ins.mreg], TILE_M * 32).reshape(TILE_M, 32).astype(np.intp)
            rows_of_b = BLOCK * (np.arange(32) // n)[None, :] + idx        # the B row each stored value meets
            acc = np.einsum("rs,rsn->rn", vals, bt[rows_of_b])
        else:  # TILE_SPMM_R
            total = sum(ins.rown) * HALF_SLOT
            vals = self.a_values(a, total)
            idx = unpack_indices(self.mreg[ins.mreg], total).astype(np.intp)
            pos = 0
            for r, n in enumerate(ins.rown):
                if not n:
                    continue
                cnt = n * HALF_SLOT
                blk = np.tile(np.arange(ROWWISE_BLOCKS), n)
                acc[r] = vals[pos:pos + cnt] @ bt[BLOCK * blk + idx[pos:pos + cnt]]
                pos += cnt
        cur = self.c_tile(c).astype(np.float64)
        self.treg[c] = (cur + acc).astype(np.float32).view(np.uint8).ravel()

    def run(self, program) -> None:
        for ins in program:
            if ins.op in COMPUTE_OPS:
                self.compute(ins)
            elif ins.op == "TILE_ZERO":
                self.treg[ins.regs[0]] = 0
            elif ins.op == "TILE_STORE_T":
                self.store(ins)
            else:
                self.load(ins)


def rown_from_descriptor(desc: int) -> tuple[int, ...]:
    """Per-row N of a TILE_SPMM_R from its 32-bit operand."""
    return tuple(CODE_N[(desc >> (2 * r)) & 3] for r in range(TILE_M))
