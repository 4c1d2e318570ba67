"""In-sample simulated time: every recorded multi-rank trace fitted alone, sampled at its own rank count (seeds
1-3) and both run on astra-run; prints the mean |sim_time_ratio - 1| and how many cases are within 5 %.

The corpus of tests/data/synth (2 ranks, examples/configs/chakra-synth/), the tensor x data-parallel step and the
two-thread step, and the DLRM step on 8 GPUs (tests/data/gpu, converted here with its Kineto traces; 8-NPU ring).

Usage: python insample_sim.py [OUT.json]   (~4 min; docs/chakra-synth.md quotes its output)
"""

from __future__ import annotations

import json
import sys
import tempfile
import warnings
from pathlib import Path

import numpy as np

from chakra_tools.et import find_rank_files
from chakra_tools.synth import compare, fit, sample

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))  # the DLRM step's unpacking and conversion, shared with the tests
from tests.gpu_data import convert_dlrm  # noqa: E402

DATA = ROOT / "tests" / "data"
CONF = ROOT / "examples" / "configs"
SEEDS = (1, 2, 3)


def configs(prefix: Path) -> tuple[Path, Path]:
    ranks = len(find_rank_files(prefix))
    if ranks == 8:
        return CONF / "astra-run" / "ring_1d.json", CONF / "astra-run" / "ring8.yml"
    if ranks == 4:
        return CONF / "chakra-synth" / "tpdp" / "system.json", CONF / "chakra-synth" / "tpdp" / "network_2x2.yml"
    return CONF / "chakra-synth" / "system.json", CONF / "chakra-synth" / "network.yml"


def main(out: Path | None) -> None:
    warnings.simplefilter("ignore")
    names = sorted(json.loads((DATA / "synth" / "corpus.json").read_text())["models"])
    rows = {}
    with tempfile.TemporaryDirectory() as tmp:
        prefixes = [DATA / "synth" / n for n in names] + [DATA / "tpdp" / "tp2dp2", DATA / "threads" / "prefetch",
                                                          convert_dlrm(Path(tmp))]
        for p in prefixes:
            system, network = configs(p)
            model = fit([p])
            ratios = []
            for s in SEEDS:
                sample(model, Path(tmp) / "s", ranks=len(find_rank_files(p)), seed=s)
                rep = compare(p, Path(tmp) / "s", system=system, network=network)
                ratios.append(round(rep["sim_time_ratio"], 6))
                for f in Path(tmp).glob("s.*"):
                    f.unlink()
            rows[p.name] = ratios
            print(f"{p.name:12s} {' '.join(f'{r:.4f}' for r in ratios)}", flush=True)
    err = np.abs(np.array([r for v in rows.values() for r in v]) - 1)
    print(f"mean |sim_time_ratio - 1| {err.mean():.4f}, within 5 %: {int((err <= 0.05).sum())} of {err.size}")
    if out is not None:
        out.write_text(json.dumps(rows, indent=1) + "\n")


if __name__ == "__main__":
    main(Path(sys.argv[1]) if len(sys.argv) > 1 else None)
