"""How a rank's threads are ordered: each thread's chain, and the collectives as barriers between the threads.

In a recorded multi-threaded step (DLRM on 8 GPUs: a main and an autograd thread launching onto GPU streams) each
thread is a chain (4 of the main thread's 975 ops do not wait for the op before them) and the work between two
collectives runs after the first and before the second: the collectives are barriers, and a rank that is slow in
one stretch keeps the others waiting there. Dependencies drawn kind by kind, each a step back on the node's own
thread or a join to another, cut the chains wherever a node's only dependency is drawn as a join, and the samples'
ranks waited far less than recorded (docs/chakra-synth.md, GPU traces). `fit` measures both (per kind and thread
slot the share of nodes that continue their thread's chain; per collective and thread whether the thread's last
node before it leads to it and its first node after it follows it); `sample` tops a program up to them."""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Callable

import numpy as np

from chakra_tools.synth.features import is_comm_kind
from chakra_tools.synth.model import thread_positions


def barrier_pairs(kinds: list[str], slots: list[int], waits: list[list[int]]) -> tuple[list, list]:
    """Per collective and thread slot: (collective, that slot's last node in the stretch before it, whether that
    node is among the collective's ancestors), and (collective, the slot's first node in the stretch after it,
    whether the collective is among that node's ancestors). A stretch runs from the communication node before (or
    after) in node order; `waits`: per node the earlier nodes it depends on, so ancestry stays within the stretch."""
    comm = [i for i, k in enumerate(kinds) if is_comm_kind(k)]
    before, after = [], []
    for j, c in enumerate(comm):
        if not kinds[c].startswith("COLL:"):
            continue
        lo, hi = comm[j - 1] if j else -1, comm[j + 1] if j + 1 < len(comm) else len(kinds)
        last = {slots[i]: i for i in range(lo + 1, c)}
        if last:
            seen, stack, floor = {c}, [c], min(last.values())
            while stack:
                for d in waits[stack.pop()]:
                    if d >= floor and d not in seen:
                        seen.add(d)
                        stack.append(d)
            before += [(c, i, i in seen) for _, i in sorted(last.items())]
        first: dict[int, int] = {}
        for i in range(c + 1, hi):
            first.setdefault(slots[i], i)
        if first:
            below = {c}
            for i in range(c + 1, max(first.values()) + 1):
                if any(d in below for d in waits[i]):
                    below.add(i)
            after += [(c, i, i in below) for _, i in sorted(first.items())]
    return before, after


def barrier_counts(kinds: list[str], slots: list[int], waits: list[list[int]]) -> list[int]:
    """[before, of, after, of]: how many of a rank's barrier_pairs hold."""
    before, after = barrier_pairs(kinds, slots, waits)
    return [sum(h for *_, h in before), len(before), sum(h for *_, h in after), len(after)]


def barrier_shares(counts: list[list[int]]) -> dict:
    """cross_rank's `barrier_before`/`barrier_after`: the counts of the ranks with more than one thread pooled (a
    single thread's chain makes every collective a barrier: nothing to store)."""
    b, nb, a, na = (sum(c[k] for c in counts) for k in range(4))
    out = {}
    if nb:
        out["barrier_before"] = round(b / nb, 4)
    if na:
        out["barrier_after"] = round(a / na, 4)
    return out


def add_barriers(kinds: list[str], slots: list[int], data: list[list[int]], ctrl: list[list[int]],
                 cross_rank: dict, rng: np.random.Generator) -> int:
    """Add the data dependencies that make the program's pairs hold in the model's shares (each missing pair
    with the probability that brings the program's own share up to the model's; none where the program already
    has it). Returns how many were added."""
    waits = [sorted({*d, *c}) for d, c in zip(data, ctrl)]
    before, after = barrier_pairs(kinds, slots, waits)
    added = 0
    for pairs, key, downstream in ((before, "barrier_before", False), (after, "barrier_after", True)):
        share = cross_rank.get(key)
        if share is None or not pairs:
            continue
        held = sum(h for *_, h in pairs) / len(pairs)
        if held >= share:
            continue
        q = (share - held) / (1.0 - held)
        for c, i, h in pairs:
            if not h and rng.random() < q:
                node, dep = (i, c) if downstream else (c, i)  # the node after waits for c; c for the one before
                data[node] = sorted({*data[node], dep})
                added += 1
    return added


