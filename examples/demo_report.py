"""Collect the demo's JSON reports into out/demo/report.md."""

from __future__ import annotations

import json
import sys
from pathlib import Path


def main(out: Path) -> None:
    lines = ["# mlcodesign demo report", ""]
    insp = out / "gloo.inspect.json"
    if insp.exists():
        rep = json.loads(insp.read_text())
        lines += ["## chakra-convert: 2-rank gloo trace", "",
                  "| rank | nodes | collectives | collective bytes | send/recv | critical path (µs) |",
                  "|---|---|---|---|---|---|"]
        for r in rep["ranks"]:
            lines.append(f"| {r['rank']} | {r['nodes']} | {sum(c['count'] for c in r['collectives'])} | "
                         f"{r['collective_bytes']} | {r['sends']}/{r['recvs']} | {r['critical_path_us']} |")
        lines += ["", "Collectives (type, bytes, process group):", ""]
        for c in rep["ranks"][0]["collectives"]:
            lines.append(f"- {c['comm_type']} {c['comm_size']} B (pg '{c['pg_name']}') x{c['count']}")
        lines.append("")
    for name, title in (("gloo.sim.json", "astra-run: 2-rank gloo trace on a 2-NPU ring"),
                        ("hybrid.sim.json", "astra-run: 16-NPU hybrid data/model parallel workload on a 4x4 torus")):
        f = out / name
        if f.exists():
            rep = json.loads(f.read_text())
            lines += [f"## {title}", "", f"Simulated time: **{rep['sim_time_ns']:,} ns** "
                      f"({rep['simulated_rank_classes']} rank class(es) simulated)", "",
                      "| rank | finish ns | compute ns | exposed comm ns |", "|---|---|---|---|"]
            for r in rep["ranks"][:4]:
                lines.append(f"| {r['rank']} | {r['finish_ns']:,} | {r['compute_ns']:,} | {r['exposed_comm_ns']:,} |")
            lines.append("")
    if (out / "hybrid.trace.json").exists():
        lines += ["Timeline: `hybrid.trace.json` (open in ui.perfetto.dev).", ""]
    tacos = out / "tacos.json"
    if tacos.exists():
        rep = json.loads(tacos.read_text())
        native = json.loads((out / "ar_native.sim.json").read_text())["sim_time_ns"]
        custom = json.loads((out / "ar_tacos.sim.json").read_text())["sim_time_ns"]
        lines += ["## tacos-synth: 64 MiB all-reduce on a 4x4 torus", "",
                  f"Synthesized with {rep['chunks_per_npu']} chunk(s)/NPU: predicted **{rep['time_ns']:,} ns** "
                  f"({rep['ratio_to_lower_bound']}x the bandwidth bound).", "",
                  "| algorithm | time (ns) |", "|---|---|",
                  f"| TACOS schedule, predicted | {rep['time_ns']:,} |",
                  f"| TACOS schedule, simulated by astra-run | {custom:,} |",
                  f"| astra-run native ring (localBWAware) | {native:,} |"]
        lines += [f"| baseline: {k} | {v:,} |" for k, v in rep["baselines_ns"].items() if v]
        lines += ["", "![link utilisation](tacos_util.png)", ""]
    point = out / "comet_point.json"
    if point.exists():
        p = json.loads(point.read_text())
        top = json.loads((out / "comet_top.json").read_text())
        lines += ["## comet-sweep: Megatron-1T on 3072 A100s (tp 8, pp 64)", "",
                  f"Iteration {p['iteration_time_s']:.1f} s, **{p['tflops_per_gpu']:.0f} TFLOP/s per GPU** "
                  f"(Megatron measured 163), {p['memory_per_gpu_bytes'] / 1e9:.1f} GB per GPU.", "",
                  f"Sweep: {top['points']} points, {top['feasible']} feasible. Best designs:", "",
                  "| GPUs | tp | pp | micro | interleave | recompute | zero | TFLOP/s/GPU | iteration s |",
                  "|---|---|---|---|---|---|---|---|---|"]
        for r in top["top"]:
            lines.append(f"| {r['gpus']} | {r['tp']} | {r['pp']} | {r['micro']} | {r['interleave']} | "
                         f"{r['recompute']} | {r['zero']} | {r['tflops_per_gpu']:.0f} | {r['iteration_time_s']:.1f} |")
        lines += ["", "![pareto](comet_pareto.png)", ""]
    (out / "report.md").write_text("\n".join(lines) + "\n")


if __name__ == "__main__":
    main(Path(sys.argv[1]))
