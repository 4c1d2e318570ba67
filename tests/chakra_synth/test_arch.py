"""Architecture laws (arch.py): exact atoms from descriptors — closed forms worked by hand, the budgeted kind
chain, sampling with --describe (valid, byte-identical, exact atoms), privacy of the model file, CLI errors."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from collections import Counter
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from chakra_tools.common import ToolError
from chakra_tools.et import rank_path
from chakra_tools.graph import Trace
from chakra_tools.synth import fit, sample
from chakra_tools.synth.arch import (
    eval_count,
    eval_value,
    find_atom_laws,
    fit_count,
    parse_descriptors,
    predict_architecture,
    read_sidecar,
)
from chakra_tools.synth.cli import cli
from chakra_tools.synth.fit import rank_features
from chakra_tools.synth.model import MarkovSampler, markov_counts
from chakra_tools.synth.sample import draw_atoms
from chakra_tools.validate import check_trace, errors

from .test_synth import DATA, FAMILY_HELD, FAMILY_TRAIN


def _law_set(laws: list[dict]) -> set:
    return {(tuple((c, tuple(e), tuple(g)) for c, e, g in law["terms"]), tuple(law["count"]["c"]), law["count"]["max"])
            for law in laws}


# ------------------------------------------------------------------ closed forms
def test_mlp_gradient_sizes_are_recovered_exactly():
    # the gradient all-reduces of an MLP 128 -> w x d -> 10 in fp32, per (depth d, width w): the output bias
    # 4*10 = 40 B once, d hidden biases of 4w B, the output weight 4*10*w = 40w, the input weight 4*128*w = 512w
    # once, d - 1 hidden weights 4w^2. At w = 128, 512w = 4w^2 = 65536: one atom with count 1 + (d - 1).
    grid = [(1, 64), (1, 128), (1, 256), (2, 96), (2, 192), (3, 64), (3, 128), (3, 256), (4, 96), (4, 192)]
    per = []
    for d, w in grid:
        c: Counter = Counter()
        for v, n in ((40, 1), (4 * w, d), (40 * w, 1), (512 * w, 1), (4 * w * w, d - 1)):
            if n:
                c[float(v)] += n
        per.append(dict(c))
    laws, rest = find_atom_laws(np.array(grid, dtype=float), per)
    # descriptors in name order (depth, width): exponents [e_depth, e_width], no geometric factor [0, 0]
    assert _law_set(laws) == {
        (((40.0, (0, 0), (0, 0)),), (1.0, 0.0, 0.0), None),
        (((4.0, (0, 1), (0, 0)),), (0.0, 1.0, 0.0), None),       # d biases of 4w
        (((40.0, (0, 1), (0, 0)),), (1.0, 0.0, 0.0), None),
        (((512.0, (0, 1), (0, 0)),), (1.0, 0.0, 0.0), None),
        (((4.0, (0, 2), (0, 0)),), (-1.0, 1.0, 0.0), None),      # d - 1 weights of 4w^2
    }
    assert all(not r for r in rest)
    # at an unseen width: mlp_160x2's message sizes, 40, 640 x 2, 6400, 81920, 102400 (what the corpus holds)
    x = np.array([2.0, 160.0])
    got = Counter()
    for law in laws:
        got[eval_value(law, x)] += eval_count(law["count"], x)
    assert dict(got) == {40.0: 1, 640.0: 2, 6400.0: 1, 81920.0: 1, 102400.0: 1}


def test_geometric_and_step_laws():
    # a CNN with stages that halve a 32x32 input and double the channels: its flattened features are
    # c * 2^(9 - D) (c channels first, D stages), so the final Linear(10) weight is 4 * 10 * 512 c 2^-D bytes =
    # 20480 c 2^-D; the bias of stage 3 (16c bytes) exists only for D >= 3: count clip(D - 2, 0, 1)
    grid = [(2, 4), (2, 8), (2, 16), (2, 32), (3, 6), (3, 12), (3, 24), (4, 4), (4, 8), (4, 16), (4, 32)]
    per = []
    for d, c in grid:
        atoms = {float(20480 * c / 2 ** d): 1.0}
        if d >= 3:
            atoms[float(16 * c)] = 1.0
        per.append(atoms)
    laws, rest = find_atom_laws(np.array(grid, dtype=float), per)
    assert _law_set(laws) == {(((20480.0, (0, 1), (-1, 0)),), (1.0, 0.0, 0.0), None),
                              (((16.0, (0, 1), (0, 0)),), (-2.0, 1.0, 0.0), 1.0)}
    assert all(not r for r in rest)
    assert eval_value(laws[0], np.array([3.0, 10.0])) in (25600.0, 160.0)  # cnn_10x3: 20480*10/8 or 16*10


def test_two_term_laws_and_the_rest():
    # addmm with bias: 2 b n m + b m FLOPs (b = 32 batch, m = 10 out): 640 w + 320, once per step; plus values
    # that follow no law (a different random number per trace): they are the rest, one per trace
    grid = [(1, 64), (1, 128), (2, 96), (2, 192), (3, 64), (3, 256)]
    rng = np.random.default_rng(0)
    per = [{float(640 * w + 320): 1.0, float(rng.integers(10**6, 10**7)): 1.0} for _, w in grid]
    laws, rest = find_atom_laws(np.array(grid, dtype=float), per)
    assert _law_set(laws) == {(((320.0, (0, 0), (0, 0)), (640.0, (0, 1), (0, 0))), (1.0, 0.0, 0.0), None)}
    assert [sum(r.values()) for r in rest] == [1.0] * 6


def test_count_laws():
    d = np.array([[1.0], [2.0], [3.0], [4.0]])
    assert fit_count(d, np.array([0, 1, 2, 3])) == {"c": [-1.0, 1.0], "max": None}          # d - 1
    assert fit_count(d, np.array([2, 2, 2, 2])) == {"c": [2.0, 0.0], "max": None}           # a constant
    assert fit_count(d[1:], np.array([0, 1, 1])) == {"c": [-2.0, 1.0], "max": 1.0}          # present iff d >= 3
    assert fit_count(d[1:], np.array([0, 1, 0])) is None                                    # no such law
    # one trace with an extra node of the same value (another law's atom there): only with slack, and the
    # law never says more than is observed
    n = np.array([1, 2, 4, 4])
    assert fit_count(d, n) is None
    assert fit_count(d, n, slack=1) == {"c": [0.0, 1.0], "max": None}


def test_parse_descriptors():
    assert parse_descriptors("width=320,depth=3") == {"depth": 3.0, "width": 320.0}
    assert parse_descriptors(" width:1e3 , depth:2 ", sep=":") == {"depth": 2.0, "width": 1000.0}
    for bad in ("width", "width=abc", "width=-1", "width=0", "width=inf", "3d=2", ""):
        with pytest.raises(ToolError):
            parse_descriptors(bad)


# ------------------------------------------------------------------ the budgeted chain and atom draws
@given(seed=st.integers(0, 2**31), length=st.integers(1, 300), data=st.data())
@settings(max_examples=40, deadline=None)
def test_budgeted_chain_meets_its_budget_exactly(seed, length, data):
    rng = np.random.default_rng(seed)
    seqs = [list(rng.integers(0, 5, rng.integers(5, 60))) for _ in range(3)]
    sampler = MarkovSampler(markov_counts(seqs, 2, 4), 2, 4)
    w = np.array(data.draw(st.lists(st.integers(0, 5), min_size=5, max_size=5)), dtype=float)
    if w.sum() == 0:
        w[0] = 1
    budget = np.floor(w / w.sum() * length)
    budget[int(np.argmax(w))] += length - budget.sum()
    out = sampler.sample(length, np.random.default_rng(seed + 1), budget)
    assert np.array_equal(np.bincount(out, minlength=5), budget)


def test_chain_without_budget_is_unchanged():
    # the budget only reweights; without it the draws are the plain chain's (same rng use, same sequence)
    seqs = [[0, 1, 2, 1, 0, 3] * 7]
    counts = markov_counts(seqs, 1)
    a = MarkovSampler(counts, 1).sample(50, np.random.default_rng(4))
    b = MarkovSampler(counts, 1).sample(50, np.random.default_rng(4), None)
    assert a == b


def test_draw_atoms_apportions_exactly():
    spec = {"values": np.array([40.0, 640.0, 6400.0]), "counts": np.array([1.0, 2.0, 1.0]), "rest_count": 0.0,
            "rest_table": []}
    got = draw_atoms(spec, 4, np.random.default_rng(0))
    assert sorted(got.tolist()) == [40.0, 640.0, 640.0, 6400.0]
    # 8 draws: twice each expected count
    assert Counter(draw_atoms(spec, 8, np.random.default_rng(1)).tolist()) == {40.0: 2, 640.0: 4, 6400.0: 2}


# ------------------------------------------------------------------ the MLP family with its descriptors
@pytest.fixture(scope="module")
def mlp_model(family_models) -> dict:
    return family_models["mlp"]


def _values(prefix) -> dict[str, Counter]:
    f = rank_features(Trace.load(prefix).ranks[0])
    return {a: Counter((k, v) for k, v in zip(f["kinds"], f["numeric"][a]) if v is not None)
            for a in ("num_ops", "tensor_size", "comm_size")}


def test_sidecars_are_read_and_laws_fitted(mlp_model):
    a = mlp_model["architecture"]
    assert a["descriptors"] == ["depth", "width"] and a["traces"] == len(FAMILY_TRAIN["mlp"])
    assert read_sidecar(FAMILY_TRAIN["mlp"][0]) == {"depth": 1.0, "width": 64.0}  # mlp_64x1


def test_held_out_atoms_are_exact(mlp_model, tmp_path):
    # every FLOP count, tensor byte count and message size of each held-out MLP (never fitted) is reproduced
    # exactly, on the right kind, as often as in the recorded trace
    for h in FAMILY_HELD["mlp"]:
        real = _values(h)
        pred = predict_architecture(mlp_model["architecture"], np.array([read_sidecar(h)[k] for k in
                                                                         ("depth", "width")]))
        for a, counter in real.items():
            laws = Counter()
            for k, attrs in pred["attrs"].items():
                if a in attrs:
                    for v, c in zip(attrs[a]["values"].tolist(), attrs[a]["counts"].tolist()):
                        laws[(k, v)] += c
            assert +laws == +Counter({key: float(c) for key, c in counter.items()}), (h, a)
        sample(mlp_model, tmp_path / "s", ranks=2, seed=3, describe=read_sidecar(h))
        assert _values(tmp_path / "s") == real, h


@given(seed=st.integers(0, 2**31), ranks=st.integers(1, 4), width=st.integers(8, 2048), depth=st.integers(1, 6))
@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
def test_described_samples_validate(mlp_model, tmp_path_factory, seed, ranks, width, depth):
    # inside and far outside the corpus (widths 64-512, depths 1-4): valid by construction
    prefix = tmp_path_factory.mktemp("d") / "x"
    s = sample(mlp_model, prefix, ranks=ranks, seed=seed, describe={"width": width, "depth": depth})
    t = Trace.load(prefix)
    assert not errors(check_trace(t))
    assert all(len(g.nodes) == s["nodes_per_rank"] for g in t.ranks.values())
    colls = [[(c.comm_type, c.comm_size) for c in g.collectives()] for g in t.ranks.values()]
    assert all(c == colls[0] for c in colls)


def test_described_sample_same_seed_same_bytes(mlp_model, tmp_path):
    for name in ("a", "b", "c"):
        sample(mlp_model, tmp_path / name, ranks=2, seed=5 if name != "c" else 6, describe={"width": 320, "depth": 3})
    a = [rank_path(tmp_path / "a", r).read_bytes() for r in range(2)]
    assert a == [rank_path(tmp_path / "b", r).read_bytes() for r in range(2)]
    assert a != [rank_path(tmp_path / "c", r).read_bytes() for r in range(2)]


def _held_out_only_values() -> dict[str, set[tuple[str, str, float]]]:
    """Per held-out model: its distinct (kind, attribute, value) whose value (num_ops, tensor_size, comm_size)
    occurs in no training trace of any family — what a model file could only know by having seen it."""
    def distinct(prefix):
        out = set()
        for g in Trace.load(prefix).ranks.values():
            f = rank_features(g)
            for a in ("num_ops", "tensor_size", "comm_size"):
                out.update((k, a, v) for k, v in zip(f["kinds"], f["numeric"][a]) if v is not None)
        return out
    train = {v for ps in FAMILY_TRAIN.values() for p in ps for *_, v in distinct(p)}
    return {Path(h).name: {x for x in distinct(h) if x[2] not in train} for hs in FAMILY_HELD.values() for h in hs}


def _numbers(text: str) -> set[float]:
    return {float(x) for x in re.findall(r"-?\d+(?:\.\d+)?(?:[eE][-+]?\d+)?", text)}


def _leaks(model: dict, vals: set[tuple[str, str, float]]) -> dict[str, set[float]]:
    """Where a model file holds held-out values: in the laws of their own kind and attribute or the rest of the
    architecture block ("own"), in another kind's laws ("other law") or elsewhere in the file ("elsewhere")."""
    arch = model["architecture"]
    # (without `traces`, the number of training traces: 20 CNNs, which cnn_10x3 also has as a value)
    rest = _numbers(json.dumps({k: v for k, v in arch.items() if k not in ("traces", "kinds")}))
    rest |= _numbers(json.dumps({k: spec["count"] for k, spec in arch["kinds"].items()}))
    own = {(k, a): _numbers(json.dumps(law)) for k, spec in arch["kinds"].items()
           for a, law in spec.get("attrs", {}).items()}
    any_law = set().union(*own.values())
    whole = _numbers(json.dumps(model))
    return {"own": {v for k, a, v in vals if v in own.get((k, a), set()) | rest},
            "other law": {v for *_, v in vals} & any_law,
            "elsewhere": {v for *_, v in vals if v >= 100} & (whole - any_law - rest)}


