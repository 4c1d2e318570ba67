"""sushi-serve input and output checks: workload errors name file and key, generated SLOs / accuracy targets obey
the --trace rule, --supernet vs an explicit menu, outputs checked before any work, byte-identical figures."""
from pathlib import Path

import numpy as np
import pytest

from chakra_tools.common import ToolError
from sushi.cli import main
from sushi.workload import Dist, Phase, Workload, generate

from ..cli_run import one_error, run_main

SMALL_MENU = Path(__file__).resolve().parents[1] / "data" / "sushi" / "small_menu.yml"


def run(capsys, *args):
    return run_main(main, capsys, *args)


@pytest.mark.parametrize("workload,message", [
    ('{rate_qps: "700"}', "workload.rate_qps: expected a number, got '700'"),
    ("{slo_ms: {dist: constant, value: 0}}", "workload.slo_ms: SLOs must be in (0, 1e+10] ms, got constant 0"),
    ("{slo_ms: {dist: uniform, low: 1, high: 1.0e+300}}",
     "workload.slo_ms: SLOs must be in (0, 1e+10] ms, got uniform 1 to 1e+300"),
    ("{accuracy_target: {dist: constant, value: 101}}",
     "workload.accuracy_target: accuracy targets must be percentages in [0, 100], got constant 101"),
    ("{accuracy_target: {dist: constant, value: -5}}",
     "workload.accuracy_target: accuracy targets must be percentages in [0, 100], got constant -5"),
    ("{accuracy_target: {dist: choice, values: [70, 120]}}",
     "workload.accuracy_target: accuracy targets must be percentages in [0, 100], got choice 70 to 120"),
    ("{phases: [{duration_s: 1, accuracy_target: {dist: constant, value: 500}}]}",
     "workload.phases[0].accuracy_target: accuracy targets must be percentages in [0, 100], got constant 500"),
    ("{phases: [{duration_s: 1}, {duration_s: 1, slo_ms: {dist: lognormal, median: 0.0, sigma: 1}}]}",
     "workload.phases[1].slo_ms: lognormal needs median > 0 and sigma >= 0"),
    # a lognormal's tail: only the draws can tell
    ("{phases: [], accuracy_target: {dist: lognormal, median: 90, sigma: 1}}",
     "workload.accuracy_target: drew 148.921; accuracy targets must be percentages in [0, 100]"),
    ("{phases: [{duration_s: 1, slo_ms: {dist: lognormal, median: 1.0e+9, sigma: 5}}]}",
     "workload.phases[0].slo_ms: drew 2.18886e+10; SLOs must be in (0, 1e+10] ms"),
])
def test_workload_errors_name_file_and_key(tmp_path, capsys, monkeypatch, workload, message):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "w.yml").write_text(f"workload: {workload}\nmenu: {{size: 4}}\n")
    code, _, err = run(capsys, "w.yml", "--queries", "2000", "--policy", "sushi", "-q", "-o", "r.json")
    assert one_error(code, err) == f"sushi-serve: error: w.yml: {message}"
    assert not (tmp_path / "r.json").exists()


def test_generate_checks_the_python_api_workload_too():
    w = Workload(arrival="poisson", phases=[Phase(1.0, accuracy_target=Dist("uniform", low=90.0, high=101.0))])
    with pytest.raises(ToolError, match=r"^workload\.phases\[0\]\.accuracy_target: accuracy targets must be"):
        generate(w, seed=0, n=100)
    ok = generate(Workload(arrival="poisson", accuracy_target=Dist("constant", value=100.0), phases=[]), 0, 100)
    assert np.all(ok.target == 100.0)          # the bounds themselves are allowed


def test_supernet_matching_the_menu_runs(tmp_path, capsys):
    out = tmp_path / "r.json"
    code, _, err = run(capsys, str(SMALL_MENU), "--supernet", "ofa-mbv3", "--policy", "sushi", "-q", "-o", str(out))
    assert code == 0, err
    assert out.exists()


def test_supernet_against_the_menu_names_the_configs_supernet(capsys):
    code, _, err = run(capsys, str(SMALL_MENU), "--supernet", "ofa-resnet50", "-q")
    assert one_error(code, err) == (f"sushi-serve: error: {SMALL_MENU}: menu.subnets are ofa-mbv3 SubNets; "
                                    "drop --supernet ofa-resnet50")


@pytest.mark.parametrize("args,message", [
    (["-o", "r2.json", "--plot", "bad.json/p.png"], "bad.json/p.png: bad.json is not a directory (--plot)"),
    (["-o", "r2.json", "--queries-csv", "bad.json/q.csv"], "bad.json/q.csv: bad.json is not a directory "
                                                           "(--queries-csv)"),
    (["-o", "same.json", "--layers-csv", "same.json"], "same.json: given for both -o and --layers-csv"),
])
def test_bad_output_path_writes_nothing(tmp_path, capsys, monkeypatch, args, message):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "bad.json").write_text("{}\n")
    code, _, err = run(capsys, str(SMALL_MENU), "--policy", "sushi", "-q", *args)
    assert one_error(code, err) == f"sushi-serve: error: {message}"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bad.json"]

