"""Hand-worked timelines for `--compat xrbench-v0.1` (reference/xrbench.md §3-4) and the default-mode fixes."""
import math
import random

import pytest

from xrbench import Scenario, ScenarioModel, simulate
from xrbench.api import evaluate
from xrbench.scoring import model_score, rt_score


def sc(*models):
    return Scenario("t", tuple(ScenarioModel(*m) for m in models))


def by(log, model):
    return {r.frame: r for r in log if r.model == model}


def test_late_completion_and_score():
    # HT 45 fps: period 1000//45 = 22 ms, base tick 22 ms, window 66 -> 66//22 = 3 frames.
    # t=0 f0 (dl 22) dispatched, done 22.02. t=22 f1 arrives (dl 44); 22.02 > 22+0.01 -> still busy.
    # t=22.02 retire f0, dispatch f1 -> 44.04. t=44 f2 arrives, every frame injected -> loop ends,
    # f2 never dispatched so it is not logged.
    log = simulate(sc(("HT", 45)), {"a": {"HT": (22.02, 150.0)}}, compat=True, window_ms=66)
    ht = by(log, "HT")
    assert sorted(ht) == [0, 1]
    assert ht[1].dispatch == pytest.approx(22.02) and ht[1].completion == pytest.approx(44.04)
    assert ht[0].violation == pytest.approx(0.02) and ht[1].violation == pytest.approx(0.04)
    # score = mean(RT*EN) * QoE; RT = 1/(1+e^(15*0.02)), 1/(1+e^(15*0.04)); EN = (1500-150)/1500 = 0.9
    expect = (1 / (1 + math.exp(0.3)) * 0.9 + 1 / (1 + math.exp(0.6)) * 0.9) / 2 * 1.0
    assert model_score(list(ht.values())).score == pytest.approx(expect)


def test_completion_tolerance_dispatches_early():
    # latency 22.005: at the tick t=22 the job counts as done (22.005 <= 22 + 0.01), so f1 is dispatched
    # at 22 (before f0 really finished) and completes at 44.005.
    log = simulate(sc(("HT", 45)), {"a": {"HT": (22.005, 1.0)}}, compat=True, window_ms=66)
    f1 = by(log, "HT")[1]
    assert f1.dispatch == 22.0 and f1.completion == pytest.approx(44.005)


def test_alphabetical_priority():
    # ES 60 fps (period 16, dl 16) and AS 30 fps (period 33, dl 33) both arrive at 0 on one accelerator.
    # Compat scans models alphabetically: AS runs 0-10, ES 10-20 -> ES misses by 4 ms.
    costs = {"a": {"AS": (10.0, 15.0), "ES": (10.0, 15.0)}}
    log = simulate(sc(("ES", 60), ("AS", 30)), costs, compat=True, window_ms=33)
    es, as_ = by(log, "ES"), by(log, "AS")
    assert as_[0].dispatch == 0 and es[0].dispatch == 10 and es[0].violation == pytest.approx(4)
    assert sorted(es) == [0]       # ES f1 injected at t=16 ends the loop undispatched
    # deadline-aware (ours): earliest deadline first -> ES 0-10, AS 10-20, both on time
    log = simulate(sc(("ES", 60), ("AS", 30)), costs, compat=True, scheduler="deadline-aware", window_ms=33)
    assert by(log, "ES")[0].completion == 10 and by(log, "AS")[0].completion == 20


def test_idle_accelerator_only_dispatch():
    # fast (5 ms) and slow (20 ms) accelerators; AS and DE arrive together at 0. AS (alphabetically first)
    # takes the fast one; DE goes to the idle slow one (20 ms) although waiting for fast would end at 10.
    costs = {"fast": {"AS": (5.0, 1.0), "DE": (5.0, 1.0)}, "slow": {"AS": (20.0, 1.0), "DE": (20.0, 1.0)}}
    log = simulate(sc(("AS", 30), ("DE", 30)), costs, compat=True, window_ms=33)
    assert by(log, "AS")[0].accelerator == "fast"
    de = by(log, "DE")[0]
    assert de.accelerator == "slow" and de.completion == 20


