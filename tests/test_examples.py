"""`make -C examples check` reproduces every stored figure of every study, and fails when one moves."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent

pytestmark = pytest.mark.skipif(shutil.which("make") is None, reason="GNU make is not installed")


def _make(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(["make", "-s", *args, f"BIN={BIN}"], cwd=REPO, capture_output=True, text=True, timeout=900)


def test_every_study_reproduces_its_stored_figures():
    r = _make("-C", "examples", "check")
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]


def test_check_fails_with_a_readable_diff_when_a_stored_figure_moves(tmp_path):
    stored = tmp_path / "expected"
    shutil.copytree(REPO / "examples/xrbench/expected", stored)
    assert _make("-C", "examples/xrbench", "check", f"EXPECTED={stored}").returncode == 0
    rep = json.loads((stored / "styles_4K.json").read_text())
    rep["systems"]["B_4K"]["scenarios"]["ar_gaming"]["score"] += 0.5
    (stored / "styles_4K.json").write_text(json.dumps(rep))
    r = _make("-C", "examples/xrbench", "check", f"EXPECTED={stored}")
    assert r.returncode != 0
    assert "systems.B_4K.scenarios.ar_gaming.score: expected" in r.stderr, r.stderr
