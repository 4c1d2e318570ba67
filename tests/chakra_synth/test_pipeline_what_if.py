"""What-if at a bigger model of a pipeline: a model of several programs fitted on pipelines of several widths
(each program with its own architecture laws) and sampled from a width alone (`sample --describe`), against
recorded pipelines of widths it never saw (tests/data/tpdp/record.py: pp2dp2_h<H>, PP 2 x DP 2, 1F1B)."""

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
from chakra_tools.synth.targets import described
from chakra_tools.validate import check_trace, errors

from .test_programs import CONFIGS, NETWORK, PP, SYSTEM, _order, _p2p, _write_pipeline, gpipe_configs

TPDP = PP.parent
TRAIN = (64, 96, 128, 192, 256, 384, 512)  # record.py's WIDTHS_TRAIN
ROWS, INPUTS, CLASSES, FP32 = 32, 32, 10, 4  # a micro-batch of 8 x 16 / 4 rows; the stages' layers (record.py)


def _prefix(h: int, family: str = "pp2dp2") -> Path:
    return TPDP / f"{family}_h{h}"


def _stage_params(h: int) -> list[list[int]]:
    """Per stage the bytes of its parameter tensors (what its DP all-reduces carry): stage 0 Linear(32, H), GELU,
    Linear(H, H), GELU; stage 1 Linear(H, H), GELU, Linear(H, 10)."""
    return [sorted(FP32 * n for n in (INPUTS * h, h, h * h, h)), sorted(FP32 * n for n in (h * h, h, h * CLASSES,
                                                                                              CLASSES))]


@pytest.fixture(scope="module")
def model() -> dict:
    return fit([str(_prefix(h)) for h in TRAIN])


@pytest.fixture(scope="module")
def gpipe() -> dict:
    return fit([str(_prefix(h, "pp4")) for h in TRAIN])


def test_pipelines_of_several_widths_keep_their_programs_and_learn_laws_per_program(model):
    p = model["programs"]
    assert p["rank_program"] == [0, 0, 1, 1]
    for m in p["models"]:
        assert m["architecture"]["descriptors"] == ["width"]
        assert m["architecture"]["range"] == [[64, 512]]
        assert "time_correction" in m["architecture"]
    text = json.dumps(model)
    assert "aten::" not in text and "nn.Module" not in text  # no node names


