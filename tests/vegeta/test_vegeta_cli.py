"""vegeta-sim CLI: reports, determinism, --expect, --plot, --from-et -> astra-run round trip, bad input."""
import csv
import json
import subprocess
import sys
from pathlib import Path

import pytest

from astrasim_py import simulate
from chakra_tools.convert.pytorch import convert_trace
from chakra_tools.et import ETWriter, attrs_of, read_et

REPO = Path(__file__).resolve().parents[2]
DATA = REPO / "tests" / "data"
PY = [sys.executable, "-m", "vegeta.cli"]


def run(*args, cwd=None):
    return subprocess.run([*PY, *args], capture_output=True, text=True, cwd=cwd)


def test_report_csv_and_determinism(tmp_path):
    args = ["--layers", "bert-base", "--sparsity", "2:4", "-o", "l.csv", "--report", "r.json", "-q"]
    outs = []
    for _ in range(2):
        r = run(*args, cwd=tmp_path)
        assert r.returncode == 0, r.stderr
        outs.append([(tmp_path / f).read_bytes() for f in ("l.csv", "r.json")])
    assert outs[0] == outs[1]
    rep = json.loads((tmp_path / "r.json").read_text())
    assert rep["engine"] == "VEGETA-S-16-2" and rep["baseline"] == "VEGETA-D-1-1"
    assert rep["speedup"] == pytest.approx(rep["baseline_cycles"] / rep["total_cycles"], rel=1e-5)
    assert len(rep["layers"]) == 6 and {"cycles", "baseline_cycles", "speedup", "utilisation"} <= set(rep["layers"][0])
    assert rep["provenance"]["tool"] == "vegeta-sim" and rep["model"]["core"]["l2_bytes_per_cycle"] == 128
    rows = list(csv.DictReader((tmp_path / "l.csv").open()))
    assert len(rows) == 6 and rows[0]["sparsity"] == "2:4" and float(rows[0]["speedup"]) > 2


