"""Dependencies of a synthesized program: each node's data and control dependencies drawn from its kind's tables.

A node's fan-in comes from its kind's count table, each dependency's distance from its quantile table; a distance
steps back along the node's own thread, a join (the kind's cross-thread share) steps back in node order to another
thread, and the kind's `up_fraction` goes up the previous node's chain of parents instead (a call tree's siblings
share their parent). Every dependency points to an earlier node, so the graph is acyclic by construction;
`order_collectives` then makes collectives wait for the communication before them where ranks could reorder them.
"""

from __future__ import annotations

from bisect import bisect_right

import numpy as np

from chakra_tools.synth.features import is_comm_kind
from chakra_tools.synth.model import largest_remainder, sample_counts, sample_quantiles, thread_positions
from chakra_tools.synth.ordering import in_order


def draw_dependencies(by_kind: dict[str, list[int]], kinds: list[str], stats: dict, field: str,
                      rng: np.random.Generator, threads: list[int] | None, thread_rng: np.random.Generator,
                      tree_rng: np.random.Generator | None = None) -> list[list[int]]:
    """Per node (`kinds`: its kind; `by_kind`: each kind's nodes, kinds in sorted order) its `field` dependencies:
    fan-in and distances from its kind's tables (non-zero fan-ins in the kind's recorded order by position, where
    it has `*_fanin_order`). A distance steps back along the node's own thread (`threads`: its slot;
    None = one thread, the rank's node order); the kind's cross-thread share of them (a join) steps back in
    node order instead, to the thread its `*_cross_slots` table draws, drawn from `thread_rng` (each thread slot
    with its own share where the kind has `*_cross_fraction_by_slot`). A distance that lands on a node already
    waited for takes the next one further back. The kind's `up_fraction` of the others (drawn from `tree_rng`, a
    stream of its own: without it the draws are those of a model without the tables) go up the previous node's chain
    of parents instead (levels 0 the previous node, 1 its parent, ..., each from the `up_after` table of the kind of
    the node before): a call tree's siblings share their parent, and a parent gets its many children. Those are
    placed in node order, once the earlier nodes' are."""
    n = len(kinds)
    slots = threads if threads is not None else [0] * n
    pos, members = thread_positions(slots)
    before = [kinds[members[slots[i]][pos[i] - 1]] if pos[i] else "" for i in range(n)]  # "": a thread's first
    out: list[list[int]] = [[] for _ in range(n)]
    pending: dict[int, list[tuple[int, int]]] = {}  # node -> (levels up its previous node's parents, distance)
    for k, idx in by_kind.items():
        st = stats[k]
        fanin = sample_counts(st.get(f"{field}_fanin", {}), len(idx), rng)
        order = st.get(f"{field}_fanin_order")
        if order is not None:  # the non-zero fan-ins in the recorded order; zeros are placed below
            nz = fanin > 0
            fanin[nz] = in_order(fanin[nz], order)
        free = st.get(f"{field}_free_after")  # data only (fit): where the kind's chain starts stand
        if free and tree_rng is not None:
            fanin = _place_free(fanin, [before[i] for i in idx], free, tree_rng)
        total = int(fanin.sum())
        dist = np.maximum(np.rint(sample_quantiles(st.get(f"{field}_distance", []), total, rng)), 1)
        cross = np.zeros(total, dtype=bool)
        target = np.full(total, -1, dtype=np.int64)  # a join's thread slot, -1: any other thread
        frac = float(st.get(f"{field}_cross_fraction", 0.0))
        if frac > 0 and total:
            owner = np.repeat(np.asarray([slots[i] for i in idx], dtype=np.int64), fanin)
            by_slot = st.get(f"{field}_cross_fraction_by_slot")
            if by_slot:  # each thread's own share (a slot the table lacks: the kind's pooled one)
                for s in np.unique(owner).tolist():
                    where = np.flatnonzero(owner == s)
                    m = int(round(min(float(by_slot.get(str(s), frac)), 1.0) * where.size))
                    cross[where[thread_rng.permutation(where.size)[:m]]] = True
                m = int(cross.sum())
            else:
                m = int(round(min(frac, 1.0) * total))
                cross[thread_rng.permutation(total)[:m]] = True
            dist[cross] = np.maximum(np.rint(sample_quantiles(st.get(f"{field}_cross_distance", []), m,
                                                              thread_rng)), 1)
            own = owner[cross]
            target[cross] = _cross_slots(st.get(f"{field}_cross_slots"), own, thread_rng)
        level = np.full(total, -1, dtype=np.int64)
        up = float(st.get(f"{field}_up_fraction", 0.0))
        if tree_rng is not None and up > 0 and total:
            own = np.flatnonzero(~cross)
            m = int(round(min(up, 1.0) * own.size))
            chosen = np.sort(own[tree_rng.permutation(own.size)[:m]])
            # each level from the table of the kind of the node before it (the kind's own where that one is missing)
            owner = np.repeat(np.asarray(idx, dtype=np.int64), fanin)[chosen]
            after = st.get(f"{field}_up_after", {})
            owner_before = [before[i] for i in owner.tolist()]
            for b in sorted(set(owner_before)):
                where = chosen[[x == b for x in owner_before]]
                level[where] = sample_counts(after.get(b) or st.get(f"{field}_up", {}), where.size, tree_rng)
        at = 0
        for i, f in zip(idx, fanin.tolist()):
            deps = set()
            for d, c, u, s in zip(dist[at:at + f].tolist(), cross[at:at + f].tolist(), level[at:at + f].tolist(),
                                  target[at:at + f].tolist()):
                # a distance drawn twice for one node takes the next node further back: the kind's fan-in is
                # the number of distinct nodes waited for (an optimizer step waits for every gradient)
                if c:  # a join: the nearest node of the drawn (else any other) thread at least d back
                    j = _join(i, int(min(d, i)), s, slots, members)
                    while j in deps:
                        j = _join(i, i - j + 1, s, slots, members)
                    if 0 <= j < i:
                        deps.add(j)
                elif u >= 0:
                    pending.setdefault(i, []).append((u, int(d)))
                elif pos[i]:
                    thread = members[slots[i]]
                    p = pos[i] - int(min(d, pos[i]))
                    while p > 0 and thread[p] in deps:
                        p -= 1
                    deps.add(thread[p])
            at += f
            out[i] = sorted(deps)
    if pending:
        _place_up(out, pending, slots, pos, members)
    return out


