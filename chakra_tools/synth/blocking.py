"""Channel blocking: a convolution's time follows its FLOPs with the channels rounded up to the kernel library's block.

CPU kernel libraries (oneDNN on AVX-512: blocks of 16 fp32 channels) run a conv on blocked layouts, so a layer with
20 output channels costs what 32 would; the 3-channel image (input channels below half a block) is read unblocked.
On the training CNNs this rule halves the backward convs' time error (examples/synth/conv_padding.py). The time of a
conv node is then `work_blocked` (the work model refitted on blocked FLOPs) at FLOPs x blocked_factor.

A described model has no shapes, so every num_ops atom of a conv kind also carries laws for its input and output
channels (one-term laws in the descriptors, found like the value laws of arch.py): at a new width the laws give the
channels, the rule gives the factor.
"""

from __future__ import annotations

import ast
from collections.abc import Sequence

import numpy as np

from chakra_tools.synth.arch import (
    MAX_EXPONENT,
    REL_TOL,
    basis_terms,
    eval_terms,
    eval_value,
    small_integers,
    snap,
)

DEFAULT_BLOCK = 16
MIN_TRACES = 3  # channel laws must hold exactly in at least this many training traces


def channels(name: str, shapes: str) -> tuple[int, int] | None:
    """(input channels, output channels) of a conv node from its recorded input shapes, else None.

    Forward (`aten::mkldnn_convolution`, `aten::convolution`, ...): input [N, Cin, ...], weight [Cout, Cin/g, ...].
    Backward (`aten::convolution_backward`): grad_output [N, Cout, ...], input [N, Cin, ...]."""
    low = name.lower()
    if "conv" not in low or not shapes:
        return None
    try:
        s = ast.literal_eval(shapes)
    except (ValueError, SyntaxError, TypeError, MemoryError, RecursionError):
        return None
    if not (isinstance(s, list) and len(s) >= 2 and all(isinstance(x, list) and len(x) >= 3 for x in s[:2])):
        return None
    cin, cout = (s[1][1], s[0][1]) if "backward" in low else (s[0][1], s[1][0])
    ok = all(isinstance(c, int) and not isinstance(c, bool) and c > 0 for c in (cin, cout))
    return (cin, cout) if ok else None


def blocked_factor(cin: float, cout: float, block: int) -> float:
    """FLOPs on blocked layouts / real FLOPs: both channel counts rounded up to `block` (input channels below half
    a block stay unblocked); 1 for block <= 1."""
    if block <= 1 or cin <= 0 or cout <= 0:
        return 1.0
    cin, cout = max(int(round(cin)), 1), max(int(round(cout)), 1)  # a channel law's value below 1/2 is 1 channel
    pad_in = cin if cin < block / 2 else -(-cin // block) * block
    return pad_in / cin * (-(-cout // block) * block) / cout


def fit_channel_law(X: np.ndarray, values: Sequence[float]) -> list | None:
    """The simplest one-term law c * prod x^e * 2^(g.x) (arch.py's basis, c a multiple of 1/16) through every
    (descriptors, channel count) pair exactly, as a [c, e, g] term; None when none fits or there are too few."""
    X = np.asarray(X, dtype=float)
    v = np.asarray(values, dtype=float)
    if len(v) < MIN_TRACES:
        return None
    basis = basis_terms(X.shape[1], small_integers(X))
    M = eval_terms(X, basis)  # traces x basis
    with np.errstate(divide="ignore", invalid="ignore"):
        c = snap(v[0] / M[0])
        pred = M * c[None, :]
        ok = np.isfinite(c) & (c != 0) & np.all(np.abs(pred - v[:, None]) <= REL_TOL * np.maximum(v[:, None], 1),
                                                  axis=0)
    hit = np.flatnonzero(ok)
    if not hit.size:
        return None
    b = int(hit[0])
    e, g = basis[b]
    return [float(c[b]), [int(x) for x in e], [int(x) for x in g]]


def attach_channel_laws(block: dict, descs: Sequence[dict[str, float]],
                        observed: Sequence[dict[str, dict[float, set]]]) -> None:
    """Give each num_ops atom law of a conv kind its channel laws, in place: `observed[t][kind][num_ops value]` is
    the set of (cin, cout) of trace t's nodes with that value. An atom gets laws only when it has one channel
    pair per trace in at least MIN_TRACES traces and both counts follow a one-term law there."""
    names = block["descriptors"]
    X = np.array([[d[n] for n in names] for d in descs], dtype=float)
    for kind, entry in block["kinds"].items():
        atoms = entry.get("attrs", {}).get("num_ops", {}).get("atoms", [])
        if not atoms or not any(kind in o for o in observed):
            continue
        for law in atoms:
            rows, pairs = [], []
            for t, x in enumerate(X):
                v = float(np.rint(eval_value(law, x)))
                seen = observed[t].get(kind, {}).get(v)
                if seen is not None and len(seen) == 1:
                    rows.append(t)
                    pairs.append(next(iter(seen)))
            if len(rows) < MIN_TRACES:
                continue
            cin = fit_channel_law(X[rows], [p[0] for p in pairs])
            cout = fit_channel_law(X[rows], [p[1] for p in pairs])
            if cin is not None and cout is not None:
                law["channels"] = {"in": cin, "out": cout}


def check_channel_law(law: object, dims: int) -> bool:
    """Whether an atom's `channels` block is well formed."""
    def term(t: object) -> bool:
        return (isinstance(t, list) and len(t) == 3 and isinstance(t[0], (int, float)) and 0 < t[0] < 1e9
                and all(isinstance(v, list) and len(v) == dims and all(isinstance(i, int) for i in v) for v in t[1:])
                and all(0 <= i <= MAX_EXPONENT for i in t[1]) and all(-1 <= i <= 1 for i in t[2]))
    return isinstance(law, dict) and set(law) == {"in", "out"} and term(law["in"]) and term(law["out"])


def atom_factors(atoms: Sequence[dict], x: np.ndarray, block: int) -> np.ndarray:
    """Per num_ops atom law at descriptors x: its blocked factor (1 for an atom without channel laws)."""
    out = np.ones(len(atoms))
    for i, law in enumerate(atoms):
        ch = law.get("channels")
        if ch is None:
            continue
        out[i] = blocked_factor(eval_value({"terms": [ch["in"]]}, x), eval_value({"terms": [ch["out"]]}, x), block)
    return out
