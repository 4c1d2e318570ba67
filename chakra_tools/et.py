"""Chakra ET files: enums, attribute kinds, and the length-delimited on-disk framing.

A `.et` file is `varint32(len) || GlobalMetadata`, then `varint32(len) || Node` repeated until EOF
(MLCommons Chakra `protolib`). Gzip is accepted on read; a `.gz` output is compressed.
"""

from __future__ import annotations

import gzip
import io
import os
import re
from collections.abc import Iterable, Iterator, Sequence
from enum import IntEnum
from pathlib import Path
from typing import Any, BinaryIO

from google.protobuf.message import DecodeError

from chakra_tools.common import ToolError, atomic_path, open_input, read_input
from chakra_tools.schema import et_def_pb2 as pb

Node = pb.Node
GlobalMetadata = pb.GlobalMetadata
AttributeProto = pb.AttributeProto
IOInfo = pb.IOInfo


class NodeType(IntEnum):
    INVALID_NODE = 0
    METADATA_NODE = 1
    MEM_LOAD_NODE = 2
    MEM_STORE_NODE = 3
    COMP_NODE = 4
    COMM_SEND_NODE = 5
    COMM_RECV_NODE = 6
    COMM_COLL_NODE = 7


class CommType(IntEnum):
    ALL_REDUCE = 0
    REDUCE = 1
    ALL_GATHER = 2
    GATHER = 3
    SCATTER = 4
    BROADCAST = 5
    ALL_TO_ALL = 6
    REDUCE_SCATTER = 7
    REDUCE_SCATTER_BLOCK = 8
    BARRIER = 9


# The value kind each well-known attribute is written with, exactly as MLCommons' producers write it
# (reference/chakra.md §3): Chakra's own feeder reads them with strict typed getters.
ATTR_KINDS: dict[str, str] = {
    "is_cpu_op": "bool_val",
    "num_ops": "int64_val",
    "tensor_size": "uint64_val",
    "tensor_loc": "int64_val",
    "comm_type": "int64_val",
    "comm_priority": "int32_val",
    "comm_size": "int64_val",
    "comm_src": "int32_val",
    "comm_dst": "int32_val",
    "comm_tag": "int32_val",
    "pg_name": "string_val",
    "involved_dim": "bool_list",
    "rf_id": "int64_val",
    "fw_parent": "int64_val",
    "seq_id": "int64_val",
    "scope": "int64_val",
    "tid": "int64_val",
    "fw_tid": "int64_val",
    "op_schema": "string_val",
    "stream": "int64_val",
}

# What ASTRA-sim's feeder_v3 needs on each communication node (reference/chakra.md: it throws without them), and
# the attributes that are sizes (never negative). `chakra-convert validate` requires all of them; astra-run
# defaults a missing comm_tag to 0 (p2p then pairs in program order), the one default that cannot mislead.
FEEDER_REQUIRED: dict[int, tuple[str, ...]] = {
    NodeType.COMM_COLL_NODE: ("comm_type", "comm_size"),
    NodeType.COMM_SEND_NODE: ("comm_dst", "comm_size", "comm_tag"),
    NodeType.COMM_RECV_NODE: ("comm_src", "comm_size", "comm_tag"),
}
SIZE_ATTRS = ("comm_size", "num_ops", "tensor_size")

_LIST_KINDS = {f.name for f in AttributeProto.DESCRIPTOR.oneofs_by_name["value"].fields if f.name.endswith("_list")}


def make_attr(name: str, value: Any, kind: str | None = None) -> pb.AttributeProto:
    """An AttributeProto with the kind MLCommons uses for `name` (or `kind`, or one inferred from the value)."""
    if kind is None:
        kind = ATTR_KINDS.get(name) or _infer_kind(value)
    a = pb.AttributeProto(name=name)
    if kind in _LIST_KINDS:
        getattr(a, kind).values.extend(value)
    else:
        setattr(a, kind, value)
    return a


def _infer_kind(value: Any) -> str:
    if isinstance(value, bool):
        return "bool_val"
    if isinstance(value, int):
        return "int64_val"
    if isinstance(value, float):
        return "double_val"
    if isinstance(value, str):
        return "string_val"
    if isinstance(value, bytes):
        return "bytes_val"
    if isinstance(value, (list, tuple)):
        if all(isinstance(v, bool) for v in value):
            return "bool_list"
        if all(isinstance(v, int) for v in value):
            return "int64_list"
        if all(isinstance(v, (int, float)) for v in value):
            return "double_list"
        return "string_list"
    raise TypeError(f"cannot store {type(value).__name__} in a Chakra attribute")


