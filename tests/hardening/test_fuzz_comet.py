"""Fuzzing comet-sweep's point, sweep, model and cluster files."""

from __future__ import annotations

from pathlib import Path

import yaml
from hypothesis import given

from tests.hardening.harness import FUZZ, garbled_text, mutated, run_clean

CFG = Path(__file__).resolve().parents[2] / "examples" / "configs" / "comet-sweep"
POINT = yaml.safe_load((CFG / "point_1t.yml").read_text())
SWEEP = yaml.safe_load((CFG / "sweep_small.yml").read_text())
MODEL = {"layers": 24, "hidden": 2304, "heads": 24, "seq": 2048, "vocab": 51200}
CLUSTER = yaml.safe_load((Path(__file__).resolve().parents[2] / "comet" / "presets" / "clusters.yml").read_text())[
    "a100-80gb"]


def _check(tmp: Path, capsys, argv: list[str], out: Path | None, context: str) -> None:
    run_clean("comet-sweep", argv, capsys, context, outputs=[out] if out is not None else [])


@FUZZ
@given(doc=mutated(POINT))
def test_fuzz_point(tmp_path_factory, capsys, doc):
    tmp = tmp_path_factory.mktemp("p")
    (tmp / "p.yml").write_text(yaml.safe_dump(doc))
    _check(tmp, capsys, ["eval", str(tmp / "p.yml"), "-o", str(tmp / "r.json"), "-q"], tmp / "r.json", "point")


@FUZZ
@given(doc=mutated(SWEEP))
def test_fuzz_sweep(tmp_path_factory, capsys, doc):
    tmp = tmp_path_factory.mktemp("s")
    (tmp / "s.yml").write_text(yaml.safe_dump(doc))
    _check(tmp, capsys, ["run", str(tmp / "s.yml"), "-o", str(tmp / "r.db"), "-q", "--chunk", "5000"], None, "sweep")


@FUZZ
@given(model=mutated(MODEL), cluster=mutated(CLUSTER))
def test_fuzz_model_and_cluster_files(tmp_path_factory, capsys, model, cluster):
    tmp = tmp_path_factory.mktemp("mc")
    (tmp / "m.yml").write_text(yaml.safe_dump(model))
    (tmp / "c.yml").write_text(yaml.safe_dump(cluster))
    _check(tmp, capsys, ["eval", "--model", str(tmp / "m.yml"), "--cluster", str(tmp / "c.yml"), "--gpus", "16",
                         "--tp", "2", "--pp", "2", "--batch", "32", "-o", str(tmp / "r.json"), "-q"], tmp / "r.json",
           "model/cluster")


@FUZZ
@given(text=garbled_text(yaml.safe_dump(SWEEP)))
def test_fuzz_sweep_text(tmp_path_factory, capsys, text):
    tmp = tmp_path_factory.mktemp("st")
    (tmp / "s.yml").write_text(text)
    _check(tmp, capsys, ["run", str(tmp / "s.yml"), "-o", str(tmp / "r.db"), "-q"], None, "sweep text")
