"""Architecture laws: exact attribute atoms as functions of a model's architecture descriptors.

A what-if user describing a target model knows its hyper-parameters (e.g. `width=320,depth=3`); the owner of a
corpus knows them for every recorded model (`PREFIX.describe.json`, or `fit --describe PREFIX=width:320,depth:3`).
With them, a kind's attribute distribution is learned as a **mixture of atoms**: in a DNN training step the FLOPs,
tensor bytes and message sizes of the ops are polynomials in the layer dimensions (the gradient all-reduce of a
bias is 4·w bytes, of a weight 4·w², an addmm does 2·b·m·n (+ b·n for its bias) FLOPs, a tensor_size is a sum of
input and output tensor bytes), and how often each occurs is linear in the number of layers. So:

- an atom's **value** is a polynomial with few terms in the descriptors, `v(x) = sum_s c_s prod_i x_i^e_si`
  (exponents 0-2 per descriptor, total degree <= 3, at most MAX_TERMS terms, coefficients snapped to multiples of
  1/16); it must reproduce a value of the kind **exactly** (relative 1e-9) in at least k + 2 training traces;
- its **count** (nodes per rank carrying it) is `clip(a + b * x_i, 0, hi)` for one descriptor i (or a constant),
  with a, b multiples of 1/2, exact in **every** training trace (0 where the atom is absent). A candidate whose
  counts follow no such law is rejected: that is what tells a law from a coincidence of round numbers;
- what no law explains is the **rest**: its count is a linear law in the descriptors and its values a Fréchet
  quantile law in their logs (the same regression as scaling.py).

Laws are found greedily (RANSAC-like, but exhaustive over small seeds): one-term laws from every atom of every
trace, two-term laws (MAX_TERMS) from pairs of traces over the atoms still unexplained; the law explaining the
most (trace, atom) pairs not yet explained that has an exact count law is taken, its counts are peeled off,
repeat. The model stores only coefficients and exponents (no trace's values): evaluated at a training
trace's descriptors a law reproduces that trace's atoms, which is what a law is for; at another size it gives
that size's atoms. Kind counts (nodes per rank of each kind) get count laws too: `sample --describe` draws a kind
sequence that meets them exactly (see sample.budgeted chain).
"""

from __future__ import annotations

import itertools
import json
import math
import re
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from chakra_tools.common import ToolError, read_text
from chakra_tools.synth.kriging import check_correction
from chakra_tools.synth.scaling import check_law, fit_law, numbers, predict_law

MAX_TERMS = 2           # one- and two-term laws (three-term laws explained nothing more in cross-validation;
                        # _candidates solves for 1 or 2 terms)
MAX_DEGREE = 3          # total degree of a monomial
MAX_EXPONENT = 2        # per descriptor
DENOMINATOR = 16        # coefficients are snapped to multiples of 1/16
COUNT_STEP = 2          # count-law coefficients are multiples of 1/2
COUNT_SLOPE_MAX = 256
COUNT_SLACK = 1 / 3     # share of the traces where an atom may have more nodes than its count law (collisions)
REL_TOL = 1e-9
MAX_CANDIDATES = 400_000  # distinct candidate laws per (kind, attribute) and number of terms
MAX_COMBOS = 1_000_000    # seed combinations per (kind, attribute) and number of terms
CHUNK = 2_000_000         # numbers per vectorised block of candidate coefficients (memory: ~16 MB each)
_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,31}$")


# ------------------------------------------------------------------ descriptors: parsing and sidecars
def parse_descriptors(text: str, source: str = "--describe", sep: str = "=") -> dict[str, float]:
    """'width=320,depth=3' -> {'depth': 3.0, 'width': 320.0} (names sorted; values positive and finite)."""
    out: dict[str, float] = {}
    for part in (p.strip() for p in str(text).split(",")):
        if not part:
            continue
        name, s, value = part.partition(sep)
        if not s:
            raise ToolError(f"{source}: expected NAME{sep}VALUE pairs separated by commas, got {part!r}")
        if name.strip() in out:
            raise ToolError(f"{source}: {name.strip()} is given twice")
        out[name.strip()] = _value(value.strip(), f"{source}: {name.strip()}")
    return check_descriptors(out, source)


