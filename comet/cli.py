"""`comet-sweep`: evaluate one training configuration, sweep a design space, report the best designs."""

from __future__ import annotations

from pathlib import Path

import click

from chakra_tools.common import (
    PLOT,
    ConfigError,
    ToolError,
    check_distinct_outputs,
    check_expected,
    check_not_input,
    common_options,
    emit_report,
    load_mapping,
    print_table,
    progress,
    provenance,
    regression_options,
    tool_main,
    version_option,
    write_csv,
)
from chakra_tools.et import groups_path
from comet.model import load_cluster, load_model
from comet.perf import RECOMPUTE, evaluate
from comet.report import CSV_COLUMNS, heatmap, pareto_plot, top_rows
from comet.store import PARAMS, Store
from comet.sweep import DEFAULTS, INT_BOUNDS, STRATEGY, load_sweep, reason_text, run_sweep, value_problem

TOOL = "comet-sweep"


@click.group(help="COMET cluster design-space exploration for large-model training.\n\nExamples:\n\n"
                  "  comet-sweep eval --model megatron-1t --cluster a100-80gb --gpus 3072 --tp 8 --pp 64 "
                  "--batch 3072 --json\n\n  comet-sweep run sweep.yml -o results.db\n\n"
                  "  comet-sweep report results.db --top 10 --plot pareto.png")
@version_option(TOOL)
def cli() -> None:
    pass


@cli.command("eval", help="Iteration time breakdown, memory per GPU and TFLOP/s per GPU of one configuration "
                          "(from POINT.yml and/or options), or why it is infeasible.")
@click.argument("point", required=False, type=click.Path(path_type=Path))
@click.option("--model", help="Preset (megatron-1.7b … megatron-1t, gpt3-175b, turing-530b) or YAML file.")
@click.option("--cluster", help="Preset (a100-80gb, h100-80gb) or YAML file.")
@click.option("--gpus", type=int)
@click.option("--tp", type=int)
@click.option("--pp", type=int)
@click.option("--batch", type=int, help="Global batch size (sequences).")
@click.option("--microbatch", type=int)
@click.option("--interleave", type=int, help="Virtual pipeline stages per GPU (interleaved 1F1B).")
@click.option("--recompute", type=click.Choice(list(RECOMPUTE)))
@click.option("--sequence-parallel", is_flag=True, default=None)
@click.option("--zero", type=click.IntRange(0, 3))
@click.option("--emit-et", "emit_prefix", default=None, help="Write Chakra ETs of one iteration: PREFIX.<rank>.et.")
@click.option("--simulate", is_flag=True, help="Re-time the iteration's communication with astra-run on the "
                                              "cluster's network (uses --emit-et's files, or a temporary prefix).")
