"""The converter's hand-written Node encoder (chakra_tools/convert/nodewire.py) against protobuf's serializer.

protobuf is the second implementation: every encoder must produce exactly the bytes `SerializeToString()` gives
for the same field values, and reject the values protobuf rejects. The converted bundled traces must be
canonical (protobuf parses and re-serializes each node to the same bytes) and decode with the independent wire
decoder in tests/chakra_tools/wire.py.
"""

from __future__ import annotations

from pathlib import Path

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from chakra_tools.convert import nodewire as nw
from chakra_tools.convert.kineto import KinetoDurations
from chakra_tools.convert.pytorch import convert_trace, load_et_json
from chakra_tools.schema import et_def_pb2 as pb
from tests.chakra_tools import wire

DATA = Path(__file__).resolve().parents[1] / "data"
I64, I32, U64 = 1 << 63, 1 << 31, 1 << 64

# values around every varint length boundary and the int32/int64/uint64 limits, plus anything in between
edge_ints = st.sampled_from([0, 1, 127, 128, 16383, 16384, (1 << 21) - 1, 1 << 21, I32 - 1, I32, -1, -I32,
                             -I32 - 1, I64 - 1, I64, -I64, -I64 - 1, U64 - 1, U64])
ints = st.one_of(edge_ints, st.integers(-(1 << 70), 1 << 70))
text = st.text(max_size=40)  # any unicode (no lone surrogates: a JSON parser never produces them)


def _pb_attr(kind: str, name: str, v) -> bytes:
    """The Node.attr field protobuf writes for one attribute, or the exception it raises."""
    n = pb.Node()
    a = n.attr.add(name=name)
    setattr(a, kind, v)
    return n.SerializeToString()


def _same(ours, theirs) -> None:
    """Both give the same bytes, or both raise ValueError."""
    try:
        expected = theirs()
    except ValueError:
        with pytest.raises(ValueError):
            ours()
        return
    assert ours() == expected


@given(name=text, v=ints)
def test_integer_attributes_match_protobuf(name, v):
    _same(lambda: nw.attr_int64(name, v), lambda: _pb_attr("int64_val", name, v))
    _same(lambda: nw.attr_int32(name, v), lambda: _pb_attr("int32_val", name, v))
    _same(lambda: nw.attr_uint64(name, v), lambda: _pb_attr("uint64_val", name, v))
    _same(lambda: nw.Int64Attr(name)(v), lambda: _pb_attr("int64_val", name, v))


def test_int64_attribute_cache_returns_what_it_encoded_first():
    enc = nw.Int64Attr("rf_id")
    for v in (0, 5, 127, 128, 16383, 5):  # 5 twice: the second comes from the cache
        assert enc(v) == _pb_attr("int64_val", "rf_id", v)


@given(name=text, s=text, b=st.booleans())
def test_string_and_bool_attributes_match_protobuf(name, s, b):
    # oneof members are written even when empty/false: "" and False still produce a value field
    assert nw.attr_string(name, s) == _pb_attr("string_val", name, s)
    assert nw.attr_bool(name, b) == _pb_attr("bool_val", name, b)


@given(nid=ints, name=text, node_type=st.sampled_from(list(range(8))), dep=ints, dur=ints)
def test_node_fields_match_protobuf(nid, name, node_type, dep, dur):
    _same(lambda: nw.id_name_type(nid, nw.name_bytes(name), node_type),
          lambda: pb.Node(id=nid, name=name, type=node_type).SerializeToString())
    _same(lambda: nw.dep_fields(dep)[0], lambda: pb.Node(ctrl_deps=[dep]).SerializeToString())
    _same(lambda: nw.dep_fields(dep)[1], lambda: pb.Node(data_deps=[dep]).SerializeToString())
    _same(lambda: nw.duration_field(dur), lambda: pb.Node(duration_micros=dur).SerializeToString())


json_values = st.recursive(st.none() | st.booleans() | st.integers(-(1 << 63), 1 << 63) | st.floats() | text,
                           lambda inner: st.lists(inner, max_size=4), max_leaves=12)
io_dicts = st.one_of(
    st.just({}),
    st.fixed_dictionaries({}, optional={"values": json_values, "shapes": json_values, "types": json_values,
                                        "strides": json_values}),
    # long lists: the IOInfo strings pass the 2^14 fast-path limit
    st.builds(lambda k: {"values": [[i, i, 0, 64, 4, "cpu"] for i in range(k)], "shapes": [[8, 8]] * k,
                         "types": ["Tensor(float)"] * k}, st.integers(500, 700)),
)


