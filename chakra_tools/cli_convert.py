"""`chakra-convert`: PyTorch ETs and ASTRA-sim text workloads → Chakra ETs; ET ↔ JSON; inspect; validate."""

from __future__ import annotations

import re
from pathlib import Path

import click

from chakra_tools.common import (
    ToolError,
    atomic_group,
    check_expected,
    check_not_input,
    common_options,
    dumps_json,
    emit_report,
    info,
    print_table,
    provenance,
    regression_options,
    tool_main,
    version_option,
    warn,
)
from chakra_tools.convert.jsonio import doc_to_et, et_to_doc, write_json_doc
from chakra_tools.convert.kineto import KinetoDurations
from chakra_tools.convert.legacy import data_deps_sound, upgrade
from chakra_tools.convert.pytorch import convert_trace
from chakra_tools.convert.text import convert_text
from chakra_tools.et import (
    ETWriter,
    check_no_stale_outputs,
    first_duplicate_id,
    groups_path,
    rank_path,
    read_et,
    resolve_trace,
)
from chakra_tools.graph import Trace
from chakra_tools.inspect import summarize
from chakra_tools.validate import check_trace, errors

TOOL = "chakra-convert"
_TRAILING_NUM = re.compile(r"(\d+)$")


def rank_of(path: Path) -> int | None:
    """Rank from a trailing number in the file name without its .json/.et/.gz extensions: `gloo.rank1.et.json`,
    `rank1.json.gz` and `trace.1.json` → 1."""
    stem = path.name
    while True:
        head, dot, ext = stem.rpartition(".")
        if not (dot and head and ext.lower() in ("json", "et", "gz")):
            break
        stem = head
    m = _TRAILING_NUM.search(stem)
    return int(m.group(1)) if m else None


def assign_ranks(inputs: list[Path]) -> list[int]:
    found = [rank_of(p) for p in inputs]
    if all(r is not None for r in found) and len(set(found)) == len(found):
        return found  # type: ignore[return-value]
    return list(range(len(inputs)))


@click.group(help="Convert workloads to MLCommons Chakra execution traces (.et) and inspect them.\n\n"
                  "Example:\n\n  chakra-convert pytorch trace/rank0.json trace/rank1.json -o et/model\n\n"
                  "  chakra-convert validate et/model")
@version_option(TOOL)
def cli() -> None:
    pass


@cli.command("pytorch", help="PyTorch Execution Trace JSON (one per rank) → PREFIX.<rank>.et.\n\n"
                             "Example: chakra-convert pytorch et_rank0.json et_rank1.json --kineto k0.json "
                             "--kineto k1.json -o et/model")
