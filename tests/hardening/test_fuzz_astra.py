"""Fuzzing astra-run's inputs: system JSON, network YAML, memory JSON, comm-group JSON and the ETs it reads."""

from __future__ import annotations

import json
from pathlib import Path

import yaml
from hypothesis import given

from chakra_tools.et import GlobalMetadata, Node, NodeType, make_attr, write_et
from tests.hardening.harness import FUZZ, garbled_bytes, garbled_text, mutated, run_clean

CFG = Path(__file__).resolve().parents[2] / "examples" / "configs" / "astra-run"
SYSTEM = json.loads((CFG / "ring_1d.json").read_text())
NETWORK = yaml.safe_load((CFG / "ring8.yml").read_text())
MEMORY = json.loads((CFG / "memory_pool.json").read_text())


def _workload(tmp: Path) -> Path:
    for r in range(8):
        c = Node(id=1, name="c", type=NodeType.COMP_NODE, duration_micros=1)
        a = Node(id=2, name="ar", type=NodeType.COMM_COLL_NODE, data_deps=[1])
        a.attr.extend([make_attr("comm_type", 0), make_attr("comm_size", 4096), make_attr("pg_name", "g")])
        m = Node(id=3, name="m", type=NodeType.MEM_LOAD_NODE, data_deps=[2])
        m.attr.append(make_attr("tensor_size", 64))
        write_et(tmp / f"w.{r}.et", GlobalMetadata(version="0.0.4"), [c, a, m])
    (tmp / "groups.json").write_text(json.dumps({"g": list(range(8))}))
    (tmp / "sys.json").write_text(json.dumps(SYSTEM))
    (tmp / "net.yml").write_text(yaml.safe_dump(NETWORK))
    (tmp / "mem.json").write_text(json.dumps(MEMORY))
    return tmp / "w"


def _run(tmp: Path, capsys, context: str, **files: str) -> None:
    w = _workload(tmp)
    for name, text in files.items():
        (tmp / name).write_text(text)
    argv = ["--workload", str(w), "--system", str(tmp / "sys.json"), "--network", str(tmp / "net.yml"),
            "--memory", str(tmp / "mem.json"), "--comm-groups", str(tmp / "groups.json"), "-o", str(tmp / "r.json")]
    run_clean("astra-run", argv, capsys, context, outputs=[tmp / "r.json"])


@FUZZ
@given(doc=mutated(SYSTEM))
def test_fuzz_system(tmp_path_factory, capsys, doc):
    _run(tmp_path_factory.mktemp("s"), capsys, "system", **{"sys.json": json.dumps(doc, default=str)})


@FUZZ
@given(doc=mutated(NETWORK))
def test_fuzz_network(tmp_path_factory, capsys, doc):
    _run(tmp_path_factory.mktemp("n"), capsys, "network", **{"net.yml": yaml.safe_dump(doc)})


@FUZZ
@given(text=garbled_text(yaml.safe_dump(NETWORK)))
def test_fuzz_network_text(tmp_path_factory, capsys, text):
    _run(tmp_path_factory.mktemp("nt"), capsys, "network text", **{"net.yml": text})


@FUZZ
@given(doc=mutated(MEMORY))
def test_fuzz_memory(tmp_path_factory, capsys, doc):
    _run(tmp_path_factory.mktemp("m"), capsys, "memory", **{"mem.json": json.dumps(doc, default=str)})


@FUZZ
@given(doc=mutated({"g": list(range(8))}))
def test_fuzz_comm_groups(tmp_path_factory, capsys, doc):
    _run(tmp_path_factory.mktemp("g"), capsys, "groups", **{"groups.json": json.dumps(doc, default=str)})


@FUZZ
@given(raw=garbled_bytes(b"\x07\n\x050.0.4\x0e\x08\x01\x12\x01c\x18\x048\x01"))
def test_fuzz_workload_file(tmp_path_factory, capsys, raw):
    tmp = tmp_path_factory.mktemp("e")
    _workload(tmp)
    (tmp / "w.5.et").write_bytes(raw)
    argv = ["--workload", str(tmp / "w"), "--system", str(tmp / "sys.json"), "--network", str(tmp / "net.yml"),
            "--memory", str(tmp / "mem.json"), "--comm-groups", str(tmp / "groups.json")]
    run_clean("astra-run", argv, capsys, f"et {raw[:30]!r}")
