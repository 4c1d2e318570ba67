"""TACOS vs classic algorithms on several topologies and sizes; writes summary.json and tacos_vs_baselines.png."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

from astrasim_py.topology import generate, load_topology  # noqa: E402
from tacos import baselines, lower_bound_ns, synthesize  # noqa: E402

CFG = Path(__file__).resolve().parents[1] / "configs" / "tacos-synth"
SIZES = {"1MiB": 1 << 20, "64MiB": 64 << 20, "1GiB": 1 << 30}


def main(out: Path) -> None:
    out.mkdir(parents=True, exist_ok=True)
    topos = {"torus2d 4x4": generate("torus2d", [4, 4], 50, 500), "mesh2d 5x5": generate("mesh2d", [5, 5], 50, 500),
             "torus3d 3x3x3": generate("torus3d", [3, 3, 3], 50, 500),
             "hetero mesh 4x4, failed link": load_topology(CFG / "mesh4x4_hetero_failed.yml"),
             "irregular 8": load_topology(CFG / "irregular8.yml")}
    rows = []
    for tname, topo in topos.items():
        for coll in ("all-gather", "all-reduce"):
            for sname, size in SIZES.items():
                s = synthesize(topo, coll, size, "auto", seed=0, restarts=2)
                base = {k: v for k, v in baselines(topo, coll, size).items() if v}
                rows.append({"topology": tname, "collective": coll, "size": sname, "tacos_ns": s.time_ns,
                             "chunks_per_npu": s.chunks_per_npu, "lower_bound_ns": lower_bound_ns(topo, coll, size),
                             "baselines_ns": base, "speedup_vs_best_baseline": min(base.values()) / s.time_ns})
    (out / "summary.json").write_text(json.dumps({"rows": rows}, indent=2) + "\n")
    fig, ax = plt.subplots(figsize=(10, 4))
    labels = [f"{r['topology']}\n{r['collective']} {r['size']}" for r in rows if r["size"] != "64MiB"]
    vals = [r["speedup_vs_best_baseline"] for r in rows if r["size"] != "64MiB"]
    ax.bar(range(len(vals)), vals)
    ax.axhline(1.0, color="k", lw=0.8)
    ax.set_xticks(range(len(vals)), labels, rotation=90, fontsize=6)
    ax.set_ylabel("speed-up vs best baseline")
    fig.tight_layout()
    fig.savefig(out / "tacos_vs_baselines.png")
    for r in rows:
        print(f"{r['topology']:30} {r['collective']:11} {r['size']:6} {r['tacos_ns'] / 1000:10.1f} us  "
              f"x{r['speedup_vs_best_baseline']:.2f} vs best baseline")


if __name__ == "__main__":
    main(Path(sys.argv[1] if len(sys.argv) > 1 else "examples/out/tacos"))
