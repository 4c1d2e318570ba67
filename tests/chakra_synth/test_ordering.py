"""Size and duration order by position (ordering.py): by hand, as properties, and end to end on a comm-heavy
ASTRA-sim text workload whose step time depends on which all-reduce comes last."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from chakra_tools.convert.text import convert_text
from chakra_tools.et import rank_path, write_et
from chakra_tools.synth import compare, fit, sample
from chakra_tools.synth.ordering import BINS, in_order, position_pairs, profile, rank_quantiles

ROOT = Path(__file__).resolve().parents[2]


def test_rank_quantiles_share_ties():
    assert rank_quantiles([5, 1, 5, 3]).tolist() == [0.75, 0.125, 0.75, 0.375]


def test_a_recorded_order_comes_back():
    # a backward pass's all-reduces, last layer first: sizes 1, 8, 2, 32, 4, 64 MiB in node order
    rec = [1, 8, 2, 32, 4, 64]
    prof = profile(position_pairs(rec))
    assert len(prof) == BINS
    drawn = np.array([64.0, 2, 1, 32, 8, 4])  # the same sizes in a drawn order
    assert in_order(drawn, prof).tolist() == rec


def test_no_order_no_change():
    assert profile(position_pairs([3, 3, 3])) is None  # equal values say nothing
    drawn = np.array([4.0, 1, 3, 2])
    flat = [0.5] * BINS
    assert in_order(drawn, flat).tolist() == drawn.tolist()  # ties keep the drawn order
    assert in_order(drawn, None) is drawn


@settings(max_examples=150, deadline=None)
@given(st.lists(st.integers(0, 9), min_size=0, max_size=40), st.lists(st.floats(0, 1), min_size=BINS, max_size=BINS))
def test_only_the_order_changes(values, prof):
    v = np.array(values, dtype=float)
    out = in_order(v, prof)
    assert sorted(out.tolist()) == sorted(v.tolist())
    # where the profile rises, so do the values it hands out (non-decreasing along the sorted targets)
    if v.size > 1:
        bins = np.minimum(((np.arange(v.size) + 0.5) / v.size * BINS).astype(int), BINS - 1)
        t = np.asarray(prof)[bins]
        order = np.argsort(t, kind="stable")
        assert all(out[order[i]] <= out[order[j]] for i in range(v.size) for j in range(v.size) if t[order[i]] < t[order[j]])


def test_comm_heavy_data_parallel_step_simulates_like_the_recording(tmp_path):
    """A DATA-parallel text workload with 1-64 MiB all-reduces (34 % of its simulated step waits for them): drawn in
    random order, a sample simulated at 0.85-1.11 of it (seeds 1-8), as the 64 MiB one came early or last and the
    long backward ops before or after it; in the recorded order, within 1 %."""
    for r, (meta, nodes) in enumerate(convert_text(ROOT / "tests" / "data" / "data_parallel_64mib.txt", npus=16)):
        write_et(rank_path(tmp_path / "dp", r), meta, nodes)
    model = fit([str(tmp_path / "dp")])
    assert model["kind_stats"]["COLL:ALL_REDUCE"]["comm_size_order"][-1] > 0.9  # the 64 MiB one comes last
    system = ROOT / "examples" / "configs" / "astra-run" / "ring_2d.json"
    network = ROOT / "examples" / "configs" / "astra-run" / "torus2d_4x4.yml"
    for seed in (1, 2, 3):
        sample(model, tmp_path / f"s{seed}", ranks=16, seed=seed)
        r = compare(tmp_path / "dp", tmp_path / f"s{seed}", str(system), str(network))
        assert r["sim_idle_share_a"] > 0.3
        assert abs(r["sim_time_ratio"] - 1) < 0.01, (seed, r["sim_time_ratio"])


@pytest.mark.parametrize("bad", [[1.5], [], ["x"], {"a": 1}])
def test_malformed_order_profiles_are_refused(bad):
    from chakra_tools.common import ToolError
    from chakra_tools.synth.model_check import check_model

    model = fit([str(ROOT / "tests" / "data" / "synth" / "mlp_64x1")])
    model["kind_stats"]["COLL:ALL_REDUCE"]["comm_size_order"] = bad
    with pytest.raises(ToolError, match="comm_size_order"):
        check_model(model)


def test_large_fan_ins_come_where_the_recording_has_them(tmp_path):
    """A kind whose nodes wait for one node early in the step and for six at its end (an optimizer op waiting for
    every gradient): the non-zero fan-ins are handed out in the recorded order (`data_fanin_order`), so the late
    nodes get the large ones; without the profile the early half gets some."""
    from chakra_tools.et import GlobalMetadata, Node, NodeType, make_attr, read_et

    nodes = []
    for i in range(1, 121):
        deps = [i - 1] if i > 1 else []
        if i > 60 and i % 2 == 0:  # the kind's late nodes wait for the last six nodes
            deps = list(range(max(1, i - 6), i))
        n = Node(id=i, name="aten::add" if i % 2 == 0 else "aten::relu", type=NodeType.COMP_NODE,
                 duration_micros=10, data_deps=deps)
        n.attr.append(make_attr("is_cpu_op", True))
        nodes.append(n)
    write_et(rank_path(tmp_path / "t", 0), GlobalMetadata(version="0.0.4"), nodes)
    model = fit([str(tmp_path / "t")])
    order = model["kind_stats"]["COMP:elementwise"]["data_fanin_order"]
    assert order[0] < 0.3 < 0.7 < order[-1]
    for seed in (1, 2, 3):
        sample(model, tmp_path / f"s{seed}", ranks=1, seed=seed)
        _, out = read_et(rank_path(tmp_path / f"s{seed}", 0))
        fan = [len(n.data_deps) for n in out if n.name == "COMP:elementwise"]
        half = len(fan) // 2
        # (a late node waits for 2-5 distinct nodes, not 6: its levels up the chain of parents are drawn apart and
        # two draws of one level are one dependency)
        assert max(fan[:half]) == 1 and min(fan[half:]) >= 2 and np.mean(fan[half:]) >= 3, fan
    del model["kind_stats"]["COMP:elementwise"]["data_fanin_order"]
    sample(model, tmp_path / "r", ranks=1, seed=1)
    _, out = read_et(rank_path(tmp_path / "r", 0))
    fan = [len(n.data_deps) for n in out if n.name == "COMP:elementwise"]
    assert max(fan[:len(fan) // 2]) >= 3  # without the profile the early half gets large ones too
