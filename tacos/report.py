"""The schedule JSON: summary figures, baselines, per-link transfers and per-NPU ordered sends/receives."""

from __future__ import annotations

from tacos.schedule import Schedule


def schedule_report(s: Schedule, base: dict[str, int | None], lower: int) -> dict:
    links: dict[tuple[int, int], list] = {}
    sends: dict[int, list] = {v: [] for v in range(s.topo.npus)}
    recvs: dict[int, list] = {v: [] for v in range(s.topo.npus)}
    for x in sorted(s.transfers, key=lambda x: (x.start, x.end, x.src, x.dst, x.chunk)):
        links.setdefault((x.src, x.dst), []).append({"chunk": x.chunk, "start_ns": x.start, "end_ns": x.end,
                                                     "phase": x.phase})
        sends[x.src].append({"chunk": x.chunk, "dst": x.dst, "start_ns": x.start, "phase": x.phase})
        recvs[x.dst].append({"chunk": x.chunk, "src": x.src, "end_ns": x.end, "phase": x.phase})
    return {
        "collective": s.collective,
        "size_bytes": s.size,
        "npus": s.topo.npus,
        "links": len(s.topo.links),
        "chunks_per_npu": s.chunks_per_npu,
        "chunk_bytes": s.chunk_bytes,
        "time_ns": s.time_ns,
        "lower_bound_ns": lower,
        "ratio_to_lower_bound": round(s.time_ns / lower, 4) if lower else None,
        "seed": s.seed,
        "restarts": s.restarts,
        "tried_chunks_per_npu": {str(k): v for k, v in sorted(s.tried.items())},
        "baselines_ns": base,
        "speedup_vs_best_baseline": round(min(v for v in base.values() if v) / s.time_ns, 4),
        "synthesis_seconds": round(s.synthesis_seconds, 3),
        "schedule": {
            "links": [{"src": a, "dst": b, "transfers": t} for (a, b), t in sorted(links.items())],
            "npus": [{"npu": v, "sends": sends[v], "receives": recvs[v]} for v in range(s.topo.npus)],
        },
    }
