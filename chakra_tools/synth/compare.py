"""`compare`: fidelity and obfuscation report between two multi-rank traces A (original) and B (synthetic)."""

from __future__ import annotations

import itertools
import os
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np

from chakra_tools.common import ToolError
from chakra_tools.et import NodeType
from chakra_tools.graph import RankGraph, Trace
from chakra_tools.synth.distances import ks_statistic, wasserstein
from chakra_tools.synth.features import COMM_NODE_TYPES, NUMERIC_ATTRS, role_kind, thread_key
from chakra_tools.synth.groups import trace_roles
from chakra_tools.synth.span import compute_span, points_back, rank_arrays

ATTRIBUTES = ("duration_micros", *NUMERIC_ATTRS)


_COMM = COMM_NODE_TYPES


def trace_values(t: Trace) -> dict[str, np.ndarray]:
    """Attribute samples pooled over ranks. duration_micros: compute/memory nodes only (a simulator times
    communication from sizes and the network, so recorded comm durations never reach the simulated time)."""
    out: dict[str, list] = {a: [] for a in ATTRIBUTES}
    for g in t.ranks.values():
        attrs = g.attrs
        for n in g.nodes:
            if n.type == NodeType.METADATA_NODE:
                continue
            if n.type not in _COMM:
                out["duration_micros"].append(n.duration_micros)
            a = attrs[n.id]
            for name in NUMERIC_ATTRS:
                v = a.get(name)
                if isinstance(v, (int, float)) and not isinstance(v, bool):
                    out[name].append(v)
    return {k: np.asarray(v, dtype=float) for k, v in out.items()}


def _kind_sequences(t: Trace) -> list[list[str]]:
    """Per rank its node kinds in id order, collectives with their process-group role (groups.py)."""
    roles = trace_roles(t.comm_groups, t.num_ranks)
    return [[role_kind(n, g.attrs[n.id], roles) for n in sorted(g.nodes, key=lambda n: n.id)]
            for _, g in sorted(t.ranks.items())]


def _value_sequences(t: Trace) -> list[list[tuple]]:
    """Per node, its kind and every numeric value (duration, sizes): what a leak would copy verbatim."""
    out = []
    for _, g in sorted(t.ranks.items()):
        seq = []
        for n in sorted(g.nodes, key=lambda n: n.id):
            a = g.attrs[n.id]
            seq.append((n.type, n.duration_micros, *(a.get(k) for k in NUMERIC_ATTRS)))
        out.append(seq)
    return out


_HASH_BASE = 0x9E3779B97F4A7C15  # odd 64-bit constant; window hashes are polynomials in it, mod 2**64
_MASK = (1 << 64) - 1


def _prefix_hashes(codes: list[int]) -> np.ndarray:
    out = np.zeros(len(codes) + 1, dtype=np.uint64)
    h = 0
    for i, c in enumerate(codes):
        h = (h * _HASH_BASE + c + 1) & _MASK
        out[i + 1] = h
    return out


def longest_shared_run(a: list[list], b: list[list]) -> int:
    """Length of the longest contiguous run of items that occurs verbatim in some sequence of `a` and of `b`.

    Binary search on the length; at each length the windows of both sides are compared by 64-bit polynomial
    rolling hashes (numpy, O(n) per length), so the whole search is O((|a|+|b|) log n).
    """
    codes: dict = {}
    pa = [_prefix_hashes([codes.setdefault(x, len(codes)) for x in s]) for s in a]
    pb = [_prefix_hashes([codes.setdefault(x, len(codes)) for x in s]) for s in b]

    def windows(prefixes: list[np.ndarray], L: int) -> np.ndarray:
        shift = np.uint64(pow(_HASH_BASE, L, 1 << 64))
        parts = [p[L:] - p[:-L] * shift for p in prefixes if len(p) > L]
        return np.unique(np.concatenate(parts)) if parts else np.zeros(0, dtype=np.uint64)

    lo, hi = 0, min(max((len(p) - 1 for p in pa), default=0), max((len(p) - 1 for p in pb), default=0))
    with np.errstate(over="ignore"):
        while lo < hi:
            mid = (lo + hi + 1) // 2
            if np.intersect1d(windows(pa, mid), windows(pb, mid), assume_unique=True).size:
                lo = mid
            else:
                hi = mid - 1
    return lo


