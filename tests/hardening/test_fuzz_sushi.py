"""Fuzzing sushi-serve's parsers: the config YAML (accelerator, workload + distributions + phases, scheduler,
explicit SubNet menu) and the query trace CSV.  Every run: exit 0/1/2, one error line, no traceback, and no
output file unless the run succeeded."""

from __future__ import annotations

from pathlib import Path

import yaml
from hypothesis import given
from hypothesis import strategies as st

from tests.hardening.harness import FUZZ, garbled_text, mutated, run_clean

DATA = Path(__file__).resolve().parents[1] / "data" / "sushi"
CONFIG = yaml.safe_load((DATA / "small_menu.yml").read_text())
TRACE = (DATA / "trace.csv").read_text()
TRACE_ROWS = TRACE.splitlines()


def _run(tmp: Path, capsys, argv: list[str], context: str) -> None:
    out, queries = tmp / "r.json", tmp / "q.csv"
    run_clean("sushi-serve", [*argv, "-o", str(out), "--queries-csv", str(queries), "-q"], capsys, context,
              outputs=[out, queries])


@FUZZ
@given(doc=mutated(CONFIG, max_mutations=4))
def test_fuzz_config(tmp_path_factory, capsys, doc):
    tmp = tmp_path_factory.mktemp("c")
    f = tmp / "c.yml"
    f.write_text(yaml.safe_dump(doc))
    # the command line bounds the work whatever the mutated config asks for
    _run(tmp, capsys, [str(f), "--queries", "200", "--policy", "sushi"], "config")


@FUZZ
@given(text=garbled_text(yaml.safe_dump(CONFIG)))
def test_fuzz_config_text(tmp_path_factory, capsys, text):
    tmp = tmp_path_factory.mktemp("t")
    f = tmp / "c.yml"
    f.write_text(text)
    _run(tmp, capsys, [str(f), "--queries", "200", "--policy", "no-cache"], "config text")


@FUZZ
@given(text=garbled_text("\n".join(TRACE_ROWS[:40]) + "\n"))
def test_fuzz_trace_text(tmp_path_factory, capsys, text):
    tmp = tmp_path_factory.mktemp("q")
    f = tmp / "t.csv"
    f.write_text(text)
    _run(tmp, capsys, [str(DATA / "small_menu.yml"), "--trace", str(f), "--policy", "sushi"], "trace")


@FUZZ
@given(rows=st.lists(st.tuples(st.sampled_from(["0", "1.5", "-1", "nan", "inf", "1e308", "", "x", "3"]),
                               st.sampled_from(["2", "0", "-3", "nan", "1e-9", "", "4"]),
                               st.sampled_from(["75", "", "101", "-5", "nan", "70.5"])), min_size=0, max_size=12))
def test_fuzz_trace_values(tmp_path_factory, capsys, rows):
    tmp = tmp_path_factory.mktemp("v")
    f = tmp / "t.csv"
    f.write_text("arrival_ms,slo_ms,accuracy_target\n" + "".join(",".join(r) + "\n" for r in rows))
    _run(tmp, capsys, [str(DATA / "small_menu.yml"), "--trace", str(f), "--policy", "all"], "trace values")
