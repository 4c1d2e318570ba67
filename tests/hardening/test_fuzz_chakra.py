"""Fuzzing chakra-convert's parsers: Chakra ET bytes, PyTorch ET JSON, Kineto JSON, ET-JSON, text workloads.

Every run must end cleanly: exit 0/1, one `chakra-convert: error:` line on failure, never a traceback, and no
output file when it fails.
"""

from __future__ import annotations

import gzip
import json
from pathlib import Path

from hypothesis import given
from hypothesis import strategies as st

from chakra_tools.et import GlobalMetadata, Node, NodeType, make_attr, write_et
from tests.chakra_tools.test_kineto_gpu import _matmul_et
from tests.hardening.harness import FUZZ, garbled_bytes, garbled_text, mutated, run_clean, run_tool

DATA = Path(__file__).resolve().parents[1] / "data"


def _valid_et_bytes(tmp: Path) -> bytes:
    n1 = Node(id=1, name="c", type=NodeType.COMP_NODE, duration_micros=3)
    n2 = Node(id=2, name="ar", type=NodeType.COMM_COLL_NODE, data_deps=[1])
    n2.attr.extend([make_attr("comm_type", 0), make_attr("comm_size", 64)])
    write_et(tmp / "v.et", GlobalMetadata(version="0.0.4"), [n1, n2])
    return (tmp / "v.et").read_bytes()


def _check(tmp: Path, capsys, argv: list[str], out: Path, context: str) -> None:
    run_clean("chakra-convert", argv, capsys, context, outputs=[out])


@FUZZ
@given(data=st.data())
def test_fuzz_et_files(tmp_path_factory, capsys, data):
    tmp = tmp_path_factory.mktemp("et")
    raw = data.draw(garbled_bytes(_valid_et_bytes(tmp)))
    f = tmp / "t.0.et"
    f.write_bytes(raw)
    for cmd in (["inspect", str(f)], ["validate", str(f)]):
        run_clean("chakra-convert", cmd, capsys, f"{cmd[0]} {raw[:40]!r}")
    _check(tmp, capsys, ["to-json", str(f), "-o", str(tmp / "o.json")], tmp / "o.json", "to-json")


_PT = json.loads((DATA / "gloo.rank0.et.json").read_text())
_PT["nodes"] = _PT["nodes"][:25]
_KINETO = json.loads((DATA / "gloo.rank0.kineto.json").read_text())
_KINETO["traceEvents"] = _KINETO["traceEvents"][:40]


@FUZZ
@given(doc=mutated(_PT, max_mutations=4))
def test_fuzz_pytorch_et_structure(tmp_path_factory, capsys, doc):
    tmp = tmp_path_factory.mktemp("pt")
    f = tmp / "in.json"
    f.write_text(json.dumps(doc, default=str))
    _check(tmp, capsys, ["pytorch", str(f), "-o", str(tmp / "out" / "x")], tmp / "out" / "x.0.et", "pytorch")


@FUZZ
@given(text=garbled_text(json.dumps(_PT)[:3000]))
def test_fuzz_pytorch_et_text(tmp_path_factory, capsys, text):
    tmp = tmp_path_factory.mktemp("pt")
    f = tmp / "in.json"
    f.write_text(text)
    _check(tmp, capsys, ["pytorch", str(f), "-o", str(tmp / "out" / "x")], tmp / "out" / "x.0.et", "pytorch text")


def _check_kineto(tmp: Path, capsys, et: Path, doc: dict, context: str) -> None:
    """`chakra-convert pytorch ET --kineto DOC` exits cleanly (a one-line error or a whole output)."""
    f = tmp / "k.json"
    f.write_text(json.dumps(doc, default=str))
    _check(tmp, capsys, ["pytorch", str(et), "--kineto", str(f), "-o", str(tmp / "out" / "x")],
           tmp / "out" / "x.0.et", context)


@FUZZ
@given(doc=mutated(_KINETO, max_mutations=4))
def test_fuzz_kineto(tmp_path_factory, capsys, doc):
    _check_kineto(tmp_path_factory.mktemp("k"), capsys, DATA / "gloo.rank0.et.json", doc, "kineto")


