"""`fit`: learn a chakra-synth model from one or many multi-rank Chakra traces."""

from __future__ import annotations

import os
from collections import defaultdict
from collections.abc import Sequence

import numpy as np

from chakra_tools.common import ToolError
from chakra_tools.graph import Trace
from chakra_tools.synth.features import NUMERIC_ATTRS, compute_path_us, node_kind
from chakra_tools.synth.model import FORMAT, VERSION, count_table, markov_counts, quantile_table

DEFAULT_ORDER = 2


def rank_features(g) -> dict:
    """Per-node features of one rank in id order: kinds, durations, numeric attrs, dep distances, streams."""
    nodes = sorted(g.nodes, key=lambda n: n.id)
    index = {n.id: i for i, n in enumerate(nodes)}
    attrs = g.attrs
    kinds, durations, cpu = [], [], []
    numeric: dict[str, list] = {a: [] for a in NUMERIC_ATTRS}
    data_dist, ctrl_dist, data_fanin, ctrl_fanin, pg_sizes = [], [], [], [], []
    for i, n in enumerate(nodes):
        a = attrs[n.id]
        kinds.append(node_kind(n, a))
        durations.append(n.duration_micros)
        cpu.append(bool(a.get("is_cpu_op", False)))
        for name in NUMERIC_ATTRS:
            v = a.get(name)
            numeric[name].append(None if v is None or isinstance(v, (list, str)) else float(v))
        dd = [i - index[d] for d in dict.fromkeys(n.data_deps) if d in index and index[d] < i]
        cd = [i - index[d] for d in dict.fromkeys(n.ctrl_deps) if d in index and index[d] < i]
        data_dist.append(dd)
        ctrl_dist.append(cd)
        data_fanin.append(len(dd))
        ctrl_fanin.append(len(cd))
        pg_sizes.append(str(a.get("pg_name", "") or ""))
    return {"kinds": kinds, "durations": durations, "cpu": cpu, "numeric": numeric, "data_dist": data_dist,
            "ctrl_dist": ctrl_dist, "data_fanin": data_fanin, "ctrl_fanin": ctrl_fanin, "pg": pg_sizes}


def fit(prefixes: Sequence[str | os.PathLike], order: int = DEFAULT_ORDER) -> dict:
    """Fit a model (a JSON-able dict) on the traces at `prefixes` (each `<prefix>.<rank>.et`)."""
    if not prefixes:
        raise ToolError("fit needs at least one trace")
    if order < 0 or order > 8:
        raise ToolError(f"--order must be between 0 and 8, got {order}")
    traces = [Trace.load(p) for p in prefixes]
    rank_feats = []  # (trace, rank, features)
    compute_us = 0
    for t in traces:
        for r, g in sorted(t.ranks.items()):
            if g.nodes:
                compute_us += compute_path_us(g)  # raises a one-line ToolError on a cyclic input
                rank_feats.append((t, r, rank_features(g)))
    if not rank_feats:
        raise ToolError("the input traces hold no nodes")
    kinds = sorted({k for _, _, f in rank_feats for k in f["kinds"]})
    kidx = {k: i for i, k in enumerate(kinds)}

    per_kind: dict[str, dict] = defaultdict(lambda: defaultdict(list))
    for t, _r, f in rank_feats:
        for i, k in enumerate(f["kinds"]):
            pk = per_kind[k]
            pk["duration"].append(f["durations"][i])
            pk["cpu"].append(f["cpu"][i])
            pk["data_fanin"].append(f["data_fanin"][i])
            pk["ctrl_fanin"].append(f["ctrl_fanin"][i])
            pk["data_dist"].extend(f["data_dist"][i])
            pk["ctrl_dist"].extend(f["ctrl_dist"][i])
            for name in NUMERIC_ATTRS:
                v = f["numeric"][name][i]
                if v is not None:
                    pk[name].append(v)
            if k.startswith("COLL:"):
                pg = f["pg"][i]
                members = len(t.group_members(pg)) if pg not in ("", "0") else t.num_ranks
                pk["group_fraction"].append(members / max(t.num_ranks, 1))

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
        for name in NUMERIC_ATTRS:
            vals = pk.get(name, [])
            if len(vals) * 2 >= n and vals:  # the attribute is typical of this kind
                st[name] = quantile_table(vals)
        if pk.get("group_fraction"):
            st["group_fraction"] = quantile_table(pk["group_fraction"], 5)
        kind_stats[k] = st

    nodes_per_rank = [len(f["kinds"]) for _, _, f in rank_feats]
    spmd, log_ratios = [], []
    by_trace: dict[int, list[dict]] = defaultdict(list)
    for t, _r, f in rank_feats:
        by_trace[id(t)].append(f)
    for feats in by_trace.values():
        ref = feats[0]
        comp = np.array([not (k.startswith("COLL:") or k in ("SEND", "RECV")) for k in ref["kinds"]])
        for f in feats[1:]:
            same = f["kinds"] == ref["kinds"]
            spmd.append(same)
            if same and comp.any():
                d0 = np.asarray(ref["durations"], dtype=float)[comp]
                dr = np.asarray(f["durations"], dtype=float)[comp]
                log_ratios.append(np.log((dr + 1) / (d0 + 1)))
    # per-node timing noise between ranks running the same op (log-ratio spread / sqrt 2: one rank's share)
    log_sd = float(np.std(np.concatenate(log_ratios)) / np.sqrt(2)) if log_ratios else 0.0
    return {
        "format": FORMAT,
        "version": VERSION,
        "order": order,
        "kinds": kinds,
        "kind_stats": kind_stats,
        "markov": markov_counts([[kidx[k] for k in f["kinds"]] for _, _, f in rank_feats], order),
        "nodes_per_rank": quantile_table(nodes_per_rank, 5),
        # mean compute time per node along a rank's critical path (pooled over the corpus); sample() scales
        # each rank's drawn durations so that its compute path is nodes x this rate (moment matching)
        "compute_us_per_node": round(compute_us / max(sum(nodes_per_rank), 1), 4),
        "ranks": count_table([t.num_ranks for t in traces]),
        "cross_rank": {"identical_kind_sequences": round(float(np.mean(spmd)), 4) if spmd else 1.0,
                       "duration_log_sd": round(log_sd, 4)},
        "corpus": {"traces": len(traces), "ranks": len(rank_feats), "nodes": int(sum(nodes_per_rank))},
    }
