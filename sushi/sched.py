"""SushiSched and the baseline policies, simulated on one SushiAccel (FIFO, one query at a time).

A query waits until the accelerator is free; its *slack* is then ``SLO - wait``.  Policies:

* ``sushi``    -- per query: the fastest SubNet, *given the SubGraph now in the PB*, whose accuracy meets
  the query's target (+ ``headroom_pp``) if it fits in the slack; otherwise (best effort, and for queries
  without a target) the most accurate SubNet that fits; otherwise the fastest.  Every ``window`` queries it re-selects the SubGraph to keep in
  the PB: the candidate minimising the predicted busy time of the last window's SubNet mix, counting the
  time to fetch the new PB contents (so it switches only when that pays off).
* ``static``   -- the same per-query rule with one SubGraph fixed at deployment, without knowledge of the
  stream: the candidate SUSHI's objective picks for a uniform mix over the menu.
* ``no-cache`` -- the same per-query rule, PB unused.
* ``slackfit`` -- SuperServe's SlackFit: the most accurate SubNet whose profiled latency fits the slack
  (reactive, no accuracy targets, no SubGraph caching -- SuperServe's accelerators have none).

All four see the same queries and the same SubNet menu; only the rule and the PB differ.
"""
from __future__ import annotations

from bisect import bisect_right
from dataclasses import dataclass

import numpy as np

from chakra_tools.common import ToolError

from .catalog import Catalog
from .workload import Queries

POLICIES = ("sushi", "no-cache", "static", "slackfit")


@dataclass
class SchedConfig:
    window: int = 500               # queries between SubGraph re-selections
    slack_fraction: float = 1.0     # a policy plans to use at most this share of the slack
    headroom_pp: float = 0.0        # added to every accuracy target (iso-accuracy knob)
    objective: str = "balanced"     # SubGraph re-selection: latency | energy | balanced (sum of both, relative)

    def validate(self):
        if self.window < 1:
            raise ValueError(f"window: must be >= 1, got {self.window}")
        if not 0 < self.slack_fraction <= 1:
            raise ValueError(f"slack_fraction: must be in (0, 1], got {self.slack_fraction}")
        if self.objective not in ("latency", "energy", "balanced"):
            raise ValueError(f"objective: expected latency, energy or balanced, got {self.objective!r}")
        if not -100 <= self.headroom_pp <= 100:
            raise ValueError(f"headroom_pp: must be within +-100, got {self.headroom_pp}")


@dataclass
class SimResult:
    policy: str
    subnet: np.ndarray          # [Q] menu index served
    cache: np.ndarray           # [Q] candidate SubGraph resident while it ran
    start_s: np.ndarray
    finish_s: np.ndarray
    window_cache: np.ndarray    # [windows] SubGraph chosen for each window
    fill_bytes: float           # PB refill traffic
    fill_s: float


class _Tables:
    """Per-candidate lookup lists for the per-query loop (Python lists: faster than numpy scalars)."""

    def __init__(self, cat: Catalog):
        self.cat = cat
        self._cache: dict[int, tuple] = {}

    def get(self, j: int):
        t = self._cache.get(j)
        if t is None:
            lat = self.cat.lat_s[:, j]
            N = len(lat)
            # suffix argmin of latency over SubNets at least as accurate (ties -> the more accurate one)
            suf_idx = np.empty(N, dtype=np.int64)
            best = N - 1
            for n in range(N - 1, -1, -1):
                if lat[n] < lat[best]:
                    best = n
                suf_idx[n] = best
            # best-effort frontier: most accurate SubNet within a latency budget
            order = np.lexsort((-np.arange(N), lat))
            f_lat, f_idx, top = [], [], -1
            for n in order:
                if n > top:
                    f_lat.append(float(lat[n]))
                    f_idx.append(int(n))
                    top = n
            t = (lat.tolist(), suf_idx.tolist(), lat[suf_idx].tolist(), f_lat, f_idx)
            self._cache[j] = t
        return t