def add_chain(kinds: list[str], slots: list[int], data: list[list[int]], ctrl: list[list[int]], stats: dict,
              rng: np.random.Generator) -> int:
    """Give nodes that do not wait for their thread's previous node that data dependency, kind and thread slot
    by kind and slot, with the probability that brings the program's share up to the kind's `chained_by_slot`
    (recorded threads are chains: a kind's dependencies drawn one by one as joins or steps back cut them wherever
    a node's only dependency is drawn as a join). Returns how many were added."""
    pos, members = thread_positions(slots)
    count: Counter = Counter()
    missing: dict[tuple[str, int], list[int]] = defaultdict(list)
    for i, k in enumerate(kinds):
        if not pos[i]:
            continue
        count[k, slots[i]] += 1
        prev = members[slots[i]][pos[i] - 1]
        if prev not in data[i] and prev not in ctrl[i]:
            missing[k, slots[i]].append(i)
    added = 0
    for (k, s), nodes in sorted(missing.items()):
        share = stats.get(k, {}).get("chained_by_slot", {}).get(str(s))
        held = 1.0 - len(nodes) / count[k, s]
        if share is None or held >= share:
            continue
        q = (share - held) / (1.0 - held)
        for i in nodes:
            if rng.random() < q:
                data[i] = sorted({*data[i], members[s][pos[i] - 1]})
                added += 1
    return added


def _host(kind: str, slot: int, streams: set) -> bool:
    """A host op: not communication or metadata, not on a GPU stream's slot and not a kernel (`GPU:` kinds; an
    upgraded ET such as Chakra's feeder trace gives its kernels their stream as `tid`, so no stream slot says it)."""
    return not is_comm_kind(kind) and not kind.startswith(("META", "GPU:")) and slot not in streams


def descent_counts(kinds: list[str], slots: list[int], waits: list[list[int]], streams: set) -> list[int]:
    """[held, of]: of a rank's host-thread nodes (GPU streams, communication and metadata left out; not a thread's
    first), how many descend, directly or through other nodes, from their thread's previous node (the recorded
    DLRM step: all; a drawn join in place of the step back leaves a parallel dead end). `waits`: per node the
    earlier nodes it waits for."""
    return _descent_walk(kinds, slots, waits, streams)


def _descent_walk(kinds: list[str], slots: list[int], waits: list[list[int]], streams: set,
                  close: Callable[[int, int], bool] | None = None) -> list[int]:
    """One pass in node order (dependencies point back), keeping per node its latest ancestor on each host slot
    (itself included): [held, of] as descent_counts counts them, before any cut is closed. `close(i, p)`, asked
    for each cut node i whose thread's previous node is p, says whether it now waits for p (its caller adds the
    edge)."""
    latest: list[dict[int, int]] = []
    last: dict[int, int] = {}
    held = of = 0
    for i, k in enumerate(kinds):
        anc: dict[int, int] = {}
        for d in waits[i]:
            _merge(anc, latest[d])
        s = slots[i]
        if _host(k, s, streams):
            p = last.get(s, -1)
            if p >= 0:
                of += 1
                if anc.get(s, -1) == p:  # the thread's previous node is its latest ancestor there
                    held += 1
                elif close is not None and close(i, p):
                    _merge(anc, latest[p])
            anc[s] = last[s] = i
        latest.append(anc)
    return [held, of]


def descent_share(counts: list[list[int]]) -> dict:
    """cross_rank's `thread_descent`: descent_counts of the multi-thread ranks pooled ({} where there are none)."""
    held, of = sum(c[0] for c in counts), sum(c[1] for c in counts)
    return {"thread_descent": round(held / of, 4)} if of else {}


def add_descent(kinds: list[str], slots: list[int], data: list[list[int]], ctrl: list[list[int]], streams: set,
                share: float, rng: np.random.Generator) -> int:
    """Top a program up to the model's `thread_descent`: each host node that does not descend from its thread's
    previous node gets that dependency with the probability that closes the gap (nothing drawn at share 1, none
    added where the program has the share). Returns how many were added."""
    waits = [sorted({*d, *c}) for d, c in zip(data, ctrl)]
    held, of = descent_counts(kinds, slots, waits, streams)
    if not of or held / of >= share:
        return 0
    q = (share - held / of) / (1.0 - held / of)
    added = []

    def close(i: int, p: int) -> bool:
        if q < 1.0 and rng.random() >= q:
            return False
        data[i] = sorted({*data[i], p})
        added.append(i)
        return True

    _descent_walk(kinds, slots, waits, streams, close)
    return len(added)


def _merge(into: dict[int, int], other: dict[int, int]) -> None:
    """Per slot the later of the two latest ancestors."""
    for t, v in other.items():
        if into.get(t, -1) < v:
            into[t] = v
