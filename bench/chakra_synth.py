"""chakra-synth fit + sample on a 100 000-node corpus; target < 30 s (issue 9).

The corpus is synthesized once (cached in bench/out/synth/): 4 traces x 2 ranks, 10 000-15 000 nodes per rank
(100 000 nodes in all), sampled at four sizes (param bytes 0.5, 1, 2, 4 MB) from a model fitted on the committed recorded transformer traces
(tests/data/synth), so it has real kinds, durations, sizes, deps, and enough traces of different sizes for fit
to learn its size laws too. Timed: `fit` on that corpus (100 000 nodes), then a size-conditioned `sample` of
100 000 nodes (4 ranks x 25 000). Baseline: the 30 s budget of the issue; ratio = our time / 30 s (< 1 meets it).

The same with architecture descriptors: a second corpus of 4 deep transformers (width 64-160, 16-24 layers,
~94 000 nodes, each with its `.describe.json`) sampled with `--describe` from the same seed model, so `fit` also
searches its architecture laws; then a `--describe` sample of a 42-layer one (4 ranks x 25 015 nodes).

Redraws: the recorded DLRM step on 8 GPUs (tests/data/gpu) sampled at its size, where the kind chain is redrawn
until it has the step's 3 all-reduces and 5 all-to-alls (about 70 draws), against the same sample with one draw of
the chain in the same run (ratio = what conditioning on the collective counts costs).

Scale-out: a `--describe` sample at 256 ranks (12 layers, ~7 000 nodes per rank), against protobuf writing the
same nodes from ready-made messages in the same run (ratio = sample's time / that: what drawing, calibrating and
writing every rank costs over serializing the nodes alone; 1.5 on 2026-12-05).
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
ARCHS = ({"width": 64, "depth": 16}, {"width": 96, "depth": 18}, {"width": 128, "depth": 21}, {"width": 160, "depth": 24})
TARGET_ARCH = {"width": 112, "depth": 42}
CORPUS_NODES = (10_000, 11_500, 13_500, 15_000)  # per rank: 2 x 50 000 = 100 000 nodes
RANKS, NODES, BUDGET_S = 4, 25_000, 30.0
SCALE_RANKS, SCALE_ARCH = 256, {"width": 96, "depth": 12}


def main() -> None:
    OUT.mkdir(parents=True, exist_ok=True)
    corpus = [OUT / f"corpus{i}" for i in range(len(SIZES))]
    arch = [OUT / f"arch{i}" for i in range(len(ARCHS))]
    if not all(Path(f"{c}.1.et").exists() for c in corpus + arch) or not all(
            Path(f"{c}.describe.json").exists() for c in arch):
        train = json.loads((DATA / "corpus.json").read_text())["recording"]["train"]["tfm"]
        seed_model = fit([str(DATA / m) for m in train])
        for i, (c, p, n) in enumerate(zip(corpus, SIZES, CORPUS_NODES)):
            sample(seed_model, c, ranks=2, nodes=n, seed=100 + i, param_bytes=p)
        for i, (c, d) in enumerate(zip(arch, ARCHS)):
            sample(seed_model, c, ranks=2, seed=200 + i, describe=d)
            Path(f"{c}.describe.json").write_text(json.dumps(d) + "\n")
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
    t4 = time.perf_counter()
    amodel = fit([str(c) for c in arch])
    t5 = time.perf_counter()
    summary = sample(amodel, OUT / "sampled_arch", ranks=RANKS, seed=7, describe=TARGET_ARCH)
    t6 = time.perf_counter()
    na = amodel["corpus"]["nodes"]  # nodes of every rank of the corpus (fit counted them)
    print(f"with descriptors: fit {na} nodes ({'with' if 'architecture' in amodel else 'without'} architecture "
          f"laws): {t5 - t4:.2f} s; sample {RANKS} x {summary['nodes_per_rank']} nodes --describe "
          f"width={TARGET_ARCH['width']},depth={TARGET_ARCH['depth']}: {t6 - t5:.2f} s")
    print(f"fit+sample with descriptors: {t6 - t4:.2f} s vs budget {BUDGET_S:.0f} s -> ratio {(t6 - t4) / BUDGET_S:.3f}")
    redraws()
    scale_out(amodel)
    t3 = time.perf_counter()
    r = compare(corpus[-1], OUT / "sampled")
    print(f"compare 25k vs 100k nodes (no target): {time.perf_counter() - t3:.2f} s; ks_max {r['ks_max']:.4f}, "
          f"longest shared value run {r['obfuscation']['longest_shared_value_run']}")


def redraws() -> None:
    """The DLRM step sampled at its size: the chain conditioned on its collective counts vs drawn once."""
    import sys
    import tempfile

    sys.path.insert(0, str(ROOT))
    from tests.gpu_data import convert_dlrm

    mod = sys.modules["chakra_tools.synth.sample"]  # (the package's `sample` is the function)
    with tempfile.TemporaryDirectory() as tmp:
        model = fit([convert_dlrm(Path(tmp))])
        times = {}
        for cap in (mod.REDRAW_MAX, 1):
            saved, mod.REDRAW_MAX = mod.REDRAW_MAX, cap
            try:
                t = time.perf_counter()
                s = sample(model, Path(tmp) / f"s{cap}", ranks=8, seed=1)
                times[cap] = (time.perf_counter() - t, s["collectives_per_rank"])
            finally:
                mod.REDRAW_MAX = saved
    (cond, n_cond), (once, n_once) = times.values()
    print(f"DLRM step at its size (8 ranks): conditioned on its collective counts {cond:.2f} s ({n_cond} collectives), "
          f"one draw of the chain {once:.2f} s ({n_once}) -> ratio {cond / once:.2f}")


def scale_out(model: dict) -> None:
    """A what-if at many ranks: every rank file is written. Baseline, in the same run: protobuf writing the same
    nodes from ready-made messages (the files read back, then serialized node by node with write_et), which is
    what writing costs at least when each rank's nodes are built as messages (as sample did before 2026-12-05)."""
    from chakra_tools.et import find_rank_files, read_et, write_et
    t0 = time.perf_counter()
    s = sample(model, OUT / "wide", ranks=SCALE_RANKS, seed=7, describe=SCALE_ARCH)
    ours = time.perf_counter() - t0
    ranks = [read_et(p) for _, p in sorted(find_rank_files(OUT / "wide").items())]
    t0 = time.perf_counter()
    for r, (meta, nodes) in enumerate(ranks):
        write_et(OUT / f"rewritten.{r}.et", meta, nodes)
    base = time.perf_counter() - t0
    same = all((OUT / f"rewritten.{r}.et").read_bytes() == p.read_bytes()
               for r, p in sorted(find_rank_files(OUT / "wide").items()))
    print(f"sample {SCALE_RANKS} ranks x {s['nodes_per_rank']} nodes --describe: {ours:.2f} s; protobuf writing "
          f"the same nodes: {base:.2f} s -> ratio {ours / base:.3f} (bytes identical: {same})")


if __name__ == "__main__":
    main()
