"""Policies on a hand-made catalog whose timelines are worked out by hand in the comments."""
import math

import numpy as np
import pytest

from sushi.accel import Accelerator
from sushi.catalog import Catalog
from sushi.sched import SchedConfig, simulate
from sushi.workload import Queries

MS = 1e-3


def _catalog(lat_ms, fill=0.0):
    lat = np.array(lat_ms, dtype=float) * MS
    N, J = lat.shape
    acc = Accelerator()
    acc.validate()
    fb = np.zeros((J, J))
    fb[:, -1] = fill
    np.fill_diagonal(fb, 0.0)
    return Catalog(net=None, acc=acc, subnets=[{}] * N, accuracy=np.array([70.0, 73.0, 76.0][:N]), costs=None,
                   cand=np.zeros((J, 1, 3)), cand_range={(-1, -1): 0, (0, N - 1): 1}, lat_s=lat,
                   off_bytes=lat * 1e9, pb_bytes=np.zeros(J), fill_bytes=fb)


def _q(rows):
    a = np.array(rows, dtype=float)
    return Queries(a[:, 0] * MS, a[:, 1] * MS, a[:, 2])


# SubNets: accuracy 70 / 73 / 76 %; latency (ms) with no cache | with SubGraph 1 resident
CAT = [[1.0, 0.6], [2.0, 1.2], [4.0, 3.5]]
# (arrival ms, SLO ms, target %): q1 arrives while q0 runs; q2 has no accuracy target
QS = [(0, 5, 72), (0.5, 1.0, 75), (5, 10, -math.inf)]


def test_sushi_timeline():
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
    s = simulate(_catalog(CAT), _q(QS), "static")       # static = the SubGraph of the whole menu (candidate 1)
    assert s.cache.tolist() == [1, 1, 1] and s.finish_s == pytest.approx(np.array([1.2, 1.8, 8.5]) * MS)


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


def test_sushi_switches_subgraph_and_pays_the_fill():
    # three candidates: 0 empty, 1 the menu-wide SubGraph (start), 2 a SubGraph good for the 76 % SubNet.
    # window 1: q0 (target 75) runs 76 % with SubGraph 1: 0..3.5.  Its mix predicts 3.5 ms (cand 1) vs 2.5 ms
    # + fill (cand 2): switch; fetching 1 MB at 15.36 GB/s takes 65.1 us, so q1 (arrives 3.5) starts at
    # 3.5651 and runs 2.5 ms with SubGraph 2.
    cat = _catalog([[1.0, 0.6, 0.9], [2.0, 1.2, 1.9], [4.0, 3.5, 2.5]], fill=1e6)
    r = simulate(cat, _q([(0, 10, 75), (3.5, 10, 75)]), "sushi", SchedConfig(window=1, objective="latency"))
    fill = 1e6 / (19.2e9 * 0.8)
    assert r.window_cache.tolist() == [1, 2] and r.cache.tolist() == [1, 2]
    assert r.fill_bytes == 1e6 and r.fill_s == pytest.approx(fill)
    assert r.start_s[1] == pytest.approx(3.5 * MS + fill)
    assert r.finish_s[1] == pytest.approx(3.5 * MS + fill + 2.5 * MS)


def test_headroom_raises_served_accuracy():
    # +4 pp on q0's 72 % target asks for 76 %: SubNet 2 instead of 1
    r = simulate(_catalog(CAT), _q(QS), "sushi", SchedConfig(headroom_pp=4.0))
    assert r.subnet[0] == 2


def test_unknown_policy():
    from chakra_tools.common import ToolError
    with pytest.raises(ToolError, match="unknown policy"):
        simulate(_catalog(CAT), _q(QS), "greedy")
