"""How much can SubGraph re-selection gain over a fixed SubGraph on the default stream?  (SUSHI vs static)

    python examples/sushi/reselection_bound.py OUT_DIR [--config C.yml] [--queries N] [--name NAME]

Three measurements on the default workload (OFA MobileNetV3, ZU19EG-class SushiAccel, drifting mix) or on
the stream of a config with phases:

1. *Nesting*: for every pair of menu SubNets (less accurate m, more accurate n), the share of m's weight
   bytes that n's weights contain.  OFA SubNets keep the first channels, the centre of the kernels and the
   first blocks, so this is close to 1: the bytes worth caching hardly depend on which SubNets are asked for.
2. *Per-phase oracle*: SUSHI's cost model (each query priced with the SubNet its target gets under each
   candidate SubGraph, no queueing) prices the best candidate for every phase of the drift separately,
   switching for free at phase boundaries, against the best single candidate for the whole stream -- an
   upper bound of what any re-selection policy can gain on this stream.
3. *Latency ceiling*: the mean service time of the SubNets the hindsight static serves, with no cache, with
   its SubGraph, and with every SubNet's own weights all resident (an unbounded PB).
4. *Does the choice matter?*: the stream simulated with fixed SubGraphs that fill the PB -- the best in
   hindsight (`static`), the median and the worst of the PB-filling candidates, the SubGraph every menu SubNet
   shares (all a 3.375 MiB PB can hold) -- next to SUSHI.

Writes OUT_DIR/NAME.json (default reselection.json).
"""
from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

from chakra_tools.common import provenance, write_json
from sushi.accel import bytes_of_box, latency_energy
from sushi.api import default_config, load_config, make_catalog, metrics, queries_for
from sushi.sched import Tables, _nmin, predicted_cost, simulate

KEYS = ("mean_latency_ms", "slo_attainment", "served_accuracy", "offchip_energy_uj_per_query", "pb_hit_rate")


def nesting(cat) -> dict:
    sb = cat.costs.boxes
    own = bytes_of_box(cat.net, cat.acc, sb).sum(axis=1)
    shares = [bytes_of_box(cat.net, cat.acc, np.minimum(sb[m], sb[n])).sum() / own[m]
              for m in range(cat.n) for n in range(m + 1, cat.n)]
    return {"pairs": len(shares), "mean_share_contained": float(np.mean(shares)),
            "min_share_contained": float(np.min(shares))}


def phase_of(cfg, q) -> np.ndarray:
    ph = cfg.resolved_workload().phases
    edges = np.cumsum([0.0] + [p.duration_s for p in ph])
    return np.searchsorted(edges, np.mod(q.arrival_s, edges[-1]), side="right") - 1


def oracle(cfg, cat, q) -> dict:
    tabs = Tables(cat)
    nm = _nmin(cat, q, cfg.scheduler)
    ph = phase_of(cfg, q)
    out = {}
    for obj in ("latency", "energy"):
        costs = np.array([predicted_cost(cat, tabs, np.bincount(nm[(ph == p) & (nm < cat.n)], minlength=cat.n)
                                         [:cat.n].astype(float), np.zeros(cat.n), obj)[0]
                          for p in range(ph.max() + 1)])
        fixed, per_phase, none = costs.sum(axis=0).min(), costs.min(axis=1).sum(), costs[:, 0].sum()
        out[obj] = {"best_fixed_vs_no_cache": float(1 - fixed / none),
                    "per_phase_oracle_vs_best_fixed": float(1 - per_phase / fixed),
                    "per_phase_candidates": [int(c) for c in costs.argmin(axis=1)],
                    "best_fixed_candidate": int(costs.sum(axis=0).argmin())}
    return out


def ceiling(cfg, cat, q) -> dict:
    r = simulate(cat, q, "static", cfg.scheduler)
    mix = np.bincount(r.subnet, minlength=cat.n) / len(q)
    c = cat.costs
    unbounded = latency_energy(c, cat.acc, c.weight_bytes[:, None, :])[0][:, 0]
    return {"mean_service_ms_no_cache": float(mix @ cat.lat_s[:, 0] * 1e3),
            "mean_service_ms_static": float(mix @ cat.lat_s[:, r.cache[0]] * 1e3),
            "mean_service_ms_all_weights_resident": float(mix @ unbounded * 1e3)}