def _value(v: object, where: str) -> float:
    try:
        x = float(v)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        raise ToolError(f"{where} must be a number, got {v!r}") from None
    if isinstance(v, bool) or not math.isfinite(x) or not 0 < x <= 1e12:
        raise ToolError(f"{where} must be a positive finite number (<= 1e12), got {v!r}")
    return x


def check_descriptors(d: object, source: str) -> dict[str, float]:
    if not isinstance(d, dict) or not d:
        raise ToolError(f"{source}: descriptors must be a non-empty mapping of names to numbers")
    out = {}
    for k in sorted(d):
        if not isinstance(k, str) or not _NAME.match(k):
            raise ToolError(f"{source}: descriptor name {k!r} must be an identifier (letters, digits, _)")
        out[k] = _value(d[k], f"{source}: {k}")
    if len(out) > 4:
        raise ToolError(f"{source}: at most 4 descriptors, got {len(out)}")
    return out


def sidecar_path(prefix: str | Path) -> Path:
    return Path(f"{prefix}.describe.json")


def read_sidecar(prefix: str | Path) -> dict[str, float] | None:
    """Descriptors from `PREFIX.describe.json` ({"width": 320, "depth": 3}), or None when there is none."""
    path = sidecar_path(prefix)
    if not path.is_file():
        return None
    try:
        doc = json.loads(read_text(path))
    except ValueError as e:
        raise ToolError(f"{path}: not valid JSON ({e})") from None
    return check_descriptors(doc, str(path))


# ------------------------------------------------------------------ small exact arithmetic
def snap(c: np.ndarray, q: int = DENOMINATOR) -> np.ndarray:
    """c rounded to the nearest multiple of 1/q where it is one to 1e-9 (relative), else NaN."""
    r = np.round(c * q) / q
    ok = np.abs(r - c) <= 1e-9 * np.maximum(1.0, np.abs(c))
    return np.where(ok, r, np.nan)


Term = tuple[tuple[int, ...], tuple[int, ...]]  # (exponents e_i, geometric exponents s_i): prod x_i^e_i 2^(s_i x_i)


def small_integers(X: np.ndarray) -> list[bool]:
    """Descriptors that may carry a geometric factor 2^(+-x): small integers in the corpus (1..16: depths,
    stage counts), where a CNN's resolution halves and its channels double per stage (its flattened features
    are c * 2^(9 - depth) for a 32x32 input). Widths are not: 2^width is never a layer size."""
    return [bool(np.all((X[:, i] == np.round(X[:, i])) & (X[:, i] >= 1) & (X[:, i] <= 16)))
            for i in range(X.shape[1])]


def basis_terms(dims: int, geometric: Sequence[bool] = ()) -> list[Term]:
    """The law basis, simplest first: monomials (exponents 0..MAX_EXPONENT per descriptor, total degree <=
    MAX_DEGREE), then the same times 2^x_i or 2^-x_i for every descriptor i allowed a geometric factor."""
    mono = sorted((e for e in itertools.product(range(MAX_EXPONENT + 1), repeat=dims) if sum(e) <= MAX_DEGREE),
                  key=lambda e: (sum(e), max(e, default=0), e))
    zero = (0,) * dims
    out: list[Term] = [(e, zero) for e in mono]
    for i, ok in enumerate(geometric):
        if ok:
            for sign in (-1, 1):
                g = tuple(sign if d == i else 0 for d in range(dims))
                out += [(e, g) for e in mono]
    return out


def eval_terms(X: np.ndarray, basis: Sequence[Term]) -> np.ndarray:
    """(traces x basis) matrix of prod_i x_i^e_i 2^(s_i x_i)."""
    X = np.atleast_2d(np.asarray(X, dtype=float))
    with np.errstate(over="ignore"):
        return np.stack([np.prod(X ** np.asarray(e, dtype=float), axis=1) * np.exp2(X @ np.asarray(g, dtype=float))
                         for e, g in basis], axis=1)


def eval_value(law: dict, x: np.ndarray) -> float:
    """An atom's value at descriptors x (may be inf or negative far outside the corpus: the caller clips)."""
    basis = [(tuple(e), tuple(g)) for _, e, g in law["terms"]]
    coef = np.array([c for c, _, _ in law["terms"]], dtype=float)
    with np.errstate(over="ignore", invalid="ignore"):
        return float(eval_terms(np.asarray(x, dtype=float)[None, :], basis)[0] @ coef)


