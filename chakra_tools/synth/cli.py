"""chakra-synth CLI: fit / sample / compare (a thin click layer over chakra_tools.synth)."""

from __future__ import annotations

import click

from chakra_tools.common import (
    PLOT,
    SIZE,
    ToolError,
    check_distinct_outputs,
    check_expected,
    check_not_input,
    common_options,
    dumps_json,
    emit_report,
    info,
    load_data,
    print_table,
    provenance,
    regression_options,
    require_file,
    tool_main,
    version_option,
    warn,
    write_json,
)

MAX_RANKS = 16384


@click.group(help="Learn the statistics of Chakra ETs and synthesize new ones.\n\n"
                  "Example:\n\n  chakra-synth fit et/mlp et/cnn -o model.json\n\n"
                  "  chakra-synth sample model.json -o synth/x --ranks 8 --seed 1\n\n"
                  "  chakra-synth describe et/mlp\n\n"
                  "  chakra-synth sample model.json -o synth/big --ranks 8 --param-bytes 8MiB\n\n"
                  "  chakra-synth sample model.json -o synth/w320 --ranks 2 --describe width=320,depth=3\n\n"
                  "  chakra-synth compare et/mlp synth/x --json")
@version_option("chakra-synth")
def cli() -> None:
    pass


@cli.command(help="Fit a model on one or many multi-rank traces (PREFIX.<rank>.et).\n\n"
                  "Architecture descriptors of a trace (its hyper-parameters, e.g. width and depth) are read from "
                  "PREFIX.describe.json ({\"width\": 320, \"depth\": 3}) or given with --describe; when every "
                  "trace has them the model also learns architecture laws (exact attribute atoms), used by "
                  "`sample --describe`.\n\n"
                  "Example: chakra-synth fit et/mlp et/cnn -o model.json\n\n"
                  "  chakra-synth fit et/a et/b et/c et/d --describe et/a=width:64,depth:2 ... -o model.json")
@click.argument("prefixes", nargs=-1, required=True)
@click.option("-o", "--output", required=True, help="Model JSON to write.")
@click.option("--order", default=3, show_default=True, help="Markov order over node kinds.")
@click.option("--bins", default=64, show_default=True,
              help="Position bins of the kind chain (phase of the step; 0 = plain order-k chain).")
@click.option("--describe", "describe", multiple=True, metavar="PREFIX=NAME:VALUE,...",
              help="Architecture descriptors of one of the traces (repeatable; overrides PREFIX.describe.json).")
@click.option("--channel-block", type=click.IntRange(0, 1024), default=16, show_default=True,
              help="Channel block of the kernel library the traces ran on (oneDNN fp32 on AVX-512: 16; 8 on "
                   "AVX2; 0 = none): conv times follow FLOPs with channels rounded up to it.")
@click.option("--spmd", is_flag=True,
              help="Learn one program from all ranks even when a trace's ranks run different ones (pipeline "
                   "stages): the sample can then have any --ranks its process groups allow, but no stages.")