@click.option("-o", "--output", type=click.Path(path_type=Path), help="Write the report JSON here.")
@click.option("--json", "as_json", is_flag=True, help="Print the report as JSON.")
@regression_options
@common_options
def eval_cmd(point, model, cluster, gpus, tp, pp, batch, microbatch, interleave, recompute, sequence_parallel, zero,
             emit_prefix, simulate, output, as_json, expect, rtol, atol, quiet, debug):
    check_not_input(output, [point])
    # the ETs are PREFIX.<rank>.et and PREFIX.comm_groups.json: check where they go before any work
    check_distinct_outputs({"-o": output, "--emit-et": groups_path(emit_prefix) if emit_prefix else None})
    spec: dict = load_mapping(point) if point else {}
    given = {"model": model, "cluster": cluster, "gpus": gpus, "tp": tp, "pp": pp, "batch": batch,
             "micro": microbatch, "interleave": interleave, "recompute": recompute,
             "sequence_parallel": sequence_parallel, "zero": zero}
    spec.update({k: v for k, v in given.items() if v is not None})
    if "microbatch" in spec:
        spec["micro"] = spec.pop("microbatch")
    for k in ("model", "cluster", "gpus", "tp", "pp", "batch"):
        if k not in spec:
            raise ConfigError(point, k, "required (give it in POINT.yml or as --" + k + ")")
    spec = {**DEFAULTS, **spec}
    for k in STRATEGY:
        problem = value_problem(k, spec[k])
        if problem:
            raise ConfigError(point, k, problem)
        if k in INT_BOUNDS:
            spec[k] = int(spec[k])   # value_problem accepts 8.0 as 8: evaluate and report the integer
    unknown = set(spec) - {"model", "cluster", *STRATEGY}
    if unknown:
        raise ConfigError(point, sorted(unknown)[0], "unknown key")
    # a model or cluster that came from POINT.yml (not an option) is reported with that file's name
    m = load_model(spec["model"], file=point if model is None else None)
    c = load_cluster(spec["cluster"], file=point if cluster is None else None)
    rc = spec["recompute"]
    r = evaluate(m, c, gpus=spec["gpus"], tp=spec["tp"], pp=spec["pp"], batch=spec["batch"],
                 micro=spec["micro"], interleave=spec["interleave"], recompute=RECOMPUTE[rc],
                 sequence_parallel=spec["sequence_parallel"], zero=spec["zero"])
    feasible = bool(r["feasible"])
    report = {
        "model": m.name, "cluster": c.name, "params": m.params,
        "strategy": {"gpus": spec["gpus"], "tp": spec["tp"], "pp": spec["pp"], "dp": int(r["dp"]),
                     "batch": spec["batch"], "microbatch": spec["micro"],
                     "microbatches_per_pipeline": int(r["microbatches"]), "interleave": spec["interleave"],
                     "recompute": rc, "sequence_parallel": spec["sequence_parallel"], "zero": spec["zero"]},
        "feasible": feasible,
        "infeasible_reason": reason_text(int(r["reason"])) or None,
        "iteration_time_s": float(r["iteration_time_s"]) if feasible else None,
        "tflops_per_gpu": float(r["tflops_per_gpu"]) if feasible else None,
        "memory_per_gpu_bytes": float(r["memory_per_gpu_bytes"]),
        "breakdown_s": {k[:-2]: float(r[k]) for k in ("compute_s", "tp_comm_s", "pp_comm_s", "bubble_s",
                                                      "dp_comm_s", "dp_exposed_s", "optimizer_s", "offload_s")},
        "provenance": provenance(TOOL, [p for p in (point, spec["model"], spec["cluster"]) if p and Path(p).is_file()]),
    }
    if (emit_prefix or simulate) and not feasible:
        raise ToolError(f"{'--emit-et' if emit_prefix else '--simulate'}: the point is infeasible "
                        f"({report['infeasible_reason']}); nothing to emit or simulate")
    if emit_prefix or simulate:
        _emit_and_simulate(report, m, c, spec, RECOMPUTE[rc], emit_prefix, simulate)
    emit_report(report, output=output, as_json=as_json)
    if not as_json:
        if feasible:
            rows = [["iteration time (s)", report["iteration_time_s"]], ["TFLOP/s per GPU", report["tflops_per_gpu"]],
                    ["memory per GPU (GB)", report["memory_per_gpu_bytes"] / 1e9]]
            rows += [[f"  {k} (s)", v] for k, v in report["breakdown_s"].items()]
        else:
            rows = [["infeasible", report["infeasible_reason"]],
                    ["memory per GPU (GB)", report["memory_per_gpu_bytes"] / 1e9]]
        print_table(f"comet-sweep eval: {m.name} on {spec['gpus']} x {c.name} (tp {spec['tp']}, pp {spec['pp']}, "
                    f"dp {int(r['dp'])})", ["", "value"], rows, quiet=quiet)
    check_expected(report, expect, rtol, atol, TOOL)


def _emit_and_simulate(report: dict, m, c, spec: dict, rc: int, prefix: str | None, simulate: bool) -> None:
    import tempfile

    from comet.emit_et import build, network_files, write
    per_rank, groups, _ = build(m, c, gpus=spec["gpus"], tp=spec["tp"], pp=spec["pp"], batch=spec["batch"],
                                micro=spec["micro"], recompute=rc, sequence_parallel=spec["sequence_parallel"],
                                zero=spec["zero"])
    with tempfile.TemporaryDirectory() as tmp:
        out_prefix = prefix or str(Path(tmp) / "iteration")
        write(out_prefix, per_rank, groups)
        if prefix:
            report["emitted_et_prefix"] = prefix
        if simulate:
            from astrasim_py import simulate as astra
            sysf, net = network_files(c, spec["gpus"], Path(tmp))
            res = astra(out_prefix, sysf, net, comm_groups=groups_path(out_prefix))
            report["simulated_iteration_time_s"] = res.sim_time_ns / 1e9
            report["simulated_vs_analytical"] = res.sim_time_ns / 1e9 / report["iteration_time_s"]


