"""`tacos-synth`: synthesize a collective for a topology; export JSON schedule, Chakra ETs, MSCCL XML, plot."""

from __future__ import annotations

from pathlib import Path

import click

from astrasim_py.topology import load_topology
from chakra_tools.common import (
    PLOT,
    SIZE,
    ToolError,
    check_distinct_outputs,
    check_expected,
    check_not_input,
    common_options,
    emit_report,
    format_size,
    print_table,
    provenance,
    regression_options,
    tool_main,
    version_option,
)
from tacos.baselines import baselines
from tacos.export.chakra import write_ets
from tacos.export.msccl import write_xml
from tacos.report import schedule_report
from tacos.schedule import COLLECTIVES, lower_bound_ns, synthesize

TOOL = "tacos-synth"


def _chunks(value: str) -> int | str:
    if value == "auto":
        return value
    try:
        return int(value)
    except ValueError:
        raise click.BadParameter(f"expected a positive integer or 'auto', got {value!r}") from None


@click.command(help="Synthesize a topology-aware collective algorithm (TACOS link-chunk matching).\n\n"
                    "Example:\n\n  tacos-synth --topology torus4x4.yml --collective all-reduce --size 64MiB "
                    "--chunks auto -o ar.json --et-prefix et/ar --msccl-xml ar.xml")
@click.option("--topology", "topology", required=True, type=click.Path(path_type=Path),
              help="Topology YAML (generator or explicit links) or an ASTRA-sim network YAML.")
@click.option("--collective", required=True, type=click.Choice(COLLECTIVES), help="Collective to synthesize.")
@click.option("--size", required=True, type=SIZE, help="Buffer size (all-gather: the gathered output), e.g. 1GiB.")
@click.option("--chunks", default="1", show_default=True, help="Chunks per NPU, or 'auto' (tries 1, 2, 4, 8).")
@click.option("--seed", type=int, default=0, show_default=True, help="Random seed (same seed → same schedule).")
@click.option("--restarts", type=int, default=1, show_default=True, help="Keep the best of K seeded runs.")
@click.option("-o", "--output", type=click.Path(path_type=Path), default=None, help="Schedule + report JSON.")
@click.option("--et-prefix", type=str, default=None, help="Write Chakra ETs PREFIX.<rank>.et for astra-run.")
@click.option("--msccl-xml", type=click.Path(path_type=Path), default=None, help="Write MSCCL XML.")
@click.option("--plot", type=PLOT, default=None, help="Link utilisation over time (PNG/SVG/PDF).")
@click.option("--json", "as_json", is_flag=True, help="Print the report (without the per-link schedule) as JSON.")
@regression_options
@common_options
@version_option(TOOL)
def cli(topology, collective, size, chunks, seed, restarts, output, et_prefix, msccl_xml, plot, as_json, expect, rtol,
        atol, quiet, debug):
    check_distinct_outputs({"-o": output, "--msccl-xml": msccl_xml, "--plot": plot})
    for out in (output, msccl_xml, plot):
        check_not_input(out, [topology])
    topo = load_topology(topology)
    sched = synthesize(topo, collective, size, _chunks(chunks), seed, restarts)
    lower = lower_bound_ns(topo, collective, size)
    base = baselines(topo, collective, size)
    report = schedule_report(sched, base, lower)
    report["provenance"] = provenance(TOOL, [topology], seed)
    if et_prefix:
        write_ets(sched, et_prefix)
    if msccl_xml:
        write_xml(sched, msccl_xml)
    if plot:
        from tacos.export.plot import plot as draw
        draw(sched, plot)
    emit_report(report, output=output, as_json=False)
    summary = {k: v for k, v in report.items() if k != "schedule"}
    if as_json:
        emit_report(summary, output=None, as_json=True)
    else:
        rows = [["tacos (ours)", sched.time_ns, 1.0, sched.time_ns / lower if lower else 0]]
        rows += [[k, v, v / sched.time_ns, v / lower if lower else 0] for k, v in base.items() if v]
        print_table(f"tacos-synth: {collective} of {format_size(size)} on {topo.npus} NPUs, "
                    f"{sched.chunks_per_npu} chunk(s)/NPU, synthesized in {sched.synthesis_seconds:.2f} s",
                    ["algorithm", "time ns", "× ours", "× lower bound"], rows, quiet=quiet)
    if expect is not None:
        summary = {k: v for k, v in summary.items() if k != "synthesis_seconds"}
        check_expected(summary, expect, rtol, atol, TOOL)
    if not any((output, et_prefix, msccl_xml, plot, as_json)) and quiet:
        raise ToolError("nothing to do: give -o, --et-prefix, --msccl-xml, --plot or --json")


main = tool_main(TOOL)(cli)
