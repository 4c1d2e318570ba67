"""PyTorch Execution Trace JSON (schemas 1.0.1 … 1.1.1-chakra.1.0.0) → Chakra ET nodes.

Differences from MLCommons' converter, on purpose:
- host-side collectives (c10d::*, gloo:*, record_param_comms) become COMM_COLL/SEND/RECV nodes, so CPU/gloo traces
  keep their communication; send/recv get comm_src/comm_dst/comm_tag;
- a functional collective (`_c10d_functional::*`: DTensor's tensor parallelism, torch.compile) names its process
  group, which the c10d op it calls then carries as pg_name; its `wait_tensor` gets no duration: on gloo the
  collective runs inside that wait, and that time is the collective's, which a simulator times from the network;
- any 1.x schema converts (a version newer than the newest known one with a warning);
- about 6x its throughput per CPU-second at a tenth of its memory (bench/chakra_convert.py): the nodes array
  is parsed in 64 KiB blocks, decisions that depend only on an op's name are made once per name, and nodes are
  written as protobuf wire bytes directly (nodewire.py) instead of being built as message objects.
"""

from __future__ import annotations

import re
from bisect import bisect_left, bisect_right
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from math import inf, isfinite
from operator import itemgetter
from pathlib import Path
from sys import intern
from typing import Any

import orjson

from chakra_tools.common import ToolError, gc_paused, open_input, warn
from chakra_tools.convert import nodewire as nw
from chakra_tools.convert.kineto import KinetoDurations, innermost_containing
from chakra_tools.convert.shapes import base_cost, known_base
from chakra_tools.et import CommType, NodeType, make_attr
from chakra_tools.graph import parse_pg_init
from chakra_tools.schema import et_def_pb2 as pb

KNOWN_SCHEMAS = ("1.0.1", "1.0.2-chakra.0.0.4", "1.0.3-chakra.0.0.4", "1.1.0-chakra.0.0.4", "1.1.1-chakra.0.0.4",
                 "1.1.1-chakra.1.0.0")
_SCHEMA_RE = re.compile(r"^(\d+)\.(\d+)\.(\d+)(?:-chakra\.(\d+)\.(\d+)\.(\d+))?$")
_THREAD_ROOTS = ("[pytorch|profiler|execution_trace|thread]", "[pytorch|profiler|execution_graph|thread]")
_PROCESS_ROOTS = ("[pytorch|profiler|execution_trace|process]", "[pytorch|profiler|execution_graph|process]")
_INT_ATTRS = ("rf_id", "fw_parent", "seq_id", "scope", "tid", "fw_tid")

# Normalised op name (lower case, no '_'/'-', no namespace) → what it is.
_COLL = {
    "allreduce": CommType.ALL_REDUCE, "allreducecoalesced": CommType.ALL_REDUCE,
    "allgather": CommType.ALL_GATHER, "allgatherbase": CommType.ALL_GATHER,
    "allgatherintotensor": CommType.ALL_GATHER, "allgatherintotensorcoalesced": CommType.ALL_GATHER,
    "reducescatter": CommType.REDUCE_SCATTER, "reducescatterbase": CommType.REDUCE_SCATTER,
    "reducescattertensor": CommType.REDUCE_SCATTER, "reducescattertensorcoalesced": CommType.REDUCE_SCATTER,
    "broadcast": CommType.BROADCAST, "alltoall": CommType.ALL_TO_ALL, "alltoallbase": CommType.ALL_TO_ALL,
    "barrier": CommType.BARRIER, "reduce": CommType.REDUCE, "gather": CommType.GATHER, "scatter": CommType.SCATTER,
}
_P2P = {"send": NodeType.COMM_SEND_NODE, "recv": NodeType.COMM_RECV_NODE, "recvanysource": NodeType.COMM_RECV_NODE}


def _norm(name: str) -> str:
    base = name.split("::", 1)[-1].split(":", 1)[-1]
    return base.lower().replace("_", "").replace("-", "")


def comm_kind(name: str) -> tuple[str, int] | None:
    """('coll', CommType) / ('p2p', NodeType) for a communication op name, else None."""
    key = _norm(name)
    if key in _COLL:
        return "coll", int(_COLL[key])
    if key in _P2P:
        return "p2p", int(_P2P[key])
    return None


# --------------------------------------------------------------------------- schema
def check_schema(schema: Any, path: Path) -> None:
    """Accept every 1.x schema; warn for versions newer than the newest one we know; reject other majors."""
    m = _SCHEMA_RE.match(str(schema))
    if not m:
        raise ToolError(f"{path}: unrecognised PyTorch ET schema version {schema!r}")
    major = int(m.group(1))
    if major != 1:
        raise ToolError(f"{path}: unsupported PyTorch ET schema major version {major} ({schema}); "
                        f"supported: 1.x ({KNOWN_SCHEMAS[0]} … {KNOWN_SCHEMAS[-1]})")
    if str(schema) in KNOWN_SCHEMAS:
        return
    ver = tuple(int(g or 0) for g in m.groups())
    newest = tuple(int(g or 0) for g in _SCHEMA_RE.match(KNOWN_SCHEMAS[-1]).groups())
    oldest = tuple(int(g or 0) for g in _SCHEMA_RE.match(KNOWN_SCHEMAS[0]).groups())
    if ver > newest:
        warn(f"{path}: schema {schema} is newer than the newest known ({KNOWN_SCHEMAS[-1]}); converting anyway")
    elif ver < oldest:
        warn(f"{path}: schema {schema} is older than the oldest known ({KNOWN_SCHEMAS[0]}); converting anyway")
    else:
        warn(f"{path}: schema {schema} is not one of the known versions; converting anyway")


# --------------------------------------------------------------------------- chunked JSON reading
_NODE_START = re.compile(rb'\{\s*"id"\s*:')
_NODES_KEY = re.compile(rb'"nodes"\s*:\s*\[')