def test_model_files_hold_no_held_out_value(family_models):
    # a model fitted on a family's training traces holds, in its architecture laws, coefficients, exponents
    # and counts: none of the values of a held-out model that no training trace has appears in the laws of its
    # own kind and attribute, nor in the rest of the architecture block — the laws imply them (640 = 4 x 160 is
    # there as "4, exponent 1" only)
    new = _held_out_only_values()
    assert sum(len(v) for v in new.values()) > 200  # the check has something to find (217 values)
    for fam, model in family_models.items():
        for h, vals in new.items():
            if h.startswith(fam):
                leaks = _leaks(model, vals)
                assert not leaks["own"], (fam, h, sorted(leaks["own"]))
                # another kind's law can hold one only by coincidence (measured: 450560, cnn_10x3's pool-backward
                # tensor bytes, is the first conv's FLOPs per channel); elsewhere in the file (the corpus tables
                # that predate the laws) by a 65-point quantile interpolated between training values or an n-gram
                # count (measured: 38400 in mlp_320x3, 240 in tfm_80x2): at most one of each per held-out model
                assert len(leaks["other law"]) <= 1 and len(leaks["elsewhere"]) <= 1, (fam, h, leaks)
    # control: laws that stored one held-out trace's values under their kind fail the check
    h = next(n for n in new if n.startswith("mlp") and len(new[n]) > 5)
    k, a, v = sorted(new[h])[0]
    arch = family_models["mlp"]["architecture"]
    leaky_kind = {**arch["kinds"][k], "attrs": {**arch["kinds"][k]["attrs"], a: {"x": [v]}}}
    leaky = {**family_models["mlp"], "architecture": {**arch, "kinds": {**arch["kinds"], k: leaky_kind}}}
    assert _leaks(leaky, new[h])["own"] == {v}


