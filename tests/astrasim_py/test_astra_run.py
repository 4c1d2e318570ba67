"""astra-run against ASTRA-sim's binary (reference/astrasim.md §9–10) and hand-worked cases."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from astrasim_py import simulate
from astrasim_py.collectives.phase import phase_ns
from astrasim_py.collectives.schedule import GroupShape, collective_ns
from astrasim_py.config.network import NetworkConfig
from astrasim_py.config.system import SystemConfig
from chakra_tools.common import ToolError
from chakra_tools.et import GlobalMetadata, Node, NodeType, make_attr, write_et

CFG = Path(__file__).resolve().parents[2] / "examples" / "configs" / "astra-run"
BIN = Path(sys.executable).parent
MiB = 1 << 20


def coll(i, ct, size, deps=(), **extra):
    n = Node(id=i, name=f"coll{i}", type=NodeType.COMM_COLL_NODE, data_deps=list(deps))
    n.attr.extend([make_attr("comm_type", ct), make_attr("comm_size", size), make_attr("is_cpu_op", False)])
    for k, v in extra.items():
        n.attr.append(make_attr(k, v))
    return n


def comp(i, deps=(), dur=0, ops=None, ts=None):
    n = Node(id=i, name=f"comp{i}", type=NodeType.COMP_NODE, data_deps=list(deps), duration_micros=dur)
    n.attr.append(make_attr("is_cpu_op", False))
    if ops is not None:
        n.attr.extend([make_attr("num_ops", int(ops)), make_attr("tensor_size", int(ts))])
    return n


def p2p(i, kind, src, dst, tag, size, deps=()):
    n = Node(id=i, name=f"{kind}{i}", type=NodeType.COMM_SEND_NODE if kind == "send" else NodeType.COMM_RECV_NODE,
             data_deps=list(deps))
    n.attr.extend([make_attr("comm_src", src), make_attr("comm_dst", dst), make_attr("comm_tag", tag),
                   make_attr("comm_size", size), make_attr("is_cpu_op", False)])
    return n


def workload(tmp_path, nodes_of_rank, n=8, name="w"):
    for r in range(n):
        write_et(tmp_path / f"{name}.{r}.et", GlobalMetadata(version="0.0.4"), nodes_of_rank(r))
    return tmp_path / name


def system(tmp_path, **over):
    s = json.loads((CFG / "ring_1d.json").read_text())
    s.update({k.replace("_", "-"): v for k, v in over.items()})
    p = tmp_path / "sys.json"
    p.write_text(json.dumps(s))
    return p


def network(tmp_path, topo, npus, bw, lat=500.0, name="net.yml"):
    p = tmp_path / name
    p.write_text(json.dumps({"topology": topo, "npus_count": npus, "bandwidth": bw, "latency": [lat] * len(topo)}))
    return p


# ---------------------------------------------------------------- reference points from the binary (§9)
def test_ring8_all_reduce_1mib_is_64440(tmp_path):
    w = workload(tmp_path, lambda r: [coll(1, 0, MiB)])
    assert simulate(w, CFG / "ring_1d.json", CFG / "ring8.yml").sim_time_ns == 64440


@pytest.mark.parametrize("ct,expected", [(0, 9240), (6, 4520)])
def test_fc8_direct_all_reduce_and_all_to_all(tmp_path, ct, expected):
    w = workload(tmp_path, lambda r: [coll(1, ct, MiB)])
    assert simulate(w, CFG / "direct_1d.json", CFG / "fc8.yml").sim_time_ns == expected


def _graph(r):
    return [comp(1, ops=2e12, ts=1e9), comp(2, [1], ops=1e9, ts=1e9), coll(3, 0, MiB, [2]),
            comp(4, [2], ops=4e9, ts=2e6), comp(5, [3, 4], ops=1e6, ts=1e3)]


def test_roofline_compute_and_comm_graph(tmp_path):
    w = workload(tmp_path, _graph)
    res = simulate(w, system(tmp_path, roofline_enabled=1), CFG / "ring8.yml")
    # 2e12/9e14 s = 2222222 ns, 1e9 ops at 1600 GB/s x OI 1 = 625000, max(AR 64440, 4444), 1e6/9e14 s = 1 ns
    assert res.sim_time_ns == 2911663
    assert res.ranks[0].exposed_comm_ns == 59996
    assert simulate(w, CFG / "ring_1d.json", CFG / "ring8.yml").sim_time_ns == 64443  # replay: 0 µs → 1 ns


@pytest.mark.parametrize("dims,expected", [([8, 8, 16], 10540204), ([16, 16, 16], 11323580)])
def test_3d_all_reduce_1gib_matches_the_binary(dims, expected):
    """reference §10: 1024 and 4096 NPUs, Ring x FC x Switch, 200/100/50 GB/s, ring per dim, localBWAware."""
    net = NetworkConfig(["Ring", "FullyConnected", "Switch"], dims, [200.0, 100.0, 50.0], [500.0] * 3)
    s = SystemConfig(collective_optimization="localBWAware", preferred_dataset_splits=4, local_mem_bw=1600,
                     all_reduce_implementation=["ring"] * 3, all_gather_implementation=["ring"] * 3,
                     reduce_scatter_implementation=["ring"] * 3)
    shape = GroupShape(tuple(enumerate(dims)), dims[0] * dims[1] * dims[2])
    assert collective_ns("all_reduce", 1 << 30, shape, s, net) == expected


# ---------------------------------------------------------------- hand-worked algorithms
RING8 = NetworkConfig(["Ring"], [8], [50.0], [500.0])
E = 10


@pytest.mark.parametrize("coll_name,data,expected", [
    # RS on a 262144 B chunk: msg 32768, Tn = floor(500 + 32768/53.687) = 1110, P = 3*floor(20.48) = 60
    ("reduce_scatter", 262144, 7 * (E + 1110) + 7 * 60 + E),
    # AG of a 32768 B shard: 7 sends of 32768 B
    ("all_gather", 32768, 7 * (E + 1110) + E),
    # A2A: 8*7/2 sends of 32768 B
    ("all_to_all", 262144, 28 * (E + 1110) + E),
])
def test_ring_phase_closed_forms(coll_name, data, expected):
    assert phase_ns("ring", coll_name, RING8, 0, 8, data, E, 1600) == expected


def test_direct_on_a_ring_waits_for_the_farthest_peer():
    """Direct AR on Ring8, 1 MiB chunk: every peer at once, the farthest 4 hops away (shorter way round).
    m = 131072 B: Tn = floor(4*500 + 131072/53.687) = floor(2000 + 2441.41) = 4441, P = 3*floor(131072/1600) = 243;
    AR = E + Tn + E + P + Tn + E = 10 + 4441 + 10 + 243 + 4441 + 10 = 9155. On FC8 the same takes hops = 1:
    10 + 2941 + 10 + 243 + 2941 + 10 = 6155."""
    assert phase_ns("direct", "all_reduce", RING8, 0, 8, MiB, E, 1600) == 9155
    fc8 = NetworkConfig(["FullyConnected"], [8], [50.0], [500.0])
    assert phase_ns("direct", "all_reduce", fc8, 0, 8, MiB, E, 1600) == 6155


def test_halving_doubling_on_a_ring_counts_hops():
    # RS: partners 1, 2, 4 apart on a Ring8: hops 1, 2, 4; msgs 131072, 65536, 32768
    def tn(m, h):
        return int(h * 500 + m / (50 * 2**30 / 1e9))

    def red(m):
        return 3 * int(m / 1.6e12 * 1e9)

    rs = sum(E + tn(m, h) + red(m) for m, h in ((131072, 1), (65536, 2), (32768, 4)))
    assert phase_ns("halvingDoubling", "reduce_scatter", RING8, 0, 8, 262144, E, 1600) == rs + E


def test_two_dim_pipeline_is_bound_by_dim0(tmp_path):
    """4x4 torus, localBWAware AR 1 MiB, 4 chunks: RS dim0 → AR dim1 → AG dim0; dim0's queue serves RS and AG.
    RS0 = 3(10+1720)+3*120+10 = 5560, AG0 = 3(10+1720)+10 = 5200, AR1 = 6(10+805)+3*30+10 = 4990 < RS0 + AG0,
    so dim0 never idles: 4 x (5560 + 5200) = 43040."""
    w = workload(tmp_path, lambda r: [coll(1, 0, MiB)], n=16)
    assert simulate(w, CFG / "ring_2d.json", CFG / "torus2d_4x4.yml").sim_time_ns == 43040


def test_reference_2d_all_reduce_is_28400(tmp_path):
    """reference §8.3's '2D AR 1 MiB = 28400 ns = 4 x (T_RS,dim0 + T_AG,dim0)': Ring4 x Ring2 at 100 GB/s, 500 ns.
    chunk 262144; dim0 msg 65536 B, Tn = floor(500 + 65536/(100*2^30/1e9)) = floor(500 + 610.35) = 1110,
    P = 3*floor(65536/1600) = 120. RS0 = 3(10+1110) + 3*120 + 10 = 3730, AG0 = 3(10+1110) + 10 = 3370.
    AR on dim1 (input 65536, msg 32768): 2(10 + floor(500 + 305.18)) + 3*floor(32768/1600) + 10 = 1700
    < RS0 + AG0 = 7100, so the dim-0 queue is the bottleneck: 4 x 7100 = 28400."""
    w = workload(tmp_path, lambda r: [coll(1, 0, MiB)], n=8)
    net = network(tmp_path, ["Ring", "Ring"], [4, 2], [100.0, 100.0])
    assert simulate(w, CFG / "ring_2d.json", net).sim_time_ns == 28400


def test_baseline_runs_all_reduce_on_every_dim(tmp_path):
    s = SystemConfig(collective_optimization="baseline", preferred_dataset_splits=1, local_mem_bw=1600,
                     all_reduce_implementation=["ring", "ring"])
    net = NetworkConfig(["Ring", "Ring"], [4, 4], [50.0, 50.0], [500.0, 500.0])
    one = phase_ns("ring", "all_reduce", net, 0, 4, MiB, E, 1600)
    assert collective_ns("all_reduce", MiB, GroupShape(((0, 4), (1, 4)), 16), s, net) == 2 * one


def test_involved_dim_skips_a_dimension(tmp_path):
    w = workload(tmp_path, lambda r: [coll(1, 0, MiB, involved_dim=[False, True])], n=16)
    one_dim = workload(tmp_path, lambda r: [coll(1, 0, MiB)], n=4, name="ring4")
    t2 = simulate(w, CFG / "ring_2d.json", CFG / "torus2d_4x4.yml").sim_time_ns
    t1 = simulate(one_dim, CFG / "ring_1d.json", network(tmp_path, ["Ring"], [4], [50.0])).sim_time_ns
    assert t2 == t1


# ---------------------------------------------------------------- p2p, memory, groups, errors
def test_send_recv_take_one_message_delay(tmp_path):
    def ranks(r):
        if r == 0:
            return [comp(1, dur=2), p2p(2, "send", 0, 1, 5, MiB, [1])]
        return [p2p(1, "recv", 0, 1, 5, MiB)]
    w = workload(tmp_path, ranks, n=2)
    res = simulate(w, CFG / "ring_1d.json", network(tmp_path, ["Ring"], [2], [50.0]))
    # 2 µs compute, then floor(500 + 1048576 / 53.687) = 20031 ns on the wire; both ends finish at arrival
    assert [r.finish_ns for r in res.ranks] == [2000 + 20031, 2000 + 20031]


def test_memory_pool_serialises_requests(tmp_path):
    def ranks(r):
        n = Node(id=1, name="load", type=NodeType.MEM_LOAD_NODE)
        n.attr.append(make_attr("tensor_size", 3200))
        return [n]
    w = workload(tmp_path, ranks, n=8)
    res = simulate(w, CFG / "ring_1d.json", CFG / "ring8.yml", memory=CFG / "memory_pool.json")
    # 100 ns + 3200/32 = 200 ns each, one pool: the k-th request finishes at 200k
    assert sorted(r.finish_ns for r in res.ranks) == [200 * k for k in range(1, 9)]
    with pytest.raises(ToolError, match="NO_MEMORY_EXPANSION"):
        simulate(w, CFG / "ring_1d.json", CFG / "ring8.yml")


def test_comm_group_collective_uses_its_members(tmp_path):
    def ranks(r):
        return [coll(1, 0, MiB, pg_name="half")] if r < 4 else [comp(1, dur=1)]
    w = workload(tmp_path, ranks, n=8)
    groups = tmp_path / "g.json"
    groups.write_text(json.dumps({"half": [0, 1, 2, 3]}))
    res = simulate(w, CFG / "ring_1d.json", CFG / "ring8.yml", comm_groups=groups)
    ring4 = collective_ns("all_reduce", MiB, GroupShape(((0, 4),), 4), SystemConfig(
        preferred_dataset_splits=4, local_mem_bw=1600, collective_optimization="localBWAware"), RING8)
    assert [r.finish_ns for r in res.ranks[:4]] == [ring4] * 4 and res.ranks[4].finish_ns == 1000


def test_symmetric_shortcut_equals_full_simulation(tmp_path):
    same = workload(tmp_path, _graph, name="same")
    diff = workload(tmp_path, lambda r: _graph(r) + [comp(9, [5], dur=0 if r else 0)][: 0] + (
        [comp(9, [5])] if r == 7 else []), name="diff")
    a = simulate(same, CFG / "ring_1d.json", CFG / "ring8.yml")
    b = simulate(diff, CFG / "ring_1d.json", CFG / "ring8.yml")
    assert a.rank_classes == 1 and b.rank_classes == 8
    assert [r.finish_ns for r in a.ranks[:7]] == [r.finish_ns for r in b.ranks[:7]]


def test_mismatched_collectives_are_an_error_not_a_hang(tmp_path):
    w = workload(tmp_path, lambda r: [coll(1, 0, MiB if r else 2 * MiB)])
    with pytest.raises(ToolError, match="does not match across ranks"):
        simulate(w, CFG / "ring_1d.json", CFG / "ring8.yml")


def test_missing_collective_on_one_rank_is_reported_as_deadlock(tmp_path):
    w = workload(tmp_path, lambda r: [coll(1, 0, MiB)] if r else [comp(1, dur=1)])
    with pytest.raises(ToolError, match=r"deadlock: collective #0 .* never by rank\(s\) \[0\]"):
        simulate(w, CFG / "ring_1d.json", CFG / "ring8.yml")


def test_a_lone_rank_file_is_told_to_come_as_a_prefix(tmp_path):
    w = workload(tmp_path, lambda r: [comp(1, dur=5)], n=5)
    one = Path(f"{w}.4.et")  # rank 4 by its name: not a 1-NPU workload
    net = CFG.parent / "chakra-synth" / "network_1npu.yml"
    with pytest.raises(ToolError, match=r"got \[4\] \(a lone rank file keeps the rank its name gives: pass the "):
        simulate(one, CFG / "ring_1d.json", net)


def test_unsupported_comm_type_names_the_node(tmp_path):
    w = workload(tmp_path, lambda r: [coll(7, 3, MiB)])  # GATHER
    with pytest.raises(ToolError, match="collective node 7 .* unsupported comm_type GATHER"):
        simulate(w, CFG / "ring_1d.json", CFG / "ring8.yml")


def _cli(*args, cwd):
    return subprocess.run([str(BIN / "astra-run"), *map(str, args)], capture_output=True, text=True, cwd=cwd)


def test_cli_accepts_astra_sim_flags_and_writes_report_and_timeline(tmp_path):
    workload(tmp_path, lambda r: [coll(1, 0, MiB)])
    r = _cli("--workload-configuration=w", f"--system-configuration={CFG / 'ring_1d.json'}",
             f"--network-configuration={CFG / 'ring8.yml'}", "-o", "rep.json", "--timeline", "tl.json", "-q",
             cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    rep = json.loads((tmp_path / "rep.json").read_text())
    assert rep["sim_time_ns"] == 64440 and rep["ranks"][3] == {
        "rank": 3, "finish_ns": 64440, "compute_ns": 0, "exposed_comm_ns": 64440, "comm_ns": 64440, "cpu_ns": 0,
        "overlap_ns": 0}
    tl = json.loads((tmp_path / "tl.json").read_text())
    spans = [e for e in tl["traceEvents"] if e["ph"] == "X"]
    assert len(spans) == 8 and spans[0]["dur"] == 64.44


@pytest.mark.parametrize("bad", ["zero_splits", "missing_rank", "bad_topology", "npus_mismatch", "no_local_mem_bw",
                                 "impls_longer_than_dims"])
def test_cli_bad_input_is_one_line(tmp_path, bad):
    workload(tmp_path, lambda r: [coll(1, 0, MiB)])
    sysf, netf = CFG / "ring_1d.json", CFG / "ring8.yml"
    if bad == "zero_splits":
        sysf = system(tmp_path, preferred_dataset_splits=0)
    elif bad == "missing_rank":
        (tmp_path / "w.3.et").unlink()
    elif bad == "bad_topology":
        netf = network(tmp_path, ["Torus"], [8], [50.0])
    elif bad == "no_local_mem_bw":  # an all-reduce reduces: the system must say how fast
        sysf = system(tmp_path, local_mem_bw=0)
    elif bad == "impls_longer_than_dims":
        sysf = system(tmp_path, all_reduce_implementation=["ring", "ring"])
    else:
        netf = network(tmp_path, ["Ring"], [16], [50.0])
    r = _cli("--workload", "w", "--system", sysf, "--network", netf, "-o", "rep.json", cwd=tmp_path)
    assert r.returncode == 1 and "Traceback" not in r.stderr
    assert len(r.stderr.strip().splitlines()) == 1 and r.stderr.startswith("astra-run: error: ")
    if bad in ("zero_splits", "no_local_mem_bw", "impls_longer_than_dims"):
        assert "sys.json: " in r.stderr
    assert not (tmp_path / "rep.json").exists()


def _ring_allgather_schedule(tmp_path, n=4, full=4 * MiB):
    """A hand-written ring all-gather: at step k rank r forwards chunk (r-k) mod n to r+1; each step waits for the
    recv of the previous step."""
    c = full // n
    for r in range(n):
        nodes, prev_recv = [], None
        for k in range(n - 1):
            s = p2p(2 * k + 1, "send", r, (r + 1) % n, 100 * k + r, c, [prev_recv] if prev_recv else [])
            rv = p2p(2 * k + 2, "recv", (r - 1) % n, r, 100 * k + (r - 1) % n, c)
            nodes += [s, rv]
            prev_recv = rv.id
        meta = GlobalMetadata(version="0.0.4")
        meta.attr.extend([make_attr("comm_type", 2), make_attr("comm_size", full), make_attr("chunks_per_npu", 1)])
        write_et(tmp_path / f"ag.{r}.et", meta, nodes)
    return tmp_path / "ag"


@pytest.mark.parametrize("shard,expected", [
    (MiB, 3 * int(500 + MiB / (50 * 2**30 / 1e9))),          # 3 steps of floor(500 + 1 MiB/53.687 B/ns) = 20031
    (2 * MiB, 3 * int(500 + 2 * MiB / (50 * 2**30 / 1e9))),  # schedule scaled 2x: 39562 per step
])
def test_custom_collective_runs_the_send_recv_schedule(tmp_path, shard, expected):
    sched = _ring_allgather_schedule(tmp_path)
    w = workload(tmp_path, lambda r: [coll(1, 2, shard)], n=4)
    net = network(tmp_path, ["Ring"], [4], [50.0])
    res = simulate(w, CFG / "ring_1d.json", net, custom_collectives={"all-gather": sched})
    assert res.sim_time_ns == expected
    r = _cli("--workload", "w", "--system", CFG / "ring_1d.json", "--network", net,
             "--custom-collective", f"all-gather={sched}", "--json", cwd=tmp_path)
    assert r.returncode == 0 and json.loads(r.stdout)["sim_time_ns"] == expected


# ---------------------------------------------------------------- congestion-aware backend
@pytest.mark.parametrize("topo,algo", [("Ring", "ring"), ("FullyConnected", "ring"), ("FullyConnected", "direct")])
def test_congestion_equals_unaware_when_no_link_is_shared(tmp_path, topo, algo):
    w = workload(tmp_path, lambda r: [coll(1, 0, MiB)])
    sysf = CFG / ("direct_1d.json" if algo == "direct" else "ring_1d.json")
    net = network(tmp_path, [topo], [8], [50.0])
    a = simulate(w, sysf, net).sim_time_ns
    assert simulate(w, sysf, net, backend="congestion").sim_time_ns == a


def test_congestion_on_a_switch_store_and_forward_and_shared_uplink(tmp_path):
    """Switch8, 1 chunk. Ring AG of a 32768 B shard: each of 7 steps = E + up + down, each hop
    floor(500 + 32768/53.687) = 1110 → 7 (10 + 2220) + 10 = 15620 (unaware: one 2-hop message, 1610 per step).
    Direct A2A of 1 MiB: every rank's 7 messages of 131072 B share its uplink: the k-th leaves the uplink at
    k·floor(131072/53.687) = k·2441 and arrives 2441+500 later; the down-links then queue: the last of the 7
    arrivals at rank j lands at 7·2441+500 ... computed by the event simulation and checked against hand rules below."""
    net = network(tmp_path, ["Switch"], [8], [50.0])
    w = workload(tmp_path, lambda r: [coll(1, 2, 32768)], name="ag")
    one = system(tmp_path, preferred_dataset_splits=1)
    assert simulate(w, one, net).sim_time_ns == 7 * (10 + 1610) + 10
    assert simulate(w, one, net, backend="congestion").sim_time_ns == 7 * (10 + 2 * 1110) + 10
    a2a = workload(tmp_path, lambda r: [coll(1, 6, MiB)], name="a2a")
    d1 = tmp_path / "d1.json"
    d1.write_text((CFG / "direct_1d.json").read_text().replace('"preferred-dataset-splits": 4',
                                                                 '"preferred-dataset-splits": 1'))
    unaware = simulate(a2a, d1, net).sim_time_ns
    congested = simulate(a2a, d1, net, backend="congestion").sim_time_ns
    # unaware: E + floor(2·500 + 131072/53.687) + E = 10 + 3441 + 10
    assert unaware == 3461
    # all 7 messages serialise on the uplink: the last starts its up-hop at 10 + 6·2441 and needs 2 hops after
    assert congested >= 10 + 6 * 2441 + 2 * (500 + 2441) + 10 - 2
    assert congested > 4 * unaware


def test_congestion_backend_handles_multi_dimensional_p2p(tmp_path):
    def ranks(r):
        if r == 0:
            return [p2p(1, "send", 0, 15, 1, MiB)]
        if r == 15:
            return [p2p(1, "recv", 0, 15, 1, MiB)]
        return [comp(1, dur=0)]
    w = workload(tmp_path, ranks, n=16)
    res = simulate(w, CFG / "ring_1d.json", CFG / "torus2d_4x4.yml", backend="congestion")
    # 0 → 15 = (0,0) → (3,3): one hop each way round both rings; store-and-forward: 2 x floor(500 + 1 MiB/53.687)
    assert res.ranks[15].finish_ns == 2 * int(500 + MiB / (50 * 2**30 / 1e9))


def test_double_binary_tree_closed_form():
    """Our model (the binary was not measured for it): depth 3 on 8 nodes, two trees each carrying D/2 = 131072 B:
    6 x (E + floor(500 + 131072/53.687)) + 3 x 3·floor(131072/1600) + E = 6·2951 + 3·243 + 10."""
    assert phase_ns("doubleBinaryTree", "all_reduce", RING8, 0, 8, 262144, E, 1600) == 6 * 2951 + 3 * 243 + 10


def test_cli_accepts_astra_sim_runtime_flags(tmp_path):
    """--injection-scale=2 doubles endpoint-delay: 4 x (14 (20 + 1110) + 7·60 + 20) = 65040; logging flags are
    accepted like ASTRA-sim does."""
    workload(tmp_path, lambda r: [coll(1, 0, MiB)])
    r = _cli("--workload-configuration=w", f"--system-configuration={CFG / 'ring_1d.json'}",
             f"--network-configuration={CFG / 'ring8.yml'}", "--num-queues-per-dim=1", "--injection-scale=2",
             "--comm-scale=1", "--logging-folder=log", "--rendezvous-protocol=false", "--json", cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout)["sim_time_ns"] == 65040


# ---------------------------------------------------------------- workloads the simulation cannot mean anything for
def _bad(kind):
    send = p2p(2, "send", 0, 1, 0, 64)
    if kind == "self":
        return [comp(1, deps=[1], dur=10)], "node 1 depends on itself"
    if kind == "dangling":
        return [comp(1, deps=[99], dur=10)], "node 1 depends on node 99, which the trace does not have"
    if kind == "duplicate":
        return [comp(1, dur=10), comp(1, dur=10)], "duplicate node id 1"
    if kind == "negative":
        return [coll(1, 0, -5)], "node 1 has a negative comm_size (-5)"
    if kind == "no_comm_type":
        n = Node(id=1, name="c", type=NodeType.COMM_COLL_NODE)
        n.attr.append(make_attr("comm_size", 64))
        return [n], "node 1 (COMM_COLL_NODE) has no comm_type"
    if kind == "unknown_comm_type":
        return [coll(1, 42, 64)], "node 1 has an unknown comm_type 42"
    if kind == "send_without_dst":
        del send.attr[[a.name for a in send.attr].index("comm_dst")]
        return [send], "node 2 (COMM_SEND_NODE) has no comm_dst"
    raise AssertionError(kind)


@pytest.mark.parametrize("kind", ["self", "dangling", "duplicate", "negative", "no_comm_type", "unknown_comm_type",
                                  "send_without_dst"])
def test_a_meaningless_workload_is_one_line_naming_the_rank_file(tmp_path, kind):
    nodes, message = _bad(kind)
    w = workload(tmp_path, lambda r: nodes if r == 0 else [comp(1, dur=10)], n=2)
    net = network(tmp_path, ["Ring"], [2], [50.0])
    with pytest.raises(ToolError) as e:
        simulate(w, CFG / "ring_1d.json", net)
    assert str(e.value) == f"{w}.0.et: {message}"
    r = _cli("--workload", "w", "--system", CFG / "ring_1d.json", "--network", net, "-q", cwd=tmp_path)
    assert r.returncode == 1 and r.stderr.strip() == f"astra-run: error: w.0.et: {message}"


def test_an_empty_group_is_the_whole_world(tmp_path):
    w = workload(tmp_path, lambda r: [coll(1, 0, MiB, pg_name="all")], n=8)
    groups = tmp_path / "g.json"
    groups.write_text(json.dumps({"all": []}))
    world = simulate(workload(tmp_path, lambda r: [coll(1, 0, MiB)], n=8, name="d"), CFG / "ring_1d.json",
                     CFG / "ring8.yml")
    assert simulate(w, CFG / "ring_1d.json", CFG / "ring8.yml", comm_groups=groups).sim_time_ns \
        == world.sim_time_ns == 64440


def test_a_schedule_for_another_collective_is_refused(tmp_path):
    sched = _ring_allgather_schedule(tmp_path)  # its metadata says ALL_GATHER
    w = workload(tmp_path, lambda r: [coll(1, 0, MiB)], n=4)
    net = network(tmp_path, ["Ring"], [4], [50.0])
    with pytest.raises(ToolError, match="this schedule implements ALL_GATHER .*not ALL_REDUCE"):
        simulate(w, CFG / "ring_1d.json", net, custom_collectives={"all-reduce": sched})


def test_readme_workloads_come_from_the_bundled_text_files(tmp_path):
    """README's worked examples: ar1mib.txt converted for 8 NPUs is the 64,440 ns ring all-reduce."""
    subprocess.run([BIN / "chakra-convert", "text", CFG / "ar1mib.txt", "--npus", "8", "-o", tmp_path / "ar1mib",
                    "-q"], check=True)
    assert simulate(tmp_path / "ar1mib", CFG / "ring_1d.json", CFG / "ring8.yml").sim_time_ns == 64440
    subprocess.run([BIN / "chakra-convert", "text", CFG / "ar64mib.txt", "--npus", "16", "-o", tmp_path / "ar64",
                    "-q"], check=True)
    native = simulate(tmp_path / "ar64", CFG / "ring_2d.json", CFG / "torus2d_4x4.yml")
    assert native.npus == 16 and native.sim_time_ns > 0


