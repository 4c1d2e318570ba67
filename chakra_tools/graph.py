"""Graph model of Chakra ETs: one rank (`RankGraph`) and a multi-rank trace (`Trace`)."""

from __future__ import annotations

import heapq
import json
import os
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any

from chakra_tools.common import ToolError
from chakra_tools.convert.legacy import legacy_hint
from chakra_tools.et import CommType, NodeType, attrs_of, groups_path, int_attr, read_et, resolve_trace
from chakra_tools.schema import et_def_pb2 as pb

COMM_TYPES = (NodeType.COMM_SEND_NODE, NodeType.COMM_RECV_NODE, NodeType.COMM_COLL_NODE)


@dataclass(frozen=True)
class Collective:
    """One COMM_COLL node as seen by cross-rank checks and simulators."""

    node_id: int
    name: str
    comm_type: int
    comm_size: int
    pg_name: str


@dataclass(frozen=True)
class P2P:
    node_id: int
    kind: str  # "send" | "recv"
    src: int
    dst: int
    tag: int
    size: int


@dataclass
class RankGraph:
    """The nodes of one rank, with id lookup, dependencies and issue order."""

    metadata: pb.GlobalMetadata
    nodes: list[pb.Node]
    rank: int = 0
    path: Path | None = None

    @classmethod
    def load(cls, path: str | os.PathLike, rank: int = 0) -> RankGraph:
        meta, nodes = read_et(path)
        return cls(meta, nodes, rank, Path(path))

    @cached_property
    def by_id(self) -> dict[int, pb.Node]:
        return {n.id: n for n in self.nodes}

    @cached_property
    def attrs(self) -> dict[int, dict[str, Any]]:
        """Decoded attributes per node id."""
        return {n.id: attrs_of(n) for n in self.nodes}

    def deps(self, node: pb.Node) -> list[int]:
        """Everything `node` waits for: data and control deps (ASTRA-sim feeder_v3 resolves both), deduplicated."""
        if not node.ctrl_deps:
            return list(node.data_deps)
        return list(dict.fromkeys([*node.data_deps, *node.ctrl_deps]))

    def issue_order(self) -> list[int]:
        """Topological order, lowest ready id first (the feeder's priority). Raises ToolError on a cycle."""
        by_id = self.by_id
        indeg: dict[int, int] = {}
        children: dict[int, list[int]] = {}
        for n in self.nodes:
            ds = [d for d in self.deps(n) if d in by_id]
            indeg[n.id] = len(ds)
            for d in ds:
                children.setdefault(d, []).append(n.id)
        ready = [i for i, k in indeg.items() if k == 0]
        heapq.heapify(ready)
        order = []
        while ready:
            i = heapq.heappop(ready)
            order.append(i)
            for c in children.get(i, ()):
                indeg[c] -= 1
                if indeg[c] == 0:
                    heapq.heappush(ready, c)
        if len(order) != len(indeg):
            cyc = self.find_cycle()
            where = f"{self.path}: " if self.path else ""
            hint = legacy_hint(self.nodes)
            raise ToolError(f"{where}cyclic dependencies: " + " -> ".join(map(str, cyc)) + (f"; {hint}" if hint else ""))
        return order

    def find_cycle(self) -> list[int]:
        """One dependency cycle as a list of ids (first == last), or [] if the graph is acyclic."""
        by_id = self.by_id
        color: dict[int, int] = {}
        for root in by_id:
            if color.get(root):
                continue
            stack: list[tuple[int, Iterator[int]]] = [(root, iter(self.deps(by_id[root])))]
            path = [root]
            color[root] = 1
            while stack:
                nid, it = stack[-1]
                nxt = next(it, None)
                if nxt is None:
                    stack.pop()
                    path.pop()
                    color[nid] = 2
                    continue
                if nxt not in by_id:
                    continue
                c = color.get(nxt, 0)
                if c == 1:
                    return path[path.index(nxt):] + [nxt]
                if c == 0:
                    color[nxt] = 1
                    path.append(nxt)
                    stack.append((nxt, iter(self.deps(by_id[nxt]))))
        return []

    def collectives(self) -> list[Collective]:
        """COMM_COLL nodes in issue order."""
        out = []
        for i in self.issue_order():
            n = self.by_id[i]
            if n.type == NodeType.COMM_COLL_NODE:
                a = self.attrs[i]
                out.append(Collective(i, n.name, int_attr(a, "comm_type", -1), int_attr(a, "comm_size", 0),
                                      str(a.get("pg_name", "") or "")))
        return out

    def p2p(self) -> list[P2P]:
        out = []
        for n in self.nodes:
            if n.type in (NodeType.COMM_SEND_NODE, NodeType.COMM_RECV_NODE):
                a = self.attrs[n.id]
                send = n.type == NodeType.COMM_SEND_NODE
                src = int_attr(a, "comm_src", self.rank if send else -1)
                dst = int_attr(a, "comm_dst", -1 if send else self.rank)
                out.append(P2P(n.id, "send" if send else "recv", src, dst, int_attr(a, "comm_tag", 0),
                               int_attr(a, "comm_size", 0)))
        return out

    def critical_path_us(self) -> int:
        """Longest chain of `duration_micros` through the dependency graph."""
        finish: dict[int, int] = {}
        by_id = self.by_id
        for i in self.issue_order():
            n = by_id[i]
            start = max((finish[d] for d in self.deps(n) if d in finish), default=0)
            finish[i] = start + n.duration_micros
        return max(finish.values(), default=0)

    def process_groups(self) -> dict[str, list[int]]:
        """Process groups declared by `## process_group:init ##` METADATA nodes: {pg_name: ranks}."""
        groups: dict[str, list[int]] = {}
        for n in self.nodes:
            if n.type == NodeType.METADATA_NODE and "process_group:init" in n.name:
                groups.update(parse_pg_init(n.inputs.values))
        return groups


