"""tacos-synth: correctness properties, TACOS's own reference numbers, astra-run agreement, exports, errors."""

from __future__ import annotations

import json
import random
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from astrasim_py import simulate
from astrasim_py.topology import Link, Topology, generate, load_topology
from chakra_tools.et import GlobalMetadata, Node, NodeType, make_attr, write_et
from chakra_tools.graph import Trace
from chakra_tools.validate import check_trace, errors
from tacos.export.chakra import write_ets
from tacos.export.msccl import to_xml
from tacos.schedule import evaluate, lower_bound_ns, synthesize

CFG = Path(__file__).resolve().parents[2] / "examples" / "configs"
BIN = Path(sys.executable).parent
GiB = 1 << 30


@st.composite
def connected_topologies(draw):
    n = draw(st.integers(2, 9))
    perm = draw(st.permutations(range(n)))
    edges = {(perm[i], perm[i + 1]) for i in range(n - 1)}  # a spanning path keeps it connected
    extra = draw(st.lists(st.tuples(st.integers(0, n - 1), st.integers(0, n - 1)), max_size=2 * n))
    edges |= {(a, b) for a, b in extra if a != b}
    edges = {(min(a, b), max(a, b)) for a, b in edges}  # one bidirectional cable per pair
    links = []
    for a, b in sorted(edges):
        bw = draw(st.sampled_from([12.5, 25.0, 50.0, 100.0]))
        lat = draw(st.sampled_from([0.0, 300.0, 500.0]))
        links += [Link(a, b, bw, lat), Link(b, a, bw, lat)]
    return Topology(n, links)


def _check(topo: Topology, coll: str, s) -> None:
    n = topo.npus
    link_ok = {(ln.src, ln.dst) for ln in topo.links}
    by_link: dict[tuple[int, int], list] = {}
    for x in s.transfers:
        assert (x.src, x.dst) in link_ok, "transfer on a non-existent link"
        assert x.end > x.start or x.end == x.start
        by_link.setdefault((x.src, x.dst), []).append(x)
    for xs in by_link.values():  # one chunk at a time per link
        xs.sort(key=lambda x: x.start)
        assert all(a.end <= b.start for a, b in zip(xs, xs[1:]))
    k_total = n * s.chunks_per_npu
    if coll in ("all-gather", "all-reduce"):
        ag = [x for x in s.transfers if x.phase == "ag"]
        arrive = {(k % n, k): (0 if coll == "all-gather" else None) for k in range(k_total)}
        if coll == "all-reduce":  # the owner holds the reduced chunk when its reduce-scatter is complete
            for k in range(k_total):
                arrive[(k % n, k)] = max((x.end for x in s.transfers if x.phase == "rs" and x.chunk == k
                                          and x.dst == k % n), default=0)
        for x in sorted(ag, key=lambda x: x.start):
            have = arrive.get((x.src, x.chunk))
            assert have is not None and have <= x.start, "causality: forwarded a chunk before it arrived"
            arrive.setdefault((x.dst, x.chunk), x.end)
        assert all((v, k) in arrive for v in range(n) for k in range(k_total)), "a chunk missed an NPU"
    if coll in ("reduce-scatter", "all-reduce"):
        rs = [x for x in s.transfers if x.phase == "rs"]
        contrib = {(v, k): {v} for v in range(n) for k in range(k_total)}
        for x in sorted(rs, key=lambda x: x.start):
            # a partial sum leaves only after everything it includes arrived (causality, checked via end<=start)
            contrib[(x.dst, x.chunk)] |= contrib[(x.src, x.chunk)]
        for k in range(k_total):
            assert contrib[(k % n, k)] == set(range(n)), f"chunk {k} misses contributions"
        for v in range(n):  # no NPU forwards a partial sum twice (each contribution counted once)
            for k in range(k_total):
                assert sum(1 for x in rs if x.src == v and x.chunk == k) <= 1


@settings(max_examples=40, deadline=None, suppress_health_check=list(HealthCheck))
@given(topo=connected_topologies(), coll=st.sampled_from(["all-gather", "reduce-scatter", "all-reduce"]),
       c=st.integers(1, 3), seed=st.integers(0, 10))
def test_schedules_deliver_every_chunk_respect_links_and_causality(topo, coll, c, seed):
    s = synthesize(topo, coll, 1 << 20, c, seed)
    _check(topo, coll, s)
    if coll != "all-reduce":  # (N-1)/N of the buffer must enter (AG) / leave (RS) every NPU: a true bound
        assert s.time_ns >= lower_bound_ns(topo, coll, 1 << 20) * 0.999
    _, again = evaluate(s.transfers, s.deps, topo, s.chunk_bytes)
    assert again == s.time_ns  # the greedy's times are exactly what its dependencies allow


