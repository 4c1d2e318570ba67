"""Python API: time a workload on a VEGETA engine against the dense baseline and build the report.

    from vegeta import run, preset, parse_pattern, parse_engine
    rep = run(preset("bert-base"), parse_pattern("2:4"))
    rep["speedup"], rep["layers"][0]["cycles"]
"""
from __future__ import annotations

import math

from .engines import BASELINE_ENGINE, DEFAULT_ENGINE, TOTAL_MACS, CoreConfig, Engine, parse_engine
from .model import Gemm, GemmTiming, gemm_timing
from .sparsity import Pattern, parse_pattern
from .workloads import Workload

PUBLISHED = {"4:4": 1.09, "2:4": 2.20, "1:4": 3.74, "unstructured:0.95": 3.28}   # reference/vegeta.md §1
PUBLISHED_ROWWISE = {"unstructured:0.9": 2.36, "unstructured:0.95": 3.28}        # §1 (row-wise at 90/95 %)
LAYER_COLUMNS = ["layer", "m", "k", "n", "count", "sparse", "instruction", "blocking", "loop_order", "k_panels",
                 "bound", "cycles", "baseline_cycles", "speedup", "utilisation", "dense_macs_per_cycle",
                 "computes", "l1_bytes", "l2_bytes", "mem_bytes"]


def layer_row(g: Gemm, t: GemmTiming, base: GemmTiming) -> dict:
    return {
        "layer": g.name, "m": g.m, "k": g.k, "n": g.n, "count": g.count, "sparse": g.sparse,
        "instruction": t.op, "blocking": t.blocking, "loop_order": t.loop_order, "k_panels": t.k_panels,
        "bound": t.bound, "cycles": round(t.cycles, 1), "baseline_cycles": round(base.cycles, 1),
        "speedup": round(base.cycles / t.cycles, 6), "utilisation": round(t.busy / t.cycles, 6),
        "dense_macs_per_cycle": round(g.macs / t.cycles, 3), "computes": t.computes,
        "l1_bytes": t.l1_bytes, "l2_bytes": t.l2_bytes, "mem_bytes": t.mem_bytes,
    }


def run(workload: Workload, pattern: Pattern, engine: Engine | None = None, baseline: Engine | None = None,
        core: CoreConfig | None = None) -> dict:
    """Per-layer cycles on `engine` at `pattern` and on `baseline` (dense), and the total speed-up.

    speedup = total baseline cycles / total cycles (layers weighted by their count); non-weight GEMMs
    (`sparse: false`) run dense on both engines.
    """
    engine = engine or parse_engine(DEFAULT_ENGINE)
    baseline = baseline or parse_engine(BASELINE_ENGINE)
    core = core or CoreConfig()
    dense = parse_pattern("4:4")
    engine.require(pattern)
    rows, total, total_base, logs = [], 0.0, 0.0, []
    for g in workload.gemms:
        t = gemm_timing(g, pattern if g.sparse else dense, engine, core)
        b = gemm_timing(g, dense, baseline, core)
        rows.append(layer_row(g, t, b))
        total += t.cycles * g.count
        total_base += b.cycles * g.count
        logs.append(math.log(b.cycles / t.cycles) * g.count)
    n = sum(g.count for g in workload.gemms)
    macs = sum(g.macs * g.count for g in workload.gemms)
    return {
        "workload": workload.name,
        "description": workload.description,
        "engine": engine.name,
        "baseline": baseline.name,
        "sparsity": pattern.spec,
        "instruction": pattern.op,
        "a_density": round(pattern.density, 6),
        "clock_ghz": core.clock_ghz,
        "total_cycles": round(total, 1),
        "baseline_cycles": round(total_base, 1),
        "speedup": round(total_base / total, 6),
        "speedup_geomean": round(math.exp(sum(logs) / n), 6),
        "time_ms": round(total / (core.clock_ghz * 1e6), 6),
        "dense_macs_per_cycle": round(macs / total, 3),
        "peak_macs_per_cycle": TOTAL_MACS,
        "published_speedup": PUBLISHED.get(pattern.spec),
        "layers": rows,
    }


def validation(workload: Workload, engine: Engine | None = None, baseline: Engine | None = None,
               core: CoreConfig | None = None, seed: int = 0) -> list[dict]:
    """The four published speed-ups (reference/vegeta.md §1) next to the model's, on `workload`."""
    out = []
    for spec, pub in PUBLISHED.items():
        rep = run(workload, parse_pattern(spec, seed), engine, baseline, core)
        out.append({"sparsity": spec, "speedup": rep["speedup"], "published": pub,
                    "error": round(rep["speedup"] / pub - 1, 6)})
    return out
