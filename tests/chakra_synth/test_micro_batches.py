"""What-if on the number of micro-batches of a pipeline (chakra_tools/synth/microbatch.py): the stages' exchanges
re-scheduled, against a second implementation of GPipe and 1F1B (test_programs._schedule) and against recorded
pipelines with 2, 4 and 8 micro-batches of the same size (tests/data/tpdp/record.py: pp2dp2_m<M>, PP 2 x DP 2 in
1F1B; pp4_m<M>, 4-stage GPipe; recorded in one run)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from chakra_tools.common import ToolError
from chakra_tools.et import NodeType
from chakra_tools.graph import Trace
from chakra_tools.synth import compare, fit, sample
from chakra_tools.synth.microbatch import entry_order, micro_batches, plan
from chakra_tools.validate import check_trace, errors

from .test_programs import NETWORK, PP, SYSTEM, _order, _p2p, _write_pipeline, gpipe_configs

TPDP = PP.parent


def _model(tmp_path: Path, kind: str, stages: int, micro: int) -> dict:
    _write_pipeline(tmp_path / f"{kind}{micro}", stages, micro, kind, world_allreduce=False, layer_us=(100, 200))
    return fit([str(tmp_path / f"{kind}{micro}")])


@pytest.mark.parametrize("kind,stages,micro,targets", [
    ("gpipe", 2, 4, (2, 3, 5, 9)), ("gpipe", 4, 4, (2, 7)),
    ("1f1b", 2, 4, (3, 8)), ("1f1b", 3, 5, (4, 10)), ("1f1b", 4, 6, (5, 11))])
def test_exchanges_follow_the_schedule_at_another_number_of_micro_batches(tmp_path, kind, stages, micro, targets):
    # the schedule is read from the hand-built step at `micro` and re-generated at each target; the independent
    # generator (_schedule) at that target must give the same sends and receives in the same order on every stage,
    # and the same simulated step and bubble (1.000 and equal idle shares when written)
    model = _model(tmp_path, kind, stages, micro)
    system, _ = gpipe_configs()
    net = tmp_path / "ring.yml"
    net.write_text(f"topology: [Ring]\nnpus_count: [{stages}]\nbandwidth: [25.0]\nlatency: [2000.0]\n")
    for m in targets:
        s = sample(model, tmp_path / f"s{m}", ranks=stages, seed=1, micro_batches=m)
        assert s["micro_batches"] == {"recorded": micro, "sampled": m, "schedule": kind}
        _write_pipeline(tmp_path / f"{kind}{m}", stages, m, kind, world_allreduce=False, layer_us=(100, 200))
        assert _order(_p2p(tmp_path / f"s{m}")) == _order(_p2p(tmp_path / f"{kind}{m}"))
        assert not errors(check_trace(Trace.load(tmp_path / f"s{m}")))
        rep = compare(str(tmp_path / f"{kind}{m}"), str(tmp_path / f"s{m}"), system, str(net))
        assert abs(rep["sim_time_ratio"] - 1) < 0.005
        assert rep["sim_idle_share_b"] == pytest.approx(rep["sim_idle_share_a"], abs=0.005)


def test_the_recorded_number_keeps_the_bytes(tmp_path):
    model = fit([str(TPDP / "pp2dp2_m4")])
    sample(model, tmp_path / "a", ranks=4, seed=3)
    sample(model, tmp_path / "b", ranks=4, seed=3, micro_batches=4)
    sample(model, tmp_path / "c", ranks=4, seed=3, micro_batches=8)
    sample(model, tmp_path / "d", ranks=4, seed=3, micro_batches=8)
    for r in range(4):
        assert (tmp_path / f"a.{r}.et").read_bytes() == (tmp_path / f"b.{r}.et").read_bytes()
        assert (tmp_path / f"c.{r}.et").read_bytes() == (tmp_path / f"d.{r}.et").read_bytes()


def _coll_sizes(prefix) -> dict[int, list[int]]:
    return {r: sorted(g.attrs[n.id]["comm_size"] for n in g.nodes if n.type == NodeType.COMM_COLL_NODE)
            for r, g in Trace.load(prefix).ranks.items()}


@pytest.mark.parametrize("family,m,lo,hi", [
    ("pp2dp2", 2, 0.98, 1.01), ("pp2dp2", 8, 0.985, 1.01),  # 0.988 / 1.000 when written (seed 1)
    ("pp4", 8, 0.98, 1.01),                                 # 0.994
    ("pp4", 2, 0.93, 0.96)])                                # 0.939: missed, see docs (the m = 2 step is slow)
def test_recorded_pipeline_at_another_number_of_micro_batches(tmp_path, family, m, lo, hi):
    # fitted on the m = 4 recording, sampled at m; against the recording at m (same run): exchanges in the same
    # order with the same sizes, collectives the same, simulated step as written above; without the re-scheduling
    # the m = 4 step is 1.72 / 0.55 (pp2dp2) and 1.37 / 0.61 (pp4) of the m = 2 / 8 one
    pytest.importorskip("astrasim_py")
    real = TPDP / f"{family}_m{m}"
    sample(fit([str(TPDP / f"{family}_m4")]), tmp_path / "s", ranks=4, seed=1, micro_batches=m)
    assert not errors(check_trace(Trace.load(tmp_path / "s")))
    assert _order(_p2p(tmp_path / "s")) == _order(_p2p(real))
    assert {r: [x[3] for x in v] for r, v in _p2p(tmp_path / "s").items()} == \
        {r: [x[3] for x in v] for r, v in _p2p(real).items()}
    assert _coll_sizes(tmp_path / "s") == _coll_sizes(real)
    system, net = (str(SYSTEM), str(NETWORK)) if family == "pp2dp2" else gpipe_configs()
    rep = compare(str(real), str(tmp_path / "s"), system, net)
    assert lo < rep["sim_time_ratio"] < hi
    assert rep["sim_idle_share_b"] == pytest.approx(rep["sim_idle_share_a"], abs=0.02)  # the bubble
    # the copied units carry their own kinds and sizes: the kind mix within 0.04 of the recording's (0.046-0.081
    # when the step was drawn afresh at its new length, the chain's position bins stretched), node counts within 1 %
    assert rep["kind_mix_tv"] < 0.04
    assert rep["graph"]["b"]["nodes_per_rank"] == pytest.approx(rep["graph"]["a"]["nodes_per_rank"], rel=0.01)


def test_grown_data_parallel_and_micro_batches_together(tmp_path):
    model = fit([str(TPDP / "pp2dp2_m4")])
    s = sample(model, tmp_path / "s", ranks=8, seed=1, micro_batches=6)
    assert s["micro_batches"]["sampled"] == 6
    assert not errors(check_trace(Trace.load(tmp_path / "s")))
    p2p = _p2p(tmp_path / "s")
    assert all(len(v) == 2 * 6 for v in p2p.values())  # each rank: 6 activations one way, 6 gradients the other


@pytest.mark.parametrize("family,lo,hi", [("pp4", 0.98, 1.01), ("pp2dp2", 0.95, 0.99)])
def test_a_described_width_and_another_number_of_micro_batches_together(tmp_path, family, lo, hi):
    # the step is drawn at the described width with the recorded number (4), then spliced to 8: fitted on the
    # widths 64-512 (pp*_h<H>, 4 micro-batches), described at 64 and compared with the step recorded at width 64
    # with 8 micro-batches (pp*_m8, another run). In place (4 micro-batches) the same model gives 0.994-0.997 (GPipe)
    # and 0.952-0.958 (PP 2 x DP 2: that run's ops were slower) of the m4 recording; at 8: 0.992-0.995 and
    # 0.967-0.970 (seeds 1-5), 0.993 / 0.967 with seed 1
    pytest.importorskip("astrasim_py")
    model = fit([str(TPDP / f"{family}_h{h}") for h in (64, 96, 128, 192, 256, 384, 512)])
    s = sample(model, tmp_path / "s", ranks=4, seed=1, describe={"width": 64}, micro_batches=8)
    assert s["micro_batches"] == {"recorded": 4, "sampled": 8, "schedule": "gpipe" if family == "pp4" else "1f1b"}
    real = TPDP / f"{family}_m8"
    assert not errors(check_trace(Trace.load(tmp_path / "s")))
    assert _order(_p2p(tmp_path / "s")) == _order(_p2p(real))
    assert {r: [x[3] for x in v] for r, v in _p2p(tmp_path / "s").items()} == \
        {r: [x[3] for x in v] for r, v in _p2p(real).items()}
    system, net = (str(SYSTEM), str(NETWORK)) if family == "pp2dp2" else gpipe_configs()
    rep = compare(str(real), str(tmp_path / "s"), system, net)
    assert lo < rep["sim_time_ratio"] < hi and rep["kind_mix_tv"] < 0.04 and rep["ks_max"] < 0.1


def test_schedule_reading_by_hand():
    def sk(word):
        n = len(word) + 1
        return {"comm": [[k, o, (i + 1) / n] for i, (k, o) in enumerate(word)], "time": [1 / n] * n}

    s, r = ("SEND", 1), ("RECV", 1)
    assert micro_batches([sk([s, s, s, r, r, r])]) == 3
    p = plan([sk([s, s, s, r, r, r])], 5)
    assert p.summary == {"recorded": 3, "sampled": 5, "schedule": "gpipe"} and p.delta == 2
    assert sorted(p.runs[0]) == [(0, 1, 3), (3, 1, 3)]
    # the entries in their new order: two more of each run's inner unit, before its middle one
    assert entry_order(6, p.runs[0], 2) == [0, 1, 1, 1, 2, 3, 4, 4, 4, 5]
    assert entry_order(6, p.runs[0], -1) == [0, 2, 3, 5]
    # a run of four units: its two inner ones copied in turn, so no one drawn unit is repeated many times
    assert entry_order(4, [(0, 1, 4)], 3) == [0, 1, 1, 2, 1, 2, 3]
    with pytest.raises(ToolError, match="not one per micro-batch"):
        plan([sk([s, s, r])], 4)
    with pytest.raises(ToolError, match="at least 2 micro-batches"):
        plan([sk([s, s, s, r, r, r])], 1)
    with pytest.raises(ToolError, match="record at least"):  # two units: no inner one to copy
        plan([sk([s, s, r, r])], 4)
    with pytest.raises(ToolError, match="record at least 4"):  # a steady run of 2 units: none inside it to copy
        plan([sk([s, s, r, s, r, r])], 6)
    with pytest.raises(ToolError, match="neither GPipe"):  # interleaved without a steady run
        plan([sk([s, r, r, s, s, r, r, s])], 6)
    with pytest.raises(ToolError, match="neither GPipe"):  # all forwards first, but not in equal units
        plan([sk([s, ("COLL:ALL_REDUCE", None), s, s, r, r, r])], 6)
    with pytest.raises(ToolError, match="no sends/receives"):
        plan([sk([("COLL:ALL_REDUCE", None)])], 2)


def test_errors_are_one_line(tmp_path):
    from .test_synth import DATA
    one = fit([str(DATA / "mlp_64x1")])
    with pytest.raises(ToolError, match="needs a model of a pipeline"):
        sample(one, tmp_path / "x", ranks=2, micro_batches=8)
    model = fit([str(TPDP / "pp2dp2_m4")])
    model_path = tmp_path / "m.json"
    model_path.write_text(json.dumps(model))
    exe = Path(sys.executable).with_name("chakra-synth")
    for args, what in ((["--micro-batches", "1"], "at least 2 micro-batches"),
                       (["--micro-batches", "0"], "must be 1..")):
        res = subprocess.run([str(exe), "sample", str(model_path), "-o", str(tmp_path / "y"), "--ranks", "4", *args],
                             capture_output=True, text=True)
        assert res.returncode != 0 and what in res.stderr and len(res.stderr.strip().splitlines()) == 1, res.stderr
        assert not list(tmp_path.glob("y.*"))
