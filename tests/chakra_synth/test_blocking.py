"""Channel blocking (blocking.py): the conv shapes, the padding rule worked by hand, the channel laws the committed
CNN corpus implies, and what a described model's time does with them."""

from __future__ import annotations

import copy

import numpy as np
import pytest

from chakra_tools.common import ToolError
from chakra_tools.synth import fit, targets
from chakra_tools.synth.blocking import blocked_factor, channels, fit_channel_law
from chakra_tools.synth.model_check import check_model

from .test_synth import FAMILY_TRAIN


def test_channels_of_forward_and_backward_convs():
    # the recorded shapes of cnn_20x2's second conv: input [8, 20, 16, 16], weight [40, 20, 3, 3], bias [40]
    assert channels("aten::mkldnn_convolution", "[[8,20,16,16],[40,20,3,3],[40],[],[],[],[]]") == (20, 40)
    # its backward: grad_out [8, 40, 16, 16], input [8, 20, 16, 16], weight
    assert channels("aten::convolution_backward", "[[8,40,16,16],[8,20,16,16],[40,20,3,3],[],[]]") == (20, 40)
    assert channels("aten::addmm", "[[8,20],[20,40]]") is None
    for bad in ("", "not a list", "[[8,20]]", "[[8,0,4,4],[4,0,3,3]]", "[[8,'a',4,4],[4,2,3,3]]"):
        assert channels("aten::convolution", bad) is None


@pytest.mark.parametrize("cin,cout,block,factor", [
    (3, 20, 16, 32 / 20),             # the image stays unblocked, 20 output channels run as 32
    (20, 40, 16, 32 / 20 * 48 / 40),  # 20 -> 32 in, 40 -> 48 out: 1.92x the FLOPs
    (16, 32, 16, 1.0), (48, 96, 16, 1.0),
    (6, 12, 16, 16 / 12),             # 6 input channels: below half a block, unblocked
    (8, 12, 16, 16 / 8 * 16 / 12),    # 8 = half a block: blocked
    (20, 40, 8, 24 / 20 * 1.0), (20, 40, 0, 1.0), (20, 40, 1, 1.0),
    (0.4, 0.8, 16, 16.0),             # a described width below 1/2: one channel each (was a division by zero)
])
def test_blocked_factor_by_hand(cin, cout, block, factor):
    assert blocked_factor(cin, cout, block) == pytest.approx(factor, rel=1e-12)


def test_channel_laws_are_one_term_and_exact():
    X = np.array([[2, 4], [3, 8], [4, 12], [2, 32]], dtype=float)  # (depth, width), the model's order
    assert fit_channel_law(X, [8, 16, 24, 64]) == [2.0, [0, 1], [0, 0]]   # 2 x width
    assert fit_channel_law(X, [3, 3, 3, 3]) == [3.0, [0, 0], [0, 0]]      # the image
    assert fit_channel_law(X, [5, 9, 13, 33]) is None                      # width + 1: no one-term law
    assert fit_channel_law(X[:2], [8, 16]) is None                         # too few traces


@pytest.fixture(scope="module")
def cnn(family_models):
    return family_models["cnn"]


def test_the_cnn_corpus_gives_each_conv_stage_its_channel_laws(cnn):
    assert cnn["channel_block"] == 16
    for kind in ("COMP:conv", "COMP:bwd_conv"):
        assert "work_blocked" in cnn["kind_stats"][kind]
        atoms = cnn["architecture"]["kinds"][kind]["attrs"]["num_ops"]["atoms"]
        laws = sorted((a["channels"]["in"][0], a["channels"]["in"][1][1], a["channels"]["out"][0]) for a in atoms)
        # stage s of the family: 3 -> w, then 2^(s-1) w -> 2^s w (in: coefficient, width exponent; out: coefficient)
        assert laws == [(1.0, 1, 2.0), (2.0, 1, 4.0), (3.0, 0, 1.0), (4.0, 1, 8.0)], kind


def test_a_described_width_gets_its_blocked_factors(cnn):
    arch, _ = targets.resolve_architecture(cnn, {"width": 20, "depth": 2})
    for kind in ("COMP:conv", "COMP:bwd_conv"):
        spec = arch.attrs[kind]["num_ops"]
        present = spec["factors"][spec["counts"] > 0]
        assert sorted(present.round(6)) == [1.6, 1.92], kind  # 3 -> 20 and 20 -> 40, by hand above
    arch, _ = targets.resolve_architecture(cnn, {"width": 32, "depth": 3})
    assert np.all(arch.attrs["COMP:conv"]["num_ops"]["factors"] == 1.0)  # 32, 64, 128: all whole blocks
    targets.described(cnn, {"width": 0.4, "depth": 2})  # a positive width that rounds to 0 channels is valid


def test_blocking_raises_the_described_time_of_a_padded_width_only(cnn):
    off = copy.deepcopy(cnn)
    del off["channel_block"]  # the same model timed without the rule
    for w, padded in ((20, True), (32, False)):
        _, target, _, on_rate = targets.described(cnn, {"width": w, "depth": 2})
        _, _, _, off_rate = targets.described(off, {"width": w, "depth": 2})
        if padded:
            assert on_rate > 1.03 * off_rate, w
        else:
            assert on_rate == pytest.approx(off_rate, rel=0.02), w


def test_without_a_block_the_model_has_no_blocking():
    m = fit(FAMILY_TRAIN["cnn"], channel_block=0)
    assert "channel_block" not in m
    assert not any("work_blocked" in st for st in m["kind_stats"].values())
    assert not any("channels" in a for e in m["architecture"]["kinds"].values()
                   for b in e.get("attrs", {}).values() for a in b["atoms"])


@pytest.mark.parametrize("edit,message", [
    (lambda m: m.__setitem__("channel_block", -1), "'channel_block' must be an integer 0..1024"),
    (lambda m: m.__setitem__("channel_block", "16"), "'channel_block' must be an integer 0..1024"),
    (lambda m: m["kind_stats"]["COMP:conv"]["work_blocked"].__setitem__("us_per_op", -1.0), "work_blocked must hold"),
    (lambda m: m["architecture"]["kinds"]["COMP:conv"]["attrs"]["num_ops"]["atoms"][0]["channels"]["in"][1]
     .__setitem__(0, 7), "architecture.kinds['COMP:conv'].attrs.num_ops.atoms[0]"),
    (lambda m: m["architecture"]["kinds"]["COMP:conv"]["attrs"]["num_ops"]["atoms"][0]["channels"].pop("out"),
     "architecture.kinds['COMP:conv'].attrs.num_ops.atoms[0]"),
])
def test_malformed_blocking_in_a_model_is_one_line(cnn, edit, message):
    m = copy.deepcopy(cnn)
    edit(m)
    with pytest.raises(ToolError, match=message.replace("[", r"\[").replace("]", r"\]").replace(".", r"\.")):
        check_model(m, "m.json")
