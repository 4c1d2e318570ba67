"""SuperNet structure: weight-sharing rules checked against direct enumeration; MAC/parameter counts
against published ResNet-50 figures and hand-worked MobileNetV3 blocks."""
import numpy as np
import pytest

from chakra_tools.common import ToolError
from sushi.accuracy import total_macs
from sushi.supernet import (
    DW,
    OFAMobileNetV3,
    OFAResNet50,
    box_elems,
    boxes,
    enumerate_weights,
    intersect,
    make_divisible,
    union_elems,
)

MBV3, RN50 = OFAMobileNetV3(), OFAResNet50()


def _random_boxes(net, seed, n):
    return boxes(net.dims(net.sample(np.random.default_rng(seed), n)))


@pytest.mark.parametrize("net", [MBV3, RN50], ids=["mbv3", "resnet50"])
def test_intersection_and_union_match_enumeration(net):
    """Every slot: |A|, the shared set A n B n C n D n E itself, and |A u ... u E|, from explicit weight indices
    (a boolean mask over the slot's max tensor per SubNet), against the closed forms."""
    bx = np.concatenate([_random_boxes(net, 7, 3), boxes(net.dims(net.batch(net.extremes())))])
    unions = union_elems(net, bx)
    shared = intersect(bx)
    for slot, s in enumerate(net.slots):
        size = s.max_o * s.max_i * s.max_k ** 2 + s.max_o
        masks = np.zeros((len(bx), size), dtype=bool)
        for m, b in zip(masks, bx):
            m[enumerate_weights(net, slot, tuple(b[slot]))] = True
        o, i, k = bx[:, slot, 0], bx[:, slot, 1], bx[:, slot, 2]
        assert masks.sum(axis=1).tolist() == (o * i * k * k + o * s.bias).tolist(), s.name
        inter = np.flatnonzero(masks.all(axis=0))
        assert np.array_equal(inter, np.sort(enumerate_weights(net, slot, tuple(shared[slot])))), s.name
        assert masks.any(axis=0).sum() == unions[slot], s.name


