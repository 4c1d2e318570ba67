"""Size conditioning: how a model family's distributions change with the model's size.

A trace is summarised by three size descriptors read from the trace itself (`descriptors`), per rank and step:
- `param_bytes`: bytes of collectives; in data-parallel training every gradient is all-reduced once, so this is
  the model's parameter bytes;
- `flops`: the sum of `num_ops` (the FLOPs the converter attributes to the ops it understands);
- `nodes`: nodes per rank (grows with depth).

Two kinds of law are fitted across the corpus (`fit` needs >= MIN_TRACES traces with collectives):

1. Every distribution (a kind's durations, FLOPs, tensor bytes, message sizes) as a function of size: the
   per-trace **quantile function** is regressed on the centred log-descriptors, one ridge least-squares line per
   quantile level p, in log space:

       log(1 + Q_t(p)) = a(p) + b(p) . (log x_t - c)

   This is Fréchet regression in the 2-Wasserstein space of distributions (Petersen & Müller, Ann. Stat. 2019):
   the quantile function of the Wasserstein barycentre is the mean of the quantile functions, so a(p) is the
   log-space barycentre of the corpus and b(p) its power-law exponents. A prediction is made monotone by sorting
   (rearrangement: Chernozhukov, Fernández-Val & Galichon, Econometrica 2010). Flat stretches of the tables
   (atoms, e.g. one bias size per layer) fit to equal lines and so stay atoms.

2. The compute time of a step (critical path, comm nodes counted 0) as an additive cost model,
   T = c0 + c1 * nodes + c2 * flops + c3 * param_bytes with c >= 0 (non-negative least squares on relative
   errors): a fixed cost per step, a framework overhead per op, a FLOP rate and a per-byte cost of the
   parameter-sized work (gradient copies, optimizer update). Unlike a power law it extrapolates the way the
   machine does: per-op overhead dominates small models, FLOPs large ones.

The model stores only the coefficients, the descriptors' centre and range: no trace's table.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

DESCRIPTORS = ("param_bytes", "flops", "nodes")
COST_TERMS = ("step", "nodes", "flops", "param_bytes")  # T = sum coef * term (step = 1)
MIN_TRACES = 4     # fewer traces: no size conditioning
RIDGE = 0.05       # ridge penalty on the quantile-law slopes, relative to the descriptors' variance
MIN_LOG_RANGE = 0.1  # a descriptor spanning less than this in log (10 %) over the corpus gets no slope


def descriptors(rank_sizes: Sequence[dict]) -> dict[str, float]:
    """Size descriptors of one trace from its per-rank summaries ({"nodes", "comm_bytes", "flops"})."""
    r = max(len(rank_sizes), 1)
    return {"param_bytes": sum(x["comm_bytes"] for x in rank_sizes) / r,
            "flops": sum(x["flops"] for x in rank_sizes) / r,
            "nodes": sum(x["nodes"] for x in rank_sizes) / r}


def trace_descriptors(prefix) -> dict[str, int]:
    """The size descriptors of the trace at `prefix` (what `sample --param-bytes/--flops/--nodes` targets): the
    sums fit.rank_size takes, read straight off the nodes (its feature pass and compute span cost 10x the load)."""
    from chakra_tools.graph import Trace

    t = Trace.load(prefix)
    d = descriptors([rank_totals(g) for _, g in sorted(t.ranks.items()) if g.nodes])
    return {k: int(round(v)) for k, v in d.items()}


def rank_totals(g) -> dict[str, float]:
    """One rank's nodes, bytes of collectives and FLOPs (Σ num_ops), as fit.rank_size counts them."""
    from chakra_tools.et import NodeType

    def number(v: object) -> float:
        return 0.0 if v is None or isinstance(v, (list, str)) else float(v)

    comm = flops = 0.0
    for n in g.nodes:
        a = g.attrs[n.id]
        if n.type == NodeType.COMM_COLL_NODE:
            comm += number(a.get("comm_size"))
        flops += number(a.get("num_ops"))
    return {"nodes": len(g.nodes), "comm_bytes": comm, "flops": flops}


def log_descriptors(values: Sequence[dict[str, float]], names: Sequence[str] = DESCRIPTORS) -> np.ndarray:
    """log descriptors, one row per trace (values below 1 count as 1)."""
    arr = np.array([[max(float(v[n]), 1.0) for n in names] for v in values], dtype=float)
    return np.log(arr.reshape(len(values), len(names)))


