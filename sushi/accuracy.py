"""SubNet top-1 accuracy models.

* **OFA MobileNetV3** (`MBv3Accuracy`): a linear model over OFA's architecture encoding -- for every elastic
  block "present" (blocks 3-4 of a stage) and "present with expand 4 / 6" (expand 3 is the reference) --
  fitted by `python -m sushi.fit_accuracy` on 1000 measured SubNets (kernel 7, 224 px; the data stay in
  ../shared/data/ofa, only the coefficients are committed in `data/ofa_mbv3_accuracy.json`).  Two choices
  are not in the data and are extrapolated (documented in docs/sushi-serve.md):

  - kernel: a smaller kernel costs what the data show for the same relative MAC reduction made by depth or
    expand (``beta * ln(MACs(ks) / MACs(ks=7))`` at 224 px, beta = fitted slope of top-1 over ln MACs);
  - resolution: the accuracy-vs-resolution curve of the published MobileNetV2 1.0 checkpoints (96-224 px),
    scaled by a factor calibrated so our model's Pareto frontier follows the published OFA-MBv3 specialized
    SubNets (once-for-all README) at low MACs.

* **OFA ResNet50** (`ResNet50Accuracy`): the 8 published OFA ResNet50D specialized SubNets (top-1 vs MACs,
  once-for-all README), interpolated piecewise-linearly in ln(MACs); below the smallest point the first
  segment's slope is extended, above the largest the accuracy is held (no extrapolated gain).
"""
from __future__ import annotations

import json
from functools import cache

import numpy as np

from chakra_tools.common import ToolError, package_data

from .supernet import OFAMobileNetV3, OFAResNet50, SuperNet, slot_macs

COEF_FILE = "data/ofa_mbv3_accuracy.json"

# once-for-all README, "ResNet50 Design Space": (MACs, top-1 %); the four smallest were fine-tuned 25 epochs.
RESNET50_POINTS = ((0.6e9, 75.0), (0.9e9, 76.3), (1.2e9, 77.1), (1.8e9, 78.3), (2.4e9, 79.0), (3.0e9, 79.3),
                   (3.7e9, 79.7), (4.1e9, 79.8))


def total_macs(net: SuperNet, batch: dict) -> np.ndarray:
    return slot_macs(net, net.dims(batch)).sum(axis=1)


def mbv3_features(batch: dict) -> np.ndarray:
    """[N, 50] 0/1 features: blocks 3-4 of each stage present; every block present with expand 4 / 6."""
    e, d = np.asarray(batch["e"]), np.asarray(batch["d"])
    cols = []
    for b in range(20):
        st, j = divmod(b, 4)
        on = j < d[:, st]
        if j >= 2:
            cols.append(on)
        cols.append(on & (e[:, b] == 4))
        cols.append(on & (e[:, b] == 6))
    return np.stack(cols, axis=1).astype(np.float64)


def mbv3_feature_names() -> list[str]:
    names = []
    for b in range(20):
        st, j = divmod(b, 4)
        if j >= 2:
            names.append(f"s{st + 1}.b{j}.present")
        names += [f"s{st + 1}.b{j}.e4", f"s{st + 1}.b{j}.e6"]
    return names


def resolution_delta(r: np.ndarray, table_px, table_delta, scale: float) -> np.ndarray:
    return scale * np.interp(np.asarray(r, dtype=np.float64), table_px, table_delta)


class MBv3Accuracy:
    def __init__(self, coef: dict):
        self.coef = coef
        self.intercept = float(coef["intercept"])
        self.w = np.array(coef["weights"], dtype=np.float64)
        self.beta = float(coef["kernel"]["beta_per_ln_macs"])
        res = coef["resolution"]
        self.table_px = np.array(res["table_px"], dtype=np.float64)
        self.table_delta = np.array(res["table_delta_pp"], dtype=np.float64)
        self.res_scale = float(res["scale"])
        self.net = OFAMobileNetV3()

    def base(self, batch: dict) -> np.ndarray:
        """Kernel 7, 224 px accuracy of each SubNet's depth/expand choice (the fitted part)."""
        return self.intercept + mbv3_features(batch) @ self.w

    def kernel_delta(self, batch: dict) -> np.ndarray:
        n = len(batch["image_size"])
        at224 = dict(batch, image_size=np.full(n, 224))
        k7 = dict(at224, ks=np.full((n, 20), 7))
        return self.beta * np.log(total_macs(self.net, at224) / total_macs(self.net, k7))

    def predict(self, batch: dict, macs: np.ndarray | None = None) -> np.ndarray:
        """Top-1 % of each SubNet (`macs`, the batch's total MACs, is not needed: this model uses those at
        224 px)."""
        return (self.base(batch) + self.kernel_delta(batch)
                + resolution_delta(batch["image_size"], self.table_px, self.table_delta, self.res_scale))


class ResNet50Accuracy:
    def __init__(self, points=RESNET50_POINTS):
        self.lx = np.log([p[0] for p in points])
        self.acc = np.array([p[1] for p in points])
        self.net = OFAResNet50()

    def predict(self, batch: dict, macs: np.ndarray | None = None) -> np.ndarray:
        """Top-1 % of each SubNet; `macs` = the batch's total MACs if already known."""
        macs = total_macs(self.net, batch) if macs is None else macs
        x = np.log(macs.astype(np.float64))
        y = np.interp(x, self.lx, self.acc)
        slope = (self.acc[1] - self.acc[0]) / (self.lx[1] - self.lx[0])
        return np.where(x < self.lx[0], self.acc[0] + slope * (x - self.lx[0]), y)


@cache
def load_mbv3_coefficients() -> dict:
    path = package_data("sushi", COEF_FILE)
    try:
        return json.loads(path.read_text())
    except (OSError, json.JSONDecodeError) as e:
        raise ToolError(f"{path}: cannot read the MobileNetV3 accuracy coefficients ({e}); "
                        "re-create them with python -m sushi.fit_accuracy") from None


def accuracy_model(net: SuperNet):
    if isinstance(net, OFAMobileNetV3):
        return MBv3Accuracy(load_mbv3_coefficients())
    if isinstance(net, OFAResNet50):
        return ResNet50Accuracy()
    raise ToolError(f"no accuracy model for {net.name}")
