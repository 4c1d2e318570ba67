"""comet-sweep: configurations per second per core on a >= 100 000-point Transformer-1T sweep (evaluation +
SQLite store), against Calculon's ~180 configurations/s single process (reference/comet_megatron.md §4)."""

from __future__ import annotations

import tempfile
import time
from pathlib import Path

from comet.model import load_cluster, load_model
from comet.store import Store
from comet.sweep import SweepSpec, run_sweep

CALCULON_PER_S = 180.0


def main() -> None:
    axes = {"gpus": [1024, 2048, 3072, 4096], "tp": [1, 2, 4, 8], "pp": [1, 2, 4, 8, 16, 32, 64], "batch": [3072],
            "micro": [1, 2, 4], "interleave": [1, 2], "recompute": ["full", "selective", "none"],
            "sequence_parallel": [False, True], "zero": [0, 1, 2], "peak_tflops": [312, 624], "hbm_gb": [80, 160],
            "hbm_gbps": [2039], "scaleup_gbps": [300, 600], "scaleout_gbps": [25, 50, 100],
            "expanded_memory_gb": [0, 512], "expanded_memory_gbps": [100]}
    spec = SweepSpec(load_model("megatron-1t"), load_cluster("a100-80gb"), axes)
    with tempfile.TemporaryDirectory() as d:
        store = Store(Path(d) / "r.db", spec.model.name, spec.cluster.name)
        t = time.perf_counter()
        stats = run_sweep(spec, store, chunk=50_000)
        wall = time.perf_counter() - t
        store.close()
    rate = stats["evaluated"] / wall
    print(f"{stats['evaluated']:,} Transformer-1T configurations in {wall:.2f} s on 1 core (incl. SQLite store): "
          f"{rate:,.0f} configs/s")
    print(f"vs Calculon ~{CALCULON_PER_S:.0f}/s: {rate / CALCULON_PER_S:,.0f}x   (target >= 20,000/s per core: "
          f"{'met' if rate >= 20_000 else 'NOT met'}); a million points: {1e6 / rate:.1f} s")


if __name__ == "__main__":
    main()