@pytest.mark.parametrize("kind,dims,c,expected_us", [
    ("mesh2d", [5, 5], 1, 9606.0),       # TACOS's own test expectations (astra-sim/tacos tests), 1 GiB output
    ("torus3d", [3, 3, 3], 1, 3706.20),
])
def test_matches_tacos_reference_points(kind, dims, c, expected_us):
    s = synthesize(generate(kind, dims, 50, 500), "all-gather", GiB, c, seed=0)
    assert s.time_ns / 1000 == pytest.approx(expected_us, abs=0.01)


def test_within_seven_percent_of_the_bound_at_1gib_on_regular_topologies():
    for kind, dims in (("torus2d", [4, 4]), ("mesh2d", [4, 4]), ("ring", [8]), ("hypercube", [16])):
        topo = generate(kind, dims, 50, 500)
        s = synthesize(topo, "all-reduce", GiB, "auto", seed=0, restarts=3)  # TACOS keeps the best of 20
        assert s.time_ns <= 1.07 * lower_bound_ns(topo, "all-reduce", GiB), kind


def test_same_seed_same_schedule_and_restarts_never_worse():
    topo = load_topology(CFG / "tacos-synth" / "irregular8.yml")
    a = synthesize(topo, "all-reduce", 1 << 20, 2, seed=3)
    b = synthesize(topo, "all-reduce", 1 << 20, 2, seed=3)
    assert a.transfers == b.transfers
    assert synthesize(topo, "all-reduce", 1 << 20, 2, seed=3, restarts=4).time_ns <= a.time_ns


def _workload(tmp_path, n, ct, size):
    for r in range(n):
        node = Node(id=1, name="coll", type=NodeType.COMM_COLL_NODE)
        node.attr.extend([make_attr("comm_type", ct), make_attr("comm_size", size)])
        write_et(tmp_path / f"w.{r}.et", GlobalMetadata(version="0.0.4"), [node])
    return tmp_path / "w"


@pytest.mark.parametrize("coll,ct", [("all-gather", 2), ("reduce-scatter", 7), ("all-reduce", 0)])
def test_astra_run_simulates_the_exported_ets_in_the_predicted_time(tmp_path, coll, ct):
    topo = generate("torus2d", [4, 4], 50, 500)
    s = synthesize(topo, coll, 64 << 20, 2, seed=1)
    write_ets(s, tmp_path / "sched")
    assert errors(check_trace(Trace.load(tmp_path / "sched"))) == []
    net = tmp_path / "net.yml"
    net.write_text("topology: [Ring, Ring]\nnpus_count: [4, 4]\nbandwidth: [50, 50]\nlatency: [500, 500]\n")
    size = (64 << 20) // 16 if coll == "all-gather" else 64 << 20   # ASTRA-sim's AG comm_size is the shard
    w = _workload(tmp_path, 16, ct, size)
    res = simulate(w, CFG / "astra-run" / "ring_2d.json", net, custom_collectives={coll: tmp_path / "sched"})
    assert res.sim_time_ns == s.time_ns


def test_msccl_xml_is_complete():
    topo = generate("ring", [4], 50, 500)
    s = synthesize(topo, "all-reduce", 1 << 20, 1, seed=0)
    root = ET.fromstring(to_xml(s))
    for key in ("name", "proto", "nchannels", "nchunksperloop", "ngpus", "coll", "inplace", "outofplace",
                "minBytes", "maxBytes"):
        assert key in root.attrib
    gpus = root.findall("gpu")
    assert len(gpus) == 4 and all({"id", "i_chunks", "o_chunks", "s_chunks"} <= set(g.attrib) for g in gpus)
    steps = root.findall(".//step")
    need = {"s", "type", "srcbuf", "srcoff", "dstbuf", "dstoff", "cnt", "depid", "deps", "hasdep"}
    assert all(need <= set(x.attrib) for x in steps)
    kinds = {x.attrib["type"] for x in steps}
    assert {"s", "r", "rrc"} <= kinds
    sends = sum(1 for x in steps if x.attrib["type"] == "s")
    assert sends == len(s.transfers) == sum(1 for x in steps if x.attrib["type"] in ("r", "rrc"))
    # every dependency points at a step that exists and is marked hasdep
    for g in gpus:
        tbs = {tb.attrib["id"]: tb.findall("step") for tb in g.findall("tb")}
        for x in g.findall(".//step"):
            if x.attrib["depid"] != "-1":
                target = tbs[x.attrib["depid"]][int(x.attrib["deps"])]
                assert target.attrib["hasdep"] == "1"


def _cli(*args, cwd):
    return subprocess.run([str(BIN / "tacos-synth"), *map(str, args)], capture_output=True, text=True, cwd=cwd)


