"""SushiAccel against layer costs worked by hand (default ZU19EG-class constants; the compute, DRAM and
activation-buffer constants are those of the ZCU104 class too).

Constants: 32 x 64 PEs at 300 MHz; weights enter the array at 512 B/cycle; DRAM 19.2 GB/s x 0.8 =
15.36 GB/s; 0.5 us per-layer overhead; INT8 weights/activations, INT32 biases; activation buffer 768 KiB
(a feature map spills when it exceeds one half, 393,216 B).
"""
import numpy as np
import pytest

from sushi.accel import Accelerator, cached_bytes, latency_energy, layer_costs, per_layer_table
from sushi.supernet import OFAMobileNetV3, OFAResNet50, boxes

BW = 19.2e9 * 0.8
F = 300e6
MAX = {"ks": [7] * 20, "e": [6] * 20, "d": [4] * 5, "image_size": 224}


@pytest.fixture(scope="module")
def acc():
    a = Accelerator()
    a.validate()
    return a


def _row(rows, name):
    return next(r for r in rows if r["layer"] == name)


def test_pointwise_conv_compute_bound(acc):
    # final_expand 160->960 at 7x7: ceil(160/32)=5 x ceil(960/64)=15 x 49 px = 3675 cycles (+96 fill) >
    # feed 157,440 B / 512 = 307.5 cycles; DRAM 157,440 B / 15.36 GB/s = 10.25 us < 12.57 us compute
    r = _row(per_layer_table(OFAMobileNetV3(), acc, MAX), "final_expand")
    assert r["macs"] == 960 * 160 * 49
    assert r["weight_bytes"] == 160 * 960 + 960 * 4
    assert r["compute_us"] == pytest.approx((5 * 15 * 49 + 96) / F * 1e6)
    assert r["dram_us"] == pytest.approx(157_440 / BW * 1e6)
    assert r["latency_us"] == pytest.approx(3771 / F * 1e6 + 0.5)


def test_classifier_memory_bound_and_pb_removes_its_traffic(acc):
    # 1280->1000 FC, batch 1: 40 x 16 = 640 MAC cycles < weight feed 1,284,000 / 512 = 2507.8 cycles;
    # DRAM = weights + 1000 B of logits = 1,285,000 B -> 83.66 us: memory bound
    net = OFAMobileNetV3()
    r = _row(per_layer_table(net, acc, MAX), "classifier")
    assert r["weight_bytes"] == 1280 * 1000 + 1000 * 4
    assert r["compute_us"] == pytest.approx((1_284_000 / 512 + 96) / F * 1e6)
    assert r["latency_us"] == pytest.approx(1_285_000 / BW * 1e6 + 0.5)
    # a PB holding the classifier: only the logits leave the chip, the layer becomes compute bound
    cache = np.zeros((len(net.slots), 3), dtype=np.int64)
    cache[-1] = (1000, 1280, 1)
    r = _row(per_layer_table(net, acc, MAX, cache), "classifier")
    assert r["pb_bytes"] == 1_284_000 and r["offchip_bytes"] == 1000
    assert r["latency_us"] == pytest.approx((1_284_000 / 512 + 96) / F * 1e6 + 0.5)


def test_depthwise_mapping(acc):
    # stage-5 block-1 dw 7x7 on 960 ch at 7x7: taps on rows ceil(49/32)=2, channels on cols ceil(960/64)=15
    r = _row(per_layer_table(OFAMobileNetV3(), acc, MAX), "s5.b1.dw")
    assert r["macs"] == 960 * 49 * 49
    assert r["compute_us"] == pytest.approx((2 * 15 * 49 + 96) / F * 1e6)
    assert r["dram_us"] == pytest.approx((960 * 49 + 960 * 4) / BW * 1e6)


def test_stem_reads_the_image_from_dram(acc):
    r = _row(per_layer_table(OFAMobileNetV3(), acc, MAX), "first_conv")
    assert r["offchip_bytes"] == 3 * 16 * 9 + 16 * 4 + 3 * 224 * 224
    assert r["compute_us"] == pytest.approx((112 * 112 + 96) / F * 1e6)


