"""GPU work from a torch.profiler trace (`chakra-convert pytorch --kineto` on a GPU run), on real recorded traces.

tests/data/gpu/SOURCE.md: a one-A100 `torch.add` benchmark (HTA's test pair) and one DLRM step on 8 V100s with NCCL
(PARAM's). Both predate Kineto's `Record function id`, so their host ops link by op names. Expected values are
read from the raw Kineto JSON here, not through the converter's own parsing.
"""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from astrasim_py.cli import main as astra_main
from chakra_tools.common import ToolError
from chakra_tools.convert.kineto import KinetoDurations, align_by_name, innermost_containing
from chakra_tools.convert.pytorch import convert_trace
from chakra_tools.et import NodeType, attrs_of, write_et
from chakra_tools.graph import RankGraph, Trace
from chakra_tools.validate import check_trace, errors

from ..cli_run import one_error, run_main
from ..gpu_data import extract_dlrm

ROOT = Path(__file__).resolve().parents[2]
GPU = ROOT / "tests" / "data" / "gpu"
ADD_ET, ADD_KINETO = GPU / "simple_add.et.json.gz", GPU / "simple_add.kineto.json.gz"
SYSTEM = ROOT / "examples" / "configs" / "astra-run" / "ring_1d.json"


def _raw(path: Path) -> list[dict]:
    return json.loads(gzip.decompress(path.read_bytes()))["traceEvents"]


def test_align_by_name_skips_what_only_one_side_has():
    et = ["a", "b", "c", "d", "e"]
    prof = ["Step", "a", "b", "x", "c", "e"]  # a profiler-only op first and in the middle; "d" never profiled
    assert align_by_name(et, prof) == [(0, 1), (1, 2), (2, 4), (4, 5)]
    assert align_by_name([], prof) == [] and align_by_name(et, et) == [(i, i) for i in range(5)]


@settings(max_examples=60, deadline=None)
@given(st.lists(st.sampled_from("abcdef"), min_size=1, max_size=80), st.data())
def test_alignment_pairs_equal_names_in_order(seq, data):
    drop_a = data.draw(st.sets(st.integers(0, len(seq) - 1), max_size=3))
    drop_b = data.draw(st.sets(st.integers(0, len(seq) - 1), max_size=3))
    a = [x for i, x in enumerate(seq) if i not in drop_a]
    b = [x for i, x in enumerate(seq) if i not in drop_b]
    pairs = align_by_name(a, b)
    assert all(a[i] == b[j] for i, j in pairs)
    assert all(i1 < i2 and j1 < j2 for (i1, j1), (i2, j2) in zip(pairs, pairs[1:]))
    # at most the dropped ops go unmatched, plus what a greedy alignment loses around each edit
    assert len(pairs) >= len(seq) - 2 * (len(drop_a) + len(drop_b)) - len(drop_a | drop_b)


def _align_by_search(et, host, window=64):
    """The alignment's definition, searched the slow way: on a mismatch, the skip (a, b) with the smallest a + b
    (then the smallest a) after which the names agree, each side at most `window`."""
    pairs, i, j = [], 0, 0
    while i < len(et) and j < len(host):
        if et[i] == host[j]:
            pairs.append((i, j))
            i, j = i + 1, j + 1
            continue
        skips = [(a + b, a, b) for a in range(window + 1) for b in range(window + 1)
                 if i + a < len(et) and j + b < len(host) and et[i + a] == host[j + b]]
        if not skips:
            i += 1
            continue
        _, a, b = min(skips)
        i, j = i + a, j + b
    return pairs


@settings(max_examples=80, deadline=None)
@given(st.lists(st.sampled_from("abcdefgh"), max_size=120), st.lists(st.sampled_from("abcdefgh"), max_size=120),
       st.integers(1, 8))
def test_alignment_is_the_fewest_skips_search(a, b, window):
    assert align_by_name(a, b, window) == _align_by_search(a, b, window)


def test_innermost_containing_follows_the_call_stack():
    ops = [(0, 100, "t", 1), (10, 50, "t", 2), (20, 10, "t", 3), (70, 20, "t", 4), (0, 100, "u", 5)]
    queries = [(25, "t"), (15, "t"), (65, "t"), (75, "t"), (101, "t"), (5, "u"), (5, "v")]
    assert innermost_containing(ops, queries) == [3, 2, 1, 4, -1, 5, -1]


