"""CLI: determinism, reports, bad input -> one line, exit 1, no output."""
import json
import subprocess
import sys
from pathlib import Path

import pytest

from xrbench import BUILTIN, load_scenarios
from xrbench.accelerators import STYLES, parse_preset
from xrbench.api import evaluate, system_costs

PY = [sys.executable, "-m", "xrbench.cli"]


def run(*args, cwd=None):
    return subprocess.run([*PY, *args], capture_output=True, text=True, cwd=cwd)


def test_deterministic_outputs(tmp_path):
    args = ["--scenario", "all", "--accelerators", "J_4K", "--seed", "3", "-o", "s.csv", "--timeline", "t.csv",
            "--report", "r.json", "-q"]
    outs = []
    for _ in range(2):
        assert run(*args, cwd=tmp_path).returncode == 0
        outs.append([(tmp_path / f).read_bytes() for f in ("s.csv", "t.csv", "r.json")])
    assert outs[0] == outs[1]
    rep = json.loads((tmp_path / "r.json").read_text())
    assert set(rep["scenarios"]) == {n for n in BUILTIN if not n.startswith("vr_gaming_")}
    m = rep["scenarios"]["vr_gaming"]["models"]["GE"]
    assert set(m) >= {"rt_score", "energy_score", "qoe_score", "score"}
    assert "provenance" in rep and 0 <= rep["overall"] <= 100


