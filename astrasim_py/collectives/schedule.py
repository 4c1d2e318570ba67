"""A whole native collective: chunking into streams, phases per dimension, and the per-dimension queues.

Each stream (chunk) runs its phases in order; every dimension is a queue served by `active-chunks-per-dimension`
streams at a time, LIFO (newest first) or FIFO. A phase's time is the closed form of collectives/phase.py. All member
ranks advance in lock step, so one small event simulation over the streams gives the collective's duration.
"""

from __future__ import annotations

import heapq
from dataclasses import dataclass
from functools import lru_cache
from math import ceil

from astrasim_py.collectives.phase import AG, AR, RS, output_bytes, phase_ns
from astrasim_py.collectives.phase_congestion import phase_congestion_ns
from astrasim_py.config.network import NetworkConfig
from astrasim_py.config.system import SystemConfig


@dataclass(frozen=True)
class GroupShape:
    """The dimensions a communicator spans: (network dim, nodes in that dim) in dim order."""

    dims: tuple[tuple[int, int], ...]
    npus: int


def group_shape(net: NetworkConfig, members: tuple[int, ...], involved: tuple[bool, ...] | None = None) -> GroupShape:
    """Dims spanned by `members`. A sub-grid keeps its dims; any other subset runs as one logical ring on the
    first dimension where its members differ (documented approximation)."""
    coords = [net.coords(m) for m in members]
    per_dim = [sorted({c[d] for c in coords}) for d in range(net.dims)]
    sizes = [len(v) for v in per_dim]
    full = 1
    for s in sizes:
        full *= s
    if full == len(members):
        dims = tuple((d, s) for d, s in enumerate(sizes) if s > 1 and (involved is None or
                                                                      (d < len(involved) and involved[d])))
        return GroupShape(dims, len(members))
    first = next((d for d, s in enumerate(sizes) if s > 1), 0)
    return GroupShape(((first, len(members)),), len(members))


def phases(coll: str, shape: GroupShape, system: SystemConfig) -> list[tuple[int, str]]:
    """(dim, phase collective) for one stream."""
    dims = [d for d, _ in shape.dims]
    if not dims:
        return []
    if coll == AR and system.collective_optimization == "localBWAware" and len(dims) > 1:
        return [(d, RS) for d in dims[:-1]] + [(dims[-1], AR)] + [(d, AG) for d in reversed(dims[:-1])]
    if coll == AG:
        return [(d, AG) for d in reversed(dims)]
    return [(d, coll) for d in dims]


def _impl(system: SystemConfig, coll: str, dim: int) -> str:
    impls = getattr(system, f"{coll}_implementation")
    return impls[dim] if dim < len(impls) else impls[-1]


def collective_ns(coll: str, size: int, shape: GroupShape, system: SystemConfig, net: NetworkConfig,
                  congestion: bool = False) -> int:
    """Duration of one collective (cached: every rank of a lock-step collective asks the same question).

    With `congestion`, each phase is simulated message by message over per-link queues; dimensions have
    disjoint links, so phases of different dimensions do not interfere."""
    return _collective_ns(coll, size, shape, _system_key(system), _net_key(net), congestion)


def _net_key(net: NetworkConfig) -> tuple:
    return (tuple(net.topology), tuple(net.npus_count), tuple(net.bandwidth), tuple(net.latency))


def _system_key(s: SystemConfig) -> tuple:
    return (s.scheduling_policy, s.collective_optimization, s.endpoint_delay, s.active_chunks_per_dimension,
            s.preferred_dataset_splits, s.local_mem_bw, tuple(s.all_reduce_implementation),
            tuple(s.all_gather_implementation), tuple(s.reduce_scatter_implementation),
            tuple(s.all_to_all_implementation), s.num_queues_per_dim)


@lru_cache(maxsize=4096)
def _collective_ns(coll: str, size: int, shape: GroupShape, skey: tuple, nkey: tuple, congestion: bool) -> int:
    system = SystemConfig(scheduling_policy=skey[0], collective_optimization=skey[1], endpoint_delay=skey[2],
                          active_chunks_per_dimension=skey[3], preferred_dataset_splits=skey[4], local_mem_bw=skey[5],
                          all_reduce_implementation=list(skey[6]), all_gather_implementation=list(skey[7]),
                          reduce_scatter_implementation=list(skey[8]), all_to_all_implementation=list(skey[9]),
                          num_queues_per_dim=skey[10])
    net = NetworkConfig(list(nkey[0]), list(nkey[1]), list(nkey[2]), list(nkey[3]))
    splits = system.preferred_dataset_splits
    chunk = size // splits
    if coll != AG and chunk < shape.npus:
        chunk, size = shape.npus, splits * shape.npus
    streams = max(1, ceil(size / chunk)) if chunk else 1
    plan = phases(coll, shape, system)
    if not plan:
        return 0
    n_of = dict(shape.dims)
    durations = []
    data = float(chunk)
    for dim, pc in plan:
        n = n_of[dim]
        algo = _impl(system, pc, dim)
        if congestion:
            ns = phase_congestion_ns(algo, pc, net.topology[dim], n, net.bandwidth[dim], net.latency[dim], data,
                                     system.endpoint_delay, system.local_mem_bw)
        else:
            ns = phase_ns(algo, pc, net, dim, n, data, system.endpoint_delay, system.local_mem_bw)
        durations.append((dim, ns))
        data = output_bytes(pc, n, data)
    servers = max(1, ceil(system.active_chunks_per_dimension / max(1, system.num_queues_per_dim)))
    return pipeline_ns(durations, streams, servers, system.scheduling_policy != "FIFO")


def pipeline_ns(plan: list[tuple[int, int]], streams: int, servers: int, lifo: bool) -> int:
    """Finish time of `streams` identical streams through per-dimension queues with `servers` each."""
    queues: dict[int, list[int]] = {d: [] for d, _ in plan}
    busy = dict.fromkeys(queues, 0)
    events: list[tuple[int, int, int]] = []  # (time, stream, phase index)
    at: dict[int, int] = {}

    def start(d: int, t: int) -> None:
        q = queues[d]
        while busy[d] < servers and q:
            s = q.pop() if lifo else q.pop(0)
            busy[d] += 1
            k = at[s]
            heapq.heappush(events, (t + plan[k][1], s, k))

    first = plan[0][0]
    for s in range(streams):
        at[s] = 0
        queues[first].append(s)
    start(first, 0)
    end = 0
    while events:
        t, s, k = heapq.heappop(events)
        d = plan[k][0]
        busy[d] -= 1
        end = max(end, t)
        if k + 1 < len(plan):
            at[s] = k + 1
            nd = plan[k + 1][0]
            queues[nd].append(s)
            start(nd, t)
        start(d, t)
    return end