def load_et_json(path: Path, block: int = 1 << 16) -> tuple[dict, Iterator[list[dict]]]:
    """(header fields, iterator over lists of node dicts), reading the file in blocks.

    Small blocks are faster: a block's parsed nodes are still in the CPU cache when they are converted and
    freed (64 KiB blocks: 2x faster parsing than 8 MiB ones on a 122 MB trace).

    Fast path: node objects start with `{"id":` (torch's writer) — `"id"` cannot occur unescaped inside a string —
    so the nodes array is cut at those positions and each slice parsed by orjson; memory stays at one block.
    Keys after the nodes array (finish_ts) are added to the header once the iterator is exhausted. Any other
    layout falls back to parsing the whole document.
    """
    fh = open_input(path, "a PyTorch ET JSON file")
    head = fh.read(1 << 20)
    if head.lstrip()[:1] != b"{":
        fh.close()
        raise ToolError(f"{path}: not a PyTorch Execution Trace (expected a JSON object)")
    m = _NODES_KEY.search(head)
    if m:
        first = _NODE_START.match(head, len(head[:m.end()]) + (len(head[m.end():]) - len(head[m.end():].lstrip())))
        try:
            header = orjson.loads(head[:m.start()] + b'"nodes": []}')
        except orjson.JSONDecodeError:
            header = None
        if first and isinstance(header, dict):
            return _check_header(header, path), _stream(fh, head[first.start():], header, block, path)
    data = head + fh.read()
    fh.close()
    try:
        doc = orjson.loads(data)
    except orjson.JSONDecodeError as e:
        raise ToolError(f"{path}: invalid JSON ({e})") from None
    if not isinstance(doc, dict):
        raise ToolError(f"{path}: not a PyTorch Execution Trace (expected a JSON object)")
    nodes = doc.pop("nodes", None)
    header = _check_header({**doc, "nodes": nodes if nodes is None else []}, path)
    if not isinstance(nodes, list):
        raise ToolError(f"{path}: not a PyTorch Execution Trace ('nodes' must be a list)")
    return header, iter([nodes])


def _check_header(header: Any, path: Path) -> dict:
    if not isinstance(header, dict) or "nodes" not in header or "schema" not in header:
        raise ToolError(f"{path}: not a PyTorch Execution Trace (no 'schema'/'nodes' keys)")
    check_schema(header["schema"], path)
    return header


def _last_node_start(buf: bytes, end: int) -> int:
    """Offset of the last `{"id":` (with optional whitespace) that starts before `end` and after offset 0, else -1."""
    while True:
        i = buf.rfind(b'"id"', 1, end)
        if i < 0:
            return -1
        j = i
        while j > 1 and buf[j - 1] in b" \t\n\r\f\v":
            j -= 1
        if buf[j - 1] == 0x7B and j - 1 > 0 and _NODE_START.match(buf, j - 1):
            return j - 1
        end = i


def _parse_complete(buf: bytes, path: Path, offset: int) -> tuple[list | None, int]:
    """(the nodes before the last node start in buf, that start's offset), or (None, 0) if there is none.

    buf starts with a node. An object inside a node's values may also start with "id"; a cut there leaves that
    node unfinished, which orjson reports at the very end of the slice: then the cut moves to the previous start.
    An error anywhere else is bad JSON.
    """
    last = _last_node_start(buf, len(buf))
    while last > 0:
        body = buf[:last].rstrip()
        if body.endswith(b","):
            body = body[:-1]
        try:
            return orjson.loads(b"[" + body + b"]"), last
        except orjson.JSONDecodeError as e:
            if e.pos < len(e.doc) - 2:
                raise ToolError(f"{path}: invalid JSON in the nodes array near byte {offset} ({e})") from None
        last = _last_node_start(buf, last)
    return None, 0


def _stream(fh, buf: bytes, header: dict, block: int, path: Path) -> Iterator[list[dict]]:
    with fh:
        offset = 0  # bytes of the nodes array consumed (for error messages)
        want = block
        while True:
            more = fh.read(want)
            buf += more
            nodes, last = _parse_complete(buf, path, offset)
            if nodes is not None:
                offset += last
                buf = buf[last:]
                want = block
                yield nodes
            else:  # one node longer than the buffer: double the buffer each time, so reading stays linear
                want = len(buf)
            if not more:
                break
    # buf = last node + "]" + the rest of the top-level object
    end = buf.rfind(b"]")
    while end > 0:
        try:
            last = orjson.loads(buf[:end].rstrip())
            trailer = orjson.loads(b'{"nodes": []' + buf[end + 1:])
            break
        except orjson.JSONDecodeError:
            end = buf.rfind(b"]", 0, end)
    else:
        raise ToolError(f"{path}: invalid JSON: the nodes array is not closed (truncated file?)")
    if not isinstance(last, dict) or not isinstance(trailer, dict):
        raise ToolError(f"{path}: invalid JSON at the end of the nodes array")
    trailer.pop("nodes")
    header.update(trailer)
    yield [last]


# --------------------------------------------------------------------------- conversion
# What a node is, decided once per distinct name. Roots are never emitted; COMM/COMP depend on the inputs too.
_THREAD, _PROCESS, _META, _OTHER = range(4)


@dataclass(slots=True)
class _Rec:
    """What the tree pass needs about one input node; the raw JSON node is dropped after reading.

    `head` and `tail` are the node's wire bytes known at read time (nodewire.py): head = id, name, type;
    tail = inputs, outputs and the attributes that come before the ones decided by the tree pass. The tree pass
    puts ctrl_deps, data_deps and duration_micros between them and appends num_ops/tensor_size or the comm
    attributes (protobuf field order: 1-3, 4, 5, 7, 8, 9, 10).
    """

    id: int
    parent: int
    kind: int
    tid: int
    head: bytes
    tail: bytes
    cost: tuple[int, int] | None
    comm: tuple | None          # (cls, value, size, peer, tag, backend_detail)
    groups: dict | None
    incl_us: float | None
    excl_us: float | None
    pg_name: str = ""
    ctrl_ref: bytes = b""       # once emitted: the ctrl_deps field its callees carry
    join: int = -1              # id of the other-thread node it waits for (trace_link's inter_thread_dep)
    gpu: bool = False           # GPU work (an ET+ node with `cat`, or a Kineto GPU event): hangs off the chain
    stream: int = -1            # its GPU stream
    after: int = -2             # Kineto-linked: the GPU node before it on its stream (-1: none); -2: an ET+ node
    start: float | None = None  # an ET+ GPU node: its `ts` (its place on its stream)
    sync_deps: tuple = ()       # the GPU nodes (one per stream) the host synchronized with before this op started;
    #                             a GPU node: those of other streams it waits for (cudaStreamWaitEvent)
    gpu_dep: int = -1           # a collective: the last GPU node its thread launched before it (its input)
    wait_us: float = 0.0        # time this op spent blocked in synchronize calls (replaced by sync_deps)


@dataclass
class ConvertedRank:
    """Converted nodes, serialized and sorted by id (compact: 45 MB for a 122 MB trace)."""

    metadata: pb.GlobalMetadata
    node_bytes: list[bytes]
    process_groups: dict[str, list[int]] = field(default_factory=dict)
    stats: dict[str, int] = field(default_factory=dict)

    @property
    def nodes(self) -> list[pb.Node]:
        return [pb.Node.FromString(b) for b in self.node_bytes]


def _sum_tensors(v: Any) -> int:
    if isinstance(v, list):
        if len(v) == 6 and isinstance(v[3], int) and isinstance(v[4], int) and isinstance(v[5], str):
            return v[3] * v[4]
        return sum(_sum_tensors(x) for x in v)
    return 0


