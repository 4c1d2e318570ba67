"""chakra-convert pytorch throughput (wall MB/s and MB per CPU-second) and peak memory on a >= 100 MB PyTorch ET.

The trace is recorded once with torch (MLP width 32, depth 50, 50 training iterations: the workload of
reference/chakra.md §6) and cached in bench/out/. Baseline: MLCommons' `chakra_converter PyTorch` measured on a
123.8 MB trace of that workload on a 2-core machine like this one: 36.24 s wall, 19.93 + 2.43 s user + sys
CPU (a second run: 32.88 s, 19.69 + 2.01 s), 1.33 GB peak RSS (10.8x the input).

Why MB per CPU-second is the fair comparison: that baseline ran while other jobs loaded the machine, so it got
only 61-66 % of a core and its wall time (3.4-3.8 MB/s, quoted as 3.5) includes the time it waited. It cannot be
re-run here (it needs et_replay, which does not install), so only the CPU time both converters spend is
comparable: the baseline's 123.8 MB / 22.36 CPU-s = 5.5 MB/CPU-s (5.7 in its second run) against ours, the
user + sys time of the converter process (os.wait4 on it: the interpreter start-up and the writing of the .et
are included, as they are in the baseline's figure). The converter is single-threaded, so its CPU-seconds
are not lowered by parallelism. Wall MB/s is printed too, against the loaded 3.5 MB/s.
Targets (issue 2): >= 5x the baseline's throughput, peak RSS <= 3x the input.
The machine is shared, so timings of one build wander by 10-30 % with what else runs. Printed: the best of
--repeat runs (default 5; other processes only ever add time, so the minimum is the converter's own cost, as
timeit's documentation argues) and the median. Against the baseline's better run (5.7 MB/CPU-s) the ratios are
3 % lower.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

OUT = Path(__file__).resolve().parent / "out"
TRACE = OUT / "mlp_big.et.json"
BASE_MB = 123.8
BASE_MBPS_WALL = 3.5                    # under load (61-66 % of a core)
BASE_MB_PER_CPU_S = BASE_MB / (19.93 + 2.43)  # 5.5
BASE_RSS_RATIO = 1_332_020 * 1024 / (BASE_MB * 1e6)
TARGET_RATIO, TARGET_RSS = 5.0, 3.0

RECORD = r"""
import sys, torch
from torch.profiler import ExecutionTraceObserver
torch.manual_seed(0)
layers = []
for _ in range(50):
    layers += [torch.nn.Linear(32, 32), torch.nn.ReLU()]
model = torch.nn.Sequential(*layers)
opt = torch.optim.SGD(model.parameters(), lr=0.01)
x, y = torch.randn(16, 32), torch.randn(16, 32)
et = ExecutionTraceObserver().register_callback(sys.argv[1])
et.start()
for _ in range(50):
    opt.zero_grad()
    torch.nn.functional.mse_loss(model(x), y).backward()
    opt.step()
et.stop()
et.unregister_callback()
"""


def convert_once() -> tuple[float, float, int]:
    """(wall s, user+sys CPU s, peak RSS bytes) of one `chakra-convert pytorch` process."""
    code = ("from chakra_tools.cli_convert import main\n"
            f"main(['pytorch', {str(TRACE)!r}, '-o', {str(OUT / 'mlp_big')!r}, '-q'])\n")
    t = time.perf_counter()
    pid = os.posix_spawn(sys.executable, [sys.executable, "-c", code], os.environ)
    _, status, ru = os.wait4(pid, 0)  # this child's own rusage (not the recorder's)
    wall = time.perf_counter() - t
    if os.waitstatus_to_exitcode(status) != 0:
        sys.exit(f"chakra-convert failed (exit {os.waitstatus_to_exitcode(status)})")
    return wall, ru.ru_utime + ru.ru_stime, ru.ru_maxrss * 1024


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--repeat", type=int, default=5, help="conversions to run (best and median are reported)")
    args = ap.parse_args()
    OUT.mkdir(exist_ok=True)
    if not TRACE.exists() or TRACE.stat().st_size < 100e6:
        try:
            import torch  # noqa: F401
        except ImportError:
            print("torch is not installed: run `make record-traces` once (pip install -e '.[record]')")
            return
        t = time.perf_counter()
        subprocess.run([sys.executable, "-c", RECORD, str(TRACE)], check=True)
        print(f"recorded {TRACE.name}: {TRACE.stat().st_size / 1e6:.1f} MB in {time.perf_counter() - t:.1f} s")
    mb = TRACE.stat().st_size / 1e6
    runs = [convert_once() for _ in range(max(1, args.repeat))]
    rss = max(r[2] for r in runs)
    print(f"input {mb:.1f} MB, {len(runs)} runs: CPU {', '.join(f'{r[1]:.2f}' for r in runs)} s; "
          f"wall {', '.join(f'{r[0]:.2f}' for r in runs)} s")
    for label, pick in (("best", min), ("median", statistics.median)):
        per_cpu, per_wall = mb / pick(r[1] for r in runs), mb / pick(r[0] for r in runs)
        print(f"{label:>6}: {per_cpu:.1f} MB per CPU-second vs MLCommons {BASE_MB_PER_CPU_S:.1f} -> "
              f"{per_cpu / BASE_MB_PER_CPU_S:.1f}x (target >= {TARGET_RATIO:.0f}x);   wall {per_wall:.1f} MB/s vs "
              f"{BASE_MBPS_WALL:.1f} (loaded) -> {per_wall / BASE_MBPS_WALL:.1f}x")
    print(f"peak RSS: {rss / 1e6:.0f} MB = {rss / (mb * 1e6):.2f}x input vs MLCommons {BASE_RSS_RATIO:.1f}x   "
          f"(target <= {TARGET_RSS:.0f}x)")

if __name__ == "__main__":
    main()