def _add_nodes():
    return convert_trace(ADD_ET, 0, KinetoDurations.load(ADD_KINETO)).nodes


def test_every_op_of_a_trace_without_record_function_ids_links_by_name():
    k = KinetoDurations.load(ADD_KINETO)
    assert k.by_name  # 2023: External id only
    et = json.loads(gzip.decompress(ADD_ET.read_bytes()))["nodes"]
    ops = [(n["id"], n["rf_id"], n["name"], n["tid"]) for n in et if not n["name"].startswith("[pytorch")]
    link = k.link(ops)
    assert len(link) == len(ops) == 36
    assert all(k.host_ops[link[nid]].name == name for nid, _, name, _ in ops)
    # host durations: Kineto's inclusive time less the same-thread callees' (the first aten::rand, by hand)
    raw = {e["args"]["External id"]: e for e in _raw(ADD_KINETO) if e.get("cat") == "cpu_op"}
    rand = next(n for n in _add_nodes() if attrs_of(n).get("rf_id") == 2)  # External id == rf_id in this pair
    assert rand.name == "aten::rand"
    # aten::rand (External id 2) calls aten::empty (3) and aten::uniform_ (4)
    assert rand.duration_micros == round(raw[2]["dur"] - raw[3]["dur"] - raw[4]["dur"])


def test_kernels_hang_off_the_host_chain_after_their_launcher_and_stream():
    nodes = {n.id: n for n in _add_nodes()}
    gpu = [n for n in nodes.values() if attrs_of(n).get("is_cpu_op") is False]
    raw = _raw(ADD_KINETO)
    kernels = sorted((e for e in raw if e.get("cat") == "kernel"), key=lambda e: e["ts"])
    assert [n.name for n in gpu] == [e["name"] for e in kernels]
    assert [n.duration_micros for n in gpu] == [round(e["dur"]) for e in kernels]
    assert all(attrs_of(n)["stream"] == 7 and n.type == NodeType.COMP_NODE for n in gpu)
    # launchers: two aten::uniform_ (inside the two aten::rand) and the two aten::add; then the stream order
    assert [nodes[n.data_deps[0]].name for n in gpu] == ["aten::uniform_"] * 2 + ["aten::add"] * 2
    assert [list(n.data_deps[1:]) for n in gpu] == [[], [gpu[0].id], [gpu[1].id], [gpu[2].id]]
    # nothing on the host waits for a kernel except across a synchronize
    gpu_ids = {n.id for n in gpu}
    host_waits = {n.name for n in nodes.values() if gpu_ids & set(n.data_deps) and n.id not in gpu_ids}
    assert host_waits == {"aten::add", "[param|torch.add|0|0|0|measure|forward]"}
    # ids renumbered densely in execution order, each kernel right after its launcher (what trace_link does)
    ids = sorted(nodes)
    assert ids == list(range(ids[0], ids[0] + len(ids)))  # (the thread and process markers hold 0 and 1)
    for n in gpu:
        assert nodes[n.id - 1].id in (n.data_deps[0], *n.data_deps[1:])
    host_rf = [attrs_of(nodes[i])["rf_id"] for i in ids if nodes[i].id not in {g.id for g in gpu}]
    assert host_rf == sorted(host_rf)
    # FLOPs go where the work ran: aten::add's moved to its kernel (65536 float adds)
    assert [attrs_of(n).get("num_ops") for n in gpu] == [None, None, 65536, 65536]
    assert all("num_ops" not in attrs_of(n) for n in nodes.values() if n.name == "aten::add")


