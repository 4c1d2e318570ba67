"""Hand-written protobuf wire encoding of the Chakra `Node` fields the converters emit.

Building a `pb.Node` (and an `AttributeProto` per attribute) costs more than the rest of the conversion; the
converter emits a small fixed set of fields, so it writes their bytes directly. The output is exactly what
protobuf's serializer produces: fields in field-number order, proto3 scalars omitted when zero/empty, oneof
attribute values always written, negative int32/int64 as 10-byte two's complement varints, out-of-range values
rejected with ValueError like protobuf does (tests/chakra_tools/test_nodewire.py compares against protobuf).

Field numbers (reference/chakra.md §1): Node id=1 name=2 type=3 ctrl_deps=4 data_deps=5 duration_micros=7
inputs=8 outputs=9 attr=10; IOInfo values=1 shapes=2 types=3; AttributeProto name=1 int32_val=7 int64_val=9
uint64_val=13 bool_val=27 string_val=29.
"""

from __future__ import annotations

from chakra_tools.et import SMALL_VARINT as _SMALL
from chakra_tools.et import VARINTS as _VARINT  # varints below 2^14 (ids, sizes, lengths): a table lookup
from chakra_tools.et import encode_varint

_U64 = 1 << 64


def varint(n: int) -> bytes:
    """Base-128 varint of an unsigned 64-bit value (ValueError outside 0 .. 2^64 - 1)."""
    if 0 <= n < _SMALL:
        return _VARINT[n]
    if _SMALL <= n < 1 << 21:  # node ids of traces up to 2M ops
        return bytes((n & 0x7F | 0x80, n >> 7 & 0x7F | 0x80, n >> 14))
    if not 0 <= n < _U64:
        raise ValueError(f"Value out of range: {n}")
    return encode_varint(n)


def signed(n: int, bits: int = 64) -> bytes:
    """Varint of an int32/int64 value: negatives are sign-extended to 64 bits (10 bytes), as protobuf does."""
    if 0 <= n < _SMALL:
        return _VARINT[n]
    if not -(1 << (bits - 1)) <= n < 1 << (bits - 1):
        raise ValueError(f"Value out of range: {n}")
    return varint(n % _U64)


def length_delimited(tag: bytes, body: bytes) -> bytes:
    return tag + varint(len(body)) + body


def string_field(tag: bytes, s: str) -> bytes:
    """A proto3 string field: omitted when empty."""
    if not s:
        return b""
    b = s.encode()
    return tag + varint(len(b)) + b


# --------------------------------------------------------------------------- Node fields
def id_name_type(nid: int, name_field: bytes, node_type: int) -> bytes:
    """Fields 1-3; `name_field` = name_bytes(name) (computed once per distinct name)."""
    return (b"\x08" + varint(nid) if nid else b"") + name_field + (b"\x18" + _VARINT[node_type] if node_type else b"")


def name_bytes(name: str) -> bytes:
    return string_field(b"\x12", name)


def dep_fields(dep: int) -> tuple[bytes, bytes]:
    """(ctrl_deps field, data_deps field) holding the one id `dep` (packed repeated uint64, fields 4 and 5)."""
    v = varint(dep)
    v = _VARINT[len(v)] + v
    return b"\x22" + v, b"\x2a" + v


def data_deps_field(deps: list[int]) -> bytes:
    """data_deps field (5, packed repeated uint64) holding `deps` in order; empty list → no field."""
    if not deps:
        return b""
    payload = b"".join(varint(d) for d in deps)
    return b"\x2a" + varint(len(payload)) + payload


def duration_field(us: int) -> bytes:
    if not us:
        return b""
    try:
        return b"\x38" + varint(us)
    except ValueError:
        raise ValueError(f"duration_micros {us} does not fit uint64") from None


_NO_LIST: list = []  # the default of a missing values/shapes/types key (never mutated)
# varint prefixes as latin-1 text: an ASCII IOInfo is assembled as one string and encoded once
_VARINT_TEXT = tuple(b.decode("latin-1") for b in _VARINT)


def io_field(tag: bytes, d: dict) -> bytes:
    """IOInfo from a PyTorch ET inputs/outputs dict: Python str() of the lists, like MLCommons' converter.

    An empty dict still yields a present, empty submessage (what `Node(inputs={})` serializes to).
    """
    if not d:
        return tag + b"\x00"
    v = str(d.get("values", _NO_LIST))
    s = str(d.get("shapes", _NO_LIST))
    t = str(d.get("types", _NO_LIST))
    lv, ls, lt = len(v), len(s), len(t)
    if lv and ls and lt and lv + ls + lt < _SMALL - 9 and v.isascii() and s.isascii() and t.isascii():
        # the usual case: byte lengths = str lengths, every length (and the body's) a table varint
        vt = _VARINT_TEXT
        body = f"\n{vt[lv]}{v}\x12{vt[ls]}{s}\x1a{vt[lt]}{t}".encode("latin-1")
        return tag + _VARINT[len(body)] + body
    body = string_field(b"\x0a", v) + string_field(b"\x12", s) + string_field(b"\x1a", t)
    return tag + varint(len(body)) + body


# --------------------------------------------------------------------------- attributes (Node field 10)
def _attr(name: str, value_field: bytes) -> bytes:
    return length_delimited(b"\x52", string_field(b"\x0a", name) + value_field)


def attr_int64(name: str, v: int) -> bytes:
    return _attr(name, b"\x48" + _checked(signed, v, 64, name, "int64"))


def attr_int32(name: str, v: int) -> bytes:
    return _attr(name, b"\x38" + _checked(signed, v, 32, name, "int32"))


def attr_uint64(name: str, v: int) -> bytes:
    try:
        vb = varint(v)
    except ValueError:
        raise ValueError(f"{name} {v} does not fit uint64") from None
    return _attr(name, b"\x68" + vb)


def _checked(enc, v: int, bits: int, name: str, kind: str) -> bytes:
    try:
        return enc(v, bits)
    except ValueError:
        raise ValueError(f"{name} {v} does not fit {kind}") from None


def attr_bool(name: str, v: bool) -> bytes:
    return _attr(name, b"\xd8\x01\x01" if v else b"\xd8\x01\x00")


def attr_string(name: str, s: str) -> bytes:
    b = s.encode()
    return _attr(name, b"\xea\x01" + varint(len(b)) + b)


class Int64Attr:
    """Encoder of one int64 attribute name; values below 2^14 (most ids in a trace) are encoded once."""

    __slots__ = ("name", "_heads", "_small")

    def __init__(self, name: str):
        self.name = name
        prefix = string_field(b"\x0a", name) + b"\x48"
        # the attribute's bytes up to the value, by the value's varint length (1..10)
        self._heads = [b"\x52" + varint(len(prefix) + n) + prefix for n in range(11)]
        self._small: dict[int, bytes] = {}

    def __call__(self, v: int) -> bytes:
        if 0 <= v < _SMALL:
            b = self._small.get(v)
            if b is None:
                b = self._small[v] = self._heads[len(_VARINT[v])] + _VARINT[v]
            return b
        vb = varint(v) if 0 <= v < _U64 >> 1 else _checked(signed, v, 64, self.name, "int64")
        return self._heads[len(vb)] + vb
