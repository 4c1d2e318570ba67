"""Hand-edited / corrupted model files: `sample` exits 0, 1 (one error line) or 2, never a traceback."""

from __future__ import annotations

import json

import pytest
from hypothesis import HealthCheck, given, settings

from chakra_tools.synth import fit
from tests.hardening.harness import assert_clean, mutated, run_tool

from .test_synth import TRAIN


@pytest.fixture(scope="module")
def small_model() -> dict:
    return fit(TRAIN[:1])


def test_mutated_models_fail_cleanly(small_model, tmp_path_factory, capsys):
    @given(doc=mutated(small_model))
    @settings(max_examples=120, deadline=None, suppress_health_check=list(HealthCheck))
    def run(doc):
        d = tmp_path_factory.mktemp("fz")
        (d / "m.json").write_text(json.dumps(doc))
        code, _, err = run_tool("chakra-synth", ["sample", str(d / "m.json"), "-o", str(d / "s"), "--ranks", "3",
                                                 "--nodes", "60", "-q"], capsys)
        assert_clean("chakra-synth", code, err, json.dumps(doc)[:200])
        if code != 0:
            assert not list(d.glob("s.*"))

    run()
