"""`xrbench-run`: score XR usage scenarios on accelerator systems.

Example:  xrbench-run --scenario all --accelerators J_4K --accelerators B_4K

Models:   xrbench-run --list-models    (layers, MACs, parameters of the 11 unit models)
"""
from __future__ import annotations

import click

from chakra_tools.common import (
    PLOT,
    ToolError,
    check_distinct_outputs,
    check_expected,
    check_not_input,
    common_options,
    emit_report,
    print_table,
    provenance,
    regression_options,
    save_figure,
    tool_main,
    version_option,
    write_csv,
)

from .accelerators import check_costs, load_costs, parse_preset
from .api import describe_system, evaluate, layer_rows, system_costs
from .models import MODELS
from .models import summary as model_summary
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
@click.option("--accuracy", "accuracy", multiple=True, metavar="ID=A",
              help="Accuracy term of a model in [0, 1] (e.g. its quality vs the target), multiplying each inference's "
                   "score; repeatable; default 1 (what the reference implements).")
@click.option("-o", "--output", type=click.Path(dir_okay=False), help="Summary CSV.")
@click.option("--timeline", type=click.Path(dir_okay=False), help="Timeline CSV.")
@click.option("--report", type=click.Path(dir_okay=False), help="Report JSON.")
@click.option("--json", "as_json", is_flag=True, help="Print the report JSON to stdout.")
@click.option("--plot", type=PLOT, help="Score bars and timeline figure (.png, .svg or .pdf).")
@click.option("--layers", "layers_csv", type=click.Path(dir_okay=False),
              help="Per-layer shapes and costs CSV for the preset systems.")
@click.option("--list-models", is_flag=True, help="Print the unit models' layers, MACs and parameters, then exit.")
@regression_options
@common_options
@version_option(TOOL)
def command(scenario, scenarios_file, accels, costs, compat, scheduler, seed, accuracy, output, timeline, report,
            as_json, plot, layers_csv, list_models, expect, rtol, atol, quiet, debug):
    if list_models:
        _list_models(as_json, quiet)
        return
    # every output is checked before any work, so a bad path cannot fail the run after other outputs were written
    check_distinct_outputs({"-o": output, "--timeline": timeline, "--report": report, "--plot": plot,
                            "--layers": layers_csv})
    known = dict(BUILTIN)
    from_file = load_scenarios(scenarios_file) if scenarios_file else {}
    known.update(from_file)
    names = SCENARIO_ORDER if scenario == "all" else [s.strip() for s in scenario.split(",")]
    for n in names:
        if n not in known:
            raise ToolError(f"unknown scenario {n!r} (known: {', '.join(known)})")
    scs = [known[n] for n in names]
    if compat:
        _check_compat_fps([s for s in scs if s.name in from_file], scenarios_file)
    acc = _accuracy_terms(accuracy)
    inputs = [p for p in (costs, scenarios_file, expect) if p]
    for out in (output, timeline, report, plot, layers_csv):
        check_not_input(out, inputs)
    if costs and accels:
        raise ToolError("give either --accelerators or --costs, not both")
    if costs and layers_csv:
        raise ToolError("--layers needs preset --accelerators (a cost CSV has no layers)")
    systems, presets = {}, {}
    if costs:
        table = load_costs(costs)
        check_costs(table, scs, costs)
        systems["costs"] = table       # every accelerator in the CSV forms one system
    else:
        for spec in accels or ("J_4K",):
            name, subs = parse_preset(spec)
            systems[name] = system_costs(subs)
            presets[name] = subs
    rep = {"compat": compat, "scheduler": scheduler, "accuracy": acc, "systems": {}}
    rows, trows = [], []
    timelines_by_system = {}
    for sysname, table in systems.items():
        res, tls = evaluate(scs, table, compat=compat is not None, scheduler=scheduler, seed=seed, accuracy=acc)
        if sysname in presets:
            res.update(describe_system(presets[sysname], table))
        rep["systems"][sysname] = res
        timelines_by_system[sysname] = tls
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
    if layers_csv:
        lrows = [r for name, subs in presets.items() for r in layer_rows(name, subs)]
        write_csv(layers_csv, lrows, list(lrows[0]))
    emit_report(rep, output=report, as_json=as_json)
    if plot:
        first = next(iter(systems))
        _plot(rep, plot, first, names[0], timelines_by_system[first][names[0]])
    if not as_json:
        cols = ["scenario", *systems]
        table_rows = [[n, *(f"{rep['systems'][s]['scenarios'][n]['score']:.2f}" for s in systems)] for n in names]
        table_rows.append(["overall", *(f"{rep['systems'][s]['overall']:.2f}" for s in systems)])
        print_table("XRBench scenario scores (0-100)", cols, table_rows, quiet=quiet)
    check_expected(rep, expect, rtol, atol, TOOL)


