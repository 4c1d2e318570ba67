"""One training iteration of a design point as Chakra ETs (one file per GPU), and its astra-run simulation.

Rank r = tp index + tp·(stage + pp·dp index), so a TP group sits inside a node. Each stage runs 1F1B: warm-up
forwards, then one forward + one backward per step, then the remaining backwards. A forward micro-batch is: receive
activations (stages > 0) → compute → the stage's TP all-reduces as one collective (process group `tp_<stage>_<dp>`)
→ send activations; a backward mirrors it; after the last backward the gradients are all-reduced across the data
parallel group (`dp_<tp>_<stage>`) and the optimizer runs. Durations and sizes come from comet.perf, so astra-run
re-times the communication on the cluster's network while compute stays the analytical model's.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from chakra_tools.common import ToolError, atomic_group, dumps_json
from chakra_tools.et import (
    CommType,
    ETWriter,
    GlobalMetadata,
    Node,
    NodeType,
    groups_path,
    make_attr,
    rank_path,
)
from comet.model import Cluster, TransformerModel
from comet.perf import evaluate

MAX_RANKS = 1024


def _r(x) -> float:
    return float(np.asarray(x))


def build(model: TransformerModel, cluster: Cluster, *, gpus: int, tp: int, pp: int, batch: int, micro: int = 1,
          recompute: int = 2, sequence_parallel: bool = False, zero: int = 0
          ) -> tuple[list[list[Node]], dict[str, list[int]], dict]:
    if gpus > MAX_RANKS:
        raise ToolError(f"--emit-et writes one file per GPU; {gpus} GPUs is more than {MAX_RANKS}")
    r = evaluate(model, cluster, gpus=gpus, tp=tp, pp=pp, batch=batch, micro=micro, recompute=recompute,
                 sequence_parallel=sequence_parallel, zero=zero)
    if not bool(r["feasible"]):
        raise ToolError("the point is infeasible; nothing to emit")
    dp, m = int(r["dp"]), int(r["microbatches"])
    h, s = model.hidden, model.seq
    act = 2 * micro * s * h
    layers_stage = model.layers // pp
    comp_f_us = _r(r["compute_s"]) / m * 1e6 / 3   # forward share of the per-micro-batch compute
    comp_b_us = _r(r["compute_s"]) / m * 1e6 - comp_f_us
    tp_f_bytes = 2 * layers_stage * act if tp > 1 else 0
    tp_b_bytes = (4 if recompute == 2 else 2) * layers_stage * act if tp > 1 else 0
    grad_bytes = int(2 * model.params / (tp * pp))
    groups: dict[str, list[int]] = {}
    rank = {(i, j, k): i + tp * (j + pp * k) for i in range(tp) for j in range(pp) for k in range(dp)}
    for j in range(pp):
        for k in range(dp):
            groups[f"tp_{j}_{k}"] = [rank[(i, j, k)] for i in range(tp)]
    for i in range(tp):
        for j in range(pp):
            groups[f"dp_{i}_{j}"] = [rank[(i, j, k)] for k in range(dp)]
    per_rank: list[list[Node]] = [[] for _ in range(gpus)]
    for (i, j, k), me in rank.items():
        rb = _Rank(me, rank, i, j, k, tp, pp, act // tp, comp_f_us, comp_b_us, tp_f_bytes, tp_b_bytes)
        warm = min(pp - 1 - j, m)
        for mb in range(warm):
            rb.fwd(mb)
        for step in range(m - warm):
            rb.fwd(warm + step)
            rb.bwd(step)
        for mb in range(m - warm, m):
            rb.bwd(mb)
        if dp > 1:
            rb.add("dp gradient all-reduce", NodeType.COMM_COLL_NODE, comm_type=int(CommType.ALL_REDUCE),
                   comm_size=grad_bytes, pg_name=f"dp_{i}_{j}")
        rb.add("optimizer", NodeType.COMP_NODE, _r(r["optimizer_s"]) * 1e6)
        per_rank[me] = rb.nodes
    return per_rank, groups, r


class _Rank:
    """The node chain of one GPU (each node depends on the previous one)."""

    def __init__(self, me, rank, i, j, k, tp, pp, p2p_bytes, comp_f_us, comp_b_us, tp_f_bytes, tp_b_bytes):
        self.me, self.rank, self.i, self.j, self.k, self.pp = me, rank, i, j, k, pp
        self.p2p, self.cf, self.cb, self.tpf, self.tpb = p2p_bytes, comp_f_us, comp_b_us, tp_f_bytes, tp_b_bytes
        self.nodes: list[Node] = []

    def add(self, name: str, ntype: int, dur_us: float = 0.0, **attrs) -> None:
        deps = [self.nodes[-1].id] if self.nodes else []
        n = Node(id=len(self.nodes) + 1, name=name, type=ntype, data_deps=deps, duration_micros=int(dur_us))
        n.attr.append(make_attr("is_cpu_op", False))
        for key, v in attrs.items():
            n.attr.append(make_attr(key, v))
        self.nodes.append(n)

    def _peer(self, dj: int) -> int:
        return self.rank[(self.i, self.j + dj, self.k)]

    def fwd(self, mb: int) -> None:
        if self.j > 0:
            self.add(f"recv act mb{mb}", NodeType.COMM_RECV_NODE, comm_src=self._peer(-1), comm_dst=self.me,
                     comm_tag=2 * mb, comm_size=self.p2p)
        self.add(f"fwd mb{mb}", NodeType.COMP_NODE, self.cf)
        if self.tpf:
            self.add(f"tp all-reduce fwd mb{mb}", NodeType.COMM_COLL_NODE, comm_type=int(CommType.ALL_REDUCE),
                     comm_size=self.tpf, pg_name=f"tp_{self.j}_{self.k}")
        if self.j < self.pp - 1:
            self.add(f"send act mb{mb}", NodeType.COMM_SEND_NODE, comm_src=self.me, comm_dst=self._peer(1),
                     comm_tag=2 * mb, comm_size=self.p2p)

    def bwd(self, mb: int) -> None:
        if self.j < self.pp - 1:
            self.add(f"recv grad mb{mb}", NodeType.COMM_RECV_NODE, comm_src=self._peer(1), comm_dst=self.me,
                     comm_tag=2 * mb + 1, comm_size=self.p2p)
        self.add(f"bwd mb{mb}", NodeType.COMP_NODE, self.cb)
        if self.tpb:
            self.add(f"tp all-reduce bwd mb{mb}", NodeType.COMM_COLL_NODE, comm_type=int(CommType.ALL_REDUCE),
                     comm_size=self.tpb, pg_name=f"tp_{self.j}_{self.k}")
        if self.j > 0:
            self.add(f"send grad mb{mb}", NodeType.COMM_SEND_NODE, comm_src=self.me, comm_dst=self._peer(-1),
                     comm_tag=2 * mb + 1, comm_size=self.p2p)


def write(prefix: str | Path, per_rank: list[list[Node]], groups: dict[str, list[int]]) -> list[Path]:
    outs = [rank_path(prefix, rr) for rr in range(len(per_rank))]
    gfile = groups_path(prefix)
    with atomic_group([*outs, gfile]) as tmps:
        for tmp, nodes in zip(tmps, per_rank):
            with ETWriter(tmp, GlobalMetadata(version="0.0.4")) as w:
                w.write_nodes(nodes)
        tmps[-1].write_text(dumps_json(groups))
    return outs


def network_files(cluster: Cluster, gpus: int, directory: Path) -> tuple[Path, Path]:
    """ASTRA-sim configs for the cluster: dim 0 = the GPUs of a node (NVSwitch), dim 1 = nodes (a switch fabric)."""
    gpn = min(cluster.gpus_per_node, gpus)
    if gpus % gpn:
        raise ToolError(f"{gpus} GPUs do not fill whole nodes of {gpn}")
    nodes = gpus // gpn
    gib = 1e9 / 2**30  # our GB/s (1e9) → ASTRA-sim's GB/s (2^30)
    topo = ["Switch"] + (["Switch"] if nodes > 1 else [])
    npus = [gpn] + ([nodes] if nodes > 1 else [])
    bw = [cluster.scaleup_gbps * gib] + ([cluster.scaleout_gbps * gib] if nodes > 1 else [])
    lat = [cluster.scaleup_latency_us * 1e3] + ([cluster.scaleout_latency_us * 1e3] if nodes > 1 else [])
    net = directory / "network.yml"
    net.write_text(f"topology: {topo}\nnpus_count: {npus}\nbandwidth: {bw}\nlatency: {lat}\n".replace("'", ""))
    sysf = directory / "system.json"
    impl = ["ring"] * len(npus)
    sysf.write_text(dumps_json({
        "scheduling-policy": "LIFO", "collective-optimization": "localBWAware", "endpoint-delay": 10,
        "active-chunks-per-dimension": 1, "preferred-dataset-splits": 4, "local-mem-bw": cluster.hbm_gbps,
        "roofline-enabled": 0, "peak-perf": cluster.peak_tflops, "all-reduce-implementation": impl,
        "all-gather-implementation": impl, "reduce-scatter-implementation": impl, "all-to-all-implementation": impl}))
    return sysf, net
