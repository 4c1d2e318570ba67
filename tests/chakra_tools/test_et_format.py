"""ET files are MLCommons-compatible on the wire, and we read files written with the raw protobuf API."""

from __future__ import annotations

import gzip

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from chakra_tools.common import ToolError
from chakra_tools.et import (
    CommType,
    ETWriter,
    GlobalMetadata,
    Node,
    NodeType,
    attrs_of,
    encode_varint,
    iter_et,
    make_attr,
    read_et,
    resolve_trace,
    write_et,
)
from chakra_tools.schema import et_def_pb2 as pb
from tests.chakra_tools import wire


def _coll_node() -> Node:
    n = Node(id=12, name="ar", type=NodeType.COMM_COLL_NODE, data_deps=[11], ctrl_deps=[3], duration_micros=5)
    n.attr.extend([make_attr("comm_type", int(CommType.ALL_REDUCE)), make_attr("comm_size", 4096),
                   make_attr("is_cpu_op", False), make_attr("comm_src", 2), make_attr("tensor_size", 7),
                   make_attr("pg_name", "1"), make_attr("involved_dim", [True, False])])
    return n


def test_our_output_decodes_with_an_independent_wire_decoder(tmp_path):
    f = tmp_path / "t.0.et"
    write_et(f, GlobalMetadata(version="0.0.4"), [_coll_node()])
    meta_b, node_b = wire.messages(f.read_bytes())
    assert wire.fields(meta_b) == [(1, 2, b"0.0.4")]
    fs = wire.fields(node_b)
    by = {}
    for num, wt, val in fs:
        by.setdefault(num, []).append((wt, val))
    assert by[1] == [(0, 12)]                 # id: uint64 varint
    assert by[2] == [(2, b"ar")]              # name
    assert by[3] == [(0, 7)]                  # type COMM_COLL_NODE = 7
    assert by[4] == [(2, bytes([3]))]         # ctrl_deps packed
    assert wire.packed(by[5][0][1]) == [11]   # data_deps packed (field 5): `2a 01 0b`
    assert by[7] == [(0, 5)]                  # duration_micros
    attrs = {}
    for _wt, body in by[10]:
        af = wire.fields(body)
        name = af[0][2].decode()
        attrs[name] = af[1]
    assert attrs["comm_type"] == (9, 0, 0)       # int64_val (field 9) present even when 0
    assert attrs["comm_size"] == (9, 0, 4096)    # int64_val: what Chakra's feeder reads
    assert attrs["is_cpu_op"] == (27, 0, 0)      # bool_val false still written: `d8 01 00`
    assert attrs["comm_src"] == (7, 0, 2)        # int32_val
    assert attrs["tensor_size"] == (13, 0, 7)    # uint64_val
    assert attrs["pg_name"] == (29, 2, b"1")     # string_val
    num, wt, lst = attrs["involved_dim"]         # bool_list (28) = BoolList{repeated bool values = 1}
    assert (num, wt) == (28, 2) and wire.packed(wire.fields(lst)[0][2]) == [1, 0]


def test_is_cpu_op_false_bytes_match_reference_dump(tmp_path):
    a = make_attr("is_cpu_op", False)
    assert a.SerializeToString()[-3:] == bytes.fromhex("d80100")
    assert make_attr("num_ops", 0).SerializeToString().endswith(bytes.fromhex("4800"))


