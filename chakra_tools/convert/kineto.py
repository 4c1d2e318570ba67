"""Durations from a torch.profiler (Kineto) trace, linked to ET nodes by record-function id.

The ET's `rf_id` attribute equals the Kineto event's `args["Record function id"]` (CPU traces count).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import orjson

from chakra_tools.common import ToolError

_CPU_CATS = {"cpu_op", "user_annotation", "python_function", "Trace"}


class KinetoDurations:
    """Inclusive durations (µs) of host ops by record-function id."""

    def __init__(self, by_rf_id: dict[int, float], path: Path | None = None):
        self.by_rf_id = by_rf_id
        self.path = path

    @classmethod
    def load(cls, path: str | Path) -> KinetoDurations:
        p = Path(path)
        try:
            doc = orjson.loads(p.read_bytes())
        except FileNotFoundError:
            raise ToolError(f"{p}: file not found") from None
        except IsADirectoryError:
            raise ToolError(f"{p}: is a directory, expected a Kineto trace JSON") from None
        except orjson.JSONDecodeError as e:
            raise ToolError(f"{p}: invalid JSON ({e})") from None
        events = doc.get("traceEvents") if isinstance(doc, dict) else None
        if not isinstance(events, list):
            raise ToolError(f"{p}: not a Kineto/torch.profiler trace (no 'traceEvents' list)")
        out: dict[int, float] = {}
        for e in events:
            if not isinstance(e, dict) or e.get("ph") != "X" or e.get("cat") not in _CPU_CATS:
                continue
            args = e.get("args")
            rf = args.get("Record function id") if isinstance(args, dict) else None
            dur = e.get("dur")
            if isinstance(rf, int) and isinstance(dur, (int, float)) and dur >= 0:
                out[rf] = float(dur)
        if not out:
            raise ToolError(f"{p}: Kineto trace has no host events with a 'Record function id' "
                            "(record with torch.profiler and an ExecutionTraceObserver together)")
        return cls(out, p)

    def inclusive_us(self, rf_id: Any) -> float | None:
        if isinstance(rf_id, bool) or not isinstance(rf_id, int):
            return None
        return self.by_rf_id.get(rf_id)