def largest_atom(x: np.ndarray) -> float:
    """Largest share of the values that are equal to one value. Where B puts no mass exactly on that value,
    KS(A, B) >= atom / 2 (the CDF of A jumps by `atom` there, B's does not): a floor for any generator that does
    not reproduce A's exact sizes."""
    if not x.size:
        return 0.0
    return float(np.unique(x, return_counts=True)[1].max() / x.size)


@dataclass
class RankWalk:
    """One rank's dependency graph, walked once: what graph_stats, graph_ks and the per-program rows need."""

    critical_us: int       # longest chain of durations
    compute_us: int        # the same with communication nodes taking 0 (what a simulator replays)
    span_us: int           # compute_us with each lane's nodes one at a time (span.py; astra-run's compute time)
    fan_in: list[int]      # per node in id order: its dependencies on nodes of the rank
    fan_out: np.ndarray    # per node in id order: the nodes of the rank that depend on it
    distance: list[int]    # per such dependency: how far back in id order it reaches
    edges: int             # dependencies, dangling ones (ids the rank lacks) included
    max_fan_out: int       # the most dependents of one id, dangling ids included
    branches: int          # ids with more than one dependent
    between_us: int = 0    # compute time between two communication nodes (id order; comm_ordered)
    after_us: int = 0      # of it, the nodes that descend from the communication node before them
    before_us: int = 0     # of it, the nodes that are ancestors of the communication node after them


def comm_ordered(deps: list[list[int]], comm: list[bool], comp: list[int],
                 order: list[int] | None = None) -> tuple[int, int, int]:
    """How far a rank's communication nodes order its compute: (the compute time of the nodes that lie between two
    communication nodes in id order, of it the time of those that descend from the one before them, of those that
    are ancestors of the one after). A thread's chain makes both the whole time; in a recorded multi-threaded GPU
    step they still are (the collectives are barriers, and a rank slow in one stretch keeps the others waiting
    there); work that runs alongside a collective waits for nothing. `order`: a topological order of the indices,
    None when every dependency points to a lower index; then a node's latest communication ancestor and earliest
    communication descendant decide (one pass each way), else each node's communication ancestors and descendants
    as bit sets (a pass each way, a word per 64 communication nodes)."""
    stretch = list(itertools.accumulate(comm))  # per node: the communication nodes up to and including it
    total = stretch[-1] if stretch else 0
    if not total:
        return 0, 0, 0
    children: list[list[int]] = [[] for _ in deps]
    for i, ds in enumerate(deps):
        for j in ds:
            children[j].append(i)
    if order is None:
        latest = [0] * len(deps)  # per node: the latest communication node (its stretch number) among its ancestors
        for i, ds in enumerate(deps):
            latest[i] = max((stretch[j] if comm[j] else latest[j] for j in ds), default=0)
        earliest = [total + 1] * len(deps)  # the earliest among its descendants
        for i in reversed(range(len(deps))):
            earliest[i] = min((stretch[j] if comm[j] else earliest[j] for j in children[i]), default=total + 1)
        after_of = [latest[i] == stretch[i] for i in range(len(deps))]
        before_of = [earliest[i] == stretch[i] + 1 for i in range(len(deps))]
    else:  # bit k - 1: communication node k (its stretch number)
        up, down = [0] * len(deps), [0] * len(deps)
        for i in order:
            for j in deps[i]:
                up[i] |= up[j] | (1 << (stretch[j] - 1) if comm[j] else 0)
        for i in reversed(order):
            for j in children[i]:
                down[i] |= down[j] | (1 << (stretch[j] - 1) if comm[j] else 0)
        after_of = [stretch[i] > 0 and bool(up[i] >> (stretch[i] - 1) & 1) for i in range(len(deps))]
        before_of = [bool(down[i] >> stretch[i] & 1) for i in range(len(deps))]
    between = after = before = 0
    for i, c in enumerate(comp):
        if comm[i] or not c or stretch[i] in (0, total):
            continue
        between += c
        after += c if after_of[i] else 0
        before += c if before_of[i] else 0
    return between, after, before


