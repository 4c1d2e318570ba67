"""Fit the calibration constants of comet/perf.py on Megatron-LM Table 1 (all rows at once) and print the errors.

Run: python -m comet.calibrate. The fitted values are written into comet.perf.Calibration by hand (committed).
Table 1 (SC21, Selene DGX A100 80 GB, fp16, activation recomputation, micro-batch 1 assumed, 1F1B):
(model, tp, pp, gpus, batch, measured TFLOP/s per GPU).
"""

from __future__ import annotations

import numpy as np
from scipy.optimize import least_squares

from comet.model import load_cluster, load_model
from comet.perf import Calibration, evaluate

TABLE1 = [
    ("megatron-1.7b", 1, 1, 32, 512, 137), ("megatron-3.6b", 2, 1, 64, 512, 138),
    ("megatron-7.5b", 4, 1, 128, 512, 142), ("megatron-18.4b", 8, 1, 256, 1024, 135),
    ("megatron-39.1b", 8, 2, 512, 1536, 138), ("megatron-76.1b", 8, 4, 1024, 1792, 140),
    ("megatron-145.6b", 8, 8, 1536, 2304, 148), ("megatron-310.1b", 8, 16, 1920, 2160, 155),
    ("megatron-529.6b", 8, 35, 2520, 2520, 163), ("megatron-1t", 8, 64, 3072, 3072, 163),
]


def predict(calib: Calibration) -> list[tuple[str, float, float]]:
    cluster = load_cluster("a100-80gb")
    out = []
    for name, tp, pp, gpus, batch, measured in TABLE1:
        r = evaluate(load_model(name), cluster, gpus=gpus, tp=tp, pp=pp, batch=batch, micro=1, recompute=2,
                     calib=calib)
        out.append((name, float(r["tflops_per_gpu"]), measured))
    return out


def fit() -> Calibration:
    def resid(x):
        c = Calibration(gemm_eff_max=x[0], gemm_eff_half=x[1], comm_eff=x[2], dp_overlap=x[3],
                        elementwise_bytes=x[4], attention_eff=x[5])
        return [np.log(p / m) for _, p, m in predict(c)]

    sol = least_squares(resid, [0.7, 100.0, 0.8, 0.0, 20.0, 0.5],
                        bounds=([0.3, 0.0, 0.2, 0.0, 0.0, 0.05], [1.0, 5000.0, 1.0, 1.0, 400.0, 1.0]))
    return Calibration(*[float(round(v, 4)) for v in sol.x])


if __name__ == "__main__":
    c = fit()
    print(c)
    for name, p, m in predict(c):
        print(f"{name:18} predicted {p:6.1f}  measured {m:4d}  error {100 * (p / m - 1):+5.1f} %")
