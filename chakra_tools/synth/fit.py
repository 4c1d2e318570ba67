"""`fit`: learn a chakra-synth model from one or many multi-rank Chakra traces."""

from __future__ import annotations

import json
import math
import os
from collections import Counter, defaultdict
from collections.abc import Sequence

import numpy as np

from chakra_tools.common import ToolError, dumps_json
from chakra_tools.graph import Trace
from chakra_tools.synth.arch import target_vector
from chakra_tools.synth.blocking import DEFAULT_BLOCK, attach_channel_laws, blocked_factor, channels
from chakra_tools.synth.features import NUMERIC_ATTRS, is_comm_kind, role_kind, thread_key
from chakra_tools.synth.groups import trace_roles
from chakra_tools.synth.kriging import fit_correction
from chakra_tools.synth.model import (
    FORMAT,
    VERSION,
    count_table,
    markov_counts,
    quantile_table,
    thread_positions,
)
from chakra_tools.synth.model_check import check_model
from chakra_tools.synth.ordering import position_pairs, profile
from chakra_tools.synth.programs import fit_programs, trace_programs
from chakra_tools.synth.scaling import (
    DESCRIPTORS,
    MIN_TRACES,
    descriptors,
    fit_cost,
    fit_law,
    log_descriptors,
    rank_totals,
)
from chakra_tools.synth.span import compute_span_us
from chakra_tools.synth.targets import described
from chakra_tools.synth.thread_order import barrier_counts, barrier_shares, descent_counts, descent_share

DEFAULT_ORDER = 3
DEFAULT_BINS = 64  # position bins of the kind chain (0 = a plain order-k chain)
MAX_UP = 16  # dependencies further up the previous node's chain of parents than this are told by their distance
MAX_ATOMS = 64  # a size attribute of a kind with at most this many distinct values is stored as {value: count}


def rank_features(g, roles: dict[str, str] | None = None) -> dict:
    """Per-node features of one rank in id order: kinds, durations, numeric attrs, dep distances, streams.
    `roles` (pg_name -> role tag, groups.py) puts a collective's group role into its kind."""
    nodes = sorted(g.nodes, key=lambda n: n.id)
    index = {n.id: i for i, n in enumerate(nodes)}
    attrs = g.attrs
    kinds, durations, cpu, chans = [], [], [], []
    numeric: dict[str, list] = {a: [] for a in NUMERIC_ATTRS}
    data_fanin, ctrl_fanin = [], []
    dist: dict[str, list] = {f"{f}_{w}": [] for f in ("data", "ctrl") for w in ("dist", "cross", "cross_slot", "up")}
    slots, streams = thread_slots(nodes, attrs)
    pos, members = thread_positions(slots)
    parent: dict[str, list] = {"data": [], "ctrl": []}  # per node its latest same-thread dependency, -1: none
    threaded = len(members) > 1
    waits: list[list[int]] = []  # threaded: per node the earlier nodes it waits for (data and ctrl), as indices
    chained: list[bool | None] = []  # per node: whether it waits for its thread's previous node (None: the first)
    data_lists, ctrl_lists = ([dist[f"{f}_{w}"] for w in ("dist", "cross", "cross_slot", "up")] + [parent[f]]
                              for f in ("data", "ctrl"))
    for i, n in enumerate(nodes):
        a = attrs[n.id]
        kinds.append(role_kind(n, a, roles or {}))
        durations.append(n.duration_micros)
        cpu.append(bool(a.get("is_cpu_op", False)))
        for name in NUMERIC_ATTRS:
            v = a.get(name)
            numeric[name].append(None if v is None or isinstance(v, (list, str)) else float(v))
        chans.append(channels(n.name, n.inputs.shapes) if numeric["num_ops"][-1] is not None else None)
        prev = members[slots[i]][pos[i] - 1] if pos[i] else -1  # the node before on its thread, -1: none
        si = slots[i]
        both: list[int] = []  # the earlier nodes it waits for, data and ctrl
        for deps, d_dist, d_cross, d_slot, d_up, par, fanin in (
                (n.data_deps, *data_lists, data_fanin), (n.ctrl_deps, *ctrl_lists, ctrl_fanin)):
            earlier = [index[d] for d in dict.fromkeys(deps) if d in index and index[d] < i]
            # a dependency on the same thread is a step back along that thread's chain; one on another thread
            # (a join) is measured in the rank's node order
            same = [j for j in earlier if slots[j] == si]
            if len(same) < len(earlier):
                other = [j for j in earlier if slots[j] != si]
                d_cross.append([i - j for j in other])
                d_slot.append([(si, slots[j]) for j in other])
            else:  # no join (most nodes): one shared empty tuple each
                d_cross.append(())
                d_slot.append(())
            d_dist.append([pos[i] - pos[j] for j in same])
            d_up.append([ancestor_level(par, prev, j) for j in same])
            par.append(max(same, default=-1))
            fanin.append(len(earlier))
            both += earlier
        # continues its thread's chain: a dependency one step back along its own thread
        chained.append(1 in dist["data_dist"][-1] or 1 in dist["ctrl_dist"][-1] if prev >= 0 else None)
        if threaded:
            waits.append(sorted(set(both)))
    return {"kinds": kinds, "durations": durations, "cpu": cpu, "numeric": numeric, **dist,
            "data_fanin": data_fanin, "ctrl_fanin": ctrl_fanin, "channels": chans, "threads": slots,
            "barriers": barrier_counts(kinds, slots, waits) if threaded else [0, 0, 0, 0],
            "descent": descent_counts(kinds, slots, waits, streams) if threaded else [0, 0],
            "chained": chained, "stream_slots": streams if threaded else set()}