def test_the_host_waits_for_the_gpu_after_a_synchronize_and_not_in_it():
    """After each cudaDeviceSynchronize the thread's next op depends on the last kernel launched before the call
    returned; the call's blocked time leaves the op it was made in (its own time is inclusive − callees − sync)."""
    raw = _raw(ADD_KINETO)
    syncs = sorted((e for e in raw if e.get("name") == "cudaDeviceSynchronize"), key=lambda e: e["ts"])
    launches = {e["args"]["correlation"]: e for e in raw if e.get("name") == "cudaLaunchKernel"}
    kernels = sorted((e for e in raw if e.get("cat") == "kernel"), key=lambda e: e["ts"])
    ops = sorted((e for e in raw if e.get("cat") in ("cpu_op", "user_annotation")), key=lambda e: e["ts"])
    nodes = {n.id: n for n in _add_nodes()}
    gpu_ids = [n.id for n in sorted(nodes.values(), key=lambda n: n.id) if attrs_of(n).get("is_cpu_op") is False]
    by_ext = {e["args"]["External id"]: e for e in ops}
    ext_of = {n.id: attrs_of(n).get("rf_id") for n in nodes.values()}  # this pair: External id == rf_id
    expected = {}
    for s in syncs:
        end = s["ts"] + s["dur"]
        done = [i for i, k in enumerate(kernels) if launches[k["args"]["correlation"]]["ts"] <= end]
        nxt = next((e for e in ops if e["ts"] >= end), None)
        if done and nxt is not None:
            expected[nxt["args"]["External id"]] = gpu_ids[done[-1]]
    got = {ext_of[n.id]: max(d for d in n.data_deps if d in gpu_ids) for n in nodes.values()
           if n.id not in gpu_ids and set(n.data_deps) & set(gpu_ids)}
    assert got == expected and len(got) == 3
    # the synchronizes inside the second warm-up forward (25 µs and 2353 µs) are not that op's own time
    fwd = next(n for n in nodes.values() if ext_of[n.id] == 21)
    assert fwd.name == "[param|torch.add|0|0|0|warmup|forward]"
    k, add = by_ext[21], by_ext[22]
    assert add["name"] == "aten::add"
    inside = [s["dur"] for s in syncs if k["ts"] <= s["ts"] <= k["ts"] + k["dur"]]
    assert sorted(inside) == [25, 2353]
    assert fwd.duration_micros == round(k["dur"] - add["dur"] - sum(inside))


def test_kernels_are_numbered_in_launch_order_after_callees_that_launched_earlier(tmp_path):
    """aten::A calls B (which launches k1), launches k2, calls C (launches k4), launches k3 (one stream). Renumbered
    in execution order, a kernel comes after the last op its thread had started when it was launched: A, B, k1, k2,
    C, k4, k3. Found in review: each kernel came right after its launcher (A, k2, k3, B, k1, C, k4), so k2's id was
    smaller than that of k1, the stream predecessor it depends on."""
    tid = [{"name": "tid", "type": "uint64", "value": 1}]
    nodes = [{"id": 1, "name": "[pytorch|profiler|execution_trace|process]", "ctrl_deps": 1},
             {"id": 2, "name": "[pytorch|profiler|execution_trace|thread]", "ctrl_deps": 1, "attrs": tid}]
    host = {3: ("aten::A", 2, 0, 100), 4: ("aten::B", 3, 10, 20), 5: ("aten::C", 3, 60, 20)}  # name, parent, ts, dur
    nodes += [{"id": i, "name": name, "ctrl_deps": parent, "inputs": {}, "outputs": {},
               "attrs": [*tid, {"name": "rf_id", "type": "uint64", "value": i}]}
              for i, (name, parent, _, _) in host.items()]
    events = [{"ph": "X", "cat": "cpu_op", "name": name, "ts": ts, "dur": dur, "tid": 1,
               "args": {"Record function id": i, "External id": i}} for i, (name, _, ts, dur) in host.items()]
    for corr, (kernel, launch, start) in enumerate([("k1", 15, 100), ("k2", 40, 110), ("k3", 85, 130),
                                                   ("k4", 65, 120)]):
        events.append({"ph": "X", "cat": "cuda_runtime", "name": "cudaLaunchKernel", "ts": launch, "dur": 2,
                       "tid": 1, "args": {"correlation": corr}})
        events.append({"ph": "X", "cat": "kernel", "name": kernel, "ts": start, "dur": 5, "tid": 7,
                       "args": {"correlation": corr, "stream": 7}})
    (tmp_path / "et.json").write_text(json.dumps({"schema": "1.1.1-chakra.0.0.4", "nodes": nodes}))
    (tmp_path / "k.json").write_text(json.dumps({"traceEvents": events}))
    out = convert_trace(tmp_path / "et.json", 0, KinetoDurations.load(tmp_path / "k.json")).nodes
    assert [n.name for n in out] == ["aten::A", "aten::B", "k1", "k2", "aten::C", "k4", "k3"]
    assert all(d < n.id for n in out for d in n.data_deps)
    by_id = {n.id: n for n in out}
    assert {n.name: [by_id[d].name for d in n.data_deps] for n in out if n.name.startswith("k")} == \
        {"k1": ["aten::B"], "k2": ["aten::A", "k1"], "k4": ["aten::C", "k2"], "k3": ["aten::A", "k4"]}