# ------------------------------------------------------------------ CLI
def test_fit_describe_option_overrides_sidecars(tmp_path):
    # the same four traces described as if their widths were twice as large: the laws' coefficients halve
    prefixes = [p for p in FAMILY_TRAIN["mlp"] if p.endswith("x1")]
    args = [f"{p}=width:{2 * int(read_sidecar(p)['width'])},depth:1" for p in prefixes]
    m = fit(prefixes, describe=[parse_descriptors(a.split("=", 1)[1], sep=":") for a in args])
    res = CliRunner().invoke(cli, ["fit", *prefixes, *sum((["--describe", a] for a in args), []),
                                   "-o", str(tmp_path / "m.json"), "-q"])
    assert res.exit_code == 0, res.output
    cli_model = json.loads((tmp_path / "m.json").read_text())
    assert cli_model["architecture"] == json.loads(json.dumps(m["architecture"]))
    terms = {law["terms"][0][0] for law in m["architecture"]["kinds"]["COLL:ALL_REDUCE"]["attrs"]["comm_size"]["atoms"]
             if len(law["terms"]) == 1 and law["terms"][0][1] == [0, 1]}
    assert {2.0, 20.0, 256.0} <= terms  # 4w, 40w, 512w with w doubled


@pytest.mark.parametrize("args, message", [
    (["--describe", "width=320"], "missing depth"),
    (["--describe", "width=320,depth=3,heads=4"], "unknown heads"),
    (["--describe", "width=abc,depth=3"], "must be a number"),
    (["--describe", "width=320,depth=3", "--param-bytes", "1MiB"], "drop --param-bytes"),
    (["--describe", "width=320,depth=3", "--nodes", "100"], "drop --param-bytes"),
])
def test_sample_describe_errors_are_one_line(tmp_path, args, message):
    model = DATA.parents[2] / "examples" / "configs" / "chakra-synth" / "mlp.model.json"
    exe = Path(sys.executable).with_name("chakra-synth")
    res = subprocess.run([str(exe), "sample", str(model), "-o", str(tmp_path / "s"), "--ranks", "2", *args],
                         capture_output=True, text=True)
    assert res.returncode == 1 and len(res.stderr.strip().splitlines()) == 1 and message in res.stderr, res.stderr
    assert not list(tmp_path.glob("s.*"))


