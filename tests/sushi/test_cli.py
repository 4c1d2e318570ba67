"""sushi-serve CLI: report keys, byte-identical outputs per seed, --expect, one-line errors, no partial output."""
import json
import subprocess
import sys

import pytest

from sushi.cli import main

from ..cli_run import run_main

PY = [sys.executable, "-m", "sushi.cli"]


def run(capsys, *args):
    return run_main(main, capsys, *args)


def test_report_keys_and_outputs(tmp_path, capsys):
    rep_p, q_p, l_p, png = (tmp_path / f for f in ("r.json", "q.csv", "l.csv", "p.png"))
    code, out, err = run(capsys, "--queries", "3000", "--seed", "2", "-o", str(rep_p), "--queries-csv", str(q_p),
                         "--layers-csv", str(l_p), "--plot", str(png))
    assert code == 0, err
    assert "SUSHI vs no-cache" in out and "SUSHI vs static" in out and "equal accuracy" in out
    rep = json.loads(rep_p.read_text())
    assert set(rep["policies"]) == {"sushi", "no-cache", "static", "slackfit"}
    for m in rep["policies"].values():
        assert {"mean_latency_ms", "p50_latency_ms", "p99_latency_ms", "slo_attainment", "served_accuracy",
                "offchip_bytes", "offchip_energy_mj"} <= set(m)
        assert m["queries"] == 3000 and 0 <= m["slo_attainment"] <= 1
    assert rep["provenance"]["seed"] == 2 and rep["provenance"]["tool"] == "sushi-serve"
    assert rep["workload"]["source"] == "generated" and rep["workload"]["queries"] == 3000
    iso = rep["comparison"]["sushi_vs_slackfit_iso_accuracy"]
    assert abs(iso["accuracy_gap_pp"]) <= 0.1
    sg = rep["subgraphs"]
    assert sg["persistent_buffer_bytes"] == 4608 * 1024 and sg["static_bytes"] <= sg["persistent_buffer_bytes"]
    assert sg["shared_by_all_bytes"] <= sg["sushi_start_bytes"] <= sg["persistent_buffer_bytes"]
    assert rep["scheduler"]["lookahead"] == 8 and rep["scheduler"]["static"] == "hindsight"
    lines = q_p.read_text().splitlines()
    assert len(lines) == 1 + 4 * 3000 and lines[0].startswith("policy,query,arrival_ms")
    assert l_p.read_text().startswith("subnet,layer,out,in,k,pixels,macs,weight_bytes,pb_bytes")
    assert png.stat().st_size > 10_000


def test_single_policy_trace_resnet(tmp_path, capsys):
    t = tmp_path / "t.csv"
    t.write_text("arrival_ms,slo_ms,accuracy_target\n" + "".join(f"{i * 4},{6 + i % 3},{75 + i % 4}\n"
                                                                  for i in range(200)))
    code, out, err = run(capsys, "--supernet", "ofa-resnet50", "--trace", str(t), "--policy", "sushi", "--json")
    assert code == 0, err
    rep = json.loads(out)
    assert list(rep["policies"]) == ["sushi"] and rep["workload"] == {"source": "trace", "path": str(t),
                                                                      "queries": 200}
    assert rep["supernet"] == "ofa-resnet50" and rep["provenance"]["inputs"][0]["path"] == str(t)


def test_config_file_pb_override_and_expect(tmp_path, capsys):
    cfg = tmp_path / "c.yml"
    cfg.write_text("accelerator:\n  persistent_buffer: 1MiB\nworkload:\n  queries: 2000\n  arrival: poisson\n"
                   "  rate_qps: 500\nscheduler:\n  window: 200\nmenu:\n  size: 12\n")
    r = tmp_path / "r.json"
    assert run(capsys, str(cfg), "-o", str(r), "-q")[0] == 0
    rep = json.loads(r.read_text())
    assert rep["subgraphs"]["persistent_buffer_bytes"] == 1 << 20 and len(rep["menu"]) == 12
    assert rep["scheduler"]["window"] == 200
    assert run(capsys, str(cfg), "--expect", str(r), "-q")[0] == 0
    rep["policies"]["sushi"]["mean_latency_ms"] *= 1.5
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps(rep))
    code, _, err = run(capsys, str(cfg), "--expect", str(bad), "-q")
    assert code == 1 and "policies.sushi.mean_latency_ms" in err
    # --pb 0: SUSHI without a Persistent Buffer is the no-cache policy
    code, out, _ = run(capsys, str(cfg), "--pb", "0", "--json")
    rep0 = json.loads(out)
    assert rep0["policies"]["sushi"]["mean_latency_ms"] == rep0["policies"]["no-cache"]["mean_latency_ms"]