def test_a_gpu_step_validates_and_simulates_its_critical_path(tmp_path, capsys):
    r = convert_trace(ADD_ET, 0, KinetoDurations.load(ADD_KINETO))
    write_et(tmp_path / "add.0.et", r.metadata, r.nodes)
    assert errors(check_trace(Trace.load(tmp_path / "add"))) == []
    net = tmp_path / "net1.yml"
    net.write_text("topology: [ Ring ]\nnpus_count: [ 1 ]\nbandwidth: [ 50.0 ]\nlatency: [ 500.0 ]\n")
    code, out, err = run_main(astra_main, capsys, "--workload", str(tmp_path / "add"), "--system", str(SYSTEM),
                              "--network", str(net), "--json", "-q")
    assert code == 0, err
    # one host thread and one stream: the lanes never contend, so the step is the longest dependency path
    assert json.loads(out)["sim_time_ns"] == RankGraph(r.metadata, r.nodes).critical_path_us() * 1000


def test_trace_link_output_kernels_are_off_the_host_chain_too(tmp_path):
    """An ET+ (trace_link output) GPU node: after its launcher and its stream's previous kernel; the host goes on."""
    raw = json.loads((ROOT / "tests" / "data" / "mlp.et.json").read_text())
    top = max(n["id"] for n in raw["nodes"])
    mms = [n for n in raw["nodes"] if n["name"] == "aten::addmm"][:2]
    for i, mm in enumerate(mms):
        raw["nodes"].append({"id": top + 1 + i, "name": "sm80_xmma_gemm", "ctrl_deps": mm["id"], "cat": "kernel",
                             "stream": 7, "exclusive_dur": 40, "inputs": {}, "outputs": {}, "attrs": []})
    (tmp_path / "etplus.json").write_text(json.dumps(raw))
    nodes = {n.id: n for n in convert_trace(tmp_path / "etplus.json", 0).nodes}
    k1, k2 = nodes[top + 1], nodes[top + 2]
    assert list(k1.data_deps) == [mms[0]["id"]] and list(k2.data_deps) == [mms[1]["id"], k1.id]
    assert k1.duration_micros == 40 and attrs_of(k1)["stream"] == 7 and attrs_of(k1)["is_cpu_op"] is False
    assert not any(set(n.data_deps) & {k1.id, k2.id} for n in nodes.values() if n.id not in (k1.id, k2.id))
    assert attrs_of(k1)["num_ops"] > 0 and "num_ops" not in attrs_of(nodes[mms[0]["id"]])


def test_et_plus_streams_follow_the_kernels_start_times_across_threads(tmp_path):
    """Two threads launching on one stream (a forward thread and autograd's): the walk meets the GPU nodes thread by
    thread, but a stream runs its kernels in start order, so each waits for the one that started before it (found
    in review: the chain followed the walk). Stream 8 is a chain of its own."""
    thread = "[pytorch|profiler|execution_trace|thread]"
    nodes = [{"id": 1, "name": "[pytorch|profiler|execution_trace|process]", "ctrl_deps": 1}]
    for root, tid in ((2, 1), (10, 2)):
        nodes.append({"id": root, "name": thread, "ctrl_deps": 1, "attrs": [{"name": "tid", "type": "uint64",
                                                                             "value": tid}]})
        nodes += [{"id": root + i, "name": "aten::mul", "ctrl_deps": root, "inputs": {}, "outputs": {},
                   "attrs": [{"name": "tid", "type": "uint64", "value": tid}], "exclusive_dur": 5} for i in (1, 2)]
    kernels = {20: (3, 7, 100), 21: (11, 7, 50), 22: (4, 7, 150), 23: (12, 8, 60), 24: (12, 7, 120)}
    for nid, (launcher, stream, ts) in kernels.items():
        nodes.append({"id": nid, "name": f"kernel_{nid}", "ctrl_deps": launcher, "cat": "kernel", "ts": ts,
                      "stream": stream, "exclusive_dur": 9, "inputs": {}, "outputs": {}, "attrs": []})
    f = tmp_path / "plus.json"
    f.write_text(json.dumps({"schema": "1.1.1-chakra.0.0.4", "nodes": nodes}))
    got = {n.id: list(n.data_deps) for n in convert_trace(f, 0).nodes if n.id in kernels}
    # stream 7 by ts: 21 (50), 20 (100), 24 (120), 22 (150)
    assert got == {21: [11], 20: [3, 21], 24: [12, 20], 22: [4, 24], 23: [12]}


