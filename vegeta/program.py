"""A complete GEMM as a VEGETA program over a memory image - the functional model's end-to-end check.

`build_gemm(a, b, op)` packs A (pruned, M x K) into compressed tiles, lays out B and C, and emits the same
register-blocked instruction stream the timing model times (kernel.block_stream); `run_gemm` executes it on a
`Machine` and returns C. Memory layout: A tiles per (row tile, k-step), values then metadata (1 KB + 128 B for
U/V; row-wise parts back to back); B row-major Kp x Np BF16; C row-major Mp x Np FP32 (padded to tiles).
"""
from __future__ import annotations

import numpy as np

from .formats import compress_nm, pack_indices, rowwise_tiles, to_bf16_bits
from .functional import Machine
from .isa import BF16, FP32, K_PER_INSTR, TILE_M, TILE_N, Instr
from .kernel import APart, Blocking, gemm_stream, tile_counts

_N_OF = {"TILE_GEMM": 4, "TILE_SPMM_U": 2, "TILE_SPMM_V": 1}


def build_gemm(a: np.ndarray, b: np.ndarray, op: str, blk: Blocking = Blocking(1, 1), panels: int = 1,
               rown: np.ndarray | None = None) -> tuple[np.ndarray, list[Instr], tuple[int, int, int, int]]:
    """(memory, program, (c_addr, Mp, Np, M x N)) for C = A x B; `rown`: N per (row, 64-K window) for row-wise."""
    a = np.asarray(a, np.float32)
    b = np.asarray(b, np.float32)
    m, k = a.shape
    if b.shape[0] != k:
        raise ValueError(f"A is {a.shape}, B is {b.shape}: inner dimensions differ")
    n = b.shape[1]
    kin = K_PER_INSTR[op]
    mt, nt, ks = tile_counts(m, k, n, op)
    mp, np_, kp = mt * TILE_M, nt * TILE_N, ks * kin
    ap = np.zeros((mp, kp), np.float32)
    ap[:m, :k] = a
    bp = np.zeros((kp, np_), np.float32)
    bp[:k, :n] = b
    chunks: list[bytes] = []
    parts: dict[tuple[int, int], list[APart]] = {}
    offset = 0

    def put(data: bytes) -> int:
        nonlocal offset
        addr = offset
        chunks.append(data)
        offset += len(data)
        return addr

    for i in range(mt):
        for s in range(ks):
            tile = ap[i * TILE_M:(i + 1) * TILE_M, s * kin:(s + 1) * kin]
            if op == "TILE_SPMM_R":
                rn = None if rown is None else np.asarray(rown)[i * TILE_M:(i + 1) * TILE_M, s]
                if rn is not None and len(rn) < TILE_M:
                    rn = np.concatenate([rn, np.ones(TILE_M - len(rn), np.int64)])
                plist = []
                for t in rowwise_tiles(tile, rn):
                    va = put(to_bf16_bits(t.values).tobytes())
                    meta = pack_indices(t.idx).tobytes()
                    ma = put(meta)
                    plist.append(APart(t.feed, len(t.values) * BF16, len(meta), t.rown, va, ma))
                parts[(i, s)] = plist
            else:
                if op == "TILE_GEMM":
                    va = put(to_bf16_bits(tile).tobytes())
                    parts[(i, s)] = [APart(TILE_M, TILE_M * 32 * BF16, 0, (), va, 0)]
                else:
                    vals, idx = compress_nm(tile, _N_OF[op])
                    va = put(to_bf16_bits(vals).tobytes())
                    ma = put(pack_indices(idx).tobytes())
                    parts[(i, s)] = [APart(TILE_M, vals.size * BF16, vals.size // 4, (), va, ma)]
    b_addr0 = put(to_bf16_bits(bp).tobytes())
    c_addr0 = put(bytes(mp * np_ * FP32))
    memory = np.frombuffer(b"".join(chunks), np.uint8).copy()

    program = list(gemm_stream(
        op, blk, mt, nt, ks, panels, lambda kk, ii: parts[(ii, kk)],
        lambda kk, jj: (b_addr0 + kk * kin * np_ * BF16 + jj * TILE_N * BF16, np_ * BF16),
        lambda ii, jj: (c_addr0 + ii * TILE_M * np_ * FP32 + jj * TILE_N * FP32, np_ * FP32)))
    return memory, program, (c_addr0, mp, np_, m * n)


def run_gemm(a: np.ndarray, b: np.ndarray, op: str, blk: Blocking = Blocking(1, 1), panels: int = 1,
             rown: np.ndarray | None = None) -> np.ndarray:
    """C = A x B computed by executing the VEGETA program (A and B are used as BF16)."""
    memory, program, (c0, mp, np_, _) = build_gemm(a, b, op, blk, panels, rown)
    mach = Machine(memory)
    mach.run(program)
    c = mach.mem[c0:c0 + mp * np_ * FP32].view(np.float32).reshape(mp, np_)
    return c[:a.shape[0], :b.shape[1]].copy()

