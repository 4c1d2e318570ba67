"""Conventions every tool shares (DESIGN.md): --version, --help with an example, one-line errors for a missing file."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from chakra_tools.common import __version__

BIN = Path(sys.executable).parent
TOOLS = ["chakra-convert", "chakra-synth", "tacos-synth", "astra-run", "comet-sweep", "sushi-serve", "vegeta-sim",
         "xrbench-run"]
# a command line of each tool that names a file that does not exist
MISSING = {
    "chakra-convert": ["validate", "nope/x"],
    "chakra-synth": ["sample", "nope.json", "-o", "s", "--ranks", "2"],
    "tacos-synth": ["--topology", "nope.yml", "--collective", "all-gather", "--size", "1MiB"],
    "astra-run": ["--workload", "nope/x", "--system", "nope.json", "--network", "nope.yml"],
    "comet-sweep": ["run", "nope.yml", "-o", "r.db"],
    "sushi-serve": ["nope.yml"],
    "vegeta-sim": ["--layers", "nope.yml"],
    "xrbench-run": ["--scenarios-file", "nope.yml"],
}


def _run(tool: str, *args: str, cwd=None) -> subprocess.CompletedProcess:
    return subprocess.run([BIN / tool, *args], capture_output=True, text=True, cwd=cwd, timeout=120)


@pytest.mark.parametrize("tool", TOOLS)
def test_version_and_help_with_an_example(tool):
    r = _run(tool, "--version")
    assert r.returncode == 0 and r.stdout.strip() == f"{tool} {__version__}"
    r = _run(tool, "--help")
    assert r.returncode == 0 and "example" in r.stdout.lower()


@pytest.mark.parametrize("tool", TOOLS)
def test_missing_input_is_one_line_naming_the_file(tool, tmp_path):
    r = _run(tool, *MISSING[tool], cwd=tmp_path)
    lines = r.stderr.strip().splitlines()
    assert r.returncode in (1, 2), r.stderr
    assert "Traceback" not in r.stderr and "nope" in r.stderr
    if r.returncode == 1:  # our error (2 is click's usage error for a path it checks itself)
        assert len(lines) == 1, r.stderr
    assert list(tmp_path.iterdir()) == []


def test_reported_version_is_the_installed_distribution_version():
    from importlib.metadata import version
    assert version("mlcodesign") == __version__
