"""Cross-rank speed: fit learns how much whole ranks differ (`cross_rank.rank_log_sd`), sample gives its ranks
that spread (rank_speeds), so a synchronised step waits for a straggler as in the recorded traces."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from chakra_tools.common import ToolError
from chakra_tools.graph import Trace
from chakra_tools.synth import compare, fit, sample
from chakra_tools.synth.features import compute_path_us
from chakra_tools.synth.model_check import check_model
from chakra_tools.synth.timing import rank_speeds, stretch_scores

from .test_synth import DATA

# Blom's score of the larger of two normal draws, worked by hand: Phi^-1((2 - 3/8) / (2 + 1/4)) = Phi^-1(0.7222)
# = 0.5895 (the exact expected maximum of two standard normals is 1/sqrt(pi) = 0.5642)
BLOM_2 = 0.5895
SKEWED = DATA / "cnn_20x2"  # a recorded 2-rank step whose ranks ran 3.7 % apart all along


def _paths(prefix) -> list[int]:
    return [compute_path_us(g) for _, g in sorted(Trace.load(prefix).ranks.items())]


def test_rank_spread_is_learned_and_drawn(tmp_path):
    p0, p1 = _paths(SKEWED)
    model = fit([SKEWED])
    # two ranks: deviations +-log(p1/p0)/2 from their mean, one degree of freedom
    sd = abs(math.log(p1 / p0)) / math.sqrt(2)
    assert model["cross_rank"]["rank_log_sd"] == pytest.approx(sd, abs=1e-4)
    sample(model, tmp_path / "s", ranks=2, seed=1)
    b = _paths(tmp_path / "s")
    # the slower synthetic rank is exp(2 x 0.5895 x sd) the faster one's (integer durations aside), and the two
    # paths' geometric mean stays the calibrated step time
    assert max(b) / min(b) == pytest.approx(math.exp(2 * BLOM_2 * sd), rel=0.003)
    n = model["nodes_per_rank"][2]
    assert math.sqrt(b[0] * b[1]) == pytest.approx(round(n) * model["compute_us_per_node"], rel=0.003)
    report = compare(SKEWED, tmp_path / "s")
    assert report["graph"]["a"]["compute_path_spread"] == pytest.approx(max(p0, p1) / min(p0, p1), abs=1e-6)
    assert report["graph"]["b"]["compute_path_spread"] == pytest.approx(max(b) / min(b), abs=1e-6)


def test_one_rank_traces_have_no_rank_spread(tmp_path):
    from chakra_tools.et import rank_path, read_et, write_et

    meta, nodes = read_et(rank_path(SKEWED, 0, gz=True))
    write_et(rank_path(tmp_path / "one", 0), meta, nodes)
    model = fit([tmp_path / "one"])
    assert model["cross_rank"]["rank_log_sd"] == 0.0
    assert rank_speeds(model, 8, 0).tolist() == [1.0] * 8


@settings(max_examples=60, deadline=None)
@given(ranks=st.integers(1, 3000), seed=st.integers(0, 2 ** 32 - 1), sd=st.floats(0.001, 0.5))
def test_rank_speeds_are_blom_scores_with_geometric_mean_one(ranks, seed, sd):
    from scipy.stats import norm

    model = {"cross_rank": {"rank_log_sd": sd}}
    s = rank_speeds(model, ranks, seed)
    assert s.shape == (ranks,)
    logs = np.log(s)
    assert abs(logs.sum()) < 1e-9 * ranks
    blom = norm.ppf((np.arange(1, ranks + 1) - 0.375) / (ranks + 0.25))
    assert np.allclose(np.sort(logs), sd * blom)
    assert np.array_equal(s, rank_speeds(model, ranks, seed))  # seeded


def test_malformed_rank_spread_is_one_line():
    model = json.loads((DATA.parents[2] / "examples" / "configs" / "chakra-synth" / "mlp.model.json").read_text())
    model["cross_rank"]["rank_log_sd"] = 5.0
    check_model(model)
    for bad in (5.01, -0.1, "x", None):
        model["cross_rank"]["rank_log_sd"] = bad
        with pytest.raises(ToolError, match="cross_rank.rank_log_sd"):
            check_model(model)


def test_fit_warns_when_ranks_run_different_programs(tmp_path):
    import subprocess
    import sys
    from pathlib import Path

    from chakra_tools.et import rank_path, read_et, write_et
    from chakra_tools.schema import et_def_pb2 as pb

    from .test_synth import _write_programmatic
    _write_programmatic(tmp_path / "t", ranks=2, subgroup=False, p2p=False)
    exe = Path(sys.executable).with_name("chakra-synth")
    res = subprocess.run([str(exe), "fit", str(tmp_path / "t"), "-o", str(tmp_path / "same.json")],
                         capture_output=True, text=True)
    assert res.returncode == 0 and "warning" not in res.stderr
    # rank 1 runs one more op (a pipeline stage's program differs in whole sections; one node is enough)
    meta, nodes = read_et(rank_path(tmp_path / "t", 1))
    extra = pb.Node(id=len(nodes), name="aten::relu", type=pb.COMP_NODE, duration_micros=5)
    extra.data_deps.append(len(nodes) - 1)
    write_et(rank_path(tmp_path / "t", 1), meta, [*nodes, extra])
    # the ranks communicate alike, so they stay one program (programs.py keeps programs that communicate
    # differently, pipeline stages: test_programs.py); fit says that they differ
    res = subprocess.run([str(exe), "fit", str(tmp_path / "t"), "-o", str(tmp_path / "diff.json")],
                         capture_output=True, text=True)
    assert res.returncode == 0, res.stderr
    warnings = [line for line in res.stderr.splitlines() if line.startswith("warning:")]
    assert len(warnings) == 1 and "100% of the ranks after each trace's rank 0" in warnings[0], res.stderr
    assert "SPMD" in warnings[0]
    assert json.loads((tmp_path / "diff.json").read_text())["cross_rank"]["identical_kind_sequences"] == 0


def _stretch_trace(tmp_path, name, times):
    """Ranks of one program: three stretches of 50 equal compute nodes, split by two all-reduces; `times[r][s]` is
    the µs of each node of rank r's stretch s."""
    from chakra_tools.et import CommType, GlobalMetadata, Node, NodeType, make_attr, rank_path, write_et

    for r, per in enumerate(times):
        nodes, nid = [], 0
        for s, us in enumerate(per):
            if s:
                c = Node(id=nid, name="c10d::allreduce_", type=NodeType.COMM_COLL_NODE, data_deps=[nid - 1])
                c.attr.extend([make_attr("comm_type", int(CommType.ALL_REDUCE)), make_attr("comm_size", 4096),
                               make_attr("is_cpu_op", False)])
                nodes.append(c)
                nid += 1
            for _ in range(50):
                n = Node(id=nid, name="aten::mul", type=NodeType.COMP_NODE, duration_micros=us,
                         data_deps=[nid - 1] if nid else [])
                n.attr.append(make_attr("is_cpu_op", True))
                nodes.append(n)
                nid += 1
        write_et(rank_path(tmp_path / name, r), GlobalMetadata(version="0.0.4"), nodes)
    return tmp_path / name


