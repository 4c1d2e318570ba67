"""Chakra ETs as the simulator sees them: per node its resource class, dependencies and cost inputs."""

from __future__ import annotations

from dataclasses import dataclass

from chakra_tools.et import CommType, NodeType, attrs_of, int_attr
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


def sim_nodes(g: RankGraph) -> list[SimNode]:
    """Nodes in id order with the attributes ASTRA-sim's feeder reads (integer kinds interchangeable)."""
    out = []
    ids = set(g.by_id)
    for n in sorted(g.nodes, key=lambda x: x.id):
        a = attrs_of(n)
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
        deps = [d for d in dict.fromkeys([*n.data_deps, *n.ctrl_deps]) if d in ids and d != n.id]
        sn = SimNode(n.id, n.name, kind, res, deps, n.duration_micros)
        if kind == NodeType.COMP_NODE:
            sn.num_ops = max(0, int_attr(a, "num_ops", 0))
            sn.tensor_size = max(0, int_attr(a, "tensor_size", 0))
        elif kind in (NodeType.MEM_LOAD_NODE, NodeType.MEM_STORE_NODE):
            sn.tensor_size = max(0, int_attr(a, "tensor_size", 0))
        elif kind in (NodeType.COMM_COLL_NODE, NodeType.COMM_SEND_NODE, NodeType.COMM_RECV_NODE):
            sn.comm_type = int_attr(a, "comm_type", int(CommType.ALL_REDUCE))
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
