"""Ranks that run different programs (pipeline stages): one model per program, and its communication skeleton.

A data- or tensor-parallel step runs one program on every rank (SPMD). A pipeline-parallel one does not: each
stage runs its own layers and exchanges activations and gradients with the next and previous stage by send/recv,
and the time of the step is set by how the stages wait for each other (the pipeline bubble), which one SPMD
program cannot show. `fit` finds a trace's programs (ranks whose collectives and sends/receives come in the same
order, peers as rank offsets: comm_signature), fits one model per program on its ranks (its kinds, chain, sizes, durations, compute rate, rank spread), and keeps per program its
**communication skeleton**: its collectives and sends/receives in order, each with its relative position in the
step and, for p2p, its peer as an offset in ranks. The skeleton holds kinds, offsets and positions, no sizes and
no durations.

`sample` draws each program's compute from its model and puts the skeleton's communication at its positions
(sample.apply_skeleton): every rank issues its sends, receives and collectives in the recorded order, so a
schedule that ran (1F1B, GPipe) cannot deadlock in the simulator (every dependency sample draws points to an
earlier node of the rank), the k-th send of a channel meets the k-th receive of it (same tag), a receive carries
its sender's size, and a collective whose group spans programs gets one size on all of them. At a multiple of
the recorded world the data-parallel dimension grows (grow_data_parallel); stages and micro-batches stay. Fitted
on one pipeline at several described sizes, each program has its own architecture laws and is drawn at a
described size (sample --describe).
"""

from __future__ import annotations

import copy
import os

import numpy as np

from chakra_tools.common import ToolError
from chakra_tools.et import NodeType
from chakra_tools.synth.features import is_comm_kind
from chakra_tools.synth.groups import kind_roles, layout, parse_role, role_groups, split_kind
from chakra_tools.synth.microbatch import plan as micro_plan
from chakra_tools.synth.microbatch import splice

PROGRAMS_VERSION = 4  # a model of several programs (model.VERSION: one program)


def program_classes(signatures: list) -> list[int]:
    """Per rank its program: ranks with the same signature share one, numbered by first appearance."""
    seen: dict = {}
    return [seen.setdefault(tuple(s), len(seen)) for s in signatures]


def comm_signature(comm: list[list], world: int) -> tuple:
    """What makes ranks one program: their communication in order, p2p peers as offsets modulo the world (a
    ring's last rank sends to rank 0: +1 like the others). Ranks that differ only in compute (an op more on one
    thread, a second wait on a collective) stay one program, their differences pooled as before."""
    return tuple((k, None if o is None else o % world) for k, o, _ in comm)


def skeleton(g, kinds: list[str], rank: int) -> list[list]:
    """The communication of one rank: [kind, peer offset (p2p; None for a collective), relative position]."""
    nodes = sorted(g.nodes, key=lambda n: n.id)
    out = []
    for i, (n, k) in enumerate(zip(nodes, kinds)):
        if not is_comm_kind(k):
            continue
        offset = None
        if n.type in (NodeType.COMM_SEND_NODE, NodeType.COMM_RECV_NODE):
            a = g.attrs[n.id]
            peer = a.get("comm_dst") if n.type == NodeType.COMM_SEND_NODE else a.get("comm_src")
            offset = int(peer) - rank if isinstance(peer, int) else 0
        out.append([k, offset, round(i / len(kinds), 6)])
    return out


def segment_shares(kinds: list[str], durations: list[int]) -> list[float]:
    """The share of a rank's compute time (sum of compute durations) in each stretch between two of its
    communication nodes: before the first, between each two, after the last (len = comm nodes + 1). Where the
    compute sits between the exchanges sets how the stages wait for each other (the pipeline bubble)."""
    out = [0.0]
    for k, d in zip(kinds, durations):
        if is_comm_kind(k):
            out.append(0.0)
        else:
            out[-1] += d
    total = sum(out)
    return [x / total if total > 0 else 1.0 / len(out) for x in out]