@given(d=io_dicts)
@settings(max_examples=150)
def test_io_info_matches_protobuf(d):
    # what MLCommons' converter stores: Python str() of each list (a missing one is "[]"); an empty dict is a
    # present, empty submessage
    fields = {k: str(d.get(k, [])) for k in ("values", "shapes", "types")} if d else {}
    assert nw.io_field(b"\x42", d) == pb.Node(inputs=fields).SerializeToString()
    assert nw.io_field(b"\x4a", d) == pb.Node(outputs=fields).SerializeToString()


def test_a_whole_node_assembled_from_fields_matches_protobuf():
    d = {"values": [[7, 8, 0, 1024, 4, "cpu"], 0, 1], "shapes": [[32, 32], [], []], "types": ["Tensor(float)"]}
    ours = (nw.id_name_type(300, nw.name_bytes("aten::t"), 4) + nw.dep_fields(299)[0] + nw.dep_fields(298)[1]
            + nw.duration_field(17) + nw.io_field(b"\x42", d) + nw.io_field(b"\x4a", {}) + nw.Int64Attr("rf_id")(1)
            + nw.attr_int64("seq_id", -1) + nw.attr_string("op_schema", "aten::t(Tensor(a) self) -> Tensor(a)")
            + nw.attr_bool("is_cpu_op", True) + nw.attr_uint64("tensor_size", 4096))
    n = pb.Node(id=300, name="aten::t", type=4, ctrl_deps=[299], data_deps=[298], duration_micros=17,
                inputs={k: str(v) for k, v in d.items()}, outputs={})
    n.attr.add(name="rf_id", int64_val=1)
    n.attr.add(name="seq_id", int64_val=-1)
    n.attr.add(name="op_schema", string_val="aten::t(Tensor(a) self) -> Tensor(a)")
    n.attr.add(name="is_cpu_op", bool_val=True)
    n.attr.add(name="tensor_size", uint64_val=4096)
    assert ours == n.SerializeToString()


CASES = [("mlp.et.json", None), ("mlp.et.json", "mlp.kineto.json"), ("transformer.et.json", "transformer.kineto.json"),
         ("gloo.rank0.et.json", "gloo.rank0.kineto.json"), ("gloo.rank1.et.json", None)]


@pytest.mark.parametrize("trace,kineto", CASES)
def test_converted_nodes_are_canonical_protobuf_and_decode_independently(trace, kineto):
    r = convert_trace(DATA / trace, int(trace[9]) if trace.startswith("gloo") else 0,
                      KinetoDurations.load(DATA / kineto) if kineto else None)
    assert len(r.node_bytes) > 20
    for body in r.node_bytes:
        node = pb.Node.FromString(body)
        assert node.SerializeToString() == body  # what the protobuf serializer writes for these values
        fields = wire.fields(body)
        assert [f for f, _, _ in fields] == sorted(f for f, _, _ in fields)  # field-number order
        top = {f: v for f, _, v in fields if f != 10}
        assert top[1] == node.id and top[2].decode() == node.name and top[3] == node.type
        assert [wire.packed(v) for f, _, v in fields if f == 5] == ([list(node.data_deps)] if node.data_deps else [])
        assert len([f for f, _, _ in fields if f == 10]) == len(node.attr)
    if trace.startswith("gloo"):  # every node kind the converter writes: metadata, comp, coll, send, recv
        assert all(r.stats[k] for k in ("metadata", "comp", "coll", "send", "recv"))


def _chunks_equal_whole_document(path: Path, block: int) -> None:
    _, chunks = load_et_json(path, block=block)
    streamed = [n for c in chunks for n in c]
    assert streamed == orjson.loads(path.read_bytes())["nodes"]


@settings(max_examples=25)
@given(block=st.integers(16, 1 << 16))
def test_streamed_nodes_equal_the_whole_document_for_any_block_size(block):
    _chunks_equal_whole_document(DATA / "gloo.rank0.et.json", block)


@settings(max_examples=25)
@given(block=st.integers(16, 4096), inner=st.integers(0, 5))
def test_an_inner_object_starting_with_id_is_not_taken_for_a_node(tmp_path_factory, block, inner):
    # values holding {"id": …} objects look like node starts to the block cutter; a cut there must be retried
    nodes = [{"id": i, "name": "aten::add", "ctrl_deps": 2,
              "attrs": [{"name": "x", "type": "obj", "value": {"id": i * 10, "v": [{"id": 0}] * inner}}]}
             for i in range(3, 60)]
    # one node longer than any block: the buffer grows until it holds it
    nodes[20]["inputs"] = {"values": list(range(3000)), "shapes": [[]] * 3000, "types": ["Int"] * 3000}
    f = tmp_path_factory.mktemp("inner") / "t.json"
    f.write_bytes(orjson.dumps({"schema": "1.1.1-chakra.0.0.4", "pid": 1, "nodes": nodes, "finish_ts": 1}))
    _chunks_equal_whole_document(f, block)
