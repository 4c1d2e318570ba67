"""vegeta-sim output checks: every output path (the annotated ETs included) checked before any work, figures only
as .png/.svg/.pdf and byte-identical across runs."""
import shutil
from pathlib import Path

import pytest

from vegeta.cli import main

TRANSFORMER = Path(__file__).resolve().parents[1] / "data" / "vegeta" / "transformer.0.et"


def run(capsys, *args):
    try:
        main(list(args))
        code = 0
    except SystemExit as e:
        code = e.code
    out, err = capsys.readouterr()
    return code, out, err


@pytest.mark.parametrize("args,message", [
    (["--plot", "vp.png", "-o", "bad.json/x.csv"], "bad.json/x.csv: bad.json is not a directory (-o)"),
    (["-o", "v1.csv", "--report", "bad.json/r.json"], "bad.json/r.json: bad.json is not a directory (--report)"),
    (["-o", "v1.csv", "--plot", "bad.json/p.svg"], "bad.json/p.svg: bad.json is not a directory (--plot)"),
    (["-o", "same3.json", "--report", "same3.json"], "same3.json: given for both -o and --report"),
    (["--from-et", "tr", "--et-out", "vet/a", "-o", "bad.json/x.csv"],
     "bad.json/x.csv: bad.json is not a directory (-o)"),
    (["--from-et", "tr", "--et-out", "bad.json/a", "--report", "r.json"],
     "bad.json/a.0.et: bad.json is not a directory (--et-out, rank 0)"),
    (["--from-et", "tr", "--et-out", "vet/a", "-o", "vet/a.0.et"], "vet/a.0.et: given for both -o and --et-out, rank 0"),
])
def test_bad_output_path_writes_nothing(tmp_path, capsys, monkeypatch, args, message):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "bad.json").write_text("{}\n")
    shutil.copy(TRANSFORMER, tmp_path / "tr.0.et")
    code, _, err = run(capsys, "--layers", "bert-base", "--sparsity", "4:4", "-q", *args)
    lines = [ln for ln in err.splitlines() if ln.strip()]
    assert code == 1 and lines == [f"vegeta-sim: error: {message}"], err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bad.json", "tr.0.et"]


@pytest.mark.parametrize("plot", ["p.gif", "noext"])
def test_plot_extension_is_a_usage_error_before_any_output(tmp_path, capsys, monkeypatch, plot):
    monkeypatch.chdir(tmp_path)
    code, _, err = run(capsys, "--layers", "bert-base", "-q", "-o", "o.csv", "--plot", plot)
    assert code == 2 and f"{plot}: expected a .png, .svg, .pdf file name" in err, err
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("ext", ["svg", "pdf"])
def test_plot_bytes_identical_across_runs(tmp_path, capsys, monkeypatch, ext):
    monkeypatch.chdir(tmp_path)
    for name in ("a", "b"):
        code, _, err = run(capsys, "--layers", "bert-base", "--sparsity", "2:4", "-q", "--plot", f"{name}.{ext}")
        assert code == 0, err
    data = (tmp_path / f"a.{ext}").read_bytes()
    assert data == (tmp_path / f"b.{ext}").read_bytes()
    assert b"/CreationDate" not in data and b"<dc:date>" not in data   # what two runs a second apart differ in
