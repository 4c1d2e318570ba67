"""chakra-synth fit + sample on a 100 000-node corpus; target < 30 s (issue 9).

The corpus is synthesized once (cached in bench/out/): 4 ranks x 25 000 nodes sampled from a model fitted
on the committed recorded traces (tests/data/synth), so it has real kinds, durations, sizes and deps.
Timed: `fit` on that corpus, then `sample` of the same size (4 ranks x 25 000 nodes). Baseline: the 30 s
budget of the issue; ratio = our time / 30 s (< 1 meets the target).
"""

from __future__ import annotations

import time
from pathlib import Path

from chakra_tools.synth import compare, fit, sample

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "bench" / "out" / "synth"
TRAIN = [ROOT / "tests" / "data" / "synth" / m for m in ("mlp_s", "mlp_l", "cnn_s", "cnn_l", "tfm_s", "tfm_l")]
RANKS, NODES, BUDGET_S = 4, 25_000, 30.0


def main() -> None:
    OUT.mkdir(parents=True, exist_ok=True)
    corpus = OUT / "corpus"
    if not Path(f"{corpus}.{RANKS - 1}.et").exists():
        sample(fit([str(p) for p in TRAIN]), corpus, ranks=RANKS, nodes=NODES, seed=123)
    t0 = time.perf_counter()
    model = fit([str(corpus)])
    t1 = time.perf_counter()
    sample(model, OUT / "sampled", ranks=RANKS, nodes=NODES, seed=7)
    t2 = time.perf_counter()
    total = t2 - t0
    print(f"fit {RANKS * NODES} nodes: {t1 - t0:.2f} s; sample {RANKS * NODES} nodes: {t2 - t1:.2f} s")
    print(f"fit+sample 100k nodes: {total:.2f} s vs budget {BUDGET_S:.0f} s -> ratio {total / BUDGET_S:.3f}")
    t3 = time.perf_counter()
    r = compare(corpus, OUT / "sampled")
    print(f"compare 100k vs 100k nodes (no target): {time.perf_counter() - t3:.2f} s; ks_max {r['ks_max']:.4f}, "
          f"longest shared value run {r['obfuscation']['longest_shared_value_run']}")


if __name__ == "__main__":
    main()