def test_drop_and_count_based_dependency():
    # ES 50, GE 50 (cascade on ES), AS 25 fps; periods 20/20/40, tick 20, window 60 -> ES/GE 3 frames, AS 1.
    # t=0: AS (alphabetical first) runs 0-21. t=20: ES f1, GE f1 arrive; ES f0 dl 20 < 20 is false.
    # t=21: ES f0 and GE f0 (dl 20 < 21) dropped; ES f1 runs 21-25. t=25: completed(ES)=1 and the
    # count-based check needs completed-1 >= 1 -> GE f1 waits although ES f1 is done.
    # t=40: ES f2, GE f2 injected -> all injected; ES f2 dispatched 40-44; loop ends.
    costs = {"a": {"AS": (21.0, 1.0), "ES": (4.0, 1.0), "GE": (4.0, 1.0)}}
    s = sc(("ES", 50), ("GE", 50, "ES"), ("AS", 25))
    log = simulate(s, costs, compat=True, window_ms=60)
    es, ge = by(log, "ES"), by(log, "GE")
    assert es[0].dropped and ge[0].dropped and es[0].energy == 0
    assert es[1].dispatch == 21 and es[2].dispatch == 40
    assert sorted(ge) == [0]                   # GE f1 never ran
    # Default mode (fixed): dependency by frame id. t=20+: ES f0 and GE f0 dropped at their deadline;
    # t=21 ES f1 21-25; t=25 GE f1 (its ES frame is done) 25-29; AS has floor(60/40) = 1 frame, so
    # t=40 ES f2 40-44, GE f2 44-48; queues drain after the window instead of being cut.
    log = simulate(s, costs, compat=False, window_ms=60)
    es, ge = by(log, "ES"), by(log, "GE")
    assert ge[1].dispatch == 25 and ge[1].completion == 29
    assert ge[0].dropped and not ge[2].dropped and ge[2].completion == 48


def test_trigger_probability_fixed_seed():
    # ES 60 -> GE 60 with probability 0.5, window 48 (3 frames each, ticks 0/16/32). Draw order per event:
    # ES then GE (alphabetical). ES always fires (1.0 > r); GE frame j fires iff 0.5 > draws[2j+1].
    # GE f2 needs 3 completed ES but ES f2 is only dispatched at t=32 when the loop ends -> not logged.
    seed = 11
    rng = random.Random(seed)
    draws = [rng.random() for _ in range(6)]
    costs = {"a": {"ES": (1.0, 1.0), "GE": (1.0, 1.0)}}
    log = simulate(sc(("ES", 60), ("GE", 60, "ES", 0.5)), costs, compat=True, seed=seed, window_ms=48)
    assert sorted(by(log, "ES")) == [0, 1, 2]
    assert sorted(by(log, "GE")) == [j for j in (0, 1) if 0.5 > draws[2 * j + 1]]
    # same seed -> same log; the sweep at probability 1 logs GE f0 and f1
    again = simulate(sc(("ES", 60), ("GE", 60, "ES", 0.5)), costs, compat=True, seed=seed, window_ms=48)
    assert [(r.model, r.frame, r.completion) for r in log] == [(r.model, r.frame, r.completion) for r in again]


def test_integer_period_and_arrival_quantisation_fixed_by_default():
    # compat: ES 60 fps -> period 16 ms, 700//16 = 43 frames, deadlines 16(j+1); default: 1000/60 ms, 42 frames.
    costs = {"a": {"ES": (1.0, 1.0), "HT": (1.0, 1.0)}}
    c = by(simulate(sc(("ES", 60)), costs, compat=True), "ES")
    d = by(simulate(sc(("ES", 60)), costs), "ES")
    assert len(c) == 43 and c[5].deadline == 96
    assert len(d) == 42 and d[5].deadline == pytest.approx(100.0)
    # compat: HT 45 fps frame 1 (nominal 22) only materialises at the next base tick (ES 60 -> 16 ms): 32
    c = by(simulate(sc(("ES", 60), ("HT", 45)), costs, compat=True), "HT")
    d = by(simulate(sc(("ES", 60), ("HT", 45)), costs), "HT")
    assert c[1].injection == 32 and d[1].injection == pytest.approx(1000 / 45)


def test_scenario_score_formula():
    # two models, one with a drop: S = 100 * mean(S_m); S_m = sum(RT*EN)/logged * QoE
    costs = {"a": {"AS": (10.0, 15.0), "ES": (10.0, 15.0)}}
    res, logs = evaluate([sc(("ES", 60), ("AS", 30))], costs, compat=True)
    per = res["scenarios"]["t"]["models"]
    for m, v in per.items():
        recs = [r for r in logs["t"] if r.model == m]
        done = [r for r in recs if not r.dropped]
        qoe = 1 - (len(recs) - len(done)) / len(recs)
        s = sum(rt_score(r.completion - r.deadline) * (1500 - r.energy) / 1500 for r in done) / len(recs) * qoe
        assert v["score"] == pytest.approx(s) and v["qoe_score"] == pytest.approx(qoe)
    assert res["scenarios"]["t"]["score"] == pytest.approx(100 * (per["AS"]["score"] + per["ES"]["score"]) / 2)
    assert rt_score(0.0) == 0.5