def ancestor_level(parent: Sequence[int], prev: int, j: int) -> int:
    """How far up the previous node's chain of parents (`parent`: each node's latest dependency, -1: none) node j
    is: 0 when j is the previous node, 1 its parent (j a sibling's parent), ...; -1 when it is not on the chain
    within MAX_UP steps (a dependency told by its distance instead)."""
    a = prev
    for level in range(MAX_UP + 1):
        if a < 0:
            return -1
        if a == j:
            return level
        a = parent[a]
    return -1


def thread_slots(nodes: list, attrs: dict) -> tuple[list[int], set[int]]:
    """Per node its thread slot (features.thread_key): 0 for the thread with the most nodes, 1 for the next, ...
    (ties by tid), then the GPU streams by size. Nodes without a thread (collectives, the metadata node) belong to
    slot 0, where sample writes them. Also the slots that are GPU streams."""
    keys = [thread_key(n, attrs[n.id]) for n in nodes]
    count = Counter(k for k in keys if k is not None)
    slot = {k: i for i, (k, _) in enumerate(sorted(count.items(), key=lambda kv: (kv[0][0], -kv[1], kv[0])))}
    return [slot.get(k, 0) for k in keys], {i for k, i in slot.items() if k[0] == 1}


def _trace_values(tk: dict, name: str, has_work: bool) -> list:
    if name != "duration_us":
        return tk.get(name, [])
    return tk.get("duration_plain", []) + ([] if has_work else tk.get("duration_work", []))


MIN_WORK_NODES = 8


def work_model(pairs: list[tuple[float, float]]) -> dict | None:
    """Duration of a node that does `num_ops` FLOPs: d = overhead + num_ops x us_per_op, times a residual factor.

    Non-negative least squares on absolute errors over every (num_ops, duration) pair of the kind (a step's
    time is a sum, so the long nodes matter: weighting by relative error fitted the many short ones, and was
    worse in cross-validation, docs/chakra-synth.md), then the quantile table of log((d + 1) / (fit + 1)).
    This is what extrapolates: the FLOPs of a bigger model's matmul follow its size law, the time follows its
    FLOPs (a power law in size alone flattens where small models are overhead-bound). None with fewer than
    MIN_WORK_NODES pairs.
    """
    if len(pairs) < MIN_WORK_NODES:
        return None
    from scipy.optimize import nnls

    ops = np.array([p[0] for p in pairs], dtype=float)
    dur = np.array([p[1] for p in pairs], dtype=float)
    scale = max(float(ops.max()), 1.0)
    c, _ = nnls(np.c_[np.ones_like(ops), ops / scale], dur)
    c0, c1 = float(c[0]), float(c[1]) / scale
    resid = np.log((dur + 1.0) / (c0 + c1 * ops + 1.0))
    return {"overhead_us": float(f"{c0:.6g}"), "us_per_op": float(f"{c1:.6g}"),
            "log_residual": quantile_table(resid)}


def rank_size(g) -> dict:
    """One rank's size summary: nodes, bytes of collectives, FLOPs (sum of num_ops; scaling.rank_totals, what
    `describe` reads), compute critical path."""
    return {**rank_totals(g), "compute_us": compute_span_us(g)}  # raises a one-line ToolError on a cyclic input


