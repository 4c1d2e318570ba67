"""Query streams: arrival processes, SLO and accuracy-target distributions, CSV traces.

A query = (arrival time, latency SLO, minimum accuracy).  Generated streams are seeded numpy draws:

* ``poisson``  -- exponential inter-arrivals at ``rate_qps``;
* ``bursty``   -- a two-state Markov-modulated Poisson process: calm at ``rate_qps``, bursts at
  ``rate_qps * burst_factor``; state sojourns are exponential with means ``calm_ms`` / ``burst_ms``;
* ``diurnal``  -- a non-homogeneous Poisson process with rate ``rate_qps * (1 + amplitude * sin(2 pi t /
  period_s))`` (time-rescaling of a unit-rate process, so it is exact).

``phases`` change the SLO / accuracy-target distributions over time (cyclically, each for ``duration_s``)
-- the drifting query mix SUSHI's SubGraph re-selection reacts to.  The default drifts the accuracy
target through six 20 s phases (`DEFAULT_DRIFT`); ``phases: []`` gives a stationary mix.

Distributions: ``{dist: constant, value}``, ``{dist: uniform, low, high}``, ``{dist: lognormal, median,
sigma}``, ``{dist: choice, values: [...], weights: [...]}``.

CSV trace: header ``arrival_ms,slo_ms[,accuracy_target]`` (accuracy_target in %, empty = none).
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from chakra_tools.common import ConfigError, ToolError, read_csv_rows

MAX_TIME_MS = 1e10      # beyond ~1e7 s a double no longer resolves microseconds


@dataclass
class Dist:
    dist: str = "constant"
    value: float | None = None
    low: float | None = None
    high: float | None = None
    median: float | None = None
    sigma: float | None = None
    values: list[float] | None = None
    weights: list[float] | None = None

    def validate(self):
        need = {"constant": ("value",), "uniform": ("low", "high"), "lognormal": ("median", "sigma"),
                "choice": ("values",)}
        if self.dist not in need:
            raise ValueError(f"dist: expected one of {', '.join(need)}, got {self.dist!r}")
        for k in need[self.dist]:
            if getattr(self, k) is None:
                raise ValueError(f"{k}: required for dist {self.dist}")
        if self.dist == "uniform" and not self.low <= self.high:
            raise ValueError(f"uniform needs low <= high, got {self.low} > {self.high}")
        if self.dist == "lognormal" and not (self.median > 0 and self.sigma >= 0):
            raise ValueError("lognormal needs median > 0 and sigma >= 0")
        if self.dist == "choice":
            if not self.values:
                raise ValueError("values: must not be empty")
            if self.weights is not None:
                if len(self.weights) != len(self.values) or any(w < 0 for w in self.weights) or sum(self.weights) <= 0:
                    raise ValueError("weights: one non-negative weight per value, not all zero")

    def draw(self, rng: np.random.Generator, n: int) -> np.ndarray:
        if self.dist == "constant":
            return np.full(n, float(self.value))
        if self.dist == "uniform":
            return rng.uniform(self.low, self.high, size=n)
        if self.dist == "lognormal":
            return self.median * np.exp(self.sigma * rng.standard_normal(n))
        p = None if self.weights is None else np.asarray(self.weights, float) / sum(self.weights)
        return rng.choice(np.asarray(self.values, float), size=n, p=p)


@dataclass
class Phase:
    duration_s: float = 60.0
    slo_ms: Dist | None = None
    accuracy_target: Dist | None = None

    def validate(self):
        if not self.duration_s > 0:
            raise ValueError(f"duration_s: must be > 0, got {self.duration_s}")


# The default accuracy demand drifts through a 2-minute cycle (20 s per phase): (low, high) of a uniform
# target in %, from mostly-cheap requests up to high-accuracy ones and back (docs: "default workload").
DEFAULT_DRIFT = ((66, 72), (69, 74), (72, 76), (74, 77), (72, 76), (69, 74))


def drift_phases(bands, duration_s: float = 20.0) -> list[Phase]:
    return [Phase(duration_s, accuracy_target=Dist("uniform", low=float(lo), high=float(hi))) for lo, hi in bands]


@dataclass
class Workload:
    """Default: an edge vision service (see docs/sushi-serve.md, "default workload")."""
    queries: int = 100_000
    arrival: str = "bursty"
    rate_qps: float = 700.0
    burst_factor: float = 2.0
    calm_ms: float = 200.0
    burst_ms: float = 50.0
    amplitude: float = 0.5
    period_s: float = 60.0
    slo_ms: Dist = field(default_factory=lambda: Dist("uniform", low=1.0, high=4.0))
    accuracy_target: Dist = field(default_factory=lambda: Dist("uniform", low=70.0, high=76.0))
    phases: list[Phase] = field(default_factory=lambda: drift_phases(DEFAULT_DRIFT))

    def validate(self):
        if self.arrival not in ("poisson", "bursty", "diurnal"):
            raise ValueError(f"arrival: expected poisson, bursty or diurnal, got {self.arrival!r}")
        if self.queries < 1:
            raise ValueError(f"queries: must be >= 1, got {self.queries}")
        if self.queries > 50_000_000:
            raise ValueError(f"queries: at most 50,000,000, got {self.queries}")
        for f, lo in (("rate_qps", 1e-3), ("burst_factor", 1e-3), ("calm_ms", 1e-3), ("burst_ms", 1e-3),
                      ("period_s", 1e-3)):
            if not lo <= getattr(self, f) <= 1e9:
                raise ValueError(f"{f}: must be in [{lo:g}, 1e9], got {getattr(self, f)}")
        if not 0 <= self.amplitude < 1:
            raise ValueError(f"amplitude: must be in [0, 1), got {self.amplitude}")

    def distributions(self) -> list[tuple[str, Dist]]:
        """(key, distribution) of every SLO and accuracy-target distribution, the phases' included."""
        out = [("slo_ms", self.slo_ms), ("accuracy_target", self.accuracy_target)]
        for i, p in enumerate(self.phases):
            out += [(f"phases[{i}].slo_ms", p.slo_ms), (f"phases[{i}].accuracy_target", p.accuracy_target)]
        return [(k, d) for k, d in out if d is not None]


