"""Chakra ETs as the simulator sees them: per node its resource class, dependencies and cost inputs."""

from __future__ import annotations

from dataclasses import dataclass

from chakra_tools.common import ToolError
from chakra_tools.convert.legacy import legacy_hint
from chakra_tools.et import (
    FEEDER_REQUIRED,
    SIZE_ATTRS,
    CommType,
    NodeType,
    attrs_of,
    first_duplicate_id,
    int_attr,
)
from chakra_tools.graph import RankGraph

# resource classes: at most one GPU compute, one GPU comm (collective or send) and one CPU op in flight per rank
GPU_COMP, GPU_COMM, CPU, RECV, MEM, INSTANT = range(6)


@dataclass(slots=True)
class SimNode:
    id: int
    name: str
    kind: int                    # NodeType
    resource: int
    deps: list[int]
    duration_us: int = 0
    num_ops: int = 0
    tensor_size: int = 0
    comm_type: int = -1
    comm_size: int = 0
    src: int = -1
    dst: int = -1
    tag: int = 0
    pg_name: str = ""
    involved: tuple[bool, ...] | None = None


_VALID_COMM_TYPES = {int(c) for c in CommType}
# the feeder's required attributes, but a p2p node without comm_tag runs as tag 0 (et.FEEDER_REQUIRED)
_REQUIRED = {t: tuple(k for k in keys if k != "comm_tag") for t, keys in FEEDER_REQUIRED.items()}


def sim_nodes(g: RankGraph) -> list[SimNode]:
    """Nodes in id order with the attributes ASTRA-sim's feeder reads (integer kinds interchangeable).

    A node the simulation cannot mean anything for is a one-line ToolError naming the rank file: a duplicate id,
    a dependency on itself or on no node, a communication node without its type/size/peer, a negative size
    (cycles are found by the simulator's deadlock check)."""
    where = g.path if g.path is not None else f"rank {g.rank}"
    ids = set(g.by_id)
    if len(ids) != len(g.nodes):
        raise ToolError(f"{where}: duplicate node id {first_duplicate_id(g.nodes)}")
    out = []
    for n in sorted(g.nodes, key=lambda x: x.id):
        a = attrs_of(n)
        for d in (*n.data_deps, *n.ctrl_deps):
            if d == n.id or d not in ids:
                hint = legacy_hint(g.nodes)
                raise ToolError(f"{where}: node {n.id} depends on " + ("itself" if d == n.id else f"node {d}, which "
                                                                      "the trace does not have")
                                + (f"; {hint}" if hint else ""))
        for key in _REQUIRED.get(n.type, ()):
            if key not in a:
                raise ToolError(f"{where}: node {n.id} ({NodeType(n.type).name}) has no {key}")
            if not isinstance(a[key], int) or isinstance(a[key], bool):
                raise ToolError(f"{where}: node {n.id}: {key} must be an integer, got {a[key]!r}")
        for key in SIZE_ATTRS:
            if int_attr(a, key, 0) < 0:
                raise ToolError(f"{where}: node {n.id} has a negative {key} ({int_attr(a, key, 0)})")
        kind = n.type
        cpu = bool(a.get("is_cpu_op", False))
        if kind == NodeType.COMP_NODE:
            res = CPU if cpu else GPU_COMP
        elif kind in (NodeType.COMM_COLL_NODE, NodeType.COMM_SEND_NODE):
            res = GPU_COMM
        elif kind == NodeType.COMM_RECV_NODE:
            res = RECV
        elif kind in (NodeType.MEM_LOAD_NODE, NodeType.MEM_STORE_NODE):
            res = MEM
        else:
            res = INSTANT
        deps = list(dict.fromkeys([*n.data_deps, *n.ctrl_deps]))
        sn = SimNode(n.id, n.name, kind, res, deps, n.duration_micros)
        if kind == NodeType.COMP_NODE:
            sn.num_ops = max(0, int_attr(a, "num_ops", 0))
            sn.tensor_size = max(0, int_attr(a, "tensor_size", 0))
        elif kind in (NodeType.MEM_LOAD_NODE, NodeType.MEM_STORE_NODE):
            sn.tensor_size = max(0, int_attr(a, "tensor_size", 0))
        elif kind in (NodeType.COMM_COLL_NODE, NodeType.COMM_SEND_NODE, NodeType.COMM_RECV_NODE):
            sn.comm_type = int_attr(a, "comm_type", int(CommType.ALL_REDUCE))
            if kind == NodeType.COMM_COLL_NODE and sn.comm_type not in _VALID_COMM_TYPES:
                raise ToolError(f"{where}: node {n.id} has an unknown comm_type {sn.comm_type}")
            sn.comm_size = max(0, int_attr(a, "comm_size", 0))
            sn.src = int_attr(a, "comm_src", g.rank)
            sn.dst = int_attr(a, "comm_dst", g.rank)
            sn.tag = int_attr(a, "comm_tag", 0)
            pg = a.get("pg_name", "")
            sn.pg_name = "" if pg in (None, "0") else str(pg)
            inv = a.get("involved_dim", a.get("involve_dims"))
            sn.involved = tuple(bool(x) for x in inv) if isinstance(inv, list) else None
        out.append(sn)
    return out
