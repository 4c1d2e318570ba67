"""Bench: 1,000,000 queries through SushiSched (default accelerator and query mix) against the 10 s target.

Timed: query generation, the catalog (SubNet menu search, candidate SubGraphs, the vectorised
(SubNet x SubGraph) latency/energy tables) and the SUSHI simulation with metrics (queue-aware per-query
choice, SubGraph re-selection every 500 queries); then the same stream through each baseline policy
(`static` = the best fixed SubGraph in hindsight: 4 shortlisted SubGraphs simulated).
"""
import time

from sushi.api import default_config, make_catalog, metrics, queries_for
from sushi.sched import POLICIES, simulate

TARGET_S = 10.0
N = 1_000_000


def main():
    cfg = default_config()
    t0 = time.perf_counter()
    q = queries_for(cfg, 0, n=N)
    t1 = time.perf_counter()
    cat = make_catalog(cfg)
    t2 = time.perf_counter()
    m = metrics(cat, q, simulate(cat, q, "sushi", cfg.scheduler))
    t3 = time.perf_counter()
    total = t3 - t0
    print(f"sushi-serve: {N:,} queries, policy sushi: {total:.2f} s (stream {t1 - t0:.2f} s, catalog "
          f"{t2 - t1:.2f} s, simulation {t3 - t2:.2f} s = {(t3 - t2) / N * 1e6:.2f} us/query); target "
          f"{TARGET_S:.0f} s, ratio {total / TARGET_S:.3f}")
    print(f"  mean latency {m['mean_latency_ms']:.3f} ms, SLO {100 * m['slo_attainment']:.2f} %, "
          f"accuracy {m['served_accuracy']:.2f} %, {m['subgraph_switches']} SubGraph switches")
    for p in POLICIES[1:]:
        t = time.perf_counter()
        metrics(cat, q, simulate(cat, q, p, cfg.scheduler))
        dt = time.perf_counter() - t
        print(f"  {p}: {dt:.2f} s for {N:,} queries (ratio {dt / TARGET_S:.3f} of the target)")


if __name__ == "__main__":
    main()