def _tensor_args(values: list, types: list) -> list[int]:
    """Bytes of each tensor-typed argument (a tensor 6-list, or nested lists of them)."""
    return [_sum_tensors(v) for v, t in zip(values, types) if isinstance(t, str) and "Tensor" in t]


_KEEP = frozenset((*_INT_ATTRS, "op_schema", "pg_name", "exclusive_dur", "inclusive_dur"))
_TOP_LEVEL = ("tid", "rf_id", "fw_parent", "seq_id", "scope", "fw_tid", "op_schema", "pg_name",
              "exclusive_dur", "inclusive_dur")
_TOP_LEVEL_SET = frozenset(_TOP_LEVEL)


def _attrs(node: dict) -> dict[str, Any]:
    """{name: value} of the node's attrs list, plus older schemas' top-level keys (attrs win)."""
    attrs = node.get("attrs")
    try:  # torch's layout: a list of {"name", "type", "value"} objects (other keys are never looked up)
        out = {a["name"]: a["value"] for a in attrs}
    except (TypeError, KeyError):
        out = _attrs_lenient(attrs)
    if not _TOP_LEVEL_SET.isdisjoint(node):
        for k in _TOP_LEVEL:
            if k in node and k not in out:
                out[k] = node[k]
    return out


def _attrs_lenient(attrs: Any) -> dict[str, Any]:
    """Malformed attrs lists: skip entries that are not objects with a string name; a missing value is None."""
    out = {}
    if isinstance(attrs, list):
        for a in attrs:
            if isinstance(a, dict):
                k = a.get("name")
                if isinstance(k, str) and k in _KEEP:
                    out[k] = a.get("value")
    return out


def _flat_io(node: dict, values: Any, side: str) -> dict:
    """Schema 1.0.1 (2023: PARAM's, HTA's and Chakra's own test traces) keeps a node's inputs as three top-level
    lists, `inputs`, `input_shapes`, `input_types` (outputs alike); later schemas nest them in one object."""
    if type(values) is not list:
        return {}
    shapes, types = node.get(f"{side}_shapes"), node.get(f"{side}_types")
    return {"values": values, "shapes": shapes if type(shapes) is list else [],
            "types": types if type(types) is list else []}


def _int(v: Any, default: int = 0) -> int:
    if isinstance(v, bool):
        return int(v)
    try:
        return int(v)
    except (TypeError, ValueError, OverflowError):
        return default


def _i64(v: Any) -> int:
    """An int64 attribute value: uint64 ids above 2^63 wrap like a C++ cast; non-integers become 0."""
    v = _int(v)
    if v >= 1 << 63:
        v -= 1 << 64
    return v if -(1 << 63) <= v < (1 << 63) else 0


def _pg_groups(values: Any) -> dict[str, list[int]]:
    """Process groups of a `## process_group:init ##` node (its first input is the JSON list)."""
    if not isinstance(values, list) or not values or not isinstance(values[0], str):
        return {}
    return parse_pg_init(values[0])


_FUNCOL = "_c10d_functional::"
_FUNCOL_WAIT = _FUNCOL + "wait_tensor"


def _funcol_group(inputs: dict) -> str:
    """The group name of a functional collective (`_c10d_functional::all_reduce(Tensor, str reduce_op, str
    group_name)`, all_gather_into_tensor, reduce_scatter_tensor, all_to_all_single, broadcast: the last String
    input). DTensor's tensor parallelism and torch.compile issue collectives this way; the c10d op it calls
    carries no group of its own in a gloo trace."""
    values, types = inputs.get("values"), inputs.get("types")
    if not isinstance(values, list) or not isinstance(types, list):
        return ""
    for v, t in zip(reversed(values), reversed(types)):
        if t == "String" and isinstance(v, (str, int)) and not isinstance(v, bool):
            return str(v)
    return ""


def _maybe_comm(name: str) -> bool:
    """Whether _comm_info can return something for this name (checked once per name)."""
    return (name.startswith(("c10d::", "gloo:", "nccl:")) or name == "record_param_comms"
            or "ncclKernel" in name or "ncclDevKernel" in name)


def _comm_info(name: str, inputs: dict, is_gpu: bool) -> tuple | None:
    """(cls, value, size, peer, tag, backend_detail) for communication ops, else None.

    backend_detail marks gloo:/nccl:/record_param_comms/NCCL-kernel nodes, which are dropped when the trace
    has the c10d op they belong to (so nothing is counted twice).
    """
    values = inputs.get("values") if isinstance(inputs.get("values"), list) else []
    types = inputs.get("types") if isinstance(inputs.get("types"), list) else []
    detail = False
    if name.startswith("c10d::"):
        kind = comm_kind(name)
    elif name.startswith(("gloo:", "nccl:")):
        kind, detail = comm_kind(name), True
    elif name == "record_param_comms":
        coll = next((v for v in values if isinstance(v, str) and comm_kind(v)), None)
        kind, detail = (comm_kind(coll) if coll else None), True
    elif is_gpu and ("ncclKernel" in name or "ncclDevKernel" in name):
        low = name.lower().replace("_", "")
        kind = next((("coll", int(ct)) for key, ct in (
            ("allreduce", CommType.ALL_REDUCE), ("alltoall", CommType.ALL_TO_ALL), ("allgather", CommType.ALL_GATHER),
            ("reducescatter", CommType.REDUCE_SCATTER), ("broadcast", CommType.BROADCAST)) if key in low), None)
        detail = True
    else:
        return None
    if kind is None:
        return None
    cls, value = kind
    sizes = _tensor_args(values, types)
    if cls == "coll":
        return cls, value, _coll_size(value, sizes), -1, 0, detail
    ints = [v for v, t in zip(values, types) if t == "Int" and isinstance(v, int) and not isinstance(v, bool)]
    # c10d::send(Tensor[] tensors, ProcessGroup pg, int dst, int tag) / recv_(…, int src, int tag)
    return cls, value, sum(sizes), (ints[0] if ints else -1), (ints[1] if len(ints) > 1 else 0), detail


def _coll_size(ctype: int, sizes: list[int]) -> int:
    """comm_size with ASTRA-sim semantics: the full buffer, except ALL_GATHER (the per-rank input shard).

    allgather_(Tensor[][] outputs, Tensor[] inputs, …), _allgather_base_(Tensor out, Tensor in, …),
    reduce_scatter_(Tensor[] outputs, Tensor[][] inputs, …), alltoall_base_(Tensor out, Tensor in, …): the
    second tensor argument is the input.
    """
    if not sizes:
        return 0
    if ctype in (CommType.ALL_GATHER, CommType.REDUCE_SCATTER, CommType.ALL_TO_ALL) and len(sizes) > 1:
        return sizes[1]
    return sizes[0]


