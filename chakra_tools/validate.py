"""Checks on Chakra ETs, per rank and across ranks. Each check returns human-readable problem lines."""

from __future__ import annotations

from collections import Counter, defaultdict
from dataclasses import dataclass

from chakra_tools.convert.legacy import legacy_hint
from chakra_tools.et import ATTR_KINDS, FEEDER_REQUIRED, SIZE_ATTRS, CommType, NodeType
from chakra_tools.graph import RankGraph, Trace, comm_type_name

_INT_KINDS = {"int32_val", "int64_val", "uint32_val", "uint64_val", "sint32_val", "sint64_val",
              "fixed32_val", "fixed64_val", "sfixed32_val", "sfixed64_val"}


@dataclass(frozen=True)
class Problem:
    where: str
    message: str
    severity: str = "error"  # "error" fails validation; "warning" is reported only

    def __str__(self) -> str:
        return f"{self.severity}: {self.where}: {self.message}"


def check_rank(g: RankGraph) -> list[Problem]:
    """Duplicate ids, all-default nodes, dangling deps, cycles, missing comm attributes, attribute kinds."""
    where = str(g.path) if g.path else f"rank {g.rank}"
    out: list[Problem] = []
    counts = Counter(n.id for n in g.nodes)
    for nid, c in sorted(counts.items()):
        if c > 1:
            out.append(Problem(where, f"duplicate node id {nid} ({c} nodes)"))
    ids = set(counts)
    for n in g.nodes:
        if not n.ByteSize():
            out.append(Problem(where, "all-default node (encodes to zero bytes; MLCommons' reader stops there)"))
            continue
        for kind, deps in (("data", n.data_deps), ("ctrl", n.ctrl_deps)):
            for d in deps:
                if d not in ids:
                    out.append(Problem(where, f"node {n.id} has a dangling {kind} dep on {d}"))
                elif d == n.id:
                    out.append(Problem(where, f"node {n.id} depends on itself ({kind} dep)"))
        attr_kinds = {a.name: a.WhichOneof("value") for a in n.attr}
        for key in FEEDER_REQUIRED.get(NodeType(n.type) if n.type in NodeType._value2member_map_ else None, ()):
            if key not in attr_kinds:
                out.append(Problem(where, f"node {n.id} ({NodeType(n.type).name}) lacks attribute {key}"))
        for name, kind in attr_kinds.items():
            want = ATTR_KINDS.get(name)
            if want and kind != want and name.startswith(("comm_", "num_ops", "tensor_size", "is_cpu_op")):
                compatible = kind in _INT_KINDS and want in _INT_KINDS
                out.append(Problem(where, f"node {n.id} stores {name} as {kind}; MLCommons tools write {want}"
                                   + (" (ASTRA-sim reads it, Chakra's own feeder reads 0)" if compatible else ""),
                                   "warning" if compatible else "error"))
        if n.type not in NodeType._value2member_map_:
            out.append(Problem(where, f"node {n.id} has unknown node type {n.type}"))
        values = {a.name: getattr(a, a.WhichOneof("value")) for a in n.attr
                  if a.name in SIZE_ATTRS + ("comm_type",) and a.WhichOneof("value") in _INT_KINDS}
        for name in SIZE_ATTRS:
            if values.get(name, 0) < 0:
                out.append(Problem(where, f"node {n.id} has a negative {name} ({values[name]})"))
        if n.type == NodeType.COMM_COLL_NODE and values.get("comm_type", 0) not in CommType._value2member_map_:
            out.append(Problem(where, f"node {n.id} has an unknown comm_type {values['comm_type']}"))
    if not any(p.message.startswith("node") and "itself" in p.message for p in out):
        cyc = g.find_cycle()
        if cyc:
            out.append(Problem(where, "dependency cycle: " + " -> ".join(map(str, cyc))))
    return out


def check_trace(t: Trace) -> list[Problem]:
    """All per-rank checks, then: collectives match across member ranks, every send has its recv."""
    out: list[Problem] = []
    cyclic = set()
    for r, g in t.ranks.items():
        probs = check_rank(g)
        out.extend(probs)
        if any("dep" in p.message or "cycle" in p.message for p in probs) and legacy_hint(g.nodes):
            out.append(Problem(str(g.path) if g.path else f"rank {r}", legacy_hint(g.nodes), "note"))
        if any("cycle" in p.message or "itself" in p.message for p in probs):
            cyclic.add(r)
    out.extend(_check_collectives(t, skip=cyclic))
    out.extend(_check_p2p(t))
    return out