_GPU_KINETO = json.loads(gzip.decompress((DATA / "gpu" / "event_sync_multi_stream.kineto.json.gz").read_bytes()))


@FUZZ
@given(doc=mutated(_GPU_KINETO, max_mutations=4))
def test_fuzz_kineto_gpu(tmp_path_factory, capsys, doc):
    """The GPU path (kernels, launches, synchronizes, cuda_sync stream waits) on HTA's multi-stream profile."""
    tmp = tmp_path_factory.mktemp("kg")
    _check_kineto(tmp, capsys, _matmul_et(tmp / "mm.et.json"), doc, "kineto gpu")


@FUZZ
@given(data=st.data())
def test_fuzz_et_json(tmp_path_factory, capsys, data):
    tmp = tmp_path_factory.mktemp("ej")
    _valid_et_bytes(tmp)
    code, _, _ = run_tool("chakra-convert", ["to-json", str(tmp / "v.et"), "-o", str(tmp / "v.json")], capsys)
    assert code == 0
    doc = data.draw(mutated(json.loads((tmp / "v.json").read_text()), max_mutations=3))
    (tmp / "m.json").write_text(json.dumps(doc, default=str))
    _check(tmp, capsys, ["from-json", str(tmp / "m.json"), "-o", str(tmp / "m.et")], tmp / "m.et", "from-json")


TEXT = "DATA\n2\nconv1 -1 100 NONE 0 50 NONE 0 70 ALLREDUCE 4096 10\nfc -1 30 NONE 0 20 NONE 0 25 ALLGATHER 1024 10\n"


@FUZZ
@given(text=garbled_text(TEXT))
def test_fuzz_text_workload(tmp_path_factory, capsys, text):
    tmp = tmp_path_factory.mktemp("tx")
    f = tmp / "w.txt"
    f.write_text(text)
    _check(tmp, capsys, ["text", str(f), "-o", str(tmp / "out" / "w"), "--npus", "2"], tmp / "out" / "w.0.et", "text")


@FUZZ
@given(data=st.data())
def test_fuzz_gzip_inputs(tmp_path_factory, capsys, data):
    """A PyTorch ET and a Kineto trace kept as gzip (garbled bytes: a broken stream, a truncated one, a stream of
    bad JSON) end in one line like the plain files do."""
    import gzip

    tmp = tmp_path_factory.mktemp("gz")
    et = data.draw(garbled_bytes(gzip.compress(json.dumps(_PT).encode(), mtime=0)))
    kin = data.draw(garbled_bytes(gzip.compress(json.dumps(_KINETO).encode(), mtime=0)))
    (tmp / "et.json.gz").write_bytes(et)
    (tmp / "k.json.gz").write_bytes(kin)
    _check(tmp, capsys, ["pytorch", str(tmp / "et.json.gz"), "-o", str(tmp / "out" / "x")], tmp / "out" / "x.0.et",
           "pytorch gz")
    _check(tmp, capsys, ["pytorch", str(DATA / "gloo.rank0.et.json"), "--kineto", str(tmp / "k.json.gz"), "-o",
                         str(tmp / "out" / "y")], tmp / "out" / "y.0.et", "kineto gz")


@FUZZ
@given(data=st.data())
def test_fuzz_upgrade(tmp_path_factory, capsys, data):
    """`upgrade` on garbled ET bytes of a legacy-shaped trace: a rewritten trace or one line, never a half-written
    one."""
    from tests.chakra_tools.test_legacy import legacy_nodes

    tmp = tmp_path_factory.mktemp("up")
    write_et(tmp / "v.et", GlobalMetadata(version="0.0.4"), legacy_nodes())
    (tmp / "old.0.et").write_bytes(data.draw(garbled_bytes((tmp / "v.et").read_bytes())))
    _check(tmp, capsys, ["upgrade", str(tmp / "old"), "-o", str(tmp / "new")], tmp / "new.0.et", "upgrade")
