"""Lossless Chakra ET ↔ one JSON document.

`{"format": "chakra-et-json", "version": 1, "metadata": {...}, "nodes": [{...}, ...]}` where metadata and nodes
are protobuf's canonical JSON mapping with the schema's field names (so every attribute keeps its value kind:
`{"name": "comm_size", "int64_val": "4096"}`). ET → JSON → ET reproduces the original bytes.
"""

from __future__ import annotations

from pathlib import Path

import orjson
from google.protobuf import json_format

from chakra_tools.common import ToolError
from chakra_tools.et import ETWriter, read_et
from chakra_tools.schema import et_def_pb2 as pb

FORMAT = "chakra-et-json"


def et_to_doc(path: str | Path) -> dict:
    meta, nodes = read_et(path)
    conv = json_format.MessageToDict
    return {
        "format": FORMAT,
        "version": 1,
        "metadata": conv(meta, preserving_proto_field_name=True),
        "nodes": [conv(n, preserving_proto_field_name=True) for n in nodes],
    }


def write_json_doc(doc: dict, out: str | Path) -> None:
    from chakra_tools.common import atomic_write
    with atomic_write(out, "wb") as fh:
        fh.write(orjson.dumps(doc, option=orjson.OPT_INDENT_2) + b"\n")


def doc_to_et(path: str | Path, out: str | Path) -> int:
    """Write the ET described by JSON file `path`; returns the node count."""
    p = Path(path)
    try:
        doc = orjson.loads(p.read_bytes())
    except FileNotFoundError:
        raise ToolError(f"{p}: file not found") from None
    except orjson.JSONDecodeError as e:
        raise ToolError(f"{p}: invalid JSON ({e})") from None
    if not isinstance(doc, dict) or doc.get("format") != FORMAT:
        raise ToolError(f"{p}: not a Chakra ET JSON document (expected \"format\": \"{FORMAT}\"; "
                        "make one with `chakra-convert to-json`)")
    if doc.get("version", 1) != 1:  # a later layout may mean other things by the same keys
        raise ToolError(f"{p}: Chakra ET JSON version {doc.get('version')!r} is not supported (this tool reads "
                        "version 1)")
    nodes = doc.get("nodes")
    if not isinstance(nodes, list) or not isinstance(doc.get("metadata", {}), dict):
        raise ToolError(f"{p}: 'metadata' must be an object and 'nodes' a list")
    meta = _parse(_snap_floats(doc.get("metadata", {})), pb.GlobalMetadata(), p, "metadata")
    with ETWriter(out, meta) as w:
        for i, nd in enumerate(nodes):
            w.write_node(_parse(_snap_floats(nd), pb.Node(), p, f"nodes[{i}]"))
    return len(nodes)


def _to_float32(v):
    """The float32 nearest to a JSON number, as a double, when it is finite.

    protobuf prints a float field as its shortest float32 repr (FLT_MAX → 3.4028235e+38), which as a double lies
    just above FLT_MAX, and its parser then rejects the value it printed; snapping to float32 first makes the round
    trip exact. Out-of-range numbers and strings ("Infinity") are left for protobuf to judge.
    """
    if isinstance(v, (int, float)) and not isinstance(v, bool):
        import numpy as np  # here, not at the top: every chakra-convert command would pay its import (~0.1 s)

        try:
            with np.errstate(over="ignore"):
                f = np.float32(v)
        except OverflowError:  # an int beyond any float
            return v
        if np.isfinite(f):
            return float(f)
    return v


def _snap_floats(obj):
    if isinstance(obj, dict):
        for a in obj.get("attr", ()) if isinstance(obj.get("attr"), list) else ():
            if not isinstance(a, dict):
                continue
            if "float_val" in a:
                a["float_val"] = _to_float32(a["float_val"])
            fl = a.get("float_list")
            if isinstance(fl, dict) and isinstance(fl.get("values"), list):
                fl["values"] = [_to_float32(v) for v in fl["values"]]
    return obj


def _parse(obj, msg, path: Path, where: str):
    if not isinstance(obj, dict):
        raise ToolError(f"{path}: {where}: expected an object, got {type(obj).__name__}")
    try:
        return json_format.ParseDict(obj, msg)
    except (json_format.ParseError, TypeError, ValueError, AttributeError) as e:
        raise ToolError(f"{path}: {where}: {' '.join(str(e).split())}") from None
