"""Residual kriging of the step's compute time over the architecture descriptors.

The time model at a described model (the architecture's bottom-up expectation: kind counts x per-kind mean
durations, FLOP-doing nodes through a linear work model) is smooth in the model's size; measured steps are
not: a width whose kernels the math library handles worse (a blocking it does not fit, a layout it pads) is
slower at every depth. When every training trace has
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
MAX_TRACES = 256   # one T x T eigendecomposition per length setting (6^D of them)


def kernel(A: np.ndarray, B: np.ndarray, lengths: np.ndarray) -> np.ndarray:
    d = (A[:, None, :] - B[None, :, :]) / lengths
    return np.exp(-0.5 * np.einsum("ijk,ijk->ij", d, d))


def _squared_gaps(X: np.ndarray) -> np.ndarray:
    """D x T x T squared differences per descriptor (kernels at any length scales are built from them)."""
    return np.stack([np.subtract.outer(X[:, i], X[:, i]) ** 2 for i in range(X.shape[1])])


def _eig(sq: np.ndarray, lengths: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    # one eigendecomposition serves every ridge: (K + ridge I)^-1 = U diag(1 / (w + ridge)) U^T
    return np.linalg.eigh(np.exp(-0.5 * np.tensordot(1 / np.asarray(lengths) ** 2, sq, axes=1)))


def _loo_residuals(w: np.ndarray, U: np.ndarray, r: np.ndarray, ridge: float) -> np.ndarray:
    """r_t minus its leave-one-out GP-mean prediction, in closed form: [K^-1 r]_t / [K^-1]_tt."""
    inv = 1 / (w + ridge)
    return (U @ (inv * (U.T @ r))) / np.einsum("ij,j,ij->i", U, inv, U)


def loo_predictions(X: np.ndarray, r: np.ndarray, lengths: np.ndarray, ridge: float) -> np.ndarray:
    """Leave-one-out GP-mean predictions of r at each training point (K = k(X, X) + ridge I)."""
    w, U = _eig(_squared_gaps(np.asarray(X, dtype=float)), lengths)
    return r - _loo_residuals(w, U, np.asarray(r, dtype=float), ridge)


def _length_settings(dims: int, score) -> list[tuple[float, ...]]:
    """The length-scale settings to try: the full grid up to 2 descriptors (36 settings); beyond, coordinate
    search (each descriptor's best length with the others fixed, from all-infinite, three rounds)."""
    if dims <= 2:
        return list(itertools.product(LENGTHS, repeat=dims))
    cur, seen = [LENGTHS[-1]] * dims, []
    for _ in range(3):
        for i in range(dims):
            cands = [tuple(cur[:i] + [v] + cur[i + 1:]) for v in LENGTHS]
            seen += cands
            cur = list(min(cands, key=score))
    return seen


def fit_correction(X: np.ndarray, r: np.ndarray) -> dict | None:
    """The correction block for log descriptors X (traces x D) and log residuals r, or None when no setting
    of the grid has a smaller leave-one-out squared error than no correction at all (or too few traces)."""
    X, r = np.asarray(X, dtype=float), np.asarray(r, dtype=float)
    T = len(r)
    if T < MIN_TRACES or T > MAX_TRACES or not np.all(np.isfinite(r)) or not np.all(np.isfinite(X)):
        return None
    sq = _squared_gaps(X)
    errors: dict[tuple, tuple[float, float]] = {}  # length setting -> (best LOO error, its ridge)

    def score(lengths: tuple) -> float:
        if lengths not in errors:
            w, U = _eig(sq, np.array(lengths))
            errors[lengths] = min((float(np.mean(_loo_residuals(w, U, r, ridge) ** 2)), ridge) for ridge in RIDGES)
        return errors[lengths][0]

    best_err, best = float(np.mean(r ** 2)), None
    for lengths in _length_settings(X.shape[1], score):
        err = score(lengths)
        if err < best_err * (1 - 1e-9):
            best_err, best = err, (np.array(lengths), errors[lengths][1])
    if best is None:
        return None
    ls, ridge = best
    w, U = _eig(sq, ls)
    alpha = U @ ((U.T @ r) / (w + ridge))  # (K + ridge I)^-1 r from the same eigendecomposition the LOO used
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
