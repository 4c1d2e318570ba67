"""Does oneDNN's channel blocking explain the conv times of the TRAINING CNNs? (node level; held-out never read)

Per conv kind (forward `COMP:conv`, backward `COMP:bwd_conv`), a work model `d = c0 + c1 * padded FLOPs
[+ c2 * padded output elements]` (NNLS) is fitted on the conv nodes of all training CNNs but one and predicts the
left-out model's total conv time (20 leave-one-out cases), then on all but the two largest and predicts those
(extrapolation). Padded FLOPs = FLOPs x pad(Cin)/Cin x pad(Cout)/Cout, channels rounded up to a multiple of the
block B (B = 1: the plain FLOPs the synth work model uses); "skip" leaves input channels below 8 (the 3-channel
image, which oneDNN reads unblocked) unpadded.

Usage: python conv_padding.py [CORPUS_DIR]   (~1 s; docs/chakra-synth.md quotes its output)
"""

from __future__ import annotations

import ast
import json
import sys
from pathlib import Path

import numpy as np
from scipy.optimize import nnls

from chakra_tools.et import rank_path, read_et
from chakra_tools.synth.features import node_kind

KINDS = ("COMP:conv", "COMP:bwd_conv")


def conv_rows(prefix: Path) -> list[tuple]:
    """(kind, FLOPs, Cin, Cout, output pixels N*H*W, duration) of every conv node carrying FLOPs, both ranks."""
    rows = []
    for r in (0, 1):
        for n in read_et(rank_path(prefix, r, gz=True))[1]:
            ops = next((a.int64_val or a.uint64_val for a in n.attr if a.name == "num_ops"), 0)
            kind = node_kind(n)
            if not ops or kind not in KINDS:
                continue
            shapes = ast.literal_eval(n.inputs.shapes)
            if kind == "COMP:bwd_conv":  # grad_out [N, Cout, H, W], input [N, Cin, ...], weight
                (batch, cout, h, w), cin = shapes[0], shapes[1][1]
            else:                        # input [N, Cin, H, W], weight [Cout, Cin, kh, kw] (3x3, padding 1)
                (batch, cin, h, w), cout = shapes[0], shapes[1][0]
            rows.append((kind, ops, cin, cout, batch * h * w, n.duration_micros))
    return rows


def features(t: np.ndarray, block: int, skip: bool, output_term: bool) -> np.ndarray:
    ops, cin, cout, pixels = t[:, 0], t[:, 1].astype(int), t[:, 2].astype(int), t[:, 3]
    pad_in = -(-cin // block) * block
    if skip:
        pad_in = np.where(cin < 8, cin, pad_in)
    pad_out = -(-cout // block) * block
    cols = [np.ones(len(t)), ops * pad_in / cin * pad_out / cout] + ([pixels * pad_out] if output_term else [])
    return np.stack(cols, axis=1)


def error(data: dict, kind: str, fit_on: list[str], test: str, **opt) -> float:
    rows = np.array([r[1:] for m in fit_on for r in data[m] if r[0] == kind], dtype=float)
    A = features(rows, **opt)
    scale = A.max(axis=0)
    c, _ = nnls(A / scale, rows[:, 4])
    t = np.array([r[1:] for r in data[test] if r[0] == kind], dtype=float)
    return float((features(t, **opt) / scale @ c).sum() / t[:, 4].sum() - 1)


def main(corpus: Path) -> None:
    train = json.loads((corpus / "corpus.json").read_text())["recording"]["train"]["cnn"]
    data = {m: conv_rows(corpus / m) for m in train}
    largest = sorted(train, key=lambda m: sum(r[1] for r in data[m]))[-2:]
    for block, skip, output_term in ((1, False, False), (1, False, True), (8, False, False), (8, True, False),
                                     (16, False, False), (16, True, False), (16, True, True), (32, True, False)):
        opt = {"block": block, "skip": skip, "output_term": output_term}
        for kind in KINDS:
            loo = np.abs([error(data, kind, [x for x in train if x != m], m, **opt) for m in train])
            ext = [error(data, kind, [x for x in train if x not in largest], m, **opt) for m in largest]
            print(f"B={block:<2d} {'skip' if skip else 'all ':4s} {'+out' if output_term else '    '} {kind:13s} "
                  f"LOO mean {loo.mean():.3f} max {loo.max():.3f}  extrapolated {' '.join(f'{e:+.3f}' for e in ext)}")


if __name__ == "__main__":
    main(Path(sys.argv[1] if len(sys.argv) > 1 else Path(__file__).resolve().parents[2] / "tests/data/synth"))
