"""Analytical per-layer latency and energy for weight-, output- and row-stationary PE arrays (MAESTRO-like).

For one layer (loop nest K x C x Y' x X' x R x S, xrbench/layers.py) on one sub-accelerator (P PEs, NoC
bytes/cycle, global buffer GB, per-PE local buffer L1, off-chip bytes/cycle, 1 GHz, 1-byte operands):

1. Spatial mapping (the dataflows of XRBench's MAESTRO files, reference §5 / XRbench_evaluation/dataflows):
   WS (NVDLA-like): X' over P/256 clusters x K over 16 x C over 16;
   OS:              Y' over P/64 clusters x X' over 4 x C over 16;
   RS (Eyeriss-like): K over P/64 clusters x X' over 16 x filter rows R over 4.
   A dimension d of size L_d on an axis of a_d PEs takes F_d = ceil(L_d / a_d) folds; compute cycles =
   prod_mapped F_d x prod_unmapped L_d (one MAC per PE per cycle), so utilisation = MACs / (cycles x P).
   Groups (depthwise) and matmul heads sit in the K slot with C = channels per group. The mapper may
   transpose the output plane (swap Y'/X' with R/S) when that is faster (FC layers put tokens in Y').
2. NoC traffic (global buffer <-> array, multicast counted once): the stationary tensor crosses once; a
   streamed tensor crosses once per fold of the mapped dimension that does not index it:
   WS: weights x1, inputs x ceil(k/16) (K folds within a group), outputs x1 plus a 4-byte partial-sum
       round trip per extra C fold;
   OS: outputs x1, weights x F_Y' x F_X', inputs x ceil(k / k_res), k_res = L1 / 4 B partial sums held per PE;
   RS: weights x F_X', inputs x ceil(k / (P/64)), outputs x1 plus a partial-sum round trip per extra R fold.
   NoC cycles = bytes / NoC bandwidth.
3. Off-chip traffic: weights once per inference (models do not stay resident: several models share the
   accelerator); the input is read from DRAM unless the previous layer's output stayed in the global buffer
   (it does when it fits in half of it); the output is written unless it stays; when weights + input +
   output exceed the buffer, the smaller of weights/input is blocked into GB/2 tiles and the larger is
   re-read once per extra tile. DRAM cycles = bytes / off-chip bandwidth.
4. Layer cycles = max(compute, NoC, DRAM) (double-buffered overlap); model latency = sum over layers.
5. Energy = MACs x E_MAC + (MACs + NoC bytes) x E_L1 + (NoC + DRAM bytes) x E_GB + DRAM bytes x E_DRAM:
   every MAC reads one operand from the PE's local buffer (the stationary one sits in a register), every
   byte entering the array is written to a local buffer, every NoC and DRAM byte is a global-buffer access.
   Constants: Horowitz, "Computing's energy problem", ISSCC 2014, 45 nm: 8-bit multiply 0.2 pJ + 32-bit add
   0.1 pJ; SRAM read 10 pJ per 64 bit at 8 KB, 20 pJ at 32 KB, 100 pJ at 1 MB (~ sqrt(capacity), which we
   use to scale to 16 KiB .. 8 MiB); DRAM 1.3-2.6 nJ per 64 bit (midpoint 1.95 nJ). No static/leakage term.
"""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from functools import cache

import numpy as np

from .accelerators import SubAccelerator
from .layers import Layer
from .models import layers as model_layers

E_MAC_PJ = 0.2 + 0.1                  # 8-bit multiply + 32-bit accumulate (Horowitz 2014)
E_DRAM_PJ_PER_BYTE = 1950.0 / 8       # 1.3-2.6 nJ per 64-bit access, midpoint
SRAM_REF_BYTES, SRAM_REF_PJ_PER_BYTE = 8 * 1024, 10.0 / 8   # 10 pJ per 64-bit read of an 8 KB SRAM
PSUM_BYTES = 4                        # 32-bit partial sums
FREQ_HZ = 1e9                         # the reference reports MAESTRO cycles / 1e6 as ms
DATAFLOWS = ("ws", "os", "rs")


def sram_pj_per_byte(capacity_bytes: float) -> float:
    """Per-byte read energy of an SRAM of `capacity_bytes` (Horowitz 45 nm points, sqrt(capacity) scaling)."""
    return SRAM_REF_PJ_PER_BYTE * float(np.sqrt(capacity_bytes / SRAM_REF_BYTES))