def fit(prefixes: Sequence[str | os.PathLike], order: int = DEFAULT_ORDER, bins: int = DEFAULT_BINS,
        describe: Sequence[dict[str, float] | None] | None = None, channel_block: int = DEFAULT_BLOCK,
        spmd: bool = False) -> dict:
    """Fit a model (a JSON-able dict) on the traces at `prefixes` (each `<prefix>.<rank>.et`).

    `describe` gives each trace's architecture descriptors ({"width": 320, "depth": 3}); an entry that is None
    (or no `describe` at all) is read from `<prefix>.describe.json` when that exists. When every trace has them,
    the model learns the architecture laws (arch.py) too. `channel_block`: the kernel library's channel block
    (blocking.py; 0 or 1 = none): conv kinds get a work model on blocked FLOPs, their atoms channel laws.
    Traces whose ranks run different programs (pipeline stages), all with the same layout of them, get one model
    per program and their communication skeletons (programs.py) unless `spmd`, which pools all ranks into one
    program (as for traces of different layouts)."""
    if not prefixes:
        raise ToolError("fit needs at least one trace")
    descs = trace_descriptions(prefixes, describe)
    if order < 0 or order > 8:
        raise ToolError(f"--order must be between 0 and 8, got {order}")
    if bins < 0 or bins > 1024:
        raise ToolError(f"--bins must be between 0 and 1024, got {bins}")
    if channel_block < 0 or channel_block > 1024:
        raise ToolError(f"--channel-block must be between 0 and 1024, got {channel_block}")
    traces = [Trace.load(p) for p in prefixes]
    rank_feats = []  # (trace index, rank, features), ranks with nodes only
    sizes = []  # per entry of rank_feats: nodes, comm bytes, compute path
    for j, t in enumerate(traces):
        roles = trace_roles(t.comm_groups, t.num_ranks)
        for r, g in sorted(t.ranks.items()):
            if g.nodes:
                f = rank_features(g, roles)
                rank_feats.append((j, r, f))
                sizes.append(rank_size(g))
    if not rank_feats:
        raise ToolError("the input traces hold no nodes")

    def fit_ranks(idx: list[int]) -> dict:
        rank_sizes: list[list[dict]] = [[] for _ in traces]  # per trace, per rank
        for i in idx:
            rank_sizes[rank_feats[i][0]].append(sizes[i])
        return _fit_ranks(traces, [rank_feats[i] for i in idx], rank_sizes, descs, order, bins, channel_block)

    layout = trace_programs(traces, rank_feats)
    if layout is not None and not spmd:  # ranks that communicate differently (pipeline stages): a model per program
        model = fit_programs(traces, rank_feats, *layout, fit_ranks)
    else:
        model = fit_ranks(list(range(len(rank_feats))))
        if layout is not None:
            # programs pooled (--spmd): their stretches differ by program, not by rank speed (a pooled pipeline's
            # samples simulated at 0.74-1.18 of it over three seeds with them)
            model["cross_rank"]["segment_log_sd"] = 0.0
    # what sample would refuse is refused here, naming the traces (values no trace should hold: negative FLOPs,
    # durations beyond 10^18 us; run chakra-convert validate on a corpus first)
    check_model(json.loads(dumps_json(model)), f"the model of {', '.join(map(str, prefixes[:3]))}"
                + (f" (+{len(prefixes) - 3} more)" if len(prefixes) > 3 else ""))
    return model