def test_activation_spill_resnet_stage1(acc):
    # 256 x 56 x 56 = 802,816 B > 393,216 B: written by s1.b0.conv3, read by s1.b1.conv1 and again by the
    # residual add after s1.b1.conv3 (which also writes its own output)
    cfg = {"d": [2, 1, 2, 2, 1], "e": [0.25] * 18, "w": [2] * 6, "image_size": 224}
    rows = per_layer_table(OFAResNet50(), acc, cfg)
    fm = 256 * 56 * 56
    w = lambda n: _row(rows, n)["weight_bytes"]  # noqa: E731
    assert _row(rows, "s1.b0.conv3")["offchip_bytes"] == w("s1.b0.conv3") + fm
    assert _row(rows, "s1.b1.conv1")["offchip_bytes"] == w("s1.b1.conv1") + fm
    assert _row(rows, "s1.b1.conv3")["offchip_bytes"] == w("s1.b1.conv3") + 2 * fm
    # MobileNetV3 at 224 never spills with 768 KiB (largest block map 112x112x16 = 200,704 B)
    mb = per_layer_table(OFAMobileNetV3(), acc, MAX)
    assert sum(r["offchip_bytes"] for r in mb) == sum(r["weight_bytes"] for r in mb) + 3 * 224 * 224 + 1000


def test_more_cache_never_slower(acc):
    net = OFAMobileNetV3()
    rng = np.random.default_rng(0)
    dims = net.dims(net.sample(rng, 20))
    c = layer_costs(net, acc, dims)
    sb = boxes(dims)
    # nested caches: scale one SubNet's box down channel-wise
    full = sb[0]
    caches = np.stack([np.zeros_like(full)] + [np.minimum(full, np.maximum(1, (full * f).astype(int)) * (full > 0))
                                              for f in (0.25, 0.5, 1.0)])
    lat, off = latency_energy(c, acc, cached_bytes(net, acc, sb, caches))
    assert (np.diff(lat, axis=1) <= 1e-15).all() and (np.diff(off, axis=1) <= 0).all()
    # the SubNet whose weights are fully resident only moves its activations
    assert off[0, -1] == pytest.approx(c.act_offchip_bytes[0].sum())


@pytest.mark.parametrize("kw,msg", [
    ({"persistent_buffer": "8MiB"}, "exceeds onchip_sram"),
    ({"onchip_sram": 4976640}, "exceeds onchip_sram"),       # the ZCU104's 4.75 MiB cannot hold a 4.5 MiB PB
    ({"pe_rows": 64, "pe_cols": 64}, "dsp_slices"),
    ({"dram_efficiency": 1.5}, "dram_efficiency"),
    ({"persistent_buffer": "lots"}, "persistent_buffer"),
    ({"persistent_buffer": -4096}, "persistent_buffer: size must be >= 0"),   # was accepted as a -4096 B buffer
    ({"weight_bits": 3}, "weight_bits"),
])
def test_impossible_configs(kw, msg):
    with pytest.raises(ValueError, match=msg):
        Accelerator(**kw).validate()


def test_default_device_budget_is_the_xczu19eg():
    # XCZU19EG: 984 BRAM36 (36 Kib = 4608 B) + 128 URAM288 (288 Kib = 36,864 B); the PB is every URAM block
    a = Accelerator()
    a.validate()
    assert a.onchip_sram == 984 * 4608 + 128 * 36864 == 9_252_864
    assert a.persistent_buffer == 128 * 36864 == 4.5 * 2 ** 20
    assert a.pe_rows * a.pe_cols <= 1968 * 2
    # the ZCU104 class (XCZU7EV: 312 BRAM36 + 96 URAM288, 1728 DSP) with its 96 URAMs as PB still fits
    z = Accelerator(name="zcu104-class", dsp_slices=1728, onchip_sram=312 * 4608 + 96 * 36864,
                    persistent_buffer=96 * 36864)
    z.validate()
    assert z.persistent_buffer == 3456 * 1024
