"""compare's own distances (against scipy.stats, a second implementation) and its one-pass graph walk (against
RankGraph's issue-order critical path and fit's compute path)."""

from __future__ import annotations

import networkx as nx
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.stats import ks_2samp, wasserstein_distance

from chakra_tools.common import ToolError
from chakra_tools.et import NodeType, rank_path, write_et
from chakra_tools.graph import RankGraph, Trace
from chakra_tools.schema import et_def_pb2 as pb
from chakra_tools.synth.compare import compare, graph_stats, walk_rank
from chakra_tools.synth.distances import ks_statistic, wasserstein
from chakra_tools.synth.features import compute_path_us

from .test_synth import DATA

samples = st.lists(st.integers(-50, 50).map(float) | st.floats(-1e6, 1e6, allow_nan=False, allow_infinity=False),
                   min_size=1, max_size=40)


@pytest.mark.filterwarnings("ignore::RuntimeWarning")  # scipy's p-value of tiny samples (unused) warns
@settings(max_examples=200, deadline=None)
@given(samples, samples)
def test_distances_match_scipy(x, y):
    """Ties included (the integer draws): the statistic and the area between the empirical CDFs, to the bit."""
    assert ks_statistic(x, y) == ks_2samp(x, y, method="asymp").statistic
    assert wasserstein(x, y) == wasserstein_distance(x, y)


def test_distances_by_hand():
    # CDFs of {0, 1} and {1, 2}: gap 1/2 on [0, 2), area 1/2 + 1/2
    assert ks_statistic([0, 1], [1, 2]) == 0.5
    assert wasserstein([0, 1], [1, 2]) == 1.0
    assert ks_statistic([3, 3], [3]) == 0.0 and wasserstein([3, 3], [3]) == 0.0
    with pytest.raises(ValueError):
        ks_statistic([], [1])
    nan = float("nan")  # a NaN value (a malformed double attribute): NaN, as scipy says
    assert np.isnan(ks_statistic([1, nan], [1])) and np.isnan(wasserstein([1], [nan, 2]))


def _graph(deps: list[list[int]], durations: list[int], comm: set[int] = frozenset()) -> RankGraph:
    nodes = []
    for i, (ds, d) in enumerate(zip(deps, durations)):
        n = pb.Node(id=i, name=f"n{i}", duration_micros=d,
                    type=NodeType.COMM_COLL_NODE if i in comm else NodeType.COMP_NODE)
        n.data_deps.extend(ds)
        nodes.append(n)
    return RankGraph(pb.GlobalMetadata(version="0.0.4"), nodes)


@settings(max_examples=100, deadline=None)
@given(st.data())
def test_walk_matches_issue_order_paths(data):
    """Random DAGs whose dependencies may point forward in id order (a shuffled topological order), with
    communication nodes and dangling ids: the walk's two paths equal RankGraph's and fit's."""
    n = data.draw(st.integers(1, 30))
    rank_of = data.draw(st.permutations(range(n)))  # node id -> its place in a topological order
    deps = []
    for i in range(n):
        before = [j for j in range(n) if rank_of[j] < rank_of[i]]
        ds = data.draw(st.lists(st.sampled_from(before), max_size=3, unique=True)) if before else []
        deps.append(ds + data.draw(st.lists(st.just(n + 7), max_size=1)))  # maybe a dangling id
    durations = data.draw(st.lists(st.integers(0, 100), min_size=n, max_size=n))
    comm = set(data.draw(st.lists(st.integers(0, n - 1), max_size=3)))
    g = _graph(deps, durations, comm)
    w = walk_rank(g)
    assert w.critical_us == g.critical_path_us()
    assert w.compute_us == compute_path_us(g)
    assert sum(w.fan_in) == int(w.fan_out.sum()) == len(w.distance)
    assert w.edges == sum(len(set(d)) for d in deps)


def test_walk_counts_by_hand():
    # 0 <- 1 <- 2, 0 <- 2, and a dangling 9 <- 2: fan-ins 0, 1, 2; fan-outs 2, 1, 0; distances 1, 1, 2
    w = walk_rank(_graph([[], [0], [1, 0, 9]], [5, 7, 11], comm={1}))
    assert (w.critical_us, w.compute_us) == (23, 16)
    assert w.fan_in == [0, 1, 2] and w.fan_out.tolist() == [2, 1, 0] and sorted(w.distance) == [1, 1, 2]
    assert (w.edges, w.max_fan_out, w.branches) == (4, 2, 1)