def test_describe_needs_architecture_laws(tmp_path):
    m = fit(FAMILY_TRAIN["mlp"][:3])  # three described traces: too few for laws
    assert "architecture" not in m
    (tmp_path / "m.json").write_text(json.dumps(m))
    res = CliRunner().invoke(cli, ["sample", str(tmp_path / "m.json"), "-o", str(tmp_path / "s"), "--ranks", "2",
                                   "--describe", "width=64,depth=1"])
    assert res.exit_code == 1 and "architecture laws" in str(res.exception) + res.output


def test_fit_describe_errors_are_one_line(tmp_path):
    exe = Path(sys.executable).with_name("chakra-synth")
    p = FAMILY_TRAIN["mlp"][:4]
    (tmp_path / "bad.describe.json").write_text("{not json")
    for extra, message in ((["--describe", "nope=width:3"], "not one of the traces"),
                           (["--describe", f"{p[0]}=width"], "NAME:VALUE"),
                           (["--describe", f"{p[0]}=width:64"], "differ from the other traces")):
        res = subprocess.run([str(exe), "fit", *p, *extra, "-o", str(tmp_path / "m.json")], capture_output=True,
                             text=True)
        assert res.returncode == 1 and len(res.stderr.strip().splitlines()) == 1 and message in res.stderr, res.stderr
        assert not (tmp_path / "m.json").exists()


