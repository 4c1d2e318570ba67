"""Python API: configuration, running policies on a query stream, metrics and the report."""
from __future__ import annotations

from dataclasses import asdict, dataclass, field, replace

import numpy as np

from chakra_tools.common import ToolError
from chakra_tools.common import load_config as _load_config

from .accel import Accelerator
from .catalog import Catalog, build_catalog
from .sched import POLICIES, SchedConfig, SimResult, simulate, uniform_candidate
from .supernet import SUPERNETS, get_supernet
from .workload import Dist, Queries, Workload, drift_phases, generate

ISO_TOL_PP = 0.05
RESNET50_DRIFT = ((74, 76.5), (75, 77.5), (76, 78.5), (77, 79.5), (76, 78.5), (75, 77.5))


@dataclass
class MenuConfig:
    size: int = 24                      # SubNets in the menu (Pareto frontier, evenly spread in accuracy)
    seed: int = 0                       # seed of the menu search (a property of the model, not the stream)
    subnets: list[dict] | None = None   # explicit menu instead (OFA SubNet dicts)

    def validate(self):
        if not 1 <= self.size <= 48:
            raise ValueError(f"size: must be in 1..48, got {self.size}")


def default_workload(supernet: str) -> Workload:
    """The documented default query mix of each SuperNet (docs/sushi-serve.md, "default workload")."""
    if supernet == "ofa-resnet50":      # ResNet50 SubNets are ~4x slower: scale the rate, SLOs and targets
        w = Workload(rate_qps=250.0, slo_ms=Dist("uniform", low=3.0, high=10.0),
                     accuracy_target=Dist("uniform", low=74.0, high=78.0), phases=drift_phases(RESNET50_DRIFT))
    else:
        w = Workload()
    w.validate()
    for d in (w.slo_ms, w.accuracy_target):
        d.validate()
    return w


@dataclass
class Config:
    supernet: str = "ofa-mbv3"
    accelerator: Accelerator = field(default_factory=Accelerator)
    workload: Workload | None = None    # None = the SuperNet's default query mix
    scheduler: SchedConfig = field(default_factory=SchedConfig)
    menu: MenuConfig = field(default_factory=MenuConfig)
    source: str | None = field(default=None, init=False, compare=False)   # the config file, for error messages

    def validate(self):
        if self.supernet not in SUPERNETS:
            raise ValueError(f"supernet: expected one of {', '.join(SUPERNETS)}, got {self.supernet!r}")
        for part in (self.accelerator, self.scheduler, self.menu):   # defaults are validated too
            part.validate()
        if self.menu.subnets is not None:
            self.menu.subnets = checked_subnets(get_supernet(self.supernet), self.menu.subnets)

    def resolved_workload(self) -> Workload:
        if self.workload is None:
            self.workload = default_workload(self.supernet)
        return self.workload


def default_config() -> Config:
    c = Config()
    c.validate()
    return c


def load_config(path) -> Config:
    cfg = _load_config(Config, path)
    cfg.source = str(path)
    return cfg


def checked_subnets(net, subnets: list) -> list[dict]:
    """Validate an explicit menu (raises ValueError naming menu.subnets[i].key)."""
    if not subnets:
        raise ValueError("menu.subnets: must not be empty")
    try:
        out = [net.validate(s, f"menu.subnets[{i}].") for i, s in enumerate(subnets)]
    except ToolError as e:
        raise ValueError(str(e)) from None
    keys = [net.key(s) for s in out]
    if len(set(keys)) != len(keys):
        raise ValueError("menu.subnets: duplicate SubNet")
    return out


def make_catalog(cfg: Config) -> Catalog:
    net = get_supernet(cfg.supernet)
    subnets = None
    if cfg.menu.subnets is not None:
        try:
            subnets = checked_subnets(net, cfg.menu.subnets)
        except ValueError as e:
            raise ToolError(str(e)) from None
    return build_catalog(net, cfg.accelerator, subnets, menu_size=cfg.menu.size, seed=cfg.menu.seed,
                         objective=cfg.scheduler.objective)


# --------------------------------------------------------------------------- metrics
def slo_met(q: Queries, lat: np.ndarray) -> np.ndarray:
    """Per query: did it finish within its SLO (latency `lat` s)."""
    return lat <= q.slo_s + 1e-12


def _pb_hit(cat: Catalog, r: SimResult):
    """Per query: off-chip bytes, weight bytes of its SubNet, and the weight bytes the PB served."""
    off_q = cat.off_bytes[r.subnet, r.cache]
    wb = cat.costs.weight_bytes.sum(axis=1)[r.subnet]
    act = cat.costs.act_offchip_bytes.sum(axis=1)[r.subnet]
    return off_q, wb, wb - (off_q - act)