@pytest.mark.parametrize("fault", ["host_duration", "kernel_duration", "dropped_node"])
def test_messages_name_the_input_ets_ids_after_renumbering(tmp_path, capsys, fault):
    """A GPU rank is renumbered; an error or warning names the node as the input ET has it (found in review: it
    named the new id, which the user cannot find). The torch.add pair's second aten::add is ET node 58 (External id
    36); a kernel from the profile is named by its launcher's id."""
    doc = json.loads(gzip.decompress(ADD_KINETO.read_bytes()))
    et = ADD_ET
    if fault == "host_duration":  # too long for duration_micros (uint64)
        next(e for e in doc["traceEvents"] if e.get("args", {}).get("External id") == 36
             and e.get("cat") == "cpu_op")["dur"] = 1e25
    elif fault == "kernel_duration":
        max((e for e in doc["traceEvents"] if e.get("cat") == "kernel"), key=lambda e: e["ts"])["dur"] = 1e25
    else:  # aten::empty (ET node 42) loses its parent
        raw = json.loads(gzip.decompress(ADD_ET.read_bytes()))
        next(n for n in raw["nodes"] if n["id"] == 42)["parent"] = 999
        et = tmp_path / "et.json"
        et.write_text(json.dumps(raw))
    (tmp_path / "k.json").write_text(json.dumps(doc))
    if fault == "dropped_node":
        convert_trace(et, 0, KinetoDurations.load(tmp_path / "k.json"))
        assert "1 node(s) dropped: their parent chain reaches no thread root (a missing parent or a cycle), " \
               "e.g. node(s) 42" in capsys.readouterr().err
        return
    with pytest.raises(ToolError) as e:
        convert_trace(et, 0, KinetoDurations.load(tmp_path / "k.json"))
    who = "node 58" if fault == "host_duration" else "the GPU node of a kernel launched by node 58"
    assert str(e.value) == f"{et}: {who}: duration_micros 10000000000000000905969664 does not fit uint64"


def _add_et_plus(tmp_path: Path) -> Path:
    """The torch.add pair as chakra_trace_link merges it into an ET+: each kernel a copy of the ET op that launched
    it (the two aten::uniform_, then the two aten::add) under that op, with the kernel's cat, name, ts, stream and
    duration."""
    doc = json.loads(gzip.decompress(ADD_ET.read_bytes()))
    ops = sorted(doc["nodes"], key=lambda n: n["id"])
    launchers = [n for n in ops if n["name"] in ("aten::uniform_", "aten::add")]
    kernels = sorted((e for e in _raw(ADD_KINETO) if e.get("cat") == "kernel"), key=lambda e: e["ts"])
    top = ops[-1]["id"]
    for i, (k, op) in enumerate(zip(kernels, launchers, strict=True)):
        doc["nodes"].append({**op, "id": top + 1 + i, "ctrl_deps": op["id"], "cat": k["cat"], "name": k["name"],
                             "ts": k["ts"], "stream": k["args"]["stream"], "exclusive_dur": k["dur"],
                             "inclusive_dur": k["dur"]})
    f = tmp_path / "add_plus.json"
    f.write_text(json.dumps(doc))
    return f


def test_an_et_plus_given_with_its_profile_is_refused_not_doubled(tmp_path, capsys):
    """An ET+ holds the profile's kernels already: with --kineto too, each kernel became two GPU nodes (found in
    review). It is a one-line error naming the file; alone, the ET+ converts with its 4 kernels."""
    from chakra_tools.cli_convert import main as convert_main

    plus = _add_et_plus(tmp_path)
    code, _, err = run_main(convert_main, capsys, "pytorch", str(plus), "--kineto", str(ADD_KINETO),
                            "-o", str(tmp_path / "o"))
    line = one_error(code, err)
    assert str(plus) in line and "ET+" in line and "without --kineto" in line
    assert not list(tmp_path.glob("o*"))
    nodes = convert_trace(plus, 0).nodes
    assert sum(attrs_of(n).get("is_cpu_op") is False for n in nodes) == 4


