"""Residual kriging of the step's compute time over the architecture descriptors.

The time model (an additive cost law in nodes, FLOPs and parameter bytes, blended with a bottom-up expectation)
is smooth in the model's size; measured steps are not: a width whose kernels the math library handles worse
(a blocking it does not fit, a layout it pads) is slower at every depth. When every training trace has
descriptors, `fit` computes the time model's log error at each of them, r_t = log(measured / predicted), and
fits a Gaussian-process mean to those residuals (regression kriging): an RBF kernel in the log descriptors
with one length scale per descriptor plus a ridge, all chosen by closed-form leave-one-out error over a small
grid, "no correction" included and kept unless some setting beats it. At a described model the correction
is exp(k(x, X) alpha): near a training width it carries that width's residual to another depth; far from every
training trace (extrapolation) it decays to 0 and the smooth law alone speaks.

The block stores the training traces' log descriptors (architecture hyper-parameters, as `range` does) and
the weights alpha; no trace's measured values.
"""

from __future__ import annotations

import itertools

import numpy as np

from chakra_tools.synth.scaling import numbers

LENGTHS = (0.1, 0.2, 0.35, 0.7, 1.4, 1e3)  # per descriptor, in log units (1e3: the residual does not vary with it)
RIDGES = (0.03, 0.1, 0.3, 1.0)              # noise / signal variance ratio
MIN_TRACES = 5
MAX_TRACES = 512   # the grid search inverts one T x T matrix per setting


def kernel(A: np.ndarray, B: np.ndarray, lengths: np.ndarray) -> np.ndarray:
    d = (A[:, None, :] - B[None, :, :]) / lengths
    return np.exp(-0.5 * np.einsum("ijk,ijk->ij", d, d))


def loo_predictions(X: np.ndarray, r: np.ndarray, lengths: np.ndarray, ridge: float) -> np.ndarray:
    """Leave-one-out GP-mean predictions of r at each training point, in closed form:
    r_t - [K^-1 r]_t / [K^-1]_tt with K = k(X, X) + ridge I."""
    Ki = np.linalg.inv(kernel(X, X, lengths) + ridge * np.eye(len(X)))
    return r - (Ki @ r) / np.diag(Ki)


def fit_correction(X: np.ndarray, r: np.ndarray) -> dict | None:
    """The correction block for log descriptors X (traces x D) and log residuals r, or None when no setting
    of the grid has a smaller leave-one-out squared error than no correction at all (or too few traces)."""
    X, r = np.asarray(X, dtype=float), np.asarray(r, dtype=float)
    T = len(r)
    if T < MIN_TRACES or T > MAX_TRACES or not np.all(np.isfinite(r)) or not np.all(np.isfinite(X)):
        return None
    best_err, best = float(np.mean(r ** 2)), None
    for lengths in itertools.product(LENGTHS, repeat=X.shape[1]):
        ls = np.array(lengths)
        for ridge in RIDGES:
            err = float(np.mean((r - loo_predictions(X, r, ls, ridge)) ** 2))
            if err < best_err * (1 - 1e-9):
                best_err, best = err, (ls, ridge)
    if best is None:
        return None
    ls, ridge = best
    alpha = np.linalg.solve(kernel(X, X, ls) + ridge * np.eye(T), r)
    return {"lengths": [float(v) for v in ls], "ridge": float(ridge),
            "points": [[round(float(v), 6) for v in row] for row in X],
            "weights": [float(f"{v:.8g}") for v in alpha],
            "loo_rms": [round(float(np.sqrt(np.mean(r ** 2))), 5), round(float(np.sqrt(best_err)), 5)]}


def predict_correction(block: dict | None, x_log: np.ndarray) -> float:
    """The log correction at log descriptors x_log (0 without a block)."""
    if not block:
        return 0.0
    k = kernel(np.asarray(x_log, dtype=float)[None, :], np.asarray(block["points"], dtype=float),
               np.asarray(block["lengths"], dtype=float))[0]
    return float(k @ np.asarray(block["weights"], dtype=float))


def check_correction(block: object, dims: int) -> bool:
    """Whether `block` is a well-formed correction block for `dims` descriptors."""
    if not isinstance(block, dict) or set(block) != {"lengths", "ridge", "points", "weights", "loo_rms"}:
        return False
    pts, w = block["points"], block["weights"]
    return (numbers(block["lengths"], lo=1e-3, hi=1e4, length=dims) and numbers([block["ridge"]], lo=1e-6, hi=1e3)
            and isinstance(pts, list) and 1 <= len(pts) <= MAX_TRACES
            and all(numbers(p, lo=-60, hi=60, length=dims) for p in pts)
            and numbers(w, lo=-1e6, hi=1e6, length=len(pts)) and numbers(block["loo_rms"], lo=0, hi=1e3, length=2))
