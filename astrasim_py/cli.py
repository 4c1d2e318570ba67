"""`astra-run`: simulate Chakra workloads with ASTRA-sim's semantics; accepts ASTRA-sim's own flags and configs."""

from __future__ import annotations

from pathlib import Path

import click

from astrasim_py import load_system, simulate
from chakra_tools.common import (
    NON_NEGATIVE,
    POSITIVE,
    check_distinct_outputs,
    check_expected,
    check_not_input,
    common_options,
    emit_report,
    print_table,
    provenance,
    regression_options,
    tool_main,
    version_option,
    write_json,
)
from chakra_tools.et import trace_inputs

TOOL = "astra-run"


@click.command(help="Simulate a Chakra workload on an ASTRA-sim system/network description.\n\n"
                    "Example:\n\n  astra-run --workload et/model --system system.json --network net.yml "
                    "-o out/sim.json --timeline out/sim.trace.json\n\n"
                    "ASTRA-sim's spellings work too: --workload-configuration=et/model "
                    "--system-configuration=system.json --network-configuration=net.yml")
@click.option("--workload", "--workload-configuration", "workload", required=True,
              help="ET prefix: rank r reads PREFIX.r.et (.gz accepted).")
@click.option("--system", "--system-configuration", "system", required=True, type=click.Path(path_type=Path),
              help="ASTRA-sim system JSON (or YAML with the same keys).")
@click.option("--network", "--network-configuration", "network", required=True, type=click.Path(path_type=Path),
              help="ASTRA-sim analytical network YAML.")
@click.option("--memory", "--remote-memory-configuration", "memory", type=click.Path(path_type=Path), default=None,
              help="ASTRA-sim remote-memory JSON (needed only for MEM_LOAD/MEM_STORE nodes).")
@click.option("--comm-groups", "--comm-group-configuration", "comm_groups", type=click.Path(path_type=Path),
              default=None, help='Comm-group JSON {"<pg_name>": [ranks]} (PREFIX.comm_groups.json is read if present).')
@click.option("--custom-collective", "custom", multiple=True, metavar="COLL=PREFIX",
              help="Run COLL (all-reduce, all-gather, reduce-scatter, all-to-all) with the send/recv schedule in "
                   "PREFIX.<rank>.et (e.g. tacos-synth --et-prefix output). Repeatable.")
@click.option("--backend", type=click.Choice(["analytical", "congestion"]), default="analytical", show_default=True,
              help="analytical = ASTRA-sim's congestion-unaware model; congestion = per-link queues, switches as "
                   "nodes, any number of dimensions.")
@click.option("--num-queues-per-dim", type=click.IntRange(min=1), default=1, show_default=True, help="Scheduler queues per dimension.")
@click.option("--injection-scale", type=NON_NEGATIVE, default=1.0, show_default=True, help="Multiplies endpoint-delay.")
@click.option("--comm-scale", type=POSITIVE, default=1.0, show_default=True, help="Multiplies collective sizes.")
@click.option("--compute-scale", type=float, default=1.0, hidden=True, help="Accepted for ASTRA-sim scripts; unused.")
@click.option("--rendezvous-protocol", default="false", hidden=True, help="Accepted for ASTRA-sim scripts; unused.")
@click.option("--logging-configuration", default=None, hidden=True, help="Accepted for ASTRA-sim scripts; unused.")
@click.option("--logging-folder", default=None, hidden=True, help="Accepted for ASTRA-sim scripts; unused.")
@click.option("-o", "--output", type=click.Path(path_type=Path), default=None, help="Write the JSON report here.")
@click.option("--timeline", type=click.Path(path_type=Path), default=None,
              help="Write a Perfetto / chrome://tracing timeline (trace-event JSON).")
@click.option("--json", "as_json", is_flag=True, help="Print the report as JSON instead of the table.")
@regression_options
@common_options
@version_option(TOOL)
def cli(workload, system, network, memory, comm_groups, custom, backend, num_queues_per_dim, injection_scale,
        comm_scale, compute_scale, rendezvous_protocol, logging_configuration, logging_folder, output, timeline, as_json, expect, rtol, atol,
        quiet, debug):
    comm_groups_arg = str(comm_groups) if comm_groups and str(comm_groups) != "empty" else None
    customs = {}
    for spec in custom:
        name, sep, prefix = spec.partition("=")
        if not sep or not prefix:
            raise click.BadParameter(f"expected COLL=PREFIX, got {spec!r}", param_hint="--custom-collective")
        customs[name] = prefix
    inputs = [*trace_inputs(workload), system, network, memory, comm_groups,
              *(p for c in customs.values() for p in trace_inputs(c))]
    check_distinct_outputs({"-o": output, "--timeline": timeline})
    for out in (output, timeline):
        check_not_input(out, [i for i in inputs if i is not None])
    sys_cfg = load_system(system)
    sys_cfg.num_queues_per_dim = num_queues_per_dim
    sys_cfg.endpoint_delay = int(sys_cfg.endpoint_delay * injection_scale)
    sys_cfg.comm_scale = comm_scale
    res = simulate(workload, sys_cfg, network, memory=memory, comm_groups=comm_groups_arg,
                   custom_collectives=customs, backend=backend, timeline=timeline is not None)
    report = res.to_dict()
    report["provenance"] = provenance(TOOL, inputs)
    if timeline is not None:
        write_json(timeline, res.timeline())
    emit_report(report, output=output, as_json=as_json)
    if not as_json:
        rows = report["ranks"] if len(report["ranks"]) <= 16 else report["ranks"][:8] + report["ranks"][-4:]
        print_table(f"astra-run: simulated time {report['sim_time_ns']:,} ns ({report['npus']} NPUs, "
                    f"{report['simulated_rank_classes']} rank class(es) simulated; times in ns)",
                    # cpu ns: is_cpu_op nodes (PyTorch CPU traces are all CPU ops); ASTRA-sim's exposed comm counts them in
                    ["rank", "finish", "compute", "cpu", "exposed comm", "comm", "overlap"],
                    [[r["rank"], r["finish_ns"], r["compute_ns"], r["cpu_ns"], r["exposed_comm_ns"], r["comm_ns"],
                      r["overlap_ns"]]
                     for r in rows], quiet=quiet)
    check_expected(report, expect, rtol, atol, TOOL)


main = tool_main(TOOL)(cli)
