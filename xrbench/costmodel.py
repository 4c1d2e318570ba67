"""Analytical per-model cost on one sub-accelerator (a roofline over compute and off-chip traffic).

latency = max(MACs / (PEs * util(dataflow)), off-chip bytes / bandwidth) at 1 GHz (the reference reports
MAESTRO cycles / 1e6 as ms, i.e. a 1 GHz clock). Off-chip bytes: every weight once (1 byte/element, the
model's parameter estimate ~ MACs / reuse) plus spill when the working set exceeds the global buffer.
Energy = MACs * E_MAC + bytes * E_DRAM. Constants are assumptions (docs/xrbench-run.md), not calibrated to
MAESTRO; per-layer shapes are a known gap.
"""
from __future__ import annotations

from functools import cache

from .accelerators import SubAccelerator
from .models import MODELS

# Spatial utilisation per dataflow (assumed; WS under-fills on small-channel layers, RS balances best).
UTIL = {"ws": 0.55, "os": 0.65, "rs": 0.75}
E_MAC_PJ = 1.0          # 8-bit MAC incl. local register file (assumed)
E_DRAM_PJ_PER_BYTE = 100.0
REUSE = 1000.0          # MACs per off-chip byte with a 4 MiB buffer (assumed; buffers < 4 MiB spill proportionally)


@cache
def model_cost(model: str, acc: SubAccelerator) -> tuple[float, float]:
    """(latency ms, energy mJ) of one inference of `model` on `acc`."""
    macs = MODELS[model].gmacs * 1e9
    compute_cycles = macs / (acc.pes * UTIL[acc.dataflow])
    traffic = macs / REUSE * max(1.0, (4 << 20) / acc.gbuf_bytes)
    memory_cycles = traffic / acc.offchip_gbps      # bytes / (GB/s) at 1 GHz = cycles
    latency_ms = max(compute_cycles, memory_cycles) / 1e6
    energy_mj = (macs * E_MAC_PJ + traffic * E_DRAM_PJ_PER_BYTE) * 1e-9
    return latency_ms, energy_mj
