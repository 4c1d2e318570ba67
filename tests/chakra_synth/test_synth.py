"""chakra-synth: model pieces against closed forms, fit/sample/compare invariants, CLI behaviour."""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from chakra_tools.common import ToolError
from chakra_tools.et import CommType, NodeType, make_attr, rank_path, read_et, write_et
from chakra_tools.graph import Trace
from chakra_tools.schema import et_def_pb2 as pb
from chakra_tools.synth import compare, fit, sample
from chakra_tools.synth.cli import cli
from chakra_tools.synth.compare import longest_shared_run
from chakra_tools.synth.features import node_kind, op_class
from chakra_tools.synth.model import (
    MarkovSampler,
    largest_remainder,
    markov_counts,
    quantile_table,
    sample_quantiles,
)
from chakra_tools.synth.sample import draw_sizes
from chakra_tools.validate import check_trace, errors

DATA = Path(__file__).resolve().parents[1] / "data" / "synth"
CORPUS = json.loads((DATA / "corpus.json").read_text())["recording"]  # written by record.py: the splits
FAMILY_TRAIN = {f: [str(DATA / m) for m in ms] for f, ms in CORPUS["train"].items()}
FAMILY_HELD = {f: [str(DATA / m) for m in ms] for f, ms in CORPUS["held_out"].items()}
# the generic tests fit on the MLP training traces plus two transformers (small and quick to load)
TRAIN = FAMILY_TRAIN["mlp"] + FAMILY_TRAIN["tfm"][:2]


@pytest.fixture(scope="module")
def model() -> dict:
    return fit(TRAIN)


def _write_programmatic(prefix: Path, ranks: int = 4, subgroup: bool = True, p2p: bool = True) -> None:
    """A small hand-built SPMD trace: comp chain, world all-reduce, sub-group all-gather, a send/recv ring."""
    groups = {"1": [0, 1], "2": [2, 3]}
    for r in range(ranks):
        nodes, nid = [], 0

        def add(name, ntype, dur, nodes=nodes, **attrs):
            nonlocal nid
            n = pb.Node(id=nid, name=name, type=ntype, duration_micros=dur)
            if nid:
                n.data_deps.append(nid - 1)
            for k, v in attrs.items():
                n.attr.append(make_attr(k, v))
            nodes.append(n)
            nid += 1

        for step in range(6):
            add("aten::addmm", NodeType.COMP_NODE, 100 + 10 * step + r, is_cpu_op=False, num_ops=1000 * (step + 1),
                tensor_size=4096)
            add("aten::relu", NodeType.COMP_NODE, 20 + step, is_cpu_op=False, num_ops=64, tensor_size=256)
            add("allreduce", NodeType.COMM_COLL_NODE, 0, is_cpu_op=False, comm_type=int(CommType.ALL_REDUCE),
                comm_size=1 << (10 + step))
            if subgroup:
                add("allgather", NodeType.COMM_COLL_NODE, 0, is_cpu_op=False,
                    comm_type=int(CommType.ALL_GATHER), comm_size=512, pg_name="1" if r < 2 else "2")
            if p2p:
                add("send", NodeType.COMM_SEND_NODE, 0, is_cpu_op=False, comm_src=r, comm_dst=(r + 1) % ranks,
                    comm_tag=step, comm_size=256)
                add("recv", NodeType.COMM_RECV_NODE, 0, is_cpu_op=False, comm_src=(r - 1) % ranks, comm_dst=r,
                    comm_tag=step, comm_size=256)
        write_et(rank_path(prefix, r), pb.GlobalMetadata(version="0.0.4"), nodes)
    if subgroup:
        Path(f"{prefix}.comm_groups.json").write_text(json.dumps(groups))


# ------------------------------------------------------------------ model pieces vs closed forms
def test_quantile_sampling_follows_a_uniform_cdf():
    # table of U(0, 10): 65 quantiles 0, 10/64, ..., 10. Stratified draws: one per 1/1000 slice, so the
    # sample mean is 5 within 10/1000 and every decile holds 100 +- 1 draws.
    table = quantile_table(np.linspace(0, 10, 10001))
    assert table[0] == 0 and table[-1] == 10 and table[32] == 5
    x = sample_quantiles(table, 1000, np.random.default_rng(3))
    assert abs(x.mean() - 5) < 0.01
    counts = np.histogram(x, bins=10, range=(0, 10))[0]
    assert counts.min() >= 99 and counts.max() <= 101