def test_byte_identical_outputs(tmp_path):
    outs = []
    for k in range(2):
        d = tmp_path / str(k)
        d.mkdir()
        r = subprocess.run([*PY, "--queries", "2000", "--seed", "5", "-o", "r.json", "--queries-csv", "q.csv", "-q"],
                           cwd=d, capture_output=True, text=True)
        assert r.returncode == 0, r.stderr
        outs.append(((d / "r.json").read_bytes(), (d / "q.csv").read_bytes()))
    assert outs[0] == outs[1]


@pytest.mark.parametrize("args,files,msg", [
    (["c.yml"], {"c.yml": "accelerator: [unclosed\n"}, "invalid YAML"),
    (["c.yml"], {"c.yml": "accelerator:\n  persistent_buffer: 8MiB\n"}, "exceeds onchip_sram"),
    (["c.yml"], {"c.yml": "accelerator:\n  pe_rowz: 3\n"}, "accelerator.pe_rowz: unknown key"),
    (["c.yml"], {"c.yml": "workload:\n  slo_ms: {dist: uniform, low: 3, high: 1}\n"}, "low <= high"),
    (["c.yml"], {"c.yml": "workload:\n  slo_ms: {dist: constant, value: -1}\n"}, "c.yml: workload.slo_ms: SLOs must be in (0, 1e+10] ms, got constant -1"),
    (["c.yml"], {"c.yml": "menu:\n  subnets: [{ks: 7}]\n"}, "menu.subnets[0]"),
    (["c.yml"], {"c.yml": "supernet: ofa-vit\n"}, "supernet"),
    (["c.yml"], {"c.yml": "scheduler:\n  static: oracle\n"}, "static: expected hindsight or uniform"),
    (["c.yml"], {"c.yml": "scheduler:\n  smoothing: 0\n"}, "smoothing: must be in (0, 1]"),
    (["--trace", "t.csv"], {"t.csv": "arrival_ms,slo_ms\n1,x\n"}, "line 2"),
    (["--trace", "missing.csv"], {}, "file not found"),
    (["--pb", "9MiB"], {}, "--pb"),
])
def test_bad_input_one_line(tmp_path, capsys, monkeypatch, args, files, msg):
    monkeypatch.chdir(tmp_path)
    for name, text in files.items():
        (tmp_path / name).write_text(text)
    code, _, err = run(capsys, *args, "-o", "out.json", "--queries-csv", "q.csv")
    assert code == 1, err
    lines = [ln for ln in err.splitlines() if ln.strip()]
    assert len(lines) == 1 and lines[0].startswith("sushi-serve: error:") and msg in lines[0], err
    assert not (tmp_path / "out.json").exists() and not (tmp_path / "q.csv").exists()


def test_usage_errors(capsys):
    assert run(capsys, "--queries", "10", "--trace", "x.csv")[0] == 2
    assert run(capsys, "--policy", "greedy")[0] == 2


def test_default_config_file_is_the_builtin_default(tmp_path, capsys):
    from pathlib import Path
    cfg = Path(__file__).resolve().parents[2] / "examples" / "sushi" / "configs" / "default.yml"
    a, b = tmp_path / "a.json", tmp_path / "b.json"
    assert run(capsys, str(cfg), "--queries", "3000", "-o", str(a), "-q", "--policy", "sushi")[0] == 0
    assert run(capsys, "--queries", "3000", "-o", str(b), "-q", "--policy", "sushi")[0] == 0
    ra, rb = json.loads(a.read_text()), json.loads(b.read_text())
    ra.pop("provenance"), rb.pop("provenance")
    assert ra == rb


@pytest.mark.parametrize("plot", ["r.txt", "noext"])
def test_bad_plot_extension_fails_before_any_output(tmp_path, capsys, monkeypatch, plot):
    monkeypatch.chdir(tmp_path)
    code, _, err = run(capsys, "--queries", "500", "-o", "out.json", "--queries-csv", "q.csv", "--layers-csv",
                       "l.csv", "--plot", plot)
    assert code == 2 and f"{plot}: expected a .png, .svg, .pdf file name" in err, err
    assert list(tmp_path.iterdir()) == []          # no -o, no CSVs, no plot, no temp file


def test_plot_written_atomically(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    code, _, err = run(capsys, "--queries", "500", "-q", "--policy", "sushi", "--plot", "p.svg")
    assert code == 0, err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["p.svg"]
    assert (tmp_path / "p.svg").read_text().lstrip().startswith("<?xml")
