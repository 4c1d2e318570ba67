"""Accelerator systems: the 13 XRBench styles A-M at 4K/8K PEs (reference/xrbench.md §5), or a cost CSV."""
from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

from chakra_tools.common import ToolError, read_csv_rows

from .models import MODELS


@dataclass(frozen=True)
class SubAccelerator:
    """One PE array with a global buffer. Bandwidths in bytes per cycle (1-byte elements, 1 GHz clock, so
    also GB/s), as MAESTRO's elements/cycle in the reference hw files."""
    name: str
    pes: int
    dataflow: str          # ws | os | rs
    gbuf_bytes: int        # global (shared) buffer
    offchip_gbps: float = 128.0
    noc_bw: float = 256.0  # global buffer <-> PE array, bytes/cycle
    l1_bytes: int = 8192   # local buffer per PE


# letter -> (setting name, list of (PE fraction, dataflow))
STYLES = {
    "A": ("Single_WS", [(1, "ws")]), "B": ("Single_OS", [(1, "os")]), "C": ("Single_RS", [(1, "rs")]),
    "D": ("Dual_WS_WS", [(.5, "ws")] * 2), "E": ("Dual_OS_OS", [(.5, "os")] * 2),
    "F": ("Dual_RS_RS", [(.5, "rs")] * 2),
    "G": ("Quad_WSx4", [(.25, "ws")] * 4), "H": ("Quad_OSx4", [(.25, "os")] * 4),
    "I": ("Quad_RSx4", [(.25, "rs")] * 4),
    "J": ("Dual_WS_OS", [(.5, "ws"), (.5, "os")]),
    "K": ("BigLittle_WS_OS", [(.75, "ws"), (.25, "os")]),
    "L": ("LittleBig_WS_OS", [(.25, "ws"), (.75, "os")]),
    "M": ("Quad_WS_OS_WS_OS", [(.25, "ws"), (.25, "os")] * 2),
}


_MIB, _KIB = 1 << 20, 1 << 10
# reference/xrbench.md §5 (XRbench_evaluation/hw_configs): (sub-accelerators, size) -> (NoC bytes/cycle,
# global buffer per sub-accelerator, local buffer per PE); off-chip 128 everywhere
HW = {(1, "4K"): (256, 4 * _MIB, 8 * _KIB), (2, "4K"): (128, 2 * _MIB, 8 * _KIB), (4, "4K"): (128, 2 * _MIB, 8 * _KIB),
      (1, "8K"): (256, 8 * _MIB, 16 * _KIB), (2, "8K"): (256, 4 * _MIB, 16 * _KIB), (4, "8K"): (256, 4 * _MIB, 8 * _KIB)}


def preset(letter: str, size: str) -> list[SubAccelerator]:
    """Style `letter` at total `size` (4K or 8K PEs) with the reference hw files' NoC, buffers, off-chip bw."""
    if letter not in STYLES or size not in ("4K", "8K"):
        raise ToolError(f"unknown accelerator preset {letter}_{size} (known: A..M _4K|_8K)")
    total = 4096 if size == "4K" else 8192
    _, parts = STYLES[letter]
    noc, gbuf, l1 = HW[(len(parts), size)]
    return [SubAccelerator(f"acc{i}_{df}", int(total * f), df, gbuf, 128.0, float(noc), l1)
            for i, (f, df) in enumerate(parts)]


def parse_preset(spec: str) -> tuple[str, list[SubAccelerator]]:
    """`J_4K` or `J-8K` -> (name, sub-accelerators)."""
    s = spec.strip().upper().replace("-", "_")
    letter, _, size = s.partition("_")
    return f"{letter}_{size}", preset(letter, size)


def load_costs(path: str | Path) -> dict[str, dict[str, tuple[float, float]]]:
    """Cost CSV `model,accelerator,latency_ms,energy_mj` -> {accelerator: {model: (ms, mJ)}}."""
    out: dict[str, dict[str, tuple[float, float]]] = {}
    first_line: dict[tuple[str, str], int] = {}
    rows = read_csv_rows(path, "cost CSV")
    if not rows or [c.strip().lower() for c in rows[0]] != ["model", "accelerator", "latency_ms", "energy_mj"]:
        raise ToolError(f"{path}: expected header model,accelerator,latency_ms,energy_mj")
    for n, row in enumerate(rows[1:], start=2):
        if not row:
            continue
        if len(row) != 4:
            raise ToolError(f"{path}: line {n}: expected 4 columns, got {len(row)}")
        model, acc = row[0].strip(), row[1].strip()
        if model not in MODELS:
            raise ToolError(f"{path}: line {n}: unknown model {model!r}")
        if not acc:
            raise ToolError(f"{path}: line {n}: empty accelerator name")
        if (model, acc) in first_line:       # two costs for one pair: which one is meant is unknowable
            raise ToolError(f"{path}: line {n}: second row for model {model} on accelerator {acc} "
                            f"(first at line {first_line[model, acc]})")
        first_line[model, acc] = n
        try:
            lat, en = float(row[2]), float(row[3])
        except ValueError:
            raise ToolError(f"{path}: line {n}: latency_ms and energy_mj must be numbers") from None
        if not (math.isfinite(lat) and math.isfinite(en)) or lat <= 0 or en < 0:
            raise ToolError(f"{path}: line {n}: latency must be > 0 and energy >= 0 (finite)")
        out.setdefault(acc, {})[model] = (lat, en)
    if not out:
        raise ToolError(f"{path}: no cost rows")
    return out


def check_costs(table: dict[str, dict[str, tuple[float, float]]], scenarios, path: str | Path) -> None:
    """Every model of every scenario needs a cost on every accelerator of the CSV `path` (one-line error naming
    the first missing pair)."""
    for sc in scenarios:
        for m in sc.models:
            for acc, costs in table.items():
                if m.id not in costs:
                    raise ToolError(f"{path}: no row for model {m.id} on accelerator {acc} (scenario {sc.name} "
                                    "needs every model it runs costed on every accelerator)")
