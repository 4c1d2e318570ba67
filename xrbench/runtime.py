"""Event-driven runtime: frame arrivals, deadlines, drops, cascades, schedulers (reference/xrbench.md §3).

`compat=True` reproduces XRBench v0.1's semantics including its quirks; the default mode fixes them
(docs/xrbench-run.md lists every difference).
"""
from __future__ import annotations

import heapq
import math
import random
from collections import deque
from dataclasses import dataclass

from .scenarios import Scenario

WINDOW_MS = 700.0
TOLERANCE_MS = 0.01   # compat: a job counts as finished if completion <= now + 0.01 ms
SCHEDULERS = ("latency-greedy", "edp-greedy", "deadline-aware")


@dataclass
class Record:
    accelerator: str
    model: str
    frame: int
    injection: float
    dispatch: float | None
    deadline: float
    completion: float | None
    energy: float
    dropped: bool = False

    @property
    def violation(self) -> float | None:
        return None if self.completion is None else self.completion - self.deadline


def simulate(scenario: Scenario, costs: dict[str, dict[str, tuple[float, float]]], *, compat: bool = False,
             scheduler: str = "latency-greedy", seed: int = 0, window_ms: float = WINDOW_MS) -> list[Record]:
    """Run `scenario` on accelerators `costs` = {acc: {model: (latency ms, energy mJ)}} (ordered)."""
    if scheduler not in SCHEDULERS:
        raise ValueError(f"unknown scheduler {scheduler!r} (known: {', '.join(SCHEDULERS)})")
    rng = random.Random(seed)
    accs = list(costs)
    ids = sorted(m.id for m in scenario.models)        # std::map order = alphabetical
    spec = {m.id: m for m in scenario.models}
    for a in accs:
        for m in ids:
            if m not in costs[a]:
                raise ValueError(f"no cost for model {m} on accelerator {a}")
    if compat:
        if any(spec[m].fps < 1 for m in ids):
            raise ValueError(f"{scenario.name}: compat mode needs fps >= 1 (integer periods of 1000 // fps ms)")
        period = {m: float(1000 // int(spec[m].fps)) for m in ids}
        nreq = {m: int(window_ms // period[m]) for m in ids}
        tick = float(1000 // int(max(spec[m].fps for m in ids)))
    else:
        period = {m: 1000.0 / spec[m].fps for m in ids}
        nreq = {m: int(math.floor(window_ms / period[m] + 1e-9)) for m in ids}
        tick = math.inf
    edp = {a: {m: costs[a][m][0] * costs[a][m][1] for m in ids} for a in accs}

    next_frame = dict.fromkeys(ids, 0)
    queues: dict[str, deque[Record]] = {m: deque() for m in ids}
    completed = dict.fromkeys(ids, 0)            # compat: count-based dependency
    done_frames: dict[str, set[int]] = {m: set() for m in ids}
    dropped_frames: dict[str, set[int]] = {m: set() for m in ids}
    busy: dict[str, Record | None] = dict.fromkeys(accs)
    log: list[Record] = []
    events: list[float] = []
    now, next_tick = 0.0, 0.0
    eps = TOLERANCE_MS if compat else 1e-9

    def all_injected() -> bool:
        return all(next_frame[m] >= nreq[m] for m in ids)

    def nominal(m: str) -> float:
        return period[m] * next_frame[m]

    while True:
        # 1. fetch new requests (materialised at this event time in compat mode, at the nominal time otherwise)
        for m in ids:
            while next_frame[m] < nreq[m] and nominal(m) <= now + 1e-9:
                j = next_frame[m]
                r = rng.random()
                if spec[m].probability > r:
                    up = spec[m].upstream
                    if not compat and up is not None and j in dropped_frames[up]:
                        rec = Record("", m, j, nominal(m), None, period[m] * (j + 1), None, 0.0, True)
                        log.append(rec)          # fix: cascade drop of a dependent whose trigger was dropped
                        dropped_frames[m].add(j)
                    else:
                        inj = now if compat else nominal(m)
                        rec = Record("", m, j, inj, None, period[m] * (j + 1), None, 0.0)
                        queues[m].append(rec)
                        log.append(rec)
                next_frame[m] += 1
        # 2. retire finished jobs
        for a in accs:
            job = busy[a]
            if job is not None and job.completion <= now + eps:
                completed[job.model] += 1
                done_frames[job.model].add(job.frame)
                busy[a] = None
        # 3. drop late requests (compat: the head of each queue only)
        for m in ids:
            q = queues[m]
            if compat:
                if q and q[0].deadline < now:
                    _drop(q.popleft(), now, dropped_frames)
            else:
                keep = deque()
                for rec in q:
                    if rec.deadline < now:
                        _drop(rec, now, dropped_frames)
                    else:
                        keep.append(rec)
                queues[m] = keep
                up_drop = [rec for rec in queues[m] if spec[m].upstream and rec.frame in dropped_frames[spec[m].upstream]]
                for rec in up_drop:
                    queues[m].remove(rec)
                    _drop(rec, now, dropped_frames)
        # 4. dispatch onto idle accelerators only
        changed = True
        while changed:
            changed = False
            heads = [m for m in ids if queues[m]]
            if scheduler == "deadline-aware":
                heads.sort(key=lambda m: (queues[m][0].deadline, m))
            elif not compat:
                heads.sort(key=lambda m: (queues[m][0].injection, m))
            for m in heads:
                rec = queues[m][0]
                up = spec[m].upstream
                if up is not None:
                    ready = completed[up] - 1 >= rec.frame if compat else rec.frame in done_frames[up]
                    if not ready:
                        continue
                idle = [a for a in accs if busy[a] is None]
                if not idle:
                    break
                if scheduler == "edp-greedy":
                    a = min(idle, key=lambda a: edp[a][m])
                else:
                    a = min(idle, key=lambda a: costs[a][m][0])
                    if scheduler == "deadline-aware":
                        best = min(accs, key=lambda b: costs[b][m][0])
                        if best is not a and busy[best] is not None:
                            free_at = busy[best].completion
                            if (free_at + costs[best][m][0] <= rec.deadline
                                    < now + costs[a][m][0]):
                                continue     # waiting for the faster busy accelerator meets the deadline
                lat, en = costs[a][m]
                queues[m].popleft()
                rec.accelerator, rec.dispatch, rec.completion, rec.energy = a, now, now + lat, en
                busy[a] = rec
                heapq.heappush(events, rec.completion)
                changed = True
        # 5. termination and next event
        if compat and all_injected():
            break
        if not compat and all_injected() and not any(queues.values()) and all(b is None for b in busy.values()):
            break
        if compat:
            while next_tick <= now + 1e-9:
                next_tick += tick
            cand = [next_tick]
        else:
            cand = [period[m] * next_frame[m] for m in ids if next_frame[m] < nreq[m]]
            cand += [rec.deadline + 1e-6 for q in queues.values() for rec in list(q)[:1]]
        while events and events[0] <= now + 1e-12:
            heapq.heappop(events)
        if events:
            cand.append(events[0])
        cand = [c for c in cand if c > now + 1e-12]
        if not cand:
            break
        now = min(cand)
    if compat:
        # requests never dispatched by the end of the window are not written to the log (my reading of v0.1)
        log = [r for r in log if r.dropped or r.dispatch is not None]
    return log


def _drop(rec: Record, now: float, dropped_frames: dict[str, set[int]]) -> None:
    rec.dropped, rec.energy = True, 0.0
    dropped_frames[rec.model].add(rec.frame)
