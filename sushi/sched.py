"""SushiSched and the baseline policies, simulated on one SushiAccel (FIFO, one query at a time).

A query waits until the accelerator is free; at its start ``s`` its *slack* is ``deadline - s``.

Per-query rule of ``sushi`` (``static`` and ``no-cache`` use the same rule with a fixed / empty PB):
the latencies it looks up are those *with the SubGraph now in the PB*, and the budget it gives the
query is bounded by the queue as well as by the query's own slack:

* ``b_slo`` -- the most this query may take so that each of the next ``lookahead`` *waiting* queries
  can still meet its SLO with its fastest SubNet (waiting queries already lost are skipped);
* ``b_acc`` -- the same with each waiting query getting its accuracy target (where that is still
  possible).

It serves the fastest SubNet meeting the query's accuracy target (+ ``headroom_pp``) if that fits
``min(slack, b_slo)``; otherwise (best effort, and for queries without a target) the most accurate SubNet
that fits; otherwise the fastest (an SLO miss).  When nobody is waiting, a target-meeting query is
*upgraded* to the most accurate SubNet finishing within ``upgrade`` x the mean inter-arrival gap of the
last window past its target SubNet (and within its slack): idle accelerator time bought as accuracy,
bounded so that the next arrival is rarely delayed (with Poisson arrivals the chance that it comes
during the upgrade is ``1 - exp(-upgrade)``).

Every ``window`` queries ``sushi`` re-selects the SubGraph to keep in the PB.  The demand of the last
window (each query's accuracy-target class; upgrades and best-effort queries by their SubNet) is
smoothed over windows and priced for every candidate SubGraph with the SubNet each query *would* get
under it; the PB switches to the best candidate only if its predicted saving over the next window
exceeds ``hysteresis`` x the cost of loading the bytes it does not share with the current one.

Baselines: ``static`` -- one SubGraph for the whole stream, the best in hindsight (the candidates SUSHI's
objective rates best for the whole stream's demand are each simulated, the best kept); ``no-cache`` --
PB unused; ``slackfit`` -- SuperServe's SlackFit: the most accurate SubNet whose profiled latency fits
``slack_fraction`` x the slack (reactive, no accuracy targets, no SubGraph caching).
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
    slack_fraction: float = 1.0     # SlackFit plans with at most this share of the slack
    headroom_pp: float = 0.0        # added to every accuracy target (iso-accuracy knob)
    objective: str = "balanced"     # SubGraph choice: latency | energy | balanced (sum of both, relative)
    lookahead: int = 8              # waiting queries whose SLO / target bound the current query's budget
    upgrade: float = 0.1            # idle upgrade budget in mean inter-arrival gaps (0 = serve targets exactly)
    hysteresis: float = 2.0         # switch only if the next window's predicted saving > this x refill cost
    min_gain: float = 0.01          # ... and > this share of the current SubGraph's predicted window cost
    smoothing: float = 0.5          # weight of the last window in the demand estimate (1 = last window only)
    static: str = "hindsight"       # static's SubGraph: best for the whole stream | best for a uniform menu mix
    static_shortlist: int = 4       # hindsight static: candidates simulated to find the best fixed SubGraph

    def validate(self):
        if self.window < 1:
            raise ValueError(f"window: must be >= 1, got {self.window}")
        if not 0 < self.slack_fraction <= 1:
            raise ValueError(f"slack_fraction: must be in (0, 1], got {self.slack_fraction}")
        if self.objective not in ("latency", "energy", "balanced"):
            raise ValueError(f"objective: expected latency, energy or balanced, got {self.objective!r}")
        if not -100 <= self.headroom_pp <= 100:
            raise ValueError(f"headroom_pp: must be within +-100, got {self.headroom_pp}")
        if not 0 <= self.lookahead <= 1000:
            raise ValueError(f"lookahead: must be in 0..1000, got {self.lookahead}")
        if not 0 <= self.upgrade <= 100:
            raise ValueError(f"upgrade: must be in [0, 100], got {self.upgrade}")
        if not 0 <= self.hysteresis <= 1e6:
            raise ValueError(f"hysteresis: must be in [0, 1e6], got {self.hysteresis}")
        if not 0 <= self.min_gain < 1:
            raise ValueError(f"min_gain: must be in [0, 1), got {self.min_gain}")
        if not 0 < self.smoothing <= 1:
            raise ValueError(f"smoothing: must be in (0, 1], got {self.smoothing}")
        if self.static not in ("hindsight", "uniform"):
            raise ValueError(f"static: expected hindsight or uniform, got {self.static!r}")
        if not 1 <= self.static_shortlist <= 64:
            raise ValueError(f"static_shortlist: must be in 1..64, got {self.static_shortlist}")


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


class Tables:
    """Per-candidate lookups for the per-query loop (Python lists: faster than numpy scalars).

    For candidate j: ``lat`` per SubNet; ``suf_idx[b]`` / ``suf_lat[b]`` the fastest SubNet at least as
    accurate as menu index b (ties -> the more accurate); ``f_lat`` / ``f_idx`` the best-effort frontier
    (increasing latency, each the most accurate SubNet within that latency)."""

    def __init__(self, cat: Catalog):
        self.cat = cat
        self._cache: dict[int, tuple] = {}
        N = cat.n
        lat = cat.lat_s                                     # [N, J]
        # suffix argmin over SubNets at least as accurate, for every candidate at once
        suf = np.empty(lat.shape, dtype=np.int64)
        best = np.full(lat.shape[1], N - 1)
        for n in range(N - 1, -1, -1):
            better = lat[n] < lat[best, np.arange(lat.shape[1])]
            best = np.where(better, n, best)
            suf[n] = best
        self.suf = suf                                      # [N, J]
        cols = np.arange(lat.shape[1])
        self.suf_lat = lat[suf, cols]                       # [N, J]
        self.suf_off = cat.off_bytes[suf, cols]

    def get(self, j: int):
        t = self._cache.get(j)
        if t is None:
            lat = self.cat.lat_s[:, j]
            N = len(lat)
            order = np.lexsort((-np.arange(N), lat))
            f_lat, f_idx, top = [], [], -1
            for n in order:
                if n > top:
                    f_lat.append(float(lat[n]))
                    f_idx.append(int(n))
                    top = n
            t = (lat.tolist(), self.suf[:, j].tolist(), self.suf_lat[:, j].tolist(), f_lat, f_idx)
            self._cache[j] = t
        return t


def _objective(objective: str, busy: np.ndarray, traffic: np.ndarray, busy0: float, traffic0: float):
    if objective == "latency":
        return busy
    if objective == "energy":
        return traffic
    return busy / max(busy0, 1e-30) + traffic / max(traffic0, 1e-30)   # balanced: each relative to no cache


def predicted_cost(cat: Catalog, tabs: Tables, demand: np.ndarray, served: np.ndarray, objective: str):
    """Cost of every candidate SubGraph for a mix: `demand[b]` queries whose accuracy target maps to menu
    index b (they get the fastest SubNet >= b under each candidate), `served[n]` queries that ran SubNet n
    (upgrades, best effort).  Returns (cost [J], busy0, traffic0) -- the last two for the empty cache."""
    busy = demand @ tabs.suf_lat + served @ cat.lat_s
    traffic = demand @ tabs.suf_off + served @ cat.off_bytes
    return _objective(objective, busy, traffic, busy[0], traffic[0]), busy[0], traffic[0]


def _fill_cost(cat: Catalog, j: int, objective: str, busy0: float, traffic0: float) -> np.ndarray:
    fb = cat.fill_bytes[j]
    return _objective(objective, fb / cat.acc.dram_bytes_per_s, fb, busy0, traffic0)


def uniform_candidate(cat: Catalog, cfg: SchedConfig) -> int:
    """The best SubGraph for a uniform mix over the menu: what a deployment without knowledge of the
    stream would cache (SUSHI's starting point)."""
    tabs = Tables(cat)
    cost, _, _ = predicted_cost(cat, tabs, np.zeros(cat.n), np.ones(cat.n), cfg.objective)
    return int(np.argmin(cost))


def _nmin(cat: Catalog, q: Queries, cfg: SchedConfig) -> np.ndarray:
    """Menu index of the least accurate SubNet meeting each query's target (N = no target)."""
    goal = np.where(np.isfinite(q.target), q.target + cfg.headroom_pp, np.inf)
    return np.searchsorted(cat.accuracy, goal - 1e-9, side="left")


def simulate(cat: Catalog, q: Queries, policy: str, cfg: SchedConfig | None = None, *,
             cache: int | None = None) -> SimResult:
    """Run one policy over the stream.  `cache` fixes the SubGraph (``static`` with a given candidate)."""
    if policy not in POLICIES:
        raise ToolError(f"unknown policy {policy!r} (known: {', '.join(POLICIES)}, all)")
    cfg = cfg or SchedConfig()
    if policy == "static" and cache is None:
        if cfg.static == "hindsight":
            return best_static(cat, q, cfg)
        cache = uniform_candidate(cat, cfg)
    if policy == "slackfit":
        return _slackfit(cat, q, cfg)
    tabs = Tables(cat)
    N, Q = cat.n, len(q)
    j = {"sushi": uniform_candidate(cat, cfg), "no-cache": 0}.get(policy, cache)
    adaptive = policy == "sushi"
    nmin_a = _nmin(cat, q, cfg)
    nmin_l = nmin_a.tolist()
    arr_l = q.arrival_s.tolist()
    dl_l = (q.arrival_s + q.slo_s).tolist()
    sub_l = [0] * Q
    st_l = [0.0] * Q
    kind_l = [0] * Q                 # 0 = served at its target class, 1 = upgraded / best effort / no target
    look = cfg.lookahead
    up = cfg.upgrade
    bw = cat.acc.dram_bytes_per_s
    free = 0.0
    fill_bytes = fill_total = 0.0
    windows = []                     # SubGraph resident in each window of W queries
    W = cfg.window
    demand_est = None
    served_est = None
    for a in range(0, Q, W):
        b = min(Q, a + W)
        windows.append(j)
        lat_j, suf_idx, suf_lat, f_lat, f_idx = tabs.get(j)
        f0 = f_idx[0]
        fl0 = f_lat[0]
        # upgrade budget: `upgrade` x the mean inter-arrival gap of the previous window (none in the first)
        ugap = up * (arr_l[a - 1] - arr_l[a - W]) / (W - 1) if a >= W and W > 1 else 0.0
        for k in range(a, b):
            t = arr_l[k]
            s = free if free > t else t
            own = dl_l[k] - s
            cap = own
            waiting = k + 1 < Q and arr_l[k + 1] <= s
            if waiting and look:        # leave room for the waiting queries to meet their SLOs
                cf = 0.0
                lim = min(Q, k + 1 + look)
                i = k + 1
                while i < lim and arr_l[i] <= s:
                    cf += fl0
                    v = dl_l[i] - s - cf
                    if fl0 <= v < cap:  # (a query lost even if this one runs its fastest SubNet is skipped)
                        cap = v
                    i += 1
            nm = nmin_l[k]
            if nm < N and suf_lat[nm] <= cap:
                n = suf_idx[nm]
                if ugap > 0 and not waiting:
                    u = suf_lat[nm] + ugap
                    if u > own:
                        u = own
                    x = bisect_right(f_lat, u) - 1
                    if f_idx[x] > n:
                        n = f_idx[x]
                        kind_l[k] = 1
            else:
                x = bisect_right(f_lat, cap) - 1
                n = f_idx[x] if x >= 0 else f0
                kind_l[k] = 1
            free = s + lat_j[n]
            sub_l[k] = n
            st_l[k] = s
        if adaptive and b < Q:
            nm_w = nmin_a[a:b]
            kd = np.array(kind_l[a:b], dtype=bool)
            dem = np.bincount(nm_w[~kd], minlength=N + 1)[:N].astype(np.float64)
            srv = np.bincount(np.array(sub_l[a:b])[kd], minlength=N).astype(np.float64)
            sm = cfg.smoothing
            if demand_est is None:
                demand_est, served_est = dem, srv
            else:
                demand_est = sm * dem + (1 - sm) * demand_est
                served_est = sm * srv + (1 - sm) * served_est
            cost, busy0, traffic0 = predicted_cost(cat, tabs, demand_est, served_est, cfg.objective)
            score = cost + cfg.hysteresis * _fill_cost(cat, j, cfg.objective, busy0, traffic0)
            nj = int(np.argmin(score))
            if nj != j and score[nj] < cost[j] * (1 - cfg.min_gain) - 1e-12:
                fill_bytes += float(cat.fill_bytes[j, nj])
                fs = float(cat.fill_bytes[j, nj]) / bw
                fill_total += fs
                free += fs
                j = nj
    subnet = np.array(sub_l, dtype=np.int64)
    start = np.array(st_l, dtype=np.float64)
    window_cache = np.array(windows, dtype=np.int64)
    cache_a = np.repeat(window_cache, W)[:Q]
    finish = start + cat.lat_s[subnet, cache_a]
    return SimResult(policy, subnet, cache_a, start, finish, window_cache, fill_bytes, fill_total)


def _slackfit(cat: Catalog, q: Queries, cfg: SchedConfig) -> SimResult:
    """SuperServe's SlackFit: the most accurate SubNet whose latency fits slack_fraction x slack."""
    tabs = Tables(cat)
    Q = len(q)
    lat, _, _, f_lat, f_idx = tabs.get(0)
    f0 = f_idx[0]
    alpha = cfg.slack_fraction
    arr_l = q.arrival_s.tolist()
    dl_l = (q.arrival_s + q.slo_s).tolist()
    sub_l = [0] * Q
    st_l = [0.0] * Q
    free = 0.0
    for k in range(Q):
        t = arr_l[k]
        s = free if free > t else t
        x = bisect_right(f_lat, (dl_l[k] - s) * alpha) - 1
        n = f_idx[x] if x >= 0 else f0
        free = s + lat[n]
        sub_l[k] = n
        st_l[k] = s
    subnet = np.array(sub_l, dtype=np.int64)
    start = np.array(st_l, dtype=np.float64)
    zeros = np.zeros(Q, dtype=np.int64)
    nwin = -(-Q // cfg.window)
    return SimResult("slackfit", subnet, zeros, start, start + cat.lat_s[subnet, 0], np.zeros(nwin, dtype=np.int64),
                     0.0, 0.0)


def measured_cost(cat: Catalog, r: SimResult, objective: str, busy0: float, traffic0: float) -> float:
    busy = float(cat.lat_s[r.subnet, r.cache].sum()) + r.fill_s
    traffic = float(cat.off_bytes[r.subnet, r.cache].sum()) + r.fill_bytes
    return float(_objective(objective, np.array([busy]), np.array([traffic]), busy0, traffic0)[0])


def best_static(cat: Catalog, q: Queries, cfg: SchedConfig) -> SimResult:
    """The best fixed SubGraph in hindsight: SUSHI's objective ranks every candidate on the whole stream's
    demand (each query priced with the SubNet it would get under that candidate); the `static_shortlist`
    best are simulated and the one with the lowest measured objective is kept."""
    tabs = Tables(cat)
    N = cat.n
    nm = _nmin(cat, q, cfg)
    demand = np.bincount(nm[nm < N], minlength=N).astype(np.float64)
    served = np.zeros(N)
    no_t = nm >= N
    if no_t.any():          # queries without a target: the most accurate SubNet their SLO allows, no cache
        _, _, _, f_lat, f_idx = tabs.get(0)
        x = np.searchsorted(np.array(f_lat), q.slo_s[no_t], side="right") - 1
        served = np.bincount(np.array(f_idx)[np.maximum(x, 0)], minlength=N).astype(np.float64)
    cost, busy0, traffic0 = predicted_cost(cat, tabs, demand, served, cfg.objective)
    short = [int(c) for c in np.argsort(cost, kind="stable")[:cfg.static_shortlist]]
    best = None
    for c in short:
        r = simulate(cat, q, "static", cfg, cache=c)
        m = measured_cost(cat, r, cfg.objective, busy0, traffic0)
        if best is None or m < best[0] - 1e-12:
            best = (m, r)
    return best[1]
