"""Residual kriging of the described time model (chakra_tools/synth/kriging.py)."""

from __future__ import annotations

import copy
import json

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from chakra_tools.common import ToolError
from chakra_tools.graph import Trace
from chakra_tools.synth import sample
from chakra_tools.synth.arch import read_sidecar
from chakra_tools.synth.features import compute_path_us
from chakra_tools.synth.kriging import (
    fit_correction,
    kernel,
    loo_predictions,
    predict_correction,
)
from chakra_tools.synth.model_check import check_model
from chakra_tools.synth.targets import described
from chakra_tools.synth.timing import rank_speeds

from .test_synth import FAMILY_TRAIN


def _grid(widths, depths):
    return np.log([[d, w] for w in widths for d in depths])


@settings(max_examples=25, deadline=None)
@given(st.integers(4, 12), st.floats(0.05, 3.0), st.floats(0.05, 3.0), st.sampled_from([0.03, 0.3, 1.0]),
       st.integers(0, 2**31))
def test_closed_form_leave_one_out_equals_refitting(n, l1, l2, ridge, seed):
    """The closed-form LOO predictions equal fitting the GP mean without each point (a second implementation)."""
    rng = np.random.default_rng(seed)
    X, r, ls = rng.normal(size=(n, 2)), rng.normal(size=n), np.array([l1, l2])
    fast = loo_predictions(X, r, ls, ridge)
    for t in range(n):
        keep = np.arange(n) != t
        alpha = np.linalg.solve(kernel(X[keep], X[keep], ls) + ridge * np.eye(n - 1), r[keep])
        assert fast[t] == pytest.approx(float(kernel(X[t:t + 1], X[keep], ls)[0] @ alpha), abs=1e-8)


def test_a_per_width_offset_carries_to_another_depth_and_fades_far_away():
    """Residuals that depend on the width only (one slow width): the correction learns a long depth scale, gives
    the slow width's offset at a depth it was not measured at, and ~0 far outside the corpus."""
    widths, depths = (64, 96, 128, 192, 256, 384, 512), (1, 3)
    X = _grid(widths, depths)
    r = np.where(np.isclose(X[:, 1], np.log(128)), 0.06, 0.0) + 0.003 * np.cos(7 * X[:, 0] + 3 * X[:, 1])
    block = fit_correction(X, r)
    assert block is not None
    assert block["lengths"][0] >= 1.0 and block["lengths"][1] <= 0.35  # varies with width, not depth
    assert predict_correction(block, np.log([2, 128])) == pytest.approx(0.06, abs=0.015)
    assert abs(predict_correction(block, np.log([2, 256]))) < 0.015
    assert abs(predict_correction(block, np.log([3, 4096]))) < 1e-3
    assert block["loo_rms"][1] < block["loo_rms"][0]


def test_no_correction_when_the_time_model_is_exact_or_the_corpus_small():
    X = _grid((64, 128, 256), (1, 2, 3))
    assert fit_correction(X, np.zeros(len(X))) is None
    assert fit_correction(X[:4], np.array([0.1, -0.1, 0.05, 0.0])) is None  # fewer than MIN_TRACES
    assert predict_correction(None, np.log([1, 64])) == 0.0


def test_fitted_correction_reproduces_the_training_residuals_it_was_fitted_on(family_models):
    """For each family the block holds one point per training trace, and the described time with it moves every
    training trace's compute time towards its measurement on average (it is a smoother, ridge > 0, not an
    interpolator: assert the rms error falls, not that it vanishes)."""
    for fam, model in family_models.items():
        block = model["architecture"].get("time_correction")
        assert block is not None, fam
        assert len(block["points"]) == len(FAMILY_TRAIN[fam])
        bare = copy.deepcopy(model)
        del bare["architecture"]["time_correction"]
        before, after = [], []
        for p in FAMILY_TRAIN[fam]:
            real = np.mean([compute_path_us(g) for g in Trace.load(p).ranks.values()])
            for m, errs in ((bare, before), (model, after)):
                _, target, _, rate = described(m, read_sidecar(p))
                errs.append(np.log(rate * target.nodes / real))
        assert np.sqrt(np.mean(np.square(after))) < np.sqrt(np.mean(np.square(before))), fam


def test_described_sample_path_follows_the_corrected_time(family_models, tmp_path):
    """`sample --describe` calibrates each rank's compute path to the corrected time times the rank's speed factor
    (integer rounding aside)."""
    model = family_models["mlp"]
    desc = {"width": 128.0, "depth": 2.0}
    _, target, _, rate = described(model, desc)
    sample(model, tmp_path / "s", ranks=2, seed=3, describe=desc)
    speeds = rank_speeds(model, 2, 3)
    for r, g in sorted(Trace.load(tmp_path / "s").ranks.items()):
        assert compute_path_us(g) == pytest.approx(rate * target.nodes * speeds[r], rel=0.005)


@pytest.mark.parametrize("mutate, key", [
    (lambda b: b.update(lengths=[0.1]), "time_correction"),
    (lambda b: b.update(weights=b["weights"][:-1]), "time_correction"),
    (lambda b: b.update(ridge=-1), "time_correction"),
    (lambda b: b.pop("points"), "time_correction"),
    (lambda b: b["points"].__setitem__(0, ["x", 1]), "time_correction"),
])
def test_malformed_correction_is_refused_naming_the_key(family_models, mutate, key):
    model = json.loads(json.dumps(family_models["mlp"]))
    mutate(model["architecture"]["time_correction"])
    with pytest.raises(ToolError, match=key):
        check_model(model)


def test_four_descriptors_use_coordinate_search_and_find_the_one_that_matters():
    """Beyond two descriptors the lengths are found by coordinate search: a residual that varies with the
    first descriptor only gets a finite length there and infinite ones elsewhere, and is predicted at a new point."""
    rng = np.random.default_rng(7)
    X = rng.uniform(0, 3, size=(60, 4))
    r = 0.05 * np.sin(2 * X[:, 0])
    block = fit_correction(X, r)
    assert block is not None
    assert block["lengths"][0] <= 1.4 and block["lengths"][1:] == [1e3, 1e3, 1e3]
    x = np.array([1.3, 0.2, 2.9, 1.1])
    assert predict_correction(block, x) == pytest.approx(0.05 * np.sin(2.6), abs=0.01)
