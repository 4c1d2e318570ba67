"""TACOS link-chunk matching over the time-expanded network (reference/tacos.md §2), seeded and indexed.

All-Gather: every NPU starts with its c chunks; at each event time, every free link u→v that could carry a chunk u
has and v neither has nor is receiving gets one (chosen at random, seeded); links are examined fastest-first so a
chunk takes the earliest-arriving free link. A link carries one chunk at a time; chunks are stored and forwarded.
Only links that just became free, and idle links out of NPUs that just received a chunk, are examined, and chunk
sets are bitsets, so an event costs about the number of links it touches rather than O(N² c).
Reduce-Scatter is an All-Gather synthesized on the transposed graph and reversed in time (correct for asymmetric
links); All-Reduce is Reduce-Scatter followed by All-Gather, pipelined per chunk (see schedule.evaluate).
"""

from __future__ import annotations

import heapq
import random
from typing import NamedTuple

from astrasim_py.topology import Topology


class Transfer(NamedTuple):
    chunk: int
    src: int
    dst: int
    start: int
    end: int
    phase: str = "ag"   # "rs" transfers carry partial sums that the receiver reduces


def all_gather(topo: Topology, chunks_per_npu: int, chunk_bytes: float, rng: random.Random) -> list[Transfer]:
    n = topo.npus
    k_total = n * chunks_per_npu
    full = (1 << k_total) - 1
    have = [0] * n
    for k in range(k_total):
        have[k % n] |= 1 << k
    known = have[:]  # chunks an NPU has or is receiving (only grows: an arrival moves a bit from in flight to have)
    links = topo.links
    ltime = [ln.time_ns(chunk_bytes) for ln in links]
    src = [ln.src for ln in links]
    dst = [ln.dst for ln in links]
    out_links: list[list[int]] = [[] for _ in range(n)]
    for i, ln in enumerate(links):
        out_links[ln.src].append(i)
    idle = set(range(len(links)))
    arrivals: dict[int, list[tuple[int, int]]] = {}
    times: list[int] = []
    transfers: list[Transfer] = []
    satisfied = sum(1 for v in range(n) if have[v] == full)
    getrandbits = rng.getrandbits
    new_transfer = tuple.__new__  # Transfer(...) runs a Python-level __new__; this builds the same tuple faster

    def match(candidates: list[int], t: int) -> None:
        # fastest links first; random order among equally fast ones
        rng.shuffle(candidates)
        candidates.sort(key=ltime.__getitem__)
        for li in candidates:
            u, v = src[li], dst[li]
            cand = have[u] & ~known[v]
            if not cand:
                idle.add(li)
                continue
            # the first candidate chunk at or after a random position, wrapping around
            r = getrandbits(24) % k_total
            above = cand >> r
            k = r + (above & -above).bit_length() - 1 if above else (cand & -cand).bit_length() - 1
            known[v] |= 1 << k
            end = t + ltime[li]
            idle.discard(li)
            if end not in arrivals:
                arrivals[end] = []
                heapq.heappush(times, end)
            arrivals[end].append((li, k))
            transfers.append(new_transfer(Transfer, (k, u, v, t, end, "ag")))

    match(list(range(len(links))), 0)
    while times and satisfied < n:
        t = heapq.heappop(times)
        freed = []
        touched = set()
        for li, k in arrivals.pop(t):
            v = dst[li]
            bit = 1 << k
            if not have[v] & bit:
                have[v] |= bit
                touched.add(v)
                if have[v] == full:
                    satisfied += 1
            freed.append(li)
        examine = set(freed)
        for v in touched:
            examine.update(li for li in out_links[v] if li in idle)
        match(sorted(examine), t)
    if satisfied < n:
        raise RuntimeError("synthesis stalled: the topology is not strongly connected")
    return transfers


def reduce_scatter(topo: Topology, chunks_per_npu: int, chunk_bytes: float, rng: random.Random) -> list[Transfer]:
    """All-Gather on the transposed graph, reversed in time: partial sums of chunk k flow to its owner k mod N."""
    ag = all_gather(topo.transposed(), chunks_per_npu, chunk_bytes, rng)
    total = max((x.end for x in ag), default=0)
    # transposed link u→v is original link v→u; time runs backwards
    return sorted((Transfer(x.chunk, x.dst, x.src, total - x.end, total - x.start, "rs") for x in ag),
                  key=lambda x: (x.start, x.end, x.src, x.dst, x.chunk))