def _fit_ranks(traces: list, rank_feats: list[tuple[int, int, dict]], rank_sizes: list[list[dict]],
               descs: list[dict[str, float]] | None, order: int, bins: int, channel_block: int) -> dict:
    """The one-program model of the given ranks (`rank_feats`: trace index, rank, features; `rank_sizes` per
    trace the same ranks' size summaries)."""
    compute_us = sum(x["compute_us"] for rs in rank_sizes for x in rs)
    kinds = sorted({k for _, _, f in rank_feats for k in f["kinds"]})
    kidx = {k: i for i, k in enumerate(kinds)}

    per_kind: dict[str, dict] = defaultdict(lambda: defaultdict(list))
    # the same values per trace, for the size laws: per_trace[trace index][kind][attribute] -> values
    per_trace: list[dict[str, dict[str, list]]] = [defaultdict(lambda: defaultdict(list)) for _ in traces]
    # per trace, kind and num_ops value: the (input, output) channel pairs of the conv nodes doing it
    conv_channels: list[dict[str, dict[float, set]]] = [defaultdict(lambda: defaultdict(set)) for _ in traces]
    threads = [max(f["threads"], default=0) + 1 for _, _, f in rank_feats]
    threaded = max(threads) > 1  # per-kind thread statistics only when some rank has more than one thread (or stream)
    for j, _r, f in rank_feats:
        tk = per_trace[j]
        pos, members = thread_positions(f["threads"])
        in_node_order: dict[tuple[str, str], list] = defaultdict(list)  # (kind, attribute): values in node order
        for i, k in enumerate(f["kinds"]):
            pk = per_kind[k]
            comm = is_comm_kind(k)
            work = f["numeric"]["num_ops"][i] is not None and not comm
            if not comm:
                tk[k]["duration_work" if work else "duration_plain"].append(f["durations"][i])
            if work:
                pk["work"].append((f["numeric"]["num_ops"][i], f["durations"][i]))
                ch = f["channels"][i]
                factor = blocked_factor(*ch, channel_block) if ch is not None else 1.0
                pk["work_blocked"].append((f["numeric"]["num_ops"][i] * factor, f["durations"][i]))
                if ch is not None:
                    conv_channels[j][k][f["numeric"]["num_ops"][i]].add(ch)
            else:
                pk["duration_plain"].append(f["durations"][i])
            pk["duration"].append(f["durations"][i])
            pk["cpu"].append(f["cpu"][i])
            if pos[i] or f["data_fanin"][i] or f["ctrl_fanin"][i]:
                # a thread's first node has nothing to depend on: that zero fan-in belongs to its place, not to its
                # kind (drawn for a node of the kind elsewhere, it would cut the thread's chain in two)
                pk["data_fanin"].append(f["data_fanin"][i])
                pk["ctrl_fanin"].append(f["ctrl_fanin"][i])
                if f["data_fanin"][i]:  # where large fan-ins come (an optimizer op that waits for every
                    # gradient comes last); the zeros have their own places (data_free_after)
                    in_node_order[k, "data_fanin"].append(f["data_fanin"][i])
            for key in ("data_dist", "ctrl_dist", "data_cross", "ctrl_cross", "data_cross_slot", "ctrl_cross_slot",
                        "data_up", "ctrl_up"):
                pk[key].extend(f[key][i])
            if threaded:  # per own thread slot: [joins, dependencies], [nodes continuing their thread's chain, nodes]
                for field in ("data", "ctrl"):
                    c = pk.setdefault(f"{field}_slot_deps", {}).setdefault(f["threads"][i], [0, 0])
                    c[0] += len(f[f"{field}_cross"][i])
                    c[1] += len(f[f"{field}_cross"][i]) + len(f[f"{field}_dist"][i])
                if f["chained"][i] is not None:
                    c = pk.setdefault("chained_slot", {}).setdefault(f["threads"][i], [0, 0])
                    c[0] += f["chained"][i]
                    c[1] += 1
            if pos[i]:  # by the kind of the node before on the thread:
                before = f["kinds"][members[f["threads"][i]][pos[i] - 1]]
                # where the kind's nodes without data dependencies stand (a pass starts after the last op of the one
                # before)
                z = pk.setdefault("data_free_after", {}).setdefault(before, [0, 0])
                z[0] += f["data_fanin"][i] == 0
                z[1] += 1
                # the levels again (a leaf is followed by a sibling, a parent by its first child, ...)
                for field in ("data", "ctrl"):
                    pk.setdefault(f"{field}_up_after", {}).setdefault(before, []).extend(
                        u for u in f[f"{field}_up"][i] if u >= 0)
            if not comm:
                pk["thread"].append(f["threads"][i])
            for name in NUMERIC_ATTRS:
                v = f["numeric"][name][i]
                if v is not None:
                    tk[k][name].append(v)
                    pk[name].append(v)
            if comm:
                if f["numeric"]["comm_size"][i] is not None:
                    in_node_order[k, "comm_size"].append(f["numeric"]["comm_size"][i])
            else:  # (duration, has FLOPs): which of them sample draws from the table depends on the work model
                in_node_order[k, "duration"].append((f["durations"][i], work))
        for (k, name), vals in in_node_order.items():
            if name == "data_fanin":
                per_kind[k]["data_fanin_order"].extend(position_pairs(vals))
            elif name == "comm_size":
                per_kind[k]["comm_size_order"].extend(position_pairs(vals))
            else:
                per_kind[k]["duration_seqs"].append(vals)

    kind_stats = {}
    for k in kinds:
        pk = per_kind[k]
        n = len(pk["duration"])
        st = {
            "count": n,
            "is_cpu_op": round(float(np.mean(pk["cpu"])), 4),
            "duration_us": quantile_table(pk["duration"]),
            "data_fanin": count_table(pk["data_fanin"]),
            "ctrl_fanin": count_table(pk["ctrl_fanin"]),
            "data_distance": quantile_table(pk["data_dist"]),
            "ctrl_distance": quantile_table(pk["ctrl_dist"]),
        }
        for field in ("data", "ctrl"):
            up = [u for u in pk.get(f"{field}_up", []) if u >= 0]
            if up:  # dependencies up the previous node's chain of parents (a call tree's siblings share a parent)
                st[f"{field}_up"] = count_table(up)
                st[f"{field}_up_fraction"] = round(len(up) / len(pk[f"{field}_up"]), 4)
                after = pk.get(f"{field}_up_after", {})
                st[f"{field}_up_after"] = {b: count_table(v) for b, v in sorted(after.items()) if v}
            cross = pk.get(f"{field}_cross", [])
            if cross:  # dependencies on another thread's nodes: their share and distances in node order
                st[f"{field}_cross_fraction"] = round(len(cross) / (len(cross) + len(pk[f"{field}_dist"])), 4)
                st[f"{field}_cross_distance"] = quantile_table(cross)
                # whose thread they wait for: a kernel's launching op, never a kernel (nothing on the host waits for
                # one in a Kineto-linked trace)
                by_slot: dict[int, list[int]] = defaultdict(list)  # {own slot: {slot waited on: count}}
                for own, other in pk[f"{field}_cross_slot"]:
                    by_slot[own].append(other)
                st[f"{field}_cross_slots"] = {str(o): count_table(v) for o, v in sorted(by_slot.items())}
                # the share differs by thread: a main-thread op rarely waits for the autograd thread, whose ops
                # mostly wait for the forward's tensors (DLRM: views 144 joins against 2544); pooled, the main
                # thread's chain is cut wherever a node's only dependency is drawn as a join
                per = {s: c for s, c in sorted(pk.get(f"{field}_slot_deps", {}).items()) if c[1]}
                if len(per) > 1:
                    st[f"{field}_cross_fraction_by_slot"] = {str(s): round(c[0] / c[1], 4) for s, c in per.items()}
        free = pk.get("data_free_after", {})
        if any(z[0] for z in free.values()):  # {kind before: [nodes without a data dependency, nodes]}
            st["data_free_after"] = {b: list(z) for b, z in sorted(free.items())}
        if threaded and pk.get("thread"):
            st["thread_slots"] = count_table(pk["thread"])
        if threaded and pk.get("chained_slot"):  # how often a node of the thread continues its thread's chain
            st["chained_by_slot"] = {str(s): round(c[0] / c[1], 4) for s, c in sorted(pk["chained_slot"].items())}
        wm = work_model(pk.get("work", []))
        if wm is not None:  # durations of the nodes that carry num_ops follow their FLOPs; the others' table
            st["work"] = wm
            st["duration_us"] = quantile_table(pk.get("duration_plain", []))
            if pk["work_blocked"] != pk["work"]:  # some nodes ran on padded layouts: time follows blocked FLOPs
                st["work_blocked"] = work_model(pk["work_blocked"])
        for name in NUMERIC_ATTRS:
            vals = pk.get(name, [])
            if vals:
                st[name] = quantile_table(vals, discrete=True)
                atoms = count_table(vals)
                if len(atoms) <= MAX_ATOMS:  # few distinct sizes (layer shapes): kept exactly, with their counts
                    st[f"{name}_atoms"] = atoms
                # share of the kind's nodes that carry it (e.g. addmm has num_ops, its parent aten::linear not)
                st.setdefault("attr_fraction", {})[name] = round(len(vals) / n, 4)
        # where in the step the kind's large and small values come (ordering.py): sizes, and durations of the nodes
        # sample draws from the kind's table (all of them, or those without FLOPs when a work model times the rest)
        has_work_model = "work" in st
        duration_pairs = [p for seq in pk.get("duration_seqs", [])
                          for p in position_pairs([d for d, work in seq if not (has_work_model and work)])]
        for name, pairs in (("comm_size", pk.get("comm_size_order", [])), ("duration_us", duration_pairs),
                            ("data_fanin", pk.get("data_fanin_order", []))):
            order_profile = profile(pairs)
            if order_profile is not None:
                st[f"{name}_order"] = order_profile
        kind_stats[k] = st

    nodes_per_rank = [len(f["kinds"]) for _, _, f in rank_feats]
    spmd, log_ratios = [], []
    by_trace: dict[int, list[dict]] = defaultdict(list)
    for j, _r, f in rank_feats:
        by_trace[j].append(f)
    for feats in by_trace.values():
        ref = feats[0]
        comp = np.array([not is_comm_kind(k) for k in ref["kinds"]])
        for f in feats[1:]:
            same = f["kinds"] == ref["kinds"]
            spmd.append(same)
            if same and comp.any():
                d0 = np.asarray(ref["durations"], dtype=float)[comp]
                dr = np.asarray(f["durations"], dtype=float)[comp]
                log_ratios.append(np.log((dr + 1) / (d0 + 1)))
    # per-node timing noise between ranks running the same op (log-ratio spread / sqrt 2: one rank's share)
    log_sd = float(np.std(np.concatenate(log_ratios)) / np.sqrt(2)) if log_ratios else 0.0
    model = {
        "format": FORMAT,
        "version": VERSION,
        "order": order,
        "position_bins": bins,
        "kinds": kinds,
        "kind_stats": kind_stats,
        "markov": markov_counts([[kidx[k] for k in f["kinds"]] for _, _, f in rank_feats], order, bins),
        "nodes_per_rank": quantile_table(nodes_per_rank, 5),
        # mean compute time per node along a rank's critical path (pooled over the corpus); sample() scales
        # each rank's drawn durations so that its compute path is nodes x this rate (moment matching)
        "compute_us_per_node": round(compute_us / max(sum(nodes_per_rank), 1), 4),
        "ranks": count_table([t.num_ranks for t in traces]),
        "threads": count_table(threads),
        "cross_rank": {"identical_kind_sequences": round(float(np.mean(spmd)), 4) if spmd else 1.0,
                       "duration_log_sd": round(log_sd, 4), "rank_log_sd": round(rank_log_sd(rank_sizes), 4),
                       "segment_log_sd": round(segment_log_sd(list(by_trace.values()), log_sd), 4),
                       **barrier_shares([f["barriers"] for _, _, f in rank_feats]),
                       **descent_share([f["descent"] for _, _, f in rank_feats])},
        "corpus": {"traces": len(traces), "ranks": len(rank_feats), "nodes": int(sum(nodes_per_rank))},
    }
    if threaded:
        model["thread_chain"] = thread_chain([f for _, _, f in rank_feats], kidx, order, bins)
        streams = set().union(*(f["stream_slots"] for _, _, f in rank_feats))
        if streams:  # sample writes these slots' GPU nodes as a `stream`, not a `tid`
            model["stream_slots"] = sorted(streams)
    if any("work_blocked" in st for st in kind_stats.values()):
        model["channel_block"] = channel_block
    scaling = fit_scaling(kind_stats, per_trace, rank_sizes)
    if scaling is not None:
        model["scaling"] = scaling
    if descs is not None and len(descs) >= MIN_TRACES and len({tuple(sorted(d.items())) for d in descs}) > 1:
        model["architecture"] = _fit_architecture(descs, per_trace, rank_feats, [len(rs) for rs in rank_sizes])
        if "channel_block" in model:
            attach_channel_laws(model["architecture"], descs, conv_channels)
        if scaling is not None:
            correction = fit_time_correction(model, descs, rank_sizes)
            if correction is not None:
                model["architecture"]["time_correction"] = correction
    return model