@pytest.fixture(scope="module")
def dlrm(tmp_path_factory):
    return extract_dlrm(tmp_path_factory.mktemp("dlrm"))


def test_dlrm_on_eight_gpus_converts_links_and_simulates_near_its_recorded_step(dlrm, tmp_path, capsys):
    from chakra_tools.cli_convert import main as convert_main

    ets, kin = dlrm
    args = ["pytorch", *map(str, ets)]
    for k in kin:
        args += ["--kineto", str(k)]
    code, _, err = run_main(convert_main, capsys, *args, "-o", str(tmp_path / "dlrm"), "-q")
    assert code == 0, err
    assert run_main(convert_main, capsys, "validate", str(tmp_path / "dlrm"))[0] == 0
    steps = []
    for r, k in enumerate(kin):
        raw = json.loads(k.read_text())["traceEvents"]
        steps.append(next(e["dur"] for e in raw if e.get("name", "").startswith("ProfilerStep")))
        g = RankGraph.load(tmp_path / f"dlrm.{r}.et")
        colls = g.collectives()
        # the step's 5 embedding all-to-alls and 3 all-reduces (394 241 floats of dense gradients among them)
        assert sorted(c.comm_type for c in colls).count(6) == 5 and len(colls) == 8
        assert any(c.comm_size == 394241 * 4 for c in colls)
        et = json.loads(ets[r].read_text())["nodes"]
        ops = [(n["id"], n["rf_id"], n["name"], n["tid"]) for n in et if not n["name"].startswith("[pytorch")]
        kd = KinetoDurations.load(k)
        link = kd.link(ops)  # two threads (main, autograd), each aligned with its profiler thread
        assert len(link) == len(ops) and all(kd.host_ops[link[i]].name == name for i, _, name, _ in ops)
        # GPU work launched in this step (ranks 1 and 3 also run 64 kernels each that the previous step queued)
        launched = {e["args"]["correlation"] for e in raw if e.get("cat") == "cuda_runtime"
                    and "correlation" in e["args"]}
        kernels = [e for e in raw if e.get("cat") in ("kernel", "gpu_memcpy", "gpu_memset")
                   and "nccl" not in e["name"].lower() and e["args"]["correlation"] in launched]
        gpu = [n for n in g.nodes if attrs_of(n).get("is_cpu_op") is False and n.type == NodeType.COMP_NODE]
        assert len(gpu) == len(kernels)
        # numbered in launch order: whatever waits for a kernel, and whatever a kernel waits for, keeps id order
        # (15-16 kernels per rank came before a stream predecessor their launcher's callees had launched)
        gpu_ids = {n.id for n in gpu}
        assert all(d < n.id for n in g.nodes for d in n.data_deps if n.id in gpu_ids or d in gpu_ids)
    net = tmp_path / "ring8.yml"
    net.write_text("topology: [ Ring ]\nnpus_count: [ 8 ]\nbandwidth: [ 50.0 ]\nlatency: [ 500.0 ]\n")
    code, out, err = run_main(astra_main, capsys, "--workload", str(tmp_path / "dlrm"), "--system", str(SYSTEM),
                              "--network", str(net), "--json", "-q")
    assert code == 0, err
    # collectives make every rank wait for the slowest: the recorded iteration is the longest ProfilerStep
    assert abs(json.loads(out)["sim_time_ns"] / 1000 / max(steps) - 1) < 0.1


def test_a_profile_of_another_run_is_told(dlrm, capsys):
    """The torch.add ET given a DLRM rank's profile: most ops find nothing, and the profile is far longer."""
    _, kin = dlrm
    nodes = convert_trace(ADD_ET, 0, KinetoDurations.load(kin[0])).nodes
    err = capsys.readouterr().err
    assert "holds 1673 host ops against the ET's 36" in err and "may be another step" in err
    assert "ops were found in" in err and "a profile of another rank, step or run?" in err
    assert not any(attrs_of(n).get("is_cpu_op") is False for n in nodes if n.name.startswith("void"))
    convert_trace(ADD_ET, 0, KinetoDurations.load(ADD_KINETO))
    assert "found in" not in capsys.readouterr().err  # its own profile: no warning


