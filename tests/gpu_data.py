"""The recorded 8-rank DLRM step of tests/data/gpu (SOURCE.md): its PyTorch ETs and Kineto traces, unpacked, and
converted with them — for the tests and examples/synth/insample_sim.py."""

from __future__ import annotations

import tarfile
from pathlib import Path

from chakra_tools.convert.kineto import KinetoDurations
from chakra_tools.convert.pytorch import convert_trace
from chakra_tools.et import write_et

GPU = Path(__file__).resolve().parent / "data" / "gpu"
RANKS = 8


def extract_dlrm(dest: Path) -> tuple[list[Path], list[Path]]:
    """Unpack both archives into `dest`; per rank its ET and its profile."""
    for t in ("dlrm_pytorch_et.tar.gz", "dlrm_kineto.tar.gz"):
        with tarfile.open(GPU / t) as tar:
            tar.extractall(dest, filter="data")
    ets = [dest / "dlrm_pytorch_et" / f"dlrm_eg_{r}.json" for r in range(RANKS)]
    kineto = [next((dest / "dlrm_kineto").glob(f"worker{r}_*.json")) for r in range(RANKS)]
    return ets, kineto


def convert_dlrm(dest: Path) -> Path:
    """The step as Chakra ETs `dest/dlrm.<rank>.et`; returns the prefix."""
    ets, kineto = extract_dlrm(dest)
    for r, (et, kin) in enumerate(zip(ets, kineto)):
        c = convert_trace(et, r, KinetoDurations.load(kin))
        write_et(dest / f"dlrm.{r}.et", c.metadata, c.nodes)
    return dest / "dlrm"
