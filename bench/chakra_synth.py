"""chakra-synth fit + sample on a 100 000-node corpus; target < 30 s (issue 9).

The corpus is synthesized once (cached in bench/out/synth/): 4 traces x 2 ranks, 10 000-15 000 nodes per rank
(100 000 nodes in all), sampled at four sizes (param bytes 0.5, 1, 2, 4 MB) from a model fitted on the committed recorded transformer traces
(tests/data/synth), so it has real kinds, durations, sizes, deps, and enough traces of different sizes for fit
to learn its size laws too. Timed: `fit` on that corpus (100 000 nodes), then a size-conditioned `sample` of
100 000 nodes (4 ranks x 25 000). Baseline: the 30 s budget of the issue; ratio = our time / 30 s (< 1 meets it).
"""

from __future__ import annotations

import json
import time
from pathlib import Path

from chakra_tools.synth import compare, fit, sample

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT / "tests" / "data" / "synth"
OUT = ROOT / "bench" / "out" / "synth"
SIZES = (500_000, 1_000_000, 2_000_000, 4_000_000)
CORPUS_NODES = (10_000, 11_500, 13_500, 15_000)  # per rank: 2 x 50 000 = 100 000 nodes
RANKS, NODES, BUDGET_S = 4, 25_000, 30.0


def main() -> None:
    OUT.mkdir(parents=True, exist_ok=True)
    corpus = [OUT / f"corpus{i}" for i in range(len(SIZES))]
    if not all(Path(f"{c}.1.et").exists() for c in corpus):
        train = json.loads((DATA / "corpus.json").read_text())["recording"]["train"]["tfm"]
        seed_model = fit([str(DATA / m) for m in train])
        for i, (c, p, n) in enumerate(zip(corpus, SIZES, CORPUS_NODES)):
            sample(seed_model, c, ranks=2, nodes=n, seed=100 + i, param_bytes=p)
    t0 = time.perf_counter()
    model = fit([str(c) for c in corpus])
    t1 = time.perf_counter()
    sample(model, OUT / "sampled", ranks=RANKS, nodes=NODES, seed=7, param_bytes=3_000_000)
    t2 = time.perf_counter()
    total = t2 - t0
    n = 2 * sum(CORPUS_NODES)
    print(f"fit {n} nodes ({'with' if 'scaling' in model else 'without'} size laws): {t1 - t0:.2f} s; "
          f"sample {RANKS * NODES} nodes at 3 MB: {t2 - t1:.2f} s")
    print(f"fit+sample 100k nodes: {total:.2f} s vs budget {BUDGET_S:.0f} s -> ratio {total / BUDGET_S:.3f}")
    t3 = time.perf_counter()
    r = compare(corpus[-1], OUT / "sampled")
    print(f"compare 25k vs 100k nodes (no target): {time.perf_counter() - t3:.2f} s; ks_max {r['ks_max']:.4f}, "
          f"longest shared value run {r['obfuscation']['longest_shared_value_run']}")


if __name__ == "__main__":
    main()
