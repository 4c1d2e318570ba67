"""SushiAccel: an analytical model of a SubGraph-Stationary inference accelerator.

Hardware (every constant is a YAML key; defaults are a ZU19EG-class Zynq UltraScale+ XCZU19EG, see
`Accelerator`):

* a ``pe_rows x pe_cols`` INT8 MAC array, weight stationary: a dense layer is a GEMM with reduction
  ``K = in * k^2`` on the rows, output channels on the columns and output pixels streamed, so it takes
  ``ceil(K/rows) * ceil(out/cols) * pixels`` cycles; a depthwise layer puts kernel taps on the rows and
  channels on the columns (each column gets its own input stream): ``ceil(k^2/rows) * ceil(ch/cols) *
  pixels``.  Weights enter the array at ``weight_feed_bytes_per_cycle`` (banked on-chip SRAM), so a layer
  also needs ``weight_bytes / feed`` cycles -- the bound for batch-1 FC layers.
* on-chip SRAM split into the **Persistent Buffer** (PB: the cached SubGraph, kept across queries), an
  activation buffer (two ping-pong halves; a block-boundary feature map larger than one half is written to
  DRAM and read back; inside an MBConv/bottleneck block the expanded tensors are row-tiled and fused, so
  they never leave the chip) and a weight streaming buffer.
* DRAM (DDR4): sustained bandwidth = peak x efficiency, energy per byte.

Per layer: ``time = max(compute, offchip_bytes / bandwidth) + overhead`` (weights and activations are
double buffered inside a layer; no prefetch across layers), where ``offchip_bytes`` = weight bytes not
resident in the PB + spilled activations.  Weights resident in the PB cost no off-chip traffic.
Off-chip energy = off-chip bytes x pJ/byte.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from chakra_tools.common import parse_size

from .supernet import DW, LayerDims, SuperNet, box_elems, boxes, slot_macs


@dataclass
class Accelerator:
    """SushiAccel constants (defaults: ZU19EG-class MPSoC, XCZU19EG-2; sources in docs/sushi-serve.md)."""
    name: str = "zu19eg-class"
    pe_rows: int = 32                   # 32 x 64 = 2048 INT8 MACs/cycle = one Xilinx DPU B4096 core
    pe_cols: int = 64
    clock_mhz: float = 300.0            # DPUCZDX8G clock on Zynq UltraScale+ -2 parts
    dsp_slices: int = 1968              # XCZU19EG DSP48E2 count
    macs_per_dsp: int = 2               # two INT8 MACs per DSP48E2 (shared-operand packing)
    onchip_sram: int | str = 9252864    # 984 BRAM36 (36 Kib) + 128 URAM288 (288 Kib) = 8.82 MiB
    persistent_buffer: int | str = "4608KiB"   # PB: all 128 URAM288 blocks (4.5 MiB) hold the cached SubGraph
    activation_buffer: int | str = "768KiB"    # ping-pong feature-map buffer (BRAM)
    weight_buffer: int | str = "256KiB"        # streaming buffer for weights not in the PB (BRAM)
    weight_feed_bytes_per_cycle: int = 512     # on-chip SRAM -> PE array (PB banked over 57+ of 128 URAM ports)
    dram_peak_gbps: float = 19.2        # GB/s (1e9): PS DDR4-2400, 64-bit
    dram_efficiency: float = 0.8        # sustained / peak for long sequential bursts (assumed)
    dram_pj_per_byte: float = 160.0     # ~20 pJ/bit: Horowitz ISSCC'14, 1.3 nJ per 64-bit DRAM access
    layer_overhead_us: float = 0.5      # per-layer descriptor / DMA set-up (assumed)
    weight_bits: int = 8
    bias_bits: int = 32
    act_bits: int = 8

    def validate(self):
        for f in ("pe_rows", "pe_cols", "dsp_slices", "macs_per_dsp", "weight_feed_bytes_per_cycle"):
            if getattr(self, f) < 1:
                raise ValueError(f"{f}: must be >= 1, got {getattr(self, f)}")
        for f in ("clock_mhz", "dram_peak_gbps"):
            if not getattr(self, f) > 0:
                raise ValueError(f"{f}: must be > 0, got {getattr(self, f)}")
        if not 0 < self.dram_efficiency <= 1:
            raise ValueError(f"dram_efficiency: must be in (0, 1], got {self.dram_efficiency}")
        if self.dram_pj_per_byte < 0 or self.layer_overhead_us < 0:
            raise ValueError("dram_pj_per_byte and layer_overhead_us must be >= 0")
        for f in ("weight_bits", "bias_bits", "act_bits"):
            if getattr(self, f) not in (4, 8, 16, 32):
                raise ValueError(f"{f}: must be 4, 8, 16 or 32, got {getattr(self, f)}")
        for f in ("onchip_sram", "persistent_buffer", "activation_buffer", "weight_buffer"):
            try:
                v = parse_size(getattr(self, f))
            except (ValueError, TypeError) as e:
                raise ValueError(f"{f}: {e}") from None
            setattr(self, f, v)
        if self.activation_buffer < 2 or self.weight_buffer < 1:
            raise ValueError("activation_buffer and weight_buffer must be > 0")
        need = self.persistent_buffer + self.activation_buffer + self.weight_buffer
        if need > self.onchip_sram:
            raise ValueError(f"persistent_buffer + activation_buffer + weight_buffer = {need} B exceeds "
                             f"onchip_sram = {self.onchip_sram} B")
        if self.pe_rows * self.pe_cols > self.dsp_slices * self.macs_per_dsp:
            raise ValueError(f"pe_rows x pe_cols = {self.pe_rows * self.pe_cols} MACs needs more than "
                             f"dsp_slices x macs_per_dsp = {self.dsp_slices * self.macs_per_dsp}")

    @property
    def dram_bytes_per_s(self) -> float:
        return self.dram_peak_gbps * 1e9 * self.dram_efficiency

    def constants(self) -> dict:
        return {k: getattr(self, k) for k in self.__dataclass_fields__}


@dataclass
class LayerCosts:
    """Per-layer quantities for N SubNets ([N, L] arrays) on one accelerator."""
    macs: np.ndarray
    weight_bytes: np.ndarray        # weights + biases of the active box
    compute_s: np.ndarray           # PE-array time incl. weight feed and fill/drain
    act_offchip_bytes: np.ndarray   # spilled feature maps (+ the input image and the logits)
    present: np.ndarray
    boxes: np.ndarray               # [N, L, 3] weight boxes

    @property
    def n(self) -> int:
        return self.macs.shape[0]


def bytes_of_box(net: SuperNet, acc: Accelerator, box: np.ndarray) -> np.ndarray:
    """Bytes (weights at weight_bits, biases at bias_bits) of boxes [..., L, 3]."""
    o, i, k = box[..., 0], box[..., 1], box[..., 2]
    return (o * i * k * k) * acc.weight_bits / 8 + o * net.slot_bias * acc.bias_bits / 8


def layer_costs(net: SuperNet, acc: Accelerator, dims: LayerDims) -> LayerCosts:
    R, C = acc.pe_rows, acc.pe_cols
    o, i, k, hw = dims.o, dims.i, dims.k, dims.hw
    dw = net.slot_kind == DW
    macs = slot_macs(net, dims)
    red = np.where(dw, k * k, i * k * k)
    mac_cycles = -(-red // R) * -(-o // C) * hw
    box = boxes(dims)
    wbytes = bytes_of_box(net, acc, box)
    feed_cycles = wbytes / acc.weight_feed_bytes_per_cycle
    present = o > 0
    cycles = np.where(present, np.maximum(mac_cycles, feed_cycles) + R + C, 0.0)
    compute_s = cycles / (acc.clock_mhz * 1e6)
    ab = acc.act_bits / 8
    half = acc.activation_buffer / 2
    spill = lambda elems: np.where(elems * ab > half, elems * ab, 0.0)  # noqa: E731
    act = spill(dims.ext_in) + spill(dims.ext_out) + spill(dims.resid)
    # the image arrives in DRAM and the logits leave through it, whatever their size
    act[:, 0] = dims.ext_in[:, 0] * ab + spill(dims.ext_out[:, 0]) + spill(dims.resid[:, 0])
    last = len(net.slots) - 1
    act[:, last] = spill(dims.ext_in[:, last]) + dims.ext_out[:, last] * ab
    return LayerCosts(macs, wbytes, compute_s, act, present, box)


def cached_bytes(net: SuperNet, acc: Accelerator, sub_boxes: np.ndarray, cache_boxes: np.ndarray) -> np.ndarray:
    """Bytes of each SubNet's weights resident in each cached SubGraph: [N, L, 3] x [J, L, 3] -> [N, J, L]."""
    inter = np.minimum(sub_boxes[:, None, :, :], cache_boxes[None, :, :, :])
    return bytes_of_box(net, acc, inter)


