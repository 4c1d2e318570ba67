"""Per-thread chains: fit learns each kind's thread slots and its cross-thread (join) dependencies, sample draws
them (tid attribute, dependencies stepping back along the node's own thread). Checked on a recorded two-thread
training step (tests/data/threads: a prefetch thread beside the training loop), on a hand-built trace with joins,
and against the single-thread path (same programs as a model without thread statistics)."""

from __future__ import annotations

import copy
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from chakra_tools.common import ToolError
from chakra_tools.et import NodeType, make_attr, rank_path, read_et, write_et
from chakra_tools.graph import Trace
from chakra_tools.schema import et_def_pb2 as pb
from chakra_tools.synth import compare, fit, sample
from chakra_tools.synth.model_check import check_model
from chakra_tools.synth.sample import _token_budget
from chakra_tools.validate import check_trace

from .test_synth import FAMILY_TRAIN

PREFETCH = str(Path(__file__).resolve().parents[1] / "data" / "threads" / "prefetch")


def _tids(g) -> dict[int, int | None]:
    return {n.id: g.attrs[n.id].get("tid") for n in g.nodes}


def _thread_stats(prefix: str) -> dict[str, float]:
    """Share of compute nodes off the main thread; share of the off-main nodes that depend on their own thread;
    dependencies between compute nodes of two different threads."""
    off = chained = cross = comp = 0
    for g in Trace.load(prefix).ranks.values():
        tid = _tids(g)
        main = max(set(v for v in tid.values() if v is not None), key=list(tid.values()).count)
        for n in g.nodes:
            if n.type != NodeType.COMP_NODE:
                continue
            comp += 1
            deps = [d for d in (*n.data_deps, *n.ctrl_deps) if g.by_id[d].type == NodeType.COMP_NODE]
            cross += sum(tid[d] != tid[n.id] for d in deps)
            if tid[n.id] != main:
                off += 1
                chained += any(tid[d] == tid[n.id] for d in deps)
    return {"off_main": off / comp, "off_count": off, "chained": chained / max(off, 1), "cross": cross}


@pytest.fixture(scope="module")
def prefetch_model() -> dict:
    return fit([PREFETCH])


def test_the_recorded_trace_has_two_thread_chains():
    s = _thread_stats(PREFETCH)
    # no joins: torch.profiler recorded no Kineto events on the prefetch thread (started inside the profiled step),
    # so nothing tells when it waited; its 43 ops per rank are in the ET only, with no duration
    assert 0.1 < s["off_main"] < 0.3 and s["cross"] == 0
    assert s["chained"] > 0.9


def test_fit_learns_the_thread_slots(prefetch_model):
    assert prefetch_model["threads"] == {"2": 2}
    slots = {k: st["thread_slots"] for k, st in prefetch_model["kind_stats"].items() if "thread_slots" in st}
    assert sum(t.get("1", 0) for t in slots.values()) == _thread_stats(PREFETCH)["off_count"]  # both ranks
    assert not any("data_cross_fraction" in st for st in prefetch_model["kind_stats"].values())
    assert all(not k.startswith("COLL:") for k in slots)  # collectives carry no tid


def test_samples_keep_the_threads_and_their_chains(prefetch_model, tmp_path):
    sample(prefetch_model, tmp_path / "s", ranks=2, seed=3)
    t = Trace.load(tmp_path / "s")
    assert not [p for p in check_trace(t) if p.severity == "error"]
    real, synth = _thread_stats(PREFETCH), _thread_stats(str(tmp_path / "s"))
    assert synth["off_main"] == pytest.approx(real["off_main"], abs=0.02)
    assert synth["cross"] == 0 and synth["chained"] > 0.9
    for g in t.ranks.values():
        assert {v for n, v in _tids(g).items() if g.by_id[n].type == NodeType.COMP_NODE} == {1, 2}
    graph = compare(PREFETCH, tmp_path / "s")["graph"]
    assert graph["a"]["threads_per_rank"] == graph["b"]["threads_per_rank"] == 2
    sample(prefetch_model, tmp_path / "again", ranks=2, seed=3)
    assert rank_path(tmp_path / "s", 1).read_bytes() == rank_path(tmp_path / "again", 1).read_bytes()


def _joined_trace(prefix: Path, n: int = 400) -> float:
    """Two threads alternating 3:1; each node depends on the previous node of its thread, and every 4th
    main-thread node also on the latest node of the other thread (a join). Returns the share of joins."""
    meta = pb.GlobalMetadata(version="0.0.4")
    for r in (0, 1):
        nodes, last = [], {}
        joins = deps = 0
        for i in range(n):
            tid = 2 if i % 4 == 3 else 1
            node = pb.Node(id=i, name="aten::add" if tid == 1 else "aten::mul", type=NodeType.COMP_NODE,
                           duration_micros=5 + i % 7)
            d = [last[tid]] if tid in last else []
            if tid == 1 and i % 16 == 8 and 2 in last:
                d.append(last[2])
                joins += 1
            deps += len(d)
            node.data_deps.extend(sorted(d))
            node.attr.extend([make_attr("is_cpu_op", True), make_attr("tid", tid)])
            last[tid] = i
            nodes.append(node)
        write_et(rank_path(prefix, r), meta, nodes)
    return joins / deps


