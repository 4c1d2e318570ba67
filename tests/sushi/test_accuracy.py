"""Accuracy models: committed MobileNetV3 coefficients come from the fitting script; ResNet50 follows the
published OFA points.  Tests that need ../shared/data/ofa skip with a reason when it is absent."""
import json
from pathlib import Path

import numpy as np
import pytest

from chakra_tools.common import package_data
from sushi.accuracy import RESNET50_POINTS, MBv3Accuracy, ResNet50Accuracy, load_mbv3_coefficients, total_macs
from sushi.fit_accuracy import DEFAULT_DATA, fit
from sushi.supernet import OFAMobileNetV3, OFAResNet50

needs_data = pytest.mark.skipif(not DEFAULT_DATA.is_file(),
                                reason=f"OFA SubNet accuracy data not present at {DEFAULT_DATA}")


def test_committed_coefficients_report_heldout_error():
    c = load_mbv3_coefficients()
    assert len(c["weights"]) == len(c["feature_names"]) == 50
    h = c["heldout"]
    assert h["n"] == 200 and h["rmse_pp"] < 0.1 and h["r2"] > 0.95 and h["kendall_tau"] > 0.85
    assert c["split"]["test_fraction"] == 0.2


@needs_data
def test_fitting_script_reproduces_committed_coefficients():
    committed = json.loads(package_data("sushi", "data/ofa_mbv3_accuracy.json").read_text())
    fresh = json.loads(json.dumps(fit(DEFAULT_DATA)))
    assert fresh["source"]["data_sha256"] == committed["source"]["data_sha256"]
    np.testing.assert_allclose(fresh["weights"], committed["weights"], atol=1e-9)
    assert fresh["heldout"] == pytest.approx(committed["heldout"])
    assert fresh["resolution"]["scale"] == committed["resolution"]["scale"]


@needs_data
def test_model_fits_every_measured_subnet():
    d = json.loads(Path(DEFAULT_DATA).read_text())
    net = OFAMobileNetV3()
    b = net.batch([json.loads(k) for k in d])
    pred = MBv3Accuracy(load_mbv3_coefficients()).predict(b)
    err = pred - np.array(list(d.values()))
    assert np.abs(err).max() < 0.25 and np.sqrt(np.mean(err ** 2)) < 0.07


def test_kernel_and_resolution_extrapolation():
    m = MBv3Accuracy(load_mbv3_coefficients())
    net = OFAMobileNetV3()
    base = {"ks": [7] * 20, "e": [4] * 20, "d": [3] * 5, "image_size": 224}
    k5 = dict(base, ks=[5] * 20)
    k3 = dict(base, ks=[3] * 20)
    r160 = dict(base, image_size=160)
    a = m.predict(net.batch([base, k5, k3, r160]))
    assert a[0] == pytest.approx(m.base(net.batch([base]))[0])        # k7 @ 224 = the fitted model
    assert a[0] > a[1] > a[2]                                          # smaller kernel, lower accuracy
    # kernel rule: beta * ln(MACs(k3) / MACs(k7)) at 224 px
    mk = total_macs(net, net.batch([base, k3]))
    assert a[2] - a[0] == pytest.approx(m.beta * np.log(mk[1] / mk[0]))
    # resolution: scale x MobileNetV2's 224 -> 160 px drop (71.8 -> 68.8 %)
    assert a[3] - a[0] == pytest.approx(m.res_scale * -3.0)


def test_resnet50_passes_through_published_points():
    m = ResNet50Accuracy()
    lx = np.log([p[0] for p in RESNET50_POINTS])
    assert np.interp(lx, m.lx, m.acc) == pytest.approx([p[1] for p in RESNET50_POINTS])
    net = OFAResNet50()
    cfgs = [dict(c) for c in net.extremes()]
    cfgs.append({"d": [2, 1, 2, 2, 1], "e": [0.25] * 18, "w": [2] * 6, "image_size": 224})
    b = net.batch(cfgs)
    acc = m.predict(b)
    macs = total_macs(net, b)
    assert acc[1] == pytest.approx(79.8)                              # above 4.1 GMACs: held
    assert acc[0] < 75.0                                              # below 0.6 GMACs: first slope extended
    # ResNet-50-D (4.33 GMACs) sits at the top published point
    assert macs[2] > 4.1e9 and acc[2] == pytest.approx(79.8)