def eval_count(law: dict, x: np.ndarray) -> float:
    """clip(a + b . x, 0, hi): count laws are linear in the descriptors, never negative, optionally capped."""
    c = law["c"]
    v = c[0] + float(np.dot(c[1:], np.asarray(x, dtype=float)))
    v = max(v, 0.0)
    return min(v, law["max"]) if law.get("max") is not None else v


# ------------------------------------------------------------------ count laws
def _count_candidates(X: np.ndarray, n: np.ndarray) -> np.ndarray:
    """Candidate count laws as rows (a, b, descriptor, hi; descriptor -1 = a constant, hi NaN = none): the
    count of every trace that has the atom (constants), and for every descriptor the line through every pair of
    traces with different values of it, at least one with the atom (a trace without it may sit on the clip at
    0); a and b snapped to multiples of 1/COUNT_STEP. Unordered, may repeat."""
    T, D = X.shape
    pos = np.flatnonzero(n > 1e-9)
    rows = [np.column_stack([n[pos], np.zeros(pos.size), np.full(pos.size, -1.0), np.full(pos.size, np.nan)])]
    s, t = np.triu_indices(T, 1)
    pair = (n[s] > 1e-9) | (n[t] > 1e-9)
    s, t = s[pair], t[pair]
    for i in range(D):
        x = X[:, i]
        ok = x[s] != x[t]
        b = snap((n[t[ok]] - n[s[ok]]) / (x[t[ok]] - x[s[ok]]), COUNT_STEP)
        a = snap(n[s[ok]] - b * x[s[ok]], COUNT_STEP)
        if pos.size and np.ptp(x[pos]) == 0:  # one value of x among the traces with the atom: clipping sets b
            bs = np.array([v / COUNT_STEP for v in range(-4 * COUNT_STEP, 4 * COUNT_STEP + 1) if v], dtype=float)
            b = np.append(b, bs)
            a = np.append(a, snap(n[pos[0]] - bs * x[pos[0]], COUNT_STEP))
        good = np.isfinite(a) & np.isfinite(b) & (b != 0) & (np.abs(b) <= COUNT_SLOPE_MAX)
        a, b = a[good], b[good]
        for hi in (np.nan, float(n.max())):
            rows.append(np.column_stack([a, b, np.full(a.size, float(i)), np.full(a.size, hi)]))
    return np.concatenate(rows)


def _simplest_first(C: np.ndarray) -> np.ndarray:
    """Order of candidate count laws, simplest first: constants, then by |slope|, no cap before a cap,
    descriptor, |intercept|, intercept."""
    return np.lexsort((C[:, 0], np.abs(C[:, 0]), C[:, 2], ~np.isnan(C[:, 3]), np.abs(C[:, 1]), C[:, 2] >= 0))


def fit_count(X: np.ndarray, n: np.ndarray, slack: int = 0) -> dict | None:
    """An exact count law n_t = clip(a + b x_ti, 0, hi) for one descriptor i (or a constant), else None.

    a, b are multiples of 1/COUNT_STEP; hi is none or the largest count. With `slack` s, up to s traces may
    have more than the law says (another law's atom of the same value there: round widths collide, 4·128² =
    512·128), never less, and a trace without the atom must get 0. The law exact on most traces wins, then the
    simplest (a constant, then the smallest slope).
    """
    n = np.asarray(n, dtype=float)
    T, D = X.shape
    C = _count_candidates(X, n)
    if not len(C):
        return None
    a, b, i, hi = C[:, 0:1], C[:, 1:2], C[:, 2].astype(int), C[:, 3:4]
    xs = X.T[np.maximum(i, 0)]  # candidates x traces
    pred = np.where(i[:, None] < 0, a, np.maximum(a + b * xs, 0.0))
    pred = np.where(np.isnan(hi), pred, np.minimum(pred, hi))
    exact = np.abs(pred - n) < 1e-9
    ok = ~np.any(pred > n + 1e-9, axis=1) & ((~exact).sum(axis=1) <= slack) & np.any(pred > 0, axis=1)
    if not ok.any():
        return None
    C, score = C[ok], exact[ok].sum(axis=1)
    C = C[score == score.max()]
    a0, b0, i0, h0 = C[_simplest_first(C)[0]]  # the simplest of the most exact
    return {"c": [float(a0)] + [float(b0) if d == int(i0) else 0.0 for d in range(D)],
            "max": None if np.isnan(h0) else float(h0)}