def test_malformed_sidecar_is_one_line(tmp_path):
    import shutil
    for r in (0, 1):
        shutil.copy(f"{FAMILY_TRAIN['mlp'][0]}.{r}.et.gz", tmp_path / f"t.{r}.et.gz")
    (tmp_path / "t.describe.json").write_text('{"width": "wide"}')
    res = CliRunner().invoke(cli, ["fit", str(tmp_path / "t"), "-o", str(tmp_path / "m.json")])
    assert res.exit_code == 1 and "t.describe.json: width must be a number" in str(res.exception) + res.output


def test_unreadable_sidecar_is_a_tool_error(tmp_path):
    assert read_sidecar(tmp_path / "none") is None
    (tmp_path / "bin.describe.json").write_bytes(b"\xff\xfe{}")
    with pytest.raises(ToolError, match=r"bin\.describe\.json: not a text file"):
        read_sidecar(tmp_path / "bin")
    (tmp_path / "bad.describe.json").write_text("{not json")
    with pytest.raises(ToolError, match=r"bad\.describe\.json: not valid JSON"):
        read_sidecar(tmp_path / "bad")
    (tmp_path / "ok.describe.json").write_text('{"width": 64, "depth": 2}')
    assert read_sidecar(tmp_path / "ok") == {"depth": 2.0, "width": 64.0}


