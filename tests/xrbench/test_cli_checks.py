"""xrbench-run input and output checks: bounded fps, strict scenario keys, cost CSV rows, outputs checked before
any work, figures only as .png/.svg/.pdf and byte-identical across runs."""
import pytest

from xrbench.accelerators import load_costs
from xrbench.cli import main
from xrbench.runtime import simulate
from xrbench.scenarios import Scenario, ScenarioModel

from ..cli_run import one_error, run_main

HEADER = "model,accelerator,latency_ms,energy_mj\n"
AR_GAMING_COSTS = HEADER + "HT,a,10,15\nDE,a,20,30\nPD,a,5,10\n"


def run(capsys, *args):
    return run_main(main, capsys, *args)


@pytest.mark.parametrize("yaml,message", [
    ("x: {models: [{id: HT, fps: 1.0e+9}]}\n", "s.yml: x.models[0].fps: must be > 0 and <= 1000, got 1e+09"),
    ("x: {models: [{id: HT, fps: 1001}]}\n", "s.yml: x.models[0].fps: must be > 0 and <= 1000, got 1001"),
    ("x: {models: [{id: HT, fps: .nan}]}\n", "s.yml: x.models[0].fps: must be > 0 and <= 1000, got nan"),
    ("x: {models: [{id: HT, fps: 30, foo: 1}]}\n",
     "s.yml: x.models[0].foo: unknown key (known keys: id, fps, upstream, probability)"),
    ("x: {models: [{id: HT, fps: 30}], extra: 1}\n", "s.yml: x.extra: unknown key (known keys: models)"),
])
def test_bad_scenario_file_names_file_and_key(tmp_path, capsys, monkeypatch, yaml, message):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "s.yml").write_text(yaml)
    code, _, err = run(capsys, "--scenarios-file", "s.yml", "--scenario", "x", "-q", "-o", "o.csv")
    assert one_error(code, err) == f"xrbench-run: error: {message}"
    assert not (tmp_path / "o.csv").exists()


def test_the_fps_bound_itself_runs(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "s.yml").write_text("x: {models: [{id: KD, fps: 1000}]}\n")
    code, _, err = run(capsys, "--scenarios-file", "s.yml", "--scenario", "x", "-q", "--report", "r.json")
    assert code == 0, err
    assert (tmp_path / "r.json").exists()


def test_compat_needs_one_fps_or_more(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "s.yml").write_text("x: {models: [{id: HT, fps: 0.5}]}\n")
    code, _, err = run(capsys, "--scenarios-file", "s.yml", "--scenario", "x", "-q", "--compat", "xrbench-v0.1")
    assert one_error(code, err).startswith("xrbench-run: error: s.yml: x.models[0].fps: --compat xrbench-v0.1 "
                                           "needs fps >= 1")
    with pytest.raises(ValueError, match="fps >= 1"):
        simulate(Scenario("x", (ScenarioModel("HT", 0.5),)), {"a": {"HT": (1.0, 1.0)}}, compat=True)


@pytest.mark.parametrize("rows,message", [
    ("PD,a,1,1\nPD,a,2,2\nHT,a,1,1\nDE,a,1,1\n", "c.csv: line 3: second row for model PD on accelerator a "
                                                 "(first at line 2)"),
    ("PD,,1,1\nHT,a,1,1\nDE,a,1,1\n", "c.csv: line 2: empty accelerator name"),
    ("PD, ,1,1\nHT,a,1,1\nDE,a,1,1\n", "c.csv: line 2: empty accelerator name"),
    ("PD,a,1,1\nHT,a,1,1\n", "c.csv: no row for model DE on accelerator a (scenario ar_gaming needs every model it "
                             "runs costed on every accelerator)"),
])
def test_bad_cost_csv_names_the_file(tmp_path, capsys, monkeypatch, rows, message):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "c.csv").write_text(HEADER + rows)
    code, _, err = run(capsys, "--costs", "c.csv", "--scenario", "ar_gaming", "-q")
    assert one_error(code, err) == f"xrbench-run: error: {message}"


def test_bundled_costs_csv_names_the_missing_pair(capsys):
    from pathlib import Path
    costs = Path(__file__).resolve().parents[2] / "examples" / "configs" / "xrbench-run" / "costs.csv"
    code, _, err = run(capsys, "--costs", str(costs), "-q")        # --scenario all: more models than the CSV has
    line = one_error(code, err)
    assert line.startswith(f"xrbench-run: error: {costs}: no row for model ES on accelerator big "), line
    assert run(capsys, "--costs", str(costs), "--scenario", "ar_gaming", "-q")[0] == 0


def test_load_costs_keeps_distinct_pairs(tmp_path):
    (tmp_path / "c.csv").write_text(HEADER + "HT,a,1,2\nHT,b,3,4\nDE,a,5,6\n")
    assert load_costs(tmp_path / "c.csv") == {"a": {"HT": (1.0, 2.0), "DE": (5.0, 6.0)}, "b": {"HT": (3.0, 4.0)}}


@pytest.mark.parametrize("args,message", [
    (["-o", "o.csv", "--report", "bad.json/r.json"], "bad.json/r.json: bad.json is not a directory (--report)"),
    (["-o", "o.csv", "--timeline", "t.csv", "--plot", "bad.json/p.png"],
     "bad.json/p.png: bad.json is not a directory (--plot)"),
    (["-o", "o.csv", "--timeline", "o.csv"], "o.csv: given for both -o and --timeline"),
    (["-o", "o.csv", "--report", "same.json", "--layers", "same.json"], "same.json: given for both --report and "
                                                                       "--layers"),
])
def test_bad_output_path_writes_nothing(tmp_path, capsys, monkeypatch, args, message):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "bad.json").write_text("{}\n")
    code, _, err = run(capsys, "--scenario", "ar_gaming", "-q", *args)
    assert one_error(code, err) == f"xrbench-run: error: {message}"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bad.json"]