def test_discrete_tables_hold_and_draw_only_observed_values():
    # three message sizes with shares 1/7, 2/7, 4/7: the inverse empirical CDF holds only them, and nearest-quantile
    # draws give each its share within half a table step (1/128) plus the stratification's 1/count
    values = [40] * 100 + [256] * 200 + [32768] * 400
    table = quantile_table(values, discrete=True)
    assert set(table) == {40, 256, 32768}
    x = sample_quantiles(table, 7000, np.random.default_rng(1), discrete=True)
    assert set(x.tolist()) == {40, 256, 32768}
    for v, share in ((40, 1 / 7), (256, 2 / 7), (32768, 4 / 7)):
        assert abs(np.mean(x == v) - share) <= 1 / 128 + 1 / 7000
    # a linear table of a few sizes invents sizes between them (what the discrete one is for)
    assert not set(quantile_table([40, 256, 32768])) <= {40, 256, 32768}
    assert set(quantile_table([40, 256, 32768], discrete=True)) == {40, 256, 32768}


def test_a_trace_fitted_alone_is_sampled_with_its_own_message_sizes(tmp_path):
    # in-sample: every drawn message size is one the recorded step has (linear tables gave comm_size KS 0.125)
    m = fit([DATA / "mlp_256x3"])
    recorded = [c.comm_size for g in Trace.load(DATA / "mlp_256x3").ranks.values() for c in g.collectives()]
    # few distinct sizes (4 layers' weights and biases): kept exactly, {value: count}
    atoms = m["kind_stats"]["COLL:ALL_REDUCE"]["comm_size_atoms"]
    assert {int(v): c for v, c in atoms.items()} == {v: recorded.count(v) for v in set(recorded)}
    sample(m, tmp_path / "s", ranks=2, seed=1)
    drawn = [c.comm_size for g in Trace.load(tmp_path / "s").ranks.values() for c in g.collectives()]
    assert set(drawn) <= set(recorded)
    assert compare(DATA / "mlp_256x3", tmp_path / "s")["attributes"]["comm_size"]["ks"] < 0.1


def test_size_atoms_are_drawn_in_their_shares():
    # stratified draws from {value: count}: 700 draws of shares 1/7, 2/7, 4/7 are exactly 100, 200, 400
    x = draw_sizes({"comm_size_atoms": {"40": 1, "256": 2, "32768": 4}}, "comm_size", 700, np.random.default_rng(5))
    assert {v: int(np.sum(x == v)) for v in (40, 256, 32768)} == {40: 100, 256: 200, 32768: 400}


def test_markov_reproduces_a_deterministic_cycle():
    seq = [0, 1, 2] * 20
    counts = markov_counts([seq], order=1)
    assert counts["0"] == {"1": 20} and counts["2"] == {"0": 19}
    out = MarkovSampler(counts, 1).sample(30, np.random.default_rng(0))
    assert out == seq[:30]


def test_op_classes_drop_names():
    assert op_class("aten::addmm") == "matmul"
    # a functional collective's host ops (issue, wrap, wait) are communication, whatever their op name says
    assert {op_class(f"_c10d_functional::{n}") for n in ("all_reduce", "wait_tensor", "_wrap_tensor_autograd",
                                                          "reduce_scatter_tensor")} == {"collective"}
    assert op_class("autograd::engine::evaluate_function: AddmmBackward0") == "bwd_matmul"
    assert op_class("aten::conv2d") == "conv"
    assert op_class("aten::empty_strided") == "alloc"
    n = pb.Node(id=1, name="COMP:bwd_view", type=NodeType.COMP_NODE)
    assert node_kind(n) == "COMP:bwd_view"  # synthesized nodes keep their kind