def thread_chain(feats: list[dict], kidx: dict[str, int], order: int, bins: int) -> dict:
    """The kind chain over (kind, thread slot) tokens, so that a thread's ops come in runs of its own kinds (a
    chain over kinds alone interleaves them: the slots drawn after it broke a 42-op prefetch block into ~7 runs).
    A comm node, which runs on no thread of its own, takes the slot of the compute node before it."""
    seqs = []
    for f in feats:
        slot, seq = 0, []
        for k, s in zip(f["kinds"], f["threads"]):
            if not is_comm_kind(k):
                slot = s
            seq.append((kidx[k], slot))
        seqs.append(seq)
    tokens = sorted({t for seq in seqs for t in seq})
    tidx = {t: i for i, t in enumerate(tokens)}
    return {"tokens": [list(t) for t in tokens],
            "markov": markov_counts([[tidx[t] for t in seq] for seq in seqs], order, bins)}


def rank_log_sd(rank_sizes: list[list[dict]]) -> float:
    """How much whole ranks differ in speed: the pooled standard deviation of log(compute path) across the ranks of
    a trace (one straggler rank sets a synchronised step's time; per-node noise averages out along a path)."""
    ss, dof = 0.0, 0
    for rs in rank_sizes:
        paths = np.array([x["compute_us"] for x in rs], dtype=float)
        if len(paths) > 1 and np.all(paths > 0):
            logs = np.log(paths)
            ss += float(((logs - logs.mean()) ** 2).sum())
            dof += len(paths) - 1
    return math.sqrt(ss / dof) if dof else 0.0


