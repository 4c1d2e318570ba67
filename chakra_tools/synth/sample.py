"""`sample`: synthesize a multi-rank Chakra trace from a fitted model, valid by construction.

Construction (why it is valid):
- one "program" (kind sequence, dependencies, collective sizes and groups, p2p pairs) is drawn once and
  shared by every rank (SPMD), so collectives appear in the same order, type and size on every member rank;
- every dependency points to an earlier node (distance >= 1), so the graph is acyclic; ids are 0..M-1;
- p2p kinds are paired in program order: the earlier of a pair is a send to rank r+1, the later the recv
  from rank r-1 with the same tag and size, so every send has its recv and a ring of them cannot deadlock;
- durations, num_ops and tensor_size are drawn once per node (the same op does the same work on every rank);
  each rank then multiplies durations by its own log-normal timing noise (the spread measured between ranks
  of the corpus), drawn from a seed derived from (seed, rank), so the same seed gives the same bytes;
- each rank's compute durations are then scaled so that its compute critical path equals
  nodes x the corpus's compute time per node (x --scale-compute): the sampled trace matches the corpus's
  mean rate exactly instead of up to the sampling noise of a few long ops.
A model of several programs (pipeline stages) is sampled program by program with each one's recorded
communication (programs.py); the rank files of both are written by write_ranks.
"""

from __future__ import annotations

import json
import math
import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from chakra_tools.common import ToolError, atomic_group
from chakra_tools.et import (
    ETWriter,
    NodeType,
    check_no_stale_outputs,
    encode_varint,
    groups_path,
    make_attr,
    rank_path,
)
from chakra_tools.schema import et_def_pb2 as pb
from chakra_tools.synth.dependencies import draw_dependencies, order_collectives
from chakra_tools.synth.features import COMPUTE_HEADS, comm_type_of, is_comm_kind, node_type_of
from chakra_tools.synth.groups import kind_roles, layout, split_kind
from chakra_tools.synth.model import (
    MarkovSampler,
    largest_remainder,
    sample_counts,
    sample_quantiles,
)
from chakra_tools.synth.model_check import check_model
from chakra_tools.synth.ordering import in_order
from chakra_tools.synth.span import CPU, FREE, GPU, contended
from chakra_tools.synth.targets import (
    Architecture,
    condition,
    described,
    outside_corpus,
    resolve_target,
)
from chakra_tools.synth.thread_order import add_barriers, add_chain, add_descent
from chakra_tools.synth.timing import rank_durations, rank_speeds, stretch_scores


def draw_sizes(st: dict, name: str, m: int, rng: np.random.Generator) -> np.ndarray:
    """m values of a kind's size attribute: from its {value: count} table when the corpus had few distinct values
    (each value its share, stratified), else from its quantile table at the nearest quantile (observed values)."""
    atoms = st.get(f"{name}_atoms")
    if atoms:
        return sample_counts(atoms, m, rng).astype(float)
    return sample_quantiles(st.get(name, []), m, rng, discrete=True)


def draw_atoms(spec: dict, m: int, rng: np.random.Generator) -> np.ndarray:
    """m values of an atom mixture: each atom gets its share of m by largest remainders (so m = its expected
    count gives it exactly that many), the rest is drawn from its quantile table; shuffled."""
    if m <= 0:
        return np.zeros(0)
    w = np.append(np.maximum(spec["counts"], 0.0), max(spec["rest_count"], 0.0) if spec["rest_table"] else 0.0)
    if w.sum() <= 0:
        return np.zeros(m)
    n = largest_remainder(w, m)
    vals = np.concatenate([np.repeat(spec["values"], n[:-1]), sample_quantiles(spec["rest_table"], int(n[-1]), rng)])
    return vals[rng.permutation(m)]


