"""The committed chakra-synth corpus against what docs/chakra-synth.md (Corpus) says of it and of record.py."""

from __future__ import annotations

import importlib.util
import json

import pytest

from .test_synth import DATA

INDEX = json.loads((DATA / "corpus.json").read_text())


@pytest.fixture(scope="module")
def rec():
    # record.py imports torch only when it records: loading it here needs no torch
    spec = importlib.util.spec_from_file_location("synth_record", DATA / "record.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def test_splits_are_record_py_s_and_disjoint(rec):
    assert INDEX["recording"]["train"] == rec.TRAIN
    assert INDEX["recording"]["held_out"] == rec.HELD_OUT
    for fam in rec.TRAIN:
        assert not set(rec.TRAIN[fam]) & set(rec.HELD_OUT[fam]), fam
        assert len(rec.HELD_OUT[fam]) == 4, fam


def test_cnn_grid_is_full_and_the_others_checkerboards(rec):
    assert len(rec.TRAIN["cnn"]) == 7 * 3 - 1  # the full grid minus its held-out combination cnn_16x3
    assert "cnn_16x3" not in rec.TRAIN["cnn"] and {"cnn_24x2", "cnn_12x4"} <= set(rec.TRAIN["cnn"])
    assert (len(rec.TRAIN["mlp"]), len(rec.TRAIN["tfm"])) == (14, 9)


def test_every_model_was_recorded_with_its_sidecars():
    for fam in INDEX["recording"]["train"]:
        for name in INDEX["recording"]["train"][fam] + INDEX["recording"]["held_out"][fam]:
            assert name in INDEX["models"], name
            for suffix in (".0.et.gz", ".1.et.gz", ".comm_groups.json", ".describe.json"):
                assert (DATA / f"{name}{suffix}").is_file(), name + suffix


def test_the_cnn_family_was_recorded_round_robin_in_one_run():
    for name, stats in INDEX["models"].items():
        if name.startswith("cnn_"):
            assert stats.get("round_robin") is True and stats.get("pairs") == 6, name
            assert all(r["steps"] == 48 for r in stats["ranks"].values()), name
        else:
            assert "round_robin" not in stats, name


def test_quality_gate(rec):
    quiet = rec.quiet

    def stats(a, b, halves_a=(100, 100), halves_b=(100, 100)):
        return {"ranks": {"0": {"per_op_min_us": a, "per_op_min_halves_us": list(halves_a)},
                          "1": {"per_op_min_us": b, "per_op_min_halves_us": list(halves_b)}}}

    assert quiet(stats(100, 105))
    assert not quiet(stats(100, 106))                  # ranks 6 % apart
    assert not quiet(stats(100, 100, (100, 106)))      # halves 6 % apart
    # the committed corpus: exactly the models docs/chakra-synth.md names as noisy
    noisy = {name for name, s in INDEX["models"].items() if not quiet(s)}
    assert noisy == {"mlp_384x4", "mlp_512x3", "tfm_48x1", "cnn_12x4"}