def _check_collectives(t: Trace, skip: set[int]) -> list[Problem]:
    out: list[Problem] = []
    seqs: dict[str, dict[int, list]] = defaultdict(dict)
    for r, g in t.ranks.items():
        if r in skip:
            continue
        per_pg: dict[str, list] = defaultdict(list)
        for c in g.collectives():
            per_pg[c.pg_name if c.pg_name != "0" else ""].append(c)
        for pg, lst in per_pg.items():
            seqs[pg][r] = lst
    for pg, by_rank in sorted(seqs.items()):
        label = f"process group '{pg}'" if pg else "the default group (all ranks)"
        if pg and pg not in t.comm_groups:  # astra-run and ASTRA-sim need to know its ranks
            r, lst = next(iter(sorted(by_rank.items())))
            out.append(Problem(f"rank {r}", f"collective node {lst[0].node_id} uses {label}, which neither a "
                               "process_group:init node nor the comm_groups.json sidecar defines"))
            continue
        group = t.group_members(pg)
        outside = [r for r in sorted(by_rank) if r not in group]
        if outside:
            out.append(Problem(f"rank {outside[0]}", f"collective node {by_rank[outside[0]][0].node_id} uses {label} "
                               f"= {group}, which does not contain this rank"))
        members = [m for m in group if m in t.ranks and m not in skip]
        ref_rank = members[0] if members else None
        ref = by_rank.get(ref_rank, []) if ref_rank is not None else []
        for m in members[1:]:
            mine = by_rank.get(m, [])
            for i in range(max(len(ref), len(mine))):
                a = ref[i] if i < len(ref) else None
                b = mine[i] if i < len(mine) else None
                if a is None or b is None:
                    have, lack = (ref_rank, m) if b is None else (m, ref_rank)
                    node = (a or b)
                    out.append(Problem(f"rank {lack}", f"collective #{i} of {label} ({comm_type_name(node.comm_type)} "
                                       f"{node.comm_size} B, node {node.node_id} on rank {have}) is missing"))
                    break
                if (a.comm_type, a.comm_size) != (b.comm_type, b.comm_size):
                    out.append(Problem(f"rank {m}", f"collective #{i} of {label} is {comm_type_name(b.comm_type)} "
                                       f"{b.comm_size} B (node {b.node_id}) but rank {ref_rank} has "
                                       f"{comm_type_name(a.comm_type)} {a.comm_size} B (node {a.node_id})"))
                    break
    return out


def _check_p2p(t: Trace) -> list[Problem]:
    sends: Counter = Counter()
    recvs: Counter = Counter()
    first: dict[tuple, tuple[int, int]] = {}
    for r, g in t.ranks.items():
        for p in g.p2p():
            key = (p.src, p.dst, p.tag, p.size)
            (sends if p.kind == "send" else recvs)[key] += 1
            first.setdefault((p.kind, *key), (r, p.node_id))
    out = []
    for key in sorted(set(sends) | set(recvs)):
        s, v = sends[key], recvs[key]
        if s != v:
            src, dst, tag, size = key
            if s > v:
                r, nid = first[("send", *key)]
                out.append(Problem(f"rank {r}", f"send node {nid} (src {src} -> dst {dst}, tag {tag}, {size} B) "
                                   f"has no matching recv on rank {dst} ({s} sends, {v} recvs)"))
            else:
                r, nid = first[("recv", *key)]
                out.append(Problem(f"rank {r}", f"recv node {nid} (src {src} -> dst {dst}, tag {tag}, {size} B) "
                                   f"has no matching send on rank {src} ({v} recvs, {s} sends)"))
    for r in t.ranks:
        for p in t.ranks[r].p2p():
            peer = p.dst if p.kind == "send" else p.src
            if peer not in t.ranks:
                out.append(Problem(f"rank {r}", f"{p.kind} node {p.node_id} names rank {peer}, which is not in the trace"))
    return out


def errors(problems: list[Problem]) -> list[Problem]:
    return [p for p in problems if p.severity == "error"]