def fit_law(tables: Sequence[Sequence[float]], X: np.ndarray, weights: Sequence[float], center: np.ndarray) -> dict:
    """Regress quantile tables (one per trace, equal length) on log-descriptors X (rows = traces), log1p space.

    Returns {"a": [...], "b": [[...] per descriptor]}; with fewer than MIN_TRACES traces the slopes are 0
    (the law is the weighted log-space barycentre).
    """
    Y = np.log1p(np.maximum(np.asarray(tables, dtype=float), 0.0))
    w = np.asarray(weights, dtype=float)
    w = w / w.sum()
    d = X.shape[1]
    Xc = X - center
    # a descriptor that barely changes over the corpus (the node count of one pipeline at several widths: 430-435)
    # has no slope to learn; the ridge, relative to its tiny variance, would let noise give it exponents of 100
    live = np.ptp(X, axis=0) >= MIN_LOG_RANGE if len(X) else np.zeros(d, dtype=bool)
    if len(Y) >= MIN_TRACES and live.any():
        xm, ym = w @ Xc, w @ Y
        Z, R = Xc[:, live] - xm[live], Y - ym
        A = Z.T @ (Z * w[:, None])
        B = np.zeros((d, Y.shape[1]))
        B[live] = np.linalg.solve(A + RIDGE * np.diag(np.maximum(np.diag(A), 1e-9)), Z.T @ (R * w[:, None]))
        a = ym - xm @ B
    else:
        a, B = w @ Y, np.zeros((d, Y.shape[1]))
    return {"a": [round(float(v), 5) for v in a], "b": [[round(float(v), 5) for v in row] for row in B]}


def predict_law(law: dict, x: np.ndarray) -> np.ndarray:
    """Quantile table at centred log-descriptors x: exp(a + b.x) - 1, sorted (no crossing), >= 0."""
    a = np.asarray(law["a"], dtype=float)
    b = np.asarray(law["b"], dtype=float).reshape(len(x), a.size)
    y = a + x @ b
    return np.sort(np.maximum(np.expm1(np.minimum(y, 700.0)), 0.0))


def fit_cost(desc: Sequence[dict[str, float]], compute_us: Sequence[float]) -> list[float]:
    """Non-negative coefficients of T = c . (1, nodes, flops, param_bytes), least squares on relative errors."""
    from scipy.optimize import nnls

    A = np.array([[1.0, d["nodes"], d["flops"], d["param_bytes"]] for d in desc], dtype=float)
    y = np.asarray(compute_us, dtype=float)
    w = 1.0 / np.maximum(y, 1e-9)
    scale = np.maximum(A.max(axis=0), 1e-30)  # columns to O(1) so that NNLS is well conditioned
    c, _ = nnls(A / scale * w[:, None], y * w)
    return [float(f"{v:.6g}") for v in c / scale]


def predict_cost(coef: Sequence[float], x: dict[str, float]) -> float:
    return float(coef[0] + coef[1] * x["nodes"] + coef[2] * x["flops"] + coef[3] * x["param_bytes"])


def numbers(v: object, *, lo: float, hi: float, length: int | None = None, strict: bool = False) -> bool:
    """A list (of `length` items, if given) of finite numbers (no bools) in [lo, hi], or in (lo, hi) if `strict`:
    how every numeric field of a model file is checked."""
    return isinstance(v, list) and (length is None or len(v) == length) and all(
        isinstance(x, (int, float)) and not isinstance(x, bool) and math.isfinite(x)
        and (lo < x < hi if strict else lo <= x <= hi) for x in v)


def _finite(v: object, hi: float = 1e4) -> bool:
    """Finite numbers of magnitude below `hi` (the coefficients of a law)."""
    return numbers(v, lo=-hi, hi=hi, strict=True)


def check_law(law: object, dims: int) -> bool:
    """A law dict: equal-length finite intercepts and `dims` rows of slopes."""
    if not isinstance(law, dict) or set(law) != {"a", "b"}:
        return False
    a, b = law["a"], law["b"]
    if not _finite(a) or not a or not isinstance(b, list) or len(b) != dims:
        return False
    return all(_finite(row) and len(row) == len(a) for row in b)


def check_scaling(sc: object, kinds: Sequence[str] | None = None) -> str | None:
    """None if `sc` is a well-formed `scaling` block (whose kind laws are all of `kinds`, when given), else the
    key that is not."""
    if not isinstance(sc, dict):
        return "scaling"
    if sc.get("descriptors") != list(DESCRIPTORS):
        return "scaling.descriptors"
    d = len(DESCRIPTORS)
    if not (_finite(sc.get("center"), 1e3) and len(sc["center"]) == d):
        return "scaling.center"
    rng = sc.get("range")
    if not (isinstance(rng, list) and len(rng) == d and all(_finite(r, 1e30) and len(r) == 2 for r in rng)):
        return "scaling.range"
    cost = sc.get("compute_cost")
    if not (_finite(cost, 1e9) and len(cost) == len(COST_TERMS) and all(c >= 0 for c in cost)):
        return "scaling.compute_cost"
    for key in ("flops_law", "nodes_law"):
        if not check_law(sc.get(key), 1):
            return f"scaling.{key}"
    laws = sc.get("kind_laws")
    if not isinstance(laws, dict):
        return "scaling.kind_laws"
    for k, kl in laws.items():
        if not isinstance(kl, dict):
            return f"scaling.kind_laws['{k}']"
        for name, law in kl.items():
            if not check_law(law, d):
                return f"scaling.kind_laws['{k}'].{name}"
    if kinds is not None and not set(laws) <= set(kinds):
        return "scaling.kind_laws (a kind not in 'kinds')"
    return None
