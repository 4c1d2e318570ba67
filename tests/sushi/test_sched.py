"""Policies on hand-made catalogs whose timelines are worked out by hand in the comments.

Catalog convention: SubNets 0/1/2 have accuracy 70/73/76 %; `lat_ms[n][j]` is SubNet n's latency with
candidate SubGraph j resident (j = 0 is the empty PB); off-chip bytes = latency in ms x 1e6 (so the
energy ranking equals the latency ranking); DRAM 19.2 GB/s x 0.8 = 15.36 GB/s for PB refills.
"""
import math

import numpy as np
import pytest

from sushi.accel import Accelerator
from sushi.catalog import Catalog
from sushi.sched import SchedConfig, Tables, best_static, predicted_cost, simulate, uniform_candidate
from sushi.workload import Queries

MS = 1e-3
BW = 19.2e9 * 0.8
NONE = -math.inf


def _catalog(lat_ms, fill=0.0):
    lat = np.array(lat_ms, dtype=float) * MS
    N, J = lat.shape
    acc = Accelerator()
    acc.validate()
    fb = np.zeros((J, J))
    fb[:, -1] = fill                    # loading the last candidate costs `fill` bytes, the others nothing
    np.fill_diagonal(fb, 0.0)
    return Catalog(net=None, acc=acc, subnets=[{}] * N, accuracy=np.array([70.0, 73.0, 76.0][:N]), costs=None,
                   cand=np.zeros((J, 1, 3)), cand_range={(-1, -1): 0, (0, N - 1): 1}, lat_s=lat,
                   off_bytes=lat * 1e9, pb_bytes=np.zeros(J), fill_bytes=fb)


def _q(rows):
    a = np.array(rows, dtype=float)
    return Queries(a[:, 0] * MS, a[:, 1] * MS, a[:, 2])


# latency (ms) with no cache | with SubGraph 1 resident
CAT = [[1.0, 0.6], [2.0, 1.2], [4.0, 3.5]]
# (arrival ms, SLO ms, target %): q1 arrives while q0 runs; q2 has no accuracy target
QS = [(0, 5, 72), (0.5, 1.0, 75), (5, 10, NONE)]


def test_sushi_timeline():
    # SUSHI deploys with the SubGraph best for a uniform menu mix: candidate 1 (faster for every SubNet).
    # q0: target 72 -> SubNets {73, 76}; fastest with SubGraph 1 resident is 73 % (1.2 ms <= 5): ends 1.2
    # q1: starts 1.2, slack 1.0 - 0.7 = 0.3 ms: 76 % does not fit, nothing fits -> fastest (70 %), ends 1.8
    # q2: no target -> most accurate within 10 ms: 76 % (3.5 ms), 5.0 -> 8.5
    r = simulate(_catalog(CAT), _q(QS), "sushi", SchedConfig(window=10))
    assert r.subnet.tolist() == [1, 0, 2]
    assert r.finish_s == pytest.approx(np.array([1.2, 1.8, 8.5]) * MS)
    assert r.cache.tolist() == [1, 1, 1]


def test_no_cache_and_static_timelines():
    # no cache: q0 73 % 0..2.0; q1 starts 2.0, slack -0.5 -> fastest 70 % 2.0..3.0; q2 76 % 5..9
    r = simulate(_catalog(CAT), _q(QS), "no-cache")
    assert r.subnet.tolist() == [1, 0, 2] and r.finish_s == pytest.approx(np.array([2.0, 3.0, 9.0]) * MS)
    s = simulate(_catalog(CAT), _q(QS), "static")       # the best fixed SubGraph is candidate 1
    assert s.cache.tolist() == [1, 1, 1] and s.finish_s == pytest.approx(np.array([1.2, 1.8, 8.5]) * MS)