def segment_log_sd(traces: list[list[dict]], node_sd: float) -> float:
    """How much the ranks' speeds change from one stretch between communication nodes to the next, beyond each
    rank's overall speed and each node's own noise: a step in which rank A is slow before one collective and
    rank B before the next waits at both for the slower one (data-dependent embedding lookups spread a DLRM step's
    ranks this way), which one speed per rank cannot give.

    Per trace whose ranks have the same number of communication nodes: the compute time T[r, s] of rank r's
    stretch s, the residual of log T after rank and stretch means (a two-way layout), its variance weighted by
    the stretches' share of the step, less the variance each stretch gets from per-node noise (node_sd² Σd²/(Σd)²,
    what `sample` draws anyway); pooled over traces by their residual degrees of freedom."""
    num = dof = 0.0
    for feats in traces:
        if len(feats) < 2:
            continue
        totals, squares = [], []
        for f in feats:
            t, q = [0.0], [0.0]
            for k, d in zip(f["kinds"], f["durations"]):
                if is_comm_kind(k):
                    t.append(0.0)
                    q.append(0.0)
                else:
                    t[-1] += d
                    q[-1] += d * d
            totals.append(t)
            squares.append(q)
        if len({len(t) for t in totals}) != 1:
            continue
        T, Q = np.array(totals), np.array(squares)
        keep = (T > 0).all(axis=0)
        T, Q = T[:, keep], Q[:, keep]
        ranks, stretches = T.shape
        if stretches < 2:
            continue
        logs = np.log(T)
        res = logs - logs.mean(axis=0) - logs.mean(axis=1, keepdims=True) + logs.mean()
        w = T.mean(axis=0) / T.mean(axis=0).sum()
        d = (ranks - 1) * (stretches - 1)
        var = float((w * (res**2).sum(axis=0)).sum()) * stretches / d
        var -= node_sd**2 * float((w * (Q / T**2).mean(axis=0)).sum())
        num += d * var
        dof += d
    return math.sqrt(max(num / dof, 0.0)) if dof else 0.0