def test_kernel_centre_channel_prefix_depth_prefix():
    dw = next(i for i, s in enumerate(MBV3.slots) if s.kind == DW and s.block == 5)
    k3, k5, k7 = (set(enumerate_weights(MBV3, dw, (8, 1, k)).tolist()) for k in (3, 5, 7))
    assert k3 < k5 < k7
    # k=3 occupies exactly the centre 3x3 of the 7x7 taps of every channel (weights only, biases after)
    K = 7
    taps = {(i % (K * K)) // K for i in k3 if i < MBV3.slots[dw].max_o * K * K}, \
        {i % K for i in k3 if i < MBV3.slots[dw].max_o * K * K}
    assert taps == ({2, 3, 4}, {2, 3, 4})
    # fewer channels = the first ones
    assert set(enumerate_weights(MBV3, dw, (4, 1, 7)).tolist()) < set(enumerate_weights(MBV3, dw, (8, 1, 7)).tolist())
    # depth 2 keeps blocks 0,1 of each stage, drops 2,3
    cfg = {"ks": [7] * 20, "e": [6] * 20, "d": [2, 3, 4, 2, 3], "image_size": 224}
    pres = MBV3.dims(MBV3.batch([cfg])).present[0]
    for b, idx in enumerate(MBV3.block_slots):
        st, j = divmod(b, 4)
        assert pres[idx["dw"]] == (j < cfg["d"][st])


def test_subgraph_is_contained_in_every_member():
    bx = _random_boxes(MBV3, 3, 6)
    sg = intersect(bx)
    assert (sg[None] <= bx).all()
    assert (box_elems(MBV3, sg) <= box_elems(MBV3, bx)).all()
    assert (union_elems(MBV3, bx) >= box_elems(MBV3, bx).max(axis=0)).all()


def test_resnet50d_matches_torchvision_resnet50_after_stem_swap():
    """ResNet-50 = OFA d=[2,1,2,2,1] (3,4,6,3 blocks), e=0.25, w=1.0.  torchvision resnet50: 4.09 GMACs,
    25,557,032 parameters (docs).  OFA's ResNet-D stem is 3x3 convs 3->32 (s2), 32->32, 32->64 at 112x112;
    torchvision's is one 7x7 3->64: swapping them, and replacing BN (gamma, beta: 2 x 26,560 channels) by one
    folded bias per channel, must give torchvision's numbers."""
    cfg = {"d": [2, 1, 2, 2, 1], "e": [0.25] * 18, "w": [2] * 6, "image_size": 224}
    b = RN50.batch([cfg])
    macs = total_macs(RN50, b)[0]
    d_stem = (3 * 32 + 32 * 32 + 32 * 64) * 9 * 112 * 112
    tv_stem = 3 * 64 * 49 * 112 * 112
    assert macs - d_stem + tv_stem == pytest.approx(4.09e9, rel=0.003)
    params = box_elems(RN50, boxes(RN50.dims(b))).sum()
    d_stem_p = (3 * 32 + 32 * 32 + 32 * 64) * 9 + (32 + 32 + 64)
    tv_stem_p = 3 * 64 * 49 + 64
    bn_channels = 64 + 3 * (64 + 64 + 256) + 256 + 4 * (128 + 128 + 512) + 512 + 6 * (256 + 256 + 1024) + 1024 \
        + 3 * (512 + 512 + 2048) + 2048
    assert bn_channels == 26560
    assert params - d_stem_p + tv_stem_p == 25_557_032 - 2 * bn_channels + bn_channels


def test_mbv3_hand_worked_block_and_tail():
    """Stage 5 block 1 (160 ch, stride 1, SE), e=6, k=7 at 224 px (7x7 maps): expand 160->960, dw 7x7,
    SE 960->240->960, project 960->160, each with a folded bias."""
    cfg = {"ks": [7] * 20, "e": [6] * 20, "d": [4] * 5, "image_size": 224}
    d = MBV3.dims(MBV3.batch([cfg]))
    sl = MBV3.block_slots[17]
    e = box_elems(MBV3, boxes(d))[0]
    assert e[sl["expand"]] == 160 * 960 + 960
    assert e[sl["dw"]] == 960 * 49 + 960
    assert make_divisible(960 // 4) == 240
    assert e[sl["se_reduce"]] == 240 * 960 + 240 and e[sl["se_expand"]] == 960 * 240 + 960
    assert e[sl["pw"]] == 960 * 160 + 160
    assert d.hw[0, sl["dw"]] == 49 and d.hw[0, sl["expand"]] == 49
    # tail shared by every SubNet: final expand 160->960 (+bias), feature mix 960->1280 (no bias), classifier
    assert e[-3:].tolist() == [154_560, 1_228_800, 1_281_000]
    macs_dw = 960 * 49 * 49
    kind = np.array([s.kind for s in MBV3.slots])
    m = np.where(kind == DW, d.o * d.k ** 2 * d.hw, d.o * d.i * d.k ** 2 * d.hw)[0]
    assert m[sl["dw"]] == macs_dw and m[sl["expand"]] == 160 * 960 * 49


def test_resolution_scales_macs_not_weights():
    a = {"ks": [5] * 20, "e": [4] * 20, "d": [3] * 5, "image_size": 224}
    b = dict(a, image_size=160)
    ba, bb = MBV3.batch([a]), MBV3.batch([b])
    assert (boxes(MBV3.dims(ba)) == boxes(MBV3.dims(bb))).all()
    ratio = total_macs(MBV3, bb)[0] / total_macs(MBV3, ba)[0]
    assert ratio == pytest.approx((160 / 224) ** 2, rel=0.05)


@pytest.mark.parametrize("cfg,msg", [
    ({"ks": [7] * 19, "e": [6] * 20, "d": [4] * 5, "image_size": 224}, "ks"),
    ({"ks": [7] * 20, "e": [5] * 20, "d": [4] * 5, "image_size": 224}, "e"),
    ({"ks": [7] * 20, "e": [6] * 20, "d": [4] * 5, "image_size": 226}, "image_size"),
    ({"ks": [7] * 20, "e": [6] * 20, "d": [4] * 5, "image_size": 224, "w": 1}, "unknown"),
])
def test_validate_rejects(cfg, msg):
    with pytest.raises(ToolError, match=msg):
        MBV3.validate(cfg)


@pytest.mark.parametrize("net", [MBV3, RN50], ids=["mbv3", "resnet50"])
def test_canonical_form_keeps_every_weight_and_pixel(net):
    b = net.sample(np.random.default_rng(5), 300)
    c = net.canonical(b)
    d1, d2 = net.dims(b), net.dims(c)
    for f in ("o", "i", "k", "hw", "ext_in", "ext_out", "resid"):
        assert np.array_equal(getattr(d1, f), getattr(d2, f)), f


def test_make_divisible_array_matches_scalar():
    from sushi.supernet import make_divisible, make_divisible_array
    vals = [float(v) for v in range(0, 5001)] + [v / 10 for v in range(0, 20001, 7)]
    vals += [float(round(float(w) * e)) for w in range(8, 2049, 8) for e in (0.2, 0.25, 0.35)]
    vals += [64 * m for m in (0.65, 0.8, 1.0)] + [w * m for w in (256, 512, 1024, 2048) for m in (0.65, 0.8, 1.0)]
    for d in (8, 16):
        got = make_divisible_array(np.array(vals), d)
        assert got.dtype == np.int64
        assert got.tolist() == [make_divisible(v, d) for v in vals]
    widths, expands = np.arange(8, 2049, 8), (0.2, 0.25, 0.35)   # ResNet50 bottleneck mids, as dims computes them
    assert make_divisible_array(np.round(widths[:, None] * np.array(expands))).ravel().tolist() == \
        [make_divisible(round(float(w) * e)) for w in widths for e in expands]
    ints = np.arange(0, 6 * 160 + 1) // 4                      # the SE reduction widths (integer input)
    assert make_divisible_array(ints).tolist() == [make_divisible(int(v)) for v in ints]