def _name_info(name: str) -> tuple[int, bytes, bool, str | None]:
    """(kind, encoded name field, may be a comm op, op base when op_cost may know it) of a node name."""
    if name in _THREAD_ROOTS:
        kind = _THREAD
    elif name in _PROCESS_ROOTS:
        kind = _PROCESS
    elif "process_group:init" in name:
        kind = _META
    else:
        kind = _OTHER
    return kind, nw.name_bytes(name), _maybe_comm(name), known_base(name)


_INT_ENCODERS = tuple((k, nw.Int64Attr(k)) for k in _INT_ATTRS)
_RF_ID = _INT_ENCODERS[0][1]
_AFTER_RF_ID = itemgetter(*_INT_ATTRS[1:], "op_schema")
_I64_END = 1 << 63
_IS_CPU_OP = nw.attr_bool("is_cpu_op", True)
_NOT_CPU_OP = nw.attr_bool("is_cpu_op", False)
_COMP_TYPE = int(NodeType.COMP_NODE)
_MEMO_MAX = 1 << 16  # ~20 MB at most; a 122 MB trace has 23k distinct keys


def _comp_attrs(a: dict, is_gpu: bool, memo: dict) -> bytes:
    """rf_id, fw_parent, seq_id, scope, tid, fw_tid (int64), op_schema (string), is_cpu_op (bool).

    Everything after rf_id repeats across nodes (most ops have fw_parent 0, seq_id -1, one tid, a schema shared
    with other calls of the op), so those bytes are memoised on the values. Values that compare equal encode
    equally (_i64 maps 1, 1.0 and True alike; op_schema is a str by now), so a hit is exact.
    """
    try:
        rf_id = a["rf_id"]
        key = (*_AFTER_RF_ID(a), is_gpu)
        rest = memo.get(key)
    except (KeyError, TypeError):  # an attribute missing (older schemas), or an unhashable value
        return _comp_attrs_each(a, is_gpu)
    if rest is None:
        rest = _comp_attrs_each(a, is_gpu, skip_rf_id=True)
        if len(memo) < _MEMO_MAX:
            memo[key] = rest
    return _RF_ID(rf_id if type(rf_id) is int and 0 <= rf_id < _I64_END else _i64(rf_id)) + rest


def _comp_attrs_each(a: dict, is_gpu: bool, skip_rf_id: bool = False) -> bytes:
    out = b""
    for k, enc in _INT_ENCODERS[1:] if skip_rf_id else _INT_ENCODERS:
        if k in a:
            v = a[k]
            out += enc(v if type(v) is int and 0 <= v < _I64_END else _i64(v))
    if a.get("op_schema"):
        out += nw.attr_string("op_schema", str(a["op_schema"]))
    return out + (_NOT_CPU_OP if is_gpu else _IS_CPU_OP)


def _read_records(path: Path, kineto: KinetoDurations | None) -> tuple[dict, dict[int, _Rec], dict[int, int] | None]:
    """(header, records by id, input id of each renumbered record or None: see `_renumber`)."""
    header, chunks = load_et_json(path)
    recs: dict[int, _Rec] = {}
    names: dict[str, tuple[int, bytes, bool, bool]] = {}
    memo: dict[tuple, bytes] = {}
    io = nw.io_field
    joins = kineto.joins if kineto is not None else None
    rf_nid: dict[int, int] = {}   # with Kineto joins: rf_id → node id
    join_rf: dict[int, int] = {}  # node id → rf_id of the node it waits for
    et_ops: list[tuple[int, Any, str, Any]] = []  # (id, rf_id, name, tid): what Kineto's host ops link to
    for chunk in chunks:
        for n in chunk:
            if not isinstance(n, dict) or "id" not in n or "name" not in n:
                raise ToolError(f"{path}: malformed node (needs 'id' and 'name'): {str(n)[:80]}")
            nid = n["id"]
            if type(nid) is not int or nid < 0 or nid >= 1 << 64:
                raise ToolError(f"{path}: node id must be a non-negative integer, got {nid!r}")
            if nid in recs:
                raise ToolError(f"{path}: duplicate node id {nid}")
            a = _attrs(n)
            if "op_schema" in a and type(a["op_schema"]) is not str:
                a["op_schema"] = str(a["op_schema"])  # what is written, and the memo key in _comp_attrs
            parent = n.get("ctrl_deps", n.get("parent", -1))
            if isinstance(parent, list):
                parent = parent[0] if parent else -1
            name = n["name"]
            info = names.get(name) if type(name) is str else None
            if info is None:
                name = intern(str(name))
                info = names[name] = _name_info(name)
            kind, name_field, maybe_comm, cost_base = info
            inputs = n.get("inputs")
            if type(inputs) is not dict:
                inputs = _flat_io(n, inputs, "input")
            outputs = n.get("outputs")
            if type(outputs) is not dict:
                outputs = _flat_io(n, outputs, "output")
            is_gpu = "cat" in n
            if is_gpu and kineto is not None:  # trace_link took the kernels from that profile already
                raise ToolError(f"{path}: an ET+ (it holds GPU nodes: chakra_trace_link linked it with its profile) "
                                f"cannot take --kineto {kineto.path or 'a profile'} too, its kernels would be counted "
                                "twice; convert it without --kineto")
            comm = _comm_info(name, inputs, is_gpu) if maybe_comm else None
            cost = base_cost(cost_base, inputs, outputs) if cost_base is not None and comm is None else None
            incl = excl = None
            if "exclusive_dur" in a:
                excl = float(a["exclusive_dur"]) if isinstance(a["exclusive_dur"], (int, float)) else None
            elif kineto is not None:
                if kind == _OTHER or kind == _META:
                    et_ops.append((nid, a.get("rf_id"), name, a.get("tid", 0)))
                incl = kineto.inclusive_us(a.get("rf_id"))
                if joins:
                    rf = a.get("rf_id")
                    if type(rf) is int:
                        rf_nid[rf] = nid
                        if rf in joins:
                            join_rf[nid] = joins[rf]
            if name == _FUNCOL_WAIT:
                excl = 0.0  # the wait on a collective (module docstring); incl stays, for its caller's own time
            head = tail = b""
            groups = None
            pg_name = ""
            if kind == _META:  # no outputs; is_cpu_op only
                head = nw.id_name_type(nid, name_field, NodeType.METADATA_NODE)
                tail = io(b"\x42", inputs) + _IS_CPU_OP
                groups = _pg_groups(inputs.get("values"))
            elif kind == _OTHER and comm is not None:  # attributes are added when it is emitted (_comm_attrs)
                head = nw.id_name_type(nid, name_field, _comm_node_type(comm))
                tail = io(b"\x42", inputs) + io(b"\x4a", outputs)
                pg_name = str(a["pg_name"]) if a.get("pg_name") else ""
            elif kind == _OTHER:
                head = nw.id_name_type(nid, name_field, _COMP_TYPE)
                tail = io(b"\x42", inputs) + io(b"\x4a", outputs) + _comp_attrs(a, is_gpu, memo)
                if name.startswith(_FUNCOL):  # the group its c10d callee runs on (_resolve_groups)
                    pg_name = _funcol_group(inputs)
            tid = a.get("tid", 0)
            itd = n.get("inter_thread_dep")  # ET+ (trace_link output); MLCommons ignores 0 and null too
            rec = recs[nid] = _Rec(nid, parent if type(parent) is int else _int(parent, -1), kind,
                                   tid if type(tid) is int else _int(tid, 0), head, tail, cost, comm, groups, incl,
                                   excl, pg_name, join=itd if type(itd) is int and itd > 0 else -1)
            if is_gpu and kind == _OTHER:
                rec.gpu = True
                rec.stream = _int(n.get("stream", a.get("stream", -1)), -1)
                if comm is None:
                    rec.tail += nw.attr_int64("stream", rec.stream)
                ts = n.get("ts")
                if type(ts) in (int, float):
                    rec.start = float(ts)
    if not recs:
        raise ToolError(f"{path}: the trace has no nodes")
    for nid, rf in join_rf.items():
        if rf in rf_nid:
            recs[nid].join = rf_nid[rf]
    origin = None
    if kineto is not None and (kineto.by_name or kineto.device_ops or kineto.syncs):
        origin = _link_kineto(recs, kineto, et_ops, path)
    elif kineto is not None:
        _check_linked(recs, et_ops, kineto, path)
    return header, recs, origin


