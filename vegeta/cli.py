"""`vegeta-sim`: VEGETA sparse/dense GEMM tile engines for CPUs - cycles and speed-up over a dense engine.

\b
Examples:
  vegeta-sim --layers bert-base --sparsity 2:4 -o out/vegeta.csv
  vegeta-sim --layers bert-large --sparsity all            # the four published speed-ups, side by side
  vegeta-sim --layers resnet50 --sparsity unstructured:0.95 --engine VEGETA-S-8-2 --json
  vegeta-sim --from-et et/model --sparsity 1:4 --et-out et/model.vegeta   # then: astra-run --workload ...
"""
from __future__ import annotations

import dataclasses
import math

import click

from chakra_tools.common import (
    PLOT,
    ToolError,
    check_distinct_outputs,
    check_expected,
    check_not_input,
    common_options,
    dumps_json,
    emit_report,
    info,
    load_config,
    print_table,
    progress,
    provenance,
    regression_options,
    tool_main,
    version_option,
    write_csv,
)

from .api import LAYER_COLUMNS, PUBLISHED, run
from .engines import BASELINE_ENGINE, DEFAULT_ENGINE, KNOWN_ENGINES, CoreConfig, display_name, parse_engine
from .sparsity import PAPER_PATTERNS, parse_pattern
from .workloads import PRESETS, Workload, resolve_layers

TOOL = "vegeta-sim"


def _patterns(text: str, seed: int):
    specs = list(PAPER_PATTERNS) if text.strip().lower() in ("all", "paper") else \
        [s for s in (x.strip() for x in text.split(",")) if s]
    if not specs:
        raise ToolError("--sparsity: no pattern given")
    pats = [parse_pattern(s, seed) for s in specs]
    seen = set()
    for p in pats:
        if p.spec in seen:
            raise ToolError(f"--sparsity: {p.spec} given twice")
        seen.add(p.spec)
    return pats


def _model_block(engine, baseline, core: CoreConfig) -> dict:
    def eng(e):
        return {"name": e.name, "alpha": e.alpha, "beta": e.beta, "pe_rows": e.pe_rows, "pe_cols": e.pe_cols,
                "row_stage_cycles": e.row_stage, "drain_cycles": e.drain, "operand_latency": e.t_operand,
                "weight_load_cycles": e.wl_rows}
    return {"engine": eng(engine), "baseline": eng(baseline), "core": {k: getattr(core, k) for k in (
        "clock_ghz", "l1_bytes", "l1_load_bytes_per_cycle", "l1_latency", "store_bytes_per_cycle", "l2_bytes",
        "l2_bytes_per_cycle", "mem_bytes_per_cycle", "phys_tregs", "phys_mregs")}}


@click.command(help=__doc__)
@click.option("--layers", default="bert-large", show_default=True,
              help=f"Preset ({', '.join(PRESETS)}) or a layers YAML/JSON file.")
@click.option("--sparsity", default="2:4", show_default=True,
              help="4:4 | 2:4 | 1:4 | row-wise[:P1/P2/P4] | unstructured:S; a comma list; or 'all' "
                   "(4:4,2:4,1:4,unstructured:0.95).")
@click.option("--engine", default=DEFAULT_ENGINE, show_default=True, help="VEGETA-{D,S}-alpha-beta.")
@click.option("--baseline", default=BASELINE_ENGINE, show_default=True,
              help="Dense engine the speed-up is measured against (RASA-SM = VEGETA-D-1-1).")
@click.option("--core", "core_file", type=click.Path(dir_okay=False), help="Core parameters YAML (CoreConfig keys).")
@click.option("--from-et", "from_et", help="Take the GEMMs from the COMP nodes of Chakra ET PREFIX.<rank>.et.")
@click.option("--et-out", help="With --from-et: write the ET annotated with engine durations to PREFIX.<rank>.et "
                               "[default: <from-et>.vegeta].")
