"""Collect the demo's reports (under out/demo) into out/report.md: one section per tool, tables and plots."""

from __future__ import annotations

import json
import sys
from pathlib import Path


def _load(out: Path, name: str) -> dict | None:
    f = out / name
    return json.loads(f.read_text()) if f.exists() else None


def _table(header: list[str], rows: list[list]) -> list[str]:
    return ["| " + " | ".join(header) + " |", "|" + "---|" * len(header),
            *("| " + " | ".join(str(c) for c in r) + " |" for r in rows), ""]


def _image(out: Path, img: str, name: str, alt: str) -> list[str]:
    """The markdown for the demo's plot `name`, or nothing when the demo did not produce it."""
    return [f"![{alt}]({img}{name})", ""] if (out / name).exists() else []


def _cache_gain(model: str, c: dict) -> str:
    """One `sushi_vs_no_cache` comparison as a sentence."""
    return (f"{model}: mean latency −{100 * c['mean_latency_reduction']:.1f} %, off-chip energy "
            f"−{100 * c['offchip_energy_reduction']:.1f} %, served accuracy {c['served_accuracy_gain_pp']:+.2f} pp.")


def convert_section(out: Path) -> list[str]:
    rep = _load(out, "gloo.inspect.json")
    if not rep:
        return []
    rows = [[r["rank"], r["nodes"], sum(c["count"] for c in r["collectives"]), r["collective_bytes"],
             f"{r['sends']}/{r['recvs']}", r["critical_path_us"]] for r in rep["ranks"]]
    lines = ["## chakra-convert: 2-rank gloo trace (recorded with torch)", "",
             *_table(["rank", "nodes", "collectives", "collective bytes", "send/recv", "critical path (µs)"], rows),
             "Collectives (type, bytes, process group):", ""]
    lines += [f"- {c['comm_type']} {c['comm_size']} B (pg '{c['pg_name']}') x{c['count']}"
              for c in rep["ranks"][0]["collectives"]]
    return lines + ["", "ET → JSON → ET round trip: byte-identical (checked with `cmp`).", ""]


def astra_sections(out: Path, img: str) -> list[str]:
    lines: list[str] = []
    for name, title in (("gloo.sim.json", "astra-run: the converted 2-rank gloo trace on a 2-NPU ring"),
                        ("hybrid.sim.json", "astra-run: 16-NPU hybrid data/model parallel workload on a 4x4 torus")):
        rep = _load(out, name)
        if not rep:
            continue
        rows = [[r["rank"], f"{r['finish_ns']:,}", f"{r['compute_ns']:,}", f"{r['cpu_ns']:,}", f"{r['comm_ns']:,}",
                 f"{r['exposed_comm_ns']:,}"] for r in rep["ranks"][:4]]
        lines += [f"## {title}", "", f"Simulated time: **{rep['sim_time_ns']:,} ns** "
                  f"({rep['simulated_rank_classes']} rank class(es) simulated)", "",
                  *_table(["rank", "finish ns", "GPU compute ns", "CPU ns", "comm ns",
                           "exposed comm ns (finish − GPU compute)"], rows)]
    if (out / "hybrid.trace.json").exists():
        lines += [f"Timeline: `{img}hybrid.trace.json` (open in ui.perfetto.dev).", ""]
    return lines


def tacos_section(out: Path, img: str) -> list[str]:
    rep = _load(out, "tacos.json")
    if not rep:
        return []
    native = _load(out, "ar_native.sim.json")["sim_time_ns"]
    custom = _load(out, "ar_tacos.sim.json")["sim_time_ns"]
    rows = [["TACOS schedule, predicted", f"{rep['time_ns']:,}"],
            ["TACOS schedule, simulated by astra-run", f"{custom:,}"],
            ["astra-run native ring (localBWAware)", f"{native:,}"]]
    rows += [[f"baseline: {k}", f"{v:,}"] for k, v in rep["baselines_ns"].items() if v]
    return ["## tacos-synth: 64 MiB all-reduce on a 4x4 torus", "",
            f"Synthesized with {rep['chunks_per_npu']} chunk(s)/NPU: predicted **{rep['time_ns']:,} ns** "
            f"({rep['ratio_to_lower_bound']}x the bandwidth bound).", "",
            *_table(["algorithm", "time (ns)"], rows), f"![link utilisation]({img}tacos_util.png)", ""]


