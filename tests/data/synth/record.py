"""Record the chakra-synth corpus: 2-rank gloo data-parallel training steps of several small models.

Each model runs one warm-up step (not traced) and one traced step per rank: forward, backward, an
all_reduce of every gradient (DDP-style, gradients averaged), SGD update. torch's ExecutionTraceObserver
writes the PyTorch ET, torch.profiler the Kineto trace (durations); `chakra-convert pytorch` then turns
both ranks into `<model>.<rank>.et` + `<model>.comm_groups.json` next to this file.

Training models (fit corpus): mlp_s, mlp_l, cnn_s, tfm_s, tfm_l.
Held-out models (never fitted): mlp_m, cnn_m, tfm_m.

Usage: OMP_NUM_THREADS=1 .venv/bin/python tests/data/synth/record.py [MODEL...]
(needs torch; takes ~1 min on 2 cores). Durations are CPU times of this machine, so re-recording
changes the numbers; the committed .et files are the reference.
"""

from __future__ import annotations

import os
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
TRAIN = ["mlp_s", "mlp_l", "cnn_s", "tfm_s", "tfm_l"]
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
    "tfm_s": (lambda: tfm(32, 1), (4, 8, 32)),
    "tfm_m": (lambda: tfm(48, 2), (4, 8, 48)),
    "tfm_l": (lambda: tfm(64, 2), (4, 16, 64)),
}


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def worker(rank: int, port: int, name: str, out: str) -> None:
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
    et = ExecutionTraceObserver().register_callback(f"{out}/{name}.rank{rank}.et.json")
    with profile(activities=[ProfilerActivity.CPU], execution_trace_observer=et, record_shapes=True) as prof:
        step()
    prof.export_chrome_trace(f"{out}/{name}.rank{rank}.kineto.json")
    et.unregister_callback()
    dist.destroy_process_group()


def record(name: str, tmp: str) -> None:
    mp.spawn(worker, args=(_free_port(), name, tmp), nprocs=2, join=True)
    conv = Path(sys.executable).with_name("chakra-convert")
    subprocess.run([str(conv), "pytorch", f"{tmp}/{name}.rank0.et.json", f"{tmp}/{name}.rank1.et.json",
                    "--kineto", f"{tmp}/{name}.rank0.kineto.json", "--kineto", f"{tmp}/{name}.rank1.kineto.json",
                    "-o", str(HERE / name), "-q"], check=True)


def main() -> None:
    names = sys.argv[1:] or TRAIN + HELD_OUT
    with tempfile.TemporaryDirectory() as tmp:
        for name in names:
            record(name, tmp)
            print(f"recorded {name}", file=sys.stderr)


if __name__ == "__main__":
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    main()