@click.option("--clock-ghz", type=float, default=None, help="Clock for durations (overrides the core file; 2.0).")
@click.option("--seed", type=int, default=0, show_default=True, help="Seed of the sampled row-wise windows.")
@click.option("-o", "--output", type=click.Path(dir_okay=False), help="Per-layer CSV.")
@click.option("--report", type=click.Path(dir_okay=False), help="Write the JSON report here.")
@click.option("--json", "as_json", is_flag=True, help="Print the JSON report to stdout.")
@click.option("--plot", type=PLOT, help="Speed-up vs sparsity figure, .png, .svg or .pdf (80-99 %% sweep).")
@click.option("--list", "list_only", is_flag=True, help="List presets and engines, then exit.")
@regression_options
@common_options
@version_option(TOOL)
def command(layers, sparsity, engine, baseline, core_file, from_et, et_out, clock_ghz, seed, output, report,
            as_json, plot, list_only, expect, rtol, atol, quiet, debug):
    if list_only:
        print_table("layer presets", ["preset", "description"], [[k, v[0]] for k, v in PRESETS.items()])
        print_table("engines (any VEGETA-{D,S}-alpha-beta works)", ["engine"], [[e] for e in KNOWN_ENGINES])
        return
    # every output is checked before any work, so a bad path cannot fail the run after other outputs were written
    outputs = {"-o": output, "--report": report, "--plot": plot}
    check_distinct_outputs(outputs)
    core = load_config(CoreConfig, core_file) if core_file else CoreConfig()
    if clock_ghz is not None:
        if not (math.isfinite(clock_ghz) and clock_ghz > 0):
            raise ToolError(f"--clock-ghz must be a positive number (got {clock_ghz})")
        core = dataclasses.replace(core, clock_ghz=clock_ghz)
    eng, base = parse_engine(engine), parse_engine(baseline)
    pats = _patterns(sparsity, seed)
    for p in pats:
        eng.require(p)              # before reading any trace or running any pattern
    inputs: list[str] = [core_file] if core_file else []
    et_files, et_gemms, et_outs = {}, [], []
    if from_et:
        from .et import read_gemms
        if len(pats) != 1:
            raise ToolError("--from-et takes one --sparsity pattern")
        et_files, et_gemms, skipped = read_gemms(from_et)
        if not et_gemms:
            raise ToolError(f"{from_et}: no GEMM COMP nodes with readable shapes found")
        if skipped:
            info(f"{TOOL}: {skipped} GEMM node(s) without usable shapes were left unchanged", quiet=quiet)
        workload = Workload(from_et, f"{len(et_gemms)} GEMM node(s) from {from_et}",
                            [g for eg in et_gemms for g in eg.gemms])
        inputs += [str(p) for p in et_files.values()]
        et_out = et_out or f"{from_et}.vegeta"
        # the names as given (not via rank_path, whose Path would normalise `./x` in the report's et_out list)
        et_outs = [f"{et_out}.{r}.et" for r in et_files]
        check_distinct_outputs({**outputs, **{f"--et-out, rank {r}": p
                                              for r, p in zip(et_files, et_outs, strict=True)}})
    else:
        if et_out:
            raise ToolError("--et-out needs --from-et")
        workload = resolve_layers(layers)
        if workload.source:
            inputs.append(workload.source)
    for out in (output, report, plot, *et_outs):
        check_not_input(out, inputs)

    data = None
    with progress(TOOL, len(pats) + (9 if plot else 0), quiet=quiet) as advance:
        runs = []
        for p in pats:
            runs.append(run(workload, p, eng, base, core))
            advance()
        if plot:
            from .plot import sweep
            data = sweep(workload, eng, base, core, seed, advance)
    model = _model_block(eng, base, core)
    if len(runs) == 1:
        rep = {**runs[0], "model": model}
    else:
        rep = {"workload": workload.name, "description": workload.description, "engine": eng.name,
               "baseline": base.name, "clock_ghz": core.clock_ghz,
               "speedups": {r["sparsity"]: r["speedup"] for r in runs},
               "published": {r["sparsity"]: PUBLISHED.get(r["sparsity"]) for r in runs},
               "runs": runs, "model": model}
    if data is not None:
        rep["sweep"] = {"nm": [list(x) for x in data["nm"]], "unstructured": [list(x) for x in data["unstructured"]]}
    rep["provenance"] = provenance(TOOL, inputs, seed)

    cyc = {}
    if from_et:
        rows = runs[0]["layers"]
        i = 0
        for eg in et_gemms:
            total = 0.0
            for _g in eg.gemms:
                total += rows[i]["cycles"] * rows[i]["count"]
                i += 1
            cyc[(eg.rank, eg.node_id)] = total
        rep["et_out"] = et_outs
    dumps_json(rep)                 # fails (one line, nothing written) if the report cannot be serialised
    if plot:
        from .plot import draw
        draw(plot, data, f"{workload.name}: {eng.name} vs {display_name(base)}")
    if from_et:
        from .et import write_annotated
        note = f"durations from {TOOL}: {eng.name}, {pats[0].spec}, {core.clock_ghz:g} GHz"
        write_annotated(et_files, et_outs, cyc, core.clock_ghz, note)
    if output:
        csv_rows = [{"sparsity": r["sparsity"], **row} for r in runs for row in r["layers"]]
        write_csv(output, csv_rows, ["sparsity", *LAYER_COLUMNS])
    emit_report(rep, output=report, as_json=as_json)
    if not as_json:
        _summary(runs, display_name(base), quiet)
        if from_et:
            info(f"{TOOL}: wrote {len(rep['et_out'])} annotated ET file(s) {et_out}.<rank>.et", quiet=quiet)
    check_expected(rep, expect, rtol, atol, TOOL)


def _summary(runs: list[dict], base_label: str, quiet: bool) -> None:
    r0 = runs[0]
    if len(runs) == 1:
        rows = [[x["layer"] + (f" x{x['count']}" if x["count"] > 1 else ""), f"{x['m']}x{x['k']}x{x['n']}",
                 x["instruction"].removeprefix("TILE_"), round(x["cycles"]), f"{x['speedup']:.2f}", x["bound"]]
                for x in r0["layers"]]
        rows.append(["total", "", "", round(r0["total_cycles"]), f"{r0['speedup']:.3f}", ""])
        print_table(f"{r0['workload']} at {r0['sparsity']} on {r0['engine']} vs {base_label}",
                    ["layer", "MxKxN", "instr", "cycles each", "speed-up", "bound"], rows, quiet=quiet)
        return
    rows = []
    for r in runs:
        pub = r["published_speedup"]
        rows.append([r["sparsity"], r["instruction"], f"{r['speedup']:.3f}", f"{pub:.2f}" if pub else "-",
                     f"{100 * (r['speedup'] / pub - 1):+.1f} %" if pub else "-", f"{r['time_ms']:.3f}"])
    print_table(f"{r0['workload']}: speed-up of {r0['engine']} over dense {base_label}",
                ["sparsity", "instruction", "speed-up", "published", "error", "time (ms)"], rows, quiet=quiet)


main = tool_main(TOOL)(command)

if __name__ == "__main__":
    main()