def attr_value(a: pb.AttributeProto) -> Any:
    """Python value of an attribute (lists become lists); None if no value is set."""
    kind = a.WhichOneof("value")
    if kind is None:
        return None
    v = getattr(a, kind)
    return list(v.values) if kind in _LIST_KINDS else v


def attrs_of(node: pb.Node | pb.GlobalMetadata) -> dict[str, Any]:
    """All attributes of a node as {name: value}; integer kinds are interchangeable (like ASTRA-sim feeder_v3)."""
    return {a.name: attr_value(a) for a in node.attr}


def int_attr(attrs: dict[str, Any], name: str, default: int) -> int:
    """An attribute as an int (any integer or finite float kind), or `default` when absent, unset or not numeric."""
    v = attrs.get(name)
    if isinstance(v, bool):
        return int(v)
    if isinstance(v, int):
        return v
    if isinstance(v, float) and v == v and abs(v) < 2**63:
        return int(v)
    return default


def get_attr(node: pb.Node, name: str, default: Any = None) -> Any:
    for a in node.attr:
        if a.name == name:
            v = attr_value(a)
            return default if v is None else v
    return default


# --------------------------------------------------------------------------- framing
SMALL_VARINT = 1 << 14
# the varints of 0 .. 2^14 - 1 (message lengths below 16 KiB, ids, sizes): one lookup instead of a loop; the
# converter's node encoder (convert/nodewire.py) uses the same table
VARINTS = tuple(bytes((n,)) if n < 0x80 else bytes((n & 0x7F | 0x80, n >> 7)) for n in range(SMALL_VARINT))


def encode_varint(n: int) -> bytes:
    """Base-128 varint of a non-negative integer."""
    if 0 <= n < SMALL_VARINT:
        return VARINTS[n]
    out = bytearray()
    while True:
        b = n & 0x7F
        n >>= 7
        if n:
            out.append(b | 0x80)
        else:
            out.append(b)
            return bytes(out)


def frame(message_bytes: bytes) -> bytes:
    return encode_varint(len(message_bytes)) + message_bytes


def _open_read(path: Path) -> bytes:
    return read_input(path, "a .et file")


def iter_messages(data: bytes | memoryview, path: Path | str = "<bytes>") -> Iterator[tuple[int, memoryview]]:
    """Yield (offset, message bytes) for each length-delimited message."""
    mv = memoryview(data)
    n = len(mv)
    pos = 0
    while pos < n:
        start = pos
        length = 0
        shift = 0
        while True:
            if pos >= n:
                raise ToolError(f"{path}: truncated length prefix at byte {start}")
            b = mv[pos]
            pos += 1
            length |= (b & 0x7F) << shift
            if not b & 0x80:
                break
            shift += 7
            if shift > 63:
                raise ToolError(f"{path}: malformed length prefix at byte {start}")
        length &= 0xFFFFFFFF  # MLCommons masks lengths to 32 bits
        end = pos + length
        if end > n:
            raise ToolError(f"{path}: truncated message at byte {start} (needs {length} bytes, {n - pos} left)")
        yield start, mv[pos:end]
        pos = end


def read_et(path: str | os.PathLike) -> tuple[pb.GlobalMetadata, list[pb.Node]]:
    """Read one `.et` (or gzip) file: (GlobalMetadata, nodes in file order)."""
    p = Path(path)
    data = _open_read(p)
    if data[:1] in (b"{", b"["):
        raise ToolError(f"{p}: looks like JSON, not a Chakra .et file (use `chakra-convert from-json`)")
    msgs = iter_messages(data, p)
    meta = pb.GlobalMetadata()
    first = next(msgs, None)
    if first is None:
        raise ToolError(f"{p}: empty file, expected a GlobalMetadata message")
    try:
        meta.ParseFromString(first[1])
    except DecodeError:
        raise ToolError(f"{p}: not a Chakra .et file (GlobalMetadata at byte 0 does not decode)") from None
    nodes = []
    parse = pb.Node.FromString
    for off, body in msgs:
        try:
            nodes.append(parse(body))
        except DecodeError:
            raise ToolError(f"{p}: node message at byte {off} does not decode (garbled file?)") from None
    return meta, nodes


