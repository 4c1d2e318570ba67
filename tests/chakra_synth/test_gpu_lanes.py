"""Kineto-linked GPU steps: host ops and the kernels they launch are different kinds, and kernels are waited for by
nothing on the host (the launch is asynchronous); a join goes to the thread the corpus' joins went to.

The trace is built to the shape of a real one (Chakra's feeder test trace, a GPU training step upgraded with
`chakra-convert upgrade`: 2 448 host ops on two threads, 1 209 kernels on one stream, no edge out of a kernel):
a forward thread and an autograd thread each launch a kernel per op onto one stream; ops chain on their thread,
and each backward op also waits for a forward op (the saved activation)."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import numpy as np
import pytest

from chakra_tools.et import GlobalMetadata, Node, NodeType, attrs_of, make_attr, read_et, write_et
from chakra_tools.synth.compare import compare
from chakra_tools.synth.features import node_kind
from chakra_tools.synth.fit import fit
from chakra_tools.synth.sample import sample

CONFIGS = Path(__file__).resolve().parents[2] / "examples" / "configs" / "chakra-synth"
FWD = ("aten::conv2d", "aten::relu", "aten::add")
BWD = ("aten::convolution_backward", "aten::threshold_backward", "aten::mul")
KERNEL = {"aten::conv2d": "implicit_convolve_sgemm", "aten::relu": "elementwise_kernel<relu_kernel>",
          "aten::add": "elementwise_kernel<AddFunctor>", "aten::convolution_backward": "wgrad_alg0_engine",
          "aten::threshold_backward": "elementwise_kernel<threshold_kernel>",
          "aten::mul": "elementwise_kernel<MulFunctor>"}


def gpu_step(layers: int, rng: np.random.Generator) -> list[Node]:
    nodes: list[Node] = []

    def add(name, tid, dur, deps, cpu):
        n = Node(id=len(nodes) + 1, name=name, type=NodeType.COMP_NODE, duration_micros=int(dur),
                 data_deps=sorted(set(deps)))
        n.attr.extend([make_attr("is_cpu_op", cpu), make_attr("tid", tid)])
        nodes.append(n)
        return n.id

    prev, fwd_ops = None, []
    for _ in range(layers):
        for op in FWD:
            i = add(op, 1, rng.integers(5, 15), [prev] if prev else [], True)
            add(KERNEL[op], 7, rng.integers(20, 200), [i] + ([prev] if prev else []), False)
            prev = i
            fwd_ops.append(i)
    prev = None
    for k in range(layers):
        for j, op in enumerate(BWD):
            saved = fwd_ops[-1 - 3 * k - j]
            i = add(op, 2, rng.integers(5, 15), [saved] + ([prev] if prev else []), True)
            add(KERNEL[op], 7, rng.integers(40, 400), [i, saved], False)
            prev = i
    return nodes


@pytest.fixture(scope="module")
def gpu_model(tmp_path_factory):
    d = tmp_path_factory.mktemp("gpu")
    write_et(d / "step.0.et", GlobalMetadata(version="0.0.4"), gpu_step(40, np.random.default_rng(7)))
    return d / "step", fit([str(d / "step")])


def test_host_ops_and_kernels_are_different_kinds(gpu_model):
    _, model = gpu_model
    st = model["kind_stats"]
    assert st["COMP:conv"]["is_cpu_op"] == 1.0 and st["GPU:conv"]["is_cpu_op"] == 0.0
    assert st["COMP:bwd_conv"]["count"] == st["GPU:bwd_conv"]["count"] == 40
    # slots by node count: 0 the stream (240 kernels), 1 the forward thread, 2 the autograd thread. A kernel waits
    # for its op (and a backward kernel for the saved forward op): all its dependencies are joins to host threads
    assert st["GPU:conv"]["data_cross_fraction"] == st["GPU:bwd_conv"]["data_cross_fraction"] == 1.0
    assert st["GPU:conv"]["data_cross_slots"] == {"0": {"1": 79}}
    assert st["GPU:bwd_conv"]["data_cross_slots"] == {"0": {"1": 40, "2": 40}}
    assert st["COMP:bwd_conv"]["data_cross_slots"] == {"2": {"1": 40}}  # the saved activation


def test_thread_descent_counts_host_ops_only(gpu_model):
    """Every host op here waits for its thread's previous op: thread_descent 1.0. Counting the kernels' lane (the
    stream as tid, no stream slot) as a host thread gave 0.499, and sample then chained kernels to meet it."""
    _, model = gpu_model
    assert model["cross_rank"]["thread_descent"] == 1.0


def test_samples_keep_kernels_unwaited_and_lanes_counted(gpu_model, tmp_path):
    prefix, model = gpu_model
    _, rec = read_et(str(prefix) + ".0.et")
    for seed in (1, 2, 3):
        sample(model, tmp_path / f"s{seed}", ranks=1, seed=seed)
        _, nodes = read_et(tmp_path / f"s{seed}.0.et")
        kernel = {n.id for n in nodes if not attrs_of(n)["is_cpu_op"]}
        waited = Counter(d for n in nodes for d in n.data_deps)
        # before the kinds were split: 120 kernels instead of 240 (a class's ops and kernels were one kind, written
        # all on the lane of its majority), and 102-104 of them waited for by host ops (seeds 1-3)
        assert not any(waited[k] for k in kernel)
        assert abs(len(kernel) - len(rec) / 2) <= 0.05 * len(rec)
        # each kernel's kind is a GPU kind, each host op's a COMP kind
        assert all(node_kind(n).startswith("GPU:") == (n.id in kernel) for n in nodes)


def test_sampled_gpu_step_simulates_like_the_recording(gpu_model, tmp_path):
    prefix, model = gpu_model
    sample(model, tmp_path / "s", ranks=1, seed=1)
    net = tmp_path / "net1.yml"
    net.write_text("topology: [ Ring ]\nnpus_count: [ 1 ]\nbandwidth: [ 50.0 ]\nlatency: [ 500.0 ]\n")
    r = compare(prefix, tmp_path / "s", str(CONFIGS / "system.json"), str(net))
    assert r["graph"]["a"]["compute_span_us"] > 10 * r["graph"]["a"]["critical_path_us"]  # the stream is the step
    assert abs(r["sim_time_ratio"] - 1) < 0.02