def test_stretch_spread_is_what_the_ranks_speeds_leave(tmp_path):
    """Worked by hand: node times [[100, 122, 100], [122, 100, 100]] µs, a = ln 1.22 = 0.19885. The two-way
    residuals are ±a/2 in the first two stretches and 0 in the third; the stretches weigh 111, 111 and 100 of 322;
    so the variance is 2 x (111/322) x (a²/2) x S/((R-1)(S-1)) = 0.51708 a² = 0.020446. Per-node noise: node log
    ratios ±0.197 in two stretches of three, std 0.1609, one rank's share ÷ √2 = 0.1138, explains 0.1138²/50 of a
    50-node stretch: 0.020187 left, sd 0.1421. A rank slower by one factor everywhere leaves nothing (that is
    rank_log_sd's)."""
    a = 0.2
    slow = round(100 * math.exp(a))
    swapped = fit([_stretch_trace(tmp_path, "swap", [[100, slow, 100], [slow, 100, 100]])])
    L = np.log([[100, slow, 100], [slow, 100, 100]])
    res = L - L.mean(0) - L.mean(1, keepdims=True) + L.mean()
    T = np.exp(L)
    w = T.mean(0) / T.mean(0).sum()
    var = float((w * (res**2).sum(0)).sum()) * 3 / 2
    node = swapped["cross_rank"]["duration_log_sd"]
    want = math.sqrt(var - node**2 / 50)
    assert swapped["cross_rank"]["segment_log_sd"] == pytest.approx(want, abs=1e-4)
    assert swapped["cross_rank"]["segment_log_sd"] == pytest.approx(0.1421, abs=3e-4)
    uniform = fit([_stretch_trace(tmp_path, "uni", [[100, 100, 100], [slow, slow, slow]])])
    assert uniform["cross_rank"]["segment_log_sd"] == 0.0 and uniform["cross_rank"]["rank_log_sd"] > 0.1


