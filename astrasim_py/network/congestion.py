"""Congestion-aware network: per-link FIFO queues, store-and-forward per hop, switches as real nodes.

Links of an ASTRA-sim multi-dimensional description: Ring = bidirectional links to both neighbours in the
dimension, FullyConnected = a link between every pair, Switch = one switch per dimension line with an up- and a
down-link per NPU. A message occupies each link of its route for `floor(bytes / bw)` and reaches the next device
`floor(latency + bytes / bw)` after it started on that link (ASTRA-sim's congestion-aware semantics); a busy link
queues messages first-come first-served. Routes are dimension-ordered (dim 0 first), shortest way round a ring.
Unlike ASTRA-sim's backend this one handles any number of dimensions.
"""

from __future__ import annotations

import heapq
from dataclasses import dataclass, field

from astrasim_py.config.network import NetworkConfig


@dataclass
class Links:
    """The directed links of one network; ids index `bw` (B/ns) and `lat` (ns)."""

    net: NetworkConfig
    bw: list[float] = field(default_factory=list)
    lat: list[float] = field(default_factory=list)
    index: dict[tuple, int] = field(default_factory=dict)

    def link(self, key: tuple, dim: int) -> int:
        lid = self.index.get(key)
        if lid is None:
            lid = self.index[key] = len(self.bw)
            self.bw.append(self.net.bytes_per_ns(dim))
            self.lat.append(self.net.latency[dim])
        return lid

    def route(self, src: int, dst: int) -> list[int]:
        """Link ids from NPU src to NPU dst, dimension by dimension."""
        net = self.net
        cur = net.coords(src)
        goal = net.coords(dst)
        path: list[int] = []
        for d in range(net.dims):
            n = net.npus_count[d]
            if cur[d] == goal[d]:
                continue
            kind = net.topology[d]
            line = tuple(c if i != d else -1 for i, c in enumerate(cur))
            if kind == "Ring":
                fwd = (goal[d] - cur[d]) % n
                step = 1 if fwd <= n - fwd else -1
                while cur[d] != goal[d]:
                    nxt = (cur[d] + step) % n
                    path.append(self.link(("ring", d, line, cur[d], nxt), d))
                    cur[d] = nxt
            elif kind == "FullyConnected":
                path.append(self.link(("fc", d, line, cur[d], goal[d]), d))
                cur[d] = goal[d]
            else:  # Switch: up to the line's switch, down to the destination
                path.append(self.link(("up", d, line, cur[d]), d))
                path.append(self.link(("down", d, line, goal[d]), d))
                cur[d] = goal[d]
        return path


class LinkSim:
    """Delivers messages through per-link FIFO queues; call `send` in nondecreasing time, then `run`."""

    def __init__(self, links: Links):
        self.links = links
        self.free: dict[int, int] = {}
        self.events: list[tuple[int, int, int, int]] = []  # (time at a link's input, seq, message, hop)
        self.msgs: list[tuple[list[int], int, object]] = []
        self.seq = 0

    def send(self, t: int, src: int, dst: int, nbytes: int, token: object) -> None:
        path = self.links.route(src, dst)
        self.msgs.append((path, nbytes, token))
        self._at(t, len(self.msgs) - 1, 0)

    def _at(self, t: int, m: int, hop: int) -> None:
        self.seq += 1
        heapq.heappush(self.events, (t, self.seq, m, hop))

    def step(self, limit: float = float("inf")) -> tuple[int, object] | None:
        """Advance to the next delivery at or before `limit`: (arrival time, token), or None."""
        while self.events and self.events[0][0] <= limit:
            t, _, m, hop = heapq.heappop(self.events)
            path, nbytes, token = self.msgs[m]
            if hop == len(path):
                return t, token
            lid = path[hop]
            start = max(t, self.free.get(lid, 0))
            bw, lat = self.links.bw[lid], self.links.lat[lid]
            self.free[lid] = start + int(nbytes / bw)
            self._at(start + int(lat + nbytes / bw), m, hop + 1)
        return None

    @property
    def next_time(self) -> int | None:
        return self.events[0][0] if self.events else None
