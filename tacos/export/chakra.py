"""A schedule as Chakra ETs of send/recv nodes per rank, executed by `astra-run --custom-collective`.

GlobalMetadata carries comm_type, comm_size (the buffer the schedule was made for) and chunks_per_npu. Each transfer
is a COMM_SEND_NODE on its source and a COMM_RECV_NODE on its destination with the same tag; a send depends on
the receives that brought its chunk (or partial sums) to the source and on the previous send over the same link.
"""

from __future__ import annotations

from pathlib import Path

from chakra_tools.common import atomic_group
from chakra_tools.et import (
    CommType,
    ETWriter,
    GlobalMetadata,
    Node,
    NodeType,
    check_no_stale_outputs,
    make_attr,
    rank_path,
)
from tacos.schedule import Schedule

COMM_TYPE = {"all-gather": CommType.ALL_GATHER, "reduce-scatter": CommType.REDUCE_SCATTER,
             "all-reduce": CommType.ALL_REDUCE}


def write_ets(s: Schedule, prefix: str | Path) -> list[Path]:
    n = s.topo.npus
    nodes: list[list[Node]] = [[] for _ in range(n)]
    send_id: dict[int, int] = {}
    recv_id: dict[int, int] = {}
    nbytes = max(1, int(s.chunk_bytes))
    order = sorted(range(len(s.transfers)), key=lambda i: (s.transfers[i].start, s.transfers[i].end, i))
    for i in order:
        x = s.transfers[i]
        for rank, kind, table in ((x.dst, NodeType.COMM_RECV_NODE, recv_id), (x.src, NodeType.COMM_SEND_NODE, send_id)):
            nid = len(nodes[rank]) + 1
            node = Node(id=nid, name=f"{'recv' if table is recv_id else 'send'} chunk {x.chunk}", type=kind)
            node.attr.extend([make_attr("comm_src", x.src), make_attr("comm_dst", x.dst), make_attr("comm_tag", i),
                              make_attr("comm_size", nbytes), make_attr("is_cpu_op", False)])
            table[i] = nid
            nodes[rank].append(node)
    for i in order:
        x = s.transfers[i]
        node = nodes[x.src][send_id[i] - 1]
        for d in s.deps[i]:
            y = s.transfers[d]
            if y.dst == x.src:
                node.data_deps.append(recv_id[d])
            elif y.src == x.src:
                node.data_deps.append(send_id[d])
    meta = GlobalMetadata(version="0.0.4")
    meta.attr.extend([make_attr("comm_type", int(COMM_TYPE[s.collective])), make_attr("comm_size", s.size),
                      make_attr("chunks_per_npu", s.chunks_per_npu)])
    outs = [rank_path(prefix, r) for r in range(n)]
    check_no_stale_outputs(prefix, outs)
    with atomic_group(outs) as tmps:
        for tmp, ns in zip(tmps, nodes):
            with ETWriter(tmp, meta) as w:
                w.write_nodes(ns)
    return outs
