"""vegeta-sim output checks: every output path (the annotated ETs included) checked before any work, figures only
as .png/.svg/.pdf and byte-identical across runs."""
import shutil
from pathlib import Path

import pytest

from vegeta.cli import main

from ..cli_run import run_main

TRANSFORMER = Path(__file__).resolve().parents[1] / "data" / "vegeta" / "transformer.0.et"


def run(capsys, *args):
    return run_main(main, capsys, *args)


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