@pytest.mark.parametrize("mutate", ["list_correlation", "huge_stream", "string_correlation", "launch_on_another_thread"])
def test_odd_gpu_events_convert_to_a_valid_trace(tmp_path, mutate):
    """Values a profile should not hold but a tool may write: never a traceback; what cannot be paired is left out."""
    doc = json.loads(gzip.decompress(ADD_KINETO.read_bytes()))
    for e in doc["traceEvents"]:
        args = e.get("args") if isinstance(e, dict) else None
        if not isinstance(args, dict):
            continue
        if mutate == "list_correlation" and e.get("cat") == "kernel":
            args["correlation"] = [args["correlation"]]
        elif mutate == "huge_stream" and e.get("cat") == "kernel":
            args["stream"] = 1 << 70
        elif mutate == "string_correlation" and "correlation" in args:
            args["correlation"] = str(args["correlation"])
        elif mutate == "launch_on_another_thread" and e.get("name") == "cudaLaunchKernel":
            e["tid"] = 99999
    (tmp_path / "k.json").write_text(json.dumps(doc))
    r = convert_trace(ADD_ET, 0, KinetoDurations.load(tmp_path / "k.json"))
    write_et(tmp_path / "o.0.et", r.metadata, r.nodes)
    assert errors(check_trace(Trace.load(tmp_path / "o"))) == []
    gpu = [n for n in r.nodes if attrs_of(n).get("is_cpu_op") is False]
    want = {"list_correlation": 0, "huge_stream": 4, "string_correlation": 4, "launch_on_another_thread": 0}
    assert len(gpu) == want[mutate]
    if mutate == "huge_stream":
        assert {attrs_of(n)["stream"] for n in gpu} == {-1}


def test_a_kernel_launched_as_a_synchronize_returns_is_not_waited_for_by_its_own_launcher(tmp_path):
    """Integer-µs timestamps can put a launch exactly where a synchronize ends and the next op starts: that op
    launched the kernel, so waiting for it would be a cycle (found in review). Only launches strictly before the
    next op count; and a device-wide synchronize waits for the last kernel of every stream."""
    doc = json.loads(gzip.decompress(ADD_KINETO.read_bytes()))
    first = min((e for e in doc["traceEvents"] if e.get("name") == "cudaDeviceSynchronize"), key=lambda e: e["ts"])
    first["dur"] = 121
    launch = next(e for e in doc["traceEvents"] if e.get("name") == "cudaLaunchKernel"
                  and e["args"].get("correlation") == 53)
    launch["ts"] = first["ts"] + 121
    (tmp_path / "k.json").write_text(json.dumps(doc))
    r = convert_trace(ADD_ET, 0, KinetoDurations.load(tmp_path / "k.json"))
    write_et(tmp_path / "o.0.et", r.metadata, r.nodes)
    assert errors(check_trace(Trace.load(tmp_path / "o"))) == []
    assert RankGraph(r.metadata, r.nodes).find_cycle() == []


@pytest.mark.parametrize("by", ["record_function_id", "name"])
def test_a_host_op_without_a_start_time_keeps_its_duration(tmp_path, capsys, by):
    """A profile's host event without `ts` (found in review: it was skipped, so its op got no duration) still times
    its op, linked by record-function id (the gloo step) or by name (the torch.add pair); what needs its start
    (thread order, being a kernel's launcher) it cannot give, and the warning says so."""
    data = ROOT / "tests" / "data"
    et, kin = (data / "gloo.rank0.et.json", data / "gloo.rank0.kineto.json") if by == "record_function_id" \
        else (ADD_ET, ADD_KINETO)
    doc = json.loads(gzip.decompress(kin.read_bytes()) if kin.suffix == ".gz" else kin.read_text())
    op = next(e for e in doc["traceEvents"] if e.get("cat") == "cpu_op" and e["name"].startswith("aten::")
              and e["dur"] > 0)
    del op["ts"]
    (tmp_path / "k.json").write_text(json.dumps(doc))
    full = convert_trace(et, 0, KinetoDurations.load(kin)).nodes
    capsys.readouterr()
    cut = convert_trace(et, 0, KinetoDurations.load(tmp_path / "k.json")).nodes
    assert [(n.name, n.duration_micros) for n in cut] == [(n.name, n.duration_micros) for n in full]
    assert "1 host op(s) have no 'ts': their durations are kept" in capsys.readouterr().err


