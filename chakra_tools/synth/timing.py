"""Per-rank durations of a synthesized program: timing noise, rank and stretch speeds, and the calibration of each
rank's compute span to the predicted step time (integer microseconds, rounded once)."""

from __future__ import annotations

from statistics import NormalDist
from typing import TYPE_CHECKING

import numpy as np

from chakra_tools.synth.span import span

if TYPE_CHECKING:
    from chakra_tools.synth.sample import Program

CALIBRATION_STEPS = 6  # fixed-point corrections of the compute-path scale for integer rounding


def calibrate(dur: np.ndarray, program: Program, target_us: float) -> np.ndarray:
    """Scale compute durations (not yet rounded) so that the rank's compute span (comm nodes count 0; span.py) is
    `target_us`; integer microseconds out."""
    comm = program.comm
    d = np.where(comm, 0, dur)
    path = _span(d, program)
    if path <= 0:
        return np.rint(dur).astype(np.int64)
    # durations are integer microseconds: rounding d x scale moves a path of many 1-3 us ops by a few per cent
    # (all 1.4 us become 1), so the scale is corrected a few times by the rounded path's error (fixed point;
    # the path is a non-decreasing step function of the scale) and the closest rounding is kept
    scale = target_us / path
    best = None
    for _ in range(CALIBRATION_STEPS):
        new = np.rint(d * scale)
        p = _span(new, program)
        if best is None or abs(p - target_us) < best[0]:
            best = (abs(p - target_us), new)
        if p <= 0 or abs(p - target_us) < 0.5:
            break
        scale *= target_us / p
    return np.where(comm, np.rint(dur), best[1]).astype(np.int64)


def compute_path(program: Program) -> float:
    """The program's compute span under its drawn durations (comm nodes count 0; its lanes set: Program.lanes)."""
    return _span(np.where(program.comm, 0.0, program.duration_us), program)


def _span(d: np.ndarray, program: Program) -> float:
    """The compute span of durations `d`: the critical path (_path) unless a lane is contended (span.py)."""
    if program.contended:
        return span(program.deps, np.where(program.timed, d, 0).tolist(), program.lane)
    return _path(d, program)


def _path(d: np.ndarray, program: Program) -> float:
    """Longest path of durations `d` through the program's deps (every dep points to an earlier node)."""
    n, dl = len(d), d.tolist()
    finish = [0] * (n + 1)  # finish[-1] stays 0: the "no dependency" of dep0/dep1
    start = 0
    # calibration runs this ~6 times per rank: the common case (at most two deps) as a tight loop of two lookups
    for stop in (*program.many_deps, n):
        for i, a, b, di in zip(range(start, stop), program.dep0[start:stop], program.dep1[start:stop],
                               dl[start:stop]):
            x, y = finish[a], finish[b]
            finish[i] = (x if x > y else y) + di
        if stop < n:
            finish[stop] = max(finish[j] for j in program.deps[stop]) + dl[stop]
        start = stop + 1
    return float(max(finish))


def rank_speeds(model: dict, ranks: int, seed: int) -> np.ndarray:
    """Per rank a factor on its whole compute path, exp(rank_log_sd x z), z the expected normal order statistics
    of `ranks` draws (Blom's scores, quantiles at (i - 3/8) / (ranks + 1/4)), handed to the ranks in a seeded order:
    the slowest rank, which sets a synchronised step's time, is as slow as the corpus' spread makes it on average
    (random draws would make that a matter of the seed); their geometric mean is 1."""
    sd = float(model.get("cross_rank", {}).get("rank_log_sd", 0.0))
    if sd <= 0 or ranks < 2:
        return np.ones(ranks)
    return np.exp(sd * _blom(ranks)[np.random.default_rng([seed, 0, 2]).permutation(ranks)])


def _blom(ranks: int) -> np.ndarray:
    """Blom's scores: the expected normal order statistics of `ranks` draws (quantiles at (i - 3/8) / (ranks + 1/4));
    the stdlib's inverse normal CDF (Wichura's AS 241, ~1e-16): importing scipy.stats for it took ~0.6 s per call."""
    inv = NormalDist().inv_cdf
    return np.array([inv(q) for q in (np.arange(1, ranks + 1) - 0.375) / (ranks + 0.25)])


def stretch_scores(ranks: int, stretches: int, seed: int) -> np.ndarray | None:
    """Per stretch (row) and rank (column) a standard normal score for that stretch's speed, each row a seeded
    permutation of the `ranks` Blom scores: a collective waits for its slowest rank, and independent draws made
    that wait a matter of the seed (the DLRM step's idle share 0.066-0.164 over seeds 1-8, recorded 0.096); one
    rank has nothing to stratify across and draws its stretches at random (None)."""
    if ranks < 2 or stretches < 1:
        return None
    order = np.argsort(np.random.default_rng([seed, 0, 7]).random((stretches, ranks)), axis=1)
    return _blom(ranks)[order]


def rank_durations(model: dict, program: Program, rank: int, seed: int, scale_compute: float, rate: float | None,
                   speed: float, scores: np.ndarray | None = None) -> np.ndarray:
    """One rank's durations: the program's, times the rank's own timing noise, calibrated to its compute path.
    `scores`: the stretches' normal scores of every rank (stretch_scores; None: drawn for this rank alone)."""
    rng = np.random.default_rng([seed, rank + 1])
    n = len(program.kinds)
    # same op, same work on every rank (SPMD); per-rank timing noise as measured across the corpus's ranks
    sd = float(model.get("cross_rank", {}).get("duration_log_sd", 0.0))
    jitter = np.exp(rng.normal(0.0, sd, n)) if sd > 0 else 1.0
    seg_sd = float(model.get("cross_rank", {}).get("segment_log_sd", 0.0))
    if seg_sd > 0 and n and program.comm.any():
        # the rank's speed stretch by stretch between communication nodes (fit.segment_log_sd); its total is
        # calibrated below, so only where in the step the rank is slow changes
        stretch = np.cumsum(program.comm)
        z = (seg_sd * scores[:stretch[-1] + 1, rank] if scores is not None
             else np.random.default_rng([seed, rank + 1, 7]).normal(0.0, seg_sd, stretch[-1] + 1))
        jitter = jitter * np.exp(z)[stretch]
    # the rank's speed and --scale-compute are compute knobs: a comm node keeps its drawn (jittered) duration
    exact = np.maximum(program.duration_us * jitter * np.where(program.comm, 1.0, scale_compute * speed), 0.0)
    if rate is not None and n:
        dur = calibrate(exact, program.lanes(model["kind_stats"]), rate * n * scale_compute * speed)
    else:
        dur = np.rint(exact).astype(np.int64)
    if n and (dur.min() < 0 or dur.max() >= 1 << 63):
        raise ValueError(f"duration_micros out of range ({int(dur.min())}..{int(dur.max())})")
    return dur