def walk_rank(g: RankGraph) -> RankWalk:
    nodes, raw, deps, span_dur, lane = rank_arrays(g)  # one-line errors for duplicate ids
    back = points_back(deps)
    if back:
        order: Iterable[int] = range(len(nodes))
    else:  # ids out of dependency order: the graph's own issue order (one-line error on a cycle)
        index = {n.id: i for i, n in enumerate(nodes)}
        order = [index[i] for i in g.issue_order()]
    dur = [n.duration_micros for n in nodes]
    comp = [0 if n.type in _COMM else d for n, d in zip(nodes, dur)]
    finish, finish_c = [0] * len(nodes), [0] * len(nodes)
    for i in order:
        ds = deps[i]
        finish[i] = max((finish[j] for j in ds), default=0) + dur[i]
        finish_c[i] = max((finish_c[j] for j in ds), default=0) + comp[i]
    fan_out = np.bincount(np.fromiter((j for ds in deps for j in ds), dtype=np.int64), minlength=len(nodes))
    every = Counter(d for ds in raw for d in ds)
    return RankWalk(max(finish, default=0), max(finish_c, default=0), int(compute_span(deps, span_dur, lane)),
                    [len(ds) for ds in deps], fan_out, [i - j for i, ds in enumerate(deps) for j in ds],
                    sum(every.values()), max(every.values(), default=0), sum(1 for v in every.values() if v > 1),
                    *comm_ordered(deps, [n.type in _COMM for n in nodes], comp, None if back else list(order)))


def walk(t: Trace) -> dict[int, RankWalk]:
    return {r: walk_rank(g) for r, g in t.ranks.items()}


def graph_stats(t: Trace, walks: dict[int, RankWalk] | None = None) -> dict:
    """Trace-wide graph figures (`walks`: walk(t), computed here when not given)."""
    walks = walk(t) if walks is None else walks
    nodes = edges = colls = p2p = 0
    comm_bytes = 0
    threads, off_main, with_tid, runs = 0, 0, 0, 0
    for g in t.ranks.values():
        nodes += len(g.nodes)
        # threads as fit keys them: a kernel with a stream is its stream's, not its launcher's (features.thread_key)
        keys = (thread_key(n, g.attrs[n.id]) for n in sorted(g.nodes, key=lambda n: n.id))
        seq = [k[1] for k in keys if k is not None and k[0] == 0]
        runs += sum(1 for i, v in enumerate(seq) if i == 0 or v != seq[i - 1])
        tids = Counter(seq)
        threads += len(tids)
        with_tid += sum(tids.values())
        off_main += sum(tids.values()) - max(tids.values(), default=0)
        for n in g.nodes:
            if n.type == NodeType.COMM_COLL_NODE:
                colls += 1
                comm_bytes += int(g.attrs[n.id].get("comm_size", 0) or 0)
            elif n.type in (NodeType.COMM_SEND_NODE, NodeType.COMM_RECV_NODE):
                p2p += 1
    ws = list(walks.values())
    edges = sum(w.edges for w in ws)
    comp = [w.compute_us for w in ws]
    r = max(t.num_ranks, 1)
    return {"ranks": t.num_ranks, "nodes_per_rank": nodes / r, "mean_fan_in": edges / max(nodes, 1),
            "max_fan_out": max((w.max_fan_out for w in ws), default=0),
            "branch_fraction": sum(w.branches for w in ws) / max(nodes, 1),
            "collectives_per_rank": colls / r, "p2p_per_rank": p2p / r, "comm_bytes_per_rank": comm_bytes / r,
            "critical_path_us": max((w.critical_us for w in ws), default=0), "compute_path_us": max(comp, default=0),
            "compute_span_us": max((w.span_us for w in ws), default=0),
            # slowest over fastest rank's compute path: the straggler a synchronised step waits for
            "compute_path_spread": round(max(comp) / min(comp), 6) if comp and min(comp) > 0 else None,
            # the nodes' tid attribute: threads per rank, and the share of nodes off each rank's main thread
            "threads_per_rank": threads / r, "off_main_thread_fraction": off_main / max(with_tid, 1),
            # nodes with a tid per run of one thread's nodes in id order (1 node per run = threads interleave)
            "thread_run_length": with_tid / max(runs, 1),
            # the compute time between two communication nodes that runs after the one before it / before the one
            # after it in the dependency graph (comm_ordered; None without such time)
            **_ordered_shares(ws)}


