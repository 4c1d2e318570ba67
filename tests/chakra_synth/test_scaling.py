"""Size laws (scaling.py), the work model and size-conditioned sampling: closed forms and invariants."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner
from hypothesis import given, settings
from hypothesis import strategies as st

from chakra_tools.et import rank_path
from chakra_tools.graph import Trace
from chakra_tools.synth import fit, sample
from chakra_tools.synth.cli import cli
from chakra_tools.synth.features import compute_path_us
from chakra_tools.synth.fit import work_model
from chakra_tools.synth.scaling import (
    check_scaling,
    fit_cost,
    fit_law,
    predict_cost,
    predict_law,
    trace_descriptors,
)
from chakra_tools.synth.targets import condition, expected_compute_us, resolve_target
from chakra_tools.synth.timing import rank_speeds
from chakra_tools.validate import check_trace, errors

from .test_synth import FAMILY_TRAIN


@pytest.fixture(scope="module")
def mlp_model(family_models) -> dict:
    return family_models["mlp"]


# ------------------------------------------------------------------ closed forms
def test_quantile_law_recovers_a_power_law_and_keeps_atoms():
    # six "traces" whose quantile function is Q(p) = s**0.5 * q0(p) - 1 (so log1p Q = 0.5 log s + log q0(p)),
    # with q0 holding an atom (a flat stretch). Exact data: the fit must give slope 0.5 at every p, intercept
    # log q0(p) at the centre s = 1, and predict an unseen s exactly, the atom still an atom.
    q0 = np.array([2.0] * 20 + list(np.linspace(2.0, 50.0, 45)))
    sizes = np.array([0.25, 0.5, 1.0, 2.0, 4.0, 8.0])
    tables = [np.sqrt(s) * q0 - 1 for s in sizes]
    X = np.log(sizes)[:, None]
    law = fit_law(tables, X, [1.0] * 6, center=np.zeros(1))
    # ridge (RIDGE = 0.05 of the variance) shrinks the slope to 0.5 / 1.05 and moves the intercept at the
    # centre by the shrinkage times the mean log size xm: a = log q0 + 0.5 xm (1 - 1 / 1.05)
    b = 0.5 / 1.05
    xm = float(np.log(sizes).mean())
    assert np.allclose(law["b"][0], b, atol=2e-5)
    assert np.allclose(law["a"], np.log(q0) + 0.5 * xm * (1 - 1 / 1.05), atol=2e-5)
    x = np.log(3.0)
    pred = predict_law(law, np.array([x]))
    assert np.allclose(pred, q0 * np.exp(b * x + 0.5 * xm * (1 - 1 / 1.05)) - 1, rtol=1e-4)
    # the atom (first 20 levels) stays one value; the rest strictly increases
    assert len(set(pred[:20].round(6))) == 1 and np.all(np.diff(pred[20:]) > 0)


def test_a_descriptor_that_barely_changes_gets_no_slope():
    # the same power law as above in a first descriptor, and a second one that spans 2 % over the traces (the node
    # count of one pipeline at several widths) carrying only noise: without a floor on its range the ridge,
    # relative to its tiny variance, fits the noise with a slope of 1.5 (up to 118 in the recorded pipeline's
    # model); with it, that slope is exactly 0 and the first is the one-descriptor fit's
    q0 = np.linspace(2.0, 50.0, 65)
    sizes = np.array([0.25, 0.5, 1.0, 2.0, 4.0, 8.0])
    noise = np.array([0.0, 0.01, -0.01, 0.02, 0.0, -0.005])
    tables = [np.sqrt(s) * q0 * np.exp(n) - 1 for s, n in zip(sizes, noise)]
    nodes = np.log([430.0, 435.0, 431.0, 439.0, 430.0, 433.0])
    law = fit_law(tables, np.c_[np.log(sizes), nodes], [1.0] * 6, center=np.zeros(2))
    assert law["b"][1] == [0.0] * 65
    alone = fit_law(tables, np.log(sizes)[:, None], [1.0] * 6, center=np.zeros(1))
    assert np.allclose(law["b"][0], alone["b"][0]) and np.allclose(law["a"], alone["a"])
    assert np.all(np.abs(np.array(law["b"][0]) - 0.5 / 1.05) < 0.01)


def test_quantile_law_without_enough_traces_is_the_barycentre():
    # 3 traces (< MIN_TRACES): slopes 0, intercept = weighted mean of log1p tables (the log-space barycentre)
    t = [[0.0, 1.0, 3.0], [1.0, 3.0, 7.0], [3.0, 7.0, 15.0]]
    law = fit_law(t, np.log([[1.0], [2.0], [4.0]]), [1.0, 1.0, 2.0], center=np.zeros(1))
    assert law["b"] == [[0.0, 0.0, 0.0]]
    expect = (np.log1p(t[0]) + np.log1p(t[1]) + 2 * np.log1p(t[2])) / 4
    assert np.allclose(law["a"], expect, atol=1e-5)


def test_predictions_never_cross():
    law = {"a": [0.0, 1.0, 2.0], "b": [[3.0, 0.0, -3.0]]}  # lines cross for x > 1/3: sorted (rearranged)
    pred = predict_law(law, np.array([1.0]))
    assert list(pred) == sorted(pred) and np.allclose(sorted(pred), sorted(np.expm1([3.0, 1.0, -1.0]).clip(0)))


def test_cost_law_recovers_known_coefficients():
    # T = 500 + 7 us/node + 2e-5 us/FLOP + 0 us/byte, exact: NNLS returns these (the byte term stays 0)
    rng = np.random.default_rng(0)
    desc = [{"nodes": float(n), "flops": float(f), "param_bytes": float(p)}
            for n, f, p in zip(rng.integers(100, 2000, 8), rng.uniform(1e6, 1e9, 8), rng.uniform(1e4, 1e7, 8))]
    T = [500 + 7 * d["nodes"] + 2e-5 * d["flops"] for d in desc]
    c = fit_cost(desc, T)
    assert c == pytest.approx([500, 7, 2e-5, 0], rel=1e-4, abs=1e-9)
    assert predict_cost(c, {"nodes": 1000, "flops": 1e8, "param_bytes": 1}) == pytest.approx(500 + 7000 + 2000)


def test_work_model_recovers_overhead_and_rate():
    # d = 5 us + ops / 50 FLOP/us exactly: overhead 5, 0.02 us/FLOP, residuals all log(1) = 0
    ops = np.geomspace(10, 1e7, 40)
    wm = work_model([(o, 5 + o / 50) for o in ops])
    assert wm["overhead_us"] == pytest.approx(5, rel=1e-4) and wm["us_per_op"] == pytest.approx(0.02, rel=1e-4)
    assert max(abs(v) for v in wm["log_residual"]) < 1e-3
    assert work_model([(1.0, 2.0)] * 7) is None  # too few nodes


def test_expected_compute_of_a_hand_model():
    # one compute kind (all nodes), durations uniform 0..10 (mean 5); one collective kind, 1 node in 4:
    # 100 nodes -> 75 compute nodes x 5 us = 375 us
    stats = {"COMP:x": {"count": 3, "duration_us": list(np.linspace(0, 10, 65))},
             "COLL:ALL_REDUCE": {"count": 1, "duration_us": [1000.0] * 65}}
    assert expected_compute_us(stats, 100) == pytest.approx(375)


# ------------------------------------------------------------------ fitted laws on the MLP family
def test_laws_fitted_and_bounded(mlp_model):
    sc = mlp_model["scaling"]
    assert check_scaling(sc) is None and sc["traces"] == len(FAMILY_TRAIN["mlp"])
    # the FLOP law in parameter bytes: an MLP step does ~6 FLOPs per parameter and sample (batch 32, 4-byte
    # parameters -> 48 FLOPs per parameter byte) plus per-activation work: the exponent is close to 1
    assert 0.8 < sc["flops_law"]["b"][0][0] < 1.1
    # the work model of matmuls: a FLOP rate between 1 and 1000 GFLOP/s on a CPU core
    wm = mlp_model["kind_stats"]["COMP:matmul"]["work"]
    assert 1e-6 < wm["us_per_op"] < 1e-3


def test_conditioned_sample_follows_the_target(mlp_model, tmp_path):
    small = sample(mlp_model, tmp_path / "s", ranks=2, seed=3, param_bytes=100_000)
    big = sample(mlp_model, tmp_path / "b", ranks=2, seed=3, param_bytes=4_000_000)
    for p in ("s", "b"):
        t = Trace.load(tmp_path / p)
        assert not errors(check_trace(t))
    # defaults from the laws: FLOPs and nodes grow with the parameter bytes; so do the drawn message sizes
    assert big["target"]["flops"] > 10 * small["target"]["flops"]
    assert big["nodes_per_rank"] >= small["nodes_per_rank"]
    assert big["comm_bytes_per_rank"] > 5 * small["comm_bytes_per_rank"]
    # every rank's compute path is calibrated to nodes x the conditioned rate x its speed (integer rounding only)
    target = resolve_target(mlp_model, 4_000_000, None, None)
    _, rate = condition(mlp_model, target)
    speeds = rank_speeds(mlp_model, 2, 3)
    for r, g in sorted(Trace.load(tmp_path / "b").ranks.items()):
        assert compute_path_us(g) == pytest.approx(rate * target.nodes * speeds[r], rel=0.01)


def test_conditioned_sample_same_seed_same_bytes(mlp_model, tmp_path):
    for name in ("a", "b"):
        sample(mlp_model, tmp_path / name, ranks=3, nodes=250, seed=9, param_bytes=500_000, flops=2e7)
    assert all(rank_path(tmp_path / "a", r).read_bytes() == rank_path(tmp_path / "b", r).read_bytes()
               for r in range(3))


def test_describe_matches_the_trace(tmp_path):
    prefix = FAMILY_TRAIN["mlp"][0]
    d = trace_descriptors(prefix)
    t = Trace.load(prefix)
    g = t.ranks[0]
    assert d["nodes"] == len(g.nodes)
    assert d["param_bytes"] == sum(c.comm_size for c in g.collectives())
    res = CliRunner().invoke(cli, ["describe", prefix, "--json"])
    # and the architecture descriptors of its sidecar (mlp_64x1.describe.json)
    assert res.exit_code == 0 and json.loads(res.output) == {**d, "architecture": {"depth": 1, "width": 64}}


def test_param_bytes_needs_size_laws(tmp_path):
    m = fit(FAMILY_TRAIN["mlp"][:2])  # two traces: no laws
    assert "scaling" not in m
    path = tmp_path / "m.json"
    path.write_text(json.dumps(m))
    res = CliRunner().invoke(cli, ["sample", str(path), "-o", str(tmp_path / "s"), "--ranks", "2",
                                   "--param-bytes", "1MiB"])
    assert res.exit_code == 1 and "size laws" in str(res.exception) + res.output
    assert not list(tmp_path.glob("s.*"))


def test_malformed_laws_are_one_line(mlp_model, tmp_path):
    bad = json.loads(json.dumps(mlp_model))
    bad["scaling"]["kind_laws"]["COMP:matmul"]["num_ops"]["b"] = [[1.0]]
    path = tmp_path / "bad.json"
    path.write_text(json.dumps(bad))
    res = CliRunner().invoke(cli, ["sample", str(path), "-o", str(tmp_path / "s"), "--ranks", "2",
                                   "--param-bytes", "1MiB"])
    assert res.exit_code == 1 and "malformed size laws" in str(res.exception) + res.output


def test_example_model_is_current(mlp_model):
    # examples/configs/chakra-synth/mlp.model.json (used by the demo and the hardening cases) is the model of the
    # MLP training traces: refit it after changing fit or the corpus
    #   chakra-synth fit <the mlp training traces> -o examples/configs/chakra-synth/mlp.model.json
    from .test_synth import DATA
    path = DATA.parents[2] / "examples" / "configs" / "chakra-synth" / "mlp.model.json"
    assert json.loads(path.read_text()) == json.loads(json.dumps(mlp_model))


@settings(max_examples=200, deadline=None)
@given(st.lists(st.integers(0, 10**9), min_size=1, max_size=40), st.integers(1, 10**12))
def test_fit_totals_makes_the_sums_exact(values, total):
    from chakra_tools.synth.sample import Program, fit_totals
    n = len(values)
    prog = Program(kinds=["COLL:ALL_REDUCE"] * n, data_deps=[[] for _ in range(n)], ctrl_deps=[[] for _ in range(n)],
                   comm_size=dict(enumerate(values)), p2p={}, duration_us=np.zeros(n),
                   extra={"num_ops": dict(enumerate(values)), "tensor_size": {}})
    fit_totals(prog, total, total)
    for got in (prog.comm_size, prog.extra["num_ops"]):
        if sum(values) == 0:
            assert list(got.values()) == values  # nothing to scale
            continue
        assert sum(got.values()) == max(total, sum(1 for v in values if v > 0))  # exact (each drawn size >= 1 B)
        assert all((g > 0) == (v > 0) for g, v in zip(got.values(), values))


def test_exact_totals_hit_the_target_and_stay_valid(tmp_path, family_models):
    model = family_models["tfm"]
    s = sample(model, tmp_path / "a", ranks=2, seed=1, param_bytes=673960, flops=57974711, exact_totals=True)
    got = trace_descriptors(tmp_path / "a")
    assert (got["param_bytes"], got["flops"]) == (673960, 57974711)
    assert s["drawn"]["param_bytes"] == 673960 and not errors(check_trace(Trace.load(tmp_path / "a")))
    sample(model, tmp_path / "b", ranks=2, seed=1, param_bytes=673960, flops=57974711, exact_totals=True)
    assert all(rank_path(tmp_path / "a", r).read_bytes() == rank_path(tmp_path / "b", r).read_bytes() for r in (0, 1))
    mlp = Path(__file__).resolve().parents[2] / "examples" / "configs" / "chakra-synth" / "mlp.model.json"
    res = CliRunner().invoke(cli, ["sample", str(mlp), "-o", str(tmp_path / "c"), "--ranks", "2", "--exact-totals"])
    assert res.exit_code == 1 and "--exact-totals needs --param-bytes" in str(res.exception) + res.output


def test_describe_reads_the_sums_fit_takes(dlrm):
    """trace_descriptors reads its sums off the nodes (scaling.rank_totals, which fit's rank_size uses too); a
    second route, the sums over fit's per-node features (kinds and numeric attributes), must agree on every kind
    of trace: CPU families, process groups, pipelines, threads, the GPU DLRM step."""
    from chakra_tools.synth.fit import rank_features
    from chakra_tools.synth.scaling import descriptors

    def by_features(g) -> dict:
        f = rank_features(g)
        comm = sum(v or 0 for k, v in zip(f["kinds"], f["numeric"]["comm_size"]) if k.startswith("COLL:"))
        return {"nodes": len(f["kinds"]), "comm_bytes": comm, "flops": sum(v or 0 for v in f["numeric"]["num_ops"])}

    data = Path(__file__).resolve().parents[1] / "data"
    for prefix in (data / "synth" / "cnn_20x2", data / "tpdp" / "tp2dp2", data / "tpdp" / "pp2dp2",
                   data / "threads" / "prefetch", data / "et" / "hybrid", dlrm):
        t = Trace.load(prefix)
        want = descriptors([by_features(g) for _, g in sorted(t.ranks.items()) if g.nodes])
        assert trace_descriptors(prefix) == {k: int(round(v)) for k, v in want.items()}, prefix