def metrics(cat: Catalog, q: Queries, r: SimResult) -> dict:
    lat = r.finish_s - q.arrival_s
    svc = cat.lat_s[r.subnet, r.cache]
    met = slo_met(q, lat)
    acc = cat.accuracy[r.subnet]
    off_q, wb, hit = _pb_hit(cat, r)
    off = float(off_q.sum()) + r.fill_bytes
    pj = cat.acc.dram_pj_per_byte
    has_t = np.isfinite(q.target)
    acc_ok = np.where(has_t, acc >= q.target - 1e-9, True)
    span = float(r.finish_s.max() - min(q.arrival_s.min(), 0.0))
    Q = len(q)
    return {
        "queries": Q,
        "mean_latency_ms": float(lat.mean() * 1e3),
        "p50_latency_ms": float(np.percentile(lat, 50) * 1e3),
        "p99_latency_ms": float(np.percentile(lat, 99) * 1e3),
        "mean_service_ms": float(svc.mean() * 1e3),
        "mean_wait_ms": float((r.start_s - q.arrival_s).mean() * 1e3),
        "slo_attainment": float(met.mean()),
        "served_accuracy": float(acc.mean()),
        "effective_accuracy": float(np.where(met, acc, 0.0).mean()),
        "accuracy_target_met": float(acc_ok.mean()),
        "goodput": float((met & acc_ok).mean()),
        "offchip_bytes": off,
        "offchip_bytes_per_query": off / Q,
        "offchip_energy_mj": off * pj * 1e-9,
        "offchip_energy_uj_per_query": off * pj * 1e-6 / Q,
        "pb_hit_rate": float(hit.sum() / wb.sum()),
        "pb_fill_bytes": r.fill_bytes,
        "subgraph_switches": int(np.count_nonzero(np.diff(r.window_cache))),
        "utilization": float((svc.sum() + r.fill_s) / span) if span > 0 else 0.0,
        "subnets_used": int(len(np.unique(r.subnet))),
    }


def window_series(cat: Catalog, q: Queries, r: SimResult, window: int) -> dict:
    """Per window: start time, PB hit rate, mean served accuracy and latency (for --plot)."""
    _, wb, hit = _pb_hit(cat, r)
    edges = np.arange(0, len(q), window)
    sums = lambda x: np.add.reduceat(x, edges)  # noqa: E731
    cnt = np.diff(np.append(edges, len(q)))
    return {"t_s": q.arrival_s[edges], "hit_rate": sums(hit) / sums(wb), "accuracy": sums(cat.accuracy[r.subnet]) / cnt,
            "latency_ms": sums(r.finish_s - q.arrival_s) / cnt * 1e3}


# --------------------------------------------------------------------------- running policies
def run_policies(cat: Catalog, q: Queries, policies, sched: SchedConfig) -> dict[str, SimResult]:
    return {p: simulate(cat, q, p, sched) for p in policies}


SUSHI_HEADROOMS = (-6.0, -4.0, -2.0, -1.0, 0.0, 1.0, 2.0)


def iso_accuracy(cat: Catalog, q: Queries, sched: SchedConfig, sushi: dict) -> dict:
    """SUSHI vs SlackFit at equal accuracy (`_iso_point`), plus both trade-off curves: SUSHI over its accuracy
    headroom, SlackFit over its slack fraction.  `dominates`: every SlackFit setting is beaten by a SUSHI
    setting at least as accurate (those more accurate than any SUSHI setting are counted apart)."""
    out = _iso_point(cat, q, sched, sushi)
    cur = []
    for h in SUSHI_HEADROOMS:
        m = sushi if h == sched.headroom_pp else metrics(cat, q, simulate(cat, q, "sushi", replace(sched, headroom_pp=h)))
        cur.append({"headroom_pp": h, "served_accuracy": m["served_accuracy"], "slo_attainment": m["slo_attainment"],
                    "mean_latency_ms": m["mean_latency_ms"]})
    beaten = above = 0
    for p in out["slackfit_curve"]:
        better = [c for c in cur if c["served_accuracy"] >= p["served_accuracy"] - 1e-9]
        if not better:
            above += 1
        elif max(c["slo_attainment"] for c in better) > p["slo_attainment"]:
            beaten += 1
    n = len(out["slackfit_curve"])
    out["sushi_curve"] = cur
    out["slackfit_settings_beaten"] = beaten
    out["slackfit_settings_more_accurate_than_sushi"] = above
    out["dominates"] = beaten == n - above and beaten > 0
    return out


