"""Fuzzing tacos-synth's topology files (generator, explicit and ASTRA-sim forms)."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from hypothesis import given

from tests.hardening.harness import FUZZ, garbled_text, mutated, run_clean

CFG = Path(__file__).resolve().parents[2] / "examples" / "configs"
GEN = yaml.safe_load((CFG / "tacos-synth" / "mesh4x4_hetero_failed.yml").read_text())
EXPLICIT = yaml.safe_load((CFG / "tacos-synth" / "irregular8.yml").read_text())
ASTRA = yaml.safe_load((CFG / "astra-run" / "torus2d_4x4.yml").read_text())


def _run(tmp: Path, capsys, text: str, context: str) -> None:
    f = tmp / "t.yml"
    f.write_text(text)
    run_clean("tacos-synth", ["--topology", str(f), "--collective", "all-reduce", "--size", "1MiB",
                              "-o", str(tmp / "s.json"), "-q"], capsys, context, outputs=[tmp / "s.json"])


@FUZZ
@given(doc=mutated(GEN))
def test_fuzz_generator_form(tmp_path_factory, capsys, doc):
    _run(tmp_path_factory.mktemp("g"), capsys, yaml.safe_dump(doc), "generator")


@FUZZ
@given(doc=mutated(EXPLICIT))
def test_fuzz_explicit_form(tmp_path_factory, capsys, doc):
    _run(tmp_path_factory.mktemp("e"), capsys, yaml.safe_dump(doc), "explicit")


@FUZZ
@given(doc=mutated(ASTRA))
def test_fuzz_astra_form(tmp_path_factory, capsys, doc):
    _run(tmp_path_factory.mktemp("a"), capsys, yaml.safe_dump(doc), "astra")


@FUZZ
@given(text=garbled_text(yaml.safe_dump(EXPLICIT)))
def test_fuzz_topology_text(tmp_path_factory, capsys, text):
    _run(tmp_path_factory.mktemp("t"), capsys, text, "text")


def test_run_clean_sees_a_left_over_temp_file(tmp_path, capsys):
    # control for the harness: a failed run that left an atomic write's temp file behind is caught
    (tmp_path / ".s.json.x1.tmp").write_text("partial")
    with pytest.raises(AssertionError, match="partial output left"):
        run_clean("tacos-synth", ["--topology", str(tmp_path / "missing.yml"), "--collective", "all-gather",
                                  "--size", "1MiB", "-o", str(tmp_path / "s.json")], capsys, "control",
                  outputs=[tmp_path / "s.json"])
