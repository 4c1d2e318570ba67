"""Fuzzing xrbench-run's parsers: scenarios YAML (--scenarios-file), cost CSV (--costs), --expect JSON."""

from __future__ import annotations

import json
from pathlib import Path

import yaml
from hypothesis import given

from tests.hardening.harness import FUZZ, garbled_text, mutated, run_clean

CFG = Path(__file__).resolve().parents[2] / "examples" / "configs" / "xrbench-run"
SCENARIOS = yaml.safe_load((CFG / "my_scenarios.yml").read_text())
COSTS = (CFG / "costs.csv").read_text()


def _run(tmp: Path, capsys, argv: list[str], context: str, gate: bool = False) -> None:
    out = tmp / "s.csv"
    code, err = run_clean("xrbench-run", [*argv, "-o", str(out), "-q"], capsys, context)
    if code != 0 and not (gate and "differ from the expected report" in err):
        assert not out.exists()       # (a regression-gate failure keeps the valid results it compared)


@FUZZ
@given(doc=mutated(SCENARIOS))
def test_fuzz_scenarios_yaml(tmp_path_factory, capsys, doc):
    tmp = tmp_path_factory.mktemp("sc")
    (tmp / "sc.yml").write_text(yaml.safe_dump(doc))
    names = ",".join(str(k) for k in doc) if isinstance(doc, dict) and doc else "vr_fitness"
    _run(tmp, capsys, ["--scenarios-file", str(tmp / "sc.yml"), "--scenario", names, "--accelerators", "B_4K"],
         "scenarios")


@FUZZ
@given(text=garbled_text(yaml.safe_dump(SCENARIOS)))
def test_fuzz_scenarios_text(tmp_path_factory, capsys, text):
    tmp = tmp_path_factory.mktemp("st")
    (tmp / "sc.yml").write_text(text)
    _run(tmp, capsys, ["--scenarios-file", str(tmp / "sc.yml"), "--scenario", "vr_fitness"], "scenarios text")


@FUZZ
@given(text=garbled_text(COSTS))
def test_fuzz_costs_csv(tmp_path_factory, capsys, text):
    tmp = tmp_path_factory.mktemp("c")
    (tmp / "c.csv").write_text(text)
    _run(tmp, capsys, ["--scenario", "ar_gaming", "--costs", str(tmp / "c.csv")], "costs csv")


@FUZZ
@given(text=garbled_text(json.dumps({"overall": 99.0, "scenarios": {"ar_gaming": {"score": 99.0}}})))
def test_fuzz_expect_json(tmp_path_factory, capsys, text):
    tmp = tmp_path_factory.mktemp("e")
    (tmp / "e.json").write_text(text)
    _run(tmp, capsys, ["--scenario", "ar_gaming", "--costs", str(CFG / "costs.csv"), "--expect",
                       str(tmp / "e.json")], "expect json", gate=True)