def test_queue_aware_budget_leaves_room_for_a_waiting_query():
    # q0 and q1 both arrive at 0.  q0 (SLO 5, target 75) alone would get 76 % (3.5 ms).  But q1 (SLO 4) waits:
    # if q0 runs x ms, q1 can still finish its fastest SubNet (0.6 ms) by 4.0 only if x <= 4.0 - 0.6 = 3.4.
    # So q0 gets the most accurate SubNet within min(5, 3.4): 73 % (1.2 ms), q1 then 70 % (its target), 1.2..1.8.
    cat = _catalog(CAT)
    qs = _q([(0, 5, 75), (0, 4, 70)])
    r = simulate(cat, qs, "sushi", SchedConfig(window=10))
    assert r.subnet.tolist() == [1, 0]
    assert r.finish_s == pytest.approx(np.array([1.2, 1.8]) * MS)
    # queue-blind (lookahead 0, the old rule): q0 takes 76 % (0..3.5), q1 has 0.5 ms left < 0.6 -> misses (4.1)
    r0 = simulate(cat, qs, "sushi", SchedConfig(window=10, lookahead=0))
    assert r0.subnet.tolist() == [2, 0] and r0.finish_s[1] == pytest.approx(4.1 * MS)


def test_a_waiting_query_that_is_lost_anyway_does_not_bind():
    # q1 (SLO 0.5 ms) cannot finish even its fastest SubNet (0.6 ms) whatever q0 does: 0.5 - 0.6 < 0.6,
    # so it is skipped and q0 keeps its target SubNet (76 %, 3.5 ms); q1 is served fastest, 3.5..4.1 (a miss).
    r = simulate(_catalog(CAT), _q([(0, 5, 75), (0, 0.5, 70)]), "sushi", SchedConfig(window=10))
    assert r.subnet.tolist() == [2, 0] and r.finish_s == pytest.approx(np.array([3.5, 4.1]) * MS)


def test_lookahead_bounds_the_queries_considered():
    # three queries at 0: q0 (SLO 9, target 75), q1 (SLO 9, no target), q2 (SLO 4, target 70).
    # lookahead 2: q2 needs q0 + q1 (fastest 0.6) + its own 0.6 <= 4 -> q0 <= 2.8: q0 gets 73 % (1.2, not 3.5);
    #   q1 at 1.2: q2 needs q1 <= 4 - 1.2 - 0.6 = 2.2 -> 73 % (1.2), ends 2.4; q2 at 2.4: 70 %, ends 3.0 (all met).
    # lookahead 1: q0 only sees q1 (9 - 0.6 = 8.4) -> 76 %, 0..3.5; q1 at 3.5 sees q2, already lost
    #   (4 - 3.5 - 0.6 < 0.6): skipped -> 76 % (3.5), ends 7.0; q2 at 7.0 misses its 4 ms SLO.
    qs = _q([(0, 9, 75), (0, 9, NONE), (0, 4, 70)])
    r2 = simulate(_catalog(CAT), qs, "sushi", SchedConfig(window=10, lookahead=2))
    assert r2.subnet.tolist() == [1, 1, 0] and r2.finish_s == pytest.approx(np.array([1.2, 2.4, 3.0]) * MS)
    r1 = simulate(_catalog(CAT), qs, "sushi", SchedConfig(window=10, lookahead=1))
    assert r1.subnet.tolist() == [2, 2, 0] and r1.finish_s == pytest.approx(np.array([3.5, 7.0, 7.6]) * MS)