# ------------------------------------------------------------------ what sample says about its target
def test_summary_gives_the_calibrated_compute_path_and_flags_extrapolation(mlp_model, tmp_path):
    import math

    from chakra_tools.synth.features import compute_path_us
    # inside the corpus' box (width 64..512, depth 1..4): no flag; the compute path is what the ranks got
    s = sample(mlp_model, tmp_path / "in", ranks=2, seed=1, describe={"width": 320, "depth": 3})
    assert "outside_corpus" not in s
    paths = [compute_path_us(g) for g in Trace.load(tmp_path / "in").ranks.values()]
    # each rank is calibrated to the predicted path x its speed (geometric mean 1), up to integer durations
    assert math.exp(np.mean(np.log(paths))) == pytest.approx(s["compute_path_us"], rel=0.005)
    assert s["compute_path_us"] == pytest.approx(
        sample(mlp_model, tmp_path / "x2", ranks=2, seed=1, scale_compute=2.0,
               describe={"width": 320, "depth": 3})["compute_path_us"] / 2, rel=1e-6)
    # beyond it: the descriptors outside the training range, named with the range
    s = sample(mlp_model, tmp_path / "out", ranks=2, seed=1, describe={"width": 768, "depth": 3})
    assert s["outside_corpus"] == {"width": {"value": 768.0, "range": [64.0, 512.0]}}
    s = sample(mlp_model, tmp_path / "small", ranks=2, seed=1, describe={"width": 32, "depth": 6})
    assert set(s["outside_corpus"]) == {"width", "depth"}
    # the size path checks its three size descriptors against the size laws' range (stored to 4 digits)
    lo, hi = mlp_model["scaling"]["range"][0]
    s = sample(mlp_model, tmp_path / "p", ranks=2, seed=1, param_bytes=hi)
    assert "param_bytes" not in s.get("outside_corpus", {})
    s = sample(mlp_model, tmp_path / "big", ranks=2, seed=1, param_bytes=4 * hi)
    assert s["outside_corpus"]["param_bytes"] == {"value": 4 * hi, "range": [lo, hi]}


def test_cli_warns_in_one_line_when_extrapolating(mlp_model, tmp_path):
    exe = Path(sys.executable).with_name("chakra-synth")
    (tmp_path / "m.json").write_text(json.dumps(mlp_model))
    args = [str(exe), "sample", str(tmp_path / "m.json"), "--ranks", "2", "--seed", "1", "--describe"]
    res = subprocess.run([*args, "width=768,depth=3", "-o", str(tmp_path / "a")], capture_output=True, text=True)
    assert res.returncode == 0 and "compute path" in res.stdout + res.stderr
    warnings = [line for line in res.stderr.splitlines() if line.startswith("warning:")]
    assert len(warnings) == 1 and "width 768 > 512" in warnings[0], res.stderr
    res = subprocess.run([*args, "width=320,depth=3", "-o", str(tmp_path / "b")], capture_output=True, text=True)
    assert res.returncode == 0 and "warning" not in res.stderr