def comet_section(out: Path, img: str) -> list[str]:
    p, top = _load(out, "comet_point.json"), _load(out, "comet_top.json")
    if not p or not top:
        return []
    rows = [[r["gpus"], r["tp"], r["pp"], r["micro"], r["interleave"], r["recompute"], r["zero"],
             r["scaleout_gbps"], r["expanded_memory_gb"], f"{r['tflops_per_gpu']:.0f}", f"{r['iteration_time_s']:.1f}",
             f"{r['memory_per_gpu_bytes'] / 1e9:.0f}", f"{r['offload_s']:.2f}"] for r in top["top"]]
    return ["## comet-sweep: Megatron-1T on A100s", "",
            f"One point (3072 GPUs, tp 8, pp 64): iteration {p['iteration_time_s']:.1f} s, "
            f"**{p['tflops_per_gpu']:.0f} TFLOP/s per GPU** (Megatron measured 163), "
            f"{p['memory_per_gpu_bytes'] / 1e9:.1f} GB per GPU.", "",
            f"Sweep: {top['points']} points, {top['feasible']} feasible. Best designs:", "",
            *_table(["GPUs", "tp", "pp", "micro", "interleave", "recompute", "zero", "scale-out GB/s",
                     "expanded GB", "TFLOP/s/GPU", "iteration s", "memory GB/GPU", "offload s"], rows),
            f"![pareto]({img}comet_pareto.png)", ""]


def synth_section(out: Path, img: str) -> list[str]:
    rep = _load(out, "synth/heldout.json")
    if not rep:
        return []
    rows = [[a, f"{v['ks']:.3f}", f"{v['mean_a']:.4g}", f"{v['mean_b']:.4g}"] for a, v in rep["attributes"].items()]
    lines = ["## chakra-synth: a held-out MLP (never fitted) synthesized from its architecture alone (width 320, depth 3)", "",
             f"astra-run simulated time: original {rep['sim_time_ns_a']:,} ns, synthetic {rep['sim_time_ns_b']:,} ns, "
             f"**sim_time_ratio {rep['sim_time_ratio']:.3f}**; longest run of (type, duration, sizes) shared verbatim "
             f"with the original: {rep['obfuscation']['longest_shared_value_run']} nodes.", "",
             *_table(["attribute", "KS", "mean original", "mean synthetic"], rows),
             "All 12 held-out models and the pooled figures: docs/chakra-synth.md.", ""]
    return lines + _image(out, img, "synth.png", "CDFs") + groups_section(out) + pipeline_section(out)


def pipeline_section(out: Path) -> list[str]:
    rep = _load(out, "synth/pp.json")
    if not rep:
        return []
    a, b = rep["graph"]["a"], rep["graph"]["b"]
    rows = [[k, f"{a[k]:g}", f"{b[k]:g}"] for k in ("nodes_per_rank", "p2p_per_rank", "collectives_per_rank",
                                                    "comm_bytes_per_rank", "compute_path_us")]
    return ["### chakra-synth: a pipeline-parallel step (PP 2 x DP 2, 1F1B), one program per stage", "",
            *_table(["per rank (mean; compute path: slowest rank)", "recorded", "synthetic"], rows),
            f"astra-run on a 2 x 2 network: sim_time_ratio **{rep.get('sim_time_ratio')}**, ks_max "
            f"{rep['ks_max']:.3f} (one pooled SPMD program, `fit --spmd`: 0.70, the stages' waiting lost)."
            + _what_ifs(out), ""]


def _what_ifs(out: Path) -> str:
    """One sentence per pipeline what-if of the demo whose report is there."""
    def grown(rep: dict) -> str:
        same = rep["groups"]["g4s1"]["a"]["groups"] == rep["groups"]["g4s1"]["b"]["groups"]
        return (f" Sampled at 8 ranks (more data parallelism) against the separately recorded PP 2 x DP 4 step: DP "
                f"groups {'identical' if same else 'different'}, sim_time_ratio **{rep.get('sim_time_ratio')}**.")

    def described(rep: dict) -> str:
        return (f" Fitted on the step at hidden sizes 64-512 and synthesized from width=320 alone, against its "
                f"recording (never fitted): sim_time_ratio **{rep.get('sim_time_ratio')}**, message sizes KS "
                f"{rep['attributes']['comm_size']['ks']:g}.")

    def micro(rep: dict) -> str:
        return (f" Fitted on the step with 4 micro-batches and synthesized with 8, against its recording with 8 "
                f"(never fitted): sim_time_ratio **{rep.get('sim_time_ratio')}**, idle share "
                f"{rep['sim_idle_share_b']:.3f} against {rep['sim_idle_share_a']:.3f} recorded.")

    reports = (("synth/pp8.json", grown), ("synth/pp_w320.json", described), ("synth/pp_m8.json", micro))
    return "".join(sentence(rep) for name, sentence in reports if (rep := _load(out, name)))


def groups_section(out: Path) -> list[str]:
    rep = _load(out, "synth/tpdp8.json")
    if not rep:
        return []

    def groups(x: dict | None) -> str:
        return "-" if x is None else f"{x['collectives_per_rank']:g} per rank on " + \
            " ".join("{" + ",".join(map(str, m)) + "}" for m in x["groups"])

    rows = [[role, groups(v["a"]), groups(v["b"]), v["comm_size_ks"]] for role, v in rep["groups"].items()]
    return ["### chakra-synth: process-group roles (fitted on TP 2 x DP 2 at 4 ranks, sampled at 8)", "",
            *_table(["role", "recorded TP 2 x DP 4", "synthetic 8 ranks", "size KS"], rows),
            f"astra-run on a 2 x 4 network (TP ring 200 GB/s, DP ring 25 GB/s): sim_time_ratio "
            f"{rep.get('sim_time_ratio')} (the 8-rank recording's CPU times are of 8 processes on 2 cores).", ""]