def test_idle_upgrade_uses_the_previous_windows_arrival_gap():
    # queries every 10 ms, target 70 (SubNet 0, 0.6 ms), SLO 10 ms, windows of 2 queries.
    # window 0 (q0, q1): no gap estimate yet -> no upgrade, 70 %.
    # window 1 (q2, q3): gap 10 ms; upgrade 0.1 -> up to 0.6 + 1.0 = 1.6 ms: 73 % (1.2 ms).
    # upgrade 0.5 -> up to 0.6 + 5 = 5.6 ms: 76 % (3.5 ms).
    cat = _catalog(CAT)
    qs = _q([(10 * i, 10, 70) for i in range(4)])
    assert simulate(cat, qs, "sushi", SchedConfig(window=2, upgrade=0.1)).subnet.tolist() == [0, 0, 1, 1]
    assert simulate(cat, qs, "sushi", SchedConfig(window=2, upgrade=0.5)).subnet.tolist() == [0, 0, 2, 2]
    assert simulate(cat, qs, "sushi", SchedConfig(window=2, upgrade=0.0)).subnet.tolist() == [0, 0, 0, 0]
    # never beyond the query's own slack: SLO 2 ms caps the 0.5 upgrade at 2 ms -> 73 % (1.2 ms)
    qs2 = _q([(10 * i, 2, 70) for i in range(4)])
    assert simulate(cat, qs2, "sushi", SchedConfig(window=2, upgrade=0.5)).subnet.tolist() == [0, 0, 1, 1]


def test_no_upgrade_while_a_query_waits():
    # window 1 gap: (10 - 0) / 1 = 10 ms -> upgrade budget 1 ms.  q2 (at 20) and q3 (at 20) arrive together:
    # q2 sees q3 waiting -> exactly its target (70 %, 0.6 ms); q3 starts at 20.6 with nobody waiting -> 73 %.
    qs = _q([(0, 10, 70), (10, 10, 70), (20, 10, 70), (20, 10, 70)])
    r = simulate(_catalog(CAT), qs, "sushi", SchedConfig(window=2, upgrade=0.1))
    assert r.subnet.tolist() == [0, 0, 0, 1]


def test_prediction_prices_each_query_with_the_subnet_it_would_get():
    # under candidate 2 the 76 % SubNet (1.5 ms) is faster than the 73 % one (1.9 ms): a query asking for
    # >= 73 % would run 76 % there.  Demand: one query of target class 1 -> latency cost 2.0 / 1.2 / 1.5 ms.
    cat = _catalog([[1.0, 0.6, 0.9], [2.0, 1.2, 1.9], [4.0, 3.5, 1.5]])
    cost, busy0, _ = predicted_cost(cat, Tables(cat), np.array([0.0, 1.0, 0.0]), np.zeros(3), "latency")
    assert cost == pytest.approx(np.array([2.0, 1.2, 1.5]) * MS) and busy0 == pytest.approx(2.0 * MS)
    # served (upgraded / best-effort) queries are priced by the SubNet they ran: one of SubNet 0 -> 1.0/0.6/0.9
    cost, _, _ = predicted_cost(cat, Tables(cat), np.zeros(3), np.array([1.0, 0.0, 0.0]), "latency")
    assert cost == pytest.approx(np.array([1.0, 0.6, 0.9]) * MS)


# three candidates: 0 empty, 1 good for everything, 2 good only for the 76 % SubNet
SWITCH = [[1.0, 0.6, 0.95], [2.0, 1.2, 1.9], [4.0, 3.5, 2.5]]


def test_sushi_switches_subgraph_and_pays_the_fill():
    # uniform mix: candidate 1 (0.6 + 1.2 + 3.5 = 5.3 ms) beats candidate 2 (5.35 ms): SUSHI starts with 1.
    # window 0: q0 (target 75) runs 76 % with SubGraph 1: 0..3.5.  Its demand (class 2) predicts 3.5 ms under 1
    # and 2.5 ms under 2; loading 1 MB takes 1e6 / 15.36e9 = 65.1 us, x hysteresis 2 = 0.13 ms:
    # 2.63 < 3.5 x (1 - 0.01) -> switch.  q1 (arrives 3.5) starts at 3.5651 and runs 2.5 ms with SubGraph 2.
    cat = _catalog(SWITCH, fill=1e6)
    assert uniform_candidate(cat, SchedConfig()) == 1
    r = simulate(cat, _q([(0, 10, 75), (3.5, 10, 75)]), "sushi", SchedConfig(window=1, objective="latency"))
    fill = 1e6 / BW
    assert r.window_cache.tolist() == [1, 2] and r.cache.tolist() == [1, 2]
    assert r.fill_bytes == 1e6 and r.fill_s == pytest.approx(fill)
    assert r.start_s[1] == pytest.approx(3.5 * MS + fill)
    assert r.finish_s[1] == pytest.approx(3.5 * MS + fill + 2.5 * MS)