def parse_pg_init(values: str) -> dict[str, list[int]]:
    """Parse the inputs.values of a `## process_group:init ##` node (a Python-repr list holding one JSON string).

    ASTRA-sim strips two characters at each end and JSON-parses the rest; we accept that form and plain JSON.
    """
    text = values.strip()
    candidates = [text, text[2:-2] if len(text) > 4 else text]
    for c in candidates:
        try:
            data = json.loads(c.replace('\\"', '"')) if c else None
        except (json.JSONDecodeError, ValueError):
            continue
        if isinstance(data, list) and data and isinstance(data[0], str):
            try:
                data = json.loads(data[0])
            except json.JSONDecodeError:
                continue
        if isinstance(data, list):
            out = {}
            for g in data:
                if isinstance(g, dict) and "pg_name" in g:
                    ranks = [r for r in g.get("ranks") or [] if isinstance(r, int) and not isinstance(r, bool)]
                    if not ranks:  # torch leaves `ranks` empty for a group spanning the whole world
                        size = g.get("group_size")
                        ranks = list(range(size)) if isinstance(size, int) and size > 0 else []
                    out[str(g["pg_name"])] = ranks
            return out
    return {}


def load_comm_groups(path: str | os.PathLike) -> dict[str, list[int]]:
    """ASTRA-sim comm-group JSON `{"<pg_name>": [rank, ...]}` with a clear error for anything else."""
    from chakra_tools.common import load_data
    data = load_data(path)
    if not isinstance(data, dict) or not all(
            isinstance(v, list) and all(isinstance(r, int) and not isinstance(r, bool) and r >= 0 for r in v)
            for v in data.values()):
        raise ToolError(f"{path}: comm groups must be a mapping of group name to a list of ranks")
    return {str(k): list(v) for k, v in data.items()}


@dataclass
class Trace:
    """A multi-rank trace: `<prefix>.<rank>.et` files."""

    ranks: dict[int, RankGraph]
    prefix: str = ""
    comm_groups: dict[str, list[int]] = field(default_factory=dict)
    groups_path: Path | None = None  # the comm-groups sidecar read, if any

    @classmethod
    def load(cls, spec: str | os.PathLike) -> Trace:
        files = resolve_trace(spec)
        ranks = {r: RankGraph.load(p, r) for r, p in files.items()}
        groups: dict[str, list[int]] = {}
        for g in ranks.values():
            groups.update(g.process_groups())
        groups_file: Path | None = groups_path(spec)
        if groups_file.is_file():  # written by chakra-convert; ASTRA-sim's {"<pg>": [ranks]} format
            groups.update(load_comm_groups(groups_file))
        else:
            groups_file = None
        return cls(ranks, str(spec), groups, groups_file)

    @property
    def num_ranks(self) -> int:
        return len(self.ranks)

    def paths(self) -> list[Path]:
        """The files the trace was read from (rank files, then the comm-groups sidecar)."""
        return [g.path for g in self.ranks.values() if g.path is not None] + (
            [self.groups_path] if self.groups_path is not None else [])

    def group_members(self, pg_name: str) -> list[int]:
        """Ranks of a process group; "", "0" and a group with an empty rank list mean all ranks of the trace."""
        if pg_name in ("", "0") or not self.comm_groups.get(pg_name):
            return sorted(self.ranks)
        return self.comm_groups[pg_name]


def iter_nodes(traces: Iterable[Trace]) -> Iterator[tuple[int, pb.Node]]:
    for t in traces:
        for r, g in t.ranks.items():
            for n in g.nodes:
                yield r, n


def comm_type_name(v: int) -> str:
    try:
        return CommType(v).name
    except ValueError:
        return f"UNKNOWN({v})"