def test_json_stdout_and_expect(tmp_path):
    r = run("--layers", "bert-base", "--sparsity", "1:4", "--json", cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    rep = json.loads(r.stdout)
    (tmp_path / "e.json").write_text(json.dumps(rep))
    assert run("--layers", "bert-base", "--sparsity", "1:4", "--expect", "e.json", "-q", cwd=tmp_path).returncode == 0
    rep["speedup"] *= 1.05
    (tmp_path / "bad.json").write_text(json.dumps(rep))
    bad = run("--layers", "bert-base", "--sparsity", "1:4", "--expect", "bad.json", "-q", cwd=tmp_path)
    assert bad.returncode == 1 and "speedup" in bad.stderr


def test_all_patterns_table_and_plot(tmp_path):
    r = run("--layers", "bert-base", "--sparsity", "all", "--report", "r.json", "--plot", "p.png", cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    assert "published" in r.stdout and "3.28" in r.stdout
    rep = json.loads((tmp_path / "r.json").read_text())
    assert set(rep["speedups"]) == {"4:4", "2:4", "1:4", "unstructured:0.95"}
    assert [x[0] for x in rep["sweep"]["unstructured"]] == [80, 85, 90, 95, 97, 99]
    assert (tmp_path / "p.png").read_bytes()[:4] == b"\x89PNG"


def test_custom_layers_yaml(tmp_path):
    (tmp_path / "l.yml").write_text("name: tiny\nlayers:\n  - {name: fc, m: 256, k: 512, n: 128, count: 2}\n"
                                    "  - {name: scores, m: 128, k: 64, n: 128, sparse: false}\n")
    r = run("--layers", "l.yml", "--sparsity", "unstructured:0.9", "--json", cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    rep = json.loads(r.stdout)
    fc, scores = rep["layers"]
    assert fc["instruction"] == "TILE_SPMM_R" and scores["instruction"] == "TILE_GEMM" and scores["sparse"] is False
    assert rep["provenance"]["inputs"][0]["path"] == "l.yml"


def _write_et(tmp_path: Path, name: str) -> str:
    conv = convert_trace(DATA / name, 0)
    prefix = str(tmp_path / "tr")
    with ETWriter(f"{prefix}.0.et", conv.metadata) as w:
        for b in conv.node_bytes:
            w.write_raw(b)
    return prefix


def test_from_et_annotates_durations_and_astra_runs_it(tmp_path):
    prefix = _write_et(tmp_path, "transformer.et.json")
    out = str(tmp_path / "tv")
    # a 1 MHz clock makes duration_micros = cycles, so the rounding to whole microseconds is visible exactly
    r = run("--from-et", prefix, "--sparsity", "2:4", "--et-out", out, "--clock-ghz", "0.001", "--json")
    assert r.returncode == 0, r.stderr
    rep = json.loads(r.stdout)
    _, nodes = read_et(f"{out}.0.et")
    by_id = {n.id: n for n in nodes}
    per_node = {}
    for row in rep["layers"]:
        nid = int(row["layer"].split("#")[1].split(".")[0])
        per_node[nid] = per_node.get(nid, 0.0) + row["cycles"] * row["count"]
    assert len(per_node) == 12                    # 12 mm/addmm + one attention node (two GEMMs)
    for nid, cyc in per_node.items():
        assert by_id[nid].duration_micros == max(1, round(cyc))
        assert attrs_of(by_id[nid])["vegeta_cycles"] == round(cyc)
    _, orig = read_et(f"{prefix}.0.et")
    assert [n.id for n in orig] == [n.id for n in nodes]
    assert all(o.duration_micros == n.duration_micros for o, n in zip(orig, nodes) if n.id not in per_node)
    # astra-run replays every COMP node by duration_micros (1 ns when 0), one CPU op at a time on this trace
    net = tmp_path / "n1.yml"
    net.write_text("topology: [ Ring ]\nnpus_count: [ 1 ]\nbandwidth: [ 50.0 ]\nlatency: [ 500.0 ]\n")
    sim = simulate(out, REPO / "examples" / "configs" / "astra-run" / "ring_1d.json", net)
    assert sim.sim_time_ns == sum(n.duration_micros * 1000 or 1 for n in nodes)
    assert sim.sim_time_ns > 1000 * sum(per_node.values()) * 0.99


def test_from_et_mlp_wrappers_are_not_counted_twice(tmp_path):
    prefix = _write_et(tmp_path, "mlp.et.json")
    r = run("--from-et", prefix, "--sparsity", "4:4", "--json")
    assert r.returncode == 0, r.stderr
    names = [x["layer"] for x in json.loads(r.stdout)["layers"]]
    assert names and all(n.startswith(("aten::addmm#", "aten::mm#")) for n in names)   # not aten::linear
    assert (tmp_path / "tr.vegeta.0.et").is_file()


@pytest.mark.parametrize("args,files", [
    (["--layers", "nope"], {}),
    (["--sparsity", "3:4"], {}),
    (["--sparsity", "unstructured:1.5"], {}),
    (["--sparsity", "row-wise:1/2"], {}),
    (["--sparsity", "2:4,2:4"], {}),
    (["--engine", "VEGETA-X-3-2"], {}),
    (["--engine", "VEGETA-D-16-1", "--sparsity", "2:4"], {}),
    (["--layers", "l.yml"], {"l.yml": "layers:\n  - {name: a, m: -4, k: 8, n: 8}\n"}),
    (["--layers", "l.yml"], {"l.yml": "layers: [unclosed\n"}),
    (["--layers", "l.yml"], {"l.yml": "layers: []\n"}),
    (["--layers", "l.yml"], {"l.yml": "layers:\n  - {name: a, m: 4, k: 8}\n"}),
    (["--core", "c.yml"], {"c.yml": "l2_bytes_per_cycle: 0\n"}),
    (["--core", "c.yml"], {"c.yml": "l2_bandwidth: 64\n"}),
    (["--from-et", "missing/prefix"], {}),
    (["--from-et", "bad"], {"bad.0.et": "not an ET file"}),
    (["--et-out", "x"], {}),
    (["--clock-ghz", "-1"], {}),
])
def test_bad_input_one_line_no_output(tmp_path, args, files):
    for name, text in files.items():
        (tmp_path / name).write_text(text)
    r = run(*args, "-o", "out.csv", "--report", "out.json", cwd=tmp_path)
    assert r.returncode == 1, (args, r.stdout, r.stderr)
    lines = [ln for ln in r.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1 and lines[0].startswith("vegeta-sim: error:"), r.stderr
    assert "Traceback" not in r.stderr
    assert not (tmp_path / "out.csv").exists() and not (tmp_path / "out.json").exists()


def test_refuses_to_overwrite_input(tmp_path):
    (tmp_path / "l.yml").write_text("layers:\n  - {name: a, m: 32, k: 64, n: 32}\n")
    r = run("--layers", "l.yml", "-o", "l.yml", cwd=tmp_path)
    assert r.returncode == 1 and "overwrite" in r.stderr


def test_et_out_over_the_input_is_refused_before_anything_is_written(tmp_path):
    prefix = _write_et(tmp_path, "mlp.et.json")
    before = Path(f"{prefix}.0.et").read_bytes()
    r = run("--from-et", prefix, "--sparsity", "4:4", "--et-out", prefix, "--plot", "p.png", "-o", "o.csv",
            "--report", "r.json", cwd=tmp_path)
    assert r.returncode == 1 and "refusing to overwrite an input file" in r.stderr, r.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == ["tr.0.et"]
    assert Path(f"{prefix}.0.et").read_bytes() == before


def test_list_and_version():
    r = run("--list")
    assert r.returncode == 0 and "bert-large" in r.stdout and "VEGETA-S-16-2" in r.stdout
    assert run("--version").stdout.startswith("vegeta-sim ")