def axes(dataflow: str, pes: int) -> dict[str, int]:
    """PEs along each spatially mapped dimension (the rest are temporal)."""
    if dataflow == "ws":
        return {"X": max(1, pes // 256), "K": 16, "C": 16}
    if dataflow == "os":
        return {"Y": max(1, pes // 64), "X": 4, "C": 16}
    if dataflow == "rs":
        return {"K": max(1, pes // 64), "X": 16, "R": 4}
    raise ValueError(f"unknown dataflow {dataflow!r} (known: ws os rs)")


@dataclass(frozen=True)
class Shapes:
    """Per-layer arrays of one model (int64 / float64)."""
    names: tuple[str, ...]
    K: np.ndarray      # output channels incl. groups/heads
    k: np.ndarray      # output channels per group
    C: np.ndarray      # reduction channels per group
    Y: np.ndarray      # output rows x batch
    X: np.ndarray
    R: np.ndarray
    S: np.ndarray
    macs: np.ndarray
    w_bytes: np.ndarray    # second operand (weights, or a matmul's activation operand)
    in_bytes: np.ndarray
    out_bytes: np.ndarray
    is_weight: np.ndarray   # False for matmul (its second operand is an on-chip activation)


@cache
def shapes(model: str) -> Shapes:
    return shapes_of(model_layers(model))


def shapes_of(ls: Sequence[Layer]) -> Shapes:
    if not ls:
        raise ValueError("no layers")
    a = lambda f: np.array([f(x) for x in ls], dtype=np.float64)  # noqa: E731
    return Shapes(tuple(x.name for x in ls), a(lambda x: x.groups * x.k), a(lambda x: x.k), a(lambda x: x.c),
                  a(lambda x: x.n * x.yo), a(lambda x: x.xo), a(lambda x: x.r), a(lambda x: x.s),
                  a(lambda x: x.macs), a(lambda x: x.weights), a(lambda x: x.inputs), a(lambda x: x.outputs),
                  np.array([x.op != "matmul" for x in ls]))


def _folds(L: np.ndarray, a: int) -> np.ndarray:
    return np.ceil(L / a)


def _onchip(sh: Shapes, dims: dict[str, np.ndarray], acc: SubAccelerator) -> tuple[np.ndarray, np.ndarray]:
    """(compute cycles, NoC bytes) per layer for one orientation of the output plane."""
    ax = axes(acc.dataflow, acc.pes)
    cycles = np.ones_like(sh.macs)
    folds = {}
    for d, L in dims.items():
        folds[d] = _folds(L, ax[d]) if d in ax else L
        cycles = cycles * folds[d]
    if acc.dataflow == "ws":
        noc = sh.w_bytes + sh.in_bytes * _folds(sh.k, ax["K"]) + sh.out_bytes * (1 + 2 * PSUM_BYTES * (folds["C"] - 1))
    elif acc.dataflow == "os":
        k_res = max(1, acc.l1_bytes // PSUM_BYTES)
        noc = sh.out_bytes + sh.w_bytes * folds["Y"] * folds["X"] + sh.in_bytes * _folds(sh.k, k_res)
    else:
        noc = sh.w_bytes * folds["X"] + sh.in_bytes * _folds(sh.k, ax["K"]) + sh.out_bytes * (1 + 2 * PSUM_BYTES * (folds["R"] - 1))
    return cycles, noc


def _dram(sh: Shapes, gbuf: float) -> np.ndarray:
    half = gbuf / 2
    kept = sh.out_bytes <= half
    prev_kept = np.concatenate([[False], kept[:-1]])
    w = np.where(sh.is_weight, sh.w_bytes, 0.0)
    traffic = w + np.where(prev_kept, 0.0, sh.in_bytes) + np.where(kept, 0.0, sh.out_bytes)
    traffic[-1] += sh.out_bytes[-1] if kept[-1] else 0.0          # the result leaves the chip
    over = sh.w_bytes + sh.in_bytes + sh.out_bytes > gbuf
    small, large = np.minimum(sh.w_bytes, sh.in_bytes), np.maximum(sh.w_bytes, sh.in_bytes)
    extra = (np.ceil(small / half) - 1) * large
    return traffic + np.where(over, extra, 0.0)


@dataclass(frozen=True)
class LayerCosts:
    names: tuple[str, ...]
    cycles: np.ndarray
    compute: np.ndarray
    noc_cycles: np.ndarray
    dram_cycles: np.ndarray
    noc_bytes: np.ndarray
    dram_bytes: np.ndarray
    energy_pj: np.ndarray
    utilisation: np.ndarray

    def bound(self) -> list[str]:
        """Which resource bounds each layer: compute, noc or dram."""
        stack = np.stack([self.compute, self.noc_cycles, self.dram_cycles])
        return [("compute", "noc", "dram")[i] for i in np.argmax(stack, axis=0)]


def layer_costs(model: str | Sequence[Layer], acc: SubAccelerator) -> LayerCosts:
    """Per-layer cycles and energy of `model` (an id or a layer list) on `acc` (module docstring)."""
    sh = shapes(model) if isinstance(model, str) else shapes_of(model)
    plane = {"K": sh.K, "C": sh.C, "Y": sh.Y, "X": sh.X, "R": sh.R, "S": sh.S}
    swapped = {**plane, "Y": sh.X, "X": sh.Y, "R": sh.S, "S": sh.R}
    c1, n1 = _onchip(sh, plane, acc)
    c2, n2 = _onchip(sh, swapped, acc)
    dram = _dram(sh, acc.gbuf_bytes)
    t_dram = dram / acc.offchip_gbps
    t1 = np.maximum(np.maximum(c1, n1 / acc.noc_bw), t_dram)
    t2 = np.maximum(np.maximum(c2, n2 / acc.noc_bw), t_dram)
    use2 = (t2 < t1) | ((t2 == t1) & (n2 < n1))
    compute, noc = np.where(use2, c2, c1), np.where(use2, n2, n1)
    t_noc = noc / acc.noc_bw
    cycles = np.where(use2, t2, t1)
    e_l1, e_gb = sram_pj_per_byte(acc.l1_bytes), sram_pj_per_byte(acc.gbuf_bytes)
    energy = sh.macs * E_MAC_PJ + (sh.macs + noc) * e_l1 + (noc + dram) * e_gb + dram * E_DRAM_PJ_PER_BYTE
    return LayerCosts(sh.names, cycles, compute, t_noc, t_dram, noc, dram, energy, sh.macs / (compute * acc.pes))


@cache
def model_cost(model: str, acc: SubAccelerator) -> tuple[float, float]:
    """(latency ms, energy mJ) of one inference of `model` on `acc`."""
    lc = layer_costs(model, acc)
    return float(lc.cycles.sum() / FREQ_HZ * 1e3), float(lc.energy_pj.sum() * 1e-9)