def fit_count_ls(X: np.ndarray, n: np.ndarray) -> dict:
    """Least-squares linear count law (the rest's count, kinds whose counts follow no exact law)."""
    A = np.c_[np.ones(len(X)), X]
    c, *_ = np.linalg.lstsq(A, np.asarray(n, dtype=float), rcond=None)
    return {"c": [round(float(v), 5) for v in c], "max": None}


# ------------------------------------------------------------------ atom laws
class _Atoms:
    """The atoms of one (kind, attribute) across traces: sorted values and per-rank counts per trace."""

    def __init__(self, per_trace: Sequence[dict[float, float]]):
        self.values = [np.array(sorted(d), dtype=float) for d in per_trace]
        self.counts = [np.array([d[v] for v in sorted(d)], dtype=float) for d in per_trace]
        self.offset = np.cumsum([0] + [v.size for v in self.values])
        self.explained = np.zeros(int(self.offset[-1]), dtype=bool)

    def match(self, P: np.ndarray) -> np.ndarray:
        """(N x T) law values -> (N x T) global atom index of the exactly equal value, or -1."""
        out = np.full(P.shape, -1, dtype=np.int64)
        for j, vals in enumerate(self.values):
            if not vals.size:
                continue
            p = P[:, j]
            i = np.clip(np.searchsorted(vals, p), 0, vals.size - 1)
            for cand in (i, np.maximum(i - 1, 0)):
                ok = np.abs(vals[cand] - p) <= REL_TOL * np.maximum(np.abs(p), 1.0)
                out[:, j] = np.where((out[:, j] < 0) & ok, cand + self.offset[j], out[:, j])
        return out