def test_hysteresis_weighs_the_refill_against_the_next_windows_saving():
    # 12 MB to load: 0.781 ms.  Saving over the next window 3.5 - 2.5 = 1.0 ms.
    # hysteresis 2: 2.5 + 1.562 = 4.06 > 3.465 -> stay;  hysteresis 1: 2.5 + 0.781 = 3.28 < 3.465 -> switch.
    cat = _catalog(SWITCH, fill=12e6)
    qs = _q([(0, 10, 75), (3.5, 10, 75)])
    stay = simulate(cat, qs, "sushi", SchedConfig(window=1, objective="latency", hysteresis=2.0))
    go = simulate(cat, qs, "sushi", SchedConfig(window=1, objective="latency", hysteresis=1.0))
    assert stay.window_cache.tolist() == [1, 1] and stay.fill_bytes == 0
    assert go.window_cache.tolist() == [1, 2] and go.fill_bytes == 12e6


def test_min_gain_ignores_marginal_improvements():
    # a free switch that saves 3.5 -> 3.48 ms (0.57 %) is below min_gain 1 %: no switch; with min_gain 0 it is taken
    cat = _catalog([[1.0, 0.6, 0.95], [2.0, 1.2, 1.9], [4.0, 3.5, 3.48]])
    qs = _q([(0, 10, 75), (3.5, 10, 75)])
    assert simulate(cat, qs, "sushi", SchedConfig(window=1, objective="latency")).window_cache.tolist() == [1, 1]
    assert simulate(cat, qs, "sushi",
                    SchedConfig(window=1, objective="latency", min_gain=0.0)).window_cache.tolist() == [1, 2]


def test_smoothing_keeps_the_older_windows_in_the_estimate():
    # windows of one query (no upgrades: a one-query window has no gap estimate); demand class 0, then 2, 2.
    # After q0 the estimate is {class 0}: 0.6 (cand 1) vs 0.95 ms (cand 2) -> stay.  After q1:
    # smoothing 1 (last window only): {class 2}: 3.5 vs 2.5 ms -> switch for q2.
    # smoothing 0.3: 0.7 x class 0 + 0.3 x class 2: cand 1 0.42 + 1.05 = 1.47, cand 2 0.665 + 0.75 = 1.415 ms,
    # 3.7 % better -- below min_gain 5 %, so the older window holds the PB back.
    cat = _catalog(SWITCH)
    qs = _q([(0, 10, 70), (10, 10, 75), (20, 10, 75)])
    fast = simulate(cat, qs, "sushi", SchedConfig(window=1, objective="latency", smoothing=1.0))
    slow = simulate(cat, qs, "sushi", SchedConfig(window=1, objective="latency", smoothing=0.3, min_gain=0.05))
    assert fast.window_cache.tolist() == [1, 1, 2]
    assert slow.window_cache.tolist() == [1, 1, 1]


