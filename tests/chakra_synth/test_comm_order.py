"""Sampled collectives are issued in node order on every rank: a simulator pairs a group's collectives by issue
order and runs one collective or send per rank at a time, so a collective that overtakes an earlier comm node pairs
wrong or deadlocks (order_collectives)."""

from __future__ import annotations

from pathlib import Path

from astrasim_py import simulate
from chakra_tools.cli_convert import main as convert_main
from chakra_tools.synth.dependencies import order_collectives
from chakra_tools.synth.fit import fit
from chakra_tools.synth.sample import sample

from ..cli_run import run_main

ROOT = Path(__file__).resolve().parents[2]
CONFIGS = ROOT / "examples" / "configs" / "chakra-synth"


def test_a_collective_waits_for_the_comm_node_before_it():
    kinds = ["COMP:a", "COLL:ALL_REDUCE", "COMP:b", "SEND", "COMP:c", "COLL:BARRIER", "COLL:ALL_REDUCE@g2s1",
             "COLL:ALL_REDUCE"]
    data = [[], [0], [0], [2], [0], [4], [5], [6]]
    ctrl = [[] for _ in kinds]
    # the barrier (5) does not reach the send (3): it gains it; the sub-group all-reduce (6) reaches the barrier
    # through its dependency, the last all-reduce (7) the sub-group one
    assert order_collectives(kinds, data, ctrl) == 1
    assert data == [[], [0], [0], [2], [0], [3, 4], [5], [6]]
    assert order_collectives(kinds, data, ctrl) == 0  # already ordered: unchanged
    # the first collective waits for nothing new; a ctrl dependency counts as a path
    kinds, data, ctrl = ["COLL:ALL_REDUCE", "COMP:a", "COLL:ALL_GATHER"], [[], [0], []], [[], [], [1]]
    assert order_collectives(kinds, data, ctrl) == 0 and data[2] == []


def test_samples_of_the_gloo_step_simulate(tmp_path, capsys):
    """The recorded gloo step (two ranks that differ: a send/recv ping-pong, a barrier, a worker thread): before,
    12 of 20 samples could not be simulated, a barrier issued before the send the peer's barrier waited for, or an
    all-reduce paired with a barrier."""
    data = ROOT / "tests" / "data"
    code, _, err = run_main(convert_main, capsys, "pytorch", str(data / "gloo.rank0.et.json"),
                            str(data / "gloo.rank1.et.json"), "--kineto", str(data / "gloo.rank0.kineto.json"),
                            "--kineto", str(data / "gloo.rank1.kineto.json"), "-o", str(tmp_path / "gloo"), "-q")
    assert code == 0, err
    model = fit([str(tmp_path / "gloo")])
    for seed in range(1, 21):
        sample(model, tmp_path / f"s{seed}", ranks=2, seed=seed)
        res = simulate(str(tmp_path / f"s{seed}"), str(CONFIGS / "system.json"), str(CONFIGS / "network.yml"))
        assert res.sim_time_ns > 0