def _ordered_shares(ws: list[RankWalk]) -> dict[str, float | None]:
    between = sum(w.between_us for w in ws)
    return {"comm_ordered_after": round(sum(w.after_us for w in ws) / between, 6) if between else None,
            "comm_ordered_before": round(sum(w.before_us for w in ws) / between, 6) if between else None}


def structure_values(walks: dict[int, RankWalk]) -> dict[str, np.ndarray]:
    """The dependency graph's per-node figures over all ranks: fan-in, fan-out (how many later nodes depend on it)
    and each dependency's distance in node order (how far back it reaches)."""
    ws = list(walks.values())
    return {"fan_in": np.array([v for w in ws for v in w.fan_in], dtype=np.int64),
            "fan_out": np.concatenate([w.fan_out for w in ws]) if ws else np.zeros(0, dtype=np.int64),
            "dep_distance": np.array([v for w in ws for v in w.distance], dtype=np.int64)}


def collective_groups(t: Trace) -> dict[str, dict]:
    """Per process-group role ("world" for the whole world; groups.py) the collectives per rank, their bytes per
    rank, the groups they ran on (member lists) and their sizes (for per-role distances)."""
    roles = trace_roles(t.comm_groups, t.num_ranks)
    out: dict[str, dict] = {}
    for g in t.ranks.values():
        for n in g.nodes:
            if n.type != NodeType.COMM_COLL_NODE:
                continue
            a = g.attrs[n.id]
            pg = str(a.get("pg_name", "") or "")
            e = out.setdefault(roles.get(pg, "") or "world", {"count": 0, "sizes": [], "groups": set()})
            e["count"] += 1
            e["sizes"].append(float(a.get("comm_size", 0) or 0))
            e["groups"].add(tuple(t.group_members(pg)))
    r = max(t.num_ranks, 1)
    return {role: {"collectives_per_rank": e["count"] / r, "bytes_per_rank": sum(e["sizes"]) / r,
                   "groups": sorted(list(m) for m in e["groups"]), "sizes": np.asarray(e["sizes"])}
            for role, e in sorted(out.items())}


def _group_report(ta: Trace, tb: Trace) -> dict:
    """Per role of either trace: A's and B's collectives per rank, bytes per rank and groups, and the KS distance
    of their sizes (what `kind_mix` and the pooled comm_size KS cannot tell apart: which group a size runs on)."""
    ga, gb = collective_groups(ta), collective_groups(tb)
    out = {}
    for role in sorted(set(ga) | set(gb)):
        a, b = ga.get(role), gb.get(role)
        entry = {side: {k: v for k, v in x.items() if k != "sizes"} if x else None for side, x in (("a", a), ("b", b))}
        entry["comm_size_ks"] = round(ks_statistic(a["sizes"], b["sizes"]), 6) if a and b else 1.0
        out[role] = entry
    return out