def xrbench_section(out: Path) -> list[str]:
    rep = _load(out, "xrbench.json")
    if not rep:
        return []
    systems = list(rep["systems"])
    scenarios = list(rep["systems"][systems[0]]["scenarios"])
    rows = [[s, *(f"{rep['systems'][y]['scenarios'][s]['score']:.2f}" for y in systems)] for s in scenarios]
    rows.append(["**overall**", *(f"**{rep['systems'][y]['overall']:.2f}**" for y in systems)])
    return ["## xrbench-run: XR usage scenarios, Single OS (B) vs Dual WS_OS (J), 4K PEs", "",
            *_table(["scenario", *systems], rows)]


def sushi_section(out: Path, img: str) -> list[str]:
    rep = _load(out, "sushi.json")
    if not rep:
        return []
    rows = [[name, f"{p['mean_latency_ms']:.3f}", f"{p['p99_latency_ms']:.3f}", f"{100 * p['slo_attainment']:.2f}",
             f"{p['served_accuracy']:.2f}", f"{p['offchip_energy_uj_per_query']:.1f}", f"{100 * p['pb_hit_rate']:.1f}"]
            for name, p in rep["policies"].items()]
    nc, iso = rep["comparison"]["sushi_vs_no_cache"], rep["comparison"]["sushi_vs_slackfit_iso_accuracy"]
    lines = ["## sushi-serve: OFA MobileNetV3 SubNets on a ZU19EG-class SushiAccel (4.5 MiB PB)", "",
             *_table(["policy", "mean ms", "p99 ms", "SLO %", "served acc %", "off-chip µJ/query", "PB hit %"], rows),
             _cache_gain("SUSHI vs no cache", nc), "",
             f"SUSHI vs SlackFit at equal accuracy ({iso['sushi']['served_accuracy']:.2f} vs "
             f"{iso['slackfit']['served_accuracy']:.2f} %): SLO attainment {100 * iso['sushi']['slo_attainment']:.2f} "
             f"vs {100 * iso['slackfit']['slo_attainment']:.2f} %.", ""]
    st = rep["comparison"].get("sushi_vs_static")
    if st:
        lines += [f"SUSHI vs static (the best fixed SubGraph in hindsight): mean latency "
                  f"{-100 * st['mean_latency_reduction']:+.1f} %, off-chip energy {-100 * st['offchip_energy_reduction']:+.1f} %.",
                  ""]
    r50 = _load(out, "sushi_resnet50.json")
    if r50:
        lines += [_cache_gain("OFA ResNet50", r50["comparison"]["sushi_vs_no_cache"]), ""]
    return lines + _image(out, img, "sushi.png", "sushi")


def vegeta_section(out: Path, img: str) -> list[str]:
    rep = _load(out, "vegeta.json")
    if not rep:
        return []
    rows = [[r["sparsity"], r["instruction"], f"{r['speedup']:.3f}", r["published_speedup"],
             f"{100 * (r['speedup'] / r['published_speedup'] - 1):+.1f} %" if r["published_speedup"] else ""]
            for r in rep["runs"]]
    lines = [f"## vegeta-sim: {rep['engine']} vs the dense RASA-SM ({rep['baseline']}) on BERT-large", "",
             *_table(["sparsity", "instruction", "speed-up", "published", "error"], rows)]
    et, sim = _load(out, "vegeta_et.json"), _load(out, "vegeta_et.sim.json")
    if et and sim:
        lines += [f"The recorded transformer ET at 2:4: speed-up {et['speedup']:.3f} over its GEMM nodes; astra-run "
                  f"on the engine's durations: {sim['sim_time_ns']:,} ns.", ""]
    return lines + _image(out, img, "vegeta.png", "speed-up vs sparsity")


def main(out: Path) -> Path:
    img = f"{out.name}/"  # the report sits beside the demo's output directory
    lines = ["# mlcodesign demo report", "",
             "Every figure below was produced by `make demo` on bundled inputs; the files are in "
             f"`{out.name}/`.", ""]
    lines += convert_section(out)
    lines += astra_sections(out, img)
    lines += tacos_section(out, img)
    lines += comet_section(out, img)
    lines += synth_section(out, img)
    lines += vegeta_section(out, img)
    lines += sushi_section(out, img)
    lines += xrbench_section(out)
    report = out.parent / "report.md"
    report.write_text("\n".join(lines) + "\n")
    return report


if __name__ == "__main__":
    print(f"demo: done -> {main(Path(sys.argv[1]))}")
