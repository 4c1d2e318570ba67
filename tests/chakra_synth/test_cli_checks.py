"""chakra-synth's refusals (a review's findings): outputs over a trace's sidecars, a prefix holding another trace's
rank files, ambiguous descriptors, model files that pass the old structural checks but are nonsense, sizes beyond
an ET's 64-bit fields. Each is one line, exit 1 or 2, and writes nothing."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner

from chakra_tools.synth.cli import cli

DATA = Path(__file__).resolve().parents[1] / "data" / "synth"
MODEL = Path(__file__).resolve().parents[2] / "examples" / "configs" / "chakra-synth" / "mlp.model.json"


def run(*args):
    return CliRunner().invoke(cli, [str(a) for a in args])


def message(res) -> str:
    return str(res.exception) + res.output


@pytest.fixture()
def traces(tmp_path):
    for name in ("mlp_64x1", "mlp_64x3"):
        for f in DATA.glob(f"{name}.*"):
            shutil.copy(f, tmp_path / f.name)
    return tmp_path


@pytest.mark.parametrize("sidecar", ["describe.json", "comm_groups.json"])
def test_fit_and_compare_never_overwrite_a_traces_sidecar(traces, sidecar):
    target = traces / f"mlp_64x1.{sidecar}"
    before = target.read_bytes()
    res = run("fit", traces / "mlp_64x1", traces / "mlp_64x3", "-o", target, "-q")
    assert res.exit_code == 1 and "refusing to overwrite an input file" in message(res)
    res = run("compare", traces / "mlp_64x1", traces / "mlp_64x3", "-o", target, "-q")
    assert res.exit_code == 1 and "refusing to overwrite an input file" in message(res)
    assert target.read_bytes() == before


def test_fit_refuses_a_trace_twice_and_a_second_description(traces):
    a, b = traces / "mlp_64x1", traces / "mlp_64x3"
    res = run("fit", a, b, f"{traces}/./mlp_64x1", "-o", traces / "m.json", "-q")
    assert res.exit_code == 1 and "given twice" in message(res)
    res = run("fit", a, b, "--describe", f"{a}=width:64,depth:1", "--describe", f"{traces}/./mlp_64x1=width:64,depth:2",
              "-o", traces / "m.json", "-q")
    assert res.exit_code == 1 and "is described twice" in message(res)
    res = run("fit", a, b, "--describe", f"{a}=width:64,depth:1,depth:2", "-o", traces / "m.json", "-q")
    assert res.exit_code == 1 and "depth is given twice" in message(res)
    assert not (traces / "m.json").exists()


def test_the_trace_with_the_odd_descriptors_is_named(traces):
    (traces / "mlp_64x1.describe.json").write_text('{"width": 64}\n')
    res = run("fit", traces / "mlp_64x1", traces / "mlp_64x3", DATA / "mlp_96x2", "-o", traces / "m.json", "-q")
    assert res.exit_code == 1
    assert message(res).startswith(f"{traces / 'mlp_64x1'}: descriptors width differ from the other traces' "
                                   "(depth, width)")


def test_sample_refuses_a_prefix_holding_another_traces_files(tmp_path):
    assert run("sample", MODEL, "-o", tmp_path / "y", "--ranks", "4", "--seed", "1", "-q").exit_code == 0
    before = {p.name: p.read_bytes() for p in tmp_path.iterdir()}
    res = run("sample", MODEL, "-o", tmp_path / "y", "--ranks", "2", "--seed", "2", "-q")
    assert res.exit_code == 1 and "already holds" in message(res) and "y.2.et" in message(res)
    assert {p.name: p.read_bytes() for p in tmp_path.iterdir()} == before  # nothing written
    assert run("sample", MODEL, "-o", tmp_path / "y", "--ranks", "4", "--seed", "2", "-q").exit_code == 0


def test_sizes_beyond_64_bits_name_the_options(tmp_path):
    res = run("sample", MODEL, "-o", tmp_path / "x", "--ranks", "2", "--param-bytes", "1e17", "-q")
    assert res.exit_code == 1 and "exceed an ET's 64-bit fields" in message(res) and "--param-bytes" in message(res)
    assert "malformed model" not in message(res) and not list(tmp_path.iterdir())


def test_ranks_are_bounded():
    res = run("sample", MODEL, "-o", "unused", "--ranks", "100000")
    assert res.exit_code == 2 and "--ranks" in res.output


def test_a_far_description_warns_that_values_are_clipped(tmp_path, capsys):
    res = CliRunner().invoke(cli, ["sample", str(MODEL), "-o", str(tmp_path / "w"), "--ranks", "2", "--describe",
                                   "width=1e9,depth=2", "-q"])
    assert res.exit_code == 0
    assert "where they are clipped" in capsys.readouterr().err + res.output


@pytest.mark.parametrize("edit,message_part", [
    (lambda m: m["kind_stats"]["COLL:ALL_REDUCE"].__setitem__("count", -3), "count must be a non-negative integer"),
    (lambda m: m["kind_stats"]["COLL:ALL_REDUCE"].__setitem__("count", "abc"), "count must be a non-negative integer"),
    (lambda m: m["kind_stats"]["COMP:matmul"]["duration_us"].reverse(), "in ascending order"),
    (lambda m: m["kinds"].__setitem__(0, "COLL:ALL_REDUCE@g0s1"), "is not g<size>s<stride> or s<stride>"),
    (lambda m: m["kinds"].__setitem__(0, "COLL:ALL_REDUCE@tp"), "is not g<size>s<stride> or s<stride>"),
    (lambda m: m["kinds"].__setitem__(m["kinds"].index("COMP:matmul"), "COMP:matmul@s2"), "only collectives"),
    (lambda m: m.__setitem__("version", 2) or m["kind_stats"]["COLL:ALL_REDUCE"].__setitem__(
        "group_fraction", [0.5] * 5), "refit it"),
    (lambda m: m["kind_stats"]["COMP:matmul"]["work"].__setitem__("us_per_op", 1e18), "work must hold"),
    (lambda m: m["kind_stats"]["COLL:ALL_REDUCE"].__setitem__("comm_size_atoms", {"-4": 1}), "comm_size_atoms must map"),
    (lambda m: m["kind_stats"]["COLL:ALL_REDUCE"].__setitem__("data_fanin", {"²": 1}), "data_fanin must map"),
    (lambda m: m["kind_stats"]["COLL:ALL_REDUCE"].__setitem__("comm_size_atoms", {"256": 1, "40": 2}),
     "comm_size_atoms must list its values in ascending order"),
    (lambda m: m.__setitem__("nodes_per_rank", [1e15] * 5), "'nodes_per_rank' must be a sorted list"),
    (lambda m: m.__setitem__("nodes_per_rank", [0] * 5), "'nodes_per_rank' must be a sorted list"),
    (lambda m: m["architecture"]["descriptors"].reverse(), "architecture.descriptors"),
    (lambda m: m["architecture"]["range"][0].reverse(), "architecture.range"),
    (lambda m: m["architecture"]["kinds"]["COLL:ALL_REDUCE"]["count"].__setitem__("max", -5),
     "architecture.kinds['COLL:ALL_REDUCE'].count"),
    (lambda m: m["architecture"]["kinds"].pop("COLL:ALL_REDUCE"), "architecture.kinds"),
    (lambda m: m["kinds"].append(m["kinds"][0]), "names a kind twice"),
])
def test_nonsense_in_a_model_file_is_named(tmp_path, edit, message_part):
    m = json.loads(MODEL.read_text())
    edit(m)
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps(m))
    res = run("sample", bad, "-o", tmp_path / "s", "--ranks", "2", "-q")
    assert res.exit_code == 1 and message_part in message(res) and str(bad) in message(res)
    assert not list(tmp_path.glob("s.*"))


def test_fit_refuses_a_model_path_a_trace_reader_would_take_for_a_trace(traces):
    a = traces / "mlp_64x1"
    for out, why in ((a, "is the prefix of a trace being fitted"), (traces / "x.0.et.gz", "named like a trace"),
                     (traces / "model.et", "named like a trace")):
        res = run("fit", a, "-o", out, "-q")
        assert res.exit_code == 1 and why in message(res)
        assert not out.exists()
    assert len(list(traces.glob("mlp_64x1.*.et.gz"))) == 2


def test_fit_describe_in_samples_syntax_names_the_expected_one(traces):
    res = run("fit", traces / "mlp_64x1", "-o", traces / "m.json", "--describe", f"{traces}/mlp_64x1=width=64,depth=1")
    assert res.exit_code == 1 and "expected PREFIX=NAME:VALUE" in message(res)


def test_sample_refuses_a_directory_as_prefix_and_a_negative_seed(tmp_path):
    for out in (f"{tmp_path}/", str(tmp_path)):
        res = run("sample", MODEL, "-o", out, "--ranks", "2", "-q")
        assert res.exit_code == 1 and "is a directory" in message(res)
    assert not list(tmp_path.iterdir())
    res = run("sample", MODEL, "-o", tmp_path / "s", "--ranks", "2", "--seed", "-1", "-q")
    assert res.exit_code == 2 and "--seed" in message(res) and "malformed model" not in message(res)
    # the Python API too (numpy's own "expected non-negative integer" before)
    from chakra_tools.common import ToolError
    from chakra_tools.synth import sample

    with pytest.raises(ToolError, match="--seed must be an integer >= 0"):
        sample(json.loads(Path(MODEL).read_text()), tmp_path / "api", ranks=2, seed=-1)
    assert not list(tmp_path.iterdir())


def test_the_expect_gate_ignores_how_the_traces_were_spelled(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    shutil.copy(DATA / "mlp_64x1.0.et.gz", tmp_path / "a.0.et.gz")
    shutil.copy(DATA / "mlp_64x1.1.et.gz", tmp_path / "a.1.et.gz")
    assert run("compare", "a", "a", "-o", "r.json", "-q").exit_code == 0
    res = run("compare", "./a", str(tmp_path / "a"), "--expect", "r.json", "-q")
    assert res.exit_code == 0, message(res)
    report = json.loads((tmp_path / "r.json").read_text())
    report["ks_max"] = 0.5  # a figure that moved still fails the gate
    (tmp_path / "moved.json").write_text(json.dumps(report))
    res = run("compare", "a", "a", "--expect", "moved.json", "-q")
    assert res.exit_code == 1 and "ks_max" in message(res)


def _addmm_chain(prefix: Path, num_ops, duration_us) -> None:
    """Two ranks of a chain of 20 addmm nodes with the given FLOPs and durations (per node index)."""
    from chakra_tools.et import ETWriter, NodeType, make_attr
    from chakra_tools.schema import et_def_pb2 as pb
    for r in range(2):
        with ETWriter(f"{prefix}.{r}.et", pb.GlobalMetadata(version="0.0.4")) as w:
            for i in range(20):
                n = pb.Node(id=i, name="aten::addmm", type=NodeType.COMP_NODE, duration_micros=duration_us(i),
                            data_deps=[i - 1] if i else [])
                n.attr.extend([make_attr("is_cpu_op", True), make_attr("num_ops", num_ops(i))])
                w.write_node(n)


def test_what_fit_writes_sample_takes(tmp_path):
    # few FLOPs, milliseconds each: 5000 us per FLOP, which the model check once capped at 1e3 after fit wrote it
    _addmm_chain(tmp_path / "slow", lambda i: 1 + i % 10, lambda i: 5000 * (1 + i % 10))
    assert run("fit", tmp_path / "slow", "-o", tmp_path / "slow.json", "-q").exit_code == 0
    res = run("sample", tmp_path / "slow.json", "-o", tmp_path / "s", "--ranks", "2", "-q")
    assert res.exit_code == 0, message(res)
    # negative FLOPs (chakra-convert validate refuses them): refused by fit, naming the trace, not later by sample
    _addmm_chain(tmp_path / "neg", lambda i: -5 - i, lambda i: 10 + i)
    res = run("fit", tmp_path / "neg", "-o", tmp_path / "neg.json", "-q")
    assert res.exit_code == 1 and f"the model of {tmp_path / 'neg'}" in message(res) and "num_ops" in message(res)
    assert not (tmp_path / "neg.json").exists()


def test_p2p_pairs_only_when_the_model_saw_both_ends():
    from chakra_tools.synth.sample import _fix_p2p
    kinds = ["COMP:x", "RECV", "RECV", "COMP:x", "SEND"]
    assert _fix_p2p(list(kinds), 2, "COMP:x") == {1: ("send", 0, 1), 2: ("recv", 0, -1)}  # the odd one out: filler
    one_end = list(kinds)
    assert _fix_p2p(one_end, 2, "COMP:x", paired=False) == {}  # a model of receives only: no stats for a send
    assert one_end == ["COMP:x"] * 5
    single = list(kinds)
    assert _fix_p2p(single, 1, "COMP:x") == {} and single == ["COMP:x"] * 5


def test_the_summary_tells_the_drawn_totals_beside_the_target(tmp_path, capsys):
    from chakra_tools.synth import sample
    from chakra_tools.synth.scaling import trace_descriptors
    model = json.loads(MODEL.read_text())
    s = sample(model, tmp_path / "a", ranks=2, seed=1, param_bytes=1 << 20)
    got = trace_descriptors(tmp_path / "a")  # what describe reads off the files
    assert s["drawn"] == {"param_bytes": got["param_bytes"], "flops": got["flops"], "nodes": got["nodes"]}
    assert s["target"]["param_bytes"] == 1 << 20
    # targets the corpus never had together: 1 MiB of parameters doing 1 GFLOP (the laws give 44 MFLOP there)
    res = run("sample", MODEL, "-o", tmp_path / "b", "--ranks", "2", "--seed", "1", "--param-bytes", "1MiB",
              "--flops", "1e9")
    assert res.exit_code == 0
    out = capsys.readouterr().err + res.output
    assert "(drawn " in out and "the sample has" in out and "FLOPs for 1e+09" in out
    # the knobs scale what the target asks for: 3x the bytes and 4x the FLOPs are no miss of it
    res = run("sample", MODEL, "-o", tmp_path / "d", "--ranks", "2", "--seed", "1", "--param-bytes", "1MiB",
              "--scale-comm", "3", "--scale-compute", "4")
    assert res.exit_code == 0 and "the sample has" not in capsys.readouterr().err + res.output
    res = run("sample", MODEL, "-o", tmp_path / "c", "--ranks", "2", "--nodes", "1")
    assert res.exit_code == 0 and "compute path 0 ms/rank" in res.output + capsys.readouterr().err