@common_options
def fit(prefixes, output, order, bins, describe, channel_block, spmd, quiet, debug) -> None:
    from pathlib import Path

    from chakra_tools.et import trace_inputs
    from chakra_tools.synth.arch import parse_descriptors, sidecar_path
    from chakra_tools.synth.fit import fit as fit_model
    from chakra_tools.synth.groups import kind_roles
    key = {p: Path(p).resolve() for p in prefixes}
    seen: dict[Path, str] = {}
    for p in prefixes:
        if key[p] in seen:
            raise ToolError(f"{p}: given twice (as {seen[key[p]]} and {p}); each trace counts once")
        seen[key[p]] = p
    check_not_input(output, [f for p in prefixes for f in (*trace_inputs(p), sidecar_path(p))])
    _check_model_output(output, seen)
    given: dict[Path, dict] = {}
    for spec in describe:
        prefix, sep, text = spec.rpartition("=")
        if not sep or not prefix or ":" not in text:
            raise ToolError(f"--describe {spec!r}: expected PREFIX=NAME:VALUE,... (e.g. et/a=width:64,depth:2)")
        where = Path(prefix).resolve()
        if where not in seen:
            raise ToolError(f"--describe {spec!r}: {prefix} is not one of the traces being fitted")
        if where in given:
            raise ToolError(f"--describe {spec!r}: {prefix} is described twice")
        given[where] = parse_descriptors(text, f"--describe {prefix}", sep=":")
    descs = [given.get(key[p]) for p in prefixes] if given else None
    model = fit_model(list(prefixes), order=order, bins=bins, describe=descs, channel_block=channel_block,
                      spmd=spmd)
    write_json(output, model)
    c = model["corpus"]
    if "programs" in model:
        p = model["programs"]
        info(f"fitted {len(p['models'])} programs on {c['traces']} trace(s) of {p['world']} ranks running different "
             f"ones (pipeline stages; program of each rank: {' '.join(map(str, p['rank_program']))}), {c['nodes']} "
             f"nodes, each with its communication skeleton "
             f"({', '.join(str(len(s['comm'])) for s in p['skeletons'])} comm nodes)"
             + (f"; architecture laws in {', '.join(p['models'][0]['architecture']['descriptors'])} per program "
                "(sample --describe)" if all("architecture" in m for m in p["models"]) else "")
             + f" -> {output}", quiet=quiet)
        return
    laws = "with size laws" if "scaling" in model else "no size laws (needs >= 4 traces of different sizes)"
    if "architecture" in model:
        laws += " and architecture laws in " + ", ".join(model["architecture"]["descriptors"])
    roles = kind_roles(model["kinds"])
    if roles:
        laws += "; collectives on process-group roles " + ", ".join(roles)
    info(f"fitted {len(model['kinds'])} node kinds on {c['traces']} traces, {c['ranks']} ranks, "
         f"{c['nodes']} nodes, {laws} -> {output}", quiet=quiet)
    same = model["cross_rank"]["identical_kind_sequences"]
    if same < 1:
        warn(f"{1 - same:.0%} of the ranks after each trace's rank 0 run another node-kind sequence than it: "
             "ranks running different programs (pipeline stages, ...) are learned as one pooled program and "
             "sampled as one SPMD program (traces of one layout of programs, fitted without --spmd, keep them)")


@cli.command(help="Synthesize a trace PREFIX.<rank>.et from a model, optionally at a target model size.\n\n"
                  "Example: chakra-synth sample model.json -o synth/x --ranks 8 --nodes 500 --seed 1\n\n"
                  "What-if, a model of 8 MiB of parameters: chakra-synth sample model.json -o synth/big --ranks 8 "
                  "--param-bytes 8MiB --seed 1\n\n"
                  "What-if, an architecture (a model fitted on described traces): chakra-synth sample model.json "
                  "-o synth/w320 --ranks 2 --describe width=320,depth=3 --seed 1")
@click.argument("model", type=click.Path(dir_okay=False))
@click.option("-o", "--output", required=True, help="Output prefix: writes PREFIX.<rank>.et.")
@click.option("--ranks", type=click.IntRange(1, MAX_RANKS), required=True,
              help=f"Number of ranks (at most {MAX_RANKS}: every rank file lists the world group, so a trace's "
                   "bytes grow with ranks squared).")
@click.option("--nodes", type=click.IntRange(1, 1 << 26), default=None,
              help="Nodes per rank (default: the size law's value at --param-bytes, else the corpus median).")
@click.option("--seed", type=click.IntRange(0, 2**63 - 1), default=0, show_default=True,
              help="Random seed (same seed -> same bytes).")
@click.option("--scale-compute", type=float, default=1.0, show_default=True,
              help="Multiply compute durations and num_ops.")
@click.option("--scale-comm", type=float, default=1.0, show_default=True, help="Multiply communication sizes.")
@click.option("--param-bytes", type=SIZE, default=None,
              help="Target model size: bytes all-reduced per rank and step (= parameter bytes in data parallel), "
                   "e.g. 8MiB. Evaluates the model's size laws there (what-if: a bigger model).")
@click.option("--flops", type=float, default=None,
              help="Target FLOPs per rank and step (sum of num_ops; default: the law's value for --param-bytes).")