@click.argument("inputs", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.option("-o", "--output", "prefix", required=True, help="Output prefix: writes PREFIX.<rank>.et.")
@click.option("--kineto", "kineto", multiple=True, type=click.Path(path_type=Path),
              help="torch.profiler trace per input (same order), linked by record-function id for durations.")
@click.option("--thread-gap-us", type=float, default=1000.0, show_default=True,
              help="With --kineto: an idle gap this long opens a group of a thread's ops that waits for the other "
                   "threads' latest op (trace_link's inter-thread order); negative = no inter-thread deps.")
@click.option("--gz", is_flag=True, help="Write gzip-compressed PREFIX.<rank>.et.gz.")
@click.option("--json", "as_json", is_flag=True, help="Print the report as JSON.")
@common_options
def pytorch_cmd(inputs, prefix, kineto, thread_gap_us, gz, as_json, quiet, debug):
    inputs = list(inputs)
    if kineto and len(kineto) != len(inputs):
        raise ToolError(f"--kineto given {len(kineto)} times for {len(inputs)} inputs (give one per input)")
    ranks = assign_ranks(inputs)
    outs = [rank_path(prefix, r, gz) for r in ranks]
    sidecar = groups_path(prefix)
    for o in [*outs, sidecar]:
        check_not_input(o, [*inputs, *kineto])
    converted = []
    gap = thread_gap_us if thread_gap_us >= 0 else None
    for i, (path, rank) in enumerate(zip(inputs, ranks)):
        k = KinetoDurations.load(kineto[i], gap) if kineto else None
        converted.append(convert_trace(path, rank, k))
    groups: dict[str, list[int]] = {}
    for c in converted:
        groups.update(c.process_groups)
    targets = outs + ([sidecar] if groups else [])
    check_no_stale_outputs(prefix, targets)
    with atomic_group(targets) as tmps:
        for tmp, c in zip(tmps, converted):
            with ETWriter(tmp, c.metadata, compress=gz) as w:
                for body in c.node_bytes:
                    w.write_raw(body)
        if groups:
            tmps[-1].write_text(dumps_json(groups))
    report = {
        "outputs": [str(o) for o in outs],
        "comm_groups_file": str(sidecar) if groups else None,
        "ranks": [{"rank": r, "input": str(p), "output": str(o), "nodes": len(c.node_bytes), **c.stats}
                  for r, p, o, c in zip(ranks, inputs, outs, converted)],
    }
    if as_json:  # hashing every input costs ~4 % of a conversion; only the JSON report carries provenance
        report["provenance"] = provenance(TOOL, [*inputs, *kineto])
        emit_report(report, output=None, as_json=True)
    else:
        gpu = any(x["gpu"] for x in report["ranks"])  # a GPU column only for GPU runs
        print_table("chakra-convert pytorch", ["rank", "output", "nodes", "comp", *(["gpu"] * gpu), "coll", "send",
                                               "recv"],
                    [[x["rank"], x["output"], x["nodes"], x["comp"], *([x["gpu"]] * gpu), x["coll"], x["send"],
                      x["recv"]] for x in report["ranks"]], quiet=quiet)


@cli.command("text", help="ASTRA-sim legacy text workload → PREFIX.<npu>.et for N NPUs.\n\n"
                          "Example: chakra-convert text resnet50.txt -o et/resnet --npus 8")
@click.argument("input_path", type=click.Path(path_type=Path))
@click.option("-o", "--output", "prefix", required=True, help="Output prefix: writes PREFIX.<npu>.et.")
@click.option("--npus", type=int, required=True, help="Number of NPUs (one file each).")
@click.option("--passes", type=int, default=1, show_default=True, help="Training passes to unroll.")
@click.option("--time-unit", type=click.Choice(["micros", "cycles"]), default="micros", show_default=True,
              help="Unit of the text file's compute times: 'micros' copies them into duration_micros (MLCommons' "
                   "behaviour), 'cycles' divides by 1000 (1 cycle = 1 ns).")
@common_options
def text_cmd(input_path, prefix, npus, passes, time_unit, quiet, debug):
    per_npu = convert_text(input_path, npus, passes, time_unit)
    outs = [rank_path(prefix, r) for r in range(npus)]
    for o in outs:
        check_not_input(o, [input_path])
    check_no_stale_outputs(prefix, outs)
    with atomic_group(outs) as tmps:
        for tmp, (meta, nodes) in zip(tmps, per_npu):
            with ETWriter(tmp, meta) as w:
                w.write_nodes(nodes)
    info(f"wrote {npus} files {outs[0]} … ({len(per_npu[0][1])} nodes each)", quiet=quiet)


@cli.command("to-json", help="Chakra ET → one JSON document (lossless).\n\nExample: chakra-convert to-json "
                             "et/model.0.et -o model.0.json")
@click.argument("input_path", type=click.Path(path_type=Path))
@click.option("-o", "--output", required=True, type=click.Path(path_type=Path), help="Output JSON file.")
@common_options
def to_json_cmd(input_path, output, quiet, debug):
    check_not_input(output, [input_path])
    doc = et_to_doc(input_path)
    write_json_doc(doc, output)
    info(f"wrote {output} ({len(doc['nodes'])} nodes)", quiet=quiet)


@cli.command("from-json", help="JSON document (from to-json) → Chakra ET.\n\nExample: chakra-convert from-json "
                               "model.0.json -o et/model.0.et")
@click.argument("input_path", type=click.Path(path_type=Path))
@click.option("-o", "--output", required=True, type=click.Path(path_type=Path), help="Output .et (.gz compresses).")
@common_options
def from_json_cmd(input_path, output, quiet, debug):
    check_not_input(output, [input_path])
    n = doc_to_et(input_path, output)
    info(f"wrote {output} ({n} nodes)", quiet=quiet)


@cli.command("upgrade", help="An ET written for Chakra's own feeder (data deps only, before 2024) → one that "
                             "ASTRA-sim's feeder_v3, astra-run and chakra-synth run the same way: ctrl deps dropped, "
                             "host-side communication calls (is_cpu_op) written as compute nodes.\n\n"
                             "Example: chakra-convert upgrade old/chakra -o et/model")
@click.argument("trace", type=click.Path(path_type=Path))
@click.option("-o", "--output", "prefix", required=True, help="Output prefix: writes PREFIX.<rank>.et.")
@click.option("--gz", is_flag=True, help="Write gzip-compressed PREFIX.<rank>.et.gz.")
@common_options
def upgrade_cmd(trace, prefix, gz, quiet, debug):
    files = resolve_trace(trace)
    outs = [rank_path(prefix, r, gz) for r in files]
    groups_in, groups_out = groups_path(trace), groups_path(prefix)
    carry = groups_in.is_file() and not Path(trace).is_file()  # the comm-groups sidecar goes with the ranks
    targets = [*outs, *([groups_out] if carry else [])]
    for o in targets:
        check_not_input(o, [*files.values(), *([groups_in] if carry else [])])
    check_no_stale_outputs(prefix, targets)
    dropped = retyped = nodes = 0
    with atomic_group(targets) as tmps:
        for tmp, path in zip(tmps, files.values(), strict=False):
            meta, old = read_et(path)
            dup = first_duplicate_id(old)
            if dup is not None:
                raise ToolError(f"{path}: duplicate node id {dup}")
            if not data_deps_sound(old):
                raise ToolError(f"{path}: its data deps alone dangle or cycle (`chakra-convert validate` names them): "
                                "not an ET for Chakra's feeder either")
            if any(n.ctrl_deps for n in old) and data_deps_sound(old, with_ctrl=True):
                warn(f"{path}: its ctrl deps are already sound for ASTRA-sim's feeder_v3; upgrading only drops them "
                     "(what Chakra's own feeder ignored)")
            new, rep = upgrade(old)
            with ETWriter(tmp, meta, compress=gz) as w:
                w.write_nodes(new)
            dropped, retyped, nodes = dropped + rep.ctrl_deps_dropped, retyped + rep.host_comm_retyped, nodes + rep.nodes
        if carry:
            tmps[-1].write_bytes(groups_in.read_bytes())
    info(f"wrote {len(files)} rank(s), {nodes} nodes -> {outs[0]} …: dropped {dropped} ctrl deps, {retyped} "
         "host-side communication node(s) now compute", quiet=quiet)


@cli.command("inspect", help="Nodes by type, collectives by type and size, critical path, per rank.\n\n"
                             "Example: chakra-convert inspect et/model --json")
@click.argument("trace", type=click.Path(path_type=Path))
@click.option("-o", "--output", type=click.Path(path_type=Path), default=None, help="Write the report JSON here.")
@click.option("--json", "as_json", is_flag=True, help="Print the report as JSON.")
@regression_options
@common_options
def inspect_cmd(trace, output, as_json, expect, rtol, atol, quiet, debug):
    t = Trace.load(trace)
    check_not_input(output, t.paths())
    report = summarize(t)
    report["provenance"] = provenance(TOOL, t.paths())
    emit_report(report, output=output, as_json=as_json)
    if not as_json:
        print_table(f"{trace}: {t.num_ranks} rank(s)", ["rank", "nodes", "by type", "collectives", "coll bytes",
                                                         "send/recv", "critical path µs"],
                    [[r["rank"], r["nodes"], ", ".join(f"{k.replace('_NODE', '').replace('COMM_', '').replace('METADATA', 'META')}:{v}" for k, v in
                                                       r["nodes_by_type"].items()),
                      sum(c["count"] for c in r["collectives"]), r["collective_bytes"], f"{r['sends']}/{r['recvs']}",
                      r["critical_path_us"]] for r in report["ranks"]], quiet=quiet)
    check_expected(report, expect, rtol, atol, TOOL)


@cli.command("validate", help="Check a trace: dangling deps, cycles, duplicate ids, all-default nodes, "
                              "collective order/size across ranks, send/recv matching. Exit 1 on problems.\n\n"
                              "Example: chakra-convert validate et/model")
@click.argument("trace", type=click.Path(path_type=Path))
@click.option("--json", "as_json", is_flag=True, help="Print the problems as JSON.")
@common_options
def validate_cmd(trace, as_json, quiet, debug):
    t = Trace.load(trace)
    problems = check_trace(t)
    errs = errors(problems)
    if as_json:
        click.echo(dumps_json({"trace": str(trace), "ok": not errs,
                               "problems": [{"severity": p.severity, "where": p.where, "message": p.message}
                                            for p in problems]}), nl=False)
    else:
        for p in problems:
            click.echo(str(p), err=True)
        if not errs:
            info(f"{trace}: OK ({t.num_ranks} rank(s), {sum(len(g.nodes) for g in t.ranks.values())} nodes"
                 + (f", {len(problems)} warning(s)" if problems else "") + ")", quiet=quiet)
    if errs:
        raise ToolError(f"{trace}: {len(errs)} problem(s) found")


main = tool_main(TOOL)(cli)