def trace_programs(traces: list, feats: list[tuple[int, int, dict]]) -> tuple[list[int], list[list]] | None:
    """Per entry of `feats` (trace index, rank, features) its program and its communication skeleton, when the
    traces' ranks run several programs laid out alike (same world, the same signature on each rank of every
    trace: several steps or runs of one pipeline); None for one program, or for traces of different layouts
    (pooled into one program, as `fit` always did)."""
    comms = [skeleton(traces[j].ranks[r], f["kinds"], r) for j, r, f in feats]
    sigs = [comm_signature(c, traces[j].num_ranks) for (j, _, _), c in zip(feats, comms)]
    layouts = {}
    for (j, r, _), sig in zip(feats, sigs):
        layouts.setdefault(j, {})[r] = sig
    first = layouts.get(0)
    classes = program_classes(sigs)
    if max(classes) == 0 or any(lay != first for lay in layouts.values()) or len(layouts) != len(traces):
        return None
    return classes, comms


def fit_programs(traces: list, feats: list[tuple[int, int, dict]], classes: list[int], comms: list[list],
                 fit_ranks) -> dict:
    """The model of traces whose ranks run several programs (`classes`, `comms`: trace_programs);
    `fit_ranks(indices)` fits the one-program model of those entries of `feats` (fit.py)."""
    from chakra_tools.synth.model import FORMAT

    world = traces[0].num_ranks
    rank_program = [-1] * world
    for (_, r, _), c in zip(feats, classes):
        rank_program[r] = c
    if -1 in rank_program:
        raise ToolError("a trace whose ranks run different programs must have nodes on every rank")
    models, skeletons = [], []
    for c in range(max(classes) + 1):
        idx = [i for i, x in enumerate(classes) if x == c]
        models.append(fit_ranks(idx))
        # a program's stretches between exchanges get the recorded time shares (place_time), not per-stretch
        # rank speeds: those were chosen on single-program traces only (docs: How sampling works)
        models[-1]["cross_rank"].pop("segment_log_sd", None)
        shares = np.mean([segment_shares(feats[i][2]["kinds"], feats[i][2]["durations"]) for i in idx], axis=0)
        skeletons.append({"comm": comms[idx[0]],
                          "time": [round(float(x), 6) for x in shares]})
    first = {j: f for j, _, f in reversed(feats)}  # each trace's lowest rank
    same = [f["kinds"] == first[j]["kinds"] for j, r, f in feats if f is not first[j]]
    nodes = sum(len(f["kinds"]) for _, _, f in feats)
    model = {"format": FORMAT, "version": PROGRAMS_VERSION,
             "programs": {"world": world, "rank_program": rank_program, "models": models, "skeletons": skeletons},
             "kinds": sorted({k for m in models for k in m["kinds"]}),
             "cross_rank": {"identical_kind_sequences": round(float(np.mean(same)), 4) if same else 1.0},
             "corpus": {"traces": len(traces), "ranks": len(feats), "nodes": nodes}}
    check_programs(model)  # a recorded trace whose exchanges the sampler could not rebuild is refused here
    return model


