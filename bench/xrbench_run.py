"""Bench: all 7 scenarios x 13 styles x 2 sizes (182 simulations) against the 10 s target.

Baseline: the same sweep with the per-(model, accelerator) cost cache and the per-model layer arrays
cleared before every system (a naive run that rebuilds the 11 layer lists and re-evaluates the per-layer
cost model, ~1,500 layers per sub-accelerator, each time).
"""
import time

from xrbench.accelerators import STYLES, parse_preset
from xrbench.api import evaluate, system_costs
from xrbench.costmodel import model_cost, shapes
from xrbench.models import _layers
from xrbench.scenarios import BUILTIN, SCENARIO_ORDER

TARGET_S = 10.0


def sweep(clear_cache: bool) -> float:
    t0 = time.perf_counter()
    scs = [BUILTIN[n] for n in SCENARIO_ORDER]
    for letter in STYLES:
        for size in ("4K", "8K"):
            if clear_cache:
                model_cost.cache_clear()
                shapes.cache_clear()
                _layers.cache_clear()
            for compat in (True, False):
                evaluate(scs, system_costs(parse_preset(f"{letter}_{size}")[1]), compat=compat)
    return time.perf_counter() - t0


if __name__ == "__main__":
    naive = sweep(True)
    ours = sweep(False)
    print(f"xrbench-run: 7 scenarios x 13 styles x 2 sizes, compat + default mode: {ours:.2f} s "
          f"(target {TARGET_S:.0f} s, ratio {ours / TARGET_S:.3f}; uncached {naive:.2f} s, "
          f"speed-up {naive / ours:.2f}x)")
