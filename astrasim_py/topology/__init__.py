"""Link-level topologies: directed links with bandwidth and latency between NPUs.

Used by tacos-synth (collective synthesis). Sources: generators (ring, mesh2d, torus2d, mesh3d, torus3d, hypercube,
fully_connected, switch), ASTRA-sim's analytical network YAML, or explicit link lists; `failed_links` removes links.
Bandwidth is in GB/s with GB = 2^30 B (ASTRA-sim's convention), latency in ns.
"""

from __future__ import annotations

import os
from collections import deque
from dataclasses import dataclass, field
from itertools import product
from math import prod
from typing import Any

from chakra_tools.common import ConfigError, ToolError, load_mapping

MAX_NPUS = 65536
GENERATORS = ("ring", "mesh2d", "torus2d", "mesh3d", "torus3d", "hypercube", "fully_connected", "switch")


@dataclass(frozen=True)
class Link:
    src: int
    dst: int
    bandwidth: float   # GB/s, GB = 2^30 B
    latency_ns: float

    def time_ns(self, nbytes: float) -> int:
        """One chunk over this link: floor(latency + bytes / (bw * 2^30 / 1e9)), as ASTRA-sim."""
        return int(self.latency_ns + nbytes / (self.bandwidth * (1 << 30) / 1e9))


@dataclass
class Topology:
    npus: int
    links: list[Link]
    dims: list[int] = field(default_factory=list)      # generator shape, for per-dimension baselines
    kind: str = "explicit"
    dim_of_link: dict[tuple[int, int], int] = field(default_factory=dict)

    def check_connected(self, where: str = "topology") -> None:
        out: dict[int, list[int]] = {}
        back: dict[int, list[int]] = {}
        for ln in self.links:
            out.setdefault(ln.src, []).append(ln.dst)
            back.setdefault(ln.dst, []).append(ln.src)
        for adj, what in ((out, "reach"), (back, "be reached from")):
            seen = {0}
            q = deque([0])
            while q:
                u = q.popleft()
                for v in adj.get(u, ()):
                    if v not in seen:
                        seen.add(v)
                        q.append(v)
            if len(seen) != self.npus:
                missing = sorted(set(range(self.npus)) - seen)
                raise ToolError(f"{where}: disconnected: NPU 0 cannot {what} NPU(s) {missing[:8]}"
                                f"{'…' if len(missing) > 8 else ''}")

    def transposed(self) -> Topology:
        return Topology(self.npus, [Link(ln.dst, ln.src, ln.bandwidth, ln.latency_ns) for ln in self.links],
                        self.dims, self.kind, {(b, a): d for (a, b), d in self.dim_of_link.items()})


def _per_dim(value: Any, ndims: int, key: str, file: Any) -> list[float]:
    vals = value if isinstance(value, list) else [value] * ndims
    if len(vals) != ndims:
        raise ConfigError(file, key, f"expected {ndims} values (one per dimension), got {len(vals)}")
    out = []
    for i, v in enumerate(vals):
        if isinstance(v, bool) or not isinstance(v, (int, float)) or v != v or abs(v) == float("inf"):
            raise ConfigError(file, f"{key}[{i}]" if isinstance(value, list) else key,
                              f"expected a finite number, got {v!r}")
        out.append(float(v))
    return out


