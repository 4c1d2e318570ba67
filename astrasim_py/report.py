"""The JSON report and the Perfetto (Chrome trace-event) timeline."""

from __future__ import annotations

from astrasim_py.engine import RankResult, Span


def report_dict(results: dict[int, RankResult], *, backend: str, symmetric_classes: int, npus: int) -> dict:
    ranks = [{"rank": r.rank, "finish_ns": r.finish_ns, "compute_ns": r.compute_ns,
              "exposed_comm_ns": r.exposed_comm_ns, "comm_ns": r.comm_ns, "cpu_ns": r.cpu_ns,
              "overlap_ns": max(0, r.compute_ns + r.comm_ns - r.finish_ns)}
             for r in sorted(results.values(), key=lambda x: x.rank)]
    return {
        "sim_time_ns": max((r["finish_ns"] for r in ranks), default=0),
        "backend": backend,
        "npus": npus,
        "simulated_rank_classes": symmetric_classes,
        "ranks": ranks,
    }


def timeline(spans: list[Span]) -> dict:
    """Trace-event JSON: one process per rank, one thread per lane (compute, comm, cpu, recv, memory)."""
    lanes = {"compute": 0, "comm": 1, "cpu": 2, "recv": 3, "memory": 4}
    events = []
    for r in sorted({s.rank for s in spans}):
        events.append({"ph": "M", "name": "process_name", "pid": r, "tid": 0, "args": {"name": f"rank {r}"}})
        for lane, tid in lanes.items():
            events.append({"ph": "M", "name": "thread_name", "pid": r, "tid": tid, "args": {"name": lane}})
    for s in sorted(spans, key=lambda x: (x.rank, x.start, x.end, x.lane, x.name)):
        events.append({"ph": "X", "name": s.name, "cat": s.lane, "pid": s.rank, "tid": lanes[s.lane],
                       "ts": s.start / 1000, "dur": (s.end - s.start) / 1000})
    return {"displayTimeUnit": "ns", "traceEvents": events}
