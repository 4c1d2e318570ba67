"""Every writer: killed part-way it leaves no partial output; run twice it writes byte-identical files.

Each case is a real subprocess of an installed console script on bundled inputs.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.hardening.cases import WRITER_CASES

REPO = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent


def _cmd(case) -> list[str]:
    """The command line; it runs with the output directory as cwd so reports (whose provenance records the
    command line) do not differ by temporary directory."""
    exe = shutil.which(case.tool, path=str(BIN)) or case.tool
    return [exe, *[a.format(repo=REPO) for a in case.argv]]


def _digest(outdir: Path, outputs) -> dict[str, str]:
    return {o: hashlib.sha256((outdir / o).read_bytes()).hexdigest() for o in outputs if (outdir / o).exists()}


@pytest.fixture(scope="module")
def reference_runs(tmp_path_factory):
    """One complete run per case: the bytes a killed run may be compared with."""
    refs = {}
    for case in WRITER_CASES:
        d = tmp_path_factory.mktemp(case.name)
        subprocess.run(_cmd(case), check=True, cwd=d, capture_output=True, timeout=300)
        refs[case.name] = (d, _digest(d, case.outputs))
    return refs


@pytest.mark.parametrize("case", WRITER_CASES, ids=lambda c: c.name)
def test_same_inputs_same_bytes(case, reference_runs, tmp_path):
    ref_dir, ref = reference_runs[case.name]
    assert set(ref) == set(case.outputs), f"{case.name}: expected outputs {case.outputs}, got {sorted(ref)}"
    subprocess.run(_cmd(case), check=True, cwd=tmp_path, capture_output=True, timeout=300)
    assert _digest(tmp_path, case.outputs) == ref


@pytest.mark.parametrize("case", WRITER_CASES, ids=lambda c: c.name)
def test_killed_writer_leaves_no_partial_output(case, reference_runs, tmp_path):
    _, ref = reference_runs[case.name]
    for i, delay in enumerate(case.kill_after):
        d = tmp_path / f"kill{i}"
        d.mkdir()
        proc = subprocess.Popen(_cmd(case), cwd=d, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        time.sleep(delay)
        if proc.poll() is None:
            os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
        got = _digest(d, case.outputs)
        for name, digest in got.items():
            assert digest == ref[name], f"{case.name}: {name} exists after kill at {delay}s but is incomplete"
