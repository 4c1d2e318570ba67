"""Text workloads, lossless JSON round trip, inspect and validate (API and CLI)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from chakra_tools.convert.text import convert_text
from chakra_tools.et import CommType, GlobalMetadata, Node, NodeType, attrs_of, make_attr, write_et
from chakra_tools.graph import RankGraph, Trace
from chakra_tools.validate import check_trace, errors

DATA = Path(__file__).resolve().parents[1] / "data"
BIN = Path(sys.executable).parent

TEXT = """DATA
2
conv1 -1 100 NONE 0 50 NONE 0 70 ALLREDUCE 4096 10
fc -1 30 NONE 0 20 NONE 0 25 ALLGATHER 1024 10
"""


def test_text_data_parallel_structure_and_critical_path(tmp_path):
    f = tmp_path / "w.txt"
    f.write_text(TEXT)
    per_npu = convert_text(f, npus=2, passes=1)
    assert len(per_npu) == 2
    meta, nodes = per_npu[0]
    names = [n.name for n in nodes]
    assert names == ["COMP_NODE_conv1_FWD", "COMP_NODE_fc_FWD", "COMP_NODE_fc_BWD_WG", "COMM_COLL_NODE_fc_ALLGATHER",
                     "COMP_NODE_fc_BWD_IG", "COMP_NODE_conv1_BWD_WG", "COMM_COLL_NODE_conv1_ALLREDUCE"]
    colls = [attrs_of(n) for n in nodes if n.type == NodeType.COMM_COLL_NODE]
    assert [(a["comm_type"], a["comm_size"]) for a in colls] == [(CommType.ALL_GATHER, 1024), (CommType.ALL_REDUCE, 4096)]
    # fwd 100 + 30, then wg(fc) 25 → ig(fc) 20 → wg(conv1) 70: critical path 245 µs
    assert RankGraph(meta, nodes).critical_path_us() == 245
    # ids come from one counter across NPU files, like MLCommons
    assert per_npu[1][1][0].id == len(nodes)


def test_text_cli_writes_one_file_per_npu(tmp_path):
    f = tmp_path / "w.txt"
    f.write_text(TEXT.replace("DATA", "MODEL"))
    subprocess.run([BIN / "chakra-convert", "text", str(f), "-o", str(tmp_path / "m"), "--npus", "4", "-q"], check=True)
    t = Trace.load(tmp_path / "m")
    assert t.num_ranks == 4
    assert errors(check_trace(t)) == []


attr_values = st.one_of(
    st.tuples(st.just("int64_val"), st.integers(-2**63, 2**63 - 1)),
    st.tuples(st.just("uint64_val"), st.integers(0, 2**64 - 1)),
    st.tuples(st.just("int32_val"), st.integers(-2**31, 2**31 - 1)),
    st.tuples(st.just("bool_val"), st.booleans()),
    st.tuples(st.just("double_val"), st.floats(allow_nan=False)),
    st.tuples(st.just("float_val"), st.floats(width=32, allow_nan=False)),
    st.tuples(st.just("float_list"), st.lists(st.floats(width=32, allow_nan=False), max_size=3)),
    st.tuples(st.just("string_val"), st.text(max_size=8)),
    st.tuples(st.just("bytes_val"), st.binary(max_size=8)),
    st.tuples(st.just("int64_list"), st.lists(st.integers(-2**63, 2**63 - 1), max_size=3)),
    st.tuples(st.just("bool_list"), st.lists(st.booleans(), max_size=3)),
    st.tuples(st.just("string_list"), st.lists(st.text(max_size=4), max_size=3)),
)


@st.composite
def nodes(draw):
    out = []
    for i in range(draw(st.integers(0, 6))):
        n = Node(id=i + 1, name=draw(st.text(max_size=6)), type=draw(st.sampled_from(list(NodeType))),
                 data_deps=draw(st.lists(st.integers(0, 2**64 - 1), max_size=3)),
                 duration_micros=draw(st.integers(0, 2**64 - 1)))
        if draw(st.booleans()):
            n.inputs.values = draw(st.text(max_size=10))
        for j, (kind, value) in enumerate(draw(st.lists(attr_values, max_size=4))):
            n.attr.append(make_attr(f"a{j}", value, kind))
        out.append(n)
    return out


@settings(max_examples=30, deadline=None)
@given(nodes())
def test_et_json_et_round_trip_is_byte_identical(tmp_path_factory, ns):
    from chakra_tools.convert.jsonio import doc_to_et, et_to_doc, write_json_doc
    d = tmp_path_factory.mktemp("rt")
    meta = GlobalMetadata(version="0.0.4")
    meta.attr.append(make_attr("schema", "x", "string_val"))
    write_et(d / "a.et", meta, ns)
    write_json_doc(et_to_doc(d / "a.et"), d / "a.json")
    doc_to_et(d / "a.json", d / "b.et")
    assert (d / "a.et").read_bytes() == (d / "b.et").read_bytes()


@pytest.mark.parametrize("value", [3.4028234663852886e38, -3.4028234663852886e38, 1.401298464324817e-45,
                                   float("inf"), float("-inf")])
def test_float32_extremes_round_trip(tmp_path, value):
    # protobuf prints FLT_MAX as 3.4028235e+38, which its own parser rejects as "too large" unless snapped
    from chakra_tools.convert.jsonio import doc_to_et, et_to_doc, write_json_doc
    n = Node(id=1, name="f", type=NodeType.COMP_NODE)
    n.attr.extend([make_attr("x", value, "float_val"), make_attr("y", [value, 1.5], "float_list")])
    write_et(tmp_path / "a.et", GlobalMetadata(version="0.0.4"), [n])
    write_json_doc(et_to_doc(tmp_path / "a.et"), tmp_path / "a.json")
    doc_to_et(tmp_path / "a.json", tmp_path / "b.et")
    assert (tmp_path / "a.et").read_bytes() == (tmp_path / "b.et").read_bytes()


def test_out_of_range_float_in_json_is_a_one_line_error(tmp_path):
    import json

    from chakra_tools.common import ToolError
    from chakra_tools.convert.jsonio import doc_to_et
    doc = {"format": "chakra-et-json", "version": 1, "metadata": {},
           "nodes": [{"id": 1, "attr": [{"name": "x", "float_val": 1e39}]}]}
    (tmp_path / "a.json").write_text(json.dumps(doc))
    with pytest.raises(ToolError, match=r"a\.json: nodes\[0\]: .*too large"):
        doc_to_et(tmp_path / "a.json", tmp_path / "b.et")
    assert not (tmp_path / "b.et").exists()


def _coll(nid, size, deps=()):
    n = Node(id=nid, name=f"ar{nid}", type=NodeType.COMM_COLL_NODE, data_deps=list(deps))
    n.attr.extend([make_attr("comm_type", 0), make_attr("comm_size", size)])
    return n


def test_validate_finds_each_problem_kind(tmp_path):
    a = [Node(id=1, name="c", type=NodeType.COMP_NODE, data_deps=[3]), Node(id=3, name="d", type=4, data_deps=[1]),
         Node(id=4, name="x", type=4, data_deps=[99]), Node(id=4, name="dup", type=4), _coll(5, 64)]
    send = Node(id=6, name="s", type=NodeType.COMM_SEND_NODE)
    send.attr.extend([make_attr("comm_dst", 1), make_attr("comm_tag", 1), make_attr("comm_size", 8)])
    write_et(tmp_path / "v.0.et", GlobalMetadata(), a + [send])
    write_et(tmp_path / "v.1.et", GlobalMetadata(), [_coll(5, 64)])
    text = "\n".join(str(p) for p in check_trace(Trace.load(tmp_path / "v")))
    assert "duplicate node id 4" in text
    assert "dangling data dep on 99" in text
    assert "dependency cycle: 1 -> 3 -> 1" in text
    assert "has no matching recv on rank 1" in text
    write_et(tmp_path / "m.0.et", GlobalMetadata(), [_coll(5, 64), _coll(6, 8, [5])])
    write_et(tmp_path / "m.1.et", GlobalMetadata(), [_coll(5, 128), _coll(6, 8, [5])])
    text = "\n".join(str(p) for p in check_trace(Trace.load(tmp_path / "m")))
    assert "collective #0 of the default group (all ranks) is ALL_REDUCE 128 B (node 5) but rank 0 has " \
           "ALL_REDUCE 64 B (node 5)" in text


def test_validate_cli_exit_codes(tmp_path):
    write_et(tmp_path / "ok.0.et", GlobalMetadata(), [_coll(1, 64)])
    write_et(tmp_path / "ok.1.et", GlobalMetadata(), [_coll(1, 64)])
    ok = subprocess.run([BIN / "chakra-convert", "validate", str(tmp_path / "ok")], capture_output=True, text=True)
    assert ok.returncode == 0, ok.stderr
    write_et(tmp_path / "bad.0.et", GlobalMetadata(), [_coll(1, 64)])
    write_et(tmp_path / "bad.1.et", GlobalMetadata(), [_coll(1, 32)])
    bad = subprocess.run([BIN / "chakra-convert", "validate", str(tmp_path / "bad")], capture_output=True, text=True)
    assert bad.returncode == 1 and "collective #0" in bad.stderr
    assert bad.stderr.strip().splitlines()[-1] == f"chakra-convert: error: {tmp_path / 'bad'}: 1 problem(s) found"


def _run(*args, cwd):
    return subprocess.run([str(BIN / "chakra-convert"), *map(str, args)], capture_output=True, text=True, cwd=cwd)


@pytest.mark.parametrize("case", ["truncated_et", "garbled_et", "not_pytorch", "missing", "major_schema"])
def test_bad_input_is_one_line_exit_1_and_no_output(tmp_path, case):
    good = tmp_path / "good.0.et"
    write_et(good, GlobalMetadata(version="0.0.4"), [_coll(1, 64), _coll(2, 64, [1])])
    if case == "truncated_et":
        f = tmp_path / "in.et"
        f.write_bytes(good.read_bytes()[:-3])
        args = ["to-json", f, "-o", "out.json"]
    elif case == "garbled_et":
        f = tmp_path / "in.et"
        f.write_bytes(b"\x05\xff\xff\xff\xff\xff" + good.read_bytes())
        args = ["to-json", f, "-o", "out.json"]
    elif case == "not_pytorch":
        f = tmp_path / "in.json"
        f.write_text('{"traceEvents": []}')
        args = ["pytorch", f, "-o", "out"]
    elif case == "missing":
        args = ["pytorch", tmp_path / "nope.json", "-o", "out"]
    else:
        f = tmp_path / "in.json"
        f.write_text('{"schema": "3.0.0-chakra.0.0.4", "nodes": []}')
        args = ["pytorch", f, "-o", "out"]
    r = _run(*args, cwd=tmp_path)
    assert r.returncode == 1
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("chakra-convert: error: ") and "Traceback" not in r.stderr
    assert "in." in lines[0] or "nope.json" in lines[0]
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted({"good.0.et", *(["in.et"] if "et" in case else []),
                                                                 *(["in.json"] if case in ("not_pytorch", "major_schema") else [])})


def test_pytorch_cli_end_to_end_with_gz_and_comm_groups(tmp_path):
    r = _run("pytorch", DATA / "gloo.rank0.et.json", DATA / "gloo.rank1.et.json", "--kineto",
             DATA / "gloo.rank0.kineto.json", "--kineto", DATA / "gloo.rank1.kineto.json", "-o", "et/g", "--gz",
             "--json", cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    assert sorted(p.name for p in (tmp_path / "et").iterdir()) == ["g.0.et.gz", "g.1.et.gz", "g.comm_groups.json"]
    t = Trace.load(tmp_path / "et" / "g")
    assert t.comm_groups == {"0": [0, 1], "1": [0, 1]}
    assert errors(check_trace(t)) == []
    ins = _run("inspect", "et/g", "--json", cwd=tmp_path)
    import json
    rep = json.loads(ins.stdout)
    assert rep["ranks"][0]["sends"] == 1 and rep["ranks"][0]["recvs"] == 1


def test_converted_files_round_trip_through_json_byte_identically(tmp_path):
    r = _run("pytorch", DATA / "transformer.et.json", "-o", "et/t", "-q", cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    assert _run("to-json", "et/t.0.et", "-o", "t.json", "-q", cwd=tmp_path).returncode == 0
    assert _run("from-json", "t.json", "-o", "t2.et", "-q", cwd=tmp_path).returncode == 0
    assert (tmp_path / "et/t.0.et").read_bytes() == (tmp_path / "t2.et").read_bytes()


def test_validate_checks_what_astra_run_needs(tmp_path):
    """Groups nobody defines, ranks outside their group, unknown collective types and negative sizes are errors
    (astra-run refuses them); a group declared with no ranks is the whole world."""
    def coll(nid, pg="", ct=0, size=64):
        n = _coll(nid, size)
        n.attr[0].int64_val = ct
        if pg:
            n.attr.append(make_attr("pg_name", pg))
        return n

    for r in range(4):
        write_et(tmp_path / f"g.{r}.et", GlobalMetadata(), [coll(1, "half"), coll(2, "ghost"), coll(3, ct=42),
                                                              coll(4, size=-5)])
    (tmp_path / "g.comm_groups.json").write_text('{"half": [0, 1]}')
    text = "\n".join(str(p) for p in check_trace(Trace.load(tmp_path / "g")))
    assert "rank 2: collective node 1 uses process group 'half' = [0, 1], which does not contain this rank" in text
    assert "process group 'ghost', which neither a process_group:init node nor the comm_groups.json" in text
    assert "node 3 has an unknown comm_type 42" in text
    assert "node 4 has a negative comm_size (-5)" in text
    for r in range(4):
        write_et(tmp_path / f"w.{r}.et", GlobalMetadata(), [coll(1, "all")])
    (tmp_path / "w.comm_groups.json").write_text('{"all": []}')
    assert errors(check_trace(Trace.load(tmp_path / "w"))) == []


def test_text_values_beyond_64_bits_are_one_line(tmp_path):
    f = tmp_path / "huge.txt"
    f.write_text("DATA\n1\nl1 -1 10 ALLREDUCE 100 10 ALLREDUCE 100 10 ALLREDUCE 99999999999999999999 10\n")
    r = subprocess.run([BIN / "chakra-convert", "text", f, "--npus", "2", "-o", tmp_path / "h"], capture_output=True,
                       text=True)
    assert r.returncode == 1 and r.stderr.strip() == f"chakra-convert: error: {f}: line 3: a time or size is out of " \
                                                     "range (at most 2^63 - 1)"
    assert not list(tmp_path.glob("h.*"))


def test_inspect_never_overwrites_the_comm_groups_it_reads(tmp_path):
    write_et(tmp_path / "t.0.et", GlobalMetadata(), [_coll(1, 64)])
    (tmp_path / "t.comm_groups.json").write_text("{}")
    r = subprocess.run([BIN / "chakra-convert", "inspect", tmp_path / "t", "-o", tmp_path / "t.comm_groups.json"],
                       capture_output=True, text=True)
    assert r.returncode == 1 and "refusing to overwrite an input file" in r.stderr
    assert (tmp_path / "t.comm_groups.json").read_text() == "{}"


def test_a_rank_with_two_files_is_ambiguous(tmp_path):
    from chakra_tools.common import ToolError
    from chakra_tools.et import resolve_trace

    write_et(tmp_path / "t.0.et", GlobalMetadata(), [_coll(1, 64)])
    write_et(tmp_path / "t.0.et.gz", GlobalMetadata(), [_coll(1, 128)])
    with pytest.raises(ToolError, match=r"rank 0 has two files, .*t\.0\.et and .*t\.0\.et\.gz: remove one"):
        resolve_trace(tmp_path / "t")


def test_a_later_json_version_is_refused(tmp_path):
    from chakra_tools.common import ToolError
    from chakra_tools.convert.jsonio import doc_to_et

    f = tmp_path / "v2.json"
    f.write_text('{"format": "chakra-et-json", "version": 2, "metadata": {}, "nodes": []}')
    with pytest.raises(ToolError, match="version 2 is not supported"):
        doc_to_et(f, tmp_path / "v2.et")
    assert not (tmp_path / "v2.et").exists()


def test_a_prefix_holding_more_ranks_is_not_mixed(tmp_path):
    """A 2-NPU conversion over a 4-NPU trace's prefix would leave ranks 2 and 3 behind: refused, nothing written."""
    def convert(npus):
        return subprocess.run([BIN / "chakra-convert", "text", DATA / "hybrid.txt", "--npus", str(npus), "-o",
                               tmp_path / "t", "-q"], capture_output=True, text=True)
    assert convert(4).returncode == 0
    before = {p.name: p.read_bytes() for p in tmp_path.iterdir()}
    r = convert(2)
    assert r.returncode == 1 and "already holds" in r.stderr and "t.2.et" in r.stderr
    assert {p.name: p.read_bytes() for p in tmp_path.iterdir()} == before
    assert convert(4).returncode == 0  # the same ranks again: replaced in place
