"""All-reduce time vs topology shape, per-dimension topology and collective algorithm (16 NPUs, 16 MiB).

Every case is one `astra-run` run with ASTRA-sim's own flag spellings, on configs written here in ASTRA-sim's
formats. `--expect DIR` (the Makefile's `check`) gates every report on DIR/<case>.json; `--plot FILE` draws the
study. Usage: python study.py --bin ../../.venv/bin --out ../out/astra-run [--expect expected] [--plot f.png]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path

from chakra_tools.et import GlobalMetadata, Node, NodeType, make_attr, write_et

NPUS = 16
SIZE = 16 << 20
SHAPES = [[16], [8, 2], [4, 4], [2, 8], [2, 2, 2, 2]]
TOPOLOGIES = ["Ring", "FullyConnected", "Switch"]
ALGORITHMS = ["ring", "direct", "halvingDoubling"]
SYSTEM = {"scheduling-policy": "LIFO", "endpoint-delay": 10, "active-chunks-per-dimension": 1,
          "preferred-dataset-splits": 4, "collective-optimization": "localBWAware", "local-mem-bw": 1600,
          "roofline-enabled": 0, "peak-perf": 900}


def shape_name(shape: list[int]) -> str:
    return "x".join(map(str, shape))


def write_inputs(out: Path) -> Path:
    """One 16 MiB all-reduce per rank (identical files: astra-run simulates one rank class) + configs."""
    cfg = out / "configs"
    cfg.mkdir(parents=True, exist_ok=True)
    node = Node(id=1, name="all_reduce_16MiB", type=NodeType.COMM_COLL_NODE)
    node.attr.extend([make_attr("comm_type", 0), make_attr("comm_size", SIZE), make_attr("is_cpu_op", False)])
    for r in range(NPUS):
        write_et(out / f"et/ar.{r}.et", GlobalMetadata(version="0.0.4"), [node])
    for shape in SHAPES:
        k = len(shape)
        for algo in ALGORITHMS:
            impl = {f"{c}-implementation": [algo] * k for c in ("all-reduce", "all-gather", "reduce-scatter",
                                                                 "all-to-all")}
            (cfg / f"system_{algo}_{k}d.json").write_text(json.dumps({**SYSTEM, **impl}, indent=1))
        for topo in TOPOLOGIES:
            (cfg / f"{topo}_{shape_name(shape)}.yml").write_text(
                f"topology: [ {', '.join([topo] * k)} ]\nnpus_count: [ {', '.join(map(str, shape))} ]\n"
                f"bandwidth: [ {', '.join(['50.0'] * k)} ]\nlatency: [ {', '.join(['500.0'] * k)} ]\n")
    return cfg


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--bin", default="../../.venv/bin")
    ap.add_argument("--out", type=Path, default=Path("../out/astra-run"))
    ap.add_argument("--expect", type=Path, default=None, help="gate each report on EXPECT/<case>.json")
    ap.add_argument("--plot", type=Path, default=None)
    ap.add_argument("--save-expected", type=Path, default=None, help="store the reports as the expected ones")
    args = ap.parse_args()
    cfg = write_inputs(args.out)
    reports = args.out / "reports"
    reports.mkdir(parents=True, exist_ok=True)
    rows = []
    for shape in SHAPES:
        for topo in TOPOLOGIES:
            for algo in ALGORITHMS:
                case = f"{topo}_{shape_name(shape)}_{algo}"
                cmd = [f"{args.bin}/astra-run", f"--workload-configuration={args.out}/et/ar",
                       f"--system-configuration={cfg}/system_{algo}_{len(shape)}d.json",
                       f"--network-configuration={cfg}/{topo}_{shape_name(shape)}.yml",
                       "-o", str(reports / f"{case}.json"), "-q"]
                if args.expect is not None:  # the simulator is exact: any change is a regression
                    cmd += ["--expect", str(args.expect / f"{case}.json"), "--rtol", "0"]
                if subprocess.run(cmd).returncode != 0:
                    sys.exit(f"study: {case} failed")
                t = json.loads((reports / f"{case}.json").read_text())["sim_time_ns"]
                rows.append({"shape": shape_name(shape), "topology": topo, "algorithm": algo, "sim_time_ns": t})
    if args.save_expected is not None:  # compact copies without provenance (ignored by --expect anyway)
        args.save_expected.mkdir(parents=True, exist_ok=True)
        for r in rows:
            case = f"{r['topology']}_{r['shape']}_{r['algorithm']}"
            rep = json.loads((reports / f"{case}.json").read_text())
            rep.pop("provenance", None)
            (args.save_expected / f"{case}.json").write_text(json.dumps(rep, separators=(",", ":")) + "\n")
    (args.out / "study.json").write_text(json.dumps(rows, indent=1) + "\n")
    width = max(len(r["shape"]) for r in rows)
    print(f"{'shape':{width}} {'topology':15} " + " ".join(f"{a:>16}" for a in ALGORITHMS) + "   (all-reduce ns)")
    for shape in SHAPES:
        for topo in TOPOLOGIES:
            ts = {r["algorithm"]: r["sim_time_ns"] for r in rows
                  if r["shape"] == shape_name(shape) and r["topology"] == topo}
            print(f"{shape_name(shape):{width}} {topo:15} " + " ".join(f"{ts[a]:16,}" for a in ALGORITHMS))
    if args.plot is not None:
        plot(rows, args.plot)


def plot(rows: list[dict], path: Path) -> None:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    fig, axes = plt.subplots(1, len(TOPOLOGIES), figsize=(15, 5.2), sharey=True)
    names = [shape_name(s) for s in SHAPES]
    for ax, topo in zip(axes, TOPOLOGIES):
        for i, algo in enumerate(ALGORITHMS):
            ys = [next(r["sim_time_ns"] for r in rows if r["shape"] == n and r["topology"] == topo
                       and r["algorithm"] == algo) / 1e3 for n in names]
            ax.bar([x + (i - 1) * 0.27 for x in range(len(names))], ys, width=0.27, label=algo)
        ax.set_xticks(range(len(names)), names, rotation=30)
        ax.set_title(f"{topo} in every dimension")
        ax.set_xlabel("topology shape (NPUs per dim)")
        ax.set_yscale("log")
    axes[0].set_ylabel("all-reduce 16 MiB, 16 NPUs (µs, log)")
    handles, labels = axes[0].get_legend_handles_labels()
    fig.legend(handles, labels, title="algorithm (every dim)", loc="lower center", ncol=len(ALGORITHMS))
    fig.suptitle("astra-run: all-reduce time vs topology shape and collective algorithm "
                 "(50 GB/s, 500 ns per dim, localBWAware, 4 chunks)")
    fig.tight_layout(rect=(0, 0.12, 1, 1))
    fig.savefig(path, dpi=110)


if __name__ == "__main__":
    main()
