"""Bench: vegeta-sim on the full BERT-large layer set (24 layers x Q, K, V, O, FFN1, FFN2) against a 1 s target.

Cases (cold caches, in process; CPU time, so other jobs on the machine do not distort it):
  1. one pattern (2:4) + the dense RASA-SM baseline - what `vegeta-sim --layers bert-large` computes
  2. the four published patterns (4:4, 2:4, 1:4, unstructured 95 %) + baseline - `--sparsity all`
Baseline for the method: the same schedules simulated instruction by instruction over a whole GEMM (BERT-large
Q, 1024 x 1024 x 512; no block extrapolation) - its time, and the block model's error against it.
"""
import time

from vegeta.api import run
from vegeta.engines import BASELINE_ENGINE, DEFAULT_ENGINE, CoreConfig, parse_engine
from vegeta.model import _best, _chain, full_stream_cycles, gemm_timing
from vegeta.sparsity import PAPER_PATTERNS, parse_pattern
from vegeta.workloads import preset

TARGET_S = 1.0


def clear() -> None:
    _chain.cache_clear()
    _best.cache_clear()


def cold(patterns) -> tuple[float, list[float]]:
    clear()
    wl = preset("bert-large")
    t0 = time.process_time()
    sp = [run(wl, parse_pattern(s))["speedup"] for s in patterns]
    return time.process_time() - t0, sp


if __name__ == "__main__":
    t1, (s24,) = cold(["2:4"])
    print(f"vegeta-sim: BERT-large, 144 GEMMs (6 shapes) at 2:4 + dense baseline: {t1:.3f} CPU s "
          f"(target {TARGET_S:.0f} s, ratio {t1 / TARGET_S:.3f}); speed-up {s24:.3f}")
    t4, sps = cold(PAPER_PATTERNS)
    print(f"vegeta-sim: BERT-large, the four published patterns + baseline: {t4:.3f} CPU s "
          f"(target {TARGET_S:.0f} s, ratio {t4 / TARGET_S:.3f}); speed-ups "
          + ", ".join(f"{p} {s:.3f}" for p, s in zip(PAPER_PATTERNS, sps)))
    eng, base, core = parse_engine(DEFAULT_ENGINE), parse_engine(BASELINE_ENGINE), CoreConfig()
    worst, t_full, t_model = 0.0, 0.0, 0.0
    g = preset("bert-large").gemms[0]                     # Q projection: 1024 x 1024 x 512
    for e, specs in ((eng, PAPER_PATTERNS), (base, ("4:4",))):
        for spec in specs:
            p = parse_pattern(spec)
            clear()
            t0 = time.process_time()
            t = gemm_timing(g, p, e, core)
            t_model += time.process_time() - t0
            t0 = time.process_time()
            full = full_stream_cycles(g, p, e, core, t)
            t_full += time.process_time() - t0
            worst = max(worst, abs(t.core_cycles / full - 1))
    print(f"vegeta-sim: instruction-by-instruction simulation of the same schedules (BERT-large Q, 4 patterns + "
          f"baseline): "
          f"{t_full:.2f} s vs block model {t_model:.3f} s (ratio {t_model / t_full:.4f}); "
          f"max core-cycle error {100 * worst:.4f} %")
