"""Hand-edited / corrupted model files: `sample` exits 0, 1 (one error line) or 2, never a traceback."""

from __future__ import annotations

import json

import pytest
from hypothesis import HealthCheck, given, settings

from chakra_tools.synth import fit
from tests.hardening.harness import mutated, run_clean

from .test_synth import FAMILY_TRAIN, TRAIN


@pytest.fixture(scope="module")
def small_model() -> dict:
    return fit(TRAIN[:1])


@pytest.fixture(scope="module")
def law_model() -> dict:
    """A model with size laws (4 one-layer MLPs of different widths), kept small for the mutators."""
    m = fit([p for p in FAMILY_TRAIN["mlp"] if p.endswith("x1")], order=1, bins=4)
    assert "scaling" in m
    return m


@pytest.fixture(scope="module")
def arch_model() -> dict:
    """A model with architecture laws (4 one-layer MLPs with their descriptors), kept small for the mutators."""
    m = fit([p for p in FAMILY_TRAIN["mlp"] if p.endswith("x1")], order=1, bins=4)
    assert "architecture" in m
    return m


def _sample_fuzzed(strategy, args: list[str], tmp_path_factory, capsys, examples: int,
                   shown=lambda doc: doc) -> list[int]:
    """`chakra-synth sample MODEL -o PREFIX ARGS -q` on each drawn model document: exit 0, or 1 or 2 with one
    line and no output (run_clean). Returns the exit codes; `shown(doc)` is what a failure prints of the doc."""
    codes: list[int] = []

    @given(doc=strategy)
    @settings(max_examples=examples, deadline=None, suppress_health_check=list(HealthCheck))
    def run(doc):
        d = tmp_path_factory.mktemp("fz")
        (d / "m.json").write_text(json.dumps(doc))
        code, _ = run_clean("chakra-synth", ["sample", str(d / "m.json"), "-o", str(d / "s"), *args, "-q"], capsys,
                            json.dumps(shown(doc))[:200], outputs=[d / "s"])
        codes.append(code)

    run()
    return codes


def _fuzz(model: dict, extra: list[str], tmp_path_factory, capsys, examples: int,
          part: str | None = None) -> list[int]:
    # with `part`, only that block of the model is mutated (the mutators pick uniformly over the whole
    # document, where a small block would rarely be hit)
    strategy = mutated(model) if part is None else mutated(model[part]).map(lambda b: {**model, part: b})
    nodes = [] if "--describe" in extra else ["--nodes", "60"]  # --describe sets the nodes itself
    return _sample_fuzzed(strategy, ["--ranks", "3", *nodes, *extra], tmp_path_factory, capsys, examples)


def test_mutated_models_fail_cleanly(small_model, tmp_path_factory, capsys):
    _fuzz(small_model, [], tmp_path_factory, capsys, 120)


def test_mutated_size_laws_fail_cleanly(law_model, tmp_path_factory, capsys):
    _fuzz(law_model, ["--param-bytes", "300000"], tmp_path_factory, capsys, 80)


def test_mutated_architecture_laws_fail_cleanly(arch_model, tmp_path_factory, capsys):
    codes = _fuzz(arch_model, ["--describe", "width=300,depth=1"], tmp_path_factory, capsys, 80, part="architecture")
    codes += _fuzz(arch_model, ["--describe", "width=3000,depth=5"], tmp_path_factory, capsys, 80)
    assert codes.count(0) >= 10 and codes.count(1) >= 10  # both the sampling and the checks were exercised


def test_check_model_bounds(law_model):
    """The bounds of a few model fields, at their edges (the checks share one number-list helper)."""
    import copy

    from chakra_tools.common import ToolError
    from chakra_tools.synth.model_check import check_model

    check_model(law_model)
    k = next(k for k, st in law_model["kind_stats"].items() if "work" in st)

    def with_residual(v):
        m = copy.deepcopy(law_model)
        m["kind_stats"][k]["work"]["log_residual"] = v
        return m

    check_model(with_residual([-50, -1.5, 0, 50.0]))  # a log residual may be negative, down to -50
    for bad in ([-50.5], [51], [True], [float("nan")], None, "x"):
        with pytest.raises(ToolError, match=r"\.work must hold"):
            check_model(with_residual(bad))
    m = copy.deepcopy(law_model)
    m["cross_rank"]["duration_log_sd"] = 5.0
    check_model(m)
    m["cross_rank"]["duration_log_sd"] = 5.01
    with pytest.raises(ToolError, match="cross_rank.duration_log_sd"):
        check_model(m)
    m = copy.deepcopy(law_model)
    m["scaling"]["kind_laws"]["COMP:nonesuch"] = {}
    with pytest.raises(ToolError, match=r"malformed size laws at 'scaling.kind_laws \(a kind not in 'kinds'\)'"):
        check_model(m)
    m["scaling"]["center"][0] = 1e3  # |center| < 1e3: the bound is open
    with pytest.raises(ToolError, match="'scaling.center'"):
        check_model(m)


def test_mutated_time_correction_fails_cleanly(family_models, tmp_path_factory, capsys):
    """The kriged time correction (only models of >= 5 described traces have one: the MLP family's)."""
    model = family_models["mlp"]
    block = model["architecture"]["time_correction"]
    strategy = mutated(block).map(lambda b: {**model, "architecture": {**model["architecture"], "time_correction": b}})
    codes = _sample_fuzzed(strategy, ["--ranks", "2", "--describe", "width=128,depth=2"], tmp_path_factory, capsys,
                           40, shown=lambda doc: doc["architecture"]["time_correction"])
    assert codes.count(1) >= 5, codes  # the checks were exercised (a mutated number may still be valid: 0)


def test_mutated_pipeline_programs_fail_cleanly(tmp_path_factory, capsys):
    """A model of several programs (programs.py): its `programs` block (the per-program models, skeletons, rank
    layout) corrupted; `sample` at the model's world either writes a valid trace or says why in one line."""
    from .test_programs import _write_pipeline
    d = tmp_path_factory.mktemp("pp")
    _write_pipeline(d / "t", 2, 2, "1f1b")
    model = fit([str(d / "t")], order=1, bins=4)
    strategy = mutated(model["programs"]).map(lambda b: {**model, "programs": b})
    codes = _sample_fuzzed(strategy, ["--ranks", "2"], tmp_path_factory, capsys, 80)
    assert codes.count(0) >= 5 and codes.count(1) >= 5