def order_collectives(kinds: list[str], data: list[list[int]], ctrl: list[list[int]]) -> int:
    """Make each collective wait, directly or through its dependencies, for the communication node (collective,
    send or recv) before it in node order (`data` gains the edges; returns how many). A simulator pairs a group's
    collectives across ranks in the order each rank issues them, and a rank runs one collective or send at a time
    (ASTRA-sim and astra-run alike) but issues whatever is ready: a collective that can overtake an earlier one
    pairs an all-reduce with a barrier on another rank, and one that overtakes an earlier send holds the lane
    while the peer waits, in its own collective, for that send (astra-run reports the deadlock; ASTRA-sim hangs).
    Applied to the programs of a model of several, and to a program of several threads (each rank's own timing
    decides which thread's collective comes first: on the DLRM GPU step, ranks issued the all-to-alls of the main
    and the autograd thread in different orders). Ranks running one single-threaded program issue in the same
    order anyway, and may overtake as recorded (a text workload's next pass gathers before the last pass's final
    all-reduce).
    Draws nothing; a program whose collectives are already so ordered is unchanged."""
    comm = [is_comm_kind(k) for k in kinds]
    latest = [-1] * len(kinds)  # per node: the latest communication node among it and its ancestors
    previous = -1               # the latest communication node so far in node order
    added = 0
    for i, k in enumerate(kinds):
        reach = max((latest[d] for d in (*data[i], *ctrl[i])), default=-1)
        if k.startswith("COLL:") and previous >= 0 and reach != previous:
            data[i] = sorted({*data[i], previous})
            reach = previous
            added += 1
        latest[i] = i if comm[i] else reach
        if comm[i]:
            previous = i
    return added