@click.option("--exact-totals", is_flag=True,
              help="With --param-bytes: scale the drawn collectives' sizes and FLOPs so that they add up to the "
                   "target exactly (by default they vary with the drawn kind counts: the summary's 'drawn').")
@click.option("--describe", "describe", default=None, metavar="NAME=VALUE,...",
              help="Target architecture, e.g. width=320,depth=3 (the model's descriptors): kind counts and exact "
                   "attribute atoms from the architecture laws; sets the size (no --param-bytes/--flops/--nodes).")
@click.option("--micro-batches", "micro", type=int, default=None, metavar="M",
              help="A pipeline model's step with M micro-batches of the recorded size (drawn at the recorded "
                   "number, its units then spliced: GPipe or 1F1B, read from the recording; the global batch grows "
                   "M/m times). Also with --describe.")
@common_options
def sample(model, output, ranks, nodes, seed, scale_compute, scale_comm, param_bytes, flops, exact_totals, describe,
           micro, quiet, debug) -> None:
    from chakra_tools.synth.arch import parse_descriptors
    from chakra_tools.synth.model_check import check_model
    from chakra_tools.synth.sample import sample as sample_trace
    require_file(model)
    _check_prefix(output)
    check_not_input(f"{output}.0.et", [model])
    desc = parse_descriptors(describe) if describe is not None else None
    try:
        m = check_model(load_data(model), model)
        summary = sample_trace(m, output, ranks, nodes, seed, scale_compute, scale_comm, param_bytes, flops, desc,
                               micro, exact_totals)
    except (KeyError, TypeError, IndexError, AttributeError, ValueError, ZeroDivisionError,
            OverflowError) as e:  # a hand-edited model that passed the structural checks
        raise ToolError(f"{model}: malformed model ({type(e).__name__}: {e})") from None
    of = (" of " + ",".join(f"{k}={v:g}" for k, v in summary["describe"].items())) if "describe" in summary else ""
    if "programs" in summary:
        ps, mb = summary["programs"], summary.get("micro_batches")
        micro_note = f"; {mb['sampled']} micro-batches ({mb['schedule']}, recorded {mb['recorded']})" if mb else ""
        if len(ps) <= 4:
            each = "; ".join(
                f"ranks {','.join(map(str, p['ranks']))}: {p['nodes_per_rank']} nodes, {p['p2p_per_rank']} p2p, "
                f"{p['collectives_per_rank']} collectives" + (f", compute path {p['compute_path_us'] / 1000:.4g} ms"
                                                               if "compute_path_us" in p else "") for p in ps)
        else:  # one line per program would not be read: the ranges over them (the API summary has each)
            each = (f"{_range(ps, 'nodes_per_rank')} nodes, {_range(ps, 'p2p_per_rank')} p2p, "
                    f"{_range(ps, 'collectives_per_rank')} collectives per rank"
                    + (f", compute path {_range(ps, 'compute_path_us', 1000)} ms"
                       if all("compute_path_us" in p for p in ps) else ""))
        info(f"wrote {ranks} ranks running {len(ps)} programs{of}: {each}{micro_note} -> {output}.<rank>.et",
             quiet=quiet)
    else:
        at = of
        if "target" in summary:
            t, got = summary["target"], summary["drawn"]
            at += (f" at {t['param_bytes']:.4g} param bytes, {t['flops']:.4g} FLOPs (drawn {got['param_bytes']:.4g}, "
                   f"{got['flops']:.4g})")
            want = {"param_bytes": t["param_bytes"] * scale_comm, "flops": t["flops"] * scale_compute}  # the knobs'
            off = [f"{got[k]:.4g} {name} for {want[k]:.4g} ({got[k] / want[k]:.2g}x)" for k, name in
                   (("param_bytes", "param bytes"), ("flops", "FLOPs"))
                   if want[k] > 0 and not 0.5 <= got[k] / want[k] <= 2]
            if off:
                warn(f"the sample has {' and '.join(off)}: the drawn kind counts add up to other totals than the "
                     "target (targets unlike the corpus' sizes together, e.g. --nodes or --flops far from the "
                     "laws' value at --param-bytes, or a short step that drew few collectives)")
        if "compute_path_us" in summary:
            at += f", compute path {summary['compute_path_us'] / 1000:.4g} ms/rank"
        info(f"wrote {ranks} ranks x {summary['nodes_per_rank']} nodes "
             f"({summary['collectives_per_rank']} collectives/rank){at} -> {output}.<rank>.et", quiet=quiet)
    outside = summary.get("outside_corpus")
    if outside:
        far = "; ".join(f"{n} {v['value']:.4g} {'>' if v['value'] > v['range'][1] else '<'} "
                        f"{v['range'][1] if v['value'] > v['range'][1] else v['range'][0]:.4g}"
                        for n, v in outside.items())
        warn(f"outside the corpus the model was fitted on ({far}): its laws extrapolate there")


