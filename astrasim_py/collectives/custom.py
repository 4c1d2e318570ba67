"""Custom collectives given as Chakra ETs of send/recv nodes per rank (ASTRA-sim's `*-implementation-custom`).

This is how tacos-synth's schedules run. Every rank starts the schedule when the collective starts; a node may
begin once its deps finished (several sends of one rank may be in flight: they use different links); a send takes
the network's one-message delay and a recv ends when its message arrives. No endpoint delay is added per message,
so on direct-neighbour links the result equals a link-level schedule's own prediction. Message sizes scale by
(collective size / the size the schedule was made for), floor, at least 1 byte.
"""

from __future__ import annotations

import heapq
import os
from dataclasses import dataclass
from functools import cached_property

from astrasim_py.config.network import NetworkConfig
from astrasim_py.network.analytical import p2p_ns
from astrasim_py.network.congestion import Links, LinkSim
from chakra_tools.common import ToolError
from chakra_tools.et import CommType, NodeType, attrs_of, int_attr, resolve_trace
from chakra_tools.graph import RankGraph

NAMES = {"all-reduce": CommType.ALL_REDUCE, "all-gather": CommType.ALL_GATHER,
         "reduce-scatter": CommType.REDUCE_SCATTER, "all-to-all": CommType.ALL_TO_ALL}


