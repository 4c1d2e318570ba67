"""comet-sweep: stale stores, foreign files, failed runs leaving nothing behind, one-line errors naming the file."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import pytest

from comet.cli import main

SMALL = "cluster: a100-80gb\ngpus: [8, 16]\ntp: [1, 2]\npp: [1]\nbatch: 512\n"
POINT = ["--model", "megatron-1.7b", "--cluster", "a100-80gb", "--gpus", "16", "--pp", "1", "--batch", "32"]


@pytest.fixture
def cli(tmp_path, monkeypatch, capsys):
    """Run comet-sweep in-process in tmp_path: (exit code, stdout, stderr)."""
    monkeypatch.chdir(tmp_path)

    def run(*args):
        capsys.readouterr()
        with pytest.raises(SystemExit) as e:
            main([str(a) for a in args])
        out, err = capsys.readouterr()
        return e.value.code, out, err
    return run


def _one_line_error(r, msg):
    code, _, err = r
    assert code == 1 and msg in err and len(err.strip().splitlines()) == 1, err


@pytest.fixture
def full(tmp_path, cli):
    (tmp_path / "s.yml").write_text("model: megatron-1.7b\n" + SMALL)
    assert cli("run", "s.yml", "-o", "full.db", "-q")[0] == 0
    return tmp_path / "full.db"


# --------------------------------------------------------------------------- resuming only the same model/cluster
def test_run_refuses_to_resume_a_store_made_for_another_model_file(tmp_path, cli):
    (tmp_path / "m.yml").write_text("layers: 24\nhidden: 2304\nheads: 24\n")
    (tmp_path / "s.yml").write_text("model: m.yml\n" + SMALL)
    assert cli("run", "s.yml", "-o", "r.db", "-q")[0] == 0
    before = (tmp_path / "r.db").read_bytes()
    (tmp_path / "m.yml").write_text("layers: 96\nhidden: 2304\nheads: 24\n")
    _one_line_error(cli("run", "s.yml", "-o", "r.db", "-q"),
                    "r.db: made for a different model/cluster (model.layers: 24 in the store, 96 now); use a new -o")
    assert (tmp_path / "r.db").read_bytes() == before
    # the same model again resumes everything
    code, out, _ = cli("run", "s.yml", "-o", "r2.db", "--json")
    assert code == 0 and json.loads(out)["evaluated"] == 4
    (tmp_path / "m.yml").write_text("layers: 96\nhidden: 2304.0\nheads: 24\n")   # same values, other spelling
    code, out, _ = cli("run", "s.yml", "-o", "r2.db", "--json")
    assert code == 0 and json.loads(out)["resumed_from_store"] == 4


def test_run_refuses_to_resume_after_an_inline_cluster_changes(tmp_path, cli):
    sweep = "model: megatron-1.7b\ncluster: {preset: a100-80gb, gpus_per_node: %d}\ngpus: [8]\ntp: [1]\npp: [1]\n" \
            "batch: 8\n"
    (tmp_path / "s.yml").write_text(sweep % 8)
    assert cli("run", "s.yml", "-o", "r.db", "-q")[0] == 0
    (tmp_path / "s.yml").write_text(sweep % 4)
    _one_line_error(cli("run", "s.yml", "-o", "r.db", "-q"), "cluster.gpus_per_node: 8 in the store, 4 now")


def test_run_refuses_a_store_from_before_setups_were_recorded(full, cli):
    # an older store has the same tables but no `setup` record: it can be reported, not resumed
    db = sqlite3.connect(full)
    db.execute("DELETE FROM meta WHERE name = 'setup'")
    db.commit()
    db.close()
    _one_line_error(cli("run", "s.yml", "-o", full, "-q"), "full.db: made by an older comet-sweep")
    assert cli("report", full, "-q")[0] == 0


# --------------------------------------------------------------------------- foreign files are neither read nor written
def _foreign(tmp_path: Path, kind: str) -> Path:
    p = tmp_path / f"{kind}.db"
    if kind == "empty":
        p.touch()
    elif kind == "text":
        p.write_text("hello\n")
    else:
        db = sqlite3.connect(p)
        db.execute("CREATE TABLE points (a, b)" if kind == "points" else "CREATE TABLE other (a)")
        db.commit()
        db.close()
    return p


@pytest.mark.parametrize("kind", ["empty", "text", "sqlite", "points"])
@pytest.mark.parametrize("command", ["report", "run"])
def test_foreign_files_are_not_stores_and_stay_untouched(tmp_path, cli, kind, command):
    p = _foreign(tmp_path, kind)
    (tmp_path / "s.yml").write_text("model: megatron-1.7b\n" + SMALL)
    before = p.read_bytes()
    args = ("report", p.name) if command == "report" else ("run", "s.yml", "-o", p.name)
    _one_line_error(cli(*args, "-q"), f"{p.name}: not a comet-sweep result store")
    assert p.read_bytes() == before
    assert sorted(x.name for x in tmp_path.iterdir()) == sorted([p.name, "s.yml"])


def test_report_leaves_no_files_beside_the_store(full, cli):
    assert cli("report", full, "-q")[0] == 0
    assert sorted(x.name for x in full.parent.iterdir()) == ["full.db", "s.yml"]   # no -wal / -shm


def test_report_on_a_directory_says_so(tmp_path, cli):
    (tmp_path / "adir").mkdir()
    _one_line_error(cli("report", "adir"), "adir: is a directory")


# --------------------------------------------------------------------------- a failed report writes nothing
@pytest.mark.parametrize("extra,code", [
    (["--plot", "p.xyz"], 2),
    (["--heatmap", "tp", "pp", "h.xyz"], 2),
    (["--heatmap", "tq", "pp", "h.png"], 2),
    (["--plot", "p.png", "--heatmap", "tp", "pp", "p.png"], 1),
    (["--plot", "adir"], 2),
])
def test_failed_report_writes_no_output(full, cli, extra, code):
    (full.parent / "adir").mkdir()
    r = cli("report", full, "--csv", "ok.csv", *extra)
    assert r[0] == code, r[2]
    assert not (full.parent / "ok.csv").exists() and not (full.parent / "p.png").exists()


def test_report_without_feasible_points_writes_no_csv_before_failing_on_the_plot(tmp_path, cli):
    (tmp_path / "s.yml").write_text("model: megatron-1.7b\ncluster: a100-80gb\ngpus: [8]\ntp: [3]\npp: [1]\n"
                                    "batch: 8\n")
    assert cli("run", "s.yml", "-o", "r.db", "-q")[0] == 0
    _one_line_error(cli("report", "r.db", "--csv", "ok.csv", "--plot", "p.png"), "r.db: no feasible points to plot")
    assert not (tmp_path / "ok.csv").exists()


def test_report_csv_on_a_directory_names_it(full, cli):
    (full.parent / "adir").mkdir()
    _one_line_error(cli("report", full, "--csv", "adir"), "adir: is a directory (--csv)")


@pytest.mark.parametrize("top", ["-1", "0"])
def test_report_top_must_be_positive(full, cli, top):
    assert cli("report", full, "--top", top)[0] == 2


@pytest.mark.parametrize("ext", ["svg", "pdf", "png"])
def test_report_figures_are_byte_identical_across_runs(full, cli, ext):
    for i in (1, 2):
        assert cli("report", full, "--plot", f"p{i}.{ext}", "--heatmap", "tp", "gpus", f"h{i}.{ext}", "-q")[0] == 0
    d = full.parent
    assert (d / f"p1.{ext}").read_bytes() == (d / f"p2.{ext}").read_bytes()
    assert (d / f"h1.{ext}").read_bytes() == (d / f"h2.{ext}").read_bytes()


# --------------------------------------------------------------------------- sweep files
@pytest.mark.parametrize("model,cluster,msg", [
    ("megatron-1.7b", "{preset: a100-80gb, foo: 1}", "s.yml: cluster.foo: unknown key"),
    ("megatron-1.7b", "{preset: a100-80gb, gpus_per_node: 0}", "s.yml: cluster: gpus_per_node must be between"),
    ("megatron-1.7b", "{preset: [1]}", "s.yml: cluster.preset: unknown cluster preset [1]"),
    ("{layers: 2}", "a100-80gb", "s.yml: model: expected a preset name or a file, got {'layers': 2}"),
    ("5", "a100-80gb", "s.yml: model: expected a preset name or a file, got 5"),
    ("gpt9", "a100-80gb", "s.yml: unknown model 'gpt9'"),
])
def test_inline_model_and_cluster_errors_name_the_sweep_file(tmp_path, cli, model, cluster, msg):
    (tmp_path / "s.yml").write_text(f"model: {model}\ncluster: {cluster}\ngpus: [8]\ntp: [1]\npp: [1]\nbatch: 8\n")
    _one_line_error(cli("run", "s.yml", "-o", "r.db"), msg)
    assert not (tmp_path / "r.db").exists()


def test_inline_model_error_in_a_point_file_names_it(tmp_path, cli):
    (tmp_path / "p.yml").write_text("model: {layers: 2}\ncluster: a100-80gb\ngpus: 8\ntp: 1\npp: 1\nbatch: 8\n")
    _one_line_error(cli("eval", "p.yml"), "p.yml: model: expected a preset name or a file")


@pytest.mark.parametrize("rng,msg", [
    ("{from: 4, to: 1, step: 1}", "s.yml: pp: empty range (from 4 is above to 1)"),
    ("{from: 4, to: 1, factor: 2}", "s.yml: pp: empty range"),
    ("{from: 8, to: 64, step: 8, extra: 1}", "s.yml: pp.extra: unknown range key"),
    ("{from: 1, to: 8, step: 1, factor: 2}", "s.yml: pp: a range takes step or factor, not both"),
])
def test_bad_ranges_are_one_line_errors(tmp_path, cli, rng, msg):
    (tmp_path / "s.yml").write_text(f"model: megatron-1.7b\ncluster: a100-80gb\ngpus: [8]\ntp: [1]\npp: {rng}\n"
                                    "batch: 8\n")
    _one_line_error(cli("run", "s.yml", "-o", "r.db"), msg)
    assert not (tmp_path / "r.db").exists()


def test_geometric_range(tmp_path, cli):
    (tmp_path / "s.yml").write_text("model: megatron-1.7b\ncluster: a100-80gb\ngpus: {from: 8, to: 64, factor: 2}\n"
                                    "tp: [1]\npp: [1]\nbatch: 64\n")
    code, out, _ = cli("run", "s.yml", "-o", "r.db", "--json")
    assert code == 0 and json.loads(out)["points"] == 4   # 8, 16, 32, 64


def test_unreachable_dask_scheduler_leaves_no_store(tmp_path, cli):
    (tmp_path / "s.yml").write_text("model: megatron-1.7b\n" + SMALL)
    _one_line_error(cli("run", "s.yml", "-o", "r.db", "--executor", "dask", "--scheduler", "nonsense"),
                    "--scheduler nonsense: cannot reach the Dask scheduler")
    assert list(tmp_path.iterdir()) == [tmp_path / "s.yml"]


def test_a_run_interrupted_after_storing_points_keeps_its_new_store(tmp_path, cli, monkeypatch):
    import comet.sweep
    (tmp_path / "s.yml").write_text("model: megatron-1.7b\n" + SMALL)
    monkeypatch.setattr("comet.cli.run_sweep", lambda *a, **k: comet.sweep.run_sweep(*a, **{**k, "chunk": 1,
                                                                                            "stop_after": 2}))
    assert cli("run", "s.yml", "-o", "r.db", "-q")[0] == 1   # interrupted (click reports it as aborted)
    assert sqlite3.connect(tmp_path / "r.db").execute("SELECT COUNT(*) FROM points").fetchone()[0] == 2


# --------------------------------------------------------------------------- eval --emit-et
def test_emit_et_of_an_infeasible_point_is_an_error(tmp_path, cli):
    _one_line_error(cli("eval", *POINT, "--tp", "3", "--emit-et", "et/c", "-o", "r.json"),
                    "--emit-et: the point is infeasible (tp x pp does not divide the GPU count)")
    assert not (tmp_path / "et").exists() and not (tmp_path / "r.json").exists()


def test_emit_et_under_a_file_names_the_file(tmp_path, cli):
    (tmp_path / "bad.json").write_text("{}")
    _one_line_error(cli("eval", *POINT, "--tp", "4", "--emit-et", "bad.json/x"), "bad.json is not a directory")
    assert sorted(x.name for x in tmp_path.iterdir()) == ["bad.json"]