@pytest.mark.parametrize("args,message", [
    (["--comm-scale", "nan"], "'nan' is not a finite number"), (["--comm-scale", "0"], "'0' must be > 0"),
    (["--injection-scale", "-1"], "'-1' must be >= 0"), (["--num-queues-per-dim", "0"], "0 is not in the range"),
    (["--rtol", "-1"], "'-1' must be >= 0"),
])
def test_option_values_are_checked(tmp_path, args, message):
    w = workload(tmp_path, lambda r: [coll(1, 0, MiB)], n=8)
    r = _cli("--workload", w, "--system", CFG / "ring_1d.json", "--network", CFG / "ring8.yml", *args, cwd=tmp_path)
    assert r.returncode == 2 and message in r.stderr


def test_outputs_never_replace_inputs_or_each_other(tmp_path):
    w = workload(tmp_path, lambda r: [coll(1, 0, MiB)], n=8)
    (tmp_path / "w.comm_groups.json").write_text("{}")
    base = ["--workload", w, "--system", CFG / "ring_1d.json", "--network", CFG / "ring8.yml", "-q"]
    r = _cli(*base, "-o", "w.comm_groups.json", cwd=tmp_path)
    assert r.returncode == 1 and "w.comm_groups.json: refusing to overwrite an input file" in r.stderr
    r = _cli(*base, "-o", "a.json", "--timeline", "a.json", cwd=tmp_path)
    assert r.returncode == 1 and "a.json: given for both -o and --timeline" in r.stderr
    assert _cli(*base, "-o", "e.json", cwd=tmp_path).returncode == 0
    before = (tmp_path / "e.json").read_bytes()
    r = _cli(*base, "-o", "e.json", "--expect", "e.json", cwd=tmp_path)
    assert r.returncode == 1 and "refusing to overwrite the --expect report" in r.stderr
    assert (tmp_path / "e.json").read_bytes() == before
    assert (tmp_path / "w.comm_groups.json").read_text() == "{}"
