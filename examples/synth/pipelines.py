"""The pipeline and dependency-structure figures docs/chakra-synth.md quotes, measured again: recorded pipelines
(tests/data/tpdp) sampled in place, with more data parallelism, at held-out widths, with another number of
micro-batches and with both, against their recordings on astra-run (seeds 1-5, or 1-3 where the docs say so); and
the call-tree statistics (compare's graph block and graph_ks) on six recorded traces, seeds 1-3.

Usage: python pipelines.py [OUT.json]   (~1 min; prints one line per case: ranges over the seeds)
"""

from __future__ import annotations

import sys
import tempfile
import warnings
from pathlib import Path

from chakra_tools.common import provenance, write_json
from chakra_tools.synth import compare, fit, sample

HERE = Path(__file__).resolve().parent
TESTS = HERE.parents[1] / "tests" / "data"
TPDP = TESTS / "tpdp"
CONFIGS = HERE.parent / "configs" / "chakra-synth"
SYSTEM, NET_2X2 = CONFIGS / "tpdp" / "system.json", CONFIGS / "tpdp" / "network_2x2.yml"
GPIPE = (CONFIGS / "system.json", CONFIGS / "tpdp" / "ring_4.yml")
WIDTHS = (64, 96, 128, 192, 256, 384, 512)  # record.py's WIDTHS_TRAIN
SEEDS = (1, 2, 3, 4, 5)


def _span(values: list[float]) -> list[float]:
    return [round(min(values), 3), round(max(values), 3)]


def _cases(work: Path, name: str, model: dict, real: Path, ranks: int, seeds, system, network, **kw) -> dict:
    """Sample `model` with each seed, compare with the recording `real` on astra-run; ranges over the seeds."""
    reps = []
    for seed in seeds:
        prefix = work / f"{name}.{seed}"
        sample(model, prefix, ranks=ranks, seed=seed, **kw)
        reps.append(compare(str(real), str(prefix), str(system), str(network)))
    stage = [abs(e["b"]["sim_idle_share"] - e["a"]["sim_idle_share"]) for r in reps for e in r["programs"] or ()
             if e["b"] is not None]
    return {"sim_time_ratio": _span([r["sim_time_ratio"] for r in reps]),
            "ks_max": _span([r["ks_max"] for r in reps]),
            "duration_ks": _span([r["attributes"]["duration_micros"]["ks"] for r in reps]),
            "compute_path_ratio": _span([r["compute_path_ratio"] for r in reps]),
            "kind_mix_tv": _span([r["kind_mix_tv"] for r in reps]),
            "idle_share_a": round(reps[0]["sim_idle_share_a"], 3),
            "idle_share_b": _span([r["sim_idle_share_b"] for r in reps]),
            "stage_idle_share_off": round(max(stage), 3) if stage else None}


def pipelines(work: Path) -> dict:
    out = {}
    pp, pp4 = fit([str(TPDP / "pp2dp2")]), fit([str(TPDP / "pp4")])
    out["pp2dp2 in place"] = _cases(work, "a", pp, TPDP / "pp2dp2", 4, SEEDS, SYSTEM, NET_2X2)
    out["pp4 in place"] = _cases(work, "b", pp4, TPDP / "pp4", 4, SEEDS, *GPIPE)
    net8 = work / "ring_4x2.yml"  # DP groups of 4 on the fast dimension, the pipeline on the slow one
    net8.write_text("topology: [Ring, Ring]\nnpus_count: [4, 2]\nbandwidth: [200.0, 25.0]\nlatency: [500.0, 2000.0]\n")
    out["pp2dp2 at 8 ranks vs pp2dp4"] = _cases(work, "c", pp, TPDP / "pp2dp4", 8, SEEDS[:3], SYSTEM, net8)
    for fam, (system, network) in (("pp2dp2", (SYSTEM, NET_2X2)), ("pp4", GPIPE)):
        wide = fit([str(TPDP / f"{fam}_h{h}") for h in WIDTHS])
        for h in (160, 320, 768):
            out[f"{fam} width {h}"] = _cases(work, f"w{fam}{h}", wide, TPDP / f"{fam}_h{h}", 4, SEEDS, system,
                                             network, describe={"width": h})
        if fam == "pp2dp2":
            out["pp2dp2 width 320 at 8 ranks vs pp2dp4_h320"] = _cases(
                work, "d", wide, TPDP / "pp2dp4_h320", 8, SEEDS[:3], SYSTEM, CONFIGS / "tpdp" / "network_4x2.yml",
                describe={"width": 320})
        for m in (2, 8):
            out[f"{fam} width 64 with {m} micro-batches vs {fam}_m{m}"] = _cases(
                work, f"e{fam}{m}", wide, TPDP / f"{fam}_m{m}", 4, SEEDS, system, network, describe={"width": 64},
                micro_batches=m)
        at4 = fit([str(TPDP / f"{fam}_m4")])
        for m in (2, 8):
            out[f"{fam} fitted on 4 micro-batches, sampled with {m}"] = _cases(
                work, f"f{fam}{m}", at4, TPDP / f"{fam}_m{m}", 4, SEEDS, system, network, micro_batches=m)
    return out


def call_tree(work: Path) -> dict:
    out = {}
    for prefix, ranks in ((TESTS / "synth" / "cnn_20x2", 2), (TESTS / "synth" / "tfm_80x2", 2),
                          (TESTS / "synth" / "mlp_160x2", 2), (TPDP / "pp2dp2", 4), (TESTS / "threads" / "prefetch", 2),
                          (TPDP / "tp2dp2", 4)):
        model = fit([str(prefix)])
        reps = []
        for seed in SEEDS[:3]:
            sample(model, work / f"t{prefix.name}.{seed}", ranks=ranks, seed=seed)
            reps.append(compare(str(prefix), str(work / f"t{prefix.name}.{seed}")))
        out[prefix.name] = {
            "branch_fraction_a": round(reps[0]["graph"]["a"]["branch_fraction"], 3),
            "branch_fraction_b": _span([r["graph"]["b"]["branch_fraction"] for r in reps]),
            "max_fan_out_a": reps[0]["graph"]["a"]["max_fan_out"],
            "max_fan_out_b": [r["graph"]["b"]["max_fan_out"] for r in reps],
            **{f"{k}_ks": _span([r["graph_ks"][k] for r in reps]) for k in reps[0]["graph_ks"]}}
    return out


def main(out: Path | None) -> None:
    warnings.simplefilter("ignore", RuntimeWarning)  # scipy's exact KS falls back to the asymptotic one
    with tempfile.TemporaryDirectory() as tmp:
        result = {"pipelines": pipelines(Path(tmp)), "call_tree": call_tree(Path(tmp))}
    for part in ("pipelines", "call_tree"):
        for name, row in result[part].items():
            print(f"{name:48s} " + " ".join(f"{k} {v}" for k, v in row.items()), flush=True)
    if out is not None:
        write_json(out, {**result, "provenance": provenance("chakra-synth", [])})


if __name__ == "__main__":
    main(Path(sys.argv[1]) if len(sys.argv) > 1 else None)