@dataclass
class CustomCollective:
    comm_type: int
    schedule_size: int
    ranks: dict[int, RankGraph]
    source: str

    @classmethod
    def load(cls, name: str, prefix: str | os.PathLike) -> CustomCollective:
        if name not in NAMES:
            raise ToolError(f"--custom-collective: unknown collective {name!r} (known: {', '.join(NAMES)})")
        files = resolve_trace(prefix)
        ranks = {r: RankGraph.load(p, r) for r, p in files.items()}
        meta = attrs_of(ranks[min(ranks)].metadata)
        made_for = meta.get("comm_type")  # tacos-synth records which collective its schedule implements
        if isinstance(made_for, int) and not isinstance(made_for, bool) and made_for != NAMES[name]:
            kind = CommType(made_for).name if made_for in CommType._value2member_map_ else str(made_for)
            raise ToolError(f"{prefix}: this schedule implements {kind} (metadata comm_type {made_for}), not "
                            f"{NAMES[name].name}: --custom-collective {name}={prefix}")
        size = int(meta.get("comm_size", 0) or 0)
        if size <= 0:
            size = max((int(attrs_of(n).get("comm_size", 0)) for g in ranks.values() for n in g.nodes), default=1)
        for g in ranks.values():
            for n in g.nodes:
                if n.type not in (NodeType.COMM_SEND_NODE, NodeType.COMM_RECV_NODE, NodeType.COMP_NODE,
                                  NodeType.METADATA_NODE):
                    raise ToolError(f"{g.path}: node {n.id} is {NodeType(n.type).name}; a custom collective may "
                                    "only hold send/recv (and compute) nodes")
        return cls(int(NAMES[name]), size, ranks, str(prefix))

    def full_size(self, comm_size: int, npus: int) -> int:
        return comm_size * npus if self.comm_type == CommType.ALL_GATHER else comm_size

    @cached_property
    def _nodes(self) -> list[tuple[int, object, dict]]:
        out = []
        for r, g in self.ranks.items():
            for i in g.issue_order():
                out.append((r, g.by_id[i], attrs_of(g.by_id[i])))
        return out

    def duration_ns(self, full_size: int, net: NetworkConfig, congestion: bool = False) -> int:
        """Length of the schedule when it moves `full_size` bytes."""
        if congestion:
            return self._congested_ns(full_size, net)
        return self._unaware_ns(full_size, net)

    def _congested_ns(self, full_size: int, net: NetworkConfig) -> int:
        """Event-driven over per-link queues: a send leaves when its deps are done, a recv ends at arrival."""
        scale = full_size / self.schedule_size
        sim = LinkSim(Links(net))
        waiting: dict[tuple[int, int], int] = {}
        ready_at: dict[tuple[int, int], int] = {}
        children: dict[tuple[int, int], list[tuple[int, int]]] = {}
        info: dict[tuple[int, int], tuple] = {}
        arrived: dict[tuple[int, int, int], list[int]] = {}
        recv_ready: dict[tuple[int, int, int], list[tuple[int, int]]] = {}
        finish: dict[tuple[int, int], int] = {}
        for r, n, a in self._nodes:
            key = (r, n.id)
            deps = [d for d in dict.fromkeys([*n.data_deps, *n.ctrl_deps]) if d in self.ranks[r].by_id]
            waiting[key] = len(deps)
            ready_at[key] = 0
            for d in deps:
                children.setdefault((r, d), []).append(key)
            info[key] = (n, a)
        events: list[tuple[int, tuple[int, int]]] = []

        def done(key: tuple[int, int], t: int) -> None:
            finish[key] = t
            for c in children.get(key, ()):
                ready_at[c] = max(ready_at[c], t)
                waiting[c] -= 1
                if waiting[c] == 0:
                    start(c)

        def start(key: tuple[int, int]) -> None:
            r, _ = key
            n, a = info[key]
            t = ready_at[key]
            size = max(1, int(int_attr(a, "comm_size", 0) * scale))
            if n.type == NodeType.COMM_SEND_NODE:
                sim.send(t, r, int_attr(a, "comm_dst", -1), size, (r, int_attr(a, "comm_dst", -1),
                                                                   int_attr(a, "comm_tag", 0), key))
            elif n.type == NodeType.COMM_RECV_NODE:
                k = (int_attr(a, "comm_src", -1), r, int_attr(a, "comm_tag", 0))
                if arrived.get(k):
                    heapq.heappush(events, (max(t, arrived[k].pop(0)), key))
                else:
                    recv_ready.setdefault(k, []).append(key)
            else:
                heapq.heappush(events, (t + n.duration_micros * 1000, key))

        for key, w in list(waiting.items()):
            if w == 0:
                start(key)
        while True:  # node completions and link events in time order, so link queues see sends in order
            if events:
                t, key = heapq.heappop(events)
                done(key, t)
                continue
            d = sim.step()
            if d is None:
                break
            t, (src, dst, tag, skey) = d
            done(skey, t)
            k = (src, dst, tag)
            if recv_ready.get(k):
                rkey = recv_ready[k].pop(0)
                heapq.heappush(events, (max(t, ready_at[rkey]), rkey))
            else:
                arrived.setdefault(k, []).append(t)
        if len(finish) != len(info):
            raise ToolError(f"{self.source}: some send/recv nodes can never run (a recv without its send, or a "
                            "dependency cycle)")
        return max(finish.values(), default=0)

    def _unaware_ns(self, full_size: int, net: NetworkConfig) -> int:
        """Longest path: messages do not contend."""
        scale = full_size / self.schedule_size
        finish: dict[tuple[int, int], int] = {}
        arrivals: dict[tuple[int, int, int], list[int]] = {}
        pending = list(self._nodes)
        # Sends are resolved before the recvs that need them: iterate until no progress (graphs are small).
        while pending:
            rest = []
            for r, n, a in pending:
                deps = [finish.get((r, d)) for d in [*n.data_deps, *n.ctrl_deps] if d in self.ranks[r].by_id]
                if any(d is None for d in deps):
                    rest.append((r, n, a))
                    continue
                start = max(deps, default=0)
                size = max(1, int(int_attr(a, "comm_size", 0) * scale))
                if n.type == NodeType.COMM_SEND_NODE:
                    dst = int_attr(a, "comm_dst", -1)
                    if dst not in self.ranks:
                        raise ToolError(f"{self.source}: rank {r} send node {n.id} targets rank {dst}, not in the "
                                        "schedule")
                    end = start + p2p_ns(net, r, dst, size)
                    arrivals.setdefault((r, dst, int_attr(a, "comm_tag", 0)), []).append(end)
                elif n.type == NodeType.COMM_RECV_NODE:
                    key = (int_attr(a, "comm_src", -1), r, int_attr(a, "comm_tag", 0))
                    if not arrivals.get(key):
                        rest.append((r, n, a))
                        continue
                    end = max(start, arrivals[key].pop(0))
                else:
                    end = start + n.duration_micros * 1000
                finish[(r, n.id)] = end
            if len(rest) == len(pending):
                r, n, _ = rest[0]
                raise ToolError(f"{self.source}: rank {r} node {n.id} can never run (a recv without its send, or a "
                                "dependency cycle)")
            pending = rest
        return max(finish.values(), default=0)