def test_costs_csv_and_expect(tmp_path):
    (tmp_path / "c.csv").write_text("model,accelerator,latency_ms,energy_mj\nHT,x,10,15\nDE,x,20,30\nPD,x,5,10\n")
    r = run("--scenario", "ar_gaming", "--costs", "c.csv", "--compat", "xrbench-v0.1", "--report", "r.json",
            "-q", cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    assert run("--scenario", "ar_gaming", "--costs", "c.csv", "--compat", "xrbench-v0.1", "--expect", "r.json",
               "-q", cwd=tmp_path).returncode == 0
    rep = json.loads((tmp_path / "r.json").read_text())
    rep["scenarios"]["ar_gaming"]["score"] += 5
    (tmp_path / "bad.json").write_text(json.dumps(rep))
    assert run("--scenario", "ar_gaming", "--costs", "c.csv", "--compat", "xrbench-v0.1", "--expect", "bad.json",
               "-q", cwd=tmp_path).returncode == 1


@pytest.mark.parametrize("args,files", [
    (["--scenario", "nope"], {}),
    (["--accelerators", "Z_4K"], {}),
    (["--costs", "c.csv"], {"c.csv": "model,accelerator,latency_ms\nHT,x,1\n"}),
    (["--costs", "c.csv"], {"c.csv": "model,accelerator,latency_ms,energy_mj\nXX,x,1,1\n"}),
    (["--costs", "c.csv"], {"c.csv": "model,accelerator,latency_ms,energy_mj\nHT,x,abc,1\n"}),
    (["--scenarios-file", "s.yml", "--scenario", "c"],
     {"s.yml": "c:\n  models:\n  - {id: ES, fps: 60, upstream: GE}\n  - {id: GE, fps: 60, upstream: ES}\n"}),
    (["--scenarios-file", "s.yml", "--scenario", "n"], {"s.yml": "n:\n  models:\n  - {id: ES, fps: -60}\n"}),
    (["--scenarios-file", "s.yml"], {"s.yml": "n: [unclosed\n"}),
    (["--scenarios-file", "s.yml"], {"s.yml": "n:\n  models:\n  - {id: QQ, fps: 5}\n"}),
])
def test_bad_input_one_line(tmp_path, args, files):
    for name, text in files.items():
        (tmp_path / name).write_text(text)
    r = run(*args, "-o", "out.csv", cwd=tmp_path)
    assert r.returncode == 1
    assert len(r.stderr.strip().splitlines()) == 1 and "error" in r.stderr
    assert not (tmp_path / "out.csv").exists()


def test_user_scenario_yaml(tmp_path):
    p = tmp_path / "s.yml"
    p.write_text("mine:\n  models:\n  - {id: KD, fps: 3}\n  - {id: ASR, fps: 3, upstream: KD, probability: 0.3}\n")
    sc = load_scenarios(p)["mine"]
    assert sc.model("ASR").probability == 0.3


def test_all_presets_run():
    assert len(STYLES) == 13
    for letter in STYLES:
        for size in ("4K", "8K"):
            _, subs = parse_preset(f"{letter}_{size}")
            assert sum(s.pes for s in subs) == (4096 if size == "4K" else 8192)
    res, _ = evaluate([BUILTIN["ar_gaming"]], system_costs(parse_preset("K_8K")[1]))
    assert 0 <= res["overall"] <= 100


def test_plot_and_edp_scheduler(tmp_path):
    r = run("--scenario", "ar_gaming", "--accelerators", "B_4K", "--plot", "p.png", "-q", cwd=tmp_path)
    assert r.returncode == 0 and (tmp_path / "p.png").stat().st_size > 1000
    # one HT frame (45 fps, 30 ms window): edp-greedy picks min latency*energy, latency-greedy min latency
    from xrbench import simulate
    from xrbench.accelerators import load_costs
    (tmp_path / "c.csv").write_text("model,accelerator,latency_ms,energy_mj\nHT,big,12,40\nHT,little,10,60\n")
    costs = load_costs(tmp_path / "c.csv")
    log = simulate(BUILTIN["ar_gaming"].__class__("t", (BUILTIN["ar_gaming"].models[0],)), costs,
                   scheduler="edp-greedy", window_ms=30)
    assert log[0].accelerator == "big"        # 12*40 = 480 < 10*60 = 600
    log = simulate(BUILTIN["ar_gaming"].__class__("t", (BUILTIN["ar_gaming"].models[0],)), costs,
                   scheduler="latency-greedy", window_ms=30)
    assert log[0].accelerator == "little"     # 10 ms < 12 ms


def test_list_models_json():
    r = run("--list-models", "--json")
    assert r.returncode == 0, r.stderr
    rep = json.loads(r.stdout)
    assert set(rep["models"]) == {"HT", "ES", "GE", "KD", "ASR", "SS", "OD", "AS", "DE", "DR", "PD"}
    assert rep["models"]["KD"]["mparams"] == pytest.approx(0.019905)
    assert rep["models"]["DR"]["encoded_gmacs"] == 16.837


def test_layers_csv_and_report_costs(tmp_path):
    import csv

    from xrbench.models import MODELS
    r = run("--scenario", "vr_gaming", "--accelerators", "K_4K", "--layers", "l.csv", "--report", "r.json", "-q",
            cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    rows = list(csv.DictReader(open(tmp_path / "l.csv")))
    assert len(rows) == 2 * sum(len(m.layers) for m in MODELS.values())       # 2 sub-accelerators
    assert {row["bound"] for row in rows} <= {"compute", "noc", "dram"}
    rep = json.loads((tmp_path / "r.json").read_text())
    assert rep["accelerators"]["acc0_ws"]["pes"] == 3072 and rep["accelerators"]["acc1_os"]["pes"] == 1024
    ht = rep["costs"]["acc0_ws"]["HT"]
    assert sum(int(row["cycles"]) for row in rows if row["accelerator"] == "acc0_ws" and row["model"] == "HT") \
        == pytest.approx(ht["latency_ms"] * 1e6)
    bad = run("--costs", "c.csv", "--layers", "l2.csv", cwd=tmp_path)
    assert bad.returncode == 1 and not (tmp_path / "l2.csv").exists()


def test_bad_expect_file_fails_before_writing(tmp_path):
    (tmp_path / "e.json").write_text("[1, 2]")
    r = run("--scenario", "ar_gaming", "--expect", "e.json", "-o", "s.csv", cwd=tmp_path)
    assert r.returncode == 1 and "mapping" in r.stderr and not (tmp_path / "s.csv").exists()


def test_accuracy_term_scales_a_models_score():
    exe = Path(sys.executable).parent / "xrbench-run"
    base = ["--scenario", "vr_gaming", "--accelerators", "B_4K", "--json"]
    full = json.loads(subprocess.run([exe, *base], capture_output=True, text=True, check=True).stdout)
    half = json.loads(subprocess.run([exe, *base, "--accuracy", "HT=0.5"], capture_output=True, text=True,
                                     check=True).stdout)
    f, h = full["scenarios"]["vr_gaming"], half["scenarios"]["vr_gaming"]
    # S_HT halves; the scenario score (100 x mean over ES, GE, HT) drops by 100 x S_HT / 2 / 3
    assert h["models"]["HT"]["score"] == pytest.approx(f["models"]["HT"]["score"] / 2)
    assert h["score"] == pytest.approx(f["score"] - 100 * f["models"]["HT"]["score"] / 6)
    assert half["accuracy"] == {"HT": 0.5}
    bad = subprocess.run([exe, *base, "--accuracy", "HT=1.5"], capture_output=True, text=True)
    assert bad.returncode == 1 and len(bad.stderr.strip().splitlines()) == 1