@dataclass
class Program:
    """The rank-independent part of a synthesized trace."""

    kinds: list[str]
    data_deps: list[list[int]]
    ctrl_deps: list[list[int]]
    comm_size: dict[int, int]      # node index -> bytes (collectives and p2p)
    p2p: dict[int, tuple[str, int, int]]  # node index -> ("send"|"recv", tag, peer rank - own rank)
    duration_us: np.ndarray         # per node, before per-rank jitter and scaling
    extra: dict[str, dict[int, float]]  # num_ops / tensor_size per node index
    threads: list[int] | None = None    # per node its thread slot (written as tid = slot + 1), None: no tids
    deps: list[list[int]] = field(init=False, repr=False)  # per node: data then ctrl deps (critical paths)
    comm: np.ndarray = field(init=False, repr=False)       # per node: a communication node?
    # the deps again for _path: the first two per node (-1: none) and the nodes with more than two
    dep0: list[int] = field(init=False, repr=False)
    dep1: list[int] = field(init=False, repr=False)
    many_deps: list[int] = field(init=False, repr=False)
    # per node its astra-run lane (span.py), and whether a lane holds independent chains; set by lanes()
    lane: list[int] | None = field(default=None, init=False, repr=False)
    contended: bool = field(default=False, init=False, repr=False)
    timed: np.ndarray | None = field(default=None, init=False, repr=False)

    def lanes(self, stats: dict) -> Program:
        """Set each node's lane from its kind (compute kinds: the CPU lane when most of the corpus' nodes of the
        kind were CPU ops, as they are written) once; returns the program."""
        if self.lane is None:
            types = [node_type_of(k) for k in self.kinds]
            self.lane = [FREE if self.comm[i] or t != NodeType.COMP_NODE else
                         CPU if stats.get(k, {}).get("is_cpu_op", 1.0) >= 0.5 else GPU
                         for i, (k, t) in enumerate(zip(self.kinds, types))]
            # what astra-run runs for its duration: compute and memory nodes (metadata take no time there)
            self.timed = np.array([t in (NodeType.COMP_NODE, NodeType.MEM_LOAD_NODE, NodeType.MEM_STORE_NODE)
                                   and not c for t, c in zip(types, self.comm)])
            self.contended = contended(self.deps, self.lane)
        return self

    def __post_init__(self) -> None:
        self.deps = [d + c for d, c in zip(self.data_deps, self.ctrl_deps)]
        self.comm = np.array([is_comm_kind(k) for k in self.kinds])
        self.dep0 = [d[0] if d else -1 for d in self.deps]
        self.dep1 = [d[1] if len(d) > 1 else -1 for d in self.deps]
        self.many_deps = [i for i, d in enumerate(self.deps) if len(d) > 2]


