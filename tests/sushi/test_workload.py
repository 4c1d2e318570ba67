"""Query streams: arrival-process rates by closed form, distributions, phases, CSV traces."""
import math

import numpy as np
import pytest

from chakra_tools.common import ToolError
from sushi.workload import Dist, Phase, Workload, generate, read_trace


def test_poisson_rate():
    q = generate(Workload(arrival="poisson", rate_qps=2000.0), seed=1, n=200_000)
    assert np.all(np.diff(q.arrival_s) >= 0)
    assert 1 / np.diff(q.arrival_s).mean() == pytest.approx(2000, rel=0.01)


def test_bursty_long_run_rate():
    # MMPP: calm 200 ms at 700 qps, bursts 50 ms at 1400 qps -> (200*700 + 50*1400) / 250 = 840 qps
    w = Workload(arrival="bursty", rate_qps=700, burst_factor=2, calm_ms=200, burst_ms=50)
    q = generate(w, seed=2, n=400_000)
    assert np.all(np.diff(q.arrival_s) >= 0)
    assert len(q) / q.arrival_s[-1] == pytest.approx(840, rel=0.03)
    # burstier than Poisson: counts in 10 ms bins are over-dispersed (index of dispersion > 1)
    c = np.bincount((q.arrival_s / 0.01).astype(int))
    assert c.var() / c.mean() > 1.5


def test_diurnal_rate_modulation():
    # rate r (1 + A sin(2 pi t / P)): the first half period carries (1 + 2A/pi) / (1 - 2A/pi) times the second
    w = Workload(arrival="diurnal", rate_qps=1000, amplitude=0.5, period_s=10)
    q = generate(w, seed=3, n=300_000)
    ph = np.mod(q.arrival_s, 10)
    ratio = (ph < 5).sum() / (ph >= 5).sum()
    assert ratio == pytest.approx((1 + 1 / math.pi) / (1 - 1 / math.pi), rel=0.03)
    assert len(q) / q.arrival_s[-1] == pytest.approx(1000, rel=0.02)


def test_distributions_and_phases():
    w = Workload(arrival="poisson", rate_qps=1000, slo_ms=Dist("choice", values=[1, 5], weights=[3, 1]),
                 accuracy_target=Dist("lognormal", median=70, sigma=0.01),
                 phases=[Phase(1.0), Phase(1.0, accuracy_target=Dist("constant", value=77.0))])
    for d in (w.slo_ms, w.accuracy_target):
        d.validate()
    q = generate(w, seed=4, n=20_000)
    assert set(np.round(q.slo_s * 1e3, 9)) == {1.0, 5.0}
    assert (q.slo_s == 1e-3).mean() == pytest.approx(0.75, abs=0.02)
    second = np.mod(q.arrival_s, 2.0) >= 1.0
    assert (q.target[second] == 77.0).all()
    assert np.median(q.target[~second]) == pytest.approx(70, rel=0.002)


def test_same_seed_same_stream():
    a, b = generate(Workload(), 9, 5000), generate(Workload(), 9, 5000)
    assert np.array_equal(a.arrival_s, b.arrival_s) and np.array_equal(a.target, b.target)
    assert not np.array_equal(a.arrival_s, generate(Workload(), 10, 5000).arrival_s)


def test_trace_roundtrip(tmp_path):
    p = tmp_path / "t.csv"
    p.write_text("arrival_ms,slo_ms,accuracy_target\n0,2,75\n0.5,1.5,\n3,4,70.5\n")
    q = read_trace(p)
    assert q.arrival_s.tolist() == [0.0, 0.0005, 0.003]
    assert q.slo_s.tolist() == [0.002, 0.0015, 0.004]
    assert q.target[0] == 75 and q.target[1] == -math.inf


@pytest.mark.parametrize("text,msg", [
    ("", "empty trace"),
    ("time,slo\n1,2\n", "line 1: expected header"),
    ("arrival_ms,slo_ms\n1,abc\n", "line 2: not a number"),
    ("arrival_ms,slo_ms\n2,1\n1,1\n", "line 3: arrival_ms 1.0 is before"),
    ("arrival_ms,slo_ms\n1,0\n", "line 2: arrival_ms must be >= 0 and slo_ms > 0"),
    ("arrival_ms,slo_ms,accuracy_target\n1,1,120\n", "percentage"),
    ("arrival_ms,slo_ms\n1,1,3\n", "expected 2 fields"),
    ("arrival_ms,slo_ms\n", "no queries"),
])
def test_trace_errors(tmp_path, text, msg):
    p = tmp_path / "t.csv"
    p.write_text(text)
    with pytest.raises(ToolError, match=msg):
        read_trace(p)
