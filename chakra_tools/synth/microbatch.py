"""Another number of micro-batches for a pipeline model: the step drawn as recorded, its stages' units spliced.

A pipeline step runs m micro-batches through p stages, and (p - 1) / (m + p - 1) of it is the bubble, in GPipe and
1F1B alike: the number of micro-batches is the pipeline's main knob. `sample --micro-batches M` draws the step with M
micro-batches **of the recorded size** (gradient accumulation over M of them: the global batch is M / m times the
recorded one). Message sizes, the collectives after the pipeline and the work per micro-batch stay; each stage's
units are repeated or left out.

The schedule is read from the recorded exchanges (each stage's sends, receives and collectives in order, its
skeleton: programs.py). Every p2p channel of a stage (receive from the stage before, send to the one after, and
back) carries one message per micro-batch, so it comes m times. Two shapes are recognised:
- **GPipe**: every stage runs all its forward exchanges (activations: a send to a higher rank, a receive from a
  lower one) before any backward one. Its word is ... F^m ... B^m ..., F a unit holding one of each forward
  channel (and the collectives between them), B one of each backward channel: at M micro-batches F^M and B^M.
- **1F1B** (any schedule with a steady state): some stage interleaves; every stage's word is a warm-up, a run of k
  units each holding one of each of its channels, and a cool-down. Warm-up and cool-down depend on the stage and the
  number of stages only, so at M micro-batches the run has k + M - m units.
Anything else is a one-line error. The step is drawn at the recorded number (its program, the recorded skeleton and
time shares: what the in-place samples are checked on), then spliced (`splice`): each exchange takes the nodes of
the stretch before it along, so a unit is a run of drawn nodes, kinds, sizes, durations and all. A run's first unit
(its stretch holds what came before the run) and last unit (the turn into the cool-down) are kept: the units
inserted are copies of the inner ones in turn, and fewer micro-batches remove units around the middle. So a run
must have 3 units to be changed, and keeps 2. Every dependency keeps its distance in node order (a copy's first
node waits for the node before it, as the original did); the p2p tags are numbered again per channel in order.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from chakra_tools.common import ToolError

P2P = ("SEND", "RECV")
MAX_MICRO_BATCHES = 4096


@dataclass(frozen=True)
class Plan:
    """Per program the runs (start entry, unit length, repeats) that grow with the number of micro-batches, the
    change in that number, and the summary {"recorded", "sampled", "schedule"}."""

    runs: list[list[tuple[int, int, int]]]
    delta: int
    summary: dict


def _token(e: list) -> tuple:
    return e[0], e[1]


def _forward(tok: tuple) -> bool:
    """An activation exchange: a send to a higher rank or a receive from a lower one (stages in rank order)."""
    kind, off = tok
    return (kind == "SEND") == (off > 0)


def micro_batches(skeletons: list[dict]) -> int:
    """The recorded number of micro-batches: how often each p2p channel of every program comes (one error line
    when they differ or there is no p2p)."""
    counts = set()
    for sk in skeletons:
        toks = [_token(e) for e in sk["comm"] if e[0] in P2P]
        counts |= {toks.count(t) for t in set(toks)}
    if not counts:
        raise ToolError("--micro-batches: this model's programs exchange no sends/receives: it is not a pipeline")
    if len(counts) > 1:
        raise ToolError(f"--micro-batches: this model's p2p channels carry {sorted(counts)} messages per step: not "
                        "one per micro-batch, the schedule cannot be read")
    return counts.pop()


def _runs(toks: list[tuple], part: set) -> list[tuple[int, int, int]]:
    """The tandem runs (start, unit length, repeats >= 2) of units holding each p2p channel of `part` once and no
    other p2p, one per maximal periodic stretch and unit length: its earliest such unit (the most repeats).

    Vectorised: per unit length P the stretches where toks[i] == toks[i + P], and in each the unit starts whose
    window counts every channel once (prefix sums)."""
    n = len(toks)
    index: dict = {}
    ids = np.array([index.setdefault(t, len(index)) for t in toks], dtype=np.int64)
    chans = sorted(part, key=str)
    if n < 2 or not all(c in index for c in chans):
        return []
    marks = np.stack([ids == index[c] for c in chans]).astype(np.int64)
    prefix = np.concatenate([np.zeros((len(chans), 1), dtype=np.int64), np.cumsum(marks, axis=1)], axis=1)
    p2p = np.array([t[0] in P2P for t in toks], dtype=np.int64)
    prefix_p2p = np.concatenate([[0], np.cumsum(p2p)])
    out = []
    for size in range(len(chans), n // 2 + 1):
        eq = np.concatenate([[False], ids[:-size] == ids[size:], [False]])
        edges = np.flatnonzero(np.diff(eq.astype(np.int8)))
        for a, e in zip(edges[::2], edges[1::2]):  # toks[a : e + size] has period `size`
            starts = np.arange(a, e - size + 1)       # units followed by at least one full repeat
            if not starts.size:
                continue
            counts = prefix[:, starts + size] - prefix[:, starts]
            others = prefix_p2p[starts + size] - prefix_p2p[starts] - counts.sum(axis=0)
            ok = np.flatnonzero(np.all(counts == 1, axis=0) & (others == 0))
            if ok.size:
                b = int(starts[ok[0]])
                out.append((b, size, (int(e) + size - b) // size))
    return out


def schedule_runs(skeletons: list[dict], m: int) -> tuple[str, list[list[tuple[int, int, int]]]]:
    """The schedule's shape ("gpipe" or "1f1b") and per program the runs (start, unit length, repeats) that grow
    with the number of micro-batches; a one-line error when the recorded order is neither shape."""
    words = [[_token(e) for e in sk["comm"]] for sk in skeletons]
    chans = [{t for t in w if t[0] in P2P} for w in words]
    gpipe = all(max((i for i, t in enumerate(w) if t in c and _forward(t)), default=-1)
                < min((i for i, t in enumerate(w) if t in c and not _forward(t)), default=len(w))
                for w, c in zip(words, chans))
    out = []
    for c, (w, ch) in enumerate(zip(words, chans)):
        parts = ([{t for t in ch if _forward(t)}, {t for t in ch if not _forward(t)}] if gpipe else [ch])
        runs = []
        for part in (p for p in parts if p):
            found = [r for r in _runs(w, part) if not gpipe or r[2] == m]
            if not found:
                raise ToolError(f"--micro-batches: program {c}'s exchanges follow neither GPipe (all forwards, then "
                                "all backwards) nor a steady 1F1B-like state: its schedule cannot be changed")
            runs.append(max(found, key=lambda r: (r[1] * r[2], -r[0])))
        out.append(runs)
    return ("gpipe" if gpipe else "1f1b"), out


def entry_order(n: int, runs: list[tuple[int, int, int]], delta: int) -> list[int]:
    """A program's skeleton entries (0..n-1) at delta more (or fewer) micro-batches: delta copies of each run's inner
    units (all but its first and last, in turn: so that no one drawn unit is repeated many times over) inserted
    before its middle unit, or -delta units around its middle left out (first and last units kept)."""
    items = list(range(n))
    for a, size, k in sorted(runs, reverse=True):  # later runs first: earlier indices stay valid
        if delta > 0:
            mid = a + (k // 2) * size
            inner = [items[a + u * size:a + (u + 1) * size] for u in range(1, k - 1)]
            items[mid:mid] = [e for c in range(delta) for e in inner[c % len(inner)]]
        elif delta < 0:
            lo = a + (1 + (k - 2 + delta) // 2) * size  # the -delta inner units around the middle
            del items[lo:lo - delta * size]
    return items


def splice(program, runs: list[tuple[int, int, int]], delta: int):
    """The drawn program (sample.Program, drawn on the recorded skeleton) at delta more or fewer micro-batches: its
    nodes in the order of `entry_order`, each skeleton entry with the stretch of nodes before it (the tail after the
    last entry stays last). Dependencies keep their distance in node order; p2p tags are numbered per channel."""
    from chakra_tools.synth.sample import Program

    n_nodes = len(program.kinds)
    entries = np.flatnonzero(program.comm)  # apply_skeleton: the comm nodes are the skeleton's entries, in order
    bounds = np.concatenate([[-1], entries])
    pieces = [np.arange(bounds[j] + 1, bounds[j + 1] + 1) for j in entry_order(len(entries), runs, delta)]
    old = np.concatenate([*pieces, np.arange(entries[-1] + 1 if entries.size else 0, n_nodes)]).astype(np.int64)
    at = old.tolist()  # new position -> old node

    def moved(deps: list[list[int]]) -> list[list[int]]:
        return [[p - (i - j) for j in deps[i] if p - (i - j) >= 0] for p, i in enumerate(at)]

    p2p, tags = {}, {}
    for p, i in enumerate(at):
        if i in program.p2p:
            way, _, offset = program.p2p[i]
            tags[(way, offset)] = tags.get((way, offset), -1) + 1
            p2p[p] = (way, tags[(way, offset)], offset)
    return Program([program.kinds[i] for i in at], moved(program.data_deps), moved(program.ctrl_deps),
                   {p: program.comm_size[i] for p, i in enumerate(at) if i in program.comm_size}, p2p,
                   program.duration_us[old].copy(),
                   {name: {p: vals[i] for p, i in enumerate(at) if i in vals} for name, vals in program.extra.items()},
                   None if program.threads is None else [program.threads[i] for i in at])


def plan(skeletons: list[dict], micro: int) -> Plan:
    """The re-scheduling of every program at `micro` micro-batches (one-line errors where it cannot be done)."""
    if not 1 <= micro <= MAX_MICRO_BATCHES:
        raise ToolError(f"--micro-batches must be 1..{MAX_MICRO_BATCHES}, got {micro}")
    m = micro_batches(skeletons)
    shape, runs = schedule_runs(skeletons, m)
    delta = micro - m
    for c, rs in enumerate(runs):
        k = min(r[2] for r in rs)
        if delta and k < 3:
            raise ToolError(f"--micro-batches: program {c}'s {shape} schedule has {k} unit(s) of its steady state "
                            f"at the recorded {m} micro-batches; record at least {m - k + 3} to change their number")
        if k + delta < 2:
            raise ToolError(f"--micro-batches {micro}: program {c}'s {shape} schedule needs at least {m - k + 2} "
                            f"micro-batches (of the {m} recorded, {k} are repeating units of its steady state and "
                            "at least 2 are kept; the rest, warm-up, cool-down and units recorded in another order, "
                            "stays as recorded)")
    return Plan(runs, delta, {"recorded": m, "sampled": micro, "schedule": shape})
