"""A rank's compute span: how long its compute takes in astra-run when communication takes no time.

astra-run (as ASTRA-sim) runs at most one GPU compute node and one CPU op of a rank at a time, each as soon as its
dependencies are done and its lane is free, lowest ready id first; memory accesses are not limited and
communication is left out here (it takes 0). When every compute node of a lane depends, directly or through
others, on the lane's previous one — a PyTorch CPU step, whose ops are one chain — the span is the compute
critical path. When a lane holds independent chains (the passes of a text workload, a second thread, streams),
they queue for it and the span is longer: up to the lane's total busy time. fit learns step times as spans and
sample calibrates to them, so that the simulated compute of a sample is what the model predicts.
"""

from __future__ import annotations

import heapq
from collections.abc import Sequence

from chakra_tools.common import ToolError

FREE, GPU, CPU = 0, 1, 2  # lanes: FREE = not limited (memory, communication, metadata)


def contended(deps: Sequence[Sequence[int]], lane: Sequence[int]) -> bool:
    """Whether some GPU or CPU node does not descend from its lane's previous node (ids 0..n-1, every dependency
    on an earlier id): only then can two of a lane's nodes be ready at once, and the span exceed the path."""
    last: list[list[int]] = []  # per node: its latest GPU / CPU ancestor (itself included), -1: none
    prev = [-1, -1, -1]
    for i, ds in enumerate(deps):
        g = c = -1
        for d in ds:
            lg, lc = last[d][GPU], last[d][CPU]
            g, c = (lg if lg > g else g), (lc if lc > c else c)
        own = lane[i]
        if own != FREE:
            if (g if own == GPU else c) != prev[own]:
                return True
            prev[own] = i
            if own == GPU:
                g = i
            else:
                c = i
        last.append([0, g, c])
    return False


def span(deps: Sequence[Sequence[int]], dur: Sequence[float], lane: Sequence[int]) -> float:
    """Makespan of astra-run's schedule (ids 0..n-1 in any dependency order; `dur` 0 for communication). The
    bookkeeping is astra-run's, so that ties resolve as there: ready heaps per lane in the order lanes first
    had a ready node, events in (time, push order), the lanes re-filled after every event; a compute node of 0 us
    takes 1 ns there, which can decide the order of what follows it."""
    n = len(deps)
    dur = [d if d > 0 or lane[i] == FREE else 1e-3 for i, d in enumerate(dur)]
    waiting = [len(ds) for ds in deps]
    children: list[list[int]] = [[] for _ in range(n)]
    for i, ds in enumerate(deps):
        for d in ds:
            children[d].append(i)
    ready: dict[int, list[int]] = {}
    busy = {GPU: False, CPU: False}
    events: list[tuple[float, int, int]] = []
    seq = 0

    def issue(t: float) -> None:
        nonlocal seq
        for ln, heap in ready.items():
            while heap and not (ln != FREE and busy[ln]):
                i = heapq.heappop(heap)
                if ln != FREE:
                    busy[ln] = True
                seq += 1
                heapq.heappush(events, (t + dur[i], seq, i))

    for i in range(n):
        if not waiting[i]:
            heapq.heappush(ready.setdefault(lane[i], []), i)
    issue(0.0)
    end, done = 0.0, 0
    while events:
        t, _, i = heapq.heappop(events)
        end, done = t, done + 1
        if lane[i] != FREE:
            busy[lane[i]] = False
        for c in children[i]:
            waiting[c] -= 1
            if not waiting[c]:
                heapq.heappush(ready.setdefault(lane[c], []), c)
        issue(t)
    if done != n:
        raise ValueError("span: the dependencies have a cycle")
    return end


def rank_arrays(g) -> tuple[list, list[list[int]], list[list[int]], list[int], list[int]]:
    """A RankGraph as arrays, in id order: its nodes, each node's dependencies as ids (dangling ones included) and as
    indices (dangling ones dropped), and span's durations and lanes: compute and memory nodes their recorded
    duration (astra-run times memory from its remote-memory model), communication and metadata 0 (astra-run does
    not run them on a compute lane)."""
    from chakra_tools.et import NodeType

    nodes = sorted(g.nodes, key=lambda n: n.id)
    index = {n.id: i for i, n in enumerate(nodes)}
    if len(index) != len(nodes):
        dup = next(a.id for a, b in zip(nodes, nodes[1:]) if a.id == b.id)
        raise ToolError(f"{g.path or 'trace'}: node id {dup} appears more than once")
    raw = [g.deps(n) for n in nodes]
    deps = [[index[d] for d in ds if d in index] for ds in raw]
    lane, dur = [], []
    for n in nodes:
        if n.type == NodeType.COMP_NODE:
            lane.append(CPU if g.attrs[n.id].get("is_cpu_op") else GPU)
            dur.append(n.duration_micros)
        else:
            lane.append(FREE)
            dur.append(n.duration_micros if n.type in (NodeType.MEM_LOAD_NODE, NodeType.MEM_STORE_NODE) else 0)
    return nodes, raw, deps, dur, lane


def graph_lanes(g) -> tuple[list[list[int]], list[int], list[int]]:
    """A RankGraph as span's input: per node in id order its dependencies (indices), duration and lane
    (rank_arrays)."""
    return rank_arrays(g)[2:]


def points_back(deps: Sequence[Sequence[int]]) -> bool:
    """Whether every dependency is on an earlier index (id order is then a dependency order)."""
    return all(d < i for i, ds in enumerate(deps) for d in ds)


def critical_path(deps: Sequence[Sequence[int]], dur: Sequence[float]) -> float:
    """Longest chain of `dur` (every dependency on an earlier index)."""
    finish = [0.0] * len(deps)
    for i, ds in enumerate(deps):
        finish[i] = max((finish[d] for d in ds), default=0.0) + dur[i]
    return max(finish, default=0.0)


def compute_span(deps: Sequence[Sequence[int]], dur: Sequence[float], lane: Sequence[int]) -> float:
    """The compute span: the critical path when the dependencies point back and no lane is contended (the common
    case, linear), else the schedule's (span; ValueError on a cycle)."""
    if points_back(deps) and not contended(deps, lane):
        return critical_path(deps, dur)
    return span(deps, dur, lane)


def compute_span_us(g) -> int:
    """A RankGraph's compute span (us)."""
    try:
        return int(compute_span(*graph_lanes(g)))
    except ValueError:
        g.issue_order()  # raises the one-line cycle error naming the file
        raise ToolError(f"{g.path or 'trace'}: cyclic dependencies") from None
