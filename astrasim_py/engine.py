"""The event loop: every rank issues its nodes under ASTRA-sim's rules; collectives rendezvous across members.

Per rank, a node is issued once all its data and control deps finished and its resource is free: at most one GPU
compute, one GPU communication (collective or send) and one CPU op in flight; receives, memory accesses and
metadata nodes are not limited. Among ready nodes the lowest id goes first (the feeder's priority). A collective
starts when every member rank has issued it and takes the native algorithm's time on all of them.
"""

from __future__ import annotations

import heapq
from collections import defaultdict
from dataclasses import dataclass, field

from astrasim_py.collectives.custom import CustomCollective
from astrasim_py.collectives.phase import A2A, AG, AR, RS
from astrasim_py.collectives.schedule import collective_ns, group_shape
from astrasim_py.config.memory import MemoryConfig
from astrasim_py.config.network import NetworkConfig
from astrasim_py.config.system import SystemConfig
from astrasim_py.network.analytical import p2p_ns
from astrasim_py.network.congestion import Links, LinkSim
from astrasim_py.workload import CPU, GPU_COMM, GPU_COMP, INSTANT, MEM, RECV, SimNode
from chakra_tools.common import ToolError
from chakra_tools.et import CommType, NodeType

_COLL = {CommType.ALL_REDUCE: AR, CommType.ALL_GATHER: AG, CommType.REDUCE_SCATTER: RS, CommType.ALL_TO_ALL: A2A}
_LIMITED = (GPU_COMP, GPU_COMM, CPU)


class NeverRan(ToolError):
    """Nodes of a rank that never became ready: a dependency cycle (the caller names it with the rank's file)."""

    def __init__(self, rank: int, message: str):
        super().__init__(message)
        self.rank = rank


@dataclass
class Span:
    rank: int
    lane: str
    name: str
    start: int
    end: int


@dataclass
class RankResult:
    rank: int
    finish_ns: int = 0
    compute_ns: int = 0
    comm_ns: int = 0
    cpu_ns: int = 0

    @property
    def exposed_comm_ns(self) -> int:
        """ASTRA-sim's definition: finish time minus GPU compute time."""
        return self.finish_ns - self.compute_ns


@dataclass
class _Rank:
    rank: int
    nodes: dict[int, SimNode]
    waiting: dict[int, int] = field(default_factory=dict)
    children: dict[int, list[int]] = field(default_factory=lambda: defaultdict(list))
    ready: dict[int, list[int]] = field(default_factory=lambda: defaultdict(list))
    busy: dict[int, bool] = field(default_factory=dict)
    done: int = 0
    coll_seq: dict[str, int] = field(default_factory=lambda: defaultdict(int))


