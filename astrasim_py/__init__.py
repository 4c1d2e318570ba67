"""ASTRA-sim 2.0 in Python: Chakra-driven simulation of distributed training on multi-dimensional networks.

    from astrasim_py import simulate
    result = simulate("et/model", "system.json", "network.yml")
    result.sim_time_ns, result.ranks[0].exposed_comm_ns
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass, field

from astrasim_py.collectives.custom import CustomCollective
from astrasim_py.config.memory import MemoryConfig, load_memory
from astrasim_py.config.network import NetworkConfig, load_network
from astrasim_py.config.system import SystemConfig, load_system
from astrasim_py.engine import NeverRan, RankResult, Simulator, Span
from astrasim_py.report import report_dict, timeline
from astrasim_py.workload import sim_nodes
from chakra_tools.common import ToolError
from chakra_tools.convert.legacy import legacy_hint
from chakra_tools.et import NodeType, groups_path, resolve_trace
from chakra_tools.graph import RankGraph, Trace, load_comm_groups

__all__ = ["simulate", "SimResult", "load_system", "load_network", "load_memory", "SystemConfig", "NetworkConfig",
           "MemoryConfig"]


@dataclass
class SimResult:
    sim_time_ns: int
    ranks: list[RankResult]
    spans: list[Span] = field(default_factory=list)
    backend: str = "analytical"
    rank_classes: int = 1
    npus: int = 0

    def to_dict(self) -> dict:
        return report_dict({r.rank: r for r in self.ranks}, backend=self.backend,
                           symmetric_classes=self.rank_classes, npus=self.npus)

    def timeline(self) -> dict:
        return timeline(self.spans)


def _load(cfg, loader):
    return loader(cfg) if isinstance(cfg, (str, os.PathLike)) else cfg


def simulate(workload: str | os.PathLike | Trace, system: str | os.PathLike | SystemConfig,
             network: str | os.PathLike | NetworkConfig, *, memory: str | os.PathLike | MemoryConfig | None = None,
             comm_groups: str | os.PathLike | dict | None = None, backend: str = "analytical",
             custom_collectives: dict | None = None, timeline: bool = False) -> SimResult:
    """Simulate a Chakra workload (prefix of `<prefix>.<rank>.et` files, or a loaded Trace)."""
    if backend not in ("analytical", "congestion"):
        raise ToolError(f"unknown backend {backend!r} (analytical or congestion)")
    custom = {}
    for name, prefix in (custom_collectives or {}).items():
        cc = CustomCollective.load(name, prefix)
        custom[cc.comm_type] = cc
    sys_cfg = _load(system, load_system)
    net = _load(network, load_network)
    mem = _load(memory, load_memory) if memory is not None else MemoryConfig()
    where = f"{sys_cfg.source}: "
    for coll in ("all-reduce", "all-gather", "reduce-scatter", "all-to-all"):
        impls = getattr(sys_cfg, f"{coll.replace('-', '_')}_implementation")
        if len(impls) > net.dims:
            raise ToolError(f"{where}{coll}-implementation lists {len(impls)} algorithms but the network has "
                            f"{net.dims} dimension(s)")
    groups: dict[str, list[int]] = {}
    if isinstance(comm_groups, (str, os.PathLike)):
        groups = load_comm_groups(comm_groups)
    elif isinstance(comm_groups, dict):
        groups = {str(k): list(v) for k, v in comm_groups.items()}

    if isinstance(workload, Trace):
        graphs = workload.ranks
        groups = {**workload.comm_groups, **groups}
        identical = False
    else:
        files = resolve_trace(workload)
        digests = {r: hashlib.sha256(p.read_bytes()).digest() for r, p in files.items()}
        identical = len(set(digests.values())) == 1 and len(files) > 1
        load = [min(files)] if identical else sorted(files)
        graphs = {r: RankGraph.load(files[r], r) for r in load}
        for g in graphs.values():
            groups = {**g.process_groups(), **groups}
        side = groups_path(workload)
        if side.is_file() and not isinstance(comm_groups, (str, os.PathLike, dict)):
            groups = {**load_comm_groups(side), **groups}
        if identical:
            world = sorted(files)
    if not identical:
        world = sorted(graphs)
    wname = (workload.prefix or "the workload") if isinstance(workload, Trace) else workload
    nname = network if isinstance(network, (str, os.PathLike)) else "the network"
    if len(world) != net.npus:
        raise ToolError(f"{wname}: the workload has {len(world)} rank(s) but {nname} has {net.npus} NPUs "
                        f"(product of npus_count {net.npus_count})")
    if world != list(range(net.npus)):
        lone = len(world) == 1 and str(wname).endswith((".et", ".et.gz"))
        raise ToolError(f"{wname}: workload ranks must be 0..{net.npus - 1}, got {world[:5]}"
                        + (" (a lone rank file keeps the rank its name gives: pass the trace's prefix, or copy the "
                           "file to NAME.0.et)" if lone else "…"))
    nodes = {r: sim_nodes(g) for r, g in graphs.items()}
    # Identical files of ranks that only talk in collectives behave identically: simulate one (symmetry).
    # (not with point-to-point messages, sub-groups or a shared remote memory, where ranks interact asymmetrically)
    symmetric = identical and not any(
        n.kind in (NodeType.COMM_SEND_NODE, NodeType.COMM_RECV_NODE, NodeType.MEM_LOAD_NODE, NodeType.MEM_STORE_NODE)
        or n.pg_name for ns in nodes.values() for n in ns)
    if identical and not symmetric:
        graphs = {r: RankGraph.load(files[r], r) for r in world}
        nodes = {r: sim_nodes(g) for r, g in graphs.items()}
    sim = Simulator(nodes, sys_cfg, net, mem, groups, world=world, record_spans=timeline, symmetric=symmetric,
                    custom=custom, congestion=backend == "congestion")
    try:
        results = sim.run()
    except NeverRan as e:  # name the cycle and the file (and the fix, for an ET written for Chakra's feeder)
        g = graphs.get(e.rank) or next(iter(graphs.values()))
        cyc = g.find_cycle()
        if not cyc:
            raise
        hint = legacy_hint(g.nodes)
        raise ToolError(f"{g.path or f'rank {e.rank}'}: cyclic dependencies: " + " -> ".join(map(str, cyc))
                        + (f"; {hint}" if hint else "")) from None
    except ValueError as e:  # a system setting the workload needs (e.g. local-mem-bw for reductions)
        raise ToolError(f"{where}{e}") from e
    spans = sim.spans
    if symmetric:
        rep = results[world[0]]
        results = {r: RankResult(r, rep.finish_ns, rep.compute_ns, rep.comm_ns, rep.cpu_ns) for r in world}
        spans = [Span(r, s.lane, s.name, s.start, s.end) for r in world for s in sim.spans] if timeline else []
    ranks = [results[r] for r in world]
    return SimResult(max(r.finish_ns for r in ranks), ranks, spans, backend, 1 if symmetric else len(world), net.npus)