# what a drawn SLO / accuracy target must be: the rule --trace CSVs follow too (read_trace)
_RULE = {"slo_ms": f"SLOs must be in (0, {MAX_TIME_MS:.0e}] ms", "accuracy_target": "accuracy targets must be "
         "percentages in [0, 100]"}


def _kind(key: str) -> str:
    return key.rpartition(".")[2]


def _in_range(key: str, x: np.ndarray) -> np.ndarray:
    """Per value: is it a valid draw of the distribution at `key` (NaN is not)."""
    if _kind(key) == "slo_ms":
        return (x > 0) & (x <= MAX_TIME_MS)
    return (x >= 0) & (x <= 100)


def _bounds(d: Dist) -> tuple[float, float]:
    """The smallest and largest value `d` is set to draw (a lognormal's tails are only checked on the draws)."""
    if d.dist == "constant":
        return d.value, d.value
    if d.dist == "uniform":
        return d.low, d.high
    if d.dist == "lognormal":
        return d.median, d.median
    return min(d.values), max(d.values)


def _check_settings(w: Workload, file) -> None:
    """Before drawing: each distribution's own settings (constant value, uniform low/high, ...) must obey the rule."""
    for key, d in w.distributions():
        d.validate()            # a Workload built in Python has not been through the config loader's checks
        lo, hi = _bounds(d)
        if not _in_range(key, np.array([lo, hi])).all():
            raise ConfigError(file, f"workload.{key}", f"{_RULE[_kind(key)]}, got {d.dist} "
                              f"{'median ' if d.dist == 'lognormal' else ''}{lo:g}"
                              + ("" if hi == lo else f" to {hi:g}"))


def _check_draws(key: str, x: np.ndarray, file) -> None:
    bad = ~_in_range(key, x)
    if bad.any():
        raise ConfigError(file, f"workload.{key}", f"drew {x[bad][0]:g}; {_RULE[_kind(key)]}")


@dataclass
class Queries:
    arrival_s: np.ndarray
    slo_s: np.ndarray
    target: np.ndarray          # minimum top-1 %, -inf = none

    def __len__(self) -> int:
        return len(self.arrival_s)


def _arrivals(w: Workload, rng: np.random.Generator, n: int) -> np.ndarray:
    if w.arrival == "poisson":
        return np.cumsum(rng.exponential(1.0 / w.rate_qps, size=n))
    if w.arrival == "diurnal":
        # unit-rate arrivals u_k mapped through the inverse of Lambda(t) = r (t - A P/2pi (cos(2pi t/P) - 1))
        u = np.cumsum(rng.exponential(1.0, size=n)) / w.rate_qps
        t = u.copy()
        P, A = w.period_s, w.amplitude
        for _ in range(60):                      # Newton on the monotone Lambda(t)/r - u = 0
            f = t - A * P / (2 * math.pi) * (np.cos(2 * math.pi * t / P) - 1) - u
            t = t - f / (1 + A * np.sin(2 * math.pi * t / P))
        return t
    # bursty: alternate calm/burst sojourns, draw arrivals per sojourn (vectorised in chunks)
    out, t, burst = [], 0.0, False
    total = 0
    per_pair = w.rate_qps * (w.calm_ms + w.burst_ms * w.burst_factor) / 1e3   # expected queries per calm+burst
    while total < n:
        k = min(64 + int(2.2 * (n - total) / per_pair), 4_000_000)
        is_burst = np.arange(k) % 2 == (0 if burst else 1)
        lens = rng.exponential(np.where(is_burst, w.burst_ms, w.calm_ms) / 1e3)
        rates = np.where(is_burst, w.rate_qps * w.burst_factor, w.rate_qps)
        counts = rng.poisson(lens * rates)
        starts = t + np.concatenate([[0.0], np.cumsum(lens)[:-1]])
        seg = np.repeat(np.arange(k), counts)
        arr = starts[seg] + rng.random(len(seg)) * lens[seg]
        # sort within each sojourn (uniform order statistics of a Poisson process)
        arr = arr[np.lexsort((arr, seg))]
        out.append(arr)
        total += len(arr)
        t = starts[-1] + lens[-1]
        burst = burst if k % 2 == 0 else not burst
    return np.concatenate(out)[:n]


