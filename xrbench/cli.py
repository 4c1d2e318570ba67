"""`xrbench-run`: score XR usage scenarios on accelerator systems.

Example:  xrbench-run --scenario all --accelerators J_4K --accelerators B_4K
"""
from __future__ import annotations

import click

from chakra_tools.common import (
    ToolError,
    check_expected,
    check_not_input,
    common_options,
    emit_report,
    print_table,
    provenance,
    regression_options,
    tool_main,
    version_option,
    write_csv,
)

from .accelerators import load_costs, parse_preset
from .api import evaluate, system_costs
from .runtime import SCHEDULERS
from .scenarios import BUILTIN, SCENARIO_ORDER, load_scenarios

TOOL = "xrbench-run"


@click.command(help=__doc__)
@click.option("--scenario", "scenario", default="all", show_default=True,
              help="Scenario name, comma list, or 'all' (the 7 XRBench scenarios).")
@click.option("--scenarios-file", type=click.Path(dir_okay=False), help="Extra scenarios YAML.")
@click.option("--accelerators", "accels", multiple=True,
              help="Preset STYLE_SIZE (A..M, 4K|8K, e.g. J_4K); repeatable; default J_4K.")
@click.option("--costs", type=click.Path(dir_okay=False), help="Cost CSV model,accelerator,latency_ms,energy_mj.")
@click.option("--compat", type=click.Choice(["xrbench-v0.1"]), default=None, help="Reference semantics.")
@click.option("--scheduler", type=click.Choice(SCHEDULERS), default="latency-greedy", show_default=True)
@click.option("--seed", type=int, default=0, show_default=True)
@click.option("-o", "--output", type=click.Path(dir_okay=False), help="Summary CSV.")
@click.option("--timeline", type=click.Path(dir_okay=False), help="Timeline CSV.")
@click.option("--report", type=click.Path(dir_okay=False), help="Report JSON.")
@click.option("--json", "as_json", is_flag=True, help="Print the report JSON to stdout.")
@click.option("--plot", type=click.Path(dir_okay=False), help="Score bars PNG/SVG.")
@regression_options
@common_options
@version_option(TOOL)
def command(scenario, scenarios_file, accels, costs, compat, scheduler, seed, output, timeline, report,
            as_json, plot, expect, rtol, atol, quiet, debug):
    known = dict(BUILTIN)
    if scenarios_file:
        known.update(load_scenarios(scenarios_file))
    names = SCENARIO_ORDER if scenario == "all" else [s.strip() for s in scenario.split(",")]
    for n in names:
        if n not in known:
            raise ToolError(f"unknown scenario {n!r} (known: {', '.join(known)})")
    scs = [known[n] for n in names]
    inputs = [p for p in (costs, scenarios_file) if p]
    for out in (output, timeline, report, plot):
        check_not_input(out, inputs)
    if costs and accels:
        raise ToolError("give either --accelerators or --costs, not both")
    systems = {}
    if costs:
        table = load_costs(costs)
        systems["costs"] = table       # every accelerator in the CSV forms one system
    else:
        for spec in accels or ("J_4K",):
            name, subs = parse_preset(spec)
            systems[name] = system_costs(subs)
    rep = {"compat": compat, "scheduler": scheduler, "systems": {}}
    rows, trows = [], []
    for sysname, table in systems.items():
        res, tls = evaluate(scs, table, compat=compat is not None, scheduler=scheduler, seed=seed)
        rep["systems"][sysname] = res
        for scn, v in res["scenarios"].items():
            for m, ms in v["models"].items():
                rows.append({"system": sysname, "scenario": scn, "model": m, **ms})
            rows.append({"system": sysname, "scenario": scn, "model": "ALL", "score": v["score"]})
            for r in tls[scn]:
                trows.append({"system": sysname, "scenario": scn, "accelerator": r.accelerator, "model": r.model,
                              "frame": r.frame, "injection": r.injection, "dispatch": r.dispatch,
                              "deadline": r.deadline, "completion": r.completion, "violation": r.violation,
                              "energy": r.energy, "dropped": int(r.dropped)})
        rows.append({"system": sysname, "scenario": "overall", "model": "ALL", "score": res["overall"]})
    if len(systems) == 1:
        only = next(iter(rep["systems"].values()))
        rep.update(only)
    rep["provenance"] = provenance(TOOL, inputs, seed)
    if output:
        write_csv(output, rows, ["system", "scenario", "model", "rt_score", "energy_score", "qoe_score", "score",
                                 "inferences", "dropped"])
    if timeline:
        write_csv(timeline, trows, list(trows[0]) if trows else ["system"])
    emit_report(rep, output=report, as_json=as_json)
    if plot:
        _plot(rep, plot)
    if not as_json:
        cols = ["scenario", *systems]
        table_rows = [[n, *(f"{rep['systems'][s]['scenarios'][n]['score']:.2f}" for s in systems)] for n in names]
        table_rows.append(["overall", *(f"{rep['systems'][s]['overall']:.2f}" for s in systems)])
        print_table("XRBench scenario scores (0-100)", cols, table_rows, quiet=quiet)
    check_expected(rep, expect, rtol, atol, TOOL)


def _plot(rep, path):
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    systems = list(rep["systems"])
    names = list(next(iter(rep["systems"].values()))["scenarios"])
    fig, ax = plt.subplots(figsize=(max(6, len(names) * 1.2), 4))
    w = 0.8 / len(systems)
    for i, s in enumerate(systems):
        ax.bar([x + i * w for x in range(len(names))],
               [rep["systems"][s]["scenarios"][n]["score"] for n in names], w, label=s)
    ax.set_xticks([x + 0.4 - w / 2 for x in range(len(names))], names, rotation=30, ha="right", fontsize=7)
    ax.set_ylabel("score")
    ax.legend(fontsize=6, ncol=2)
    fig.tight_layout()
    fig.savefig(path, metadata={"Software": None} if str(path).endswith(".png") else None)
    plt.close(fig)


main = tool_main(TOOL)(command)

if __name__ == "__main__":
    main()
