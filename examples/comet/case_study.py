"""COMET's Transformer-1T case study with comet-sweep's model: how the best achievable iteration time moves with
compute, memory expansion and network bandwidth, the spread between cluster configurations, and the gain from
memory expansion. Writes summary.json and plots to the output directory (argument 1)."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from comet.model import load_cluster, load_model  # noqa: E402
from comet.sweep import SweepSpec, evaluate_points, points  # noqa: E402

MODEL, CLUSTER, GPUS, BATCH = "megatron-1t", "a100-80gb", 1024, 2048
STRATEGY = {"gpus": [GPUS], "tp": [2, 4, 8], "pp": [4, 8, 16, 32, 64], "batch": [BATCH], "micro": [1, 2, 4],
            "interleave": [1, 2], "recompute": ["full", "selective", "none"], "sequence_parallel": [False, True],
            "zero": [0, 1, 2, 3]}


def best_time(**resources) -> float:
    base = load_cluster(CLUSTER)
    axes = dict(STRATEGY)
    for k in ("peak_tflops", "hbm_gb", "hbm_gbps", "scaleup_gbps", "scaleout_gbps", "expanded_memory_gb",
              "expanded_memory_gbps"):
        axes[k] = [resources.get(k, getattr(base, k))]
    spec = SweepSpec(load_model(MODEL), base, axes)
    pts = points(spec)
    r = evaluate_points(spec.model, spec.cluster, pts)
    t = np.where(r["feasible"], r["iteration_time_s"], np.inf)
    return float(t.min())


def main(out: Path) -> None:
    out.mkdir(parents=True, exist_ok=True)
    compute = {f"{x}x": best_time(peak_tflops=312 * x) for x in (0.5, 1, 2, 4)}
    network = {f"{bw:g}": best_time(scaleout_gbps=bw) for bw in (6.25, 12.5, 25, 50, 100, 200)}
    hbm = {f"{c:g}GB": best_time(hbm_gb=c) for c in (24, 40, 80, 160)}
    expansion = {f"{c:g}GB@{bw:g}": best_time(hbm_gb=24, expanded_memory_gb=c, expanded_memory_gbps=bw)
                 for c in (0, 64, 128, 256) for bw in (50, 200) if not (c == 0 and bw == 200)}
    configs = [best_time(peak_tflops=p, hbm_gb=m, scaleout_gbps=n) for p in (156, 312, 624) for m in (24, 80)
               for n in (6.25, 25, 100)]
    finite = [c for c in configs if np.isfinite(c)]
    summary = {
        "model": MODEL, "gpus": GPUS, "batch": BATCH,
        "best_iteration_time_s": {"compute": compute, "scaleout_gbps": network, "hbm": hbm,
                                  "expanded_memory_with_24GB_hbm": expansion},
        "spread_between_cluster_configs": max(finite) / min(finite),
        "gain_from_memory_expansion": expansion["0GB@50"] / min(expansion.values())
        if np.isfinite(expansion["0GB@50"]) else None,
        "infeasible_without_expansion": not np.isfinite(expansion["0GB@50"]),
    }
    (out / "summary.json").write_text(json.dumps(summary, indent=2, default=lambda x: None) + "\n")
    fig, axs = plt.subplots(1, 3, figsize=(13, 3.6))
    for ax, (title, d) in zip(axs, (("compute (x A100 peak)", compute), ("scale-out GB/s per GPU", network),
                                    ("expanded memory (24 GB HBM)", expansion))):
        ax.bar(list(d), [v if np.isfinite(v) else 0 for v in d.values()])
        ax.set_title(title)
        ax.set_ylabel("best iteration time (s)")
        ax.tick_params(axis="x", rotation=45)
    fig.tight_layout()
    fig.savefig(out / "transformer_1t_study.png")
    print(json.dumps({k: summary[k] for k in ("spread_between_cluster_configs", "gain_from_memory_expansion",
                                              "infeasible_without_expansion")}, indent=2))


if __name__ == "__main__":
    main(Path(sys.argv[1] if len(sys.argv) > 1 else "examples/out/comet"))