def _score(cat: Catalog, counts: np.ndarray, objective: str, fill_s=0.0, fill_bytes=0.0) -> np.ndarray:
    """Predicted cost of each candidate SubGraph for a SubNet mix (`counts` per menu SubNet)."""
    busy = counts @ cat.lat_s + fill_s
    traffic = counts @ cat.off_bytes + fill_bytes
    if objective == "latency":
        return busy
    if objective == "energy":
        return traffic
    return busy / busy[0] + traffic / traffic[0]        # balanced: each relative to the empty cache


def static_candidate(cat: Catalog, cfg: SchedConfig) -> int:
    """The fixed SubGraph of `static`: the best candidate for a uniform mix over the menu."""
    return int(np.argmin(_score(cat, np.ones(cat.n), cfg.objective)))


def simulate(cat: Catalog, q: Queries, policy: str, cfg: SchedConfig | None = None) -> SimResult:
    if policy not in POLICIES:
        raise ToolError(f"unknown policy {policy!r} (known: {', '.join(POLICIES)}, all)")
    cfg = cfg or SchedConfig()
    N, Q = cat.n, len(q)
    tabs = _Tables(cat)
    alpha = cfg.slack_fraction
    if policy == "slackfit":
        nmin = np.full(Q, N, dtype=np.int64)             # no targets: always "most accurate that fits"
    else:                       # a query without a target wants the most accurate SubNet its SLO allows
        goal = np.where(np.isfinite(q.target), q.target + cfg.headroom_pp, np.inf)
        nmin = np.searchsorted(cat.accuracy, goal - 1e-9, side="left")
    nmin_l = nmin.tolist()
    arr_l = q.arrival_s.tolist()
    slo_l = q.slo_s.tolist()
    subnet = np.empty(Q, dtype=np.int64)
    start = np.empty(Q, dtype=np.float64)
    cache = np.empty(Q, dtype=np.int64)
    core = cat.candidate_for(0, N - 1)                   # the SubGraph every menu SubNet shares
    j = {"sushi": core, "static": static_candidate(cat, cfg)}.get(policy, 0)
    bw = cat.acc.dram_bytes_per_s
    fill_s_tab = cat.fill_bytes / bw
    free = 0.0
    fill_bytes = 0.0
    fill_total = 0.0
    windows = []
    sub_l = [0] * Q
    st_l = [0.0] * Q
    W = cfg.window
    for a in range(0, Q, W):
        b = min(Q, a + W)
        windows.append(j)
        lat_j, suf_idx, suf_lat, f_lat, f_idx = tabs.get(j)
        f0 = f_idx[0]
        for k in range(a, b):
            t = arr_l[k]
            s = free if free > t else t
            slack = (slo_l[k] - (s - t)) * alpha
            nm = nmin_l[k]
            if nm < N and suf_lat[nm] <= slack:
                n = suf_idx[nm]
            else:
                x = bisect_right(f_lat, slack) - 1
                n = f_idx[x] if x >= 0 else f0
            free = s + lat_j[n]
            sub_l[k] = n
            st_l[k] = s
        cache[a:b] = j
        if policy == "sushi" and b < Q:
            counts = np.bincount(np.array(sub_l[a:b]), minlength=N).astype(np.float64)
            score = _score(cat, counts, cfg.objective, fill_s_tab[j], cat.fill_bytes[j])
            nj = int(np.argmin(score))
            if nj != j and score[nj] < score[j] - 1e-12:
                fill_bytes += float(cat.fill_bytes[j, nj])
                fill_total += float(fill_s_tab[j, nj])
                free += fill_s_tab[j, nj]
                j = nj
    subnet[:] = sub_l
    start[:] = st_l
    finish = start + cat.lat_s[subnet, cache]
    return SimResult(policy, subnet, cache, start, finish, np.array(windows, dtype=np.int64), fill_bytes, fill_total)