def mean_rate(w: Workload) -> float:
    if w.arrival == "bursty":
        return w.rate_qps * (w.calm_ms + w.burst_ms * w.burst_factor) / (w.calm_ms + w.burst_ms)
    return w.rate_qps


def generate(w: Workload, seed: int, n: int | None = None, file=None) -> Queries:
    """`n` (default `w.queries`) queries drawn with `seed`; errors name the config `file` `w` came from."""
    n = w.queries if n is None else n
    if n / mean_rate(w) > MAX_TIME_MS / 1e3 / 2:
        raise ConfigError(file, "workload", f"{n:,} queries at {mean_rate(w):.3g} qps last longer than "
                          f"{MAX_TIME_MS / 2e3:.0e} s; raise rate_qps or lower the query count")
    _check_settings(w, file)
    rng = np.random.default_rng(seed)
    arr = _arrivals(w, rng, n)
    slo = w.slo_ms.draw(rng, n)
    tgt = w.accuracy_target.draw(rng, n)
    if w.phases:
        cycle = sum(p.duration_s for p in w.phases)
        edges = np.cumsum([0.0] + [p.duration_s for p in w.phases])
        ph = np.searchsorted(edges, np.mod(arr, cycle), side="right") - 1
        for k, p in enumerate(w.phases):
            m = ph == k
            cnt = int(m.sum())
            if p.slo_ms is not None:
                slo[m] = p.slo_ms.draw(rng, cnt)
                _check_draws(f"phases[{k}].slo_ms", slo[m], file)
            if p.accuracy_target is not None:
                tgt[m] = p.accuracy_target.draw(rng, cnt)
                _check_draws(f"phases[{k}].accuracy_target", tgt[m], file)
    # the phases' draws passed, so a bad value left is one of the base distributions' (a lognormal's tail)
    _check_draws("slo_ms", slo, file)
    _check_draws("accuracy_target", tgt, file)
    if arr[-1] * 1e3 > MAX_TIME_MS:
        raise ConfigError(file, "workload", f"the stream lasts longer than {MAX_TIME_MS:.0e} ms; raise rate_qps "
                          "or lower the query count")
    return Queries(arr, slo / 1e3, tgt)


def read_trace(path: str | Path) -> Queries:
    """CSV `arrival_ms,slo_ms[,accuracy_target]`; rows sorted by arrival (checked)."""
    p = Path(path)
    rows = read_csv_rows(p, "CSV file")
    if not rows:
        raise ToolError(f"{p}: empty trace, expected a header arrival_ms,slo_ms[,accuracy_target]")
    head = [c.strip().lower() for c in rows[0]]
    if head[:2] != ["arrival_ms", "slo_ms"] or len(head) > 3 or (len(head) == 3 and head[2] != "accuracy_target"):
        raise ToolError(f"{p}: line 1: expected header arrival_ms,slo_ms[,accuracy_target], got {','.join(rows[0])}")
    arr, slo, tgt = [], [], []
    for ln, r in enumerate(rows[1:], start=2):
        if not r or all(not c.strip() for c in r):
            continue
        if len(r) != len(head):
            raise ToolError(f"{p}: line {ln}: expected {len(head)} fields, got {len(r)}")
        try:
            a, s = float(r[0]), float(r[1])
            t = float(r[2]) if len(r) == 3 and r[2].strip() else -math.inf
        except ValueError:
            raise ToolError(f"{p}: line {ln}: not a number in {','.join(r)}") from None
        if not (math.isfinite(a) and math.isfinite(s)) or a < 0 or s <= 0:
            raise ToolError(f"{p}: line {ln}: arrival_ms must be >= 0 and slo_ms > 0 (finite)")
        if a > MAX_TIME_MS or s > MAX_TIME_MS:
            raise ToolError(f"{p}: line {ln}: times above {MAX_TIME_MS:.0e} ms (115 days) are not supported")
        if t != -math.inf and not (math.isfinite(t) and 0 <= t <= 100):
            raise ToolError(f"{p}: line {ln}: accuracy_target must be a percentage in [0, 100]")
        if arr and a < arr[-1]:
            raise ToolError(f"{p}: line {ln}: arrival_ms {a} is before the previous row's {arr[-1]} "
                            "(rows must be sorted by arrival)")
        arr.append(a)
        slo.append(s)
        tgt.append(t)
    if not arr:
        raise ToolError(f"{p}: trace has a header but no queries")
    return Queries(np.array(arr) / 1e3, np.array(slo) / 1e3, np.array(tgt))