def check_programs(model: dict, source: str = "model") -> None:
    """One-line errors for a malformed `programs` block (each program's model is checked by check_model)."""
    from chakra_tools.synth.model_check import check_model

    p = model.get("programs")
    if not isinstance(p, dict):
        raise ToolError(f"{source}: 'programs' must be an object")
    world, rp, models, skels = (p.get(k) for k in ("world", "rank_program", "models", "skeletons"))
    if not (isinstance(models, list) and models and isinstance(skels, list) and len(skels) == len(models)):
        raise ToolError(f"{source}: 'programs' needs as many 'models' as 'skeletons' (at least one)")
    if not (isinstance(world, int) and not isinstance(world, bool) and 1 <= world <= 1 << 14):
        raise ToolError(f"{source}: 'programs.world' must be a number of ranks, got {world!r}")
    if not (isinstance(rp, list) and len(rp) == world and all(
            isinstance(c, int) and not isinstance(c, bool) and 0 <= c < len(models) for c in rp)):
        raise ToolError(f"{source}: 'programs.rank_program' must give each of the {world} ranks a program index")
    for c, (m, sk) in enumerate(zip(models, skels)):
        if not isinstance(m, dict) or "programs" in m:
            raise ToolError(f"{source}: program {c} must be a one-program model")
        check_model(m, f"{source}: program {c}")
        skel = sk.get("comm") if isinstance(sk, dict) else None
        time = sk.get("time") if isinstance(sk, dict) else None
        if not isinstance(skel, list) or not all(
                isinstance(e, list) and len(e) == 3 and isinstance(e[0], str) and e[0] in m["kinds"]
                and is_comm_kind(e[0]) and (e[1] is None if e[0].startswith("COLL:") else
                                             isinstance(e[1], int) and not isinstance(e[1], bool))
                and isinstance(e[2], (int, float)) and 0 <= e[2] < 1 for e in skel):
            raise ToolError(f"{source}: program {c}: 'skeletons.comm' entries must be [comm kind of the program, "
                            "peer offset (p2p) or null, position in [0, 1)]")
        if not (isinstance(time, list) and len(time) == len(skel) + 1 and all(
                isinstance(x, (int, float)) and not isinstance(x, bool) and 0 <= x <= 1 for x in time)):
            raise ToolError(f"{source}: program {c}: 'skeletons.time' must be {len(skel) + 1} shares in [0, 1]")
    comms = [sk["comm"] for sk in skels]
    _channels(comms, rp, world, source)
    _shared_collectives(comms, rp, world, source)


def _channels(skels: list, rank_program: list[int], world: int, source: str) -> None:
    """Every send must meet a receive: per pair of ranks, as many sends one way as receives at the other end."""
    from collections import Counter

    sent: Counter = Counter()
    received: Counter = Counter()
    for r in range(world):
        for kind, off, _ in skels[rank_program[r]]:
            if kind == "SEND":
                sent[(r, (r + off) % world)] += 1
            elif kind == "RECV":
                received[((r + off) % world, r)] += 1
    for src, dst in sorted(set(sent) | set(received)):
        if sent[(src, dst)] != received[(src, dst)]:
            raise ToolError(f"{source}: rank {src} sends {sent[(src, dst)]} message(s) to rank {dst}, which receives "
                            f"{received[(src, dst)]} from it: the programs' p2p do not pair up")


def _span(role: str, rank_program: list[int], world: int, role_map: dict[str, str] | None = None) -> list[list[int]]:
    """The groups of a collective role (the world for none) whose members run more than one program (`role_map`:
    the role's name in a grown world, grow_data_parallel)."""
    role = (role_map or {}).get(role, role)
    groups = role_groups(role, world) if role else [list(range(world))]
    return [g for g in groups if len({rank_program[r] for r in g}) > 1]


def _shared_collectives(skels: list, rank_program: list[int], world: int, source: str) -> None:
    """A collective on a group of several programs must come as often in each of them."""
    for kind in sorted({e[0] for s in skels for e in s if e[0].startswith("COLL:")}):
        for g in _span(split_kind(kind)[1], rank_program, world):
            counts = {sum(1 for e in skels[rank_program[r]] if e[0] == kind) for r in g}
            if len(counts) > 1:
                raise ToolError(f"{source}: {kind} runs on ranks {g} of different programs a different number of "
                                "times: those collectives cannot match")