def _stretch_times(prefix) -> np.ndarray:
    """Per rank (row) the µs of its nodes in each stretch between collectives (column), in id order."""
    rows = []
    for _, g in sorted(Trace.load(prefix).ranks.items()):
        row, acc = [], 0
        for n in sorted(g.nodes, key=lambda n: n.id):
            if n.type == 7:  # COMM_COLL_NODE
                row.append(acc)
                acc = 0
            else:
                acc += n.duration_micros
        rows.append([*row, acc])
    return np.array(rows, dtype=float)


def test_stretch_speeds_move_time_between_stretches_not_a_ranks_total(tmp_path):
    model = fit([_stretch_trace(tmp_path, "swap", [[100, 122, 100], [122, 100, 100]])])
    sample(model, tmp_path / "with", ranks=8, seed=3)
    flat = json.loads(json.dumps(model))
    flat["cross_rank"]["segment_log_sd"] = 0.0
    sample(flat, tmp_path / "without", ranks=8, seed=3)
    with_, without = _paths(tmp_path / "with"), _paths(tmp_path / "without")
    assert with_ == pytest.approx(without, rel=0.005)  # each rank still calibrated to its compute path
    # ...but the ranks now differ stretch by stretch, so a step synchronised at each all-reduce waits longer
    per_stretch = [_stretch_times(tmp_path / "with"), _stretch_times(tmp_path / "without")]
    waits = [float(x.max(axis=0).sum() - x.sum(axis=1).max()) for x in per_stretch]
    assert waits[0] > waits[1] + 0.01 * per_stretch[0].sum(axis=1).max()


@settings(max_examples=40, deadline=None)
@given(st.integers(1, 40), st.integers(1, 30), st.integers(0, 2**31))
def test_stretch_scores_give_every_stretch_the_normal_order_statistics(ranks, stretches, seed):
    scores = stretch_scores(ranks, stretches, seed)
    if ranks == 1:  # nothing to stratify across: the rank draws its stretches at random
        assert scores is None
        return
    assert scores.shape == (stretches, ranks)
    blom = np.sort(scores[0])
    assert np.allclose(np.sort(scores, axis=1), blom)  # every stretch: the same set of scores, permuted
    assert blom.sum() == pytest.approx(0.0, abs=1e-9)
    if ranks == 2:
        assert blom[1] == pytest.approx(BLOM_2, abs=1e-4)
    assert np.array_equal(scores, stretch_scores(ranks, stretches, seed))  # seeded


def test_each_stretch_spreads_its_ranks_by_the_blom_scores(tmp_path):
    """With only the stretch noise left (no per-node or per-rank noise, no calibration), a stretch's time on rank r
    is the program's stretch time x exp(segment_log_sd x z): across 8 ranks each stretch's log times, centred,
    are segment_log_sd x the 8 Blom scores (independent draws per rank would give every stretch another spread)."""
    model = fit([_stretch_trace(tmp_path, "swap", [[100, 122, 100], [122, 100, 100]])])
    sd = 0.1
    model["cross_rank"].update(duration_log_sd=0.0, rank_log_sd=0.0, segment_log_sd=sd)
    model.pop("compute_us_per_node")
    sample(model, tmp_path / "s", ranks=8, seed=5)
    x = _stretch_times(tmp_path / "s").T  # stretch x rank
    x = x[x.min(axis=1) > 500]  # stretches of a few nodes only: the rounding of their µs is a large share
    assert len(x) >= 2
    # (each node's µs is rounded: 100 x exp(-0.143) = 86.6 -> 87 moves a stretch of equal nodes by up to 0.006)
    logs = np.log(x)
    centred = np.sort(logs - logs.mean(axis=1, keepdims=True), axis=1)
    blom = np.sort(stretch_scores(8, 1, 0)[0])
    assert np.allclose(centred, sd * blom, atol=0.007)


