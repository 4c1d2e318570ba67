"""Chakra ETs in and out: GEMMs from COMP nodes, and the same ET with durations from the engine.

GEMM nodes are COMP nodes whose op (the part after `::`, e.g. `aten::addmm`) multiplies matrices; their shapes are
read from the node's `inputs.shapes` (Python `str()` of the shape lists, as chakra-convert and MLCommons' converter
write them). A node that is the ctrl_deps parent of another GEMM node (`aten::linear` above `aten::addmm`) is a
wrapper and is skipped, so every multiplication counts once. Mapping to C = A x B with A = weights:
  mm(X[a,b], W[b,c]), addmm(bias, X, W)      M = c, K = b, N = a              (the second operand is the weight)
  linear(x[..., k], W[n, k])                 M = n, K = k, N = numel(x) / k
  matmul(X[..., a, b], W[b, c])              like mm with N = numel(X) / b; a batched right operand -> bmm
  bmm / baddbmm (X[B,a,b], Y[B,b,c])         B GEMMs M = c, K = b, N = a, not weights (run dense)
  convolution x[n,C,H,W], w[K,C/g,r,s]       g GEMMs M = K/g, K = C/g*r*s, N = n*P*Q (from the output shape)
  scaled_dot_product_attention q,k,v         Q K^T and P V per batch x head, not weights (run dense)
Annotated output: every GEMM node gets `duration_micros` = round(cycles / (clock_ghz * 1000)) (at least 1 when it
has work) and an int64 attribute `vegeta_cycles`; other nodes are copied unchanged. astra-run replays
COMP nodes by `duration_micros`.
"""
from __future__ import annotations

import ast
import math
from dataclasses import dataclass
from pathlib import Path

from chakra_tools.common import atomic_group
from chakra_tools.convert.shapes import CONV_OPS, op_base
from chakra_tools.et import ETWriter, NodeType, make_attr, read_et, resolve_trace

from .model import Gemm

_SDPA = {"scaled_dot_product_attention", "_scaled_dot_product_flash_attention_for_cpu",
         "_scaled_dot_product_flash_attention", "_scaled_dot_product_efficient_attention",
         "_scaled_dot_product_attention_math"}
GEMM_OPS = {"mm", "addmm", "bmm", "baddbmm", "matmul", "linear", *CONV_OPS, *_SDPA}


@dataclass
class EtGemm:
    rank: int
    node_id: int
    name: str
    gemms: list[Gemm]


def _shapes(text: str) -> list:
    try:
        v = ast.literal_eval(text) if text else []
    except (ValueError, SyntaxError, MemoryError, RecursionError):
        return []
    return v if isinstance(v, list) else []


def _dims(s) -> list[int] | None:
    if isinstance(s, list) and s and all(isinstance(d, int) and not isinstance(d, bool) and d > 0 for d in s):
        return s
    return None


def gemms_of(base: str, ins: list, outs: list, label: str) -> list[Gemm] | None:
    """The GEMMs one op performs, or None when its shapes do not describe a multiplication."""
    t = [_dims(s) for s in ins]
    o = [_dims(s) for s in outs]
    try:
        if base in ("mm", "addmm"):
            x, w = (t[0], t[1]) if base == "mm" else (t[1], t[2])
            if x and w and len(x) == 2 and len(w) == 2 and x[1] == w[0]:
                return [Gemm(label, w[1], x[1], x[0])]
        elif base == "linear":
            x, w = t[0], t[1]
            if x and w and len(w) == 2 and x[-1] == w[1]:
                return [Gemm(label, w[0], w[1], math.prod(x) // x[-1])]
        elif base == "matmul":
            x, w = t[0], t[1]
            if x and w and len(w) == 2 and len(x) >= 2 and x[-1] == w[0]:
                return [Gemm(label, w[1], w[0], math.prod(x) // x[-1])]
            if x and w and len(x) >= 3 and len(w) >= 3 and x[-1] == w[-2]:
                return [Gemm(label, w[-1], x[-1], x[-2], count=math.prod(x[:-2]), sparse=False)]
        elif base in ("bmm", "baddbmm"):
            x, y = (t[0], t[1]) if base == "bmm" else (t[1], t[2])
            if x and y and len(x) == 3 and len(y) == 3 and x[2] == y[1]:
                return [Gemm(label, y[2], x[2], x[1], count=x[0], sparse=False)]
        elif base in CONV_OPS:
            x, w, y = t[0], t[1], o[0] if o else None
            if x and w and y and len(x) >= 3 and len(w) == len(x) and len(y) == len(x):
                groups = max(1, x[1] // w[1]) if x[1] % w[1] == 0 else 1
                k = w[1] * math.prod(w[2:])
                n = y[0] * math.prod(y[2:])
                return [Gemm(label, w[0] // groups, k, n, count=groups,
                             b_unique_bytes=math.prod(x) * 2 // groups)]
        elif base in _SDPA:
            q, k, v = t[0], t[1], t[2]
            if q and k and v and len(q) >= 3 and len(k) == len(q) and len(v) == len(q) and q[-1] == k[-1]:
                bh = math.prod(q[:-2])
                return [Gemm(label + ".qk", k[-2], q[-1], q[-2], count=bh, sparse=False),
                        Gemm(label + ".pv", v[-1], k[-2], q[-2], count=bh, sparse=False)]
    except (IndexError, TypeError, ZeroDivisionError):
        return None
    return None


def read_gemms(prefix: str) -> tuple[dict[int, Path], list[EtGemm], int]:
    """(rank files, GEMM nodes, number of GEMM-named nodes whose shapes could not be read)."""
    files = resolve_trace(prefix)
    found: list[EtGemm] = []
    skipped = 0
    for rank, path in files.items():
        _, nodes = read_et(path)
        cand = []
        for n in nodes:
            if n.type != NodeType.COMP_NODE:
                continue
            base = op_base(n.name)
            if base in GEMM_OPS:
                cand.append((n, base))
        parents = {p for n, _ in cand for p in n.ctrl_deps}
        for n, base in cand:
            if n.id in parents:
                continue
            g = gemms_of(base, _shapes(n.inputs.shapes), _shapes(n.outputs.shapes), f"{n.name}#{n.id}")
            if g is None:
                skipped += 1
                continue
            found.append(EtGemm(rank, n.id, n.name, g))
    return files, found, skipped


def write_annotated(files: dict[int, Path], outs: list[str], cycles: dict[tuple[int, int], float],
                    clock_ghz: float, note: str) -> None:
    """Copy every rank's ET (`files`, by rank) to `outs` (one per rank, in the same order; the caller has checked
    that none is an input) with GEMM durations from `cycles[(rank, node id)]`."""
    with atomic_group(outs) as tmps:
        for (rank, src), tmp in zip(files.items(), tmps, strict=True):
            meta, nodes = read_et(src)
            meta.attr.append(make_attr("vegeta", note, "string_val"))
            with ETWriter(tmp, compress=False) as w:
                w.write_metadata(meta)
                for n in nodes:
                    cyc = cycles.get((rank, n.id))
                    if cyc is not None:
                        us = cyc / (clock_ghz * 1e3)
                        n.duration_micros = max(1, round(us)) if cyc > 0 else 0
                        n.attr.append(make_attr("vegeta_cycles", int(round(cyc)), "int64_val"))
                    w.write_node(n)