def _match_sizes(programs: list, rank_program: list[int], world: int, role_map: dict[str, str]) -> list:
    """A collective on a group of several programs gets the size of the lowest program's; a receive its sender's
    size. Returns each rank's program: ranks of one program whose senders run different programs (the middle
    stages of a pipeline of 4: rank 1 hears from program 0, rank 2 from program 1) get copies that differ in their
    receives' sizes. (The k-th send of a rank to a peer meets the peer's k-th receive from it: same tag.)"""
    for kind in sorted({k for p in programs for k in p.kinds if k.startswith("COLL:")}):
        for g in _span(split_kind(kind)[1], rank_program, world, role_map):
            members = sorted({rank_program[r] for r in g})
            first = [i for i, k in enumerate(programs[members[0]].kinds) if k == kind]
            for c in members[1:]:
                for i, j in zip([i for i, k in enumerate(programs[c].kinds) if k == kind], first):
                    programs[c].comm_size[i] = programs[members[0]].comm_size[j]
    # per program and peer offset its sends in node order (the same on every rank of the program)
    sends: list[dict[int, list[int]]] = [{} for _ in programs]
    for c, prog in enumerate(programs):
        for j, (way, _, off) in sorted(prog.p2p.items()):
            if way == "send":
                sends[c].setdefault(off % world, []).append(j)
    copies: dict[tuple, object] = {}
    out = []
    for r in range(world):
        c = rank_program[r]
        prog = programs[c]
        sizes = {}
        for i, (way, tag, off) in sorted(prog.p2p.items()):
            if way == "recv":
                src = (r + off) % world
                sizes[i] = programs[rank_program[src]].comm_size[sends[rank_program[src]][(r - src) % world][tag]]
        key = (c, tuple(sizes.items()))
        if key not in copies:  # the program itself for its first pattern of senders, a copy for each other one
            mine = prog if not any(k[0] == c for k in copies) else copy.copy(prog)
            mine.comm_size = {**prog.comm_size, **sizes}
            copies[key] = mine
        out.append(copies[key])
    return out


def place_time(program, shares: list[float]) -> None:
    """Scale the drawn compute durations of each stretch between communication nodes to its recorded share of the
    rank's compute time (durations are drawn per kind, pooled over the step, so a stretch of cheap optimizer ops
    got the average op's time and the pipelined forward/backward stretches too little; the rank's total is then
    calibrated as for one program)."""
    seg = np.cumsum(program.comm) - program.comm  # per node: the comm nodes before it
    comp = ~program.comm
    total = float(program.duration_us[comp].sum())
    for s, share in enumerate(shares):
        where = comp & (seg == s)
        have = float(program.duration_us[where].sum())
        if have > 0:
            program.duration_us[where] *= share * total / have