def test_cli_outputs_and_report_keys(tmp_path):
    r = _cli("--topology", CFG / "tacos-synth" / "mesh4x4_hetero_failed.yml", "--collective", "all-reduce",
             "--size", "64MiB", "--chunks", "auto", "-o", "s.json", "--et-prefix", "et/s", "--msccl-xml", "s.xml",
             "--plot", "u.png", "--json", "-q", cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    rep = json.loads(r.stdout)
    for key in ("time_ns", "lower_bound_ns", "chunks_per_npu", "synthesis_seconds", "baselines_ns", "provenance"):
        assert key in rep
    full = json.loads((tmp_path / "s.json").read_text())
    assert full["schedule"]["links"] and len(full["schedule"]["npus"]) == 16
    assert (tmp_path / "u.png").read_bytes()[:4] == b"\x89PNG"
    assert len(list((tmp_path / "et").iterdir())) == 16


@pytest.mark.parametrize("text,msg", [
    ("topology: spiral\ndims: [4]\nbandwidth: 50\n", "unknown generator 'spiral'"),
    ("topology: ring\ndims: [4]\nbandwidth: -5\n", "bandwidth: must be > 0"),
    ("npus: 3\nlinks:\n  - [0, 1, 50, 500]\n  - [1, 7, 50, 500]\n", "links[1]: dst 7 is not an NPU"),
    ("npus: 4\nlinks:\n  - [0, 1, 50, 500]\n  - [2, 3, 50, 500]\n", "disconnected"),
    ("topology: ring\ndims: [4]\nbandwidth: 50\nfailed_links: [[0, 2]]\n", "there is no link 0 -> 2"),
    ("topology: [ring\n", "invalid YAML"),
])
def test_bad_topology_is_one_line_exit_1(tmp_path, text, msg):
    f = tmp_path / "t.yml"
    f.write_text(text)
    r = _cli("--topology", f, "--collective", "all-gather", "--size", "1MiB", "-o", "s.json", cwd=tmp_path)
    assert r.returncode == 1 and msg in r.stderr and "Traceback" not in r.stderr, r.stderr
    assert len(r.stderr.strip().splitlines()) == 1 and not (tmp_path / "s.json").exists()


def test_reads_astra_sim_network_yaml_as_is(tmp_path):
    topo = load_topology(CFG / "astra-run" / "torus2d_4x4.yml")
    assert topo.npus == 16 and len(topo.links) == 64
    s = synthesize(topo, "all-gather", 1 << 20, 1, seed=0)
    _check(topo, "all-gather", s)
    random.seed(0)


@pytest.mark.parametrize("args,code,message", [
    (["-o", "e.json", "--msccl-xml", "e.json"], 1, "e.json: given for both -o and --msccl-xml"),
    (["--plot", "u.xyz"], 2, "u.xyz: expected a .png, .svg, .pdf file name"),
    (["--json", "--rtol", "-1"], 2, "'-1' must be >= 0"),
    (["-o", "."], 1, ".: is a directory"),
])
def test_cli_refuses_outputs_it_cannot_write_before_any_work(tmp_path, args, code, message):
    r = _cli("--topology", CFG / "tacos-synth" / "torus4x4.yml", "--collective", "all-gather", "--size", "1MiB",
             "--et-prefix", "et/s", *args, cwd=tmp_path)
    assert r.returncode == code and message in r.stderr and "Traceback" not in r.stderr
    assert not (tmp_path / "et").exists()  # refused before any output was written


def test_a_size_beyond_64_bits_is_a_usage_error(tmp_path):
    r = _cli("--topology", CFG / "tacos-synth" / "torus4x4.yml", "--collective", "all-gather", "--size",
             "99999999999999999999999TiB", "--json", cwd=tmp_path)
    assert r.returncode == 2 and "is too large (at most 2^63 - 1 bytes)" in r.stderr


def test_a_chunk_is_at_least_one_byte(tmp_path):
    topo = CFG / "tacos-synth" / "torus4x4.yml"
    r = _cli("--topology", topo, "--collective", "all-gather", "--size", "1", "--json", cwd=tmp_path)
    assert r.returncode == 1 and "--size 1 B is less than one byte per chunk (16 NPUs x 1 chunk(s) per NPU)" \
        in r.stderr
    r = _cli("--topology", topo, "--collective", "all-gather", "--size", "32", "--chunks", "auto", "--json",
             cwd=tmp_path)  # auto keeps the chunk counts that fit: 1 and 2 per NPU
    assert r.returncode == 0, r.stderr
    assert sorted(map(int, json.loads(r.stdout)["tried_chunks_per_npu"])) == [1, 2]
