"""Time of one collective phase on one dimension, per algorithm (ASTRA-sim semantics, congestion-unaware).

Notation: N nodes in the dimension, E = endpoint-delay, D = the phase's input bytes, Tn(m) = one message of m bytes
to a partner, P(m) = 3·floor(m / local_mem_bw) reduction of a received message. Every send is preceded by E; the
phase ends with E after the last receipt (+P when it is reduced).
  ring  AR: 2(N-1)(E+Tn(D/N)) + (N-1)P(D/N) + E     RS: (N-1)(E+Tn(D/N)) + (N-1)P(D/N) + E
        AG: (N-1)(E+Tn(D)) + E                      A2A: N(N-1)/2·(E+Tn(D/N)) + E
  direct (all N-1 messages at once, no contention; Tn to the farthest peer, N//2 hops on a Ring):
        AR: E+Tn+E+P+Tn+E (m = D/N); RS: E+Tn+E+P; AG: E+Tn(D)+E; A2A: E+Tn(D/N)+E
  halvingDoubling: log2 N exchanges with partners 2^k apart; RS halves (D/2, D/4, …, reduce each), AG doubles
        (D, 2D, …), AR = RS then AG (2 log2 N steps), each step E + Tn (+P) and a final E
  doubleBinaryTree (all-reduce on the last dimension): two trees each carry D/2: reduce up then broadcast down
        the tree depth ceil(log2 N): 2·depth·(E+Tn(D/2)) + depth·P(D/2) + E
"""

from __future__ import annotations

from math import ceil, log2

from astrasim_py.config.network import HOPS, NetworkConfig
from astrasim_py.network.analytical import hops_between, message_ns

AR, AG, RS, A2A = "all_reduce", "all_gather", "reduce_scatter", "all_to_all"


def reduction_ns(nbytes: float, local_mem_bw: float) -> int:
    if local_mem_bw <= 0:
        raise ValueError("local-mem-bw must be > 0 for collectives that reduce")
    return 3 * int(nbytes / (local_mem_bw * 1e9) * 1e9)


def phase_ns(algo: str, coll: str, net: NetworkConfig, dim: int, n: int, data: float, endpoint: int,
             local_mem_bw: float) -> int:
    e = endpoint
    hop = HOPS[net.topology[dim]]
    base = algo.rstrip("0123456789") if algo.startswith("direct") else algo
    base = {"oneRing": "ring", "oneDirect": "direct", "oneHalvingDoubling": "halvingDoubling"}.get(base, base)

    def tn(m: float, hops: int = hop) -> int:
        return message_ns(net, dim, m, hops)

    def red(m: float) -> int:
        return reduction_ns(m, local_mem_bw)

    if base == "ring":
        if coll == AR:
            m = data / n
            return 2 * (n - 1) * (e + tn(m)) + (n - 1) * red(m) + e
        if coll == RS:
            m = data / n
            return (n - 1) * (e + tn(m)) + (n - 1) * red(m) + e
        if coll == AG:
            return (n - 1) * (e + tn(data)) + e
        if coll == A2A:
            return n * (n - 1) // 2 * (e + tn(data / n)) + e
    if base == "direct":
        # every peer at once; a round ends with the farthest peer's message (on a Ring, n//2 hops away)
        far = max(_hops(net, dim, k) for k in range(1, n)) if n > 1 else hop
        m = data / n
        if coll == AR:
            return e + tn(m, far) + e + red(m) + tn(m, far) + e
        if coll == RS:
            return e + tn(m, far) + e + red(m)
        if coll == AG:
            return e + tn(data, far) + e
        if coll == A2A:
            return e + tn(m, far) + e
    if base == "halvingDoubling":
        steps = int(log2(n))
        if 1 << steps != n:
            raise ValueError(f"halvingDoubling needs a power-of-two dimension size, got {n}")
        partner_hops = [_hops(net, dim, 1 << k) for k in range(steps)]
        rs = sum(e + tn(data / (2 << k), partner_hops[k]) + red(data / (2 << k)) for k in range(steps))
        if coll == RS:
            return rs + e
        if coll == AG:
            return sum(e + tn(data * (1 << k), partner_hops[k]) for k in range(steps)) + e
        if coll == AR:
            ag = sum(e + tn(data / (2 << k), partner_hops[k]) for k in reversed(range(steps)))
            return rs + ag + e
        if coll == A2A:
            return sum(e + tn(data / 2, partner_hops[k]) for k in range(steps)) + e
    if base == "doubleBinaryTree" and coll == AR:
        depth = ceil(log2(n)) if n > 1 else 0
        return 2 * depth * (e + tn(data / 2)) + depth * red(data / 2) + e
    raise ValueError(f"algorithm {algo!r} does not implement {coll.replace('_', '-')}")


def _hops(net: NetworkConfig, dim: int, distance: int) -> int:
    return hops_between(net, dim, 0, distance % net.npus_count[dim])


def output_bytes(coll: str, n: int, data: float) -> float:
    """A phase's final data size, the next phase's input: RS → /N, AG → ×N, AR and A2A unchanged."""
    if coll == RS:
        return data / n
    if coll == AG:
        return data * n
    return data
