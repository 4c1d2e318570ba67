"""`sushi-serve`: SubGraph Stationary serving of weight-shared SuperNet SubNets (SUSHI).

Serves a stream of queries (each with a latency SLO and an accuracy target) from SubNets of one OFA
SuperNet on a SushiAccel model whose Persistent Buffer keeps a SubGraph of shared weights on chip, and
compares SushiSched (queue-aware SubNet choice, SubGraph re-selection from the recent mix) with no caching,
the best fixed SubGraph in hindsight (static) and SuperServe's SlackFit.

\b
Examples:
  sushi-serve                        # default ZU19EG-class accelerator, drifting mix, all policies
  sushi-serve examples/sushi/configs/diurnal_mix.yml --seed 3 -o r.json --plot r.png
  sushi-serve --supernet ofa-resnet50 --trace q.csv --policy sushi --queries-csv per_query.csv
  sushi-serve --pb 2MiB --queries 1000000 --json > r.json
"""
from __future__ import annotations

import math
from dataclasses import asdict

import click

from chakra_tools.common import (
    PLOT,
    SIZE,
    ToolError,
    atomic_write,
    check_distinct_outputs,
    check_expected,
    check_not_input,
    common_options,
    emit_report,
    info,
    print_table,
    provenance,
    regression_options,
    tool_main,
    version_option,
    write_csv,
)

from .accel import per_layer_table
from .api import default_config, load_config, queries_for, run, slo_met, window_series
from .plot import plot_report
from .sched import POLICIES, uniform_candidate
from .supernet import SUPERNETS

TOOL = "sushi-serve"


@click.command(help=__doc__, context_settings={"max_content_width": 110})
@click.argument("config", required=False, type=click.Path(dir_okay=False))
@click.option("--supernet", type=click.Choice(list(SUPERNETS)), default=None,
              help="SuperNet (default: the config's, else ofa-mbv3).")
@click.option("--queries", type=click.IntRange(1, 50_000_000), default=None,
              help="Number of generated queries (default: the config's, else 100000).")
@click.option("--trace", type=click.Path(dir_okay=False), default=None,
              help="Query trace CSV arrival_ms,slo_ms[,accuracy_target] instead of a generated stream.")
@click.option("--seed", type=int, default=0, show_default=True, help="Seed of the generated query stream.")
@click.option("--policy", type=click.Choice([*POLICIES, "all"]), default="all", show_default=True)
@click.option("--pb", "pb", type=SIZE, default=None, help="Persistent Buffer size override (e.g. 2MiB, 0).")
@click.option("--window", type=click.IntRange(1, None), default=None,
              help="Queries between SubGraph re-selections (default 500).")
@click.option("-o", "--output", type=click.Path(dir_okay=False), help="Report JSON.")
@click.option("--json", "as_json", is_flag=True, help="Print the report JSON to stdout.")
@click.option("--queries-csv", type=click.Path(dir_okay=False), help="Per-query CSV (one row per query and policy).")
@click.option("--layers-csv", type=click.Path(dir_okay=False),
              help="Per-layer MACs, weight bytes, PB bytes and latency of every menu SubNet.")
@click.option("--plot", type=PLOT, help="Latency-accuracy trade-off + PB hit rate figure (.png, .svg or .pdf).")
@regression_options
@common_options
@version_option(TOOL)
def command(config, supernet, queries, trace, seed, policy, pb, window, output, as_json, queries_csv, layers_csv,
            plot, expect, rtol, atol, quiet, debug):
    if queries is not None and trace is not None:
        raise click.UsageError("give either --queries or --trace, not both")
    # every output is checked before any work, so a bad path cannot fail the run after other outputs were written
    check_distinct_outputs({"-o": output, "--queries-csv": queries_csv, "--layers-csv": layers_csv, "--plot": plot})
    inputs = [p for p in (config, trace) if p]
    for out in (output, queries_csv, layers_csv, plot):
        check_not_input(out, inputs)
    cfg = load_config(config) if config else default_config()
    if supernet and supernet != cfg.supernet:
        if cfg.menu.subnets is not None:     # an explicit menu only fits the SuperNet it was written for
            raise ToolError(f"{config}: menu.subnets are {cfg.supernet} SubNets; drop --supernet {supernet}")
        cfg.supernet = supernet
    if pb is not None:
        cfg.accelerator.persistent_buffer = pb
        try:
            cfg.accelerator.validate()
        except ValueError as e:
            raise ToolError(f"--pb: {e}") from None
    if window is not None:
        cfg.scheduler.window = window
    if queries is not None:
        cfg.resolved_workload().queries = queries
    q = queries_for(cfg, seed, trace)
    policies = POLICIES if policy == "all" else (policy,)
    info(f"{TOOL}: {cfg.supernet}, {len(q):,} queries, policies {', '.join(policies)}", quiet=quiet or as_json)
    workload = ({"source": "trace", "path": trace, "queries": len(q)} if trace else
                {"source": "generated", **_drop_none(asdict(cfg.resolved_workload())), "seed": seed})
    rep, res, cat = run(cfg, q, policies, workload=workload)
    rep["provenance"] = provenance(TOOL, inputs, None if trace else seed)
    if queries_csv:
        _write_queries(queries_csv, cat, q, res)
    if layers_csv:
        _write_layers(layers_csv, cat, cfg.scheduler)
    emit_report(rep, output=output, as_json=as_json)
    if plot:
        plot_report(plot, rep, {p: window_series(cat, q, r, cfg.scheduler.window) for p, r in res.items()})
    if not as_json:
        _summary(rep, quiet)
    check_expected(rep, expect, rtol, atol, TOOL)