def test_gpu_events_and_runtime_calls_without_a_start_time_are_left_out_with_a_warning(tmp_path, capsys):
    """A kernel or a runtime call without `ts` has no place among the streams or the launches: the kernel, and the
    kernel whose launch lost its `ts`, get no GPU node, and one warning counts them (they were dropped silently)."""
    doc = json.loads(gzip.decompress(ADD_KINETO.read_bytes()))
    kernels = sorted((e for e in doc["traceEvents"] if e.get("cat") == "kernel"), key=lambda e: e["ts"])
    del kernels[0]["ts"]
    launch = next(e for e in doc["traceEvents"] if e.get("cat") == "cuda_runtime"
                  and e["args"].get("correlation") == kernels[1]["args"]["correlation"])
    del launch["ts"]
    (tmp_path / "k.json").write_text(json.dumps(doc))
    full = convert_trace(ADD_ET, 0, KinetoDurations.load(ADD_KINETO))
    capsys.readouterr()
    cut = convert_trace(ADD_ET, 0, KinetoDurations.load(tmp_path / "k.json"))
    assert "2 GPU event(s) or runtime call(s) have no 'ts' and are left out" in capsys.readouterr().err
    assert (full.stats["gpu"], cut.stats["gpu"]) == (4, 2)
    write_et(tmp_path / "o.0.et", cut.metadata, cut.nodes)
    assert errors(check_trace(Trace.load(tmp_path / "o"))) == []


def _matmul_et(path: Path) -> Path:
    """The ET of HTA's multi-stream profile: three aten::matmul, each calling aten::mm, on one thread (as the
    profile records them; it has no ET of its own)."""
    def node(nid, name, parent, rf, tid=1):
        return {"name": name, "id": nid, "rf_id": rf, "parent": parent, "fw_parent": 0, "seq_id": -1, "scope": 0,
                "tid": tid, "fw_tid": 0, "op_schema": "", "inputs": [], "input_shapes": [], "input_types": [],
                "outputs": [], "output_shapes": [], "output_types": []}
    nodes = [node(1, "[pytorch|profiler|execution_trace|process]", 1, 0, 0),
             node(2, "[pytorch|profiler|execution_trace|thread]", 1, 0)]
    for k in range(3):
        nodes += [node(3 + 2 * k, "aten::matmul", 2, 1 + 2 * k), node(4 + 2 * k, "aten::mm", 3 + 2 * k, 2 + 2 * k)]
    path.write_text(json.dumps({"schema": "1.0.1", "pid": 1, "time": "", "start_ts": 0, "finish_ts": 0,
                                "nodes": nodes}))
    return path


def _kernel(g: RankGraph, name: str, stream: int) -> int:
    return next(n.id for n in g.nodes if n.name.startswith(name) and g.attrs[n.id].get("stream") == stream)


def test_a_stream_told_to_wait_for_an_event_waits_for_the_other_streams_work(tmp_path):
    """HTA's recorded profile with Kineto's cuda_sync events: stream 24 is told (cudaStreamWaitEvent) to wait for an
    event recorded on stream 20 after its gemm, so the first work on stream 24 after that (a memset) waits for the
    gemm of stream 20, a dependency across streams; without the cuda_sync events it has none (as before)."""
    et = _matmul_et(tmp_path / "mm.et.json")
    kin = GPU / "event_sync_multi_stream.kineto.json.gz"
    r = convert_trace(et, 0, KinetoDurations.load(kin))
    g = RankGraph(r.metadata, r.nodes)
    assert r.stats["gpu"] == 6
    gemm20, memset24 = _kernel(g, "ampere_sgemm", 20), _kernel(g, "Memset", 24)
    assert gemm20 in g.by_id[memset24].data_deps
    assert all(d < n.id for n in g.nodes for d in n.data_deps if g.attrs[n.id].get("is_cpu_op") is False)
    write_et(tmp_path / "o.0.et", r.metadata, r.nodes)
    assert errors(check_trace(Trace.load(tmp_path / "o"))) == []
    # the same profile without its cuda_sync events: streams independent
    doc = json.loads(gzip.decompress(kin.read_bytes()))
    doc["traceEvents"] = [e for e in doc["traceEvents"] if e.get("cat") != "cuda_sync"]
    (tmp_path / "k.json").write_text(json.dumps(doc))
    g0 = RankGraph(*(lambda c: (c.metadata, c.nodes))(convert_trace(et, 0, KinetoDurations.load(tmp_path / "k.json"))))
    assert _kernel(g0, "ampere_sgemm", 20) not in g0.by_id[_kernel(g0, "Memset", 24)].data_deps