def test_cross_thread_joins_are_learned_and_drawn(tmp_path):
    share = _joined_trace(tmp_path / "j")
    m = fit([str(tmp_path / "j")])
    add = m["kind_stats"]["COMP:elementwise"]  # aten::add and aten::mul are one kind: share over both
    assert add["data_cross_fraction"] == pytest.approx(share, abs=1e-4)
    sample(m, tmp_path / "s", ranks=2, nodes=400, seed=1)
    t = Trace.load(tmp_path / "s")
    assert not [p for p in check_trace(t) if p.severity == "error"]
    g = t.ranks[0]
    tid = _tids(g)
    edges = [(d, n.id) for n in g.nodes for d in n.data_deps]
    cross = sum(tid[a] != tid[b] for a, b in edges) / len(edges)
    assert cross == pytest.approx(share, abs=0.02)
    # the rest step back along their own thread: mostly to the previous node of the same thread
    same = [(a, b) for a, b in edges if tid[a] == tid[b]]
    prev = {}
    by_thread: dict = {}
    for n in sorted(g.nodes, key=lambda n: n.id):
        by_thread.setdefault(tid[n.id], []).append(n.id)
    for lst in by_thread.values():
        prev.update(zip(lst[1:], lst[:-1]))
    assert np.mean([prev.get(b) == a for a, b in same]) > 0.95


def test_a_single_thread_model_draws_the_programs_of_one_without_thread_statistics(tmp_path):
    m = fit(FAMILY_TRAIN["cnn"][:4])
    assert m["threads"] == {"1": 8} and not any("thread_slots" in st for st in m["kind_stats"].values())
    # nor the thread order's (thread_order.py): one thread's chain is the order
    assert not any(k.endswith("_by_slot") for st in m["kind_stats"].values() for k in st)
    assert not any(k.startswith("barrier_") for k in m["cross_rank"])
    bare = copy.deepcopy(m)
    del bare["threads"]
    sample(m, tmp_path / "t", ranks=2, seed=5)
    sample(bare, tmp_path / "b", ranks=2, seed=5)
    for r in (0, 1):
        nt, nb = read_et(rank_path(tmp_path / "t", r))[1], read_et(rank_path(tmp_path / "b", r))[1]
        assert len(nt) == len(nb)
        for a, b in zip(nt, nb):
            tids = [x.int64_val for x in a.attr if x.name == "tid"]
            assert tids == ([1] if a.type == NodeType.COMP_NODE else [])
            if tids:
                del a.attr[[x.name for x in a.attr].index("tid")]
            assert a == b


@pytest.mark.parametrize("edit,message", [
    (lambda m: m.__setitem__("threads", {"0": 2}), "'threads' must map thread counts"),
    (lambda m: m.__setitem__("threads", []), "'threads' must map thread counts"),
    (lambda m: m["kind_stats"]["COMP:view"].__setitem__("thread_slots", {"5000": 3}), "thread_slots name a slot"),
    (lambda m: m["kind_stats"]["COMP:view"].__setitem__("thread_slots", {"1": -3}), "thread_slots must map"),
    (lambda m: m["kind_stats"]["COMP:view"].__setitem__("data_cross_fraction", 1.5), "data_cross_fraction must be"),
    (lambda m: m["kind_stats"]["COMP:view"].__setitem__("ctrl_cross_distance", [3, 1]), "ctrl_cross_distance must"),
    (lambda m: m["kind_stats"]["COMP:view"].__setitem__("data_cross_slots", {"0": {"5000": 1}}),
     "data_cross_slots must map thread slots"),
    (lambda m: m["kind_stats"]["COMP:view"].__setitem__("data_cross_slots", {"x": {"1": 1}}),
     "data_cross_slots must map thread slots"),
    (lambda m: m["kind_stats"]["COMP:view"].__setitem__("ctrl_cross_slots", {"0": {"1": 0}}),
     "ctrl_cross_slots must map thread slots"),
    (lambda m: m["kind_stats"]["COMP:view"].__setitem__("data_cross_slots", {"0": {}}),
     "data_cross_slots must map thread slots"),
    (lambda m: m["kind_stats"]["COMP:view"].__setitem__("data_fanin_order", [0.2, 1.7]), "data_fanin_order must be"),
    (lambda m: m["kind_stats"]["COMP:view"].__setitem__("chained_by_slot", {"0": 1.5}), "chained_by_slot must map"),
    (lambda m: m["kind_stats"]["COMP:view"].__setitem__("chained_by_slot", {"5000": 0.5}), "chained_by_slot must map"),
    (lambda m: m["kind_stats"]["COMP:view"].__setitem__("data_cross_fraction_by_slot", [0.5]),
     "data_cross_fraction_by_slot must map"),
    (lambda m: m.__setitem__("stream_slots", [1, -1]), "'stream_slots' must list thread slots"),
    (lambda m: m.__setitem__("stream_slots", {"1": 1}), "'stream_slots' must list thread slots"),
    (lambda m: m["cross_rank"].__setitem__("barrier_after", 2), "'cross_rank.barrier_after' must be a fraction"),
    (lambda m: m["thread_chain"].__setitem__("tokens", [[0, 5000]]), "thread_chain.tokens must be"),
    (lambda m: m["thread_chain"].__setitem__("tokens", [[99, 0]]), "thread_chain.tokens must be"),
    (lambda m: m["thread_chain"].__setitem__("markov", {"0": {"1": 1}}), "'thread_chain.markov' lacks"),
    (lambda m: m["thread_chain"]["markov"].__setitem__("", {"999": 1}), r"thread_chain.markov\[''\] must"),
])
def test_malformed_thread_statistics_are_one_line(prefetch_model, edit, message):
    m = json.loads(json.dumps(prefetch_model))
    edit(m)
    with pytest.raises(ToolError, match=message):
        check_model(m, "m.json")


