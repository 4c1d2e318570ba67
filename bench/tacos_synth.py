"""tacos-synth: collective time vs the bandwidth bound and TACOS's recorded results; synthesis time vs TACOS's.

Links 50 GiB/s, 0.5 µs (reference/tacos.md §4). TACOS numbers are the repo's test expectations (All-Gather,
1 GiB output) and its synthesis times measured on a 2-core machine like this one (v1.3.0, -O3, one run).
"""

from __future__ import annotations

import math
import time

from astrasim_py.topology import generate
from tacos.baselines import baselines
from tacos.schedule import lower_bound_ns, synthesize

GiB, MiB = 1 << 30, 1 << 20


def quality() -> None:
    print("== collective time (best of 3 seeded runs, chunks auto) vs bandwidth bound and baselines")
    print(f"{'topology':18} {'coll':14} {'size':>6} {'ours us':>10} {'bound us':>10} {'x bound':>8} "
          f"{'best baseline':>14} {'speed-up':>8}")
    cases = [("mesh2d", [5, 5]), ("torus2d", [4, 4]), ("torus3d", [3, 3, 3]), ("mesh3d", [3, 3, 3]),
             ("hypercube", [16]), ("ring", [8])]
    for kind, dims in cases:
        topo = generate(kind, dims, 50, 500)
        for coll in ("all-gather", "all-reduce"):
            for size, label in ((MiB, "1MiB"), (64 * MiB, "64MiB"), (GiB, "1GiB")):
                s = synthesize(topo, coll, size, "auto", seed=0, restarts=3)
                lb = lower_bound_ns(topo, coll, size)
                base = {k: v for k, v in baselines(topo, coll, size).items() if v}
                best = min(base, key=base.get)
                print(f"{kind + str(dims):18} {coll:14} {label:>6} {s.time_ns / 1000:10.1f} {lb / 1000:10.1f} "
                      f"{s.time_ns / lb:8.3f} {best:>14} {base[best] / s.time_ns:7.2f}x")
    print("== TACOS's reference points (All-Gather, 1 GiB output, 1 chunk/NPU unless noted), best of 3 seeds")
    for kind, dims, c, ref in (("mesh2d", [5, 5], 1, 9606.0), ("mesh2d", [10, 10], 2, 5049.0),
                               ("torus3d", [3, 3, 3], 1, 3706.20), ("mesh3d", [3, 3, 3], 1, 6671.17)):
        s = synthesize(generate(kind, dims, 50, 500), "all-gather", GiB, c, seed=0, restarts=3)
        print(f"{kind + str(dims):18} c={c}  ours {s.time_ns / 1000:9.2f} us   TACOS {ref:9.2f} us   "
              f"ratio {s.time_ns / 1000 / ref:.3f}")


def vs_fixed_chunks() -> None:
    """TACOS runs one random greedy with a fixed chunk count; ours picks the chunk count and keeps the best of K."""
    print("== ours (chunks auto, best of 4 seeds) vs TACOS-style (fixed 4 chunks/NPU, one run), all-reduce")
    from pathlib import Path

    from astrasim_py.topology import load_topology
    cfg = Path(__file__).resolve().parents[1] / "examples" / "configs" / "tacos-synth"
    topos = {"torus2d 4x4": generate("torus2d", [4, 4], 50, 500), "mesh2d 5x5": generate("mesh2d", [5, 5], 50, 500),
             "hetero mesh, failed link": load_topology(cfg / "mesh4x4_hetero_failed.yml"),
             "irregular 8": load_topology(cfg / "irregular8.yml")}
    for name, topo in topos.items():
        for size, label in ((MiB, "1MiB"), (64 * MiB, "64MiB"), (GiB, "1GiB")):
            fixed = synthesize(topo, "all-reduce", size, 4, seed=0).time_ns
            ours = synthesize(topo, "all-reduce", size, "auto", seed=0, restarts=4).time_ns
            print(f"{name:26} {label:6} fixed-4 {fixed / 1000:10.1f} us   ours {ours / 1000:10.1f} us   "
                  f"speed-up {fixed / ours:.2f}x")


def speed() -> None:
    print("== synthesis time (All-Gather 1 GiB, one run) vs TACOS")
    for kind, dims, c, ref in (("mesh2d", [16, 16], 1, 0.95), ("mesh2d", [16, 16], 4, 14.3),
                               ("torus3d", [8, 8, 8], 1, 4.1), ("mesh2d", [32, 32], 1, 71.0),
                               ("torus3d", [8, 8, 16], 1, 45.0)):
        topo = generate(kind, dims, 50, 500)
        t = time.perf_counter()
        synthesize(topo, "all-gather", GiB, c, seed=0)
        wall = time.perf_counter() - t
        print(f"{kind + str(dims):18} c={c}  {topo.npus:5} NPUs  ours {wall:6.2f} s   TACOS {ref:6.1f} s   "
              f"ratio {wall / ref:.3f}")
    xs, ys = [], []
    for side in (8, 12, 16, 24):
        topo = generate("mesh2d", [side, side], 50, 500)
        t = time.perf_counter()
        synthesize(topo, "all-gather", GiB, 1, seed=0)
        xs.append(math.log(topo.npus))
        ys.append(math.log(time.perf_counter() - t))
    n = len(xs)
    mx, my = sum(xs) / n, sum(ys) / n
    slope = sum((x - mx) * (y - my) for x, y in zip(xs, ys)) / sum((x - mx) ** 2 for x in xs)
    print(f"scaling exponent (2D meshes 64..576 NPUs): synthesis time ~ N^{slope:.2f} (TACOS: ~N^3 here)")


if __name__ == "__main__":
    quality()
    vs_fixed_chunks()
    speed()