def _drop_none(d):
    if isinstance(d, dict):
        return {k: _drop_none(v) for k, v in d.items() if v is not None}
    if isinstance(d, list):
        return [_drop_none(v) for v in d]
    return d


def _summary(rep, quiet):
    rows = []
    for p, m in rep["policies"].items():
        rows.append([p, f"{m['mean_latency_ms']:.3f}", f"{m['p99_latency_ms']:.3f}",
                     f"{100 * m['slo_attainment']:.2f}", f"{m['served_accuracy']:.2f}",
                     f"{m['offchip_bytes_per_query'] / 1e6:.3f}", f"{m['offchip_energy_uj_per_query']:.1f}",
                     f"{100 * m['pb_hit_rate']:.1f}"])
    n = rep["policies"][next(iter(rep["policies"]))]["queries"]
    print_table(f"{rep['supernet']} on {rep['accelerator']['name']}, {n:,} queries",
                ["policy", "mean ms", "p99 ms", "SLO %", "acc %", "MB/q", "uJ/q", "PB hit %"], rows, quiet=quiet)
    c = rep["comparison"]
    if quiet:
        return
    if "sushi_vs_no_cache" in c:
        v = c["sushi_vs_no_cache"]
        click.echo(f"SUSHI vs no-cache: mean latency {-100 * v['mean_latency_reduction']:+.1f} %, off-chip energy "
                   f"{-100 * v['offchip_energy_reduction']:+.1f} %, served accuracy {v['served_accuracy_gain_pp']:+.2f} pp")
    if "sushi_vs_static" in c:
        v = c["sushi_vs_static"]
        click.echo(f"SUSHI vs static (best fixed SubGraph in hindsight): mean latency "
                   f"{-100 * v['mean_latency_reduction']:+.1f} %, off-chip energy {-100 * v['offchip_energy_reduction']:+.1f} %, "
                   f"SLO attainment {v['slo_attainment_gain_pp']:+.2f} pp")
    if "sushi_vs_slackfit_iso_accuracy" in c:
        v = c["sushi_vs_slackfit_iso_accuracy"]
        knob = f"SlackFit slack_fraction {v['slackfit_slack_fraction']:.3g}"
        if v["sushi_headroom_pp"] != rep["scheduler"]["headroom_pp"] or v["sushi_upgrade"] != rep["scheduler"]["upgrade"]:
            knob += f", SUSHI headroom {v['sushi_headroom_pp']:+.2f} pp, upgrade {v['sushi_upgrade']:.3g}"
        click.echo(f"SUSHI vs SlackFit at equal accuracy ({v['sushi']['served_accuracy']:.2f} vs "
                   f"{v['slackfit']['served_accuracy']:.2f} %): SLO attainment {100 * v['sushi']['slo_attainment']:.2f} "
                   f"vs {100 * v['slackfit']['slo_attainment']:.2f} % ({knob}); {v['slackfit_settings_beaten']} of "
                   f"{len(v['slackfit_curve'])} SlackFit settings beaten by a SUSHI setting at least as accurate")


def _fmt(x: float) -> str:
    return repr(float(x)) if math.isfinite(x) else ""


def _write_queries(path, cat, q, res):
    arr = (q.arrival_s * 1e3).tolist()
    slo = (q.slo_s * 1e3).tolist()
    tgt = [_fmt(t) for t in q.target.tolist()]
    with atomic_write(path, newline="") as f:
        f.write("policy,query,arrival_ms,slo_ms,accuracy_target,subnet,accuracy,subgraph,start_ms,finish_ms,"
                "latency_ms,slo_met,offchip_bytes\n")
        for p, r in res.items():
            acc = cat.accuracy[r.subnet].tolist()
            lat = (r.finish_s - q.arrival_s)
            met = slo_met(q, lat).astype(int).tolist()
            off = cat.off_bytes[r.subnet, r.cache].tolist()
            st, fi, la = (r.start_s * 1e3).tolist(), (r.finish_s * 1e3).tolist(), (lat * 1e3).tolist()
            sub, cc = r.subnet.tolist(), r.cache.tolist()
            f.writelines(f"{p},{i},{arr[i]!r},{slo[i]!r},{tgt[i]},{sub[i]},{acc[i]!r},{cc[i]},{st[i]!r},{fi[i]!r},"
                         f"{la[i]!r},{met[i]},{off[i]!r}\n" for i in range(len(q)))


def _write_layers(path, cat, sched):
    static = cat.cand[uniform_candidate(cat, sched)]       # the SubGraph SUSHI deploys with
    cols = ["subnet", "layer", "out", "in", "k", "pixels", "macs", "weight_bytes", "pb_bytes", "offchip_bytes",
            "compute_us", "dram_us", "latency_us"]
    write_csv(path, [{"subnet": n, **row} for n, cfg in enumerate(cat.subnets)
                     for row in per_layer_table(cat.net, cat.acc, cfg, static)], cols)


main = tool_main(TOOL)(command)

if __name__ == "__main__":
    main()