def _check_linked(recs: dict[int, _Rec], et_ops: list, kineto: KinetoDurations, path: Path) -> None:
    """Warn when most ops found no host event: the profile is most likely of another rank, step or run."""
    timed = sum(recs[nid].incl_us is not None or recs[nid].excl_us is not None for nid, *_ in et_ops)
    if et_ops and timed < len(et_ops) / 2:
        warn(f"{path}: only {timed} of its {len(et_ops)} ops were found in {kineto.path} (a profile of another "
             "rank, step or run?); the others get no duration")


def _link_kineto(recs: dict[int, _Rec], kineto: KinetoDurations, et_ops: list, path: Path) -> dict[int, int] | None:
    """What the record-function ids did not give (kineto.py): durations and joins of a trace linked by op names,
    and the GPU work of every linked op as new GPU records under its launcher (`_device_records`). Returns the
    input id of each record if they were renumbered."""
    link = kineto.link(et_ops)
    host = kineto.host_ops
    if kineto.by_name:
        for nid, i in link.items():
            recs[nid].incl_us = host[i].dur
        nid_of = {i: nid for nid, i in link.items()}
        for i, j in kineto.joins_by_index(set(nid_of)).items():
            recs[nid_of[i]].join = nid_of[j]
        if len(host) > 2 * len(et_ops):
            warn(f"{path}: {kineto.path} holds {len(host)} host ops against the ET's {len(et_ops)} and no record-"
                 "function ids: its ops were matched by name to the first ones that agree, which may be another "
                 "step than the ET's")
    _check_linked(recs, et_ops, kineto, path)
    if kineto.device_ops or kineto.syncs:
        placed = _device_records(recs, kineto, link)
        if placed:
            return _renumber(recs, placed)
    return None


_NCCL = re.compile(r"nccl|rccl", re.IGNORECASE)


def _under_comm(recs: dict[int, _Rec], nid: int, memo: dict[int, bool]) -> bool:
    """Whether the op or one of its callers is a communication node (which the converter emits without callees)."""
    path = []
    found = False
    for _ in range(len(recs)):  # bounded: ctrl_deps may cycle
        if nid in memo:
            found = memo[nid]
            break
        r = recs.get(nid)
        if r is None or r.kind == _THREAD:
            break
        path.append(nid)
        if r.comm is not None:
            found = True
            break
        if r.parent == nid:
            break
        nid = r.parent
    for n in path:
        memo[n] = found
    return found