def grow_data_parallel(p: dict, roles: list[str], world_collectives: bool, ranks: int
                       ) -> tuple[list[int], list[dict[int, int]], dict[str, str]]:
    """A model of several programs at `ranks` = k x its recorded world: its data-parallel dimension grown k times.

    Every collective role must have its groups within one program (DP and TP groups of a stage); the
    data-parallel one is the outermost of them (Megatron-LM: TP innermost, then DP, stages outermost). As an
    inner line g<D>s<S> it becomes g<kD>s<S>: a rank (hi, d', lo) of the new grid runs the program of
    (hi, d' mod D, lo), roles inside it (TP, stride x size <= S) stay, roles outside it (stride >= S x D) get
    k x their stride, and p2p peers keep their offsets in the other dimensions (the pipeline stride S x D becomes
    S x kD). As an outer line s<S> (data parallelism outermost) the recorded world is repeated and the roles
    lay themselves out at the new size. Returns each rank's program, per program {recorded p2p offset: new
    offset}, and {role: role in the grown world}; a one-line error where the model has no such dimension."""
    world, rank_program = p["world"], p["rank_program"]
    why = None
    spans = [r for r in roles if any(len({rank_program[x] for x in g}) > 1 for g in role_groups(r, world))]
    if ranks % world:
        why = f"a multiple of the {world} ranks it was fitted on is needed"
    elif world_collectives:
        why = "it has collectives over all its recorded ranks, which would be ambiguous at another size"
    elif not roles:
        why = "it has no process-group role (data-parallel groups) to grow"
    elif spans:
        why = f"the groups of its role {spans[0]} span several programs"
    if why is not None:
        raise ToolError(f"--ranks {ranks}: this model's ranks run {len(p['models'])} different programs (pipeline "
                        f"stages) on {world} ranks; to sample it at another size its data parallelism is grown, "
                        f"but {why}")
    k = ranks // world
    shapes = {r: parse_role(r) for r in roles}
    dp = max(roles, key=lambda r: (world if shapes[r][0] is None else shapes[r][0] * shapes[r][1], shapes[r][1]))
    size, stride = shapes[dp]
    if size is None:  # data parallelism outermost: the recorded world repeated, the roles grow by themselves
        return rank_program * k, [{} for _ in p["models"]], {r: r for r in roles}
    block = stride * size
    role_map = {}
    for r, (z, t) in shapes.items():
        if r == dp or (z is not None and t * z <= stride):
            role_map[r] = f"g{k * size}s{stride}" if r == dp else r
        elif t >= block:
            role_map[r] = f"s{t * k}" if z is None else f"g{z}s{t * k}"
        else:
            raise ToolError(f"--ranks {ranks}: the role {r} crosses the data-parallel dimension ({dp}), which "
                            "cannot be grown")

    def coords(r: int, d_size: int) -> tuple[int, int, int]:
        return r // (stride * d_size), (r // stride) % d_size, r % stride

    new_program = []
    for r in range(ranks):
        hi, d, lo = coords(r, k * size)
        new_program.append(rank_program[hi * block + (d % size) * stride + lo])
    offsets: list[dict[int, int]] = [{} for _ in p["models"]]
    for c, sk in enumerate(p["skeletons"]):
        for o in sorted({e[1] for e in sk["comm"] if e[1] is not None}):
            new = set()
            for r in (r for r in range(world) if rank_program[r] == c):
                (hi, d, lo), (hi2, d2, lo2) = coords(r, size), coords((r + o) % world, size)
                if d2 != d:
                    raise ToolError(f"--ranks {ranks}: program {c} sends or receives across its data-parallel "
                                    f"groups ({dp}), which cannot be grown")
                new.add((hi2 - hi) * stride * k * size + (lo2 - lo))
            if len(new) != 1:
                raise ToolError(f"--ranks {ranks}: the ranks of program {c} reach their peers across the recorded "
                                "world's edge, which cannot be grown")
            offsets[c][o] = new.pop()
    return new_program, offsets, role_map


def plan_rate(model: dict) -> float | None:
    """The compute time per node a program's ranks are calibrated to (None: as drawn)."""
    rate = model.get("compute_us_per_node")
    return None if rate is None else float(rate)