@pytest.mark.parametrize("name, cls", [
    # GPU kernels as a Kineto-linked trace names its compute nodes (cuBLAS, CUTLASS, cuDNN, flash attention, ATen)
    ("ampere_sgemm_128x64_tn", "matmul"),
    ("sm80_xmma_gemm_f16f16_f16f32_f32_tn_n_tilesize96x64x32_stage4", "matmul"),
    ("void cutlass::Kernel<cutlass_80_tensorop_s1688gemm_128x128_32x3_nn_align4>", "matmul"),
    ("cublasLt::splitKreduce_kernel", "matmul"),
    ("flash_fwd_kernel", "matmul"),
    ("flash_bwd_dq_dk_dv_loop_kernel", "bwd_matmul"),
    ("void fmha_cutlassF_f16_aligned_64x64_rf_sm80", "matmul"),
    ("implicit_convolve_sgemm", "conv"),
    ("void cudnn::winograd_nonfused::winogradForwardData4x4<float>", "conv"),
    ("sm80_xmma_dgrad_implicit_gemm_indexed_f32f32_tf32f32", "bwd_conv"),
    ("sm80_xmma_wgrad_implicit_gemm_f32", "bwd_conv"),
    ("void at::native::vectorized_elementwise_kernel<4, at::native::CUDAFunctor_add<float>>", "elementwise"),
    ("void at::native::elementwise_kernel<128, 2, at::native::mul_kernel_cuda>", "elementwise"),
    ("void at::native::vectorized_elementwise_kernel<4, at::native::GeluCUDAKernelImpl>", "activation"),
    ("void at::native::unrolled_elementwise_kernel<at::native::direct_copy_kernel_cuda>", "copy"),
    ("void at::native::reduce_kernel<512, 1, at::native::ReduceOp<float>>", "reduce"),
    ("void at::native::(anonymous namespace)::cunn_SoftMaxForward<4, float>", "softmax"),
    ("void at::native::(anonymous namespace)::layer_norm_kernel", "norm"),
    ("void multi_tensor_apply_kernel<TensorListMetadata<4>, AdamFunctor<float>>", "optimizer"),
    ("Memcpy HtoD (Pageable -> Device)", "copy"),
    ("Memset (Device)", "alloc"),
    ("ncclDevKernel_AllReduce_Sum_f32_RING_LL", "collective"),  # a collective's kernel: communication
    # an ASTRA-sim text workload's nodes (chakra-convert text): its backward passes
    ("COMP_NODE_conv1_BWD_WG", "bwd_conv"),
    ("COMP_NODE_conv1_FWD", "conv"),
])
def test_op_classes_of_gpu_kernels_and_text_workloads(name, cls):
    assert op_class(name) == cls


@given(st.lists(st.lists(st.integers(0, 3), max_size=30), min_size=1, max_size=3),
       st.lists(st.lists(st.integers(0, 3), max_size=30), min_size=1, max_size=3))
@settings(max_examples=60, deadline=None)
def test_longest_shared_run_matches_brute_force(a, b):
    best = 0
    for x in a:
        for y in b:
            for i in range(len(x)):
                for j in range(len(y)):
                    k = 0
                    while i + k < len(x) and j + k < len(y) and x[i + k] == y[j + k]:
                        k += 1
                    best = max(best, k)
    assert longest_shared_run(a, b) == best


# ------------------------------------------------------------------ fit: privacy
def test_model_holds_no_names_and_no_raw_sequences(model):
    text = json.dumps(model)
    names = set()
    durations = []
    for prefix in TRAIN:
        for g in Trace.load(prefix).ranks.values():
            names.update(n.name for n in g.nodes)
            durations.append([float(n.duration_micros) for n in sorted(g.nodes, key=lambda n: n.id)])
    leaked = [n for n in names if len(n) > 3 and n in text]
    assert not leaked
    # no run of k = 6 consecutive raw durations (with >= 4 distinct values, so that short runs of small
    # integers that also occur as counts do not count) appears as consecutive numbers in the file
    k = 6
    numbers = [float(x) for x in re.findall(r"-?\d+(?:\.\d+)?", text)]
    windows = {tuple(numbers[i:i + k]) for i in range(len(numbers) - k + 1)}
    checked = 0
    for seq in durations:
        for i in range(len(seq) - k + 1):
            w = tuple(seq[i:i + k])
            if len(set(w)) >= 4:
                checked += 1
                assert w not in windows, w
    assert checked > 1000
    # control: a model that did store a raw sequence would fail this check
    leaky = json.dumps({"x": durations[0][:50]})
    leaky_numbers = [float(x) for x in re.findall(r"-?\d+(?:\.\d+)?", leaky)]
    assert any(tuple(durations[0][i:i + k]) in {tuple(leaky_numbers[j:j + k]) for j in range(len(leaky_numbers))}
               for i in range(40))
    assert model["corpus"]["nodes"] == sum(len(d) for d in durations)