def _device_records(recs: dict[int, _Rec], kineto: KinetoDurations, link: dict[int, int]) -> dict[int, int]:
    """One GPU record per Kineto GPU event, child of the innermost linked host op that launched it; what it waits
    for on its stream; the GPU node each synchronize call waited for; each collective's input kernels.
    Returns, per GPU record, the host op it comes after in execution order (for `_renumber`).

    NCCL/RCCL kernels are the collective the host-side c10d op already is, so they get no record."""
    host = kineto.host_ops
    linked = [(host[i].ts, host[i].dur, host[i].tid, nid) for nid, i in link.items() if host[i].ts is not None]
    device = [d for d in kineto.device_ops if not _NCCL.search(d.name)]
    launcher = innermost_containing(linked, [(d.launch_ts, d.launch_tid) for d in device])
    starts: dict[str, list[tuple[float, int]]] = {}  # thread → (start, node id) of its linked ops, in start order
    for ts, _, tid, nid in linked:
        starts.setdefault(tid, []).append((ts, nid))
    for v in starts.values():
        v.sort()
    next_id = max(recs) + 1
    last_on: dict[int, int] = {}
    placed: dict[int, int] = {}
    launched: list[tuple[float, str, int]] = []  # (launch time, thread, GPU record id)
    names: dict[str, bytes] = {}
    in_comm: dict[int, bool] = {}
    for d, parent in zip(device, launcher):
        if parent < 0 or _under_comm(recs, parent, in_comm):
            continue  # launched outside every op the ET holds (the profiler's step marker), or by a collective
        p = recs[parent]
        nid = next_id
        next_id += 1
        name_field = names.get(d.name) or names.setdefault(d.name, nw.name_bytes(d.name))
        rec = recs[nid] = _Rec(nid, parent, _OTHER, p.tid, nw.id_name_type(nid, name_field, _COMP_TYPE),
                               _comp_attrs_each({"tid": p.tid}, True) + nw.attr_int64("stream", d.stream),
                               None, None, None, None, d.dur)
        rec.gpu, rec.stream, rec.after = True, d.stream, last_on.get(d.stream, -1)
        last_on[d.stream] = nid
        launched.append((d.launch_ts, d.launch_tid, nid))
        # in execution order it comes after the last op its thread started before the launch: the launcher, or a
        # callee that returned before it (whose kernels ran first); never before its stream's previous node
        mine = starts.get(d.launch_tid, ())
        k = bisect_right(mine, (d.launch_ts, inf))
        placed[nid] = max(parent, mine[k - 1][1] if k else -1, placed.get(rec.after, -1))
    launched.sort()
    by_thread: dict[str, tuple[list[float], list[int]]] = {}
    by_stream: dict[int, tuple[list[float], list[int]]] = {}
    for t, tid, nid in launched:
        for table, key in ((by_thread, tid), (by_stream, recs[nid].stream)):
            times, ids = table.setdefault(key, ([], []))
            times.append(t)
            ids.append(nid)

    def last_before(t: float, tid: str) -> int:
        """The last GPU node thread `tid` launched at or before time t (-1: none)."""
        times, ids = by_thread.get(tid, ((), ()))
        k = bisect_right(times, t)
        return ids[k - 1] if k else -1

    # a stream told to wait for an event: its next GPU node waits for what the other stream had been given when the
    # event was recorded (cudaStreamWaitEvent: how PyTorch orders its NCCL, copy and side streams)
    for w in kineto.stream_waits:
        times, ids = by_stream.get(w.wait_stream, ((), ()))
        k = bisect_right(times, w.record_ts)
        mine, waiting = by_stream.get(w.stream, ((), ()))
        j = bisect_right(mine, w.ts)
        if k and j < len(waiting):
            r = recs[waiting[j]]
            r.sync_deps = tuple(sorted({*r.sync_deps, ids[k - 1]}))
    if kineto.stream_waits:  # never before what it waits for (launched earlier, so one pass in launch order)
        for _, _, nid in launched:
            r = recs[nid]
            placed[nid] = max([placed[nid], *(placed[d] for d in (r.after, *r.sync_deps) if d in placed)])

    if kineto.syncs:
        waiting = innermost_containing(linked, [(c.ts, c.tid) for c in kineto.syncs])
        for c, nid in zip(kineto.syncs, waiting):
            end = c.ts + c.dur
            mine = starts.get(c.tid, [])
            k = bisect_left(mine, (end, -1))
            if k == len(mine):
                continue
            start, nxt = mine[k]
            # what each stream had been given when the host resumed, launched strictly before the next op started
            # (so never by that op itself); a synchronize waits for every stream (a stream's: at most that)
            got = []
            for times, ids in by_stream.values():
                j = min(bisect_right(times, end), bisect_left(times, start))
                if j:
                    got.append(ids[j - 1])
            if not got:
                continue
            if nid >= 0:
                recs[nid].wait_us += c.dur  # the blocked time is not the op's own work...
            after = recs[nxt]              # ...the thread's next op waits for the GPU instead
            after.sync_deps = tuple(sorted({*after.sync_deps, *got}))
    for nid, i in link.items():
        r = recs[nid]
        if r.comm is not None and not r.comm[5] and host[i].ts is not None:
            r.gpu_dep = last_before(host[i].ts, host[i].tid)
    return placed


def _renumber(recs: dict[int, _Rec], placed: dict[int, int]) -> dict[int, int]:
    """Dense ids in execution order: host ops by id (start order), each GPU record right after the host op it was
    launched after (`placed`), those of one op in GPU start order; ids order a rank's nodes for everything downstream
    (chakra-synth's kind chain reads them in id order), and the new GPU records would otherwise all come after the
    last host op. A GPU node's deps (launcher, stream predecessor) get smaller ids. `rf_id` still names the op.
    Returns new id → input id of the ET's nodes, for messages (a user finds only those in the input)."""
    order = sorted(recs, key=lambda i: (placed[i], 1, i) if i in placed else (i, 0, 0))
    new = {old: k for k, old in enumerate(order)}
    moved = {}
    for old in order:
        r = recs[old]
        nid = new[old]
        if r.head:  # fields 1-3: the id field leads (absent for id 0)
            rest = r.head[len(nw.varint(old)) + 1:] if old else r.head
            r.head = (b"\x08" + nw.varint(nid) if nid else b"") + rest
        r.id = nid
        r.parent = new.get(r.parent, -1)
        for f in ("join", "gpu_dep", "after"):
            v = getattr(r, f)
            if v >= 0:
                setattr(r, f, new.get(v, -1))
        if r.sync_deps:
            r.sync_deps = tuple(sorted(new[d] for d in r.sync_deps if d in new))
        moved[nid] = r
    recs.clear()
    recs.update(moved)
    return {nid: old for old, nid in new.items() if old not in placed}


def convert_trace(path: str | Path, rank: int, kineto: KinetoDurations | None = None) -> ConvertedRank:
    """Convert one rank's PyTorch ET JSON into Chakra nodes (see module docstring)."""
    # Millions of short-lived containers and no reference cycles: the cyclic GC only costs time here (~2x).
    with gc_paused():
        return _convert(Path(path), rank, kineto)


def _metadata(header: dict) -> pb.GlobalMetadata:
    meta = pb.GlobalMetadata()
    meta.attr.append(make_attr("schema", str(header.get("schema", "")), "string_val"))
    for k in ("pid", "start_ts", "finish_ts"):
        v = header.get(k)
        if isinstance(v, int) and not isinstance(v, bool) and 0 <= v < 1 << 64:
            meta.attr.append(make_attr(k, v, "uint64_val"))
    if "time" in header:
        meta.attr.append(make_attr("time", str(header["time"]), "string_val"))
    return meta


def _labeler(recs: dict[int, _Rec], origin: dict[int, int] | None) -> Callable[[int], str]:
    """How messages name a node: by its id in the input ET (a Kineto-linked GPU rank is renumbered); a GPU node
    made from the profile, by the input id of the op that launched it."""
    if origin is None:
        return "node {}".format

    def label(nid: int) -> str:
        if nid in origin:
            return f"node {origin[nid]}"
        return f"the GPU node of a kernel launched by node {origin.get(recs[nid].parent, '?')}"
    return label


def _convert(path: Path, rank: int, kineto: KinetoDurations | None) -> ConvertedRank:
    header, recs, origin = _read_records(path, kineto)
    label = _labeler(recs, origin)
    meta = _metadata(header)
    has_c10d = any(r.comm is not None and not r.comm[5] for r in recs.values())
    if has_c10d:
        _resolve_groups(recs)

    children: dict[int, list[int]] = {}
    roots: list[int] = []
    for r in recs.values():
        if r.kind == _THREAD:
            roots.append(r.id)
        elif r.parent in recs and r.parent != r.id:
            children.setdefault(r.parent, []).append(r.id)
    for c in children.values():
        c.sort(reverse=True)  # pushed onto the walk's stack as is: popped by ascending id
    if not roots:  # traces without thread markers: every parentless node starts a chain
        roots = [i for i in sorted(recs) if (recs[i].parent not in recs or recs[i].parent == i)
                 and recs[i].kind != _PROCESS]
    lost = _unreachable(recs, roots, children)
    if lost and kineto is not None:
        _forget(recs, set(lost))
    if lost:
        ids = lost if origin is None else [origin[i] for i in lost if i in origin]  # the input's ids
        kernels = f" (and {len(lost) - len(ids)} GPU node(s) they launched)" if len(ids) < len(lost) else ""
        warn(f"{path}: {len(ids)} node(s) dropped{kernels}: their parent chain reaches no thread root (a missing "
             f"parent or a cycle), e.g. node(s) {', '.join(map(str, ids[:5]))}")
    if kineto is not None:
        _exclusive_durations(recs, children)
    innermost_costs(recs)
    _costs_to_kernels(recs)

    groups: dict[str, list[int]] = {}
    stats = {"comp": 0, "gpu": 0, "coll": 0, "send": 0, "recv": 0, "metadata": 0}
    try:
        out = _walk(recs, roots, children, rank, has_c10d, groups, stats, label)
    except ValueError as e:  # a value that does not fit its protobuf field
        raise ToolError(f"{path}: {e}") from None
    return ConvertedRank(meta, out, groups, stats)


