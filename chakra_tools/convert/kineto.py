"""Durations and inter-thread order from a torch.profiler (Kineto) trace, linked to ET nodes by record-function id.

The ET's `rf_id` attribute equals the Kineto event's `args["Record function id"]` (CPU traces count).
Inter-thread order follows MLCommons' trace_link: a thread's ops form groups separated by idle gaps longer than
`gap_us` (1000 µs there); every op of a group depends on the op of another thread that started last before the
group's first op (`joins`: rf_id → rf_id).
"""

from __future__ import annotations

from bisect import bisect_left
from pathlib import Path
from typing import Any

import orjson

from chakra_tools.common import ToolError, read_input

_CPU_CATS = {"cpu_op", "user_annotation", "python_function", "Trace"}
_ORDER_CATS = {"cpu_op", "user_annotation"}  # the ops trace_link orders threads by
GAP_US = 1000.0


def inter_thread_joins(ops: list[tuple[float, float, Any, int]], gap_us: float = GAP_US) -> dict[int, int]:
    """trace_link's inter-thread order. `ops`: (start µs, duration µs, tid, rf_id). Returns rf_id → rf_id.

    A thread's first op and every op after an idle gap > `gap_us` (start minus the previous op's end, in start
    order) open a group; the group's ops all depend on the op of any other thread that started last, strictly
    before the group's first op.
    """
    by_start = sorted(ops, key=lambda o: (o[0], o[3]))
    starts = [o[0] for o in by_start]
    by_tid: dict[Any, list] = {}
    for o in by_start:
        by_tid.setdefault(o[2], []).append(o)
    joins: dict[int, int] = {}
    for tid, mine in by_tid.items():
        dep = None
        for i, (ts, _, _, rf) in enumerate(mine):
            if i == 0 or ts - mine[i - 1][0] - mine[i - 1][1] > gap_us:
                dep = None
                for j in range(bisect_left(starts, ts) - 1, -1, -1):
                    if by_start[j][2] != tid:
                        dep = by_start[j][3]
                        break
            if dep is not None:
                joins[rf] = dep
    return joins


class KinetoDurations:
    """Inclusive durations (µs) of host ops by record-function id."""

    def __init__(self, by_rf_id: dict[int, float], path: Path | None = None, joins: dict[int, int] | None = None):
        self.by_rf_id = by_rf_id
        self.path = path
        self.joins = joins or {}

    @classmethod
    def load(cls, path: str | Path, gap_us: float | None = GAP_US) -> KinetoDurations:
        """`gap_us`: the idle gap that opens an inter-thread group (None: no inter-thread order)."""
        p = Path(path)
        try:
            doc = orjson.loads(read_input(p, "a Kineto trace JSON"))
        except orjson.JSONDecodeError as e:
            raise ToolError(f"{p}: invalid JSON ({e})") from None
        events = doc.get("traceEvents") if isinstance(doc, dict) else None
        if not isinstance(events, list):
            raise ToolError(f"{p}: not a Kineto/torch.profiler trace (no 'traceEvents' list)")
        out: dict[int, float] = {}
        order: list[tuple[float, float, Any, int]] = []
        for e in events:
            if not isinstance(e, dict) or e.get("ph") != "X" or e.get("cat") not in _CPU_CATS:
                continue
            args = e.get("args")
            rf = args.get("Record function id") if isinstance(args, dict) else None
            dur = e.get("dur")
            if isinstance(rf, int) and isinstance(dur, (int, float)) and dur >= 0:
                out[rf] = float(dur)
                ts = e.get("ts")
                if e.get("cat") in _ORDER_CATS and isinstance(ts, (int, float)) and not isinstance(ts, bool):
                    order.append((float(ts), float(dur), str(e.get("tid")), rf))
        if not out:
            raise ToolError(f"{p}: Kineto trace has no host events with a 'Record function id' "
                            "(record with torch.profiler and an ExecutionTraceObserver together)")
        return cls(out, p, inter_thread_joins(order, gap_us) if gap_us is not None else None)

    def inclusive_us(self, rf_id: Any) -> float | None:
        if isinstance(rf_id, bool) or not isinstance(rf_id, int):
            return None
        return self.by_rf_id.get(rf_id)