def _ordered_by_networkx(g: RankGraph) -> tuple[int, int, int]:
    """comm_ordered's figures from explicit ancestor sets (a second implementation)."""
    dag = nx.DiGraph()
    ids = sorted(g.by_id)
    dag.add_nodes_from(ids)
    dag.add_edges_from((d, n.id) for n in g.nodes for d in n.data_deps if d in g.by_id)
    comm = [i for i in ids if g.by_id[i].type == NodeType.COMM_COLL_NODE]
    between = after = before = 0
    for c, c2 in zip(comm, comm[1:]):
        for i in ids:
            if c < i < c2:
                d = g.by_id[i].duration_micros
                between += d
                after += d if c in nx.ancestors(dag, i) else 0
                before += d if c2 in nx.descendants(dag, i) else 0
    return between, after, before


@settings(max_examples=100, deadline=None)
@given(st.data())
def test_comm_ordered_matches_ancestor_sets(data):
    """Random DAGs (dependencies pointing back in id order or anywhere) with collectives at random ids: the share of the
    compute between two collectives that descends from the first / leads to the second, as networkx finds it."""
    n = data.draw(st.integers(1, 25))
    # ids in dependency order (one pass each way) or shuffled (a search per collective)
    rank_of = list(range(n)) if data.draw(st.booleans()) else data.draw(st.permutations(range(n)))
    deps = []
    for i in range(n):
        before = [j for j in range(n) if rank_of[j] < rank_of[i]]
        deps.append(data.draw(st.lists(st.sampled_from(before), max_size=3, unique=True)) if before else [])
    g = _graph(deps, data.draw(st.lists(st.integers(0, 100), min_size=n, max_size=n)),
               set(data.draw(st.lists(st.integers(0, n - 1), max_size=4))))
    w = walk_rank(g)
    assert (w.between_us, w.after_us, w.before_us) == _ordered_by_networkx(g)


def test_comm_ordered_by_hand():
    # collectives 1 and 5; between them 2 (after 1), 3 (free, but 5 waits for it), 4 (after 2): 37 us, of it
    # 10 + 7 after collective 1 and all 37 before collective 5; nodes 0 and 6 lie outside any such stretch
    g = _graph([[], [0], [1], [], [2], [4, 3], [5]], [5, 0, 10, 20, 7, 0, 3], comm={1, 5})
    w = walk_rank(g)
    assert (w.between_us, w.after_us, w.before_us) == (37, 17, 37)
    stats = graph_stats(Trace({0: g}))
    assert (stats["comm_ordered_after"], stats["comm_ordered_before"]) == (round(17 / 37, 6), 1.0)


def test_compare_refuses_a_cyclic_trace(tmp_path):
    g = _graph([[2], [0], [1]], [1, 1, 1])
    write_et(rank_path(tmp_path / "cyc", 0), g.metadata, g.nodes)
    with pytest.raises(ToolError, match="cyclic dependencies"):
        compare(tmp_path / "cyc", tmp_path / "cyc")
    assert Trace.load(tmp_path / "cyc").num_ranks == 1


def test_compare_report_keys_on_a_recorded_pair():
    r = compare(DATA / "mlp_64x1", DATA / "mlp_128x1")
    # the two recorded widths share every duration-free structure: same kinds, same graph shape
    assert r["graph_ks"] == {"fan_in": 0.0, "fan_out": 0.0, "dep_distance": 0.0}
    assert r["graph"]["a"]["compute_path_us"] == max(compute_path_us(g) for g in Trace.load(DATA / "mlp_64x1").ranks.values())
    assert 0 < r["attributes"]["duration_micros"]["ks"] < 1


def test_walk_counts_metadata_as_astra_run_does():
    """A metadata node takes no time in astra-run: the compute span leaves its duration out (the compute path,
    compare's older figure, counts every non-communication node)."""
    g = _graph([[], [0]], [5, 1])
    g.nodes[0].type = NodeType.METADATA_NODE
    w = walk_rank(g)
    assert (w.compute_us, w.span_us) == (6, 1)


def test_duplicate_node_ids_are_refused(tmp_path):
    g = _graph([[], [0], [1]], [1, 2, 3])
    g.nodes[2].id = 1
    write_et(rank_path(tmp_path / "dup", 0), g.metadata, g.nodes)
    with pytest.raises(ToolError, match="node id 1 appears more than once"):
        compare(tmp_path / "dup", tmp_path / "dup")
