"""chakra-convert pytorch throughput and peak memory on a >= 100 MB recorded PyTorch ET.

The trace is recorded once with torch (MLP width 32, depth 50, 50 training iterations: the workload of
reference/chakra.md §6) and cached in bench/out/. Baseline: MLCommons' converter measured on the same kind of
machine on a 123.8 MB trace of that workload: 3.5 MB/s wall, 1.33 GB peak RSS (10.8x the input).
Targets: >= 5x the throughput, peak RSS <= 3x the input.
"""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

OUT = Path(__file__).resolve().parent / "out"
TRACE = OUT / "mlp_big.et.json"
BASE_MBPS, BASE_RSS_RATIO = 3.5, 1_332_020 * 1024 / 123.8e6

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


def main() -> None:
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
    size = TRACE.stat().st_size
    # a fresh interpreter that reports its own peak RSS (the recorder's is not mixed in)
    code = ("import atexit, resource, sys\n"
            "atexit.register(lambda: print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss, file=sys.stderr))\n"
            "from chakra_tools.cli_convert import main\n"
            f"main(['pytorch', {str(TRACE)!r}, '-o', {str(OUT / 'mlp_big')!r}, '-q'])\n")
    t = time.perf_counter()
    r = subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, text=True)
    wall = time.perf_counter() - t
    rss = int(r.stderr.strip().splitlines()[-1]) * 1024
    mbps = size / 1e6 / wall
    print(f"input {size / 1e6:.1f} MB   wall {wall:.2f} s   {mbps:.1f} MB/s   peak RSS {rss / 1e6:.0f} MB "
          f"({rss / size:.2f}x input)")
    print(f"throughput vs MLCommons converter: {mbps / BASE_MBPS:.1f}x   (target >= 5x)")
    print(f"peak RSS / input: ours {rss / size:.2f}x vs MLCommons {BASE_RSS_RATIO:.1f}x   (target <= 3x)")


if __name__ == "__main__":
    main()
