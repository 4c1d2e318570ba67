"""Cross-validation on the TRAINING traces only (the held-out models are never touched): how design choices of
the architecture laws generalise, by leave-one-out (fit on the other training traces of the family, synthesize
the left-out one from its descriptors) and leave-the-two-largest-out (extrapolation).

A third split, leave-one-width-out, is the honest proxy for a held-out model whose width no training model has
(mlp_160x2, cnn_20x2, ...): every trace of one interior width (not the smallest or largest) is left out at once, so
no same-width neighbour at another depth can carry that width's kernel quirks to it.

Per left-out trace: the per-attribute KS of a sample drawn from its descriptors (`--describe`, seed 1) and of
one drawn from its three size descriptors (`--param-bytes/--flops/--nodes`, the size-only baseline), the
fraction of its attribute values the architecture laws reproduce exactly, and the relative error of four
estimates of its compute time (the calibration target): the cost law alone, the bottom-up expectation from the
corpus kind mix and the size laws' tables, the bottom-up expectation from the architecture's kind counts and
atoms, and the geometric means of the cost law with each bottom-up estimate.

Usage: python cv.py CORPUS_DIR OUT.json [FAMILY...]   (~8 min for the three families)
"""

from __future__ import annotations

import json
import math
import sys
import tempfile
from pathlib import Path

import numpy as np

from chakra_tools.common import provenance, write_json
from chakra_tools.graph import Trace
from chakra_tools.synth import compare, fit, sample
from chakra_tools.synth.arch import read_sidecar
from chakra_tools.synth.features import compute_path_us
from chakra_tools.synth.scaling import trace_descriptors
from chakra_tools.synth.targets import (
    apply_architecture,
    conditioned_stats,
    described,
    expected_compute_us,
    predict_cost,
    resolve_architecture,
)

ESTIMATES = ("cost", "bottom_up_size", "bottom_up_arch", "blend_size", "blend_arch", "described")


def exact_share(model: dict, prefix: str) -> dict[str, float]:
    """Per attribute: the share of the trace's values (per rank) that the laws put exactly there (multiset
    intersection of the laws' atoms at its descriptors with its values)."""
    from collections import Counter

    from chakra_tools.synth.compare import trace_values  # noqa: F401  (same attribute set as compare)
    from chakra_tools.synth.fit import rank_features

    arch, _ = resolve_architecture(model, read_sidecar(prefix))
    t = Trace.load(prefix)
    f = rank_features(t.ranks[0])
    out = {}
    for a in ("num_ops", "tensor_size", "comm_size"):
        real: Counter = Counter()
        pred: Counter = Counter()
        for k, v in zip(f["kinds"], f["numeric"][a]):
            if v is not None:
                real[(k, v)] += 1
        for k, attrs in arch.attrs.items():
            spec = attrs.get(a)
            if spec is not None:
                for v, c in zip(spec["values"].tolist(), spec["counts"].tolist()):
                    pred[(k, float(v))] += int(round(c))
        n = sum(real.values())
        out[a] = round(sum(min(c, pred[key]) for key, c in real.items()) / n, 4) if n else 1.0
    return out


def estimates(model: dict, prefix: str) -> dict[str, float]:
    real = float(np.mean([compute_path_us(g) for g in Trace.load(prefix).ranks.values()]))
    arch, target, _, rate = described(model, read_sidecar(prefix))
    st_size = conditioned_stats(model, target)
    cost = predict_cost(model["scaling"]["compute_cost"], target.as_dict())
    bu_size = expected_compute_us(st_size, target.nodes)
    bu_arch = expected_compute_us(apply_architecture(st_size, arch), target.nodes, arch.kind_counts)
    est = {"cost": cost, "bottom_up_size": bu_size, "bottom_up_arch": bu_arch,
           "blend_size": math.sqrt(cost * bu_size), "blend_arch": math.sqrt(cost * bu_arch),
           "described": rate * target.nodes}
    return {k: round(v / real - 1, 5) for k, v in est.items()}


def case(train: list[str], left: str, tmp: Path) -> dict:
    model = fit(train)
    out = {"exact_share": exact_share(model, left), "time_error": estimates(model, left)}
    d = trace_descriptors(left)
    for variant in ("describe", "size"):
        prefix = tmp / f"{Path(left).name}.{variant}"
        if variant == "describe":
            sample(model, prefix, ranks=2, seed=1, describe=read_sidecar(left))
        else:
            sample(model, prefix, ranks=2, seed=1, nodes=d["nodes"], param_bytes=d["param_bytes"], flops=d["flops"])
        r = compare(left, prefix)
        out[variant] = {"ks": {k: v["ks"] for k, v in r["attributes"].items()},
                        "compute_path_ratio": r["compute_path_ratio"], "kind_mix_tv": r["kind_mix_tv"],
                        "longest_shared_value_run": r["obfuscation"]["longest_shared_value_run"]}
    return out


def summarise(cases: dict) -> dict:
    out: dict = {}
    for variant in ("describe", "size"):
        ks = [c[variant]["ks"] for c in cases.values()]
        out[variant] = {a: {"mean_ks": round(float(np.mean([k[a] for k in ks if a in k])), 4),
                            "below_0.1": sum(k.get(a, 1) < 0.1 for k in ks)} for a in ks[0]}
    errs = {e: [c["time_error"][e] for c in cases.values()] for e in ESTIMATES}
    out["time_error"] = {e: {"mean_abs": round(float(np.mean(np.abs(v))), 4), "max_abs": round(float(np.max(np.abs(v))), 4)}
                         for e, v in errs.items()}
    out["exact_share"] = {a: round(float(np.mean([c["exact_share"][a] for c in cases.values()])), 4)
                          for a in ("num_ops", "tensor_size", "comm_size")}
    out["cases"] = len(cases)
    return out


def main(corpus: str, out: str, families: list[str]) -> None:
    split = json.loads((Path(corpus) / "corpus.json").read_text())["recording"]["train"]
    result: dict = {}
    with tempfile.TemporaryDirectory() as tmp:
        for fam in families or list(split):
            train = [str(Path(corpus) / m) for m in split[fam]]
            loo = {Path(t).name: case([p for p in train if p != t], t, Path(tmp)) for t in train}
            params = {t: trace_descriptors(t)["param_bytes"] for t in train}
            largest = sorted(train, key=params.get)[-2:]
            extra = {Path(t).name: case([p for p in train if p not in largest], t, Path(tmp)) for t in largest}
            width = {t: (read_sidecar(t) or {}).get("width") for t in train}
            inner = sorted({w for w in width.values() if w is not None})[1:-1]
            lwo = {Path(t).name: case([p for p in train if width[p] != w], t, Path(tmp))
                   for w in inner for t in train if width[t] == w}
            result[fam] = {"loo": {"summary": summarise(loo), "cases": loo},
                           "extrapolation": {"summary": summarise(extra), "cases": extra}}
            if lwo:
                result[fam]["width_out"] = {"summary": summarise(lwo), "cases": lwo}
            print(fam, json.dumps({k: v["summary"] for k, v in result[fam].items()}), flush=True)
    result["provenance"] = provenance("chakra-synth", [])
    write_json(out, result)


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2], sys.argv[3:])
