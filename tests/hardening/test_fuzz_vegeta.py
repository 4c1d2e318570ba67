"""Fuzzing vegeta-sim's inputs: layers YAML, core YAML, --sparsity/--engine strings, and the ETs --from-et reads."""

from __future__ import annotations

from pathlib import Path

import yaml
from hypothesis import given
from hypothesis import strategies as st

from chakra_tools.et import GlobalMetadata, IOInfo, Node, NodeType, make_attr, write_et
from tests.hardening.harness import FUZZ, garbled_bytes, garbled_text, mutated, run_clean

LAYERS = {"name": "tiny", "layers": [{"name": "fc1", "m": 64, "k": 96, "n": 32, "count": 2},
                                     {"name": "scores", "m": 32, "k": 64, "n": 32, "sparse": False}]}
CORE = {"clock_ghz": 2.0, "l1_bytes": 49152, "l1_load_bytes_per_cycle": 192, "l1_latency": 5,
        "store_bytes_per_cycle": 64, "l2_bytes": 2097152, "l2_bytes_per_cycle": 128, "mem_bytes_per_cycle": 32,
        "phys_tregs": 16, "phys_mregs": 16}


def _check(tmp: Path, capsys, argv: list[str], context: str) -> None:
    out, report = tmp / "o.csv", tmp / "r.json"
    run_clean("vegeta-sim", [*argv, "-o", str(out), "--report", str(report), "-q"], capsys, context,
              outputs=[out, report])


@FUZZ
@given(doc=mutated(LAYERS))
def test_fuzz_layers_yaml(tmp_path_factory, capsys, doc):
    tmp = tmp_path_factory.mktemp("l")
    (tmp / "l.yml").write_text(yaml.safe_dump(doc))
    _check(tmp, capsys, ["--layers", str(tmp / "l.yml"), "--sparsity", "2:4"], "layers")


@FUZZ
@given(text=garbled_text(yaml.safe_dump(LAYERS)))
def test_fuzz_layers_text(tmp_path_factory, capsys, text):
    tmp = tmp_path_factory.mktemp("t")
    (tmp / "l.yaml").write_text(text)
    _check(tmp, capsys, ["--layers", str(tmp / "l.yaml")], "layers text")


@FUZZ
@given(doc=mutated(CORE))
def test_fuzz_core_yaml(tmp_path_factory, capsys, doc):
    tmp = tmp_path_factory.mktemp("c")
    (tmp / "l.yml").write_text(yaml.safe_dump(LAYERS))
    (tmp / "c.yml").write_text(yaml.safe_dump(doc))
    _check(tmp, capsys, ["--layers", str(tmp / "l.yml"), "--core", str(tmp / "c.yml"), "--sparsity", "1:4"], "core")


@FUZZ
@given(sparsity=st.one_of(st.text(max_size=24), st.sampled_from(
    ["row-wise:", "row-wise:1/1", "row-wise:0/0/0", "row-wise:nan/1/1", "unstructured:", "unstructured:-0.1",
     "unstructured:inf", "4:4,", ",", "all", "2:4,1:4", "row-wise:1e308/1e308/1e308", "row-wise:1/2/3,1:4"])),
       engine=st.one_of(st.sampled_from(["VEGETA-S-16-2", "RASA-DM", "VEGETA-S-32-2", "VEGETA-D-3-1",
                                         "VEGETA-S-0-2", "VEGETA-S-16-99999999999"]), st.text(max_size=16)))
def test_fuzz_sparsity_and_engine(tmp_path_factory, capsys, sparsity, engine):
    tmp = tmp_path_factory.mktemp("s")
    (tmp / "l.yml").write_text(yaml.safe_dump(LAYERS))
    _check(tmp, capsys, ["--layers", str(tmp / "l.yml"), "--sparsity", sparsity, "--engine", engine], "strings")


def _et(shapes: str, name: str = "aten::mm") -> bytes:
    n = Node(id=1, name=name, type=NodeType.COMP_NODE, inputs=IOInfo(shapes=shapes), outputs=IOInfo(shapes="[[4, 8]]"))
    n.attr.append(make_attr("num_ops", 64))
    return n


@FUZZ
@given(shapes=st.one_of(garbled_text("[[4, 16], [16, 8]]"), st.sampled_from(
    ["[[0, 16], [16, 8]]", "[[4, -16], [16, 8]]", "[[4, 16], [17, 8]]", "[[10**9, 16]]", "[[[1]]]", "[[True, 2]]",
     "[[4, 99999999999999], [99999999999999, 8]]", "[[1] * 99999]"])),
       name=st.sampled_from(["aten::mm", "aten::addmm", "aten::linear", "aten::bmm", "aten::convolution",
                             "aten::matmul", "aten::scaled_dot_product_attention"]))
def test_fuzz_et_shapes(tmp_path_factory, capsys, shapes, name):
    tmp = tmp_path_factory.mktemp("e")
    write_et(tmp / "w.0.et", GlobalMetadata(version="0.0.4"), [_et(shapes, name)])
    _check(tmp, capsys, ["--from-et", str(tmp / "w"), "--et-out", str(tmp / "v")], "et shapes")


@FUZZ
@given(data=st.data())
def test_fuzz_et_bytes(tmp_path_factory, capsys, data):
    tmp = tmp_path_factory.mktemp("b")
    write_et(tmp / "ok.0.et", GlobalMetadata(version="0.0.4"), [_et("[[4, 16], [16, 8]]")])
    raw = (tmp / "ok.0.et").read_bytes()
    (tmp / "w.0.et").write_bytes(data.draw(garbled_bytes(raw)))
    _check(tmp, capsys, ["--from-et", str(tmp / "w"), "--et-out", str(tmp / "v")], "et bytes")