def _candidates(X: np.ndarray, atoms: _Atoms, basis: list[Term], k: int) -> tuple[np.ndarray, ...]:
    """All k-term laws (k = 1 or 2) through one unexplained atom in each of k traces, coefficients snapped and
    none 0, deduplicated: their basis subsets (N x k), coefficients (N x k) and values at the traces (N x T).

    Closed forms (v / m for one term, Cramer's rule for two), vectorised over seed tuples, atom combinations
    and basis subsets, in chunks of CHUNK numbers."""
    T = len(X)
    M = eval_terms(X, basis)  # T x B
    seeds = [atoms.values[j][~atoms.explained[atoms.offset[j]:atoms.offset[j + 1]]] for j in range(T)]
    usable = [j for j in range(T) if seeds[j].size]
    if len(usable) < k:
        return np.zeros((0, k), dtype=np.int64), np.zeros((0, k)), np.zeros((0, T))
    tuples = np.array(list(itertools.combinations(usable, k)), dtype=np.int64)  # nJ x k
    m = max(seeds[j].size for j in usable)
    if m ** k > MAX_COMBOS:
        return np.zeros((0, k), dtype=np.int64), np.zeros((0, k)), np.zeros((0, T))
    if len(tuples) * m ** k > MAX_COMBOS:  # a large corpus: an evenly spread subset of the seed tuples
        tuples = tuples[np.linspace(0, len(tuples) - 1, MAX_COMBOS // m ** k).astype(np.int64)]
    pad = np.full((T, m), np.nan)
    for j in usable:
        pad[j, :seeds[j].size] = seeds[j]
    # every combination of one seed atom per trace of a tuple: nJ x G x k values (G = m^k)
    grid = np.stack(np.meshgrid(*[np.arange(m)] * k, indexing="ij"), axis=-1).reshape(-1, k)
    V = pad[tuples[:, None, :], grid[None, :, :]]
    subsets = np.array(list(itertools.combinations(range(len(basis)), k)), dtype=np.int64)  # P x k
    MT = M[tuples]  # nJ x k x B
    found = []
    step = max(1, CHUNK // max(V.shape[0] * V.shape[1] * k, 1))
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        for p0 in range(0, len(subsets), step):
            S = subsets[p0:p0 + step]
            if k == 1:
                a = MT[:, 0, S[:, 0]]  # nJ x p
                ok = a != 0
                coef = (V[:, :, 0, None] / a[:, None, :])[..., None]  # nJ x G x p x 1
            else:
                a, b = MT[:, 0, S[:, 0]], MT[:, 0, S[:, 1]]
                c, d = MT[:, 1, S[:, 0]], MT[:, 1, S[:, 1]]
                det = a * d - b * c
                ok = np.abs(det) > 1e-9 * np.maximum(np.abs(a), np.abs(b)) * np.maximum(np.abs(c), np.abs(d))
                v1, v2 = V[:, :, 0, None], V[:, :, 1, None]
                coef = np.stack([(d[:, None] * v1 - b[:, None] * v2) / det[:, None],
                                 (a[:, None] * v2 - c[:, None] * v1) / det[:, None]], axis=-1)
            coef = snap(coef)
            good = ok[:, None, :] & np.all(np.isfinite(coef) & (coef != 0), axis=-1)
            jj, gg, pp = np.nonzero(good)
            if jj.size:
                found.append(np.column_stack([p0 + pp, coef[jj, gg, pp]]))
            if sum(len(f) for f in found) > MAX_CANDIDATES:
                break
    if not found:
        return np.zeros((0, k), dtype=np.int64), np.zeros((0, k)), np.zeros((0, T))
    rows = np.concatenate(found)
    order = np.lexsort(rows.T[::-1])
    rows = rows[order]
    rows = rows[np.r_[True, np.any(rows[1:] != rows[:-1], axis=1)]]  # deduplicated
    sid, C = rows[:, 0].astype(np.int64), rows[:, 1:]
    P = np.einsum("tnk,nk->nt", M[:, subsets[sid]], C)
    return subsets[sid], C, P


def find_atom_laws(X: np.ndarray, per_trace: Sequence[dict[float, float]]) -> tuple[list[dict], list[dict]]:
    """Greedy exact atom laws of one (kind, attribute). Returns (laws, rest per trace {value: count})."""
    X = np.asarray(X, dtype=float)
    T, D = X.shape
    atoms = _Atoms(per_trace)
    basis = basis_terms(D, small_integers(X))
    flat_counts = np.concatenate(atoms.counts) if atoms.offset[-1] else np.zeros(0)
    remaining = flat_counts.copy()  # per global atom: count not yet attributed to a law
    laws: list[dict] = []
    # two passes: laws that hold across at least half of the traces first (of any number of terms), then the
    # ones of fewer traces (an atom only deep models have); each law through seeds still unexplained
    for floor in (max(3, math.ceil(T / 2)), 3):
        for k in range(1, MAX_TERMS + 1):
            if atoms.explained.all():
                break
            need = max(k + 2, floor)
            subsets, coefs, P = _candidates(X, atoms, basis, k)
            if not len(P):
                continue
            idx = atoms.match(P)  # N x T
            keep = (idx >= 0).sum(axis=1) >= need
            subsets, coefs, idx = subsets[keep], coefs[keep], idx[keep]
            present = idx >= 0
            used = np.zeros(len(idx), dtype=bool)
            deferred = np.zeros(len(idx), dtype=bool)
            while len(idx):
                new = np.where(used | deferred, -1, (present & ~atoms.explained[np.maximum(idx, 0)]).sum(axis=1))
                best = int(np.argmax(new))
                if new[best] < need:
                    break
                # observed counts left at the law's values; 0 where the value is absent
                rows = idx[best]
                n = np.where(rows >= 0, remaining[np.maximum(rows, 0)], 0.0)
                law_n = fit_count(X, n, slack=max(1, int(T * COUNT_SLACK)))
                if law_n is None:  # retried once another law has peeled its share off a shared value
                    deferred[best] = True
                    continue
                used[best] = True
                S, c = subsets[best].tolist(), coefs[best].tolist()
                laws.append({"terms": [[float(ci), list(basis[s][0]), list(basis[s][1])] for s, ci in zip(S, c)],
                             "count": law_n})
                pred = np.array([eval_count(law_n, x) for x in X])
                hit = rows >= 0
                remaining[rows[hit]] -= pred[hit]
                atoms.explained[rows[hit]] = True
                # a deferred candidate's counts changed only if it shares one of these atoms: retry those
                deferred &= ~np.isin(idx, rows[hit]).any(axis=1)
    rest = []
    for j in range(T):
        sl = slice(atoms.offset[j], atoms.offset[j + 1])
        left = np.maximum(remaining[sl], 0.0)
        rest.append({float(v): float(c) for v, c in zip(atoms.values[j], left) if c > 1e-9})
    return laws, rest


# ------------------------------------------------------------------ the model block: fit, check, predict
def _log(X: np.ndarray) -> np.ndarray:
    return np.log(np.maximum(np.asarray(X, dtype=float), 1e-12))


def fit_architecture(descs: Sequence[dict[str, float]], kind_counts: Sequence[dict[str, float]],
                     atoms: Sequence[dict[str, dict[str, dict[float, float]]]], ranks: Sequence[int]) -> dict:
    """The `architecture` block of a model from per-trace descriptors, per-rank kind counts and per-rank atoms
    (atoms[t][kind][attribute] = {value: nodes per rank})."""
    from chakra_tools.synth.model import quantile_table

    names = sorted(descs[0])
    X = np.array([[d[n] for n in names] for d in descs], dtype=float)
    L = _log(X)
    center = L.mean(axis=0)
    kinds: dict[str, dict] = {}
    for k in sorted({k for kc in kind_counts for k in kc}):
        n = np.array([kc.get(k, 0.0) for kc in kind_counts], dtype=float)
        entry: dict = {"count": fit_count(X, n) or fit_count_ls(X, n)}
        for attr in sorted({a for t in atoms for a in t.get(k, {})}):
            per = [t.get(k, {}).get(attr, {}) for t in atoms]
            laws, rest = find_atom_laws(X, per)
            block: dict = {"atoms": [{"terms": [[_num(c), e, g] for c, e, g in law["terms"]],
                                      "count": _count_json(law["count"])} for law in laws]}
            rn = np.array([sum(r.values()) for r in rest], dtype=float)
            if rn.max() > 1e-9:
                rows = [(j, np.repeat(list(r), np.maximum(np.rint(np.array(list(r.values())) * ranks[j]), 1)
                                      .astype(int))) for j, r in enumerate(rest) if r]
                law = fit_law([quantile_table(v) for _, v in rows], L[[j for j, _ in rows]],
                              [len(v) for _, v in rows], center)
                block["rest"] = {"count": _count_json(fit_count(X, rn) or fit_count_ls(X, rn)), "law": law}
            entry.setdefault("attrs", {})[attr] = block
        kinds[k] = entry
    return {"descriptors": names, "center": [round(float(c), 5) for c in center],
            "range": [[float(f"{v:.6g}") for v in (X[:, i].min(), X[:, i].max())] for i in range(len(names))],
            "traces": len(descs), "kinds": kinds}


def _num(v: float) -> float | int:
    return int(v) if float(v).is_integer() else float(v)


def _count_json(law: dict) -> dict:
    return {"c": [_num(round(float(v), 5)) for v in law["c"]], "max": None if law.get("max") is None
            else _num(float(law["max"]))}


MAX_VALUE = 1e15  # an attribute value drawn far outside the corpus is clipped here (int64, and below 2^53)


def check_architecture(block: object, kinds: Sequence[str]) -> str | None:
    """None if `block` is a well-formed `architecture` block, else the key that is not."""
    from chakra_tools.synth.blocking import check_channel_law

    if not isinstance(block, dict):
        return "architecture"
    names = block.get("descriptors")
    if not (isinstance(names, list) and 1 <= len(names) <= 4 and all(isinstance(n, str) and _NAME.match(n)
                                                                      for n in names) and names == sorted(set(names))):
        return "architecture.descriptors"  # sorted, as fit writes them: the laws' exponents follow that order
    D = len(names)

    def nums(v: object, length: int | None = None, hi: float = 1e30) -> bool:
        return numbers(v, lo=-hi, hi=hi, length=length)

    if not nums(block.get("center"), D, 1e3):
        return "architecture.center"
    rng = block.get("range")
    if not (isinstance(rng, list) and len(rng) == D and all(
            numbers(r, lo=0, hi=MAX_VALUE, length=2, strict=True) and r[0] <= r[1] for r in rng)):
        return "architecture.range"  # [lowest, highest] of each descriptor over the fitted traces

    def count_ok(c: object) -> bool:  # "max": the largest count a law gives (a count, so not negative)
        return (isinstance(c, dict) and set(c) == {"c", "max"} and nums(c["c"], D + 1, 1e9)
                and (c["max"] is None or numbers([c["max"]], lo=0, hi=1e9)))

    if "time_correction" in block and not check_correction(block["time_correction"], D):
        return "architecture.time_correction"
    ks = block.get("kinds")
    if not isinstance(ks, dict) or set(ks) != set(kinds):  # fit writes a count law for every kind
        return "architecture.kinds"
    for k, entry in ks.items():
        where = f"architecture.kinds['{k}']"
        if not isinstance(entry, dict) or not count_ok(entry.get("count")):
            return f"{where}.count"
        attrs = entry.get("attrs", {})
        if not isinstance(attrs, dict) or not set(attrs) <= {"num_ops", "tensor_size", "comm_size"}:
            return f"{where}.attrs"
        for a, b in attrs.items():
            if not isinstance(b, dict) or not isinstance(b.get("atoms"), list):
                return f"{where}.attrs.{a}"
            for i, law in enumerate(b["atoms"]):
                terms = law.get("terms") if isinstance(law, dict) else None
                ok = isinstance(terms, list) and 1 <= len(terms) <= MAX_TERMS and all(
                    isinstance(t, list) and len(t) == 3 and nums([t[0]], 1, 1e18) and nums(t[1], D, MAX_EXPONENT)
                    and all(isinstance(e, int) and e >= 0 for e in t[1]) and nums(t[2], D, 1)
                    and all(isinstance(g, int) for g in t[2]) for t in terms)
                if not ok or not count_ok(law.get("count")) or (
                        "channels" in law and not check_channel_law(law["channels"], D)):
                    return f"{where}.attrs.{a}.atoms[{i}]"
            if "rest" in b:
                r = b["rest"]
                if not (isinstance(r, dict) and count_ok(r.get("count")) and check_law(r.get("law"), D)):
                    return f"{where}.attrs.{a}.rest"
    return None


def target_vector(block: dict, desc: dict[str, float], source: str = "--describe") -> np.ndarray:
    """The descriptor vector of `desc` in the model's order; a one-line error naming missing/unknown names."""
    names = block["descriptors"]
    missing, extra = sorted(set(names) - set(desc)), sorted(set(desc) - set(names))
    if missing or extra:
        parts = ([f"missing {', '.join(missing)}"] if missing else []) + ([f"unknown {', '.join(extra)}"] if extra
                                                                         else [])
        raise ToolError(f"{source}: the model's descriptors are {', '.join(names)} ({'; '.join(parts)})")
    return np.array([desc[n] for n in names], dtype=float)


def predict_architecture(block: dict, x: np.ndarray) -> dict:
    """At descriptors x: nodes per rank of every kind, and per kind and attribute its atoms and rest.

    Returns {"kind_counts": {kind: int}, "attrs": {kind: {attr: {"values", "counts", "rest_count",
    "rest_table"}}}}; counts are expected nodes per rank (floats), values clipped into [0, MAX_VALUE]."""
    lx = _log(x) - np.asarray(block["center"], dtype=float)
    kind_counts, attrs = {}, {}
    for k, entry in block["kinds"].items():
        kind_counts[k] = int(round(eval_count(entry["count"], x)))
        for a, b in entry.get("attrs", {}).items():
            vals = np.array([eval_value(law, x) for law in b["atoms"]], dtype=float)
            vals = np.clip(np.nan_to_num(vals, nan=0.0, posinf=MAX_VALUE, neginf=0.0), 0.0, MAX_VALUE)
            counts = np.array([eval_count(law["count"], x) for law in b["atoms"]], dtype=float)
            rest = b.get("rest")
            rc = eval_count(rest["count"], x) if rest else 0.0
            table = [float(min(v, MAX_VALUE)) for v in predict_law(rest["law"], lx)] if rest and rc > 0 else []
            attrs.setdefault(k, {})[a] = {"values": np.rint(vals), "counts": counts,
                                          "rest_count": rc if table else 0.0, "rest_table": table}
    return {"kind_counts": kind_counts, "attrs": attrs}
