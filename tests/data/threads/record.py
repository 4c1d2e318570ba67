"""Record a two-thread training trace: a 2-rank gloo data-parallel MLP step (forward, backward, one all_reduce per
gradient, SGD) while a second Python thread prepares the next batch with torch ops (flip, noise, standardise): the
prefetcher pattern of real input pipelines. PyTorch's ExecutionTraceObserver records every thread's ops with its
`tid`; `chakra-convert pytorch` chains each thread's ops, so the ET holds two per-thread chains per rank.

Usage: .venv/bin/python tests/data/threads/record.py   (needs torch; a few seconds) -> prefetch.{0,1}.et.gz
"""

from __future__ import annotations

import socket
import subprocess
import sys
import tempfile
import threading
from pathlib import Path

import torch
import torch.distributed as dist
import torch.multiprocessing as mp
from torch import nn

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "synth"))
from record import traced  # noqa: E402  (the corpus recorder's traced step)

WARMUP = 3


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def worker(rank: int, port: int, base: str) -> None:
    torch.set_num_threads(1)
    dist.init_process_group("gloo", init_method=f"tcp://127.0.0.1:{port}", rank=rank, world_size=2)
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(64, 128), nn.ReLU(), nn.Linear(128, 128), nn.ReLU(), nn.Linear(128, 10))
    opt = torch.optim.SGD(model.parameters(), lr=0.01)
    torch.manual_seed(rank + 1)
    raw, y = torch.randn(256, 64), torch.randint(0, 10, (32,))
    x = raw[:32]

    def prepare(out: list) -> None:  # the next batch, on the prefetch thread
        b = raw.flip(0) * 0.5 + torch.randn_like(raw) * 0.1
        b = (b - b.mean(0)) / (b.std(0) + 1e-5)
        out.append(b[:32].contiguous())

    def step() -> None:
        nxt: list = []
        t = threading.Thread(target=prepare, args=(nxt,))
        t.start()
        opt.zero_grad()
        nn.functional.cross_entropy(model(x), y).backward()
        for p in model.parameters():
            dist.all_reduce(p.grad)
            p.grad /= 2
        opt.step()
        t.join()

    for _ in range(WARMUP):
        step()
    traced(step, f"{base}.rank{rank}")
    dist.destroy_process_group()


def main() -> None:
    conv = Path(sys.executable).with_name("chakra-convert")
    with tempfile.TemporaryDirectory() as tmp:
        base = f"{tmp}/prefetch"
        mp.spawn(worker, args=(_free_port(), base), nprocs=2, join=True)
        subprocess.run([str(conv), "pytorch", f"{base}.rank0.et.json", f"{base}.rank1.et.json", "--kineto",
                        f"{base}.rank0.kineto.json", "--kineto", f"{base}.rank1.kineto.json", "-o", base, "-q"],
                       check=True)
        from chakra_tools.et import rank_path, read_et, write_et

        for r in (0, 1):
            meta, nodes = read_et(rank_path(base, r))
            write_et(rank_path(HERE / "prefetch", r, gz=True), meta, nodes)
        groups = Path(f"{base}.comm_groups.json")
        if groups.exists():
            (HERE / "prefetch.comm_groups.json").write_text(groups.read_text())


if __name__ == "__main__":
    main()