@cli.command("run", help="Sweep SWEEP.yml into a resumable SQLite store.")
@click.argument("sweep", type=click.Path(path_type=Path))
@click.option("-o", "--output", required=True, type=click.Path(path_type=Path), help="Result store (SQLite).")
@click.option("--executor", type=click.Choice(["local", "dask"]), default="local", show_default=True)
@click.option("--workers", type=click.IntRange(min=1), default=1, show_default=True,
              help="Local processes or LocalCluster workers.")
@click.option("--scheduler", default=None, help="Dask scheduler address tcp://HOST:PORT (default: a LocalCluster).")
@click.option("--chunk", type=click.IntRange(min=1), default=50_000, show_default=True,
              help="Points per task / commit.")
@click.option("--json", "as_json", is_flag=True)
@common_options
def run_cmd(sweep, output, executor, workers, scheduler, chunk, as_json, quiet, debug):
    check_not_input(output, [sweep])
    check_distinct_outputs({"-o": output})
    spec = load_sweep(sweep)
    store = Store(output, spec.model, spec.cluster)
    try:
        with progress("sweep", spec.size, quiet=quiet) as advance:
            stats = run_sweep(spec, store, executor=executor, workers=workers, scheduler=scheduler, chunk=chunk,
                              progress=advance)
        feasible = store.db.execute("SELECT COUNT(*) FROM points WHERE feasible = 1").fetchone()[0]
    except BaseException:
        # a store this run created and never stored a point in (e.g. the Dask scheduler is unreachable) is not
        # left behind; one with points stays, to resume
        if store.created and store.count() == 0:
            store.discard()
        else:
            store.close()
        raise
    store.close()
    report = {**stats, "feasible": feasible, "store": str(output), "provenance": provenance(TOOL, [sweep])}
    if as_json:
        emit_report(report, output=None, as_json=True)
    else:
        print_table("comet-sweep run", ["points", "evaluated now", "already in store", "feasible"],
                    [[stats["points"], stats["evaluated"], stats["resumed_from_store"], feasible]], quiet=quiet)


@cli.command("report", help="Best designs in a result store; CSV, Pareto plot, heatmap.")
@click.argument("store_path", type=click.Path(path_type=Path))
@click.option("--top", type=click.IntRange(min=1), default=10, show_default=True)
@click.option("--csv", "csv_path", type=click.Path(path_type=Path), default=None, help="Write the top rows as CSV.")
@click.option("--plot", type=PLOT, default=None, help="Pareto plot: GPUs vs iteration time.")
@click.option("--heatmap", "heat", type=(click.Choice(PARAMS), click.Choice(PARAMS), PLOT), default=None,
              metavar="X Y FILE", help="Best TFLOP/s per GPU over two parameters, e.g. --heatmap tp pp heat.png.")
@click.option("--json", "as_json", is_flag=True)
@regression_options
@common_options
def report_cmd(store_path, top, csv_path, plot, heat, as_json, expect, rtol, atol, quiet, debug):
    outputs = {"--csv": csv_path, "--plot": plot, "--heatmap": heat[2] if heat else None}
    check_distinct_outputs(outputs)
    for path in outputs.values():
        check_not_input(path, [store_path])
    store = Store(store_path)
    try:
        rows = top_rows(store, top)
        meta = store.meta()
        total = store.db.execute("SELECT COUNT(*), SUM(feasible) FROM points").fetchone()
        # checked before writing anything, so that a failed report leaves no outputs
        if (plot or heat) and not total[1]:
            raise ToolError(f"{store_path}: no feasible points to plot")
        if csv_path:
            write_csv(csv_path, rows, CSV_COLUMNS)
        if plot:
            pareto_plot(store, plot)
        if heat:
            heatmap(store, heat[0], heat[1], heat[2])
    finally:
        store.close()
    report = {"model": meta.get("model"), "cluster": meta.get("cluster"), "points": total[0],
              "feasible": int(total[1] or 0), "top": rows, "provenance": provenance(TOOL, [store_path])}
    emit_report(report, output=None, as_json=as_json)
    if not as_json:
        cols = ["gpus", "tp", "pp", "micro", "interleave", "recompute", "zero", "scaleout_gbps", "iteration_time_s",
                "tflops_per_gpu"]
        print_table(f"comet-sweep report: top {len(rows)} of {total[0]} points ({report['feasible']} feasible)", cols,
                    [[r[c] for c in cols] for r in rows], quiet=quiet)
    check_expected(report, expect, rtol, atol, TOOL)


main = tool_main(TOOL)(cli)
