"""Durations, inter-thread order and GPU work from a torch.profiler (Kineto) trace, linked to ET nodes.

Host ops link by record-function id: the ET's `rf_id` equals the Kineto event's `args["Record function id"]`
(PyTorch ≥ 2.1 with an ExecutionTraceObserver running). Traces recorded before that field existed (2023: PARAM's
and HTA's GPU traces) carry only `External id`, which numbers ops in start order like `rf_id` but is offset by the
ops only one of the two recorders saw (the profiler's `ProfilerStep#`); those link by aligning the two op-name
sequences in that order (`align_by_name`).
Inter-thread order follows MLCommons' trace_link: a thread's ops form groups separated by idle gaps longer than
`gap_us` (1000 µs there); every op of a group depends on the op of another thread that started last before the
group's first op (`joins`: rf_id → rf_id).
GPU work (`kernel`, `gpu_memcpy`, `gpu_memset` events) is found through its launch: the CUDA/HIP runtime call with
the same `correlation`, made inside the host op that launched it (`DeviceOp`); calls that block the host until the
GPU catches up (device/stream/event synchronize, a synchronous memcpy) are `SyncCall`s; a stream told to wait for an
event recorded on another (`cuda_sync` "Stream Wait Event", when the profiler recorded them) is a `StreamWait`.
"""

from __future__ import annotations

from bisect import bisect_left
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson

from chakra_tools.common import ToolError, read_input, warn

_CPU_CATS = {"cpu_op", "user_annotation", "python_function", "Trace"}
_ORDER_CATS = {"cpu_op", "user_annotation"}  # the ops trace_link orders threads by
GAP_US = 1000.0
_GPU_CATS = {"kernel", "gpu_memcpy", "gpu_memset"}
_RUNTIME_CATS = {"cuda_runtime", "cuda_driver", "hip_runtime", "hip_driver"}
_SYNC_CALLS = frozenset({
    "cudaDeviceSynchronize", "cudaStreamSynchronize", "cudaEventSynchronize", "cudaMemcpy",
    "cuCtxSynchronize", "cuStreamSynchronize", "cuEventSynchronize", "cuMemcpy",
    "hipDeviceSynchronize", "hipStreamSynchronize", "hipEventSynchronize", "hipMemcpy"})
_ALIGN_WINDOW = 64


@dataclass(frozen=True)
class HostOp:
    """A `cpu_op` / `user_annotation` event: what an ET node is."""

    ts: float | None  # None: the event had no start time (its duration still counts)
    dur: float
    tid: str
    name: str
    rf_id: int | None
    ext_id: int | None


@dataclass(frozen=True)
class DeviceOp:
    """A GPU event and where the host launched it (its runtime call's start and thread)."""

    ts: float
    dur: float
    stream: int
    name: str
    cat: str
    launch_ts: float
    launch_tid: str


@dataclass(frozen=True)
class StreamWait:
    """A `cudaStreamWaitEvent` as Kineto's `cuda_sync` events tell it (PyTorch's profiler with
    `enable_cuda_sync_events`): work submitted to `stream` after the call (host time `ts`) waits for the work
    submitted to `wait_stream` before the `cudaEventRecord` that recorded the event (host time `record_ts`)."""

    ts: float
    stream: int
    wait_stream: int
    record_ts: float


@dataclass(frozen=True)
class SyncCall:
    """A runtime call that blocks its host thread until the GPU has finished earlier work."""

    ts: float
    dur: float
    tid: str
    name: str


def _stream_waits(waits: list[tuple[float, Any, Any, Any]], calls: dict[Any, dict]) -> list[StreamWait]:
    """The Stream Wait Events whose streams are known and whose event's record call is in the trace (`calls`:
    runtime calls by correlation), in host time order."""
    out = []
    for ts, stream, waited, corr in waits:
        record = calls.get(corr) if _key(corr) else None
        if (record is not None and _num(record.get("ts")) and _int(stream) and _int(waited) and stream >= 0
                and waited >= 0 and stream != waited):
            out.append(StreamWait(ts, stream, waited, float(record["ts"])))
    return sorted(out, key=lambda w: w.ts)


def _int(v: Any) -> bool:
    """An integer field (JSON's true and false are not ids)."""
    return isinstance(v, int) and not isinstance(v, bool)


