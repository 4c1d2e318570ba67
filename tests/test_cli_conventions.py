"""Conventions every tool shares (DESIGN.md): --version, --help with an example, one-line errors for a missing file,
a bad --expect file rejected before any work or output."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from chakra_tools.common import __version__

REPO = Path(__file__).resolve().parents[1]
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


# a valid command line of each tool that writes r.json (paths relative to the repository)
WRITES = {
    "chakra-convert": ["inspect", "tests/data/synth/mlp_64x1", "-o", "{out}"],
    "chakra-synth": ["compare", "tests/data/synth/mlp_64x1", "tests/data/synth/mlp_64x3", "-o", "{out}"],
    "tacos-synth": ["--topology", "examples/configs/tacos-synth/torus4x4.yml", "--collective", "all-gather",
                    "--size", "1MiB", "-o", "{out}"],
    "astra-run": ["--workload", "tests/data/synth/mlp_64x1", "--system", "examples/configs/chakra-synth/system.json",
                  "--network", "examples/configs/chakra-synth/network.yml", "-o", "{out}"],
    "comet-sweep": ["eval", "examples/configs/comet-sweep/point_1t.yml", "-o", "{out}"],
    "sushi-serve": ["--queries", "100", "-o", "{out}"],
    "vegeta-sim": ["--layers", "bert-base", "--report", "{out}"],
    "xrbench-run": ["--scenario", "ar_gaming", "--report", "{out}"],
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


@pytest.mark.parametrize("tool", TOOLS)
def test_bad_expect_file_fails_before_any_output(tool, tmp_path):
    out = tmp_path / "r.json"
    args = [a.replace("{out}", str(out)) for a in WRITES[tool]]
    assert _run(tool, *args, "-q", cwd=REPO).returncode == 0 and out.exists()   # the command line itself is good
    for bad in ("malformed", "list", "missing"):
        out.unlink(missing_ok=True)
        expect = tmp_path / f"{bad}.json"
        if bad != "missing":
            expect.write_text('{"a": [1' if bad == "malformed" else "[1, 2]")
        r = _run(tool, *args, "--expect", str(expect), "-q", cwd=REPO)
        assert r.returncode == 1 and "Traceback" not in r.stderr, (bad, r.stderr)
        assert r.stderr.strip().count("\n") == 0 and str(expect) in r.stderr, (bad, r.stderr)
        assert not out.exists(), bad


# a valid command line of each tool with a figure output, written to {plot} (paths relative to the repository)
PLOTS = {
    "chakra-synth": ["compare", "tests/data/synth/mlp_64x1", "tests/data/synth/mlp_64x3", "--plot", "{plot}"],
    "tacos-synth": ["--topology", "examples/configs/tacos-synth/torus4x4.yml", "--collective", "all-gather",
                    "--size", "1MiB", "--plot", "{plot}"],
    "sushi-serve": ["tests/data/sushi/small_menu.yml", "--policy", "sushi", "--plot", "{plot}"],
    "vegeta-sim": ["--layers", "bert-base", "--sparsity", "2:4", "--plot", "{plot}"],
    "xrbench-run": ["--scenario", "ar_gaming", "--plot", "{plot}"],
}


@pytest.mark.parametrize("tool", sorted(PLOTS))
def test_a_figure_is_png_svg_or_pdf_and_the_same_bytes_every_run(tool, tmp_path):
    def run(plot, *extra):
        return _run(tool, *[a.replace("{plot}", str(tmp_path / plot)) for a in PLOTS[tool]], *extra, "-q", cwd=REPO)
    for bad in ("p.gif", "noext"):
        r = run(bad, "-o" if tool != "vegeta-sim" else "--report", str(tmp_path / "o.json"))
        assert r.returncode == 2 and f"{bad}: expected a .png, .svg, .pdf file name" in r.stderr, r.stderr
        assert list(tmp_path.iterdir()) == []  # a usage error: before any output
    for ext in ("svg", "pdf"):
        assert run(f"a.{ext}").returncode == 0 and run(f"b.{ext}").returncode == 0
        data = (tmp_path / f"a.{ext}").read_bytes()
        assert data == (tmp_path / f"b.{ext}").read_bytes(), ext
        assert b"/CreationDate" not in data and b"<dc:date>" not in data  # what runs a second apart differ in
