"""In-sample fidelity: every recorded trace fitted alone and sampled at its own size (seed 1), per-attribute KS.

The default use of chakra-synth (fit on one's own traces, synthesize the same workload) without any size or
architecture target: the corpus of tests/data/synth plus the tensor x data-parallel step and the two-thread step.
Prints, per attribute, the mean and worst KS and how many traces exceed 0.1; writes the per-trace figures.

Usage: python insample.py [OUT.json]   (~10 s; docs/chakra-synth.md quotes its output)
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

DATA = Path(__file__).resolve().parents[2] / "tests" / "data"


def main(out: Path | None) -> None:
    names = sorted(json.loads((DATA / "synth" / "corpus.json").read_text())["models"])
    prefixes = [DATA / "synth" / n for n in names] + [DATA / "tpdp" / "tp2dp2", DATA / "threads" / "prefetch"]
    rows = {}
    warnings.simplefilter("ignore", RuntimeWarning)  # scipy's exact KS falls back to the asymptotic one
    for p in prefixes:
        with tempfile.TemporaryDirectory() as tmp:
            sample(fit([p]), Path(tmp) / "s", ranks=len(find_rank_files(p)), seed=1)
            rows[p.name] = {k: v["ks"] for k, v in compare(p, Path(tmp) / "s")["attributes"].items()}
    for a in ("duration_micros", "num_ops", "tensor_size", "comm_size"):
        x = np.array([r[a] for r in rows.values() if a in r])
        print(f"{a:16s} KS mean {x.mean():.3f} max {x.max():.3f}, above 0.1: {int((x > 0.1).sum())} of {x.size}")
    if out is not None:
        out.write_text(json.dumps(rows, indent=1) + "\n")


if __name__ == "__main__":
    main(Path(sys.argv[1]) if len(sys.argv) > 1 else None)