def rank_programs(t: Trace, kinds: list[list[str]]) -> list[list[int]]:
    """The ranks of a trace grouped by program, as `fit` groups them (programs.py: ranks whose collectives and
    sends/receives come in the same order, peers as offsets modulo the world); `kinds`: _kind_sequences(t)."""
    from chakra_tools.synth.programs import comm_signature, program_classes, skeleton

    ranks = sorted(t.ranks)
    classes = program_classes([comm_signature(skeleton(t.ranks[r], k, r), t.num_ranks)
                               for r, k in zip(ranks, kinds)])
    return [[r for r, c in zip(ranks, classes) if c == p] for p in range(max(classes, default=-1) + 1)]


def _program_stats(t: Trace, ranks: list[int], paths: dict[int, float]) -> dict:
    gs = [t.ranks[r] for r in ranks]
    count = len(gs)
    comm = [sum(1 for n in g.nodes if n.type == NodeType.COMM_COLL_NODE) for g in gs]
    p2p = [sum(1 for n in g.nodes if n.type in (NodeType.COMM_SEND_NODE, NodeType.COMM_RECV_NODE)) for g in gs]
    return {"ranks": ranks, "nodes_per_rank": sum(len(g.nodes) for g in gs) / count,
            "collectives_per_rank": sum(comm) / count, "p2p_per_rank": sum(p2p) / count,
            "compute_path_us": max(paths[r] for r in ranks)}


def _program_report(ta: Trace, tb: Trace, ka: list[list[str]], kb: list[list[str]], paths_a: dict[int, float],
                    paths_b: dict[int, float]) -> list[dict] | None:
    """Per program of A (pipeline stages; None for a one-program A): its ranks' nodes, collectives, p2p and
    slowest compute path, next to B's program of the same order (None where B has another number of programs):
    what the trace-wide means of `graph` average away."""
    pa = rank_programs(ta, ka)
    if len(pa) < 2:
        return None
    pb = rank_programs(tb, kb)
    return [{"a": _program_stats(ta, ra, paths_a),
             "b": _program_stats(tb, rb, paths_b) if len(pb) == len(pa) else None}
            for ra, rb in zip(pa, pb if len(pb) == len(pa) else [None] * len(pa))]


def _simulate(prefix: str, system: str, network: str) -> tuple[int, dict[int, float]]:
    """astra-run's simulated step time (ns) and, per rank, the share of it the rank does not compute (waiting for
    its collectives, its peers' sends, a pipeline's bubble)."""
    try:
        from astrasim_py import simulate
    except ImportError as e:
        raise ToolError(f"astra-run's Python API (astrasim_py.simulate) is not available: {e}") from None
    res = simulate(prefix, system, network)
    t = int(res.sim_time_ns)
    # busy = compute on the GPU lane plus the CPU ops (the recorded traces are CPU ops), each lane one op at a time
    return t, {r.rank: round(max(t - r.compute_ns - r.cpu_ns, 0) / t, 6) if t else 0.0 for r in res.ranks}


def _idle(shares: dict[int, float], ranks: list[int] | None = None) -> float:
    vals = [shares[r] for r in (ranks if ranks is not None else shares) if r in shares]
    return round(float(np.mean(vals)), 6) if vals else 0.0


def _graph_ks(a: dict[str, np.ndarray], b: dict[str, np.ndarray]) -> dict[str, float | None]:
    return {k: round(ks_statistic(a[k], b[k]), 6) if a[k].size and b[k].size else None for k in a}


