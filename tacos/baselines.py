"""Classic collective algorithms on the same topology and link model, for comparison with a synthesized schedule.

Each algorithm is a sequence of steps; a step is a set of messages (src, dst, bytes) routed on shortest paths.
A step takes, over its messages, the longest store-and-forward path time where every link on the path costs
latency + (all bytes the step puts on that link) / bandwidth — so messages sharing a link slow each other down.
"""

from __future__ import annotations

from collections import deque
from math import log2, prod

from astrasim_py.topology import Link, Topology

Step = list[tuple[int, int, float]]


class Router:
    def __init__(self, topo: Topology):
        self.topo = topo
        self.link = {(ln.src, ln.dst): ln for ln in topo.links}
        adj: dict[int, list[int]] = {}
        for ln in sorted(topo.links, key=lambda x: (x.src, x.dst)):
            adj.setdefault(ln.src, []).append(ln.dst)
        self.adj = adj
        self.paths: dict[int, dict[int, list[int]]] = {}

    def path(self, s: int, d: int) -> list[tuple[int, int]]:
        if s not in self.paths:
            prev = {s: -1}
            q = deque([s])
            while q:
                u = q.popleft()
                for v in self.adj.get(u, ()):
                    if v not in prev:
                        prev[v] = u
                        q.append(v)
            self.paths[s] = prev  # type: ignore[assignment]
        prev = self.paths[s]
        hops = []
        v = d
        while v != s:
            u = prev[v]  # type: ignore[index]
            hops.append((u, v))
            v = u
        return hops[::-1]

    def step_ns(self, step: Step) -> int:
        load: dict[tuple[int, int], float] = {}
        routes = []
        for s, d, b in step:
            p = self.path(s, d)
            routes.append(p)
            for h in p:
                load[h] = load.get(h, 0.0) + b
        worst = 0.0
        for p in routes:
            t = 0.0
            for h in p:
                ln: Link = self.link[h]
                t += ln.latency_ns + load[h] / (ln.bandwidth * (1 << 30) / 1e9)
            worst = max(worst, t)
        return int(worst)

    def run(self, steps: list[Step]) -> int:
        return sum(self.step_ns(s) for s in steps)


def _ring_steps(n: int, size: float, coll: str, order: list[int], bidirectional: bool) -> list[Step]:
    parts = 2 if bidirectional else 1
    msg = size / n / parts
    one = [(order[i], order[(i + 1) % n], msg) for i in range(n)]
    if bidirectional:
        one += [(order[(i + 1) % n], order[i], msg) for i in range(n)]
    rounds = {"all-gather": n - 1, "reduce-scatter": n - 1, "all-reduce": 2 * (n - 1)}[coll]
    return [one] * rounds


def _direct_steps(n: int, size: float, coll: str) -> list[Step]:
    one = [(a, b, size / n) for a in range(n) for b in range(n) if a != b]
    return [one] * (2 if coll == "all-reduce" else 1)


def _rhd_steps(n: int, size: float, coll: str) -> list[Step] | None:
    if n & (n - 1):
        return None
    k = int(log2(n))
    rs = [[(i, i ^ (1 << s), size / (2 << s)) for i in range(n)] for s in range(k)]
    ag = [[(i, i ^ (1 << s), size / (2 << s)) for i in range(n)] for s in reversed(range(k))]
    return {"reduce-scatter": rs, "all-gather": ag, "all-reduce": rs + ag}[coll]


def _hier_steps(topo: Topology, size: float, coll: str) -> list[Step] | None:
    dims = topo.dims
    if len(dims) < 2 or prod(dims) != topo.npus:
        return None
    strides = [prod(dims[:i]) for i in range(len(dims))]
    steps: list[Step] = []

    def ring_in_dim(d: int, msg: float) -> Step:
        out = []
        for a in range(topo.npus):
            c = (a // strides[d]) % dims[d]
            out.append((a, a + (((c + 1) % dims[d]) - c) * strides[d], msg))
        return out

    data = size
    rs: list[Step] = []
    for d in range(len(dims)):
        rs += [ring_in_dim(d, data / dims[d])] * (dims[d] - 1)
        data /= dims[d]
    ag: list[Step] = []
    for d in reversed(range(len(dims))):
        ag += [ring_in_dim(d, data)] * (dims[d] - 1)
        data *= dims[d]
    steps = {"reduce-scatter": rs, "all-gather": ag, "all-reduce": rs + ag}[coll]
    return steps


def _ring_order(r: Router, topo: Topology) -> list[int]:
    """A ring through neighbours where possible: a boustrophedon (snake) walk of a mesh/torus grid, otherwise a
    greedy walk to the lowest unvisited neighbour (jumping to the nearest unvisited NPU when stuck)."""
    n = topo.npus
    if topo.dims and prod(topo.dims) == n and len(topo.dims) > 1:
        order = [0]
        for d, size in enumerate(topo.dims):
            stride = prod(topo.dims[:d])
            block = list(order)
            order = []
            for c in range(size):
                seq = block if c % 2 == 0 else block[::-1]
                order += [v + c * stride for v in seq]
        return order
    order, seen, u = [0], {0}, 0
    while len(order) < n:
        nxt = [v for v in r.adj.get(u, ()) if v not in seen]
        if not nxt:
            dist = {v: len(r.path(u, v)) for v in range(n) if v not in seen}
            nxt = [min(dist, key=lambda v: (dist[v], v))]
        u = min(nxt)
        seen.add(u)
        order.append(u)
    return order


def baselines(topo: Topology, coll: str, size: int) -> dict[str, int | None]:
    """Predicted times (ns) of the classic algorithms; None where an algorithm does not apply."""
    r = Router(topo)
    n = topo.npus
    order = _ring_order(r, topo)
    rhd = _rhd_steps(n, size, coll)
    hier = _hier_steps(topo, size, coll)
    return {
        "ring": r.run(_ring_steps(n, size, coll, order, False)),
        "bidirectional_ring": r.run(_ring_steps(n, size, coll, order, True)),
        "direct": r.run(_direct_steps(n, size, coll)),
        "halving_doubling": r.run(rhd) if rhd is not None else None,
        "hierarchical_ring": r.run(hier) if hier is not None else None,
    }