def _forget(recs: dict[int, _Rec], lost: set[int]) -> None:
    """Drop dependencies on GPU records the walk will never emit (their launcher is unreachable)."""
    for r in recs.values():
        if r.sync_deps:
            r.sync_deps = tuple(d for d in r.sync_deps if d not in lost)
        if r.gpu_dep in lost:
            r.gpu_dep = -1
        while r.after >= 0 and r.after in lost:
            r.after = recs[r.after].after


def _unreachable(recs: dict[int, _Rec], roots: list[int], children: dict[int, list[int]]) -> list[int]:
    """Ids of the op records no root's subtree holds (sorted): the converter's walk never meets them."""
    seen = set(roots)
    stack = list(roots)
    while stack:
        for c in children.get(stack.pop(), ()):
            if c not in seen:
                seen.add(c)
                stack.append(c)
    return sorted(i for i, r in recs.items() if i not in seen and r.kind not in (_PROCESS, _THREAD))


def _walk(recs: dict[int, _Rec], roots: list[int], children: dict[int, list[int]], rank: int, has_c10d: bool,
          groups: dict, stats: dict, label: Callable[[int], str]) -> list[bytes]:
    """Node bodies sorted by id: each thread's call tree walked depth first, each node depending on the previous.
    `label` names a node in an error (`_labeler`).

    Every node is in at most one children list (its parent's) and roots are in none, so the walk meets each
    node at most once, and nodes on a ctrl_deps cycle not at all.
    """
    out: list[tuple[int, bytes]] = []
    no_children: list[int] = []
    joined: list[tuple] = []  # (index in out, split, join id, previous id, other deps)
    chains: list[int] = []  # index in out where each thread's chain starts
    streams: dict[int, list[tuple]] = {}  # ET+ input: stream → its GPU nodes (start, index in out, split, launcher)
    for root in sorted(roots):
        data_dep = b""  # data_deps field naming the previous node of this thread
        prev = -1
        chains.append(len(out))
        stack = list(children.get(root, no_children) if recs[root].kind == _THREAD else [root])
        nid = root
        try:
            while stack:  # iterative DFS pre-order, children by ascending id (= start order)
                nid = stack.pop()
                rec = recs[nid]
                kind = rec.kind
                if kind == _THREAD or kind == _PROCESS:
                    stack.extend(children.get(nid, no_children))
                    continue
                if rec.comm is not None and rec.comm[5] and has_c10d and kind == _OTHER:
                    continue  # the c10d op it belongs to is the communication node; its callees go with it
                parent = recs.get(rec.parent)
                ctrl = parent.ctrl_ref if parent is not None else b""
                if rec.gpu and rec.comm is None:  # off the chain: after its launcher and its stream's last node
                    launcher = rec.parent if parent is not None and parent.kind not in (_THREAD, _PROCESS) else prev
                    body = rec.head + ctrl
                    if rec.after == -2:  # ET+: its stream's order is known once every thread is walked
                        streams.setdefault(rec.stream, []).append((rec.start, len(out), len(body), launcher))
                    else:
                        body += nw.data_deps_field([d for d in (launcher, rec.after, *rec.sync_deps) if d >= 0])
                    body += _duration(rec) + rec.tail + _cost_attrs(rec.cost)
                    stats["gpu"] += 1
                    out.append((nid, body))
                    rec.head = rec.tail = b""
                    continue
                extra = [d for d in dict.fromkeys((*rec.sync_deps, rec.gpu_dep)) if d >= 0 and d != prev]
                if rec.join < 0:
                    body = rec.head + ctrl + (nw.data_deps_field([prev, *extra] if prev >= 0 else extra)
                                              if extra else data_dep)
                else:  # its data_deps are written once every thread is walked (the joined node may come later)
                    body = rec.head + ctrl
                    joined.append((len(out), len(body), rec.join, prev, extra))
                if kind == _META:
                    body += rec.tail
                    stats["metadata"] += 1
                    if rec.groups:
                        groups.update(rec.groups)
                    stack.extend(children.get(nid, no_children))
                elif rec.comm is not None:
                    body += _duration(rec) + rec.tail + _comm_attrs(rec, rank)
                    stats[_STAT[_comm_node_type(rec.comm)]] += 1
                else:
                    body += _duration(rec) + rec.tail
                    body += _cost_attrs(rec.cost)
                    stats["comp"] += 1
                    stack.extend(children.get(nid, no_children))
                out.append((nid, body))
                rec.head = rec.tail = b""
                rec.ctrl_ref, data_dep = nw.dep_fields(nid)
                prev = nid
        except ValueError as e:
            raise ValueError(f"{label(nid)}: {e}") from None
    _chain_streams(out, streams)
    if joined:
        _add_joins(out, joined, chains, recs, label)
    out.sort()
    return [b for _, b in out]


def _chain_streams(out: list[tuple[int, bytes]], streams: dict[int, list[tuple]]) -> None:
    """Write the data_deps of an ET+'s GPU nodes: [launcher, previous node of its stream], the stream in start-time
    order (`ts`; the walk meets them thread by thread, and threads share streams). A stream where a node has no ts
    keeps the walk's order."""
    for nodes in streams.values():
        if all(start is not None for start, *_ in nodes):
            nodes.sort(key=itemgetter(0, 1))  # equal starts: walk order
        before = -1
        for _, i, split, launcher in nodes:
            nid, body = out[i]
            out[i] = (nid, body[:split] + nw.data_deps_field([d for d in (launcher, before) if d >= 0]) + body[split:])
            before = nid


