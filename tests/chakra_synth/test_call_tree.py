"""Dependencies up the previous node's chain of parents (fit.ancestor_level, dependencies.draw_dependencies/_place_up): the recorded
PyTorch traces' control dependencies form a call tree (every one points to an ancestor of the node before), and the
samples keep its branching: siblings share a parent, a parent gets its children."""

from __future__ import annotations

import copy
import json

import pytest

from chakra_tools.common import ToolError
from chakra_tools.graph import Trace
from chakra_tools.synth import compare, fit, sample
from chakra_tools.synth.fit import MAX_UP, ancestor_level
from chakra_tools.synth.model_check import check_model

from .test_synth import DATA

CASES = [(DATA / "cnn_20x2", 2), (DATA / "tfm_80x2", 2), (DATA.parent / "tpdp" / "pp2dp2", 4)]


def _levels(prefix) -> list[int | None]:
    """Per control dependency of rank 0 its level up the previous node's chain of control parents (None: off it)."""
    g = Trace.load(prefix).ranks[0]
    nodes = sorted(g.nodes, key=lambda n: n.id)
    index = {n.id: i for i, n in enumerate(nodes)}
    parent, out = [], []
    for i, n in enumerate(nodes):
        deps = sorted(index[d] for d in n.ctrl_deps if d in index)
        for j in deps:
            lv = ancestor_level(parent, i - 1, j)
            out.append(lv if lv >= 0 else None)
        parent.append(deps[-1] if deps else -1)
    return out


def test_ancestor_level_by_hand():
    # 0 <- 1 <- 2, 0 <- 3 (parents): from node 3 the chain is 3, 0; from node 2 it is 2, 1, 0
    parent = [-1, 0, 1, 0]
    assert [ancestor_level(parent, 2, j) for j in (2, 1, 0)] == [0, 1, 2]
    assert [ancestor_level(parent, 3, j) for j in (3, 0, 1, 2)] == [0, 1, -1, -1]
    assert ancestor_level(parent, -1, 0) == -1  # a thread's first node has no previous node
    deep = [-1] + list(range(MAX_UP + 5))  # a chain longer than MAX_UP: the top is told by its distance
    assert ancestor_level(deep, len(deep) - 1, 0) == -1
    assert ancestor_level(deep, len(deep) - 1, len(deep) - 1 - MAX_UP) == MAX_UP


@pytest.mark.parametrize("prefix,ranks", CASES)
def test_recorded_control_dependencies_are_a_call_tree(prefix, ranks):
    levels = _levels(prefix)
    assert levels and None not in levels  # every one is an ancestor of the node before
    assert sum(lv >= 1 for lv in levels) > 0.15 * len(levels)  # siblings and returns up the tree: 25-35 %
    model = fit([str(prefix)])
    for st in (m["kind_stats"] for m in model.get("programs", {}).get("models", [model])):
        assert all(s.get("ctrl_up_fraction", 1.0) == 1.0 for s in st.values())


@pytest.mark.parametrize("prefix,ranks", CASES)
def test_samples_branch_like_the_recording(prefix, ranks, tmp_path):
    # drawn by distance alone (before 2026-12-05) the samples had 1.5-2.2x the recording's branching nodes (0.21-0.24
    # against 0.10-0.15 of the nodes with two or more dependants, 0.077-0.131 off) and no parent of many children
    # (fan-out KS 0.077-0.131); up the chain of parents, each level drawn after the kind of the node before, the
    # branching is 0.005-0.045 off and every graph KS is 0.002-0.045 (seeds 1-3)
    model = fit([str(prefix)])
    for seed in (1, 2, 3):
        sample(model, tmp_path / f"s{seed}", ranks=ranks, seed=seed)
        rep = compare(str(prefix), str(tmp_path / f"s{seed}"))
        a, b = rep["graph"]["a"], rep["graph"]["b"]
        assert abs(b["branch_fraction"] - a["branch_fraction"]) < 0.05, (a["branch_fraction"], b["branch_fraction"])
        assert b["max_fan_out"] >= 4
        assert all(v < 0.05 for v in rep["graph_ks"].values()), rep["graph_ks"]
        levels = _levels(tmp_path / f"s{seed}")
        # a tree but where the drawn one ran short of the level drawn (then placed by distance): 0.7-4.6 % of them
        assert sum(lv is None for lv in levels) < 0.05 * len(levels)


def test_the_tree_has_a_stream_of_its_own(tmp_path):
    # without the up tables (a model fitted before them) the same seed draws the same kinds, sizes and durations:
    # only the dependencies differ
    model = fit([str(DATA / "cnn_20x2")])
    flat = copy.deepcopy(model)
    for st in flat["kind_stats"].values():
        for f in ("data", "ctrl"):
            for key in ("up", "up_fraction", "up_after"):
                st.pop(f"{f}_{key}", None)
    sample(model, tmp_path / "tree", ranks=2, seed=4)
    sample(flat, tmp_path / "flat", ranks=2, seed=4)
    for r in range(2):
        a = sorted(Trace.load(tmp_path / "tree").ranks[r].nodes, key=lambda n: n.id)
        b = sorted(Trace.load(tmp_path / "flat").ranks[r].nodes, key=lambda n: n.id)
        assert [(n.name, n.duration_micros) for n in a] == [(n.name, n.duration_micros) for n in b]
        assert [list(n.ctrl_deps) for n in a] != [list(n.ctrl_deps) for n in b]


@pytest.mark.parametrize("edit,message", [
    (lambda st: st.update(ctrl_up={"64": 3}), "ctrl_up must map counts"),
    (lambda st: st.update(data_up_fraction=1.5), "data_up_fraction must be a fraction"),
    (lambda st: st.update(ctrl_up_after={"COMP:copy": {"99": 1}}), "ctrl_up_after must map kinds to tables"),
    (lambda st: st.update(ctrl_up_after=[1]), "ctrl_up_after must map kinds to tables"),
])
def test_malformed_up_tables_are_one_line(edit, message):
    model = json.loads(json.dumps(fit([str(DATA / "cnn_20x2")])))
    edit(model["kind_stats"]["COMP:view"])
    with pytest.raises(ToolError, match=message):
        check_model(model, "m.json")
