"""FLOPs of backward convolutions and pooling, and re-deriving the costs of converted ETs (recost)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from chakra_tools.convert.recost import COST_ATTRS, recost
from chakra_tools.convert.shapes import op_cost
from chakra_tools.et import attrs_of, read_et

DATA = Path(__file__).resolve().parents[1] / "data"
BIN = Path(sys.executable).parent
T = "Tensor(float)"


def conv_backward_io(dy, x, w, mask, transposed=False):
    """aten::convolution_backward's inputs as a PyTorch ET records them (the schema's 11 arguments)."""
    t = [0, 0, 0, 0, 4, "cpu"]
    return {"values": [t, t, t, [w[0]], [1, 1], [1, 1], [1, 1], transposed, [0, 0], 1, mask],
            "shapes": [dy, x, w, [[]], [[], []], [[], []], [[], []], [], [[], []], [], [[], [], []]],
            "types": [T, T, T, "GenericList[Int]", "GenericList[Int,Int]", "GenericList[Int,Int]",
                      "GenericList[Int,Int]", "Bool", "GenericList[Int,Int]", "Int", "GenericList[Bool,Bool,Bool]"]}


def out(*shapes):
    return {"values": [[0, 0, 0, 0, 4, "cpu"]] * len(shapes), "shapes": list(shapes), "types": [T] * len(shapes)}


def test_conv_backward_flops_by_hand():
    # 24 -> 48 channels, 3x3, 8 x 16x16: MACs = numel(dy) * C * 9 = 98304 * 216; grad input + grad weight + bias
    dy, x, w = [8, 48, 16, 16], [8, 24, 16, 16], [48, 24, 3, 3]
    ops, nbytes = op_cost("aten::convolution_backward", conv_backward_io(dy, x, w, [True, True, True]),
                          out(x, w, [48]))
    assert ops == 2 * 98304 * 216 * 2 + 98304 == 85032960
    assert nbytes == 4 * (98304 + 49152 + 10368) + 4 * (49152 + 10368 + 48)
    # the first conv of a network computes no grad input: grad weight + grad bias = the forward's FLOPs
    dy, x, w = [8, 24, 32, 32], [8, 3, 32, 32], [24, 3, 3, 3]
    first = op_cost("aten::convolution_backward", conv_backward_io(dy, x, w, [False, True, True]), out(w, [24]))[0]
    forward = op_cost("aten::mkldnn_convolution", {"values": [[0] * 5 + ["cpu"]] * 3, "shapes": [x, w, [24]],
                                                   "types": [T] * 3}, out(dy))[0]
    assert first == forward == 2 * 196608 * 27 + 196608
    # transposed: MACs = numel(x) * w[1] * taps (weight [C_in, C_out/g, k, k])
    dy, x, w = [2, 4, 17, 17], [2, 8, 9, 9], [8, 4, 3, 3]
    ops = op_cost("aten::convolution_backward", conv_backward_io(dy, x, w, [True, True, False], True), out(x, w))[0]
    assert ops == 2 * (2 * 8 * 81) * 4 * 9 * 2


def test_conv_backward_without_its_mask_or_flag_is_not_costed():
    io = conv_backward_io([8, 4, 8, 8], [8, 2, 8, 8], [4, 2, 3, 3], [True, True, True])
    io["types"][-1] = "GenericList[Int,Int,Int]"
    assert op_cost("aten::convolution_backward", io, out()) is None


def test_max_pool_backward_counts_one_add_per_gradient():
    io = {"values": [[0] * 5 + ["cpu"]] * 2, "shapes": [[8, 24, 16, 16], [8, 24, 32, 32]], "types": [T, T]}
    assert op_cost("aten::max_pool2d_with_indices_backward", io, out([8, 24, 32, 32]))[0] == 8 * 24 * 16 * 16


def test_conv_backward_flops_match_torch_flop_counter():
    torch = pytest.importorskip("torch", reason="torch (make .venv/.torch) gives the independent FLOP count")
    from torch.utils.flop_counter import FlopCounterMode

    for cin, cout, first, transposed in [(24, 48, False, False), (3, 24, True, False), (8, 4, False, True)]:
        conv = (torch.nn.ConvTranspose2d(cin, cout, 3, stride=2) if transposed else torch.nn.Conv2d(cin, cout, 3))
        x = torch.randn(2, cin, 9, 9, requires_grad=not first)
        y = conv(x)
        with FlopCounterMode(display=False) as fc:
            y.backward(torch.randn_like(y))
        w = list(conv.weight.shape)
        ops = op_cost("aten::convolution_backward",
                      conv_backward_io(list(y.shape), list(x.shape), w, [not first, True, True], transposed),
                      out(list(x.shape), w, [cout]))[0]
        assert ops == fc.get_total_flops() + y.numel()  # torch leaves out the grad bias sum


def _strip(nodes):
    for n in nodes:
        keep = [a for a in n.attr if a.name not in COST_ATTRS]
        del n.attr[:]
        n.attr.extend(keep)


@pytest.mark.parametrize("trace", ["mlp", "transformer"])
def test_recost_of_a_converted_trace_restores_the_converter_bytes(tmp_path, trace):
    subprocess.run([str(BIN / "chakra-convert"), "pytorch", str(DATA / f"{trace}.et.json"), "-o", str(tmp_path / "t"),
                    "-q"], check=True)
    _, nodes = read_et(tmp_path / "t.0.et")
    ref = [n.SerializeToString() for n in nodes]
    assert recost(nodes) == 0  # a fixed point
    _strip(nodes)
    assert recost(nodes) > 20
    assert [n.SerializeToString() for n in nodes] == ref


def test_bundled_cnn_corpus_is_costed_with_todays_formulas():
    """The committed corpus is a fixed point of recost, and every backward conv carries its FLOPs: the forward's
    (2 MACs + bias) for the first layer (no grad input), twice its MACs + the bias for the others."""
    for prefix in ("cnn_4x2", "cnn_24x3", "cnn_48x4"):
        _, nodes = read_et(DATA / "synth" / f"{prefix}.0.et.gz")
        assert recost(nodes) == 0, prefix
        a = {n.id: attrs_of(n) for n in nodes}
        bwd = [a[n.id].get("num_ops") for n in nodes if n.name == "aten::convolution_backward"][::-1]
        fwd = [a[n.id]["num_ops"] for n in nodes if n.name == "aten::mkldnn_convolution"]
        width, depth = map(int, prefix.split("_")[1].split("x"))
        assert len(bwd) == len(fwd) == depth
        for i, (f, b) in enumerate(zip(fwd, bwd)):  # conv 3x3 with bias: f = numel(out) (2 * 9 * C_in + 1)
            c_in = 3 if i == 0 else width << (i - 1)
            bias = f // (18 * c_in + 1)
            assert bias * (18 * c_in + 1) == f
            assert b == (f if i == 0 else 2 * f - bias), (prefix, i)
