"""Record the chakra-synth corpus: 2-rank gloo data-parallel training steps of several small models.

Each model runs TRIES times (fresh process pairs): one warm-up step (not traced), then one traced step per rank: forward, backward, an
all_reduce of every gradient (DDP-style, gradients averaged), SGD update. torch's ExecutionTraceObserver
writes the PyTorch ET, torch.profiler the Kineto trace (durations); `chakra-convert pytorch` turns both
ranks into `<model>.<rank>.et.gz` + `<model>.comm_groups.json`. Of the TRIES steps we keep the one with the
smallest iteration time (max over ranks of the summed durations): the machine is shared, and the minimum
of several runs is the usual way to keep other processes' interference out of a timing.

Training models (fit corpus): mlp_s, mlp_l, cnn_s, cnn_l, tfm_s, tfm_l.
Held-out models (never fitted): mlp_m, cnn_m, tfm_m.

Usage: OMP_NUM_THREADS=1 .venv/bin/python tests/data/synth/record.py [--out DIR] [MODEL...]
(needs torch; ~2 min on 2 cores). Durations are CPU times of this machine, so re-recording changes the
numbers; the committed .et files are the reference.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import tempfile
from pathlib import Path

import torch
import torch.distributed as dist
import torch.multiprocessing as mp
from torch import nn
from torch.profiler import ExecutionTraceObserver, ProfilerActivity, profile

HERE = Path(__file__).resolve().parent
TRAIN = ["mlp_s", "mlp_l", "cnn_s", "cnn_l", "tfm_s", "tfm_l"]
TRIES = 5
HELD_OUT = ["mlp_m", "cnn_m", "tfm_m"]


def mlp(widths: list[int]) -> nn.Module:
    layers: list[nn.Module] = []
    for a, b in zip(widths, widths[1:]):
        layers += [nn.Linear(a, b), nn.ReLU()]
    return nn.Sequential(*layers[:-1])


def cnn(channels: list[int]) -> nn.Module:
    layers: list[nn.Module] = []
    for a, b in zip(channels, channels[1:]):
        layers += [nn.Conv2d(a, b, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2)]
    return nn.Sequential(*layers, nn.Flatten(), nn.LazyLinear(10))


def tfm(d: int, layers: int) -> nn.Module:
    block = nn.TransformerEncoderLayer(d_model=d, nhead=4, dim_feedforward=2 * d, batch_first=True, dropout=0.0)
    return nn.Sequential(nn.TransformerEncoder(block, layers, enable_nested_tensor=False), nn.Flatten(),
                         nn.LazyLinear(10))


MODELS = {
    "mlp_s": (lambda: mlp([64, 128, 10]), (32, 64)),
    "mlp_m": (lambda: mlp([128, 256, 256, 10]), (32, 128)),
    "mlp_l": (lambda: mlp([256, 512, 512, 256, 10]), (32, 256)),
    "cnn_s": (lambda: cnn([3, 8, 16]), (8, 3, 16, 16)),
    "cnn_m": (lambda: cnn([3, 8, 16, 32]), (8, 3, 32, 32)),
    "cnn_l": (lambda: cnn([3, 16, 32, 32]), (8, 3, 32, 32)),
    "tfm_s": (lambda: tfm(32, 1), (4, 8, 32)),
    "tfm_m": (lambda: tfm(48, 2), (4, 8, 48)),
    "tfm_l": (lambda: tfm(64, 2), (4, 16, 64)),
}


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def worker(rank: int, port: int, name: str, base: str) -> None:
    torch.set_num_threads(1)
    dist.init_process_group("gloo", init_method=f"tcp://127.0.0.1:{port}", rank=rank, world_size=2)
    torch.manual_seed(0)
    make, shape = MODELS[name]
    model = make()
    model(torch.randn(*shape))  # materialise lazy layers
    opt = torch.optim.SGD(model.parameters(), lr=0.01)
    torch.manual_seed(rank + 1)
    x, y = torch.randn(*shape), torch.randint(0, 10, (shape[0],))

    def step() -> None:
        opt.zero_grad()
        out_ = model(x)
        loss = nn.functional.cross_entropy(out_, y)
        loss.backward()
        for p in model.parameters():
            dist.all_reduce(p.grad)
            p.grad /= 2
        opt.step()

    step()  # warm-up, not traced
    et = ExecutionTraceObserver().register_callback(f"{base}.rank{rank}.et.json")
    with profile(activities=[ProfilerActivity.CPU], execution_trace_observer=et, record_shapes=True) as prof:
        step()
    prof.export_chrome_trace(f"{base}.rank{rank}.kineto.json")
    et.unregister_callback()
    dist.destroy_process_group()


def iteration_us(prefix: str) -> int:
    from chakra_tools.graph import Trace
    return max(sum(n.duration_micros for n in g.nodes) for g in Trace.load(prefix).ranks.values())


def spawn_pair(name: str, base: str, attempts: int = 3) -> None:
    """Run both ranks in a fresh process pair; gloo sometimes aborts at teardown after the traces are written."""
    files = [Path(f"{base}.rank{r}.{kind}.json") for r in (0, 1) for kind in ("et", "kineto")]
    for attempt in range(attempts):
        try:
            mp.spawn(worker, args=(_free_port(), name, base), nprocs=2, join=True)
            return
        except mp.ProcessExitedException:
            if all(f.exists() and f.stat().st_size for f in files):
                return
            if attempt == attempts - 1:
                raise


def record(name: str, tmp: str, out: Path) -> None:
    conv = Path(sys.executable).with_name("chakra-convert")
    times = []
    for k in range(TRIES):
        b = f"{tmp}/{name}.try{k}"
        spawn_pair(name, b)
        subprocess.run([str(conv), "pytorch", f"{b}.rank0.et.json", f"{b}.rank1.et.json", "--kineto",
                        f"{b}.rank0.kineto.json", "--kineto", f"{b}.rank1.kineto.json", "-o", b, "--gz", "-q"], check=True)
        times.append(iteration_us(b))
    best = times.index(min(times))
    for suffix in (".0.et.gz", ".1.et.gz", ".comm_groups.json"):
        shutil.copyfile(f"{tmp}/{name}.try{best}{suffix}", out / f"{name}{suffix}")
    print(f"recorded {name}: iteration times {times} us, kept try {best}", file=sys.stderr)


def main() -> None:
    args = sys.argv[1:]
    out = HERE
    if args[:1] == ["--out"]:
        out, args = Path(args[1]), args[2:]
        out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        for name in args or TRAIN + HELD_OUT:
            record(name, tmp, out)


if __name__ == "__main__":
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    main()