def generate(kind: str, dims: list[int], bandwidth: Any, latency_ns: Any, file: Any = None) -> Topology:
    """Build a generator topology. Every link is bidirectional (two directed links)."""
    expected = {"ring": 1, "mesh2d": 2, "torus2d": 2, "mesh3d": 3, "torus3d": 3, "fully_connected": 1, "switch": 1,
                "hypercube": None}
    if kind not in expected:
        raise ConfigError(file, "topology", f"unknown generator {kind!r} (known: {', '.join(GENERATORS)})")
    if kind == "hypercube":
        if len(dims) != 1 or dims[0] < 2 or dims[0] & (dims[0] - 1):
            raise ConfigError(file, "dims", "hypercube takes one entry, a power of two >= 2 (the NPU count)")
        k = dims[0].bit_length() - 1
        shape = [2] * k
    else:
        if len(dims) != expected[kind]:
            raise ConfigError(file, "dims", f"{kind} needs {expected[kind]} dimension size(s), got {len(dims)}")
        shape = list(dims)
    if any(d < 2 for d in shape):
        raise ConfigError(file, "dims", f"every dimension needs >= 2 NPUs, got {dims}")
    if prod(shape) > MAX_NPUS:
        raise ConfigError(file, "dims", f"{prod(shape)} NPUs is more than this tool handles ({MAX_NPUS})")
    nd = len(shape) if kind != "hypercube" else 1
    bws = _per_dim(bandwidth, nd, "bandwidth", file)
    lats = _per_dim(latency_ns, nd, "latency_ns", file)
    if any(b <= 0 for b in bws):
        raise ConfigError(file, "bandwidth", "must be > 0")
    if any(x < 0 for x in lats):
        raise ConfigError(file, "latency_ns", "must be >= 0")
    n = prod(shape)
    links: dict[tuple[int, int], Link] = {}
    dim_of: dict[tuple[int, int], int] = {}

    def add(a: int, b: int, d: int) -> None:
        di = 0 if kind == "hypercube" else d
        for s, t in ((a, b), (b, a)):
            if (s, t) not in links:
                links[(s, t)] = Link(s, t, bws[di], lats[di])
                dim_of[(s, t)] = d

    if kind in ("fully_connected", "switch"):
        # A switch is unwound into point-to-point links (synthesis needs them): a non-blocking switch gives each
        # pair a path of two hops; its port bandwidth is shared by the N-1 peers an NPU can send to at once.
        bw = bws[0] if kind == "fully_connected" else bws[0] / (n - 1)
        lat = lats[0] if kind == "fully_connected" else 2 * lats[0]
        for a in range(n):
            for b in range(n):
                if a != b:
                    links[(a, b)] = Link(a, b, bw, lat)
                    dim_of[(a, b)] = 0
        return Topology(n, list(links.values()), [n], kind, dim_of)
    strides = [prod(shape[:i]) for i in range(len(shape))]
    wrap = kind in ("ring", "torus2d", "torus3d")
    for coords in product(*(range(s) for s in reversed(shape))):
        c = list(reversed(coords))
        a = sum(ci * st for ci, st in zip(c, strides))
        for d, size in enumerate(shape):
            if c[d] + 1 < size:
                add(a, a + strides[d], d)
            elif wrap and size > 2:
                add(a, a - c[d] * strides[d], d)
    return Topology(n, list(links.values()), shape, kind, dim_of)


