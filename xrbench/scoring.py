"""XRBench scores (reference/xrbench.md §4): per inference, per model, per scenario, overall."""
from __future__ import annotations

import math
from dataclasses import dataclass

K_RT = 15.0          # real-time score steepness, per ms
E_MAX_MJ = 1500.0    # energy score normaliser


def rt_score(delay_ms: float, k: float = K_RT) -> float:
    """1 / (1 + exp(k * (completion - deadline))); 0.5 exactly at the deadline."""
    x = k * delay_ms
    if x > 700:
        return 0.0
    return 1.0 / (1.0 + math.exp(x))


def energy_score(energy_mj: float, e_max: float = E_MAX_MJ) -> float:
    return (e_max - energy_mj) / e_max


@dataclass
class ModelScore:
    rt_score: float
    energy_score: float
    qoe_score: float
    score: float
    logged: int
    dropped: int


def model_score(records, accuracy: float = 1.0) -> ModelScore:
    """S_m = sum_{non-dropped}(RT*EN*Acc) / #logged * QoE, QoE = 1 - dropped/logged (drops count twice)."""
    logged = len(records)
    if logged == 0:
        return ModelScore(0.0, 0.0, 0.0, 0.0, 0, 0)
    done = [r for r in records if not r.dropped]
    dropped = logged - len(done)
    rts = [rt_score(r.completion - r.deadline) for r in done]
    ens = [energy_score(r.energy) for r in done]
    qoe = 1.0 - dropped / logged
    total = sum(a * b * accuracy for a, b in zip(rts, ens))
    return ModelScore(sum(rts) / len(done) if done else 0.0, sum(ens) / len(done) if done else 0.0,
                      qoe, total / logged * qoe, logged, dropped)


def scenario_score(per_model: dict[str, ModelScore]) -> float:
    """100 x mean over models that appeared in the log."""
    present = [s.score for s in per_model.values() if s.logged > 0]
    return 100.0 * sum(present) / len(present) if present else 0.0
