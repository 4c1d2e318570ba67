"""Python API: evaluate scenarios on accelerator systems and build the report."""
from __future__ import annotations

from .accelerators import SubAccelerator
from .costmodel import model_cost
from .models import MODELS
from .runtime import Record, simulate
from .scenarios import Scenario
from .scoring import model_score, scenario_score


def system_costs(subs: list[SubAccelerator]) -> dict[str, dict[str, tuple[float, float]]]:
    """{sub-accelerator: {model: (ms, mJ)}} from the analytical model (cached per pair)."""
    return {s.name: {m: model_cost(m, s) for m in MODELS} for s in subs}


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
