"""ETs written for Chakra's own feeder (data deps only) → ETs for ASTRA-sim's feeder_v3 (data and ctrl deps).

Chakra's ETFeeder, and the ASTRA-sim that used it until 2024, resolve `data_deps` alone; `ctrl_deps` then held the
call-tree parent, for the visualizer. ETs of that time (e.g. Chakra's own feeder test trace, schema 1.0.1) read
with both kinds resolved have control deps on nodes the converter dropped and cycles (a host op's ctrl dep on the
kernel it launches, whose data dep is the op), and host-side c10d calls written as COMM_COLL nodes with
`is_cpu_op` true, which that ASTRA-sim issued as compute and feeder_v3 refuses. `upgrade` rewrites such a rank so
that every current reader runs it as its feeder did: no ctrl deps, those host-side calls as compute nodes.
"""

from __future__ import annotations

import heapq
from collections.abc import Sequence
from dataclasses import dataclass

from chakra_tools.et import NodeType, attrs_of
from chakra_tools.schema import et_def_pb2 as pb

_COMM = (NodeType.COMM_COLL_NODE, NodeType.COMM_SEND_NODE, NodeType.COMM_RECV_NODE)
HINT = ("its data deps alone are complete and acyclic: an ET for Chakra's own feeder, which resolves data deps only "
        "(before 2024); `chakra-convert upgrade` rewrites it for ASTRA-sim's feeder_v3, astra-run and chakra-synth")


@dataclass(frozen=True)
class UpgradeReport:
    nodes: int
    ctrl_deps_dropped: int
    host_comm_retyped: int


def data_deps_sound(nodes: Sequence[pb.Node], with_ctrl: bool = False) -> bool:
    """Whether the data deps alone (`with_ctrl`: and the ctrl deps, as feeder_v3 reads them) are what a feeder
    needs: unique ids, every dep on another node of the rank, no cycle."""
    ids = {n.id for n in nodes}
    if len(ids) != len(nodes):
        return False
    indeg = {n.id: 0 for n in nodes}
    children: dict[int, list[int]] = {}
    for n in nodes:
        for d in {*n.data_deps, *(n.ctrl_deps if with_ctrl else ())}:
            if d == n.id or d not in ids:
                return False
            indeg[n.id] += 1
            children.setdefault(d, []).append(n.id)
    ready = [i for i, k in indeg.items() if k == 0]
    heapq.heapify(ready)
    done = 0
    while ready:
        i = heapq.heappop(ready)
        done += 1
        for c in children.get(i, ()):
            indeg[c] -= 1
            if not indeg[c]:
                heapq.heappush(ready, c)
    return done == len(nodes)


def legacy_hint(nodes: Sequence[pb.Node]) -> str:
    """The hint an error about a rank's dependencies ends with when the rank reads as an ET for Chakra's feeder
    (its ctrl deps carry the problem, its data deps alone are sound); "" otherwise."""
    return HINT if any(n.ctrl_deps for n in nodes) and data_deps_sound(nodes) else ""


def upgrade(nodes: Sequence[pb.Node]) -> tuple[list[pb.Node], UpgradeReport]:
    """The rank's nodes as feeder_v3 reads them the way Chakra's feeder read the originals: ctrl deps dropped,
    communication nodes flagged as host ops retyped as compute nodes (their attributes kept). Ids, data deps,
    durations and every other field are unchanged."""
    out, dropped, retyped = [], 0, 0
    for n in nodes:
        m = pb.Node()
        m.CopyFrom(n)
        dropped += len(m.ctrl_deps)
        del m.ctrl_deps[:]
        if m.type in _COMM and attrs_of(n).get("is_cpu_op", False):
            m.type = NodeType.COMP_NODE
            retyped += 1
        out.append(m)
    return out, UpgradeReport(len(out), dropped, retyped)