class Simulator:
    def __init__(self, ranks: dict[int, list[SimNode]], system: SystemConfig, network: NetworkConfig,
                 memory: MemoryConfig | None = None, comm_groups: dict[str, list[int]] | None = None,
                 world: list[int] | None = None, record_spans: bool = False, symmetric: bool = False,
                 custom: dict[int, CustomCollective] | None = None, congestion: bool = False):
        """`symmetric`: `ranks` holds one representative of identical ranks, so a collective it issues is issued by
        every member at the same time and starts at once."""
        self.system, self.net, self.mem = system, network, memory or MemoryConfig()
        self.groups = comm_groups or {}
        self.world = world or sorted(ranks)
        self.record = record_spans
        self.symmetric = symmetric
        self.custom = custom or {}
        self.congestion = congestion
        self.links = Links(network) if congestion else None
        self.linksim = LinkSim(self.links) if congestion else None
        self.spans: list[Span] = []
        self.results = {r: RankResult(r) for r in ranks}
        self.events: list[tuple[int, int, int, int]] = []  # (time, seq, rank, node id)
        self.seq = 0
        self.ranks: dict[int, _Rank] = {}
        for r, nodes in ranks.items():
            st = _Rank(r, {n.id: n for n in nodes})
            for n in nodes:
                st.waiting[n.id] = len(n.deps)
                for d in n.deps:
                    st.children[d].append(n.id)
            self.ranks[r] = st
        self.rendezvous: dict[tuple[str, int], dict[int, tuple[int, SimNode]]] = {}
        self.mailbox: dict[tuple[int, int, int], list[int]] = defaultdict(list)   # (src, dst, tag) → arrivals
        self.recv_wait: dict[tuple[int, int, int], list[tuple[int, int, int]]] = defaultdict(list)
        self.mem_free: dict[int, int] = defaultdict(int)
        self.start: dict[tuple[int, int], int] = {}

    # ------------------------------------------------------------------ issue
    def _push(self, t: int, rank: int, nid: int) -> None:
        self.seq += 1
        heapq.heappush(self.events, (t, self.seq, rank, nid))

    def _make_ready(self, st: _Rank, nid: int) -> None:
        heapq.heappush(st.ready[st.nodes[nid].resource], nid)

    def _issue(self, st: _Rank, t: int) -> None:
        for res, heap in st.ready.items():
            while heap and not (res in _LIMITED and st.busy.get(res)):
                nid = heapq.heappop(heap)
                if res in _LIMITED:
                    st.busy[res] = True
                self._begin(st, st.nodes[nid], t)

    def _begin(self, st: _Rank, n: SimNode, t: int) -> None:
        self.start[(st.rank, n.id)] = t
        if n.kind == NodeType.COMP_NODE:
            self._push(t + self._compute_ns(n), st.rank, n.id)
        elif n.kind == NodeType.COMM_COLL_NODE:
            self._collective(st, n, t)
        elif n.kind == NodeType.COMM_SEND_NODE:
            if n.dst not in self.ranks:
                raise ToolError(f"rank {st.rank}: send node {n.id} ({n.name!r}) targets rank {n.dst}, "
                                "which is not in the workload")
            if self.linksim is not None:
                self.linksim.send(t, st.rank, n.dst, n.comm_size, (st.rank, n.id, n.dst, n.tag))
            else:
                self._deliver(t + p2p_ns(self.net, st.rank, n.dst, n.comm_size), st.rank, n.id, n.dst, n.tag)
        elif n.kind == NodeType.COMM_RECV_NODE:
            key = (n.src, st.rank, n.tag)
            if self.mailbox[key]:
                self._push(max(t, self.mailbox[key].pop(0)), st.rank, n.id)
            else:
                self.recv_wait[key].append((t, st.rank, n.id))
        elif n.kind in (NodeType.MEM_LOAD_NODE, NodeType.MEM_STORE_NODE):
            if self.mem.memory_type == "NO_MEMORY_EXPANSION":
                raise ToolError(f"rank {st.rank}: memory node {n.id} ({n.name!r}) needs a remote memory, but the "
                                "memory config is NO_MEMORY_EXPANSION (give --memory)")
            server = self.mem.server_of(st.rank)
            begin = t if server is None else max(t, self.mem_free[server])
            end = begin + self.mem.access_ns(n.tensor_size)
            if server is not None:
                self.mem_free[server] = end
            self._push(end, st.rank, n.id)
        else:
            self._push(t, st.rank, n.id)

    def _deliver(self, arrival: int, src: int, send_id: int, dst: int, tag: int) -> None:
        """A message arrived: the send ends; the matching recv ends now or when it is issued."""
        self._push(arrival, src, send_id)
        key = (src, dst, tag)
        if self.recv_wait[key]:
            rt, rr, rid = self.recv_wait[key].pop(0)
            self._push(max(arrival, rt), rr, rid)
        else:
            self.mailbox[key].append(arrival)

    def _compute_ns(self, n: SimNode) -> int:
        s = self.system
        if s.roofline and n.resource == GPU_COMP:
            if n.tensor_size == 0:
                return 0
            perf = min(s.local_mem_bw * 1e9 * n.num_ops / n.tensor_size, s.peak_perf * 1e12)
            return int(n.num_ops / perf * 1e9) if perf > 0 else 0
        return n.duration_us * 1000 or 1

    def _collective(self, st: _Rank, n: SimNode, t: int) -> None:
        ct = n.comm_type
        if ct == CommType.BROADCAST:  # replayed by duration, like ASTRA-sim
            self._push(t + (n.duration_us * 1000 or 1), st.rank, n.id)
            return
        if ct not in _COLL and ct != CommType.BARRIER:
            name = CommType(ct).name if ct in CommType._value2member_map_ else str(ct)
            raise ToolError(f"rank {st.rank}: collective node {n.id} ({n.name!r}) has unsupported comm_type {name} "
                            "(supported: ALL_REDUCE, ALL_GATHER, REDUCE_SCATTER, ALL_TO_ALL, BROADCAST, BARRIER)")
        members = self._members(n.pg_name, st.rank, n)
        size = int(n.comm_size * self.system.comm_scale)
        k = st.coll_seq[n.pg_name]
        st.coll_seq[n.pg_name] += 1
        key = (n.pg_name, k)
        arrived = self.rendezvous.setdefault(key, {})
        if arrived:
            r0, (_, n0) = next(iter(arrived.items()))
            if (n0.comm_type, n0.comm_size) != (n.comm_type, n.comm_size):
                raise ToolError(
                    f"collective #{k} of group '{n.pg_name or 'all'}' does not match across ranks: rank {r0} node "
                    f"{n0.id} is {_ct(n0.comm_type)} {n0.comm_size} B, rank {st.rank} node {n.id} is "
                    f"{_ct(n.comm_type)} {n.comm_size} B (this would deadlock ASTRA-sim)")
        arrived[st.rank] = (t, n)
        if len(arrived) == len(members) or self.symmetric:
            begin = max(v[0] for v in arrived.values())
            if ct == CommType.BARRIER:
                dur = 0
            elif ct in self.custom:
                cc = self.custom[ct]
                if len(members) != len(cc.ranks):
                    raise ToolError(f"custom {_ct(ct)} from {cc.source} has {len(cc.ranks)} ranks but node {n.id} "
                                    f"runs on {len(members)}")
                dur = cc.duration_ns(cc.full_size(size, len(members)), self.net, self.congestion)
            else:
                dur = collective_ns(_COLL[ct], size, group_shape(self.net, members, n.involved), self.system,
                                    self.net, self.congestion)
            for r, (_, node) in arrived.items():
                self._push(begin + dur, r, node.id)
            del self.rendezvous[key]

    def _group(self, pg: str) -> tuple[int, ...]:
        """The ranks of a process group: "" and a group declared with an empty rank list are the whole world."""
        if pg == "" or (pg in self.groups and not self.groups[pg]):
            return tuple(self.world)
        return tuple(self.groups.get(pg, ()))

    def _members(self, pg: str, rank: int, n: SimNode) -> tuple[int, ...]:
        if pg == "":
            return tuple(self.world)
        if pg not in self.groups:
            raise ToolError(f"rank {rank}: collective node {n.id} ({n.name!r}) uses process group '{pg}', which no "
                            "comm-group file or process_group:init node defines (give --comm-groups)")
        members = self._group(pg)
        if rank not in members:
            raise ToolError(f"rank {rank}: collective node {n.id} uses process group '{pg}' = {list(members)}, "
                            "which does not contain this rank")
        missing = [m for m in members if m not in self.world]
        if missing:
            raise ToolError(f"process group '{pg}' names rank(s) {missing} that have no workload file")
        return members

    # ------------------------------------------------------------------ run
    def run(self) -> dict[int, RankResult]:
        for st in self.ranks.values():
            for nid, w in st.waiting.items():
                if w == 0:
                    self._make_ready(st, nid)
            self._issue(st, 0)
        while True:
            if self.linksim is not None:
                d = self.linksim.step(self.events[0][0] if self.events else float("inf"))
                if d is not None:
                    arrival, (src, send_id, dst, tag) = d
                    self._deliver(arrival, src, send_id, dst, tag)
                    continue
            if not self.events:
                break
            t, _, r, nid = heapq.heappop(self.events)
            st = self.ranks[r]
            n = st.nodes[nid]
            res = self.results[r]
            begin = self.start.pop((r, nid))
            if n.resource in _LIMITED:
                st.busy[n.resource] = False
            if n.resource == GPU_COMP:
                res.compute_ns += t - begin
            elif n.resource == CPU:
                res.cpu_ns += t - begin
            elif n.resource in (GPU_COMM, RECV):
                res.comm_ns += t - begin
            res.finish_ns = max(res.finish_ns, t)
            if self.record and n.resource != INSTANT:
                self.spans.append(Span(r, _LANE[n.resource], n.name, begin, t))
            st.done += 1
            for c in st.children.get(nid, ()):
                st.waiting[c] -= 1
                if st.waiting[c] == 0:
                    self._make_ready(st, c)
            self._issue(st, t)
        self._check_finished()
        return self.results

    def _check_finished(self) -> None:
        stuck = [st for st in self.ranks.values() if st.done < len(st.nodes)]
        if not stuck:
            return
        for (pg, k), arrived in self.rendezvous.items():
            members = self._group(pg)
            absent = [m for m in members if m not in arrived]
            r0, (_, n0) = next(iter(arrived.items()))
            raise ToolError(f"deadlock: collective #{k} of group '{pg or 'all'}' ({_ct(n0.comm_type)} {n0.comm_size} B, "
                            f"node {n0.id} on rank {r0}) was issued by rank(s) {sorted(arrived)} but never by "
                            f"rank(s) {absent}")
        for (src, _dst, tag), waits in self.recv_wait.items():
            if waits:
                _, rr, rid = waits[0]
                raise ToolError(f"deadlock: rank {rr} recv node {rid} waits for a message from rank {src} with tag "
                                f"{tag} that is never sent")
        st = stuck[0]
        pending = [nid for nid, w in st.waiting.items() if w > 0][:3]
        raise NeverRan(st.rank, f"rank {st.rank}: {len(st.nodes) - st.done} node(s) never ran (e.g. {pending}): "
                                "their dependencies cannot finish (cycle?)")


_LANE = {GPU_COMP: "compute", GPU_COMM: "comm", CPU: "cpu", RECV: "recv", MEM: "memory"}


def _ct(v: int) -> str:
    return CommType(v).name if v in CommType._value2member_map_ else str(v)
