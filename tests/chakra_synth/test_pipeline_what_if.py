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
from chakra_tools.validate import check_trace, errors

from .test_programs import NETWORK, PP, SYSTEM, _order, _p2p

TPDP = PP.parent
TRAIN = (64, 96, 128, 192, 256, 384, 512)  # record.py's WIDTHS_TRAIN
ROWS, INPUTS, CLASSES, FP32 = 32, 32, 10, 4  # a micro-batch of 8 x 16 / 4 rows; the stages' layers (record.py)


def _prefix(h: int) -> Path:
    return TPDP / f"pp2dp2_h{h}"


def _stage_params(h: int) -> list[list[int]]:
    """Per stage the bytes of its parameter tensors (what its DP all-reduces carry): stage 0 Linear(32, H), GELU,
    Linear(H, H), GELU; stage 1 Linear(H, H), GELU, Linear(H, 10)."""
    return [sorted(FP32 * n for n in (INPUTS * h, h, h * h, h)), sorted(FP32 * n for n in (h * h, h, h * CLASSES,
                                                                                              CLASSES))]


@pytest.fixture(scope="module")
def model() -> dict:
    return fit([str(_prefix(h)) for h in TRAIN])


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


def test_held_out_widths_simulate_like_their_recordings(model, tmp_path):
    pytest.importorskip("astrasim_py")
    ratios = {}
    for h in (160, 320, 768):  # two widths inside the fitted range, one 1.5x beyond it
        prefix = tmp_path / f"w{h}"
        s = sample(model, prefix, ranks=4, seed=1, describe={"width": h})
        rep = compare(str(_prefix(h)), str(prefix), str(SYSTEM), str(NETWORK))
        assert rep["ks_max"] < 0.1 and rep["attributes"]["comm_size"]["ks"] == 0
        ratios[h] = rep["sim_time_ratio"]
        assert ("outside_corpus" in s) == (h > TRAIN[-1])
    # 0.994 / 0.969 / 0.991 when written (seeds 1-5: 0.994-0.998, 0.971-0.973, 0.991-0.994)
    assert all(abs(x - 1) < 0.05 for x in ratios.values()), ratios
    # without the width (the pooled tables of all seven widths), the 768-wide step is half as long
    sample(model, tmp_path / "pooled", ranks=4, seed=1)
    assert compare(str(_prefix(768)), str(tmp_path / "pooled"), str(SYSTEM), str(NETWORK))["sim_time_ratio"] < 0.6


def test_described_pipeline_grows_its_data_parallelism_too(model, tmp_path):
    s = sample(model, tmp_path / "s", ranks=8, seed=1, describe={"width": 320})
    assert [p["ranks"] for p in s["programs"]] == [[0, 1, 2, 3], [4, 5, 6, 7]]
    assert not errors(check_trace(Trace.load(tmp_path / "s")))
    assert _order(_p2p(tmp_path / "s")) == _order(_p2p(TPDP / "pp2dp4"))


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
    # far outside: the clip warning once for the pipeline (not once per program), and still a valid trace
    res = subprocess.run([str(exe), "sample", str(path), "-o", str(tmp_path / "far"), "--ranks", "4",
                          "--describe", "width=1e9"], capture_output=True, text=True)
    assert res.returncode == 0, res.stderr
    assert sum("where they are clipped" in line for line in res.stderr.splitlines()) == 1
    assert not errors(check_trace(Trace.load(tmp_path / "far")))