@cli.command(help="Size descriptors of a trace (what `sample --param-bytes/--flops/--nodes` targets): bytes "
                  "of collectives, FLOPs (sum of num_ops) and nodes, per rank and step; and its architecture "
                  "descriptors (PREFIX.describe.json) when it has them.\n\n"
                  "Example: chakra-synth describe et/mlp --json")
@click.argument("trace")
@click.option("--json", "as_json", is_flag=True, help="Print the descriptors as JSON.")
@common_options
def describe(trace, as_json, quiet, debug) -> None:
    from chakra_tools.synth.arch import read_sidecar
    from chakra_tools.synth.scaling import trace_descriptors
    d = trace_descriptors(trace)
    arch = read_sidecar(trace)
    if arch is not None:
        d["architecture"] = {k: int(v) if float(v).is_integer() else v for k, v in arch.items()}
    if as_json:
        click.echo(dumps_json(d))
    else:
        rows = [(k, v) for k, v in d.items() if k != "architecture"]
        rows += [(f"architecture.{k}", v) for k, v in d.get("architecture", {}).items()]
        print_table(f"size descriptors of {trace} (per rank and step)", ["descriptor", "value"], rows, quiet=quiet)


@cli.command(help="Fidelity report of trace B against trace A (KS/Wasserstein per attribute, kind mix, graph "
                  "statistics, obfuscation check, astra-run simulated time with --system/--network).\n\n"
                  "Example: chakra-synth compare et/mlp synth/x --system sys.json --network net.yml --json")