@pytest.mark.parametrize("h", [160, 320])
def test_described_width_has_the_closed_form_sizes(model, h, tmp_path):
    prefix = tmp_path / f"w{h}"
    s = sample(model, prefix, ranks=4, seed=1, describe={"width": h})
    assert s["describe"] == {"width": h} and "outside_corpus" not in s
    t = Trace.load(prefix)
    assert not errors(check_trace(t))
    got = _p2p(prefix)
    assert _order(got) == _order(_p2p(_prefix(h)))  # the recorded 1F1B exchanges in order
    # every activation and gradient is a micro-batch of H floats: 32 x H x 4 bytes, a width never fitted
    assert {b for seq in got.values() for *_, b in seq} == {ROWS * h * FP32}
    for r, g in sorted(t.ranks.items()):
        colls = sorted(g.attrs[n.id]["comm_size"] for n in g.nodes if n.type == NodeType.COMM_COLL_NODE)
        assert colls == _stage_params(h)[r // 2], r


def test_gpipe_of_several_widths_has_the_closed_form_sizes(gpipe, tmp_path):
    assert gpipe["programs"]["rank_program"] == [0, 1, 1, 2]
    assert all("architecture" in m for m in gpipe["programs"]["models"])
    prefix = tmp_path / "w320"
    sample(gpipe, prefix, ranks=4, seed=1, describe={"width": 320})
    t = Trace.load(prefix)
    assert not errors(check_trace(t))
    got = _p2p(prefix)
    assert _order(got) == _order(_p2p(_prefix(320, "pp4")))
    assert {b for seq in got.values() for *_, b in seq} == {ROWS * 320 * FP32}
    # the gradient norm: one fp32 scalar all-reduced over all four stages, whatever the width
    assert {g.attrs[n.id]["comm_size"] for g in t.ranks.values() for n in g.nodes
            if n.type == NodeType.COMM_COLL_NODE} == {FP32}


@pytest.mark.parametrize("family", ["pp2dp2", "pp4"])
def test_held_out_widths_simulate_like_their_recordings(model, gpipe, family, tmp_path):
    pytest.importorskip("astrasim_py")
    m, (system, net) = (model, (str(SYSTEM), str(NETWORK))) if family == "pp2dp2" else (gpipe, gpipe_configs())
    ratios = {}
    for h in (160, 320, 768):  # two widths inside the fitted range, one 1.5x beyond it
        prefix = tmp_path / f"w{h}"
        s = sample(m, prefix, ranks=4, seed=2, describe={"width": h})
        rep = compare(str(_prefix(h, family)), str(prefix), system, net)
        assert rep["ks_max"] < 0.1 and rep["attributes"]["comm_size"]["ks"] == 0, (h, rep["ks_max"])
        ratios[h] = rep["sim_time_ratio"]
        assert ("outside_corpus" in s) == (h > TRAIN[-1])
        # each stage waits as long as recorded: idle 22-77 % of the step, synthetic within 0.017 when written
        assert all(abs(e["b"]["sim_idle_share"] - e["a"]["sim_idle_share"]) < 0.03 for e in rep["programs"])
    # seed 2 when written: pp2dp2 1.018 / 0.994 / 0.981, pp4 1.031 / 1.001 / 0.956 (docs/chakra-synth.md: seeds
    # 1-5 all within 5 %, ks_max <= 0.095)
    assert all(abs(x - 1) < 0.05 for x in ratios.values()), ratios
    # without the width (the pooled tables of all seven widths), the 768-wide step is much shorter
    sample(m, tmp_path / "pooled", ranks=4, seed=1)
    assert compare(str(_prefix(768, family)), str(tmp_path / "pooled"), system, net)["sim_time_ratio"] < 0.7


def test_described_pipeline_grows_its_data_parallelism_too(model, tmp_path):
    # width 320 (never fitted) at 8 ranks (fitted on 4) against PP 2 x DP 4 recorded at width 320
    real = TPDP / "pp2dp4_h320"
    s = sample(model, tmp_path / "s", ranks=8, seed=1, describe={"width": 320})
    assert [p["ranks"] for p in s["programs"]] == [[0, 1, 2, 3], [4, 5, 6, 7]]
    assert not errors(check_trace(Trace.load(tmp_path / "s")))
    assert _order(_p2p(tmp_path / "s")) == _order(_p2p(real))
    pytest.importorskip("astrasim_py")
    rep = compare(str(real), str(tmp_path / "s"), str(SYSTEM), str(CONFIGS / "network_4x2.yml"))
    assert rep["groups"]["g4s1"]["a"]["groups"] == rep["groups"]["g4s1"]["b"]["groups"] == [[0, 1, 2, 3], [4, 5, 6, 7]]
    assert rep["attributes"]["comm_size"]["ks"] == 0
    assert abs(rep["sim_idle_share_b"] - rep["sim_idle_share_a"]) < 0.01  # 0.400 vs 0.398 when written
    # its 8 processes on 2 cores ran every op ~12 % slower than the 4-process recordings the model learned (compute
    # path ratio 0.899): the simulated step follows the compute (sim 0.879) and nothing else
    assert 0.85 < rep["compute_path_ratio"] < 0.95
    assert abs(rep["sim_time_ratio"] / rep["compute_path_ratio"] - 1) < 0.03


def test_described_pipeline_same_seed_same_bytes(model, tmp_path):
    for d in ("a", "b"):
        sample(model, tmp_path / d, ranks=4, seed=3, describe={"width": 200})
    assert all((tmp_path / f"a.{r}.et").read_bytes() == (tmp_path / f"b.{r}.et").read_bytes() for r in range(4))


def test_describe_needs_laws_in_every_program(tmp_path):
    one_width = fit([str(PP)])
    with pytest.raises(ToolError, match="program 0 has no architecture laws"):
        sample(one_width, tmp_path / "x", ranks=4, describe={"width": 320})
    with pytest.raises(ToolError, match="sampled at its recorded size"):
        sample(one_width, tmp_path / "x", ranks=4, param_bytes=1e6)
    assert not list(tmp_path.iterdir())


def test_cli_describes_a_pipeline(tmp_path):
    path = tmp_path / "model.json"
    exe = Path(sys.executable).with_name("chakra-synth")
    res = subprocess.run([str(exe), "fit", *(str(_prefix(h)) for h in TRAIN), "-o", str(path)], capture_output=True,
                         text=True)
    assert res.returncode == 0, res.stderr
    assert "fitted 2 programs on 7 trace(s)" in res.stderr and "architecture laws in width per program" in res.stderr
    res = subprocess.run([str(exe), "sample", str(path), "-o", str(tmp_path / "s"), "--ranks", "4",
                          "--describe", "width=1024"], capture_output=True, text=True)
    assert res.returncode == 0, res.stderr
    assert "running 2 programs of width=1024" in res.stderr
    assert "warning: outside the corpus" in res.stderr and "width 1024 > 512" in res.stderr
    # 10^4 x beyond: the FLOPs reach the clip; one warning for the pipeline (not one per program), a valid trace
    res = subprocess.run([str(exe), "sample", str(path), "-o", str(tmp_path / "far"), "--ranks", "4",
                          "--describe", "width=5e6"], capture_output=True, text=True)
    assert res.returncode == 0, res.stderr
    assert sum("where they are clipped" in line for line in res.stderr.splitlines()) == 1
    assert not errors(check_trace(Trace.load(tmp_path / "far")))


def test_a_described_step_beyond_an_et_is_one_line_and_writes_nothing(gpipe, tmp_path):
    bad = json.loads(json.dumps(gpipe))  # hand-edited: a matmul FLOP costs 1 ms (the largest a model may say)
    bad["programs"]["models"][1]["kind_stats"]["COMP:matmul"]["work"]["us_per_op"] = 1e3
    path = tmp_path / "bad.json"
    path.write_text(json.dumps(bad))
    with pytest.raises(ToolError, match="beyond an ET's durations"):
        sample(bad, tmp_path / "x", ranks=4, describe={"width": 1e5})
    exe = Path(sys.executable).with_name("chakra-synth")
    res = subprocess.run([str(exe), "sample", str(path), "-o", str(tmp_path / "x"), "--ranks", "4",
                          "--describe", "width=1e5"], capture_output=True, text=True)
    assert res.returncode == 1 and res.stderr.count("\n") == 1 and "beyond an ET's durations" in res.stderr
    assert not list(tmp_path.glob("x*"))


def test_far_beyond_the_widths_the_step_grows_no_faster_than_its_flops(model, gpipe):
    # every stage's time is an overhead plus FLOPs that grow as H^2: 8x and 32x the widest fitted width may not
    # cost more than 8^2 and 32^2 times as much (before the size laws ignored the node count, which varies by 2 %
    # over the fitted widths, stage 0 of PP 2 x DP 2 was 2.5x stage 1 at 8x and 3000x at 16x)
    for m in (model, gpipe):
        for k in (8, 32):
            for pm in m["programs"]["models"]:
                base, far = ((lambda a, t, _s, rate: rate * t.nodes)(*described(pm, {"width": w}, warn_clipped=False))
                             for w in (512, 512 * k))
                assert base < far <= k * k * base, (k, far / base)


@pytest.mark.parametrize("stages,micro", [(2, 4), (4, 4), (4, 8)])
def test_compare_idle_share_is_the_pipeline_bubble(stages, micro, tmp_path):
    # equal stages, negligible messages: the step is (m + p - 1)(f + b) and each stage computes m(f + b), so each
    # is idle (p - 1) / (m + p - 1) of it (GPipe's bubble); compare reports it per rank, overall and per program
    pytest.importorskip("astrasim_py")
    _write_pipeline(tmp_path / "g", stages, micro, "gpipe", world_allreduce=False, layer_us=(100, 200))
    net = tmp_path / "fast.yml"
    net.write_text(f"topology: [Ring]\nnpus_count: [{stages}]\nbandwidth: [1000.0]\nlatency: [1.0]\n")
    rep = compare(str(tmp_path / "g"), str(tmp_path / "g"), str(CONFIGS.parent / "system.json"), str(net))
    bubble = (stages - 1) / (micro + stages - 1)
    assert rep["sim_idle_share_a"] == rep["sim_idle_share_b"] == pytest.approx(bubble, abs=0.01)
    assert rep["sim_time_ns_a"] == pytest.approx((micro + stages - 1) * 300_000, rel=0.01)
    assert all(e["a"]["sim_idle_share"] == pytest.approx(bubble, abs=0.01) for e in rep["programs"])