def _check_compat_fps(scenarios, path) -> None:
    """The reference's periods are 1000 // int(fps) ms: below 1 fps that divides by zero (the built-in
    scenarios all run at >= 3 fps, so only a --scenarios-file can hit this)."""
    for sc in scenarios:
        for i, m in enumerate(sc.models):
            if m.fps < 1:
                raise ToolError(f"{path}: {sc.name}.models[{i}].fps: --compat xrbench-v0.1 needs fps >= 1 "
                                f"(integer periods of 1000 // fps ms), got {m.fps:g}")


def _accuracy_terms(specs: tuple[str, ...]) -> dict[str, float]:
    """`--accuracy HT=0.9 ...` → {model id: term}; unknown ids and values outside [0, 1] are one-line errors."""
    out: dict[str, float] = {}
    for spec in specs:
        mid, sep, val = spec.partition("=")
        mid = mid.strip()
        if not sep or mid not in MODELS:
            raise ToolError(f"--accuracy {spec!r}: expected ID=A with ID one of {' '.join(MODELS)}")
        try:
            a = float(val)
        except ValueError:
            a = float("nan")
        if not 0.0 <= a <= 1.0:
            raise ToolError(f"--accuracy {spec!r}: the accuracy term must be a number in [0, 1]")
        out[mid] = a
    return out


def _list_models(as_json: bool, quiet: bool) -> None:
    rows = model_summary()
    if as_json:
        emit_report({"models": {r["model"]: {k: v for k, v in r.items() if k != "model"} for r in rows},
                     "provenance": provenance(TOOL, [], None)}, output=None, as_json=True)
        return
    print_table("XRBench unit models (ours: real strides/groups; ref: MAESTRO files, reference §1)",
                ["model", "layers", "GMACs", "Mparams", "ref layers", "ref GMACs"],
                [[r["model"], str(r["layers"]), f"{r['gmacs']:.3f}", f"{r['mparams']:.3f}",
                  str(r["encoded_layers"]), f"{r['encoded_gmacs']:.3f}"] for r in rows], quiet=quiet)


def _plot(rep, path, sysname, scname, timeline):
    """Score bars per scenario and system (top) and the Gantt timeline of the first scenario (bottom)."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    systems = list(rep["systems"])
    names = list(next(iter(rep["systems"].values()))["scenarios"])
    fig, (ax, gx) = plt.subplots(2, 1, figsize=(max(7, len(names) * 1.2), 7))
    w = 0.8 / len(systems)
    for i, s in enumerate(systems):
        ax.bar([x + i * w for x in range(len(names))],
               [rep["systems"][s]["scenarios"][n]["score"] for n in names], w, label=s,
               color=plt.cm.tab20(i % 20) if len(systems) > 10 else None)
    ax.set_xticks([x + 0.4 - w / 2 for x in range(len(names))], names, rotation=20, ha="right", fontsize=7)
    scores = [rep["systems"][s]["scenarios"][n]["score"] for s in systems for n in names]
    low = min(scores, default=0.0)
    if low > 50:                                  # zoom: the styles differ by a few points
        ax.set_ylim(max(0.0, int(low) - 1.0), 100.0)
    ax.set_ylabel("scenario score" + (" (axis zoomed)" if low > 50 else ""))
    ax.legend(fontsize=6, ncol=min(len(systems), 7), loc="lower center", bbox_to_anchor=(0.5, 1.0))
    accs = sorted({r.accelerator for r in timeline if not r.dropped})
    models = sorted({r.model for r in timeline})
    colors = {m: plt.cm.tab20(i % 20) for i, m in enumerate(models)}
    for r in timeline:
        if r.dropped:
            continue
        y = accs.index(r.accelerator)
        gx.barh(y, r.completion - r.dispatch, left=r.dispatch, color=colors[r.model],
                edgecolor="red" if r.completion > r.deadline else "none", height=0.6)
    gx.set_yticks(range(len(accs)), accs, fontsize=7)
    gx.set_xlabel("time (ms)")
    gx.set_title(f"{scname} on {sysname} (red edge = missed deadline)", fontsize=8)
    gx.legend(handles=[plt.Rectangle((0, 0), 1, 1, color=colors[m]) for m in models], labels=models,
              fontsize=6, ncol=len(models), loc="upper right")
    fig.tight_layout()
    try:
        save_figure(fig, path)
    finally:
        plt.close(fig)


main = tool_main(TOOL)(command)

if __name__ == "__main__":
    main()