def test_reads_raw_protobuf_api_files_including_gzip(tmp_path):
    """A file written the way MLCommons' tools do: raw messages + varint32 framing, their attribute kinds."""
    meta = pb.GlobalMetadata(version="1.0.0")
    n1 = pb.Node(id=1, name="comp", type=pb.COMP_NODE, duration_micros=10)
    n1.attr.add(name="is_cpu_op", bool_val=False)
    n1.attr.add(name="num_ops", int64_val=100)
    n1.attr.add(name="tensor_size", uint64_val=64)
    n2 = pb.Node(id=2, name="send", type=pb.COMM_SEND_NODE, data_deps=[1])
    n2.attr.add(name="comm_dst", int32_val=1)
    n2.attr.add(name="comm_tag", int32_val=5)
    n2.attr.add(name="comm_size", int64_val=1 << 20)
    raw = b"".join(encode_varint(len(m.SerializeToString())) + m.SerializeToString() for m in (meta, n1, n2))
    plain = tmp_path / "x.0.et"
    plain.write_bytes(raw)
    gz = tmp_path / "x.1.et.gz"
    gz.write_bytes(gzip.compress(raw))
    for path in (plain, gz):
        m, nodes = read_et(path)
        assert m.version == "1.0.0"
        assert [n.id for n in nodes] == [1, 2]
        assert attrs_of(nodes[0]) == {"is_cpu_op": False, "num_ops": 100, "tensor_size": 64}
        assert attrs_of(nodes[1])["comm_size"] == 1 << 20
        assert list(nodes[1].data_deps) == [1]
    assert sorted(resolve_trace(tmp_path / "x")) == [0, 1]
    # one rank of a bigger job (rank 4 of 8, say): the prefix needs ranks 0..4, the file alone is read as rank 4
    (tmp_path / "y.4.et").write_bytes(raw)
    with pytest.raises(ToolError, match=r"rank file\(s\) missing: .*y\.0\.et.* by its path, e\.g\. .*y\.4\.et"):
        resolve_trace(tmp_path / "y")
    assert list(resolve_trace(tmp_path / "y.4.et")) == [4]


def test_gz_output_is_gzip_and_reproducible(tmp_path):
    a, b = tmp_path / "a.et.gz", tmp_path / "b.et.gz"
    for f in (a, b):
        write_et(f, GlobalMetadata(version="0.0.4"), [_coll_node()])
    assert a.read_bytes()[:2] == b"\x1f\x8b" and a.read_bytes() == b.read_bytes()
    assert read_et(a)[1][0] == _coll_node()


def test_writer_refuses_all_default_node_and_leaves_no_file(tmp_path):
    f = tmp_path / "bad.et"
    with pytest.raises(ToolError, match="all-default"), ETWriter(f) as w:
        w.write_node(Node(id=1, name="ok"))
        w.write_node(Node())
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("cut", [1, 5, -1])
def test_truncated_file_is_a_clear_error(tmp_path, cut):
    f = tmp_path / "t.et"
    write_et(f, GlobalMetadata(version="0.0.4"), [_coll_node(), Node(id=13, name="x")])
    data = f.read_bytes()
    f.write_bytes(data[:cut] if cut > 0 else data[:cut])
    with pytest.raises(ToolError, match=r"t\.et: truncated"):
        read_et(f)


def test_garbled_node_is_a_clear_error(tmp_path):
    f = tmp_path / "g.et"
    body = b"\xff\xff\xff"  # field 0 / bad wire type
    f.write_bytes(encode_varint(0) + encode_varint(len(body)) + body)
    with pytest.raises(ToolError, match="does not decode"):
        read_et(f)


node_strategy = st.builds(
    lambda i, name, t, deps, dur, size: _mk(i, name, t, deps, dur, size),
    st.integers(1, 2**63), st.text(max_size=10), st.sampled_from(list(NodeType)),
    st.lists(st.integers(0, 2**64 - 1), max_size=4), st.integers(0, 2**64 - 1), st.integers(-2**63, 2**63 - 1))


def _mk(i, name, t, deps, dur, size):
    n = Node(id=i, name=name, type=int(t), data_deps=deps, duration_micros=dur)
    n.attr.append(make_attr("comm_size", size))
    return n


@settings(max_examples=40, deadline=None)
@given(st.lists(node_strategy, max_size=20))
def test_streaming_reader_equals_whole_file_reader(tmp_path_factory, nodes):
    f = tmp_path_factory.mktemp("s") / "s.et"
    write_et(f, GlobalMetadata(version="0.0.4"), nodes)
    meta, whole = read_et(f)
    streamed = list(iter_et(f, block=7))
    assert streamed[0] == meta and streamed[1:] == whole == nodes