def _add_joins(out: list[tuple[int, bytes]], joined: list[tuple], chains: list[int],
               recs: dict[int, _Rec], label: Callable[[int], str]) -> None:
    """Write the data_deps of nodes with an inter-thread dependency: [joined node, previous node], the order of
    MLCommons' converter. A join to a node that was folded into another (a gloo:* callee into its c10d op) goes to
    the emitted caller; one to a node of its own chain is implied by the chain and left out, as is one to a node
    nothing emits. Joins can close a cycle (the chains alone cannot): that is a ValueError naming a node."""
    index = {nid: i for i, (nid, _) in enumerate(out)}
    cross: dict[int, list[int]] = {}
    for i, split, join, prev, extra in joined:
        nid, body = out[i]
        for _ in range(len(recs)):  # up the callers to an emitted node (bounded: ctrl_deps may cycle)
            if join in index or join not in recs or recs[join].parent == join:
                break
            join = recs[join].parent
        j = index.get(join)
        linked = j is not None and bisect_right(chains, j) != bisect_right(chains, i)  # emitted, another chain
        deps = [join] if linked else []
        for d in (prev, *extra):
            if d >= 0 and d not in deps:
                deps.append(d)
        out[i] = (nid, body[:split] + nw.data_deps_field(deps) + body[split:])
        if linked:
            cross.setdefault(j, []).append(i)
    # Kahn's order over the chains (i → i+1 within a chain) and the joins
    starts = set(chains)
    indeg = [0 if i in starts else 1 for i in range(len(out))]
    for targets in cross.values():
        for t in targets:
            indeg[t] += 1
    ready = [i for i, d in enumerate(indeg) if d == 0]
    done = 0
    while ready:
        i = ready.pop()
        done += 1
        nxt = cross.get(i, [])
        if i + 1 < len(out) and i + 1 not in starts:
            nxt = [*nxt, i + 1]
        for t in nxt:
            indeg[t] -= 1
            if indeg[t] == 0:
                ready.append(t)
    if done < len(out):
        stuck = min(out[i][0] for i, d in enumerate(indeg) if d > 0)
        raise ValueError(f"inter-thread dependencies make a cycle ({label(stuck)} waits on it)")


_STAT = {NodeType.COMM_COLL_NODE: "coll", NodeType.COMM_SEND_NODE: "send", NodeType.COMM_RECV_NODE: "recv"}


def _comm_node_type(comm: tuple) -> int:
    return NodeType.COMM_COLL_NODE if comm[0] == "coll" else comm[1]


def _cost_attrs(cost: tuple[int, int] | None) -> bytes:
    """num_ops and tensor_size of the node doing the work (none for the others)."""
    if cost is None:
        return b""
    return nw.attr_int64("num_ops", int(cost[0])) + nw.attr_uint64("tensor_size", int(cost[1]))


def _duration(rec: _Rec) -> bytes:
    us = rec.excl_us
    if not us:
        return b""
    if not isfinite(us):
        raise ValueError(f"exclusive duration {us} µs is not a number of microseconds")
    return nw.duration_field(int(round(us)))


def _comm_attrs(rec: _Rec, rank: int) -> bytes:
    """comm_type/comm_size (collectives) or comm_src/dst/tag/size (send/recv), pg_name, is_cpu_op=false."""
    cls, value, size, peer, tag, _ = rec.comm
    if cls == "coll":
        out = nw.attr_int64("comm_type", int(value)) + nw.attr_int64("comm_size", int(size))
    else:
        send = value == NodeType.COMM_SEND_NODE
        out = (nw.attr_int32("comm_src", rank if send else peer) + nw.attr_int32("comm_dst", peer if send else rank)
               + nw.attr_int32("comm_tag", tag) + nw.attr_int64("comm_size", int(size)))
    if rec.pg_name:
        out += nw.attr_string("pg_name", rec.pg_name)
    return out + _NOT_CPU_OP


def _resolve_groups(recs: dict[int, _Rec]) -> None:
    """Give a c10d op without a pg_name of its own the group the trace names elsewhere (both before the tree pass,
    which then writes pg_name from the record alone):
    - a dropped backend node's (trace_link gives pg_name to the NCCL kernel it copies under its launcher,
      MLCommons' record_param_comms may carry one): its nearest comm ancestor that is not backend detail;
    - else the functional collective that called it (its group_name input, read into its record's pg_name)."""
    comms = [r for r in recs.values() if r.comm is not None]  # one pass over all nodes, then over these only
    for r in comms:
        if not r.comm[5] or not r.pg_name:
            continue
        p, seen = recs.get(r.parent), 0
        while p is not None and p.comm is not None and p.comm[5] and seen < 64:
            p, seen = recs.get(p.parent), seen + 1
        if p is not None and p.comm is not None and not p.comm[5] and not p.pg_name:
            p.pg_name = r.pg_name
    for r in comms:
        if not r.comm[5] and not r.pg_name:
            p = recs.get(r.parent)
            if p is not None and p.comm is None and p.pg_name:
                r.pg_name = p.pg_name


def _exclusive_durations(recs: dict[int, _Rec], children: dict[int, list[int]]) -> None:
    """Kineto gives inclusive times; a node's own time is its inclusive time minus its same-thread callees'."""
    for r in recs.values():
        if r.excl_us is None and r.incl_us is not None:
            if r.comm is not None:
                r.excl_us = r.incl_us  # its callees are absorbed into it
            else:
                # ascending ids, the order these floats have always been summed in
                kids = sum(recs[c].incl_us or 0.0 for c in reversed(children.get(r.id, ())) if recs[c].tid == r.tid)
                r.excl_us = max(0.0, r.incl_us - kids - r.wait_us)


def _costs_to_kernels(recs: dict[int, _Rec]) -> None:
    """An op that launched GPU work did its FLOPs there: its num_ops/tensor_size move to its longest kernel."""
    longest: dict[int, _Rec] = {}
    for r in recs.values():
        if r.gpu and r.comm is None:
            p = recs.get(r.parent)
            if p is not None and p.cost is not None and (r.parent not in longest
                                                         or (r.excl_us or 0) > (longest[r.parent].excl_us or 0)):
                longest[r.parent] = r
    for pid, r in longest.items():
        r.cost, recs[pid].cost = recs[pid].cost, None


def innermost_costs(recs: dict[int, _Rec]) -> None:
    """Keep num_ops/tensor_size only on the innermost op doing the work (aten::linear → aten::addmm).

    Ids grow at op entry, so callees have larger ids: walking ids downwards, a node learns from its callees
    (those with a larger id) whether work was counted below it. Records need `cost`, `kind` and `parent` only
    (recost.py applies the same rule to an ET's nodes).
    """
    work_below: set[int] = set()
    for nid in sorted(recs, reverse=True):
        r = recs[nid]
        if nid in work_below:
            r.cost = None
        elif r.cost is None:
            continue
        if r.kind != _THREAD and r.parent < nid and r.parent in recs:
            work_below.add(r.parent)