def test_reselection_beats_the_best_fixed_subgraph_when_phases_do_not_nest():
    # candidate 1 speeds up only the 70 % SubNet, candidate 2 only the 76 % one (disjoint working sets, free
    # refills).  Ten queries ask for 70 %, then ten for 76 % (every 10 ms, no queueing, one-query windows).
    # SUSHI deploys with candidate 2 (uniform mix: 6.5 vs 5.0 ms): q0 1.0 ms, switch to 1: q1..q9 0.5 ms;
    # q10 4.0 ms, switch to 2: q11..q19 2.0 ms -> 27.5 ms busy, mean latency 1.375 ms.
    # Best fixed SubGraph in hindsight: candidate 2 (10 x 1.0 + 10 x 2.0 = 30 ms; candidate 1: 45 ms) -> 1.5 ms.
    cat = _catalog([[1.0, 0.5, 1.0], [2.0, 2.0, 2.0], [4.0, 4.0, 2.0]])
    qs = _q([(10 * i, 10, 70 if i < 10 else 75) for i in range(20)])
    cfg = SchedConfig(window=1, objective="latency")
    r = simulate(cat, qs, "sushi", cfg)
    st = simulate(cat, qs, "static", cfg)
    assert r.window_cache.tolist() == [2] + [1] * 10 + [2] * 9
    assert (r.finish_s - qs.arrival_s).mean() == pytest.approx(1.375 * MS)
    assert set(st.cache.tolist()) == {2} and (st.finish_s - qs.arrival_s).mean() == pytest.approx(1.5 * MS)


def test_static_is_the_best_fixed_subgraph_in_hindsight():
    # every query wants 76 %: over the whole stream candidate 2 (2.5 ms) beats candidate 1 (3.5 ms), although a
    # uniform menu mix (the deployment-time choice) prefers candidate 1.
    cat = _catalog(SWITCH)
    qs = _q([(10 * i, 10, 75) for i in range(6)])
    r = best_static(cat, qs, SchedConfig())
    assert set(r.cache.tolist()) == {2} and r.finish_s[0] == pytest.approx(2.5 * MS)
    u = simulate(cat, qs, "static", SchedConfig(static="uniform"))
    assert set(u.cache.tolist()) == {1}
    # the shortlist is ranked by prediction and verified by simulation: a shortlist of 1 keeps the predicted best
    assert set(best_static(cat, qs, SchedConfig(static_shortlist=1)).cache.tolist()) == {2}


def test_slackfit_timeline():
    # SlackFit ignores targets: q0 gets the most accurate that fits 5 ms: 76 % (4.0), ends 4.0;
    # q1 starts 4.0 (slack -2.5) -> fastest, ends 5.0; q2 starts 5.0 -> 76 %, ends 9.0
    r = simulate(_catalog(CAT), _q(QS), "slackfit")
    assert r.subnet.tolist() == [2, 0, 2]
    assert r.finish_s == pytest.approx(np.array([4.0, 5.0, 9.0]) * MS)
    assert (r.cache == 0).all()
    # with slack_fraction 0.5 q0 plans with 2.5 ms: 73 % (2.0), ends 2.0; q1 starts 2.0 -> fastest, ends 3.0
    r = simulate(_catalog(CAT), _q(QS), "slackfit", SchedConfig(slack_fraction=0.5))
    assert r.subnet.tolist() == [1, 0, 2]


def test_headroom_raises_served_accuracy():
    # +4 pp on q0's 72 % target asks for 76 %: SubNet 2 instead of 1
    r = simulate(_catalog(CAT), _q(QS), "sushi", SchedConfig(headroom_pp=4.0))
    assert r.subnet[0] == 2


def test_unknown_policy():
    from chakra_tools.common import ToolError
    with pytest.raises(ToolError, match="unknown policy"):
        simulate(_catalog(CAT), _q(QS), "greedy")


@pytest.mark.parametrize("kw,msg", [({"lookahead": -1}, "lookahead"), ({"upgrade": -0.1}, "upgrade"),
                                    ({"hysteresis": -1}, "hysteresis"), ({"min_gain": 1.0}, "min_gain"),
                                    ({"smoothing": 0.0}, "smoothing"), ({"static": "oracle"}, "static"),
                                    ({"static_shortlist": 0}, "static_shortlist")])
def test_bad_scheduler_settings(kw, msg):
    with pytest.raises(ValueError, match=msg):
        SchedConfig(**kw).validate()
