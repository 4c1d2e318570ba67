"""Congestion-unaware analytical network (ASTRA-sim's analytical backend).

A message travels on the first dimension where source and destination coordinates differ and takes
`floor(hops * latency + bytes / (bandwidth * 2^30 / 1e9))` ns. Concurrent messages never interact.
"""

from __future__ import annotations

from astrasim_py.config.network import HOPS, NetworkConfig


def message_ns(net: NetworkConfig, dim: int, nbytes: float, hops: int) -> int:
    return int(hops * net.latency[dim] + nbytes / net.bytes_per_ns(dim))


def hops_between(net: NetworkConfig, dim: int, a: int, b: int) -> int:
    """Hops between coordinates a and b of one dimension (Ring: shorter way round; FC: 1; Switch: 2)."""
    kind = net.topology[dim]
    if kind == "Ring":
        n = net.npus_count[dim]
        d = abs(a - b) % n
        return min(d, n - d)
    return HOPS[kind]


def p2p_ns(net: NetworkConfig, src: int, dst: int, nbytes: int) -> int:
    """One point-to-point message between two NPUs."""
    if src == dst:
        return 0
    cs, cd = net.coords(src), net.coords(dst)
    dim = next(i for i, (x, y) in enumerate(zip(cs, cd)) if x != y)
    return message_ns(net, dim, nbytes, hops_between(net, dim, cs[dim], cd[dim]))
