"""Python API: evaluate scenarios on accelerator systems and build the report."""
from __future__ import annotations

from dataclasses import asdict

from .accelerators import SubAccelerator
from .costmodel import layer_costs, model_cost
from .models import MODELS, layers
from .runtime import Record, simulate
from .scenarios import Scenario
from .scoring import model_score, scenario_score


def system_costs(subs: list[SubAccelerator]) -> dict[str, dict[str, tuple[float, float]]]:
    """{sub-accelerator: {model: (ms, mJ)}} from the analytical model (cached per pair)."""
    return {s.name: {m: model_cost(m, s) for m in MODELS} for s in subs}


def describe_system(subs: list[SubAccelerator], costs: dict[str, dict[str, tuple[float, float]]]) -> dict:
    """Report block for a preset system: its sub-accelerators and the per-model cost on each (`costs` as
    `system_costs(subs)` gives them)."""
    return {"accelerators": {s.name: {k: v for k, v in asdict(s).items() if k != "name"} for s in subs},
            "costs": {s.name: {m: {"latency_ms": lat, "energy_mj": en} for m, (lat, en) in costs[s.name].items()}
                      for s in subs}}


def layer_rows(system: str, subs: list[SubAccelerator]) -> list[dict]:
    """One row per (sub-accelerator, model, layer): shape, MACs, params, cycles, bound, energy."""
    rows = []
    for s in subs:
        for m in MODELS:
            lc = layer_costs(m, s)
            bounds = lc.bound()
            for i, lay in enumerate(layers(m)):
                rows.append({"system": system, "accelerator": s.name, "model": m, "layer": lay.name, "op": lay.op,
                             "K": lay.k, "C": lay.c, "Y": lay.y, "X": lay.x, "R": lay.r, "S": lay.s,
                             "stride": lay.stride, "groups": lay.groups, "N": lay.n, "macs": lay.macs,
                             "params": lay.params, "cycles": int(lc.cycles[i]), "bound": bounds[i],
                             "utilisation": float(lc.utilisation[i]), "energy_pj": float(lc.energy_pj[i])})
    return rows


def evaluate(scenarios: list[Scenario], costs, *, compat=False, scheduler="latency-greedy", seed=0,
             accuracy: dict[str, float] | None = None) -> tuple[dict, dict[str, list[Record]]]:
    """Scores per scenario (+ overall) and the timelines."""
    out, timelines = {}, {}
    for sc in scenarios:
        log = simulate(sc, costs, compat=compat, scheduler=scheduler, seed=seed)
        timelines[sc.name] = log
        per = {}
        for m in sorted(x.id for x in sc.models):
            per[m] = model_score([r for r in log if r.model == m], (accuracy or {}).get(m, 1.0))
        out[sc.name] = {
            "score": scenario_score(per),
            "models": {m: {"rt_score": s.rt_score, "energy_score": s.energy_score, "qoe_score": s.qoe_score,
                           "score": s.score, "inferences": s.logged, "dropped": s.dropped}
                       for m, s in per.items()},
        }
    overall = sum(v["score"] for v in out.values()) / len(out) if out else 0.0
    return {"scenarios": out, "overall": overall}, timelines