def mean_compute_us(ranks: list[dict]) -> float:
    """A trace's measured compute time per step: its ranks' compute critical paths, averaged (the quantity the
    cost law and the residual kriging are fitted to)."""
    return sum(x["compute_us"] for x in ranks) / len(ranks)


def fit_time_correction(model: dict, descs: list[dict[str, float]], rank_sizes: list[list[dict]]) -> dict | None:
    """The residual kriging block (kriging.py): the log error of the described time model (what `sample
    --describe` calibrates a rank's compute path to) at each training trace, over its log descriptors."""
    X, r = [], []
    for d, rs in zip(descs, rank_sizes):
        if not rs:
            continue
        try:
            _, target, _, rate = described(model, d)
        except ToolError:  # laws that give no nodes at a trace's own descriptors: nothing to correct there
            continue
        predicted = rate * target.nodes
        measured = mean_compute_us(rs)
        if predicted > 0 and measured > 0:
            X.append(np.log(target_vector(model["architecture"], d)))  # the vector `described` corrects at
            r.append(math.log(measured / predicted))
    return fit_correction(np.array(X), np.array(r)) if r else None


def trace_descriptions(prefixes: Sequence, describe: Sequence | None) -> list[dict[str, float]] | None:
    """Each trace's architecture descriptors (given, else its sidecar), or None when no trace has any.

    Either every trace has them, with the same names, or none does (a one-line error names the trace)."""
    from chakra_tools.synth.arch import check_descriptors, read_sidecar

    if describe is not None and len(describe) != len(prefixes):
        raise ToolError(f"--describe: {len(describe)} descriptions for {len(prefixes)} traces")
    given = list(describe) if describe is not None else [None] * len(prefixes)
    descs = [check_descriptors(d, f"--describe {p}") if d is not None else read_sidecar(p)
             for p, d in zip(prefixes, given)]
    if all(d is None for d in descs):
        return None
    for p, d in zip(prefixes, descs):
        if d is None:
            raise ToolError(f"{p}: no architecture descriptors ({p}.describe.json or --describe {p}=NAME:VALUE,...) "
                            "while other traces have them")
    # the odd one out is the trace whose names most others do not share
    sets = [tuple(sorted(d)) for d in descs]
    common = max(set(sets), key=lambda s: (sets.count(s), s))
    for p, s in zip(prefixes, sets):
        if s != common:
            raise ToolError(f"{p}: descriptors {', '.join(s)} differ from the other traces' ({', '.join(common)})")
    return descs


