"""Seed robustness of the held-out experiment: every held-out model synthesized from its architecture with seeds
1-5 (the models `make reproduce` fitted), astra-run ratio and worst KS per seed.

Usage: python seeds.py [OUT.json]   (after `make reproduce` or `make check`; ~15 s; docs/chakra-synth.md quotes it)
"""

from __future__ import annotations

import json
import sys
import tempfile
import warnings
from pathlib import Path

from chakra_tools.synth import compare, sample

HERE = Path(__file__).resolve().parent
DATA = HERE.parents[1] / "tests" / "data" / "synth"
MODELS = HERE.parent / "out" / "chakra-synth"
CONFIGS = HERE.parent / "configs" / "chakra-synth"
SEEDS = (1, 2, 3, 4, 5)


def main(out: Path | None) -> None:
    warnings.simplefilter("ignore", RuntimeWarning)  # scipy's exact KS falls back to the asymptotic one
    held = json.loads((DATA / "corpus.json").read_text())["recording"]["held_out"]
    rows: dict[str, list[dict]] = {}
    for fam, names in held.items():
        model = json.loads((MODELS / f"model.{fam}.json").read_text())
        for h in names:
            desc = {k: float(v) for k, v in json.loads((DATA / f"{h}.describe.json").read_text()).items()}
            rows[h] = []
            for seed in SEEDS:
                with tempfile.TemporaryDirectory() as tmp:
                    sample(model, Path(tmp) / "s", ranks=2, seed=seed, describe=desc)
                    r = compare(DATA / h, Path(tmp) / "s", str(CONFIGS / "system.json"), str(CONFIGS / "network.yml"))
                rows[h].append({"seed": seed, "sim_time_ratio": r["sim_time_ratio"], "ks_max": r["ks_max"]})
            ratios = [x["sim_time_ratio"] for x in rows[h]]
            print(f"{h:10s} sim_time_ratio {min(ratios):.3f}-{max(ratios):.3f}  "
                  f"ks_max {max(x['ks_max'] for x in rows[h]):.3f}")
    for i, seed in enumerate(SEEDS):
        within = sum(abs(v[i]["sim_time_ratio"] - 1) <= 0.05 for v in rows.values())
        ks = sum(v[i]["ks_max"] < 0.1 for v in rows.values())
        print(f"seed {seed}: within 5 % {within} of {len(rows)}, KS < 0.1 {ks} of {len(rows)}")
    if out is not None:
        out.write_text(json.dumps(rows, indent=1) + "\n")


if __name__ == "__main__":
    main(Path(sys.argv[1]) if len(sys.argv) > 1 else None)
