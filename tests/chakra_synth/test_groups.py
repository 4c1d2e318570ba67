"""Process-group roles (chakra_tools/synth/groups.py): closed forms, a grid property, and the recorded tensor x
data-parallel steps of tests/data/tpdp (fit at 4 ranks, sample at 4 and at 8, against the 8-rank recording)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from chakra_tools.common import ToolError
from chakra_tools.graph import Trace
from chakra_tools.synth import compare, fit, sample
from chakra_tools.synth.compare import collective_groups
from chakra_tools.synth.groups import layout, parse_role, role_groups, role_of, trace_roles
from chakra_tools.validate import check_trace, errors

TPDP = Path(__file__).resolve().parents[1] / "data" / "tpdp"
CONFIGS = Path(__file__).resolve().parents[2] / "examples" / "configs" / "chakra-synth" / "tpdp"


@pytest.mark.parametrize("members,world,role", [
    ([0, 1, 2, 3], 4, ""),      # the world
    ([0, 1], 4, "g2s1"),        # tensor-parallel pairs of TP 2 x DP 2 (Megatron's TP-inner layout)
    ([2, 3], 4, "g2s1"),
    ([0, 2], 4, "s2"),          # its data-parallel groups: every 2nd rank, to the end of the world
    ([3, 1], 4, "s2"),
    ([0, 2, 4, 6], 8, "s2"),    # the same role at 8 ranks (TP 2 x DP 4)
    ([4, 5, 6, 7], 8, "g4s1"),
    ([1, 5], 8, "s4"),          # pipeline stages of TP 2 x DP 2 x PP 2
    ([5, 7], 8, "g2s2"),        # DP of TP 2 x DP 2 x PP 2: stride 2 inside blocks of 4
    ([1, 2], 4, "g2s1"),        # not aligned to a grid: contiguous blocks of its size
    ([0, 1, 3], 4, "g3s1"),     # not evenly spaced: the same fallback
    ([3], 4, "g1s1"),
])
def test_role_of_a_group(members, world, role):
    assert role_of(members, world) == role


@pytest.mark.parametrize("role,ranks,groups", [
    ("g2s1", 8, [[0, 1], [2, 3], [4, 5], [6, 7]]),
    ("s2", 8, [[0, 2, 4, 6], [1, 3, 5, 7]]),
    ("s2", 6, [[0, 2, 4], [1, 3, 5]]),
    ("g2s2", 8, [[0, 2], [1, 3], [4, 6], [5, 7]]),
    ("s4", 8, [[0, 4], [1, 5], [2, 6], [3, 7]]),
    ("s2", 2, [[0], [1]]),  # data parallelism of 1
])
def test_groups_of_a_role(role, ranks, groups):
    assert role_groups(role, ranks) == groups


def test_layout_names_groups_role_by_role_and_leaves_the_world_unnamed():
    groups, of_rank = layout(["s2", "g2s1", "s2"], 4)
    assert groups == {"1": [0, 1], "2": [2, 3], "3": [0, 2], "4": [1, 3]}
    assert of_rank == {"g2s1": ["1", "1", "2", "2"], "s2": ["3", "4", "3", "4"]}
    groups, of_rank = layout(["g2s1"], 2)  # pairs in a 2-rank world are the world: no pg_name, no sidecar
    assert groups == {} and of_rank == {"g2s1": ["", ""]}


@pytest.mark.parametrize("role,ranks,message", [
    ("g2s1", 5, "--ranks 5: the model's collectives run on groups of 2 ranks 1 apart, which needs a multiple of 2"),
    ("g2s2", 6, "needs a multiple of 4 ranks"),
    ("s2", 3, "groups of ranks 2 apart across the world, which needs a multiple of 2 ranks"),
])
def test_a_world_that_cannot_hold_a_role_is_a_one_line_error(role, ranks, message):
    with pytest.raises(ToolError, match=message):
        role_groups(role, ranks)


@pytest.mark.parametrize("role", ["g0s1", "gs1", "s0", "tp", "g2s1x", ""])
def test_malformed_roles_are_refused(role):
    with pytest.raises(ToolError, match="is not g<size>s<stride> or s<stride>"):
        parse_role(role)


@settings(max_examples=200, deadline=None)
@given(dims=st.lists(st.integers(1, 4), min_size=1, max_size=4), grow=st.integers(1, 3))
def test_every_line_of_a_grid_keeps_its_role_when_the_outer_dimension_grows(dims, grow):
    # ranks on a grid (dimension 0 innermost); each process group is one line along one dimension. Its role's
    # groups at the same world are exactly that dimension's lines; with the outermost dimension `grow` x larger,
    # the inner dimensions' lines are the same lists and the outermost one's lines are `grow` x longer.
    world = int(np.prod(dims))
    strides = [int(np.prod(dims[:i])) for i in range(len(dims))]
    outer = max((i for i, s in enumerate(dims) if s > 1), default=0)  # size-1 dimensions change nothing
    for d, (size, stride) in enumerate(zip(dims, strides)):
        if size < 2 or size == world:
            continue
        lines = sorted({tuple(sorted(base - base // stride % size * stride + k * stride for k in range(size)))
                        for base in range(world)})
        role = role_of(lines[0], world)
        assert all(role_of(line, world) == role for line in lines)
        assert sorted(map(tuple, role_groups(role, world))) == lines
        bigger = world * grow
        groups = role_groups(role, bigger)
        assert sorted(r for g in groups for r in g) == list(range(bigger))  # a partition of the world
        if d < outer:
            assert groups[:len(lines)] == [list(line) for line in lines]
        else:
            assert all(len(g) == size * grow for g in groups)


@pytest.fixture(scope="module")
def tpdp_model() -> dict:
    return fit([TPDP / "tp2dp2"])


def _groups_by_role(prefix) -> dict[str, list[list[int]]]:
    return {role: v["groups"] for role, v in collective_groups(Trace.load(prefix)).items()}


def test_recorded_tensor_by_data_parallel_step_has_the_megatron_roles():
    t = Trace.load(TPDP / "tp2dp2")
    assert trace_roles(t.comm_groups, 4) == {"0": "", "1": "g2s1", "2": "g2s1", "3": "s2", "4": "s2"}
    # tests/data/tpdp/record.py: per block one TP all-reduce forward and one backward (2 blocks); one DP
    # all-reduce per gradient (12 parameters); activations are 8 x 16 tokens x 64 fp32 = 32768 B
    got = collective_groups(t)
    assert got["g2s1"]["collectives_per_rank"] == 4 and set(got["g2s1"]["sizes"]) == {32768.0}
    assert got["s2"]["collectives_per_rank"] == 12 and got["s2"]["groups"] == [[0, 2], [1, 3]]


def test_fit_learns_each_role_and_sample_keeps_it_at_4_and_8_ranks(tpdp_model, tmp_path):
    assert {"COLL:ALL_REDUCE@g2s1", "COLL:ALL_REDUCE@s2"} <= set(tpdp_model["kinds"])
    assert "COLL:ALL_REDUCE" not in tpdp_model["kinds"]  # no collective of this step runs on the world
    # the TP all-reduces are all activation-sized: their own size table, not pooled with the gradients'
    assert set(tpdp_model["kind_stats"]["COLL:ALL_REDUCE@g2s1"]["comm_size"]) == {32768.0}
    for ranks, recorded in ((4, "tp2dp2"), (8, "tp2dp4")):
        prefix = tmp_path / f"s{ranks}"
        sample(tpdp_model, prefix, ranks=ranks, seed=1)
        t = Trace.load(prefix)
        assert not errors(check_trace(t))
        # the groups every role's collectives run on are the recording's, also at 8 ranks, which the model never
        # saw: TP stays pairs {0,1}, {2,3}, ...; DP grows to {0,2,4,6}, {1,3,5,7}
        assert _groups_by_role(prefix) == _groups_by_role(TPDP / recorded)
        report = compare(TPDP / recorded, prefix)
        assert report["groups"]["g2s1"]["comm_size_ks"] == 0.0
        assert report["groups"]["s2"]["comm_size_ks"] < 0.2
        colls = {role: v["b"]["collectives_per_rank"] for role, v in report["groups"].items()}
        assert 3 <= colls["g2s1"] <= 5 and 10 <= colls["s2"] <= 14  # recorded: 4 and 12
    names = json.loads((tmp_path / "s8.comm_groups.json").read_text())
    assert names == {"1": [0, 1], "2": [2, 3], "3": [4, 5], "4": [6, 7], "5": [0, 2, 4, 6], "6": [1, 3, 5, 7]}


def test_a_world_the_roles_do_not_fit_writes_nothing(tpdp_model, tmp_path):
    with pytest.raises(ToolError, match="--ranks 3: .* groups of 2 ranks 1 apart, which needs a multiple of 2"):
        sample(tpdp_model, tmp_path / "s", ranks=3, seed=1)
    assert not list(tmp_path.iterdir())


def test_two_ranks_of_a_tp_by_dp_model_are_one_tp_pair_without_data_parallelism(tpdp_model, tmp_path):
    # TP 2 x DP 1: the TP pair is the world (no pg_name), each DP group is one rank
    sample(tpdp_model, tmp_path / "s", ranks=2, seed=1)
    t = Trace.load(tmp_path / "s")
    assert not errors(check_trace(t))
    assert json.loads((tmp_path / "s.comm_groups.json").read_text()) == {"1": [0], "2": [1]}
    got = collective_groups(t)  # read back, a group of one rank is just that (g1s1)
    assert got["world"]["groups"] == [[0, 1]] and got["g1s1"]["groups"] == [[0], [1]]
    assert got["world"]["collectives_per_rank"] >= 3 and got["g1s1"]["collectives_per_rank"] >= 10


def test_sampled_step_simulates_on_a_two_dimensional_network(tpdp_model, tmp_path):
    pytest.importorskip("astrasim_py")
    sample(tpdp_model, tmp_path / "s", ranks=4, seed=1)
    report = compare(TPDP / "tp2dp2", tmp_path / "s", str(CONFIGS / "system.json"), str(CONFIGS / "network_2x2.yml"))
    assert report["sim_time_ns_a"] > 0 and report["sim_time_ns_b"] > 0
    assert 0.8 < report["sim_time_ratio"] < 1.2


def test_fit_names_the_roles_it_found(tmp_path):
    from click.testing import CliRunner

    from chakra_tools.synth.cli import cli

    res = CliRunner().invoke(cli, ["fit", str(TPDP / "tp2dp2"), "-o", str(tmp_path / "m.json")])
    assert res.exit_code == 0 and "collectives on process-group roles g2s1, s2" in res.output