@settings(max_examples=50, deadline=None)
@given(st.lists(st.floats(-5, 5), min_size=2, max_size=40), st.floats(0, 4))
def test_shrink_leaves_the_spread_the_noise_restores(logs, noise_var):
    from chakra_tools.synth.sample import _shrink

    x = np.array(logs)
    y = _shrink(x, noise_var)
    assert y.mean() == pytest.approx(x.mean(), abs=1e-9)
    # a spread the noise does not fill is left spread minus the noise's; a smaller one collapses to its mean
    assert y.var() == pytest.approx(max(x.var() - noise_var, 0.0) if noise_var > 0 else x.var(), abs=1e-9)
    assert np.all(np.diff(y[np.argsort(x, kind="stable")]) >= -1e-12)  # order kept


def test_noisy_ranks_keep_the_recorded_duration_spread(tmp_path):
    """tests/data/tpdp/tp2dp2 ran 4 processes on 2 cores: same op, other rank, log-sd 0.38 per node, 0.25 per stretch.
    The kind tables pool all ranks, so they hold that noise already; drawn from them and multiplied by it again, the
    durations' log spread came out ~1.4x the recording's (in-sample KS 0.139 / 0.105 at seeds 1 / 2). Judged over
    seeds 1-3, as one seed's KS moves by +-0.03 with the draws: with the shrink KS 0.086 / 0.039 / 0.050 (mean 0.059)
    and wasserstein_log10 mean 0.028; the same code without it 0.055 / 0.108 / 0.087 (0.084) and 0.047."""
    prefix = Path(__file__).resolve().parents[1] / "data" / "tpdp" / "tp2dp2"
    model = fit([prefix])
    assert model["cross_rank"]["duration_log_sd"] > 0.3
    ks, w = [], []
    for seed in (1, 2, 3):
        sample(model, tmp_path / f"s{seed}", ranks=4, seed=seed)
        att = compare(prefix, tmp_path / f"s{seed}")["attributes"]["duration_micros"]
        ks.append(att["ks"])
        w.append(att["wasserstein_log10"])
    assert max(ks) < 0.1  # the bound, every seed
    assert np.mean(ks) < 0.07 and np.mean(w) < 0.035


def test_only_the_noise_a_sample_adds_back_is_taken_out(tmp_path):
    """The shrink takes out of each kind's drawn durations the noise rank_durations adds back: at one rank there is
    no rank speed to add, so a model's rank spread must not narrow a 1-rank sample's durations (it did: the same
    files with and without the spread prove it gone)."""
    model = fit([SKEWED])
    model["cross_rank"]["duration_log_sd"] = model["cross_rank"]["segment_log_sd"] = 0.0
    files = {}
    for sd in (0.0, 0.3):
        model["cross_rank"]["rank_log_sd"] = sd
        sample(model, tmp_path / f"r{sd}", ranks=1, seed=1)
        files[sd] = (tmp_path / f"r{sd}.0.et").read_bytes()
        sample(model, tmp_path / f"two{sd}", ranks=2, seed=1)
    assert files[0.0] == files[0.3]
    assert (tmp_path / "two0.0.0.et").read_bytes() != (tmp_path / "two0.3.0.et").read_bytes()  # 2 ranks: it acts


def test_compute_knobs_leave_communication_durations(tmp_path):
    """--scale-compute and the ranks' speeds multiply compute durations only (a comm node's duration, which
    simulators replace by the network's time, keeps its drawn value on every rank and at every scale)."""
    from chakra_tools.et import NodeType
    comm_types = (NodeType.COMM_COLL_NODE, NodeType.COMM_SEND_NODE, NodeType.COMM_RECV_NODE)
    model = fit([SKEWED])
    assert model["cross_rank"]["rank_log_sd"] > 0
    comm, work = {}, {}
    for scale in (1.0, 3.0):
        sample(model, tmp_path / f"s{scale}", ranks=2, seed=1, scale_compute=scale)
        t = Trace.load(tmp_path / f"s{scale}")
        comm[scale] = [[n.duration_micros for n in sorted(g.nodes, key=lambda n: n.id) if n.type in comm_types]
                       for _, g in sorted(t.ranks.items())]
        work[scale] = sum(n.duration_micros for n in t.ranks[0].nodes if n.type not in comm_types)
    assert comm[1.0][0] and comm[1.0] == comm[3.0]
    assert work[3.0] == pytest.approx(3 * work[1.0], rel=0.01)