@click.argument("a")
@click.argument("b")
@click.option("--system", type=click.Path(dir_okay=False), default=None, help="astra-run system config.")
@click.option("--network", type=click.Path(dir_okay=False), default=None, help="astra-run network config.")
@click.option("--json", "as_json", is_flag=True, help="Print the report as JSON.")
@click.option("-o", "--output", default=None, help="Write the JSON report here.")
@click.option("--plot", type=PLOT, default=None, help="Write CDFs per attribute and the kind mix (.png/.svg/.pdf).")
@regression_options
@common_options
def compare(a, b, system, network, as_json, output, plot, expect, rtol, atol, quiet, debug) -> None:
    from chakra_tools.et import trace_inputs
    from chakra_tools.synth.arch import sidecar_path
    from chakra_tools.synth.compare import compare as compare_traces
    for f in (system, network):
        if f is not None:
            require_file(f)
    inputs = [*trace_inputs(a), *trace_inputs(b), system, network]
    check_distinct_outputs({"-o": output, "--plot": plot})
    protected = [i for i in inputs if i is not None] + [sidecar_path(a), sidecar_path(b)]  # the traces' own files
    check_not_input(output, protected)
    check_not_input(plot, protected)
    report = compare_traces(a, b, system, network)
    report["provenance"] = provenance("chakra-synth", [i for i in inputs if i is not None])
    emit_report(report, output=output, as_json=as_json)
    if plot:
        from chakra_tools.synth.plot import plot_compare
        plot_compare(a, b, report, plot)
    if not as_json:
        rows = [(k, v["ks"], v.get("wasserstein"), v.get("mean_a"), v.get("mean_b"))
                for k, v in report["attributes"].items()]
        print_table("per-attribute distance (A vs B)", ["attribute", "KS", "Wasserstein", "mean A", "mean B"],
                    rows, quiet=quiet)
        def groups(x: dict | None) -> str:
            return "-" if x is None else f"{x['collectives_per_rank']:g} x {len(x['groups'])} groups of " + \
                "/".join(str(n) for n in sorted({len(m) for m in x["groups"]}))

        rows = [(role, groups(v["a"]), groups(v["b"]), v["comm_size_ks"]) for role, v in report["groups"].items()]
        print_table("collectives per process-group role (per rank)", ["role", "A", "B", "size KS"], rows,
                    quiet=quiet)
        if report.get("programs"):
            def prog(x: dict | None) -> str:
                return "-" if x is None else (f"{x['nodes_per_rank']:g} nodes, {x['p2p_per_rank']:g} p2p, "
                                              f"{x['collectives_per_rank']:g} coll, {x['compute_path_us']:,} us"
                                              + (f", idle {x['sim_idle_share']:.1%}" if "sim_idle_share" in x
                                                 else ""))

            rows = [(",".join(map(str, e["a"]["ranks"])), prog(e["a"]), prog(e["b"])) for e in report["programs"]]
            print_table("per program of A (ranks that communicate alike; compute path: slowest rank)",
                        ["ranks", "A", "B"], rows, quiet=quiet)
        ob = report["obfuscation"]
        summary = [("ks_max", report["ks_max"]), ("kind_mix_tv", report["kind_mix_tv"]),
                   ("critical_path_ratio", report["critical_path_ratio"]),
                   ("compute_path_ratio", report["compute_path_ratio"]),
                   # shown where lanes queue (passes, threads): there it, not the path, is what astra-run computes
                   *([("compute_span_ratio", report["compute_span_ratio"])]
                     if report["compute_span_ratio"] != report["compute_path_ratio"] else []),
                   ("graph KS fan_in / fan_out / dep_distance",
                    " / ".join("-" if v is None else f"{v:.4g}" for v in report["graph_ks"].values())),
                   ("longest_shared_kind_run", ob["longest_shared_kind_run"]),
                   ("longest_shared_value_run", ob["longest_shared_value_run"])]
        if "sim_time_ratio" in report:
            summary += [("sim_time_ns_a", report["sim_time_ns_a"]), ("sim_time_ns_b", report["sim_time_ns_b"]),
                        ("sim_time_ratio", report["sim_time_ratio"]),
                        ("sim_idle_share_a", report["sim_idle_share_a"]),
                        ("sim_idle_share_b", report["sim_idle_share_b"])]
        print_table("summary", ["key", "value"], summary, quiet=quiet)
    check_expected(report, expect, rtol, atol, "chakra-synth", inputs=("a", "b"))


def _range(rows: list[dict], key: str, scale: float = 1.0) -> str:
    """'116-122': a key's range over rows (one value when they agree)."""
    vals = [r[key] / scale for r in rows]
    return f"{min(vals):.4g}" if min(vals) == max(vals) else f"{min(vals):.4g}-{max(vals):.4g}"


main = tool_main("chakra-synth")(cli)

__all__ = ["main", "cli", "ToolError"]


def _check_model_output(output: str, fitted: dict) -> None:
    """Refuse a model path that a trace reader would take for a trace: a fitted prefix itself (the tools read a
    file at the prefix before its rank files, so the model would hide the trace) or a rank file's name."""
    from pathlib import Path

    from chakra_tools.et import is_trace_file_name
    out = Path(output)
    if out.resolve() in fitted:
        raise ToolError(f"{output}: is the prefix of a trace being fitted; writing the model there would hide "
                        f"{output}.<rank>.et from every tool (give model.json)")
    if is_trace_file_name(out.name):
        raise ToolError(f"{output}: named like a trace's rank file; the model is JSON (give model.json)")


def _check_prefix(output: str) -> None:
    """An output prefix must name files, not a directory (`-o dir/` would write dir/.0.et)."""
    import os
    from pathlib import Path

    if output.endswith(("/", os.sep)) or Path(output).is_dir():
        raise ToolError(f"{output}: is a directory; give a file prefix inside it (e.g. {output.rstrip('/')}/synth)")
