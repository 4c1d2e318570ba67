"""Inter-thread dependencies: trace_link's `inter_thread_dep` (ET+ input) and its gap rule applied to --kineto."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from chakra_tools.common import ToolError
from chakra_tools.convert.kineto import KinetoDurations, inter_thread_joins
from chakra_tools.convert.pytorch import convert_trace
from chakra_tools.et import attrs_of, rank_path, read_et
from chakra_tools.graph import RankGraph

DATA = Path(__file__).resolve().parents[1] / "data"
THREAD = "[pytorch|profiler|execution_trace|thread]"


def test_gap_rule_worked_by_hand():
    # thread a: 0–10, 20–30, then idle until 3000; thread b: 5–6, idle, 2000–2010 (µs; rf ids 1..5)
    ops = [(0, 10, "a", 1), (20, 10, "a", 2), (3000, 5, "a", 3), (5, 1, "b", 4), (2000, 10, "b", 5)]
    # a's first group has no earlier op elsewhere; its op 3 opens a group after a 2970 µs gap → b's latest start
    # before 3000 (rf 5). b's first op waits for a's op 1; its 1994 µs gap opens a group → a's op 2 (started at 20).
    assert inter_thread_joins(ops) == {3: 5, 4: 1, 5: 2}
    assert inter_thread_joins(ops, gap_us=3000) == {4: 1, 5: 1}  # no gap counts: b's group keeps its first join
    assert inter_thread_joins([(0, 1, "a", 1), (5, 1, "a", 2)]) == {}  # one thread: nothing to wait for


def _et_plus(tmp_path: Path, joins: dict[int, object]) -> Path:
    """Two threads (roots 2 and 10), three ops each, with exclusive_dur and inter_thread_dep like trace_link's."""
    nodes = [{"id": 1, "name": "[pytorch|profiler|execution_trace|process]", "ctrl_deps": 1},
             {"id": 2, "name": THREAD, "ctrl_deps": 1, "attrs": [{"name": "tid", "type": "uint64", "value": 1}]},
             {"id": 10, "name": THREAD, "ctrl_deps": 1, "attrs": [{"name": "tid", "type": "uint64", "value": 2}]}]
    for i, (parent, tid) in enumerate([(2, 1)] * 3 + [(10, 2)] * 3):
        nid = 3 + i if parent == 2 else 11 + i - 3
        node = {"id": nid, "name": "aten::relu", "ctrl_deps": parent, "inputs": {}, "outputs": {},
                "attrs": [{"name": "tid", "type": "uint64", "value": tid}], "exclusive_dur": 7}
        if nid in joins:
            node["inter_thread_dep"] = joins[nid]
        nodes.append(node)
    f = tmp_path / "plus.json"
    f.write_text(json.dumps({"schema": "1.1.1-chakra.0.0.4", "pid": 1, "time": "t", "start_ts": 0, "nodes": nodes,
                             "finish_ts": 1}))
    return f


def test_et_plus_inter_thread_dep_becomes_a_data_dep_before_the_chain_one(tmp_path):
    # 12 waits for 4 (and its chain predecessor 11); 13's null and 11's 0 are no dependency, as in MLCommons'
    f = _et_plus(tmp_path, {12: 4, 13: None, 11: 0})
    nodes = {n.id: n for n in convert_trace(f, 0).nodes}
    assert list(nodes[12].data_deps) == [4, 11]
    assert list(nodes[11].data_deps) == [] and list(nodes[13].data_deps) == [12]
    assert [list(nodes[i].data_deps) for i in (3, 4, 5)] == [[], [3], [4]]
    assert nodes[12].duration_micros == 7


def test_join_to_a_node_that_is_not_emitted_is_left_out(tmp_path):
    nodes = {n.id: n for n in convert_trace(_et_plus(tmp_path, {12: 999, 13: 10}), 0).nodes}
    assert list(nodes[12].data_deps) == [11] and list(nodes[13].data_deps) == [12]


def test_joins_that_close_a_cycle_are_a_one_line_error(tmp_path):
    f = _et_plus(tmp_path, {4: 12, 12: 4})  # 4 waits for 12, 12 for 4
    with pytest.raises(ToolError, match=r"plus\.json: inter-thread dependencies make a cycle"):
        convert_trace(f, 0)
    exe = Path(sys.executable).with_name("chakra-convert")
    r = subprocess.run([str(exe), "pytorch", str(f), "-o", str(tmp_path / "o")], capture_output=True, text=True)
    assert r.returncode != 0 and "Traceback" not in r.stderr and len(r.stderr.strip().splitlines()) == 1
    assert not list(tmp_path.glob("o*"))


def _gloo(tmp_path: Path, *extra: str) -> list[RankGraph]:
    exe = Path(sys.executable).with_name("chakra-convert")
    subprocess.run([str(exe), "pytorch", *(str(DATA / f"gloo.rank{r}.et.json") for r in (0, 1)),
                    *(a for r in (0, 1) for a in ("--kineto", str(DATA / f"gloo.rank{r}.kineto.json"))),
                    "-o", str(tmp_path / "g"), "-q", *extra], check=True)
    return [RankGraph(*read_et(rank_path(tmp_path / "g", r))) for r in (0, 1)]


def test_recorded_gloo_step_gets_joins_between_its_threads(tmp_path):
    for g in _gloo(tmp_path):
        tid = {n.id: attrs_of(n).get("tid") for n in g.nodes}  # comm nodes carry no tid
        joins = [(n.id, n.data_deps[0]) for n in g.nodes if len(n.data_deps) == 2]
        known = [(a, b) for a, b in joins if tid[a] is not None and tid[b] is not None]
        assert known, "the recorded gloo step has two threads: some op must wait for the other"
        assert all(tid[a] != tid[b] for a, b in known)  # a join is always to another thread
        assert all(len(n.data_deps) <= 2 for n in g.nodes) and g.find_cycle() == []
    k = KinetoDurations.load(DATA / "gloo.rank0.kineto.json")
    assert k.joins and KinetoDurations.load(DATA / "gloo.rank0.kineto.json", None).joins == {}


def test_negative_gap_turns_inter_thread_deps_off(tmp_path):
    for g in _gloo(tmp_path, "--thread-gap-us", "-1"):
        assert all(len(n.data_deps) <= 1 for n in g.nodes)  # one chain per thread, as before