def _program_size(m: dict, c: int, describe: dict[str, float] | None) -> tuple[int, dict | None, object, float | None]:
    """Program c's nodes per rank, kind tables, architecture and calibration rate: as recorded (its median length,
    its pooled tables and rate), or at `describe` from its own architecture laws (targets.described)."""
    from chakra_tools.synth.targets import described

    if describe is None:
        table = m["nodes_per_rank"]
        return (int(round(table[len(table) // 2])) if table else 1), None, None, plan_rate(m)
    if "architecture" not in m:
        raise ToolError(f"--describe: program {c} has no architecture laws (fit it on >= 4 traces of different "
                        "sizes with the same programs, each with PREFIX.describe.json)")
    arch, target, stats, rate = described(m, describe, warn_clipped=False)
    return target.nodes, stats, arch, None if rate is None else float(rate)


def sample_programs(model: dict, prefix: str | os.PathLike, ranks: int, seed: int, scale_compute: float,
                    scale_comm: float, describe: dict[str, float] | None = None, micro: int | None = None) -> dict:
    """Write a trace of a model of several programs (sample.sample's dispatch): at its recorded world, or at a
    multiple of it with its data parallelism grown (grow_data_parallel); with `describe`, each program at that
    architecture (its own laws, fitted on its ranks of traces of several sizes: targets.described), with the
    recorded skeletons (exchanges in order, each stretch's share of the time); with `micro`, that many
    micro-batches of the recorded size (the skeletons re-scheduled: microbatch.py)."""
    from chakra_tools.synth.sample import draw_program, program_summary, write_ranks
    from chakra_tools.synth.targets import outside_corpus, warn_if_clipped
    from chakra_tools.synth.timing import compute_path, rank_speeds

    p = model["programs"]
    world, rank_program, models, skels = p["world"], p["rank_program"], p["models"], p["skeletons"]
    replan = None
    if micro is not None:  # drawn at the recorded number (at `describe` too), then spliced
        replan = micro_plan(skels, micro)
    roles = kind_roles(model["kinds"])
    offsets: list[dict[int, int]] = [{} for _ in models]
    role_map = {r: r for r in roles}
    if ranks != world:  # a what-if with more data parallelism
        colls = {split_kind(k) for k in model["kinds"] if k.startswith("COLL:")}
        rank_program, offsets, role_map = grow_data_parallel(p, roles, any(not r for _, r in colls), ranks)
        world = ranks
    programs, rates, archs = [], [], []
    for c, (m, skel) in enumerate(zip(models, skels)):
        nodes, stats, arch, rate = _program_size(m, c, describe)
        if arch is not None:
            archs.append(arch)
        comm = [[k, offsets[c].get(o, o) if o is not None else None, rel] for k, o, rel in skel["comm"]]
        prog = draw_program(m, ranks, max(nodes, len(skel["comm"]), 1), scale_comm,
                            np.random.default_rng([seed, 0, 3, c]), np.random.default_rng([seed, 0, 4, c]),
                            stats, arch, skeleton=comm, tree_rng=np.random.default_rng([seed, 0, 6, c]))
        place_time(prog, skel["time"])
        if replan is not None and replan.delta:
            grown = splice(prog, replan.runs[c], replan.delta)
            if rate is not None:  # calibrated to what the copied (or removed) stretches took of the drawn step
                kind_stats = m["kind_stats"]
                rate *= (compute_path(grown.lanes(kind_stats)) / max(compute_path(prog.lanes(kind_stats)), 1e-9)
                         * len(prog.kinds) / len(grown.kinds))
            prog = grown
        programs.append(prog)
        rates.append(rate)
    if archs:
        warn_if_clipped(archs, models[0]["architecture"])
    rank_prog = _match_sizes(programs, rank_program, world, role_map)
    groups, grown = layout([role_map[r] for r in roles], world)
    group_of = {r: grown[role_map[r]] for r in roles}
    speed = np.ones(world)
    for c, m in enumerate(models):
        members = [r for r in range(world) if rank_program[r] == c]
        speed[members] = rank_speeds(m, len(members), seed)
    plan = [(models[c], rank_prog[r], rates[c], float(speed[r])) for r, c in enumerate(rank_program)]
    targets = write_ranks(prefix, groups, group_of, plan, seed, scale_compute,
                          {r: g for r, g in role_map.items() if g != r})
    out = {"ranks": ranks,
           "programs": [{"ranks": [r for r in range(world) if rank_program[r] == c],
                         **program_summary(prog, rate, scale_compute)}
                        for c, (prog, rate) in enumerate(zip(programs, rates))],
           "files": [str(t) for t in targets]}
    if replan is not None:
        out["micro_batches"] = replan.summary
    if describe is not None:
        out["describe"] = dict(describe)
        outside = {}
        for m in models:  # the programs' ranges differ only where a program's laws saw fewer traces
            outside.update(outside_corpus(m, describe, None))
        if outside:
            out["outside_corpus"] = outside
    return out
