"""astra-run wall time vs ASTRA-sim's C++ binary (recorded in reference/astrasim.md §10, same kind of machine).

Cases: all-reduce 1 GiB on 1024 NPUs (Ring8 x FC8 x Switch16) and 4096 NPUs (Ring16 x FC16 x Switch16), bandwidth
200/100/50 GB/s, 500 ns, ring on every dim, 4 splits, localBWAware — with these inputs our simulated times equal the
binary's to the nanosecond (10540204 and 11323580 ns). The 1000-node chain (500 COMP 10 µs + 500 AR 1 MiB per rank)
at 64, 128, 256 and 4096 ranks (the reference does not record that chain's network, so simulated times are ours on
Ring8 x FullyConnected(N/8)). `full` rows make every rank's file unique, so no symmetry shortcut applies and every
rank is simulated explicitly.
"""

from __future__ import annotations

import json
import shutil
import time
from pathlib import Path

from astrasim_py import simulate
from chakra_tools.et import GlobalMetadata, Node, NodeType, make_attr, write_et

OUT = Path(__file__).resolve().parent / "out" / "astra"
SYSTEM = {"scheduling-policy": "LIFO", "endpoint-delay": 10, "active-chunks-per-dimension": 1,
          "preferred-dataset-splits": 4, "collective-optimization": "localBWAware", "local-mem-bw": 1600,
          "roofline-enabled": 0, "peak-perf": 900, "all-reduce-implementation": ["ring"] * 3,
          "all-gather-implementation": ["ring"] * 3, "reduce-scatter-implementation": ["ring"] * 3,
          "all-to-all-implementation": ["ring"] * 3}


def _coll(i: int, size: int, deps=()) -> Node:
    n = Node(id=i, name=f"ar{i}", type=NodeType.COMM_COLL_NODE, data_deps=list(deps))
    n.attr.extend([make_attr("comm_type", 0), make_attr("comm_size", size), make_attr("is_cpu_op", False)])
    return n


def _chain(unique_rank: int | None) -> list[Node]:
    nodes, prev = [], []
    for i in range(500):
        c = Node(id=2 * i + 1, name="comp", type=NodeType.COMP_NODE, duration_micros=10, data_deps=prev)
        c.attr.append(make_attr("is_cpu_op", False))
        if unique_rank is not None:
            c.attr.append(make_attr("rank_tag", unique_rank))
        nodes.append(c)
        nodes.append(_coll(2 * i + 2, 1 << 20, [2 * i + 1]))
        prev = [2 * i + 2]
    return nodes


def _workload(name: str, npus: int, make) -> str:
    d = OUT / name
    if d.exists():
        shutil.rmtree(d)
    d.mkdir(parents=True)
    write_et(d / "w.0.et", GlobalMetadata(version="0.0.4"), make(0))
    for r in range(1, npus):
        if make(None) is None:
            shutil.copyfile(d / "w.0.et", d / f"w.{r}.et")
        else:
            write_et(d / f"w.{r}.et", GlobalMetadata(version="0.0.4"), make(r))
    return str(d / "w")


def _net(name: str, topo, npus, bw) -> Path:
    p = OUT / f"{name}.yml"
    p.write_text(json.dumps({"topology": topo, "npus_count": npus, "bandwidth": bw, "latency": [500.0] * len(topo)}))
    return p


def main() -> None:
    OUT.mkdir(parents=True, exist_ok=True)
    sys3 = OUT / "system.json"
    sys3.write_text(json.dumps(SYSTEM))
    sys2 = OUT / "system2.json"
    sys2.write_text(json.dumps({**SYSTEM, **{k: v[:2] for k, v in SYSTEM.items() if isinstance(v, list)}}))
    cases = [
        ("AR 1GiB 1024 NPUs", 1024, lambda r: [_coll(1, 1 << 30)] if r == 0 else None,
         _net("n1024", ["Ring", "FullyConnected", "Switch"], [8, 8, 16], [200.0, 100.0, 50.0]), sys3, 0.78, 10540204),
        ("AR 1GiB 4096 NPUs", 4096, lambda r: [_coll(1, 1 << 30)] if r == 0 else None,
         _net("n4096", ["Ring", "FullyConnected", "Switch"], [16, 16, 16], [200.0, 100.0, 50.0]), sys3, 7.9, 11323580),
    ]
    for n, ref in ((64, 6.6), (128, 21.3), (256, 68.2), (4096, None)):
        net = _net(f"c{n}", ["Ring", "FullyConnected"], [8, n // 8], [200.0, 100.0])
        cases.append((f"chain {n} ranks", n, lambda r: _chain(None) if r == 0 else None, net, sys2, ref, None))
        if n in (64, 256):
            cases.append((f"chain {n} ranks, full", n, lambda r: _chain(r), net, sys2, ref, None))
    print(f"{'case':28} {'sim ns':>12} {'ASTRA-sim ns':>12} {'ours s':>8} {'C++ s':>7} {'ratio':>7}")
    for name, npus, make, net, system, ref_s, ref_ns in cases:
        prefix = _workload(name.replace(" ", "_").replace(",", ""), npus, make)
        t = time.perf_counter()
        res = simulate(prefix, system, net)
        wall = time.perf_counter() - t
        ratio = f"{wall / ref_s:.3f}x" if ref_s else "-"
        print(f"{name:28} {res.sim_time_ns:12,} {ref_ns or '-':>12} {wall:8.3f} {ref_s or '-':>7} {ratio:>7}")
        if ref_ns is not None and res.sim_time_ns != ref_ns:
            print(f"  MISMATCH: expected {ref_ns}")


if __name__ == "__main__":
    main()