def test_joins_of_a_recorded_trace_are_learned_and_drawn(tmp_path):
    # the recorded gloo step converted with --kineto: trace_link's gap rule gives it real joins (its worker thread's
    # copy-out waits for the all-gather, the main thread for that copy); fit learns them, the sample draws them
    data = Path(PREFETCH).parents[1]
    exe = Path(sys.executable).with_name("chakra-convert")
    subprocess.run([str(exe), "pytorch", *(str(data / f"gloo.rank{r}.et.json") for r in (0, 1)),
                    *(a for r in (0, 1) for a in ("--kineto", str(data / f"gloo.rank{r}.kineto.json"))),
                    "-o", str(tmp_path / "g"), "-q"], check=True)
    m = fit([str(tmp_path / "g")])
    # its ranks exchange a ping-pong (rank 0 sends first, rank 1 receives first): two programs (programs.py)
    assert m["programs"]["rank_program"] == [0, 1]
    assert all(any(st.get("data_cross_fraction", 0) > 0 for st in sub["kind_stats"].values())
               for sub in m["programs"]["models"])
    sample(m, tmp_path / "s", ranks=2, seed=1)
    t = Trace.load(tmp_path / "s")
    assert not [p for p in check_trace(t) if p.severity == "error"]
    for g in t.ranks.values():
        tid = _tids(g)
        joins = [(d, n.id) for n in g.nodes for d in n.data_deps
                 if tid[d] is not None and tid[n.id] is not None and tid[d] != tid[n.id]]
        assert joins and g.find_cycle() == []


def test_a_thread_keeps_its_ops_in_runs(prefetch_model, tmp_path):
    # fit's thread chain runs over (kind, slot) tokens: the recorded step switches thread twice per rank (into the
    # prefetch block and back), and the chain's order-1 counts hold exactly those switches
    switches = 0
    comm = (NodeType.COMM_COLL_NODE, NodeType.COMM_SEND_NODE, NodeType.COMM_RECV_NODE)
    for g in Trace.load(PREFETCH).ranks.values():
        seq = [g.attrs[n.id].get("tid") or 1 for n in sorted(g.nodes, key=lambda n: n.id) if n.type not in comm]
        switches += sum(a != b for a, b in zip(seq, seq[1:]))
    chain = prefetch_model["thread_chain"]
    slot = [s for _, s in chain["tokens"]]
    counted = sum(c for ctx, row in chain["markov"].items() if ctx.isdigit() for b, c in row.items()
                  if slot[int(ctx)] != slot[int(b)])
    assert counted == switches == 4
    # the sample keeps the prefetch block whole (a chain over kinds with slots handed out after it gave 15.5 nodes
    # per run, independent draws 4.0); an order-1 chain without position bins keeps runs of that length too,
    # though its share off the main thread then varies from seed to seed, as its kind mix does
    sample(prefetch_model, tmp_path / "s", ranks=2, seed=3)
    g = compare(PREFETCH, tmp_path / "s")["graph"]
    assert g["a"]["thread_run_length"] == pytest.approx(116.5)
    assert g["b"]["thread_run_length"] == pytest.approx(116.5)
    assert g["b"]["off_main_thread_fraction"] == pytest.approx(g["a"]["off_main_thread_fraction"], abs=0.02)
    loose = fit([PREFETCH], order=1, bins=0)
    runs = []
    for seed in (1, 2, 3):
        sample(loose, tmp_path / f"o1.{seed}", ranks=2, seed=seed)
        runs.append(compare(PREFETCH, tmp_path / f"o1.{seed}")["graph"]["b"]["thread_run_length"])
    assert min(runs) > 80, runs


def test_a_described_kind_budget_splits_over_thread_tokens_exactly():
    # kind 0 ran 3:1 on slots 0 and 1, kind 1 only on slot 0: a budget of 10 and 4 keeps both counts and splits the
    # first by largest remainder (7.5 / 2.5 -> 8 / 2: ties go to the first token)
    tokens = [[0, 0], [0, 1], [1, 0]]
    out = _token_budget(np.array([10.0, 4.0]), tokens, {"0": 30, "1": 10, "2": 7})
    assert out.tolist() == [8.0, 2.0, 4.0]