def compare(a: str | os.PathLike, b: str | os.PathLike, system: str | None = None,
            network: str | None = None) -> dict:
    """Report (without provenance): per-attribute KS/Wasserstein, kind mix, graph stats, obfuscation, sim times."""
    if (system is None) != (network is None):
        raise ToolError("--system and --network go together")
    ta, tb = Trace.load(a), Trace.load(b)
    va, vb = trace_values(ta), trace_values(tb)
    attrs = {}
    for name in ATTRIBUTES:
        x, y = va[name], vb[name]
        if x.size and y.size:
            attrs[name] = {"ks": round(ks_statistic(x, y), 6),
                           "wasserstein": round(wasserstein(x, y), 6),
                           # the same in decades: 0.01 = values typically 2.3 % apart (scale-free, where KS
                           # counts an atom 3 % off as a full miss)
                           "wasserstein_log10": round(wasserstein(np.log10(1 + np.maximum(x, 0)),
                                                                     np.log10(1 + np.maximum(y, 0))), 6),
                           "mean_a": round(float(x.mean()), 6), "mean_b": round(float(y.mean()), 6),
                           "n_a": int(x.size), "n_b": int(y.size), "atom_a": round(largest_atom(x), 6)}
        elif x.size or y.size:
            attrs[name] = {"ks": 1.0, "wasserstein": None, "n_a": int(x.size), "n_b": int(y.size)}
    ks_max = max((v["ks"] for v in attrs.values()), default=0.0)
    ka, kb = _kind_sequences(ta), _kind_sequences(tb)
    ca, cb = Counter(k for s in ka for k in s), Counter(k for s in kb for k in s)
    na, nb = max(sum(ca.values()), 1), max(sum(cb.values()), 1)
    mix = {k: {"a": round(ca[k] / na, 6), "b": round(cb[k] / nb, 6)} for k in sorted(set(ca) | set(cb))}
    tv = 0.5 * sum(abs(v["a"] - v["b"]) for v in mix.values())
    wa, wb = walk(ta), walk(tb)
    ga, gb = graph_stats(ta, wa), graph_stats(tb, wb)
    paths_a, paths_b = ({r: w.compute_us for r, w in x.items()} for x in (wa, wb))
    report = {
        "a": str(a), "b": str(b),
        "ks_max": ks_max,
        "attributes": attrs,
        "kind_mix_tv": round(tv, 6),
        "kind_mix": mix,
        "graph": {"a": ga, "b": gb},
        # the dependency structure's distributions, KS A vs B (not in ks_max, which is the node attributes')
        "graph_ks": _graph_ks(structure_values(wa), structure_values(wb)),
        "groups": _group_report(ta, tb),
        "programs": _program_report(ta, tb, ka, kb, paths_a, paths_b),
        "critical_path_ratio": round(gb["critical_path_us"] / ga["critical_path_us"], 6)
        if ga["critical_path_us"] else None,
        "compute_path_ratio": round(gb["compute_path_us"] / ga["compute_path_us"], 6)
        if ga["compute_path_us"] else None,
        # with each lane's nodes one at a time (span.py): what astra-run's compute takes, comm left out
        "compute_span_ratio": round(gb["compute_span_us"] / ga["compute_span_us"], 6)
        if ga["compute_span_us"] else None,
        "obfuscation": {"longest_shared_kind_run": longest_shared_run(ka, kb),
                        "longest_shared_value_run": longest_shared_run(_value_sequences(ta),
                                                                       _value_sequences(tb)),
                        "nodes_per_rank_a": ga["nodes_per_rank"]},
    }
    if system is not None:
        (sa, idle_a), (sb, idle_b) = _simulate(str(a), system, network), _simulate(str(b), system, network)
        report["sim_time_ns_a"] = sa
        report["sim_time_ns_b"] = sb
        report["sim_time_ratio"] = round(sb / sa, 6) if sa else None
        report["sim_idle_share_a"], report["sim_idle_share_b"] = _idle(idle_a), _idle(idle_b)
        for e in report["programs"] or ():
            e["a"]["sim_idle_share"] = _idle(idle_a, e["a"]["ranks"])
            if e["b"] is not None:
                e["b"]["sim_idle_share"] = _idle(idle_b, e["b"]["ranks"])
    return report