def _iso_point(cat: Catalog, q: Queries, sched: SchedConfig, sushi: dict) -> dict:
    """SUSHI vs SlackFit at equal served accuracy, the baseline given its best shot.

    SlackFit's knob is the share of the slack it plans with (`slack_fraction`; < 1 hedges against queueing).
    We sweep it, bisect between settings that bracket SUSHI's served accuracy, and keep the matching setting
    with SlackFit's highest SLO attainment.  If no setting reaches SUSHI's accuracy, SUSHI is tuned down
    instead to the SlackFit setting whose accuracy comes closest: first its accuracy headroom (bisected in
    [-40, 40] pp), then, if even without targets its idle upgrades give more, its `upgrade` budget.
    """
    target = sushi["served_accuracy"]

    def sf(a):
        return metrics(cat, q, simulate(cat, q, "slackfit", replace(sched, slack_fraction=a)))

    grid = [round(x, 2) for x in np.arange(0.1, 1.0001, 0.1)]
    runs = {a: sf(a) for a in grid}
    matches = []
    for lo, hi in zip(grid[:-1], grid[1:]):
        alo, ahi = runs[lo]["served_accuracy"] - target, runs[hi]["served_accuracy"] - target
        if alo == 0 or ahi == 0 or (alo < 0) != (ahi < 0):
            x0 = lo if abs(alo) <= abs(ahi) else hi
            x, m = _bisect(sf, target, lo, hi, x0, m0=runs[x0], increasing=alo < 0, iters=24)
            if abs(m["served_accuracy"] - target) <= ISO_TOL_PP:
                matches.append((x, m))
    curve = [{"slack_fraction": a, "served_accuracy": runs[a]["served_accuracy"],
              "slo_attainment": runs[a]["slo_attainment"], "mean_latency_ms": runs[a]["mean_latency_ms"]}
             for a in grid]
    if matches:
        x, m = max(matches, key=lambda t: (t[1]["slo_attainment"], t[0]))
        return {"method": "slackfit slack_fraction tuned to SUSHI's served accuracy",
                "slackfit_slack_fraction": float(x), "sushi_headroom_pp": sched.headroom_pp,
                "sushi_upgrade": sched.upgrade,
                "sushi": _brief(sushi), "slackfit": _brief(m),
                "accuracy_gap_pp": sushi["served_accuracy"] - m["served_accuracy"],
                "slo_attainment_gain_pp": 100 * (sushi["slo_attainment"] - m["slo_attainment"]),
                "slackfit_curve": curve}
    best_a = min(grid, key=lambda a: (abs(runs[a]["served_accuracy"] - target), -runs[a]["slo_attainment"]))
    ref = runs[best_a]
    goal = ref["served_accuracy"]

    def su(h, up=sched.upgrade):
        return metrics(cat, q, simulate(cat, q, "sushi", replace(sched, headroom_pp=h, upgrade=up)))

    up = sched.upgrade
    h, m = _bisect(su, goal, -40.0, 40.0, sched.headroom_pp)
    if m["served_accuracy"] - goal > ISO_TOL_PP and up > 0:
        # even without accuracy targets the idle-time upgrades give more than SlackFit reaches: scale them down
        h = -40.0
        up, m = _bisect(lambda x: su(h, x), goal, 0.0, up, up)
    return {"method": "SUSHI tuned down (headroom_pp, then upgrade) to the closest SlackFit setting",
            "slackfit_slack_fraction": float(best_a), "sushi_headroom_pp": float(h), "sushi_upgrade": float(up),
            "sushi": _brief(m), "slackfit": _brief(ref),
            "accuracy_gap_pp": m["served_accuracy"] - ref["served_accuracy"],
            "slo_attainment_gain_pp": 100 * (m["slo_attainment"] - ref["slo_attainment"]),
            "slackfit_curve": curve}


def _bisect(f, goal: float, lo: float, hi: float, x0: float, m0: dict | None = None, increasing: bool = True,
            iters: int = 30):
    """Bisect a knob x in [lo, hi] (served accuracy increasing in x, or decreasing) from x0 until f(x) is
    within ISO_TOL_PP of goal; `m0` = f(x0) when already known."""
    x = x0
    m = f(x) if m0 is None else m0
    for _ in range(iters):
        if abs(m["served_accuracy"] - goal) <= ISO_TOL_PP:
            break
        if (m["served_accuracy"] < goal) == increasing:
            lo = x
        else:
            hi = x
        x = (lo + hi) / 2
        m = f(x)
    return x, m