# ------------------------------------------------------------------ sample: validity and determinism
def test_same_seed_same_bytes(model, tmp_path):
    sample(model, tmp_path / "a", ranks=3, nodes=300, seed=5)
    sample(model, tmp_path / "b", ranks=3, nodes=300, seed=5)
    sample(model, tmp_path / "c", ranks=3, nodes=300, seed=6)
    for r in range(3):
        a = rank_path(tmp_path / "a", r).read_bytes()
        assert a == rank_path(tmp_path / "b", r).read_bytes()
        assert a != rank_path(tmp_path / "c", r).read_bytes()


@given(data=st.data(), n=st.integers(1, 60))
@settings(max_examples=60, deadline=None)
def test_critical_path_matches_a_plain_longest_path(data, n):
    # _path (the compute-path calibration's inner loop, specialised for at most two deps per node) against the
    # textbook recurrence, on random DAGs with any fan-in
    from chakra_tools.synth.sample import Program
    from chakra_tools.synth.timing import _path
    deps = [sorted(data.draw(st.sets(st.integers(0, i - 1), max_size=min(i, 5)))) if i else [] for i in range(n)]
    split = [data.draw(st.integers(0, len(d))) for d in deps]
    d = np.array(data.draw(st.lists(st.integers(0, 10**6), min_size=n, max_size=n)), dtype=np.int64)
    prog = Program(["COMP:matmul"] * n, [x[:k] for x, k in zip(deps, split)], [x[k:] for x, k in zip(deps, split)],
                   {}, {}, d.astype(float), {})
    finish: list[int] = []
    for i in range(n):
        finish.append(max((finish[j] for j in deps[i]), default=0) + int(d[i]))
    assert _path(d, prog) == max(finish)


@pytest.mark.parametrize("case", ["roles_p2p", "threads", "described"])
def test_spliced_node_bytes_are_what_protobuf_writes(model, tmp_path, case):
    # sample serializes the shared program once and splices each rank's duration, pg_name and p2p peers into
    # it (_rank_bodies); every written node must be exactly protobuf's own encoding of the node it decodes to
    # (fields in number order, proto3 defaults such as a 0 duration or id 0 left out), and carry its rank's parts
    from chakra_tools.et import iter_messages
    if case == "roles_p2p":
        _write_programmatic(tmp_path / "t", ranks=4)
        m, kw = fit([str(tmp_path / "t")]), {"ranks": 8, "scale_compute": 1.7}
    elif case == "threads":
        m, kw = fit([str(DATA.parent / "threads" / "prefetch")]), {"ranks": 3}
    else:
        m, kw = model, {"ranks": 2, "param_bytes": 2e6}
    sample(m, tmp_path / "s", seed=2, **kw)
    seen = set()
    for r in range(kw["ranks"]):
        msgs = list(iter_messages(rank_path(tmp_path / "s", r).read_bytes()))[1:]
        for _, raw in msgs:
            node = pb.Node()
            node.ParseFromString(raw)
            assert node.SerializeToString() == bytes(raw)
            attrs = {a.name: a for a in node.attr}
            if node.type == pb.COMM_SEND_NODE:
                assert (attrs["comm_src"].int32_val, attrs["comm_dst"].int32_val) == (r, (r + 1) % kw["ranks"])
            if node.type == pb.COMM_RECV_NODE:
                assert (attrs["comm_src"].int32_val, attrs["comm_dst"].int32_val) == ((r - 1) % kw["ranks"], r)
            seen |= {node.type} | ({"pg_name"} & set(attrs)) | ({"tid"} & set(attrs))
            seen |= {"zero"} if node.duration_micros == 0 else set()
    wanted = {"roles_p2p": {pb.COMM_SEND_NODE, pb.COMM_RECV_NODE, "pg_name", "zero"}, "threads": {"tid"},
              "described": {pb.COMM_COLL_NODE, pb.COMP_NODE}}[case]
    assert wanted <= seen