def choices(cfg, cat, q) -> dict:
    sched = cfg.scheduler
    nm = _nmin(cat, q, sched)
    demand = np.bincount(nm[nm < cat.n], minlength=cat.n)[:cat.n].astype(float)
    energy = predicted_cost(cat, Tables(cat), demand, np.zeros(cat.n), "energy")[0]
    full = np.where(cat.pb_bytes >= 0.97 * cat.acc.persistent_buffer)[0]
    ranked = full[np.argsort(energy[full], kind="stable")]
    fixed = {"median PB-filling SubGraph": int(ranked[len(ranked) // 2]), "worst PB-filling SubGraph": int(ranked[-1]),
             "SubGraph shared by all SubNets": cat.candidate_for(0, cat.n - 1)}
    rows = {"sushi": metrics(cat, q, simulate(cat, q, "sushi", sched)),
            "static (best in hindsight)": metrics(cat, q, simulate(cat, q, "static", sched))}
    for name, j in fixed.items():
        rows[name] = metrics(cat, q, simulate(cat, q, "static", sched, cache=j))
        rows[name]["pb_bytes"] = float(cat.pb_bytes[j])
    s = rows["sushi"]
    return {name: {**{k: m[k] for k in KEYS + (("pb_bytes",) if "pb_bytes" in m else ())},
                   "sushi_latency_change": s["mean_latency_ms"] / m["mean_latency_ms"] - 1,
                   "sushi_energy_change": s["offchip_energy_mj"] / m["offchip_energy_mj"] - 1}
            for name, m in rows.items()} | {"pb_filling_candidates": int(len(full))}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("out", type=Path)
    ap.add_argument("--config", type=Path)
    ap.add_argument("--queries", type=int)
    ap.add_argument("--name", default="reselection")
    a = ap.parse_args()
    a.out.mkdir(parents=True, exist_ok=True)
    cfg = load_config(a.config) if a.config else default_config()
    if not cfg.resolved_workload().phases:
        raise SystemExit("reselection_bound.py: the stream has no phases (nothing for re-selection to track)")
    q = queries_for(cfg, 0, n=a.queries)
    cat = make_catalog(cfg)
    res = {"config": str(a.config) if a.config else "default", "queries": len(q), "nesting": nesting(cat), "oracle": oracle(cfg, cat, q),
           "latency_ceiling": ceiling(cfg, cat, q), "fixed_choices": choices(cfg, cat, q), "provenance": provenance("reselection_bound.py", [a.config] if a.config else [], 0)}
    write_json(a.out / f"{a.name}.json", res)
    n, o = res["nesting"], res["oracle"]
    print(f"nesting: a less accurate menu SubNet's weights lie {100 * n['mean_share_contained']:.1f} % (min "
          f"{100 * n['min_share_contained']:.1f} %) inside a more accurate one's")
    print(f"per-phase oracle vs best fixed SubGraph: latency -{100 * o['latency']['per_phase_oracle_vs_best_fixed']:.1f} %, "
          f"off-chip energy -{100 * o['energy']['per_phase_oracle_vs_best_fixed']:.1f} %")
    c = res["latency_ceiling"]
    print(f"mean service time: no cache {c['mean_service_ms_no_cache']:.3f} ms, static SubGraph "
          f"{c['mean_service_ms_static']:.3f} ms, every weight resident {c['mean_service_ms_all_weights_resident']:.3f} ms")
    for name, m in res["fixed_choices"].items():
        if isinstance(m, dict):
            print(f"  {name:32s} {m['mean_latency_ms']:.3f} ms, {m['offchip_energy_uj_per_query']:6.1f} uJ/q; SUSHI vs it: "
                  f"latency {100 * m['sushi_latency_change']:+.1f} %, energy {100 * m['sushi_energy_change']:+.1f} %")


if __name__ == "__main__":
    main()