def _brief(m: dict) -> dict:
    return {k: m[k] for k in ("served_accuracy", "slo_attainment", "mean_latency_ms", "p99_latency_ms",
                              "offchip_energy_mj")}


def _reduction(new: float, old: float) -> float:
    return 1 - new / old if old > 0 else 0.0


def comparison(pol: dict[str, dict]) -> dict:
    out = {}
    s = pol.get("sushi")
    for base in ("no-cache", "static", "slackfit"):
        b = pol.get(base)
        if s is None or b is None:
            continue
        out[f"sushi_vs_{base.replace('-', '_')}"] = {
            "mean_latency_reduction": _reduction(s["mean_latency_ms"], b["mean_latency_ms"]),
            "p99_latency_reduction": _reduction(s["p99_latency_ms"], b["p99_latency_ms"]),
            "offchip_energy_reduction": _reduction(s["offchip_energy_mj"], b["offchip_energy_mj"]),
            "served_accuracy_gain_pp": s["served_accuracy"] - b["served_accuracy"],
            "slo_attainment_gain_pp": 100 * (s["slo_attainment"] - b["slo_attainment"]),
        }
    return out


def menu_table(cat: Catalog) -> list[dict]:
    c = cat.costs
    return [{"index": n, "accuracy": float(cat.accuracy[n]), "latency_ms": float(cat.lat_s[n, 0] * 1e3),
             "latency_ms_best_subgraph": float(cat.lat_s[n].min() * 1e3),
             "weight_bytes": float(c.weight_bytes[n].sum()), "macs": int(c.macs[n].sum()),
             "subnet": cat.subnets[n]} for n in range(cat.n)]


def subgraph_summary(cat: Catalog, sched: SchedConfig, res: dict[str, SimResult]) -> dict:
    """Sizes of the candidate SubGraphs and of those the policies kept in the PB."""
    core = cat.candidate_for(0, cat.n - 1)
    start = uniform_candidate(cat, sched)
    out = {"candidates": int(len(cat.cand)), "persistent_buffer_bytes": int(cat.acc.persistent_buffer),
           "shared_by_all_bytes": float(cat.pb_bytes[core]), "sushi_start_bytes": float(cat.pb_bytes[start])}
    if "static" in res:
        out["static_bytes"] = float(cat.pb_bytes[res["static"].window_cache[0]])
    if "sushi" in res:
        used = np.unique(res["sushi"].window_cache)
        out["sushi_subgraphs_used"] = int(len(used))
    return out


def accelerator_summary(acc: Accelerator) -> dict:
    d = acc.constants()
    d["peak_gmacs_per_s"] = acc.pe_rows * acc.pe_cols * acc.clock_mhz * 1e-3
    d["dram_sustained_gbps"] = acc.dram_bytes_per_s / 1e9
    return d


def run(cfg: Config, q: Queries, policies=POLICIES, *, iso: bool = True, cat: Catalog | None = None,
        workload: dict | None = None):
    """Run `policies` on the query stream; returns (report dict without provenance, results, catalog).
    `workload`, if given, is the report's description of the query stream (after "accelerator")."""
    cat = cat or make_catalog(cfg)
    res = run_policies(cat, q, policies, cfg.scheduler)
    pol = {p: metrics(cat, q, r) for p, r in res.items()}
    rep = {
        "tool": "sushi-serve",
        "supernet": cfg.supernet,
        "accelerator": accelerator_summary(cfg.accelerator),
        **({} if workload is None else {"workload": workload}),
        "scheduler": asdict(cfg.scheduler),
        "menu": menu_table(cat),
        "subgraphs": subgraph_summary(cat, cfg.scheduler, res),
        "policies": pol,
        "comparison": comparison(pol),
    }
    if iso and "sushi" in pol and "slackfit" in pol:
        rep["comparison"]["sushi_vs_slackfit_iso_accuracy"] = iso_accuracy(cat, q, cfg.scheduler, pol["sushi"])
    return rep, res, cat


def queries_for(cfg: Config, seed: int, trace=None, n: int | None = None) -> Queries:
    if trace is not None:
        from .workload import read_trace
        return read_trace(trace)
    return generate(cfg.resolved_workload(), seed, n, file=cfg.source)


__all__ = ["Config", "MenuConfig", "default_config", "load_config", "make_catalog", "metrics", "run", "slo_met",
           "iso_accuracy", "queries_for", "window_series", "Workload"]