def latency_energy(costs: LayerCosts, acc: Accelerator, cached: np.ndarray):
    """(latency s, off-chip bytes) of every SubNet with every cache: `cached` is [N, J, L] bytes."""
    off = costs.weight_bytes[:, None, :] - cached + costs.act_offchip_bytes[:, None, :]
    mem_s = off / acc.dram_bytes_per_s
    t = np.maximum(costs.compute_s[:, None, :], mem_s) + costs.present[:, None, :] * acc.layer_overhead_us * 1e-6
    return t.sum(axis=-1), off.sum(axis=-1)


def per_layer_table(net: SuperNet, acc: Accelerator, cfg: dict, cache_box: np.ndarray | None = None) -> list[dict]:
    """Human/JSON per-layer breakdown of one SubNet (optionally with a cached SubGraph)."""
    dims = net.dims(net.batch([cfg]))
    c = layer_costs(net, acc, dims)
    L = len(net.slots)
    cb = np.zeros((1, L, 3), dtype=np.int64) if cache_box is None else cache_box[None]
    cached = cached_bytes(net, acc, c.boxes, cb)[0, 0]
    rows = []
    for li, s in enumerate(net.slots):
        if not c.present[0, li]:
            continue
        off = c.weight_bytes[0, li] - cached[li] + c.act_offchip_bytes[0, li]
        mem = off / acc.dram_bytes_per_s
        rows.append({"layer": s.name, "out": int(dims.o[0, li]), "in": int(dims.i[0, li]), "k": int(dims.k[0, li]),
                     "pixels": int(dims.hw[0, li]), "macs": int(c.macs[0, li]),
                     "weight_bytes": float(c.weight_bytes[0, li]), "pb_bytes": float(cached[li]),
                     "offchip_bytes": float(off), "compute_us": float(c.compute_s[0, li] * 1e6),
                     "dram_us": float(mem * 1e6),
                     "latency_us": float((max(c.compute_s[0, li], mem) + acc.layer_overhead_us * 1e-6) * 1e6)})
    return rows


__all__ = ["Accelerator", "LayerCosts", "layer_costs", "cached_bytes", "latency_energy", "bytes_of_box",
           "per_layer_table", "box_elems"]
