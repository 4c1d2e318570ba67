"""chakra-convert pytorch on traces recorded with torch 2.13 (tests/data/record_traces.py)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from chakra_tools.common import ToolError
from chakra_tools.convert.kineto import KinetoDurations
from chakra_tools.convert.pytorch import convert_trace
from chakra_tools.et import CommType, NodeType, attrs_of, write_et
from chakra_tools.graph import RankGraph, Trace
from chakra_tools.validate import check_trace, errors

DATA = Path(__file__).resolve().parents[1] / "data"
SHARED_OLD = Path(__file__).resolve().parents[3] / "shared" / "data" / "pytorch_et" / "1.0.2-chakra.0.0.4.json"


def _comm(rank: int):
    k = KinetoDurations.load(DATA / f"gloo.rank{rank}.kineto.json")
    r = convert_trace(DATA / f"gloo.rank{rank}.et.json", rank, k)
    return r, [(n.type, attrs_of(n)) for n in r.nodes if n.type in (5, 6, 7)]


@pytest.mark.parametrize("rank", [0, 1])
def test_gloo_collectives_match_what_the_script_did(rank):
    r, comms = _comm(rank)
    colls = [(a["comm_type"], a["comm_size"]) for t, a in comms if t == NodeType.COMM_COLL_NODE]
    # record_traces.py: all_reduce(1024 fp32), all_gather(256 fp32 shard), broadcast(512 fp32), barrier,
    # all_reduce(64 fp32) on a subgroup
    assert colls == [(CommType.ALL_REDUCE, 4096), (CommType.ALL_GATHER, 1024), (CommType.BROADCAST, 2048),
                     (CommType.BARRIER, 1), (CommType.ALL_REDUCE, 256)]
    p2p = [(t, a["comm_src"], a["comm_dst"], a["comm_tag"], a["comm_size"]) for t, a in comms if t != 7]
    if rank == 0:
        assert p2p == [(NodeType.COMM_SEND_NODE, 0, 1, 7, 512), (NodeType.COMM_RECV_NODE, 1, 0, 9, 512)]
    else:
        assert p2p == [(NodeType.COMM_RECV_NODE, 0, 1, 7, 512), (NodeType.COMM_SEND_NODE, 1, 0, 9, 512)]
    assert all(a["is_cpu_op"] is False for _, a in comms)
    assert r.process_groups == {"0": [0, 1], "1": [0, 1]}
    assert not any(n.name.startswith("gloo:") for n in r.nodes), "gloo:* backend ops must not double count"


@pytest.mark.parametrize("rank", [0, 1, 2, 3])
def test_functional_collectives_name_their_group(rank):
    # record_traces.py funcol: all_reduce on the pairs {0,1}/{2,3}, then on the strided {0,2}/{1,3} (functional
    # collectives: the ET names the group), then a plain c10d all_reduce on the strided group (names none)
    k = KinetoDurations.load(DATA / f"funcol.rank{rank}.kineto.json")
    r = convert_trace(DATA / f"funcol.rank{rank}.et.json", rank, k)
    groups = r.process_groups
    colls = [attrs_of(n) for n in r.nodes if n.type == NodeType.COMM_COLL_NODE]
    assert [(a["comm_type"], a["comm_size"]) for a in colls] == [(CommType.ALL_REDUCE, 256)] * 3
    pair, strided = (groups[a["pg_name"]] for a in colls[:2])
    assert pair == [rank // 2 * 2, rank // 2 * 2 + 1] and strided == [rank % 2, rank % 2 + 2]
    assert "pg_name" not in colls[2]
    waits = [n for n in r.nodes if n.name == "_c10d_functional::wait_tensor"]
    assert waits and all(n.duration_micros == 0 for n in waits)  # the wait is the collective's time
    raw = json.loads((DATA / f"funcol.rank{rank}.kineto.json").read_text())["traceEvents"]
    assert any(e.get("name") == "_c10d_functional::wait_tensor" and e.get("dur", 0) > 0 for e in raw)


def test_a_group_named_by_a_dropped_backend_node_reaches_its_c10d_op(tmp_path):
    # trace_link's ET+ copies each NCCL kernel under its launcher with the Kineto event's pg_name; that kernel is
    # backend detail (dropped beside the c10d op), so the c10d op must take its group. The recorded gloo step's
    # subgroup all_reduce gets such a kernel node as its child.
    raw = json.loads((DATA / "gloo.rank0.et.json").read_text())
    sub = [n for n in raw["nodes"] if n["name"] == "c10d::allreduce_"][-1]
    raw["nodes"].append({**sub, "id": max(n["id"] for n in raw["nodes"]) + 1, "ctrl_deps": sub["id"],
                         "name": "ncclDevKernel_AllReduce_Sum_f32_RING_LL", "cat": "kernel", "pg_name": "1"})
    (tmp_path / "etplus.json").write_text(json.dumps(raw))
    colls = [attrs_of(n) for n in convert_trace(tmp_path / "etplus.json", 0).nodes
             if n.type == NodeType.COMM_COLL_NODE]
    assert [a.get("pg_name") for a in colls] == [None, None, None, None, "1"]
    assert not any(n.name.startswith("ncclDevKernel") for n in convert_trace(tmp_path / "etplus.json", 0).nodes)


def test_gloo_trace_validates_across_ranks(tmp_path):
    for rank in (0, 1):
        r = convert_trace(DATA / f"gloo.rank{rank}.et.json", rank)
        write_et(tmp_path / f"g.{rank}.et", r.metadata, r.nodes)
    problems = check_trace(Trace.load(tmp_path / "g"))
    assert errors(problems) == []


def test_each_thread_is_one_chain_in_execution_order_and_acyclic():
    r = convert_trace(DATA / "transformer.et.json", 0)
    g = RankGraph(r.metadata, r.nodes)
    assert g.find_cycle() == []
    roots = [n for n in r.nodes if not n.data_deps]
    raw = json.loads((DATA / "transformer.et.json").read_text())
    threads = {n["id"] for n in raw["nodes"] if n["name"] == "[pytorch|profiler|execution_trace|thread]"}
    assert len(roots) == len(threads)
    assert all(len(n.data_deps) <= 1 for n in r.nodes)


def test_mlp_linear_layers_carry_flops_on_the_innermost_op():
    r = convert_trace(DATA / "mlp.et.json", 0)
    ops = {(n.name, attrs_of(n).get("num_ops")) for n in r.nodes if "num_ops" in attrs_of(n)}
    # first layer forward: x[32,64] @ W[128,64]^T + b → addmm: 2·32·64·128 + 32·128
    assert ("aten::addmm", 2 * 32 * 64 * 128 + 32 * 128) in ops
    # aten::linear calls addmm: only the callee carries the FLOPs
    assert not any(name == "aten::linear" for name, _ in ops)
    for n in r.nodes:
        a = attrs_of(n)
        if "num_ops" in a:
            assert a["tensor_size"] > 0


def test_kineto_durations_are_exclusive_and_sum_to_the_step():
    k = KinetoDurations.load(DATA / "mlp.kineto.json")
    r = convert_trace(DATA / "mlp.et.json", 0, k)
    total = sum(n.duration_micros for n in r.nodes)
    assert total > 0
    # exclusive times of one chain cannot exceed the profiled wall time of the whole step
    events = json.loads((DATA / "mlp.kineto.json").read_text())["traceEvents"]
    span = max(e["ts"] + e.get("dur", 0) for e in events if e.get("ph") == "X") - \
        min(e["ts"] for e in events if e.get("ph") == "X")
    assert total <= span + len(r.nodes)  # + rounding of each node to whole µs


@pytest.mark.skipif(not SHARED_OLD.exists(), reason="../shared/data/pytorch_et not present")
def test_reads_older_schema_trace_from_shared_data():
    r = convert_trace(SHARED_OLD, 0)
    colls = [attrs_of(n) for n in r.nodes if n.type == NodeType.COMM_COLL_NODE]
    assert len(colls) == 10
    assert {(a["comm_type"], a["comm_size"]) for a in colls} == {(CommType.ALL_GATHER, 4)}  # 1 fp32 shard
    assert RankGraph(r.metadata, r.nodes).find_cycle() == []


def _et(tmp_path, schema="1.1.1-chakra.0.0.4", nodes=None) -> Path:
    nodes = nodes if nodes is not None else [
        {"id": 1, "name": "[pytorch|profiler|execution_trace|process]", "ctrl_deps": 1},
        {"id": 2, "name": "[pytorch|profiler|execution_trace|thread]", "ctrl_deps": 1},
        {"id": 3, "name": "aten::relu", "ctrl_deps": 2,
         "inputs": {"values": [[1, 1, 0, 8, 4, "cpu"]], "shapes": [[8]], "types": ["Tensor(float)"]},
         "outputs": {"values": [[2, 2, 0, 8, 4, "cpu"]], "shapes": [[8]], "types": ["Tensor(float)"]}, "attrs": []}]
    f = tmp_path / "t.json"
    f.write_text(json.dumps({"schema": schema, "pid": 1, "time": "t", "start_ts": 0, "nodes": nodes, "finish_ts": 1}))
    return f


def test_newer_minor_schema_converts_with_a_warning(tmp_path, capsys):
    r = convert_trace(_et(tmp_path, "1.2.0-chakra.1.0.0"), 0)
    assert [n.name for n in r.nodes] == ["aten::relu"]
    assert attrs_of(r.nodes[0])["num_ops"] == 8
    assert "newer than the newest known" in capsys.readouterr().err


def test_unknown_major_schema_is_rejected(tmp_path):
    with pytest.raises(ToolError, match="unsupported PyTorch ET schema major version 2"):
        convert_trace(_et(tmp_path, "2.0.0-chakra.0.0.4"), 0)


@st.composite
def call_trees(draw):
    """Random call trees as torch writes them: ids increase at op entry (pre-order), file order shuffled."""
    n = draw(st.integers(1, 40))
    kids: dict[int, list[int]] = {-1: []}
    for i in range(n):  # op i is called by an earlier op (or the thread root, -1)
        kids.setdefault(draw(st.sampled_from([-1, *range(i)])), []).append(i)
    ids: dict[int, int] = {}
    stack = list(reversed(kids[-1]))
    while stack:  # number ops in pre-order, like torch assigns ids at op entry
        op = stack.pop()
        ids[op] = 3 + len(ids)
        stack.extend(reversed(kids.get(op, [])))
    parent = {c: p for p, cs in kids.items() for c in cs}
    nodes = [{"id": 1, "name": "[pytorch|profiler|execution_trace|process]", "ctrl_deps": 1},
             {"id": 2, "name": "[pytorch|profiler|execution_trace|thread]", "ctrl_deps": 1}]
    for op in range(n):
        nodes.append({"id": ids[op], "name": f"aten::op{op % 5}",
                      "ctrl_deps": 2 if parent[op] == -1 else ids[parent[op]], "attrs": []})
    order = draw(st.permutations(nodes))
    return list(order)


@settings(max_examples=50, deadline=None)
@given(call_trees())
def test_random_call_trees_convert_to_one_acyclic_chain(tmp_path_factory, nodes):
    f = _et(tmp_path_factory.mktemp("t"), nodes=nodes)
    r = convert_trace(f, 0)
    g = RankGraph(r.metadata, r.nodes)
    assert g.find_cycle() == []
    assert len(r.nodes) == len(nodes) - 2
    # the chain visits callers before callees and siblings by start order: ascending ids here
    order = g.issue_order()
    assert order == sorted(order)


@pytest.mark.parametrize("dur,kineto_us,message", [
    (-3, None, "node 3: duration_micros -3 does not fit uint64"),  # a negative exclusive_dur in the ET
    (None, float("inf"), "node 3: exclusive duration inf µs is not a number of microseconds"),  # via the Python API
])
def test_a_value_that_does_not_fit_its_field_names_file_and_node(tmp_path, dur, kineto_us, message):
    attrs = [{"name": "rf_id", "type": "uint64", "value": 7}]
    if dur is not None:
        attrs.append({"name": "exclusive_dur", "type": "double", "value": dur})
    nodes = [{"id": 2, "name": "[pytorch|profiler|execution_trace|thread]", "ctrl_deps": 1},
             {"id": 3, "name": "aten::relu", "ctrl_deps": 2, "attrs": attrs}]
    f = _et(tmp_path, nodes=nodes)
    with pytest.raises(ToolError) as e:
        convert_trace(f, 0, None if kineto_us is None else KinetoDurations({7: kineto_us}))
    assert str(e.value) == f"{f}: {message}"


def test_send_peer_beyond_int32_is_an_error_not_a_wrapped_rank(tmp_path):
    # comm_dst is an int32 (what Chakra's feeder reads): a peer of 2^31 cannot be written, so it is refused
    nodes = [{"id": 2, "name": "[pytorch|profiler|execution_trace|thread]", "ctrl_deps": 1},
             {"id": 3, "name": "c10d::send", "ctrl_deps": 2,
              "inputs": {"values": [[[1, 1, 0, 8, 4, "cpu"]], "<pg>", 1 << 31, 0],
                         "shapes": [[[8]], [], [], []], "types": ["GenericList[Tensor(float)]", "Object", "Int", "Int"]}}]
    f = _et(tmp_path, nodes=nodes)
    with pytest.raises(ToolError, match=r"node 3: comm_dst 2147483648 does not fit int32"):
        convert_trace(f, 0)


@pytest.mark.parametrize("parents", [{5: 6, 6: 5}, {5: 999}])
def test_nodes_no_thread_root_reaches_are_dropped_with_a_warning(tmp_path, capsys, parents):
    """A parent cycle or a missing parent cuts nodes off the call tree: converted without them, and told."""
    doc = json.loads((DATA / "mlp.et.json").read_text())
    ops = [n for n in doc["nodes"] if n["name"].startswith("aten::")][:2]
    ids = {5: ops[0]["id"], 6: ops[1]["id"]}
    for k, parent in parents.items():
        n = ops[k - 5]
        for key in ("ctrl_deps", "parent"):
            if key in n:
                n[key] = ids.get(parent, parent)
    f = tmp_path / "cut.json"
    f.write_text(json.dumps(doc))
    full = convert_trace(DATA / "mlp.et.json", 0)
    capsys.readouterr()
    cut = convert_trace(f, 0)
    err = capsys.readouterr().err
    assert "node(s) dropped: their parent chain reaches no thread root" in err and f"{f}:" in err
    assert len(cut.nodes) < len(full.nodes)
    assert str(ids[5]) in err


def test_gzipped_et_and_kineto_convert_to_the_same_bytes(tmp_path):
    """PyTorch ETs and Kineto traces are often kept as .json.gz (PARAM's et_replay inputs, torch.profiler's
    tensorboard handler writes .pt.trace.json.gz): read like the plain files, whatever the name."""
    import gzip

    plain = convert_trace(DATA / "gloo.rank0.et.json", 0, KinetoDurations.load(DATA / "gloo.rank0.kineto.json"))
    et, kin = tmp_path / "et.json.gz", tmp_path / "kineto.json"  # the second compressed under a plain name
    et.write_bytes(gzip.compress((DATA / "gloo.rank0.et.json").read_bytes()))
    kin.write_bytes(gzip.compress((DATA / "gloo.rank0.kineto.json").read_bytes()))
    packed = convert_trace(et, 0, KinetoDurations.load(kin))
    assert [n.SerializeToString() for n in packed.nodes] == [n.SerializeToString() for n in plain.nodes]
    assert packed.metadata.SerializeToString() == plain.metadata.SerializeToString()


@pytest.mark.parametrize("which", ["et", "kineto"])
def test_corrupt_gzip_input_is_one_line_naming_the_file(tmp_path, which):
    import gzip

    src = DATA / ("gloo.rank0.et.json" if which == "et" else "gloo.rank0.kineto.json")
    bad = tmp_path / f"{which}.json.gz"
    bad.write_bytes(gzip.compress(src.read_bytes())[:-200])  # truncated: the stream ends early
    with pytest.raises(ToolError, match=rf"{which}\.json\.gz: corrupt gzip data"):
        if which == "et":
            convert_trace(bad, 0)
        else:
            KinetoDurations.load(bad)


@pytest.mark.parametrize("name,rank", [("gloo.rank1.et.json", 1), ("rank3.json", 3), ("trace.2.json.gz", 2),
                                       ("pytorch_et_0.json", 0), ("model.json", None), ("et.json", None)])
def test_rank_from_the_file_name(name, rank):
    from chakra_tools.cli_convert import rank_of

    assert rank_of(Path(name)) == rank


def test_inputs_read_from_a_pipe(tmp_path):
    """`chakra-convert pytorch <(zcat trace.json.gz)`: a pipe cannot seek back after the format is sniffed."""
    import os
    import threading

    fifo = tmp_path / "et.fifo"
    os.mkfifo(fifo)
    data = (DATA / "gloo.rank0.et.json").read_bytes()
    writer = threading.Thread(target=lambda: fifo.write_bytes(data))
    writer.start()
    piped = convert_trace(fifo, 0)
    writer.join()
    plain = convert_trace(DATA / "gloo.rank0.et.json", 0)
    assert [n.SerializeToString() for n in piped.nodes] == [n.SerializeToString() for n in plain.nodes]
