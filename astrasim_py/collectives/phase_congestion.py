"""A collective phase simulated message by message over per-link queues (the congestion-aware backend).

Each node runs the algorithm as rounds: its sends of a round leave together, the round ends when the round's
messages have arrived, and the next round starts E (+P when the received data is reduced) later — the same rules
as the closed forms of collectives/phase.py, which this reproduces exactly when no link is shared (Ring and
FullyConnected with ring or direct traffic). One dimension line is simulated; the other lines are identical.
Rounds: ring AR 2(N-1) (reduce the first N-1), RS N-1 (reduce), AG N-1 (msg D), A2A N(N-1)/2 (msg D/N);
direct: one round to all N-1 peers (AR: two); halvingDoubling: partner j xor 2^k; doubleBinaryTree: approximated
as halvingDoubling-style exchanges of D/2 up and down the tree depth.
"""

from __future__ import annotations

from functools import lru_cache
from math import ceil, log2

from astrasim_py.collectives.phase import A2A, AG, AR, RS, reduction_ns
from astrasim_py.config.network import NetworkConfig
from astrasim_py.network.congestion import Links, LinkSim

Round = tuple[tuple[tuple[int, float], ...], int, bool, float]  # (sends (dst, bytes)), receipts, reduce?, bytes


def _program(algo: str, coll: str, j: int, n: int, data: float) -> list[Round]:
    base = algo.rstrip("0123456789") if algo.startswith("direct") else algo
    base = {"oneRing": "ring", "oneDirect": "direct", "oneHalvingDoubling": "halvingDoubling"}.get(base, base)
    nxt = (j + 1) % n
    if base == "ring":
        if coll == AR:
            m = data / n
            return [(((nxt, m),), 1, k < n - 1, m) for k in range(2 * (n - 1))]
        if coll == RS:
            m = data / n
            return [(((nxt, m),), 1, True, m) for _ in range(n - 1)]
        if coll == AG:
            return [(((nxt, data),), 1, False, data) for _ in range(n - 1)]
        if coll == A2A:
            return [(((nxt, data / n),), 1, False, 0) for _ in range(n * (n - 1) // 2)]
    if base == "direct":
        peers = [p for p in range(n) if p != j]
        m = data / n
        if coll == AR:
            return [(tuple((p, m) for p in peers), n - 1, True, m), (tuple((p, m) for p in peers), n - 1, False, m)]
        if coll == RS:
            return [(tuple((p, m) for p in peers), n - 1, True, m)]
        if coll == AG:
            return [(tuple((p, data) for p in peers), n - 1, False, data)]
        if coll == A2A:
            return [(tuple((p, m) for p in peers), n - 1, False, m)]
    steps = int(log2(n)) if n > 1 else 0
    if base == "halvingDoubling":
        rs = [(((j ^ (1 << k), data / (2 << k)),), 1, True, data / (2 << k)) for k in range(steps)]
        if coll == RS:
            return rs
        if coll == AG:
            return [(((j ^ (1 << k), data * (1 << k)),), 1, False, 0) for k in range(steps)]
        if coll == AR:
            return rs + [(((j ^ (1 << k), data / (2 << k)),), 1, False, 0) for k in reversed(range(steps))]
        if coll == A2A:
            return [(((j ^ (1 << k), data / 2),), 1, False, 0) for k in range(steps)]
    if base == "doubleBinaryTree" and coll == AR:
        depth = ceil(log2(n)) if n > 1 else 0
        up = [(((j ^ (1 << k) if j ^ (1 << k) < n else j, data / 2),), 1, True, data / 2) for k in range(depth)]
        return up + [(((j ^ (1 << k) if j ^ (1 << k) < n else j, data / 2),), 1, False, 0) for k in reversed(range(depth))]
    raise ValueError(f"algorithm {algo!r} does not implement {coll.replace('_', '-')}")


@lru_cache(maxsize=4096)
def phase_congestion_ns(algo: str, coll: str, topology: str, n: int, bw: float, lat: float, data: float,
                        endpoint: int, local_mem_bw: float) -> int:
    net = NetworkConfig([topology], [n], [bw], [lat])
    sim = LinkSim(Links(net))
    programs = [_program(algo, coll, j, n, data) for j in range(n)]
    got = [[0] * len(p) for p in programs]
    at = [0] * n
    start = [0] * n
    end = [0] * n

    def begin(j: int, t: int) -> None:
        start[j] = t
        for dst, nbytes in programs[j][at[j]][0]:
            sim.send(t, j, dst, int(nbytes), (dst, at[j]))

    def advance(j: int, t: int) -> None:
        while at[j] < len(programs[j]) and got[j][at[j]] >= programs[j][at[j]][1]:
            _, _, reduce, rbytes = programs[j][at[j]]
            t = max(t, start[j]) + endpoint + (reduction_ns(rbytes, local_mem_bw) if reduce else 0)
            at[j] += 1
            if at[j] < len(programs[j]):
                begin(j, t)
            else:
                end[j] = t

    for j in range(n):
        if programs[j]:
            begin(j, endpoint)
    while (d := sim.step()) is not None:
        t, (dst, rnd) = d
        if rnd < len(got[dst]):
            got[dst][rnd] += 1
        advance(dst, t)
    return max(end)