@given(seed=st.integers(0, 2**31), ranks=st.integers(1, 6), nodes=st.integers(1, 400))
@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
def test_every_sample_validates(model, tmp_path_factory, seed, ranks, nodes):
    prefix = tmp_path_factory.mktemp("s") / "x"
    sample(model, prefix, ranks=ranks, nodes=nodes, seed=seed)
    t = Trace.load(prefix)
    assert t.num_ranks == ranks and all(len(g.nodes) == nodes for g in t.ranks.values())
    assert not errors(check_trace(t))
    colls = [[(c.comm_type, c.comm_size) for c in g.collectives()] for g in t.ranks.values()]
    assert all(c == colls[0] for c in colls)


def test_subgroups_and_p2p_survive_fit_and_sample(tmp_path):
    _write_programmatic(tmp_path / "prog")
    assert not errors(check_trace(Trace.load(tmp_path / "prog")))
    m = fit([tmp_path / "prog"], order=3)
    # the all-gathers ran on the pairs {0,1}, {2,3}: an inner role (2 ranks, stride 1), which keeps its size at
    # any world size (groups.py); the all-reduces on the world have no role
    assert "COLL:ALL_GATHER@g2s1" in m["kinds"] and "COLL:ALL_REDUCE" in m["kinds"]
    assert not any("group_fraction" in st for st in m["kind_stats"].values())
    sample(m, tmp_path / "s", ranks=8, nodes=m["corpus"]["nodes"] // 4, seed=2)
    t = Trace.load(tmp_path / "s")
    assert not errors(check_trace(t))
    groups = json.loads(Path(f"{tmp_path / 's'}.comm_groups.json").read_text())
    assert groups == {"1": [0, 1], "2": [2, 3], "3": [4, 5], "4": [6, 7]}
    gathers = [(r, g.attrs[n.id]["pg_name"]) for r, g in t.ranks.items() for n in g.nodes
               if g.attrs[n.id].get("comm_type") == CommType.ALL_GATHER]
    assert gathers and all(r in groups[pg] for r, pg in gathers)
    p = t.ranks[7].p2p()
    assert p and {x.dst for x in p if x.kind == "send"} == {0}  # ring: 7 -> 0
    # order-3 Markov on a period-6 program reproduces it: the same kind mix as the input
    assert compare(tmp_path / "prog", tmp_path / "s")["kind_mix_tv"] < 0.05


def test_scale_options(tmp_path):
    _write_programmatic(tmp_path / "prog", subgroup=False, p2p=False)
    m = fit([tmp_path / "prog"])
    base = sample(m, tmp_path / "a", ranks=2, nodes=18, seed=1)
    comm2 = sample(m, tmp_path / "b", ranks=2, nodes=18, seed=1, scale_comm=2.0)
    # same draws, sizes doubled then rounded: within 1 byte per collective
    assert abs(comm2["comm_bytes_per_rank"] - 2 * base["comm_bytes_per_rank"]) <= base["collectives_per_rank"]
    sample(m, tmp_path / "c", ranks=2, nodes=18, seed=1, scale_compute=3.0)
    da = sum(n.duration_micros for n in read_et(rank_path(tmp_path / "a", 0))[1])
    dc = sum(n.duration_micros for n in read_et(rank_path(tmp_path / "c", 0))[1])
    assert abs(dc - 3 * da) <= 18


# ------------------------------------------------------------------ compare
def test_compare_identical_traces(tmp_path):
    prefix = TRAIN[0]
    r = compare(prefix, prefix)
    assert r["ks_max"] == 0 and r["kind_mix_tv"] == 0 and r["critical_path_ratio"] == 1
    assert r["obfuscation"]["longest_shared_value_run"] == r["graph"]["a"]["nodes_per_rank"]


def test_compare_synthetic_shares_no_long_value_run(model, tmp_path):
    sample(model, tmp_path / "s", ranks=2, nodes=400, seed=0)
    r = compare(TRAIN[3], tmp_path / "s")
    assert r["obfuscation"]["longest_shared_value_run"] < 20
    assert 0 <= r["ks_max"] <= 1 and set(r["attributes"]) >= {"duration_micros", "comm_size"}


def test_compare_simulated_time(model, tmp_path):
    astrasim = pytest.importorskip("astrasim_py")
    if not hasattr(astrasim, "simulate"):
        pytest.skip("astrasim_py.simulate (astra-run's Python API) is not available yet")
    net = tmp_path / "net.yml"
    net.write_text("topology: [Ring]\nnpus_count: [2]\nbandwidth: [50.0]\nlatency: [500.0]\n")
    sysf = tmp_path / "sys.json"
    sysf.write_text(json.dumps({"scheduling-policy": "LIFO", "collective-optimization": "localBWAware",
                                "endpoint-delay": 10, "active-chunks-per-dimension": 1,
                                "preferred-dataset-splits": 4, "local-mem-bw": 1600, "roofline-enabled": 0,
                                "peak-perf": 900, "all-reduce-implementation": ["ring"],
                                "all-gather-implementation": ["ring"], "reduce-scatter-implementation": ["ring"],
                                "all-to-all-implementation": ["ring"]}))
    r = compare(TRAIN[0], TRAIN[0], str(sysf), str(net))
    assert r["sim_time_ratio"] == 1 and r["sim_time_ns_a"] > 0


# ------------------------------------------------------------------ CLI
def test_cli_round_trip(tmp_path):
    runner = CliRunner()
    res = runner.invoke(cli, ["fit", *TRAIN[:2], "-o", str(tmp_path / "m.json"), "-q"])
    assert res.exit_code == 0, res.output
    res = runner.invoke(cli, ["sample", str(tmp_path / "m.json"), "-o", str(tmp_path / "s"), "--ranks", "2",
                              "--nodes", "150", "--seed", "1", "-q"])
    assert res.exit_code == 0, res.output
    res = runner.invoke(cli, ["compare", TRAIN[0], str(tmp_path / "s"), "--json"])
    assert res.exit_code == 0, res.output
    rep = json.loads(res.output)
    assert "ks_max" in rep and rep["provenance"]["tool"] == "chakra-synth"


@pytest.mark.parametrize("args", [
    ["fit", "/nonexistent/trace", "-o", "{t}/m.json"],
    ["sample", "{t}/bad.json", "-o", "{t}/s", "--ranks", "2"],
    ["sample", "{t}/notmodel.json", "-o", "{t}/s", "--ranks", "2"],
    ["compare", "/nonexistent/a", "/nonexistent/b"],
    ["describe", "/nonexistent/a"],
    ["sample", "{repo}/examples/configs/chakra-synth/mlp.model.json", "-o", "{t}/s", "--ranks", "2", "--flops", "1e6"],
    ["sample", "{repo}/examples/configs/chakra-synth/mlp.model.json", "-o", "{t}/s", "--ranks", "2",
     "--param-bytes", "0"],
])
def test_cli_bad_input_is_one_line_exit_1(tmp_path, args):
    import subprocess
    import sys
    (tmp_path / "bad.json").write_text("{not json")
    (tmp_path / "notmodel.json").write_text('{"format": "other"}')
    exe = Path(sys.executable).with_name("chakra-synth")
    repo = DATA.parents[2]
    res = subprocess.run([str(exe), *[a.format(t=tmp_path, repo=repo) for a in args]], capture_output=True, text=True)
    assert res.returncode == 1
    assert len(res.stderr.strip().splitlines()) == 1 and "Traceback" not in res.stderr
    assert not (tmp_path / "m.json").exists() and not (tmp_path / "s.0.et").exists()


def test_compute_rate_is_matched(model, tmp_path):
    # fit stores the pooled compute time per node (sum of per-rank compute paths / nodes); sample scales each
    # rank so that its compute path is nodes x rate x the rank's speed factor: 700 nodes x rate x speed, up to
    # integer rounding of durations.
    from chakra_tools.synth.features import compute_path_us
    from chakra_tools.synth.timing import rank_speeds
    total = sum(compute_path_us(g) for p in TRAIN for g in Trace.load(p).ranks.values())
    nodes = sum(len(g.nodes) for p in TRAIN for g in Trace.load(p).ranks.values())
    assert model["compute_us_per_node"] == pytest.approx(total / nodes, abs=1e-4)
    sample(model, tmp_path / "s", ranks=2, nodes=700, seed=4, scale_compute=2.0)
    speeds = rank_speeds(model, 2, 4)
    for r, g in sorted(Trace.load(tmp_path / "s").ranks.items()):
        assert compute_path_us(g) == pytest.approx(2 * 700 * model["compute_us_per_node"] * speeds[r], rel=0.02)


def test_malformed_model_is_one_line_and_writes_nothing(model, tmp_path):
    bad = json.loads(json.dumps(model))
    bad["kind_stats"][bad["kinds"][-1]]["duration_us"] = "x"
    path = tmp_path / "bad.json"
    path.write_text(json.dumps(bad))
    res = CliRunner().invoke(cli, ["sample", str(path), "-o", str(tmp_path / "s"), "--ranks", "2", "--nodes", "2000"])
    assert res.exit_code == 1 and "duration_us must be a list" in str(res.exception) + res.output
    assert not list(tmp_path.glob("s.*"))


@pytest.fixture(scope="module")
def prog_model(tmp_path_factory) -> dict:
    d = tmp_path_factory.mktemp("prog")
    _write_programmatic(d / "prog")
    return fit([d / "prog"], order=1)


@given(seed=st.integers(0, 2**31), ranks=st.integers(1, 9), nodes=st.integers(1, 120))
@settings(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
def test_subgroup_and_p2p_samples_validate(prog_model, tmp_path_factory, seed, ranks, nodes):
    prefix = tmp_path_factory.mktemp("p") / "x"
    if ranks % 2:  # the model's all-gathers run on pairs: an odd world cannot hold them
        with pytest.raises(ToolError, match=f"--ranks {ranks}: .* groups of 2 ranks 1 apart"):
            sample(prog_model, prefix, ranks=ranks, nodes=nodes, seed=seed)
        assert not list(prefix.parent.iterdir())
        return
    sample(prog_model, prefix, ranks=ranks, nodes=nodes, seed=seed)
    t = Trace.load(prefix)
    assert not errors(check_trace(t))
    sends = sum(1 for g in t.ranks.values() for p in g.p2p() if p.kind == "send")
    recvs = sum(1 for g in t.ranks.values() for p in g.p2p() if p.kind == "recv")
    assert sends == recvs and (ranks > 1 or sends == 0)


def test_compare_plot(tmp_path):
    res = CliRunner().invoke(cli, ["compare", TRAIN[0], TRAIN[1], "--plot", str(tmp_path / "c.png"), "-q"])
    assert res.exit_code == 0, res.output
    assert (tmp_path / "c.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    res = CliRunner().invoke(cli, ["compare", TRAIN[0], TRAIN[1], "--plot", str(tmp_path / "c.txt"), "-q"])
    assert res.exit_code == 2 and not (tmp_path / "c.txt").exists()  # a usage error, before any work


@settings(max_examples=200, deadline=None)
@given(weights=st.lists(st.floats(0, 1e6), min_size=1, max_size=12).filter(lambda w: sum(w) > 0),
       total=st.integers(0, 10_000))
def test_largest_remainder_adds_up_and_rounds_each_share(weights, total):
    # the apportionment behind atom draws and thread-token budgets: integers summing to total, each the floor or
    # the ceiling of its exact share
    w = np.array(weights)
    n = largest_remainder(w, total)
    exact = w * total / w.sum()
    assert n.sum() == total
    assert np.all(n >= np.floor(exact - 1e-6)) and np.all(n <= np.ceil(exact + 1e-6))


def test_largest_remainder_worked_by_hand():
    # 10 over 3:1:1 -> 6, 2, 2 exactly; 7 over 1:1:1 -> 2.33 each: the one left over goes to the first (stable ties)
    assert largest_remainder(np.array([3.0, 1, 1]), 10).tolist() == [6, 2, 2]
    assert largest_remainder(np.array([1.0, 1, 1]), 7).tolist() == [3, 2, 2]
