"""Summaries of a Chakra trace: nodes by type, collectives by type and size, critical path."""

from __future__ import annotations

from collections import Counter

from chakra_tools.et import NodeType
from chakra_tools.graph import Trace, comm_type_name


def summarize(trace: Trace) -> dict:
    ranks = []
    for r, g in sorted(trace.ranks.items()):
        types = Counter(NodeType(n.type).name if n.type in NodeType._value2member_map_ else f"UNKNOWN({n.type})"
                        for n in g.nodes)
        colls = Counter((comm_type_name(c.comm_type), c.comm_size, c.pg_name) for c in g.collectives())
        p2p = g.p2p()
        ranks.append({
            "rank": r,
            "file": str(g.path) if g.path else None,
            "nodes": len(g.nodes),
            "nodes_by_type": dict(sorted(types.items())),
            "collectives": [{"comm_type": t, "comm_size": s, "pg_name": pg, "count": c}
                            for (t, s, pg), c in sorted(colls.items())],
            "collective_bytes": sum(s * c for (_, s, _), c in colls.items()),
            "sends": sum(1 for p in p2p if p.kind == "send"),
            "recvs": sum(1 for p in p2p if p.kind == "recv"),
            "total_duration_us": sum(n.duration_micros for n in g.nodes),
            "critical_path_us": g.critical_path_us(),
        })
    return {"trace": trace.prefix, "num_ranks": trace.num_ranks, "comm_groups": trace.comm_groups, "ranks": ranks}