def _cross_slots(table: dict | None, own: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """The thread slots joins wait on (`own`: each join's node's slot) from the kind's {own slot: {slot: count}}
    table, pooled over the own slots where the node's is not in it; -1 (any other thread) without a table. A table
    of one slot draws nothing, so models whose joins have one possible thread draw what they drew before it."""
    out = np.full(own.size, -1, dtype=np.int64)
    if not table or not own.size:
        return out
    pooled: dict[str, int] = {}
    for t in table.values():
        for s, c in t.items():
            pooled[s] = pooled.get(s, 0) + c
    for o in np.unique(own).tolist():
        where = np.flatnonzero(own == o)
        t = table.get(str(o)) or dict(sorted(pooled.items(), key=lambda kv: int(kv[0])))
        out[where] = (int(next(iter(t))) if len(t) == 1 else sample_counts(t, where.size, rng))
    return out


def _join(i: int, d: int, slot: int, slots: list[int], members: dict[int, list[int]]) -> int:
    """The node a join of node i at distance d waits on: the nearest node at least d back on thread `slot` (the
    node's own too: a collective is written on the main thread, its recorded stream's joins say which one; -1 for
    any other thread); -1 when there is none (never a node of a thread the kind's joins did not wait on)."""
    if slot >= 0:
        thread = members.get(slot, [])
        k = bisect_right(thread, i - d) - 1
        return thread[k] if k >= 0 else -1
    j = i - d
    while j >= 0 and slots[j] == slots[i]:
        j -= 1
    return j


def _place_free(fanin: np.ndarray, group: list[str], free: dict[str, list[int]],
                rng: np.random.Generator) -> np.ndarray:
    """The kind's drawn fan-ins (one per node of the kind) with its zeros (nodes that depend on nothing) moved to where
    the corpus has them: each node weighted by the share of free nodes after the kind of the node before it (`group`:
    that kind per node, "" for a thread's first node; `free`: {kind: [free, nodes]}; an unseen kind: the kind's
    overall share; a thread's first node: 0, it depends on nothing anyway), the zeros
    split over those groups in proportion to their expected count (largest remainder, none beyond a group's
    size), at random within a group; the other values keep their drawn order."""
    zeros = int((fanin == 0).sum())
    if not zeros or zeros == fanin.size:
        return fanin
    overall = sum(z for z, _ in free.values()) / max(sum(m for _, m in free.values()), 1)
    names = sorted({g for g in group if g})
    rate = {g: (free[g][0] / free[g][1] if g in free and free[g][1] else overall) for g in names}
    members_of = {g: [j for j, x in enumerate(group) if x == g] for g in names}
    expect = np.array([rate[g] * len(members_of[g]) for g in names])
    take = np.zeros(len(names), dtype=np.int64)
    want = min(zeros, len(group) - group.count(""))
    while want > int(take.sum()) and expect.sum() > 0:  # groups filled up give the rest to the others
        room = np.array([len(members_of[g]) for g in names]) - take
        w = np.where(room > 0, expect, 0.0)
        if w.sum() <= 0:
            break
        take += np.minimum(largest_remainder(w, want - int(take.sum())), room)
    chosen = set()
    for g, t in zip(names, take.tolist()):
        if t:
            chosen.update(np.asarray(members_of[g])[rng.permutation(len(members_of[g]))[:t]].tolist())
    if len(chosen) < zeros:  # more zeros than the free places take: thread-first nodes, then the others at random
        first = [j for j, g in enumerate(group) if not g]
        others = [j for j, g in enumerate(group) if g and j not in chosen]
        rest = first + [others[k] for k in rng.permutation(len(others)).tolist()]
        chosen.update(rest[:zeros - len(chosen)])
    out = np.empty_like(fanin)
    nonzero = fanin[fanin != 0].tolist()
    it = iter(nonzero)
    for j in range(len(group)):
        out[j] = 0 if j in chosen else next(it)
    return out


def _place_up(out: list[list[int]], pending: dict[int, list[tuple[int, int]]], slots: list[int], pos: list[int],
              members: dict[int, list[int]]) -> None:
    """Resolve the dependencies given as levels up the previous node's chain of parents (each node's latest
    same-thread dependency), in node order; where the chain is shorter than the level, the distance drawn for it
    (the kind's table) places it instead, as for any other dependency."""
    parent = [-1] * len(out)
    for i in range(len(out)):
        thread = members[slots[i]]
        for u, d in pending.get(i, ()):
            a = thread[pos[i] - 1] if pos[i] else -1
            for _ in range(u):
                if a < 0:
                    break
                a = parent[a]
            if a < 0 and pos[i]:
                a = thread[pos[i] - min(d, pos[i])]
            if a >= 0 and a not in out[i]:
                out[i] = sorted([*out[i], a])
        same = [j for j in out[i] if slots[j] == slots[i]]
        parent[i] = max(same, default=-1)