def iter_et(path: str | os.PathLike, block: int = 1 << 22) -> Iterator[pb.GlobalMetadata | pb.Node]:
    """Stream a `.et` file message by message without holding it in memory (metadata first)."""
    p = Path(path)
    with open_input(p, "a .et file") as stream:  # gzip or not; corrupt gzip is a one-line error
        buf = bytearray()
        base = 0
        first = True
        eof = False
        need_more = True
        while True:
            if not eof and (need_more or len(buf) < block):
                chunk = stream.read(block)
                if not chunk:
                    eof = True
                buf += chunk
            if not buf:
                if first:
                    raise ToolError(f"{p}: empty file, expected a GlobalMetadata message")
                return
            consumed = 0
            mv = memoryview(buf)
            try:
                for off, body, end in _complete_messages(mv, eof, p, base):
                    consumed = end
                    if first:
                        msg: Any = pb.GlobalMetadata()
                        try:
                            msg.ParseFromString(body)
                        except DecodeError:
                            raise ToolError(f"{p}: not a Chakra .et file (GlobalMetadata does not decode)") from None
                        first = False
                    else:
                        try:
                            msg = pb.Node.FromString(body)
                        except DecodeError:
                            raise ToolError(f"{p}: node message at byte {off} does not decode (garbled file?)") from None
                    yield msg
            finally:
                mv.release()
            del buf[:consumed]
            base += consumed
            need_more = consumed == 0
            if eof and not buf:
                if first:
                    raise ToolError(f"{p}: empty file, expected a GlobalMetadata message")
                return


def _complete_messages(mv: memoryview, eof: bool, path: Path, base: int) -> Iterator[tuple[int, bytes, int]]:
    """(absolute offset, body, end position in buffer) of each complete message; truncation is an error only at EOF."""
    n = len(mv)
    pos = 0
    while pos < n:
        start = pos
        length = 0
        shift = 0
        while True:
            if pos >= n:
                if eof:
                    raise ToolError(f"{path}: truncated length prefix at byte {base + start}")
                return
            b = mv[pos]
            pos += 1
            length |= (b & 0x7F) << shift
            if not b & 0x80:
                break
            shift += 7
            if shift > 63:
                raise ToolError(f"{path}: malformed length prefix at byte {base + start}")
        length &= 0xFFFFFFFF
        if pos + length > n:
            if eof:
                raise ToolError(f"{path}: truncated message at byte {base + start}")
            return
        yield base + start, bytes(mv[pos:pos + length]), pos + length
        pos += length


class ETWriter:
    """Write one `.et` file atomically: it appears at `path` only after `close()` without error.

    `.gz` paths are gzip-compressed (mtime 0, so output bytes are reproducible).
    """

    def __init__(self, path: str | os.PathLike, metadata: pb.GlobalMetadata | None = None,
                 compress: bool | None = None):
        self.path = Path(path)
        if compress is None:
            compress = self.path.suffix == ".gz"
        self._ctx = atomic_path(self.path)
        tmp = self._ctx.__enter__()
        raw = open(tmp, "wb")
        self._raw = raw
        self._fh: BinaryIO = (gzip.GzipFile(filename="", mode="wb", fileobj=raw, mtime=0)  # type: ignore[assignment]
                              if compress else raw)
        self._buf = io.BytesIO()
        self.count = 0
        self._wrote_meta = False
        if metadata is not None:
            self.write_metadata(metadata)

    def write_metadata(self, metadata: pb.GlobalMetadata) -> None:
        if self._wrote_meta:
            raise ValueError("GlobalMetadata already written")
        self._buf.write(frame(metadata.SerializeToString()))
        self._wrote_meta = True

    def write_node(self, node: pb.Node) -> None:
        # An all-default Node encodes to zero bytes and silently ends MLCommons' reader: write_raw refuses it.
        self.write_raw(node.SerializeToString())

    def write_raw(self, body: bytes) -> None:
        """Write an already serialized Node (the per-node path of write_node: no list, no join)."""
        self._framed(encode_varint(len(body)) + body if body else b"", 1)

    def write_raws(self, bodies: Sequence[bytes]) -> None:
        """Write already serialized Nodes, framed in one pass."""
        ok = all(bodies)
        self._framed(b"".join([encode_varint(len(b)) + b for b in bodies]) if ok else b"", len(bodies))

    def _framed(self, data: bytes, count: int) -> None:
        """Append `count` framed nodes (`data`; empty: one of them is all-default, refused)."""
        if not self._wrote_meta:
            self.write_metadata(pb.GlobalMetadata(version="0.0.4"))
        if count and not data:
            raise ToolError(f"{self.path}: refusing to write an all-default node (id 0, no fields)")
        self._buf.write(data)
        self.count += count
        if self._buf.tell() > (1 << 22):
            self._flush()

    def write_nodes(self, nodes: Iterable[pb.Node]) -> None:
        for n in nodes:
            self.write_node(n)

    def _flush(self) -> None:
        self._fh.write(self._buf.getvalue())
        self._buf = io.BytesIO()

    def close(self) -> None:
        if not self._wrote_meta:
            self.write_metadata(pb.GlobalMetadata(version="0.0.4"))
        self._flush()
        if self._fh is not self._raw:
            self._fh.close()
        self._raw.close()
        self._ctx.__exit__(None, None, None)

    def abort(self, exc: BaseException | None = None) -> None:
        try:
            if self._fh is not self._raw:
                self._fh.close()
            self._raw.close()
        finally:
            err = exc or RuntimeError("aborted")
            try:
                self._ctx.__exit__(type(err), err, None)
            except BaseException:
                pass

    def __enter__(self) -> ETWriter:
        return self

    def __exit__(self, et, ev, tb) -> None:
        if et is None:
            self.close()
        else:
            self.abort(ev)