def _num(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def align_by_name(et_names: list[str], host_names: list[str], window: int = _ALIGN_WINDOW) -> list[tuple[int, int]]:
    """Pairs (i, j) matching two op-name sequences in order (each index at most once, both increasing).

    Walks both; on a mismatch it skips the fewest ops (a + b, each side at most `window`; ties: fewer ET ops) after
    which the names agree again, found through each name's positions in `host_names` (so a pair of files that do
    not belong together costs O(window) per op, not O(window²)); where nothing agrees within the window it gives up
    on that ET op. An ET (in rf_id order) and the profiler's host ops (in External id order) of the same step differ
    in a few inserted or missing ops.
    """
    where: dict[str, list[int]] = {}
    for j, name in enumerate(host_names):
        where.setdefault(name, []).append(j)
    pairs: list[tuple[int, int]] = []
    i = j = 0
    n, m = len(et_names), len(host_names)
    while i < n and j < m:
        if et_names[i] == host_names[j]:
            pairs.append((i, j))
            i += 1
            j += 1
            continue
        best = None
        for a in range(min(window, n - 1 - i) + 1):
            if best is not None and a >= best[0] + best[1]:
                break
            pos = where.get(et_names[i + a])
            if not pos:
                continue
            k = bisect_left(pos, j)
            if k < len(pos) and pos[k] - j <= window and (best is None or a + pos[k] - j < best[0] + best[1]):
                best = (a, pos[k] - j)
        if best is None:
            i += 1
            continue
        i += best[0]
        j += best[1]
    return pairs


def innermost_containing(ops: list[tuple[float, float, str, int]],
                         queries: list[tuple[float, str]]) -> list[int]:
    """For each query (time, thread): the key of the innermost op on that thread whose [ts, ts + dur] holds the
    time, or -1. `ops`: (ts, dur, thread, key); nested intervals, as a thread's call stack makes them."""
    by_tid: dict[str, list[tuple[float, float, int]]] = {}
    for ts, dur, tid, key in ops:
        by_tid.setdefault(tid, []).append((ts, -dur, key))
    for v in by_tid.values():
        v.sort()
    out = [-1] * len(queries)
    order = sorted(range(len(queries)), key=lambda q: queries[q])
    pos: dict[str, int] = {}
    stacks: dict[str, list[tuple[float, int]]] = {}
    for q in order:
        t, tid = queries[q]
        mine = by_tid.get(tid)
        if not mine:
            continue
        stack = stacks.setdefault(tid, [])
        k = pos.get(tid, 0)
        while k < len(mine) and mine[k][0] <= t:
            ts, ndur, key = mine[k]
            while stack and stack[-1][0] < ts:
                stack.pop()
            stack.append((ts - ndur, key))
            k += 1
        pos[tid] = k
        while stack and stack[-1][0] < t:
            stack.pop()
        if stack:
            out[q] = stack[-1][1]
    return out


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

    def __init__(self, by_rf_id: dict[int, float], path: Path | None = None, joins: dict[int, int] | None = None,
                 host_ops: list[HostOp] | None = None, device_ops: list[DeviceOp] | None = None,
                 syncs: list[SyncCall] | None = None, gap_us: float | None = GAP_US,
                 stream_waits: list[StreamWait] | None = None):
        self.by_rf_id = by_rf_id
        self.path = path
        self.joins = joins or {}
        self.host_ops = host_ops or []
        self.device_ops = device_ops or []
        self.syncs = syncs or []
        self.gap_us = gap_us
        self.stream_waits = stream_waits or []

    @property
    def by_name(self) -> bool:
        """No record-function ids: host ops link to ET nodes by aligning names (module docstring)."""
        return not self.by_rf_id

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
        host: list[HostOp] = []
        gpu: dict[Any, list] = {}      # correlation → GPU events
        launches: dict[Any, dict] = {}  # correlation → runtime call
        syncs: list[SyncCall] = []
        untimed = 0  # host ops without a start time
        lost = 0  # GPU events and runtime calls without one
        waits: list[tuple[float, Any, Any, Any]] = []  # Stream Wait Event: (ts, stream, waited stream, record corr)
        for e in events:
            if not isinstance(e, dict) or e.get("ph") != "X":
                continue
            cat, name = e.get("cat"), e.get("name", "")
            if not isinstance(cat, str) or not isinstance(name, str):
                continue  # (a list or a number there would break the set lookups below)
            args = e.get("args")
            if not isinstance(args, dict):
                args = {}
            dur, ts = e.get("dur"), e.get("ts")
            if not (_num(dur) and dur >= 0):
                continue
            ts = float(ts) if _num(ts) else None
            if cat in _CPU_CATS:  # a host op's duration needs no start time; its place in time does
                rf = args.get("Record function id")
                rf = rf if _int(rf) else None
                if rf is not None:
                    out[rf] = float(dur)
                    if cat in _ORDER_CATS and ts is not None:
                        order.append((ts, float(dur), str(e.get("tid")), rf))
                if cat in _ORDER_CATS:
                    untimed += ts is None
                    ext = args.get("External id")
                    host.append(HostOp(ts, float(dur), str(e.get("tid")), name, rf,
                                       ext if _int(ext) else None))
            elif ts is None:  # a GPU event or runtime call without a place in time: left out, and told below
                lost += cat in _GPU_CATS or cat in _RUNTIME_CATS
                continue
            elif cat in _GPU_CATS and _key(args.get("correlation")):
                gpu.setdefault(args["correlation"], []).append(e)  # a CUDA graph's kernels share its launch's
            elif cat in _RUNTIME_CATS:
                if _key(args.get("correlation")):
                    launches[args["correlation"]] = e
                if name in _SYNC_CALLS:
                    syncs.append(SyncCall(ts, float(dur), str(e.get("tid")), name))
            elif cat == "cuda_sync" and name == "Stream Wait Event":
                waits.append((ts, args.get("stream"), args.get("wait_on_stream"),
                              args.get("wait_on_cuda_event_record_corr_id")))
        if len(out) == 1 and 0 in out:
            out, order = {}, []  # every op's id 0: recorded without an ExecutionTraceObserver (module docstring)
        if not out and not any(h.ext_id is not None for h in host):
            raise ToolError(f"{p}: Kineto trace has no host events with a 'Record function id' or an 'External id' "
                            "(record with torch.profiler and an ExecutionTraceObserver together)")
        if untimed:
            warn(f"{p}: {untimed} host op(s) have no 'ts': their durations are kept, but they take no part in the "
                 "order between threads nor launch GPU work (a kernel launched inside one goes to its caller)")
        if lost:
            warn(f"{p}: {lost} GPU event(s) or runtime call(s) have no 'ts' and are left out (a kernel whose launch "
                 "has none gets no GPU node; a synchronize without one waits for nothing)")
        device = []
        for corr, events in gpu.items():
            launch = launches.get(corr)
            if launch is None or not _num(launch.get("ts")):
                continue  # GPU work nothing on the host launched (or a launch the profiler lost)
            for g in events:
                stream = _int_or(g["args"].get("stream", g.get("tid")), -1)
                device.append(DeviceOp(float(g["ts"]), float(g["dur"]), stream if -1 <= stream < 1 << 63 else -1,
                                       str(g.get("name", "")), g["cat"], float(launch["ts"]), str(launch.get("tid"))))
        device.sort(key=lambda d: (d.ts, d.launch_ts))
        syncs.sort(key=lambda c: c.ts)
        joins = inter_thread_joins(order, gap_us) if gap_us is not None and out else None
        return cls(out, p, joins, host, device, syncs, gap_us, _stream_waits(waits, launches))

    def link(self, et_ops: list[tuple[int, Any, str, Any]]) -> dict[int, int]:
        """ET node id → index in `host_ops`. `et_ops`: (node id, rf_id, name, tid) of the ET's ops.

        By record-function id where the trace has them; else thread by thread, by aligning the names of an ET
        thread's ops in rf_id order against a profiler thread's in External id order (`align_by_name`), each ET
        thread paired with the profiler thread it aligns best with (threads interleave differently in the two
        recorders, so one alignment over all threads loses ops)."""
        if not self.by_name:
            at = {h.rf_id: i for i, h in enumerate(self.host_ops) if h.rf_id is not None}
            return {nid: at[rf] for nid, rf, _, _ in et_ops if type(rf) is int and rf in at}
        et_threads: dict[Any, list] = {}
        for nid, rf, name, tid in et_ops:
            et_threads.setdefault(tid, []).append((rf if type(rf) is int else -1, nid, name))
        k_threads: dict[str, list] = {}
        for i, h in enumerate(self.host_ops):
            if h.ext_id is not None and not h.name.startswith("ProfilerStep#"):
                k_threads.setdefault(h.tid, []).append((h.ext_id, i))
        for v in (*et_threads.values(), *k_threads.values()):
            v.sort()
        out: dict[int, int] = {}
        free = set(k_threads)
        for tid in sorted(et_threads, key=lambda t: -len(et_threads[t])):
            et = et_threads[tid]
            best: list[tuple[int, int]] = []
            best_k = None
            for k in sorted(free):
                pairs = align_by_name([e[2] for e in et], [self.host_ops[i].name for _, i in k_threads[k]])
                if len(pairs) > len(best):
                    best, best_k = pairs, k
            if best_k is None:
                continue
            free.discard(best_k)
            host = k_threads[best_k]
            out.update((et[a][1], host[b][1]) for a, b in best)
        return out

    def joins_by_index(self, linked: set[int]) -> dict[int, int]:
        """trace_link's inter-thread order over the linked host ops, by index in `host_ops` (name-linked traces)."""
        if self.gap_us is None:
            return {}
        return inter_thread_joins([(h.ts, h.dur, h.tid, i) for i, h in enumerate(self.host_ops)
                                   if i in linked and h.ts is not None], self.gap_us)

    def inclusive_us(self, rf_id: Any) -> float | None:
        """Inclusive duration (µs) of the host op with this record-function id."""
        if not _int(rf_id):
            return None
        return self.by_rf_id.get(rf_id)


def _key(v: Any) -> bool:
    """A usable correlation id: an integer or a string (anything else cannot pair a launch with its GPU event)."""
    return _int(v) or isinstance(v, str)


def _int_or(v: Any, default: int) -> int:
    try:
        return int(v)
    except (TypeError, ValueError, OverflowError):
        return default