def _fix_p2p(kinds: list[str], ranks: int, filler: str, paired: bool = True) -> dict[int, tuple[str, int, int]]:
    """The drawn p2p nodes as a ring of send/recv pairs (the filler where no pair can be made: one rank, an odd
    one out, or a model that never saw one of the two ends, `paired` False)."""
    pos = [i for i, k in enumerate(kinds) if k in ("SEND", "RECV")]
    if ranks < 2 or not paired:
        pos, drop = [], pos
    else:
        pos, drop = pos[:len(pos) // 2 * 2], pos[len(pos) // 2 * 2:]
    for i in drop:
        kinds[i] = filler
    out = {}
    for tag, (a, b) in enumerate(zip(pos[0::2], pos[1::2])):
        kinds[a], kinds[b] = "SEND", "RECV"
        out[a] = ("send", tag, 1)
        out[b] = ("recv", tag, -1)
    return out


def apply_skeleton(kinds: list[str], skeleton: list, filler: str) -> dict[int, tuple[str, int, int]]:
    """Put a program's recorded communication into drawn kinds (programs.py): every comm kind the chain drew
    becomes the filler compute kind, then each skeleton entry [kind, peer offset, relative position] takes the
    node at its position (positions kept strictly increasing, in the recorded order). Returns the p2p nodes,
    tagged per channel in order (the k-th send to a peer offset meets the peer's k-th receive from it)."""
    n = len(kinds)
    for i, k in enumerate(kinds):
        if is_comm_kind(k):
            kinds[i] = filler
    p2p: dict[int, tuple[str, int, int]] = {}
    tags: dict[tuple[str, int], int] = {}
    last = -1
    for j, (kind, offset, rel) in enumerate(skeleton):
        # room for the entries still to come after this one
        i = min(max(int(round(rel * n)), last + 1), n - (len(skeleton) - j))
        kinds[i] = kind
        last = i
        if kind in ("SEND", "RECV"):
            way = "send" if kind == "SEND" else "recv"
            tag = tags.get((way, offset), 0)
            tags[(way, offset)] = tag + 1
            p2p[i] = (way, tag, offset)
    return p2p


def _token_budget(kind_budget: np.ndarray, tokens: list[list[int]], seen: dict[str, int]) -> np.ndarray:
    """A kind budget split over the thread chain's (kind, slot) tokens in the shares the corpus ran them
    (`seen`: the chain's order-0 counts), by largest remainder, so each kind's count stays exact."""
    out = np.zeros(len(tokens))
    by_kind: dict[int, list[int]] = {}
    for t, (k, _) in enumerate(tokens):
        by_kind.setdefault(k, []).append(t)
    for k, ts in by_kind.items():
        w = np.array([seen.get(str(t), 0) for t in ts], dtype=float)
        out[ts] = largest_remainder(w if w.sum() > 0 else np.ones(len(ts)), int(round(kind_budget[k])))
    return out


REDRAW_NODES = 300_000  # the chain nodes drawn at most while looking for the collective counts (A x nodes)
REDRAW_MAX = 256
COUNT_TOLERANCE = 0.02  # a collective count within 2 % of its target is accepted (exact below 50)
REDRAW_PROBE = 16  # draws after which a target that none of them reached from below or above is given up


def _collective_targets(kinds_all: list[str], stats: dict, nodes: int) -> dict[int, int]:
    """Per collective kind (its index) the count the corpus' share of it gives `nodes` nodes."""
    total = sum(float(st.get("count", 0)) for st in stats.values())
    if total <= 0:
        return {}
    return {j: int(round(float(stats.get(k, {}).get("count", 0)) / total * nodes))
            for j, k in enumerate(kinds_all) if k.startswith("COLL:")}


def _draw_collective_counts(sampler: MarkovSampler, kind_of: list[int], targets: dict[int, int], nodes: int,
                            rng: np.random.Generator) -> list[int]:
    """The chain conditioned on its collective counts, by rejection: drawn up to A = min(256, 300000 // nodes)
    times, the first draw with every collective kind within 2 % of its target count (exact below 50) is kept,
    else the closest (total |count - target|, the first of ties); after 16 draws that all lie on one side of a
    kind's target, the closest of them. The chain alone drew 6-12 collectives for the DLRM step's recorded 8; a
    budget on them instead bunched them at the step's end (docs: How sampling works)."""
    if not targets:
        return sampler.sample(nodes, rng)
    best = None
    lo, hi = dict.fromkeys(targets, math.inf), dict.fromkeys(targets, -math.inf)  # each kind's counts so far
    for attempt in range(max(1, min(REDRAW_MAX, REDRAW_NODES // max(nodes, 1)))):
        idx = sampler.sample(nodes, rng)
        counts = np.bincount([kind_of[i] for i in idx], minlength=max(targets) + 1)
        off = [abs(int(counts[j]) - t) for j, t in targets.items()]
        miss = sum(off)
        if best is None or miss < best[0]:
            best = (miss, idx)
        if all(o <= int(COUNT_TOLERANCE * t) for o, t in zip(off, targets.values())):
            best = (miss, idx)
            break
        for j in targets:
            lo[j], hi[j] = min(lo[j], counts[j]), max(hi[j], counts[j])
        # at another length than the corpus' the chain's own counts can lie off the share (its position bins): once
        # REDRAW_PROBE draws all fall on one side of a target, more draws only pick a rarer tail (256 draws of
        # 3 906 nodes took 7 s for a prefetch model whose draws ran 102-121 against a target of 98)
        if attempt + 1 >= REDRAW_PROBE and any(lo[j] > t or hi[j] < t for j, t in targets.items()):
            break
    return best[1]


def _shrink(logs: np.ndarray, noise_var: float) -> np.ndarray:
    """Log-durations of one kind pulled towards their mean so that the ranks' timing noise (variance `noise_var`,
    multiplied in by timing.rank_durations) restores their spread instead of adding to it: the kind tables pool every
    rank's values and so hold that noise already (tp2dp2, 4 processes on 2 cores, drew durations 1.4x as spread
    in log as recorded: KS 0.14)."""
    if noise_var <= 0 or logs.size < 2:
        return logs
    var = float(logs.var())
    if var <= 0:
        return logs
    c = math.sqrt(max(0.0, 1.0 - noise_var / var))
    mean = float(logs.mean())
    return mean + c * (logs - mean)


def draw_program(model: dict, ranks: int, nodes: int, scale_comm: float, rng: np.random.Generator,
                 thread_rng: np.random.Generator, stats: dict | None = None,
                 arch: Architecture | None = None, skeleton: list | None = None,
                 tree_rng: np.random.Generator | None = None, count_collectives: bool = False) -> Program:
    """The rank-independent program. The thread slots come with the kinds (the thread chain's tokens); `thread_rng`
    draws the joins (a stream of its own, so that single-threaded models draw the programs they drew before threads
    were modelled). `count_collectives` (the corpus' own tables, no size target): the chain is conditioned on the
    corpus' share of each collective kind (_draw_collective_counts). With a `skeleton` (one of several programs,
    programs.py) the communication is the skeleton's, at its positions, instead of the chain's, with p2p to the
    skeleton's peers (a recv's size is then its sender's, set by the caller)."""
    kinds_all = model["kinds"]
    stats = model["kind_stats"] if stats is None else stats
    budget = None if arch is None else np.array([arch.kind_counts.get(k, 0) for k in kinds_all], dtype=float)
    order, bins = int(model["order"]), int(model.get("position_bins", 0))
    chain = model.get("thread_chain")
    threads = None
    if chain is None:
        sampler, kind_of = MarkovSampler(model["markov"], order, bins), list(range(len(kinds_all)))
    else:  # (kind, slot) tokens: a thread's kinds follow each other in runs, as recorded
        tokens = chain["tokens"]
        if budget is not None:
            budget = _token_budget(budget, tokens, chain["markov"][""])
        sampler, kind_of = MarkovSampler(chain["markov"], order, bins), [t[0] for t in tokens]
    if count_collectives and budget is None and skeleton is None:
        idx = _draw_collective_counts(sampler, kind_of, _collective_targets(kinds_all, stats, nodes), nodes, rng)
    else:
        idx = sampler.sample(nodes, rng, budget)
    kinds = [kinds_all[kind_of[i]] for i in idx]
    if chain is None:
        if "threads" in model:
            threads = [0] * len(kinds)
    else:
        threads = [0 if is_comm_kind(k) else tokens[i][1] for i, k in zip(idx, kinds)]
    comp = [k for k in kinds_all if k.startswith(COMPUTE_HEADS)]
    filler = max(comp, key=lambda k: stats[k]["count"]) if comp else "COMP:other"
    if filler not in stats:
        stats = {**stats, filler: {"count": 0, "duration_us": [0.0]}}
    if skeleton is None:
        p2p = _fix_p2p(kinds, ranks, filler, paired="SEND" in stats and "RECV" in stats)
    else:
        p2p = apply_skeleton(kinds, skeleton, filler)
        if threads is not None:
            threads = [0 if is_comm_kind(k) else t for k, t in zip(kinds, threads)]
    by_kind: dict[str, list[int]] = {}  # each kind's nodes in order, kinds sorted (the order of every draw)
    for i, k in enumerate(kinds):
        by_kind.setdefault(k, []).append(i)
    by_kind = dict(sorted(by_kind.items()))
    data = draw_dependencies(by_kind, kinds, stats, "data", rng, threads, thread_rng, tree_rng)
    ctrl = draw_dependencies(by_kind, kinds, stats, "ctrl", rng, threads, thread_rng, tree_rng)
    threaded = threads is not None and len(set(threads)) > 1
    if threaded:
        # each thread's chain, then the collectives as barriers between the threads, as far as the corpus has
        # them (thread_order.py)
        add_chain(kinds, threads, data, ctrl, stats, thread_rng)
        if "thread_descent" in model.get("cross_rank", {}):  # and each thread one chain, as far as recorded
            add_descent(kinds, threads, data, ctrl, set(model.get("stream_slots", ())),
                        model["cross_rank"]["thread_descent"], thread_rng)
        add_barriers(kinds, threads, data, ctrl, model.get("cross_rank", {}), thread_rng)
    if skeleton is not None or threaded:
        # ranks that run different programs, or threads whose collectives ranks' own timing can reorder: nothing
        # else aligns the ranks' issue order
        order_collectives(kinds, data, ctrl)
    comm_size: dict[int, int] = {}
    for k, where in by_kind.items():
        if is_comm_kind(k):
            spec = arch.attrs.get(k, {}).get("comm_size") if arch is not None else None
            vals = (draw_atoms(spec, len(where), rng) if spec is not None
                    else draw_sizes(stats[k], "comm_size", len(where), rng))
            vals = in_order(vals, stats[k].get("comm_size_order"))
            for i, v in zip(where, vals.tolist()):
                comm_size[i] = int(max(round(v * scale_comm), 1))
    # a recv carries its send's size (the ring: the same program's)
    for i, (kind, tag, _) in p2p.items() if skeleton is None else ():
        if kind == "recv":
            send = next(j for j, (kk, t, _) in p2p.items() if kk == "send" and t == tag)
            comm_size[i] = comm_size[send]
    duration = np.zeros(len(kinds))
    extra: dict[str, dict[int, float]] = {"num_ops": {}, "tensor_size": {}}
    cross = model.get("cross_rank", {})
    # the noise rank_durations adds back: per node always, per stretch where there are communication nodes to
    # delimit stretches, per rank where there are ranks to differ (timing.rank_speeds)
    noisy = ("duration_log_sd", *(("segment_log_sd",) if any(map(is_comm_kind, kinds)) else ()),
             *(("rank_log_sd",) if ranks > 1 else ()))
    noise_var = sum(float(cross.get(k) or 0.0) ** 2 for k in noisy)
    for k, where in by_kind.items():
        st = stats.get(k, {})
        duration[where] = sample_quantiles(st.get("duration_us", []), len(where), rng)
        for name in extra:
            spec = arch.attrs.get(k, {}).get(name) if arch is not None else None
            if spec is not None:
                # the laws' carriers, scaled to the kind's drawn count (equal to its budget: exactly them)
                n_k = max(arch.kind_counts.get(k, 0), 1)
                m = min(int(round((float(spec["counts"].sum()) + spec["rest_count"]) * len(where) / n_k)), len(where))
            elif name in st:
                # exactly round(fraction x count) nodes of the kind carry the attribute (stratified, like the draws)
                frac = float(st.get("attr_fraction", {}).get(name, 1.0))
                m = int(round(min(max(frac, 0.0), 1.0) * len(where)))
            else:
                continue
            # which m nodes carry it (at random, in index order), then their values
            chosen = sorted(rng.permutation(where)[:m].tolist()) if m < len(where) else where
            vals = draw_atoms(spec, m, rng) if spec is not None else np.maximum(draw_sizes(st, name, m, rng), 0)
            extra[name].update(zip(chosen, vals.tolist()))
        wm = st.get("work")
        if wm is not None and not is_comm_kind(k):
            # nodes that do FLOPs: overhead + FLOPs x time per FLOP, times the kind's residual spread
            busy = [i for i in where if i in extra["num_ops"]]
            ops = np.array([extra["num_ops"][i] for i in busy])
            res = _shrink(sample_quantiles(wm["log_residual"], len(busy), rng), noise_var)
            duration[busy] = np.maximum((wm["overhead_us"] + wm["us_per_op"] * ops + 1.0) * np.exp(res) - 1.0, 0.0)
        plain = [i for i in where if i not in extra["num_ops"]] if wm is not None else where
        if noise_var > 0:  # (_shrink leaves a single node as it is)
            d = duration[plain]
            pos = d > 0
            d[pos] = np.exp(_shrink(np.log(d[pos]), noise_var))
            duration[plain] = d
        if len(plain) > 1 and "duration_us_order" in st:
            duration[plain] = in_order(duration[plain], st["duration_us_order"])
    return Program(kinds, data, ctrl, comm_size, p2p, duration, extra, threads)


_DURATION_KEY = b"\x38"  # Node.duration_micros: field 7, varint (left out when 0, as proto3 does)


def _attr_bytes(*attrs: pb.AttributeProto) -> bytes:
    """Node.attr entries encoded as they appear inside a serialized Node (field 10, one record each)."""
    return pb.Node(attr=list(attrs)).SerializeToString()


@dataclass
class _EncodedProgram:
    """The program's nodes serialized once for all ranks. A Node's fields serialize in field-number order and a
    repeated field's elements one record each, so a rank's node is head (id .. data_deps) + its duration_micros
    + tail_a + the rank's own attributes (a collective's pg_name, a p2p node's src/dst) + tail_b."""

    head: list[bytes]
    tail_a: list[bytes]
    tail_b: list[bytes]
    part: list[int]  # per node: 0 = nothing of the rank's; 1 + index into peers; 1 + len(peers) + a role's index
    peers: list[tuple[str, int]]  # the p2p ("send"|"recv", peer offset) combinations of the program
    roles: list[str]


def _encode_program(model: dict, program: Program, scale_compute: float, meta_values: str,
                    role_names: dict[str, str] | None = None) -> _EncodedProgram:
    stats = model["kind_stats"]
    extra = {name: {i: int(round(v * (scale_compute if name == "num_ops" else 1.0))) for i, v in vals.items()}
             for name, vals in program.extra.items()}
    roles = kind_roles(program.kinds)
    streams = set(model.get("stream_slots", ()))  # thread slots that are GPU streams
    peers = sorted({(way, off) for way, _, off in program.p2p.values()})
    out = _EncodedProgram([], [], [], [], peers, roles)
    for i, k in enumerate(program.kinds):
        ntype = node_type_of(k)
        base, role = split_kind(k)
        name = f"{base}@{role_names.get(role, role)}" if role and role_names else k  # a grown world's role name
        out.head.append(pb.Node(id=i, name=name, type=ntype, data_deps=program.data_deps[i],
                                ctrl_deps=program.ctrl_deps[i]).SerializeToString())
        tail = pb.Node()
        after: list[pb.AttributeProto] = []
        part = 0
        if ntype == NodeType.COMM_COLL_NODE:
            tail.attr.extend([make_attr("is_cpu_op", False), make_attr("comm_type", comm_type_of(k) or 0),
                              make_attr("comm_size", program.comm_size[i])])
            role = split_kind(k)[1]
            part = 1 + len(peers) + roles.index(role) if role else 0
        elif ntype in (NodeType.COMM_SEND_NODE, NodeType.COMM_RECV_NODE):
            way, tag, off = program.p2p[i]
            tail.attr.append(make_attr("is_cpu_op", False))
            after = [make_attr("comm_tag", tag), make_attr("comm_size", program.comm_size[i])]
            part = 1 + peers.index((way, off))
        else:
            cpu = stats.get(k, {}).get("is_cpu_op", 1.0) >= 0.5
            tail.attr.append(make_attr("is_cpu_op", cpu))
            for name, vals in extra.items():
                if i in vals:
                    tail.attr.append(make_attr(name, vals[i]))
            if program.threads is not None and ntype != NodeType.METADATA_NODE:
                gpu_stream = not cpu and program.threads[i] in streams
                tail.attr.append(make_attr("stream" if gpu_stream else "tid", program.threads[i] + 1))
            if ntype == NodeType.METADATA_NODE:
                tail.inputs.values = meta_values
        out.tail_a.append(tail.SerializeToString())
        out.tail_b.append(_attr_bytes(*after) if after else b"")
        out.part.append(part)
    return out


def _rank_bodies(enc: _EncodedProgram, dur: np.ndarray, rank: int, ranks: int,
                 group_of: dict[str, list[str]]) -> list[bytes]:
    """The serialized nodes of one rank (pb.Node bytes, as SerializeToString gives them)."""
    parts = [b""]
    for way, off in enc.peers:
        peer = (rank + off) % ranks
        src, dst = (rank, peer) if way == "send" else (peer, rank)
        parts.append(_attr_bytes(make_attr("comm_src", src), make_attr("comm_dst", dst)))
    parts += [_attr_bytes(make_attr("pg_name", group_of[r][rank])) if group_of[r][rank] else b"" for r in enc.roles]
    return [h + (_DURATION_KEY + encode_varint(d) if d else b"") + a + parts[p] + b
            for h, d, a, p, b in zip(enc.head, dur.tolist(), enc.tail_a, enc.part, enc.tail_b)]


def fit_totals(program: Program, comm_bytes: float, flops: float) -> None:
    """Scale the program's collective sizes to add up to `comm_bytes` and its FLOPs to `flops` (each by one
    factor, which keeps the drawn shape of the sizes; the rounding's residue goes to the largest value, so the
    totals are exact). A program without collectives (or FLOPs) keeps none."""
    coll = [i for i, k in enumerate(program.kinds) if k.startswith("COLL:")]
    for values, keys, total in ((program.comm_size, coll, comm_bytes), (program.extra["num_ops"],
                                                                        sorted(program.extra["num_ops"]), flops)):
        have = sum(values[i] for i in keys)
        if not keys or have <= 0:
            continue
        f = total / have
        for i in keys:
            values[i] = max(int(round(values[i] * f)), 1 if values[i] > 0 else 0)
        top = max(keys, key=lambda i: (values[i], -i))
        values[top] = max(values[top] + int(round(total)) - sum(values[i] for i in keys), 1)


def program_summary(program: Program, rate: float | None, scale_compute: float) -> dict:
    """Per rank of a program: nodes, collectives, p2p, bytes of collectives and, with a calibration rate, the
    compute path each rank is calibrated to (before its speed factor)."""
    coll = [i for i, k in enumerate(program.kinds) if k.startswith("COLL:")]
    out = {"nodes_per_rank": len(program.kinds), "collectives_per_rank": len(coll), "p2p_per_rank": len(program.p2p),
           "comm_bytes_per_rank": int(sum(program.comm_size[i] for i in coll))}
    if rate is not None:  # (nothing to calibrate where no compute node drew a duration: a step of 1 node, say)
        timed = float(program.duration_us[~program.comm].sum()) > 0 if len(program.kinds) else False
        out["compute_path_us"] = round(float(rate) * len(program.kinds) * scale_compute, 1) if timed else 0.0
    return out


def check_scales(scale_compute: float, scale_comm: float) -> None:
    for name, v in (("--scale-compute", scale_compute), ("--scale-comm", scale_comm)):
        if not (math.isfinite(v) and 0 <= v <= 1e6):
            raise ToolError(f"{name} must be a number in 0..1e6, got {v}")


def write_ranks(prefix: str | os.PathLike, groups: dict[str, list[int]], group_of: dict[str, list[str]],
                plan: list[tuple[dict, Program, float | None, float]], seed: int, scale_compute: float,
                role_names: dict[str, str] | None = None) -> list[Path]:
    """Write every rank's file (and the groups file) together or not at all. `plan` per rank: the model and the
    program it runs, the compute time per node its path is calibrated to (None: as drawn), and its speed;
    `role_names`: a collective role's name in the written world where it differs (a grown pipeline's DP)."""
    ranks = len(plan)
    pg_list = [{"pg_name": "0", "pg_desc": "default_pg", "ranks": list(range(ranks)), "group_size": ranks}]
    pg_list += [{"pg_name": k, "pg_desc": "synth", "ranks": v, "group_size": len(v)} for k, v in groups.items()]
    meta_values = str([json.dumps(pg_list)])
    meta = pb.GlobalMetadata(version="0.0.4")
    targets = [*(rank_path(prefix, r) for r in range(ranks)), *([groups_path(prefix)] if groups else [])]
    check_no_stale_outputs(prefix, targets)
    encoded: dict[int, _EncodedProgram] = {}
    # one stratification of the stretch speeds over every rank (a pipeline's programs differ in their stretches)
    scores = stretch_scores(ranks, max(int(p.comm.sum()) + 1 for _, p, _, _ in plan), seed)
    with atomic_group(targets) as tmps:
        try:
            for r, (model, program, rate, speed) in enumerate(plan):
                if id(program) not in encoded:
                    encoded[id(program)] = _encode_program(model, program, scale_compute, meta_values, role_names)
                dur = rank_durations(model, program, r, seed, scale_compute, rate, speed, scores)
                with ETWriter(tmps[r], meta) as w:
                    w.write_raws(_rank_bodies(encoded[id(program)], dur, r, ranks, group_of))
        except ValueError as e:
            if "out of range" not in str(e):
                raise
            raise ToolError(f"{prefix}: this target's sizes or durations exceed an ET's 64-bit fields ({e}): "
                            "--param-bytes, --flops, --describe or --scale-* is too large for this model") from None
        if groups:
            tmps[-1].write_text(json.dumps(groups, indent=2) + "\n")
    return targets


def sample(model: dict, prefix: str | os.PathLike, ranks: int, nodes: int | None = None, seed: int = 0,
           scale_compute: float = 1.0, scale_comm: float = 1.0, param_bytes: float | None = None,
           flops: float | None = None, describe: dict[str, float] | None = None,
           micro_batches: int | None = None, exact_totals: bool = False) -> dict:
    """Write `<prefix>.<rank>.et` for `ranks` ranks (+ `<prefix>.comm_groups.json` if sub-groups are used).

    With `describe` (architecture descriptors, e.g. {"width": 320, "depth": 3}) the architecture laws give
    the kind counts and every attribute's exact atoms, and the size they imply conditions the durations; with
    `param_bytes` (and optionally `flops`, `nodes`) the model's size laws are evaluated at that size (what-if
    "a bigger model"); without either, the corpus's pooled tables and mean compute rate are used.
    `micro_batches` (a pipeline model only): that many micro-batches of the recorded size (microbatch.py).
    `exact_totals` (with `param_bytes`): the drawn collectives' sizes and FLOPs scaled so that they add up to the
    target (fit_totals).
    Returns a summary dict (nodes per rank, collectives, bytes, files, and the target when conditioned).
    """
    check_model(model)
    if ranks < 1:
        raise ToolError(f"--ranks must be at least 1, got {ranks}")
    if not isinstance(seed, (int, np.integer)) or seed < 0:
        raise ToolError(f"--seed must be an integer >= 0, got {seed!r}")
    check_scales(scale_compute, scale_comm)
    if "programs" in model:  # ranks that run different programs (pipeline stages)
        if nodes is not None or param_bytes is not None or flops is not None:
            raise ToolError("--nodes/--param-bytes/--flops: a model of ranks that run different programs (pipeline "
                            "stages) is sampled at its recorded size or, fitted on described traces, at --describe")
        from chakra_tools.synth.programs import sample_programs
        return sample_programs(model, prefix, ranks, seed, scale_compute, scale_comm, describe, micro_batches)
    if micro_batches is not None:
        raise ToolError("--micro-batches needs a model of a pipeline (ranks that run different programs, fitted "
                        "without --spmd); this model has one program")
    if flops is not None and param_bytes is None:
        raise ToolError("--flops needs --param-bytes (the size laws are evaluated at a model size)")
    if exact_totals and param_bytes is None:
        raise ToolError("--exact-totals needs --param-bytes (the totals it makes exact; --describe draws a "
                        "model's own sizes)")
    target = stats = arch = None
    rate = model.get("compute_us_per_node")
    if describe is not None:
        if param_bytes is not None or nodes is not None:
            raise ToolError("--describe sets the model's size: drop --param-bytes/--flops/--nodes")
        arch, target, stats, rate = described(model, describe)
        nodes = target.nodes
        # (the attributes the laws describe are drawn from their atoms, draw_program: not from these tables)
    elif param_bytes is not None:
        target = resolve_target(model, param_bytes, flops, nodes)
        nodes = target.nodes
        stats, rate = condition(model, target)
    if nodes is None:
        table = model["nodes_per_rank"]
        nodes = int(round(table[len(table) // 2])) if table else 100
    if nodes < 1:
        raise ToolError(f"--nodes must be at least 1, got {nodes}")
    groups, group_of = layout(kind_roles(model["kinds"]), ranks)
    rng = np.random.default_rng([seed, 0])
    # (at a size target the corpus' collective shares are another model's: the chain alone draws the count there)
    program = draw_program(model, ranks, nodes, scale_comm, rng, np.random.default_rng([seed, 0, 1]), stats, arch,
                           tree_rng=np.random.default_rng([seed, 0, 5]), count_collectives=target is None)
    if exact_totals:
        fit_totals(program, target.param_bytes * scale_comm, target.flops)
    speeds = rank_speeds(model, ranks, seed)
    rate = None if rate is None else float(rate)
    targets = write_ranks(prefix, groups, group_of, [(model, program, rate, float(speeds[r])) for r in range(ranks)],
                          seed, scale_compute)
    out = {"ranks": ranks, **program_summary(program, rate, scale_compute), "files": [str(p) for p in targets]}
    if target is not None:
        out["target"] = target.as_dict()
        # where the laws were evaluated is not what the drawn kind counts add up to (a few large all-reduces or
        # matmuls more or less): the files' own figures, as `describe` reads them
        out["drawn"] = {"param_bytes": float(out["comm_bytes_per_rank"]),
                        "flops": float(sum(int(round(v * scale_compute)) for v in program.extra["num_ops"].values())),
                        "nodes": float(out["nodes_per_rank"])}
    if describe is not None:
        out["describe"] = dict(describe)
    outside = outside_corpus(model, describe, target)
    if outside:
        out["outside_corpus"] = outside
    return out