def first_duplicate_id(nodes: Iterable[pb.Node]) -> int | None:
    """The first node id that occurs twice, None when ids are unique."""
    seen: set[int] = set()
    return next((n.id for n in nodes if n.id in seen or seen.add(n.id)), None)


def write_et(path: str | os.PathLike, metadata: pb.GlobalMetadata, nodes: Iterable[pb.Node]) -> None:
    with ETWriter(path, metadata) as w:
        w.write_nodes(nodes)


# --------------------------------------------------------------------------- multi-rank naming
_RANK_RE = re.compile(r"^(?P<prefix>.*)\.(?P<rank>\d+)\.et(?:\.gz)?$")


def is_trace_file_name(name: str) -> bool:
    """Whether a file name is a Chakra ET file's (`x.<rank>.et`, `x.et`, gzipped or not)."""
    return bool(_RANK_RE.match(name)) or name.endswith((".et", ".et.gz"))


def rank_path(prefix: str | os.PathLike, rank: int, gz: bool = False) -> Path:
    return Path(f"{prefix}.{rank}.et{'.gz' if gz else ''}")


def find_rank_files(prefix: str | os.PathLike) -> dict[int, Path]:
    """`<prefix>.<rank>.et` (or `.et.gz`) files of a multi-rank trace, by rank."""
    prefix = str(prefix)
    parent = Path(prefix).parent
    stem = Path(prefix).name
    out: dict[int, Path] = {}
    if not parent.is_dir():
        return out
    for f in parent.iterdir():
        if not f.name.startswith(stem + "."):
            continue
        m = _RANK_RE.match(f.name)
        if m and m.group("prefix") == stem:
            rank = int(m.group("rank"))
            if rank in out:  # p.0.et beside p.0.et.gz (a stale copy?): which one is meant is not ours to guess
                a, b = sorted((out[rank], f))
                raise ToolError(f"{prefix}: rank {rank} has two files, {a} and {b}: remove one")
            out[rank] = f
    return dict(sorted(out.items()))


def groups_path(prefix: str | os.PathLike) -> Path:
    """`PREFIX.comm_groups.json`: the comm-groups sidecar of the trace at `prefix` (ASTRA-sim's format)."""
    return Path(f"{prefix}.comm_groups.json")


def check_no_stale_outputs(prefix: str | os.PathLike, written: Iterable[str | os.PathLike]) -> None:
    """Refuse to write a trace at `prefix` where rank files or a comm-groups sidecar of an earlier trace would
    remain beside the new files (a 2-rank trace written over a 4-rank one would read as a mixed 4-rank trace)."""
    keep = {Path(p).resolve() for p in written}
    groups = groups_path(prefix)
    old = [*find_rank_files(prefix).values(), *([groups] if groups.is_file() else [])]
    stale = [p for p in old if p.resolve() not in keep]
    if stale:
        names = ", ".join(str(p) for p in stale[:3]) + (f" and {len(stale) - 3} more" if len(stale) > 3 else "")
        raise ToolError(f"{prefix}: already holds {names}, which this run would not replace (the trace would mix "
                        "old and new files): remove them or choose another prefix")


def trace_inputs(spec: str | os.PathLike) -> list[Path]:
    """Every file reading the trace `spec` uses: its rank files and, when there is one, its comm-groups sidecar
    (what an output must never overwrite)."""
    groups = groups_path(spec)
    return [*resolve_trace(spec).values(), *([groups] if groups.is_file() else [])]


def resolve_trace(spec: str | os.PathLike) -> dict[int, Path]:
    """A prefix (`et/model` → et/model.{r}.et) or a single `.et` file (rank from its name, else 0)."""
    p = Path(spec)
    if p.is_file():
        m = _RANK_RE.match(p.name)
        return {int(m.group("rank")) if m else 0: p}
    files = find_rank_files(spec)
    if not files:
        raise ToolError(f"{spec}: no such file and no '{p.name}.<rank>.et' files found in {p.parent or '.'}")
    missing = sorted(set(range(max(files) + 1)) - set(files))
    if missing:
        one = files[min(files)]
        raise ToolError(f"{spec}: rank file(s) missing: " + ", ".join(str(rank_path(spec, r)) for r in missing[:5])
                        + f" (one rank's file alone is read by its path, e.g. {one})")
    return files