def _fit_architecture(descs: list[dict], per_trace: list[dict], rank_feats: list, ranks: list[int]) -> dict:
    """Per trace: nodes per rank of every kind and {value: nodes per rank} of every (kind, attribute).
    `ranks`: per trace, its ranks with nodes (those `rank_feats` holds)."""
    from chakra_tools.synth.arch import fit_architecture

    kind_counts: list[Counter] = [Counter() for _ in ranks]
    for j, _r, f in rank_feats:
        kind_counts[j].update(f["kinds"])
    atoms = []
    for j, tk in enumerate(per_trace):
        r = max(ranks[j], 1)
        atoms.append({k: {a: {float(v): c / r for v, c in Counter(tk[k][a]).items()} for a in NUMERIC_ATTRS
                          if tk[k].get(a)} for k in tk})
    counts = [{k: c / max(ranks[j], 1) for k, c in kc.items()} for j, kc in enumerate(kind_counts)]
    return fit_architecture(descs, counts, atoms, [max(r, 1) for r in ranks])


def fit_scaling(kind_stats: dict, per_trace: list[dict], rank_sizes: list[list[dict]]) -> dict | None:
    """Size laws (see scaling.py): per kind and attribute, the quantile table as a power law of the trace's
    size descriptors; the step's compute time as an additive cost model; FLOPs and nodes vs parameter bytes
    (the defaults when only --param-bytes is given).

    None (no conditioning) with fewer than MIN_TRACES traces, a trace without collectives or without FLOPs, or
    traces that all have the same size (a descriptor without spread just gets slope 0).
    """
    keep = [j for j, rs in enumerate(rank_sizes) if rs]
    desc = [descriptors(rank_sizes[j]) for j in keep]
    if len(keep) < MIN_TRACES or any(d["param_bytes"] <= 0 or d["flops"] <= 0 for d in desc):
        return None
    X = log_descriptors(desc)
    if np.ptp(X, axis=0).max() < 1e-6:  # all traces the same size: nothing to scale with
        return None
    center = X.mean(axis=0)
    laws: dict[str, dict] = {}
    for k, st in kind_stats.items():
        kl = {}
        for name in ("duration_us", *NUMERIC_ATTRS):
            if name not in st or (name == "duration_us" and not st[name]):
                continue
            rows = [(i, _trace_values(per_trace[j].get(k, {}), name, "work" in st)) for i, j in enumerate(keep)]
            rows = [(i, v) for i, v in rows if v]
            if rows:
                idx = [i for i, _ in rows]
                kl[name] = fit_law([quantile_table(v) for _, v in rows], X[idx], [len(v) for _, v in rows], center)
        if kl:
            laws[k] = kl
    compute = [mean_compute_us(rank_sizes[j]) for j in keep]
    ones = [1.0] * len(keep)
    return {
        "descriptors": list(DESCRIPTORS),
        "center": [round(float(c), 5) for c in center],
        "range": [[float(f"{np.exp(lo):.4g}"), float(f"{np.exp(hi):.4g}")]
                  for lo, hi in zip(X.min(axis=0), X.max(axis=0))],
        "traces": len(keep),
        "compute_cost": fit_cost(desc, compute),
        "flops_law": fit_law([[d["flops"]] for d in desc], X[:, :1], ones, center[:1]),
        "nodes_law": fit_law([[d["nodes"]] for d in desc], X[:, :1], ones, center[:1]),
        "kind_laws": laws,
    }