def from_network_config(topology: list[str], npus_count: list[int], bandwidth: list[float], latency: list[float],
                        file: Any = None) -> Topology:
    """ASTRA-sim's multi-dimensional Ring / FullyConnected / Switch description as point-to-point links."""
    shape = list(npus_count)
    n = prod(shape)
    if n > MAX_NPUS:
        raise ConfigError(file, "npus_count", f"{n} NPUs is more than this tool handles ({MAX_NPUS})")
    strides = [prod(shape[:i]) for i in range(len(shape))]
    links: dict[tuple[int, int], Link] = {}
    dim_of: dict[tuple[int, int], int] = {}
    for a in range(n):
        c = [(a // strides[d]) % shape[d] for d in range(len(shape))]
        for d, (kind, size) in enumerate(zip(topology, shape)):
            if size < 2:
                continue
            if kind == "Ring":
                peers = {(c[d] + 1) % size, (c[d] - 1) % size} - {c[d]}
                bw, lat = bandwidth[d], latency[d]
            elif kind in ("FullyConnected", "Switch"):
                peers = set(range(size)) - {c[d]}
                bw = bandwidth[d] if kind == "FullyConnected" else bandwidth[d] / (size - 1)
                lat = latency[d] if kind == "FullyConnected" else 2 * latency[d]
            else:
                raise ConfigError(file, f"topology[{d}]", f"unknown {kind!r} (Ring, FullyConnected or Switch)")
            for p in peers:
                b = a + (p - c[d]) * strides[d]
                links[(a, b)] = Link(a, b, bw, lat)
                dim_of[(a, b)] = d
    return Topology(n, list(links.values()), shape, "astra-sim", dim_of)


def load_topology(path: str | os.PathLike) -> Topology:
    """Our topology YAML (generator or explicit form) or an ASTRA-sim analytical network YAML, read as-is."""
    data = load_mapping(path)
    if "npus_count" in data and isinstance(data.get("topology"), list):
        from astrasim_py.config.network import load_network
        net = load_network(path)
        topo = from_network_config(net.topology, net.npus_count, net.bandwidth, net.latency, path)
    elif "topology" in data:
        kind = data["topology"]
        if not isinstance(kind, str):
            raise ConfigError(path, "topology", f"expected a generator name ({', '.join(GENERATORS)})")
        dims = data.get("dims", data.get("npus"))
        if isinstance(dims, int) and not isinstance(dims, bool):
            dims = [dims]
        if not isinstance(dims, list) or not all(isinstance(d, int) and not isinstance(d, bool) for d in dims):
            raise ConfigError(path, "dims", "expected a list of integers (NPUs per dimension)")
        unknown = set(data) - {"topology", "dims", "npus", "bandwidth", "latency_ns", "failed_links"}
        if unknown:
            raise ConfigError(path, sorted(unknown)[0], "unknown key")
        if "bandwidth" not in data:
            raise ConfigError(path, "bandwidth", "required key is missing")
        topo = generate(kind, dims, data["bandwidth"], data.get("latency_ns", 0), path)
    elif "links" in data:
        topo = _explicit(data, path)
    else:
        raise ConfigError(path, "", "expected `topology:` (a generator), `links:` (explicit) or an ASTRA-sim network")
    return _apply_failures(topo, data.get("failed_links", []), path)


def _explicit(data: dict, path: Any) -> Topology:
    n = data.get("npus")
    if isinstance(n, bool) or not isinstance(n, int) or not 2 <= n <= MAX_NPUS:
        raise ConfigError(path, "npus", f"expected an integer from 2 to {MAX_NPUS}, got {n!r}")
    directed = data.get("directed", False)
    if not isinstance(directed, bool):
        raise ConfigError(path, "directed", "expected true or false")
    raw = data["links"]
    if not isinstance(raw, list) or not raw:
        raise ConfigError(path, "links", "expected a non-empty list of [src, dst, bandwidth, latency_ns]")
    links: dict[tuple[int, int], Link] = {}
    for i, item in enumerate(raw):
        key = f"links[{i}]"
        if not isinstance(item, list) or len(item) != 4:
            raise ConfigError(path, key, "expected [src, dst, bandwidth, latency_ns]")
        s, d, bw, lat = item
        for name, v in (("src", s), ("dst", d)):
            if isinstance(v, bool) or not isinstance(v, int) or not 0 <= v < n:
                raise ConfigError(path, key, f"{name} {v!r} is not an NPU (0..{n - 1})")
        if s == d:
            raise ConfigError(path, key, "a link needs two different NPUs")
        if isinstance(bw, bool) or not isinstance(bw, (int, float)) or not 0 < bw < float("inf"):
            raise ConfigError(path, key, f"bandwidth must be a number > 0, got {bw!r}")
        if isinstance(lat, bool) or not isinstance(lat, (int, float)) or not 0 <= lat < float("inf"):
            raise ConfigError(path, key, f"latency_ns must be a number >= 0, got {lat!r}")
        for a, b in ((s, d),) if directed else ((s, d), (d, s)):
            links[(a, b)] = Link(a, b, float(bw), float(lat))
    return Topology(n, list(links.values()), [], "explicit", {})


def _apply_failures(topo: Topology, failed: Any, path: Any) -> Topology:
    if not isinstance(failed, list):
        raise ConfigError(path, "failed_links", "expected a list of [src, dst] pairs")
    drop = set()
    for i, pair in enumerate(failed):
        if (not isinstance(pair, list) or len(pair) != 2
                or not all(isinstance(x, int) and not isinstance(x, bool) and 0 <= x < topo.npus for x in pair)):
            raise ConfigError(path, f"failed_links[{i}]", f"expected [src, dst] with NPUs in 0..{topo.npus - 1}")
        a, b = pair
        if not any(ln.src == a and ln.dst == b for ln in topo.links):
            raise ConfigError(path, f"failed_links[{i}]", f"there is no link {a} -> {b}")
        drop |= {(a, b), (b, a)}  # a failed cable takes both directions
    if drop:
        topo = Topology(topo.npus, [ln for ln in topo.links if (ln.src, ln.dst) not in drop], topo.dims,
                        topo.kind, {k: v for k, v in topo.dim_of_link.items() if k not in drop})
    topo.check_connected(str(path))
    return topo
