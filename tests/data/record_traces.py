"""Record the bundled PyTorch Execution Traces (+ Kineto CPU traces) used by the tests and the demo.

Run with `make record-traces` (needs torch; the CPU wheel is on this machine). Writes, next to this file:
  mlp.et.json / mlp.kineto.json                  one MLP training step (Linear+ReLU, SGD)
  transformer.et.json / transformer.kineto.json  one transformer encoder block, forward + backward
  gloo.rank{0,1}.et.json / gloo.rank{0,1}.kineto.json
      a 2-rank gloo run on 127.0.0.1: all_reduce(1024 fp32), all_gather(256 fp32 per rank),
      broadcast(512 fp32 from rank 0), all_to_all_single is not supported by gloo for CPU in all builds
      (attempted, skipped on error), send/recv 128 fp32 with tag 7 (0 -> 1) and tag 9 (1 -> 0), barrier, and
      an all_reduce(64 fp32) on a subgroup made with dist.new_group([0, 1]).
  funcol.rank{0..3}.et.json / funcol.rank{0..3}.kineto.json
      a 4-rank gloo run with torch's functional collectives (as DTensor's tensor parallelism issues them), which
      name their group: all_reduce(64 fp32) on the pair groups {0,1}/{2,3}, then on the strided groups {0,2}/{1,3},
      then a plain c10d all_reduce on the strided group (a c10d call on gloo names no group).
`python tests/data/record_traces.py funcol` records the funcol traces only.
"""

from __future__ import annotations

import os
import socket
import sys
from pathlib import Path

import torch
import torch.distributed as dist
import torch.multiprocessing as mp
from torch.profiler import ExecutionTraceObserver, ProfilerActivity, profile

HERE = Path(__file__).resolve().parent


def traced(name: str, fn) -> None:
    et = ExecutionTraceObserver().register_callback(str(HERE / f"{name}.et.json"))
    with profile(activities=[ProfilerActivity.CPU], execution_trace_observer=et, record_shapes=True) as prof:
        fn()
    prof.export_chrome_trace(str(HERE / f"{name}.kineto.json"))
    et.unregister_callback()


def mlp_step() -> None:
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Linear(64, 128), torch.nn.ReLU(), torch.nn.Linear(128, 128),
                                torch.nn.ReLU(), torch.nn.Linear(128, 10))
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    x, y = torch.randn(32, 64), torch.randint(0, 10, (32,))
    opt.zero_grad()
    loss = torch.nn.functional.cross_entropy(model(x), y)
    loss.backward()
    opt.step()


def transformer_step() -> None:
    torch.manual_seed(0)
    block = torch.nn.TransformerEncoderLayer(d_model=64, nhead=4, dim_feedforward=128, batch_first=True,
                                             dropout=0.0)
    x = torch.randn(4, 16, 64)
    block(x).sum().backward()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def gloo_worker(rank: int, port: int) -> None:
    dist.init_process_group("gloo", init_method=f"tcp://127.0.0.1:{port}", rank=rank, world_size=2)
    sub = dist.new_group([0, 1])

    def work() -> None:
        t = torch.full((1024,), float(rank + 1))
        dist.all_reduce(t)
        shard = torch.full((256,), float(rank))
        gathered = [torch.empty(256) for _ in range(2)]
        dist.all_gather(gathered, shard)
        b = torch.arange(512, dtype=torch.float32) if rank == 0 else torch.empty(512)
        dist.broadcast(b, src=0)
        p = torch.full((128,), float(rank))
        if rank == 0:
            dist.send(p, dst=1, tag=7)
            dist.recv(p, src=1, tag=9)
        else:
            dist.recv(p, src=0, tag=7)
            dist.send(p, dst=0, tag=9)
        dist.barrier()
        s = torch.ones(64)
        dist.all_reduce(s, group=sub)

    traced(f"gloo.rank{rank}", work)
    dist.destroy_process_group()


def funcol_worker(rank: int, port: int) -> None:
    import torch.distributed._functional_collectives as funcol

    dist.init_process_group("gloo", init_method=f"tcp://127.0.0.1:{port}", rank=rank, world_size=4)
    pair = [dist.new_group([0, 1]), dist.new_group([2, 3])][rank // 2]
    strided = [dist.new_group([0, 2]), dist.new_group([1, 3])][rank % 2]

    def work() -> None:
        x = funcol.wait_tensor(funcol.all_reduce(torch.ones(64), "sum", pair)) * 2
        y = funcol.wait_tensor(funcol.all_reduce(x, "sum", strided)) + 1
        dist.all_reduce(y, group=strided)

    traced(f"funcol.rank{rank}", work)
    dist.barrier()
    dist.destroy_process_group()


def main() -> None:
    if sys.argv[1:] == ["funcol"]:
        mp.spawn(funcol_worker, args=(_free_port(),), nprocs=4, join=True)
        return
    traced("mlp", mlp_step)
    traced("transformer", transformer_step)
    mp.spawn(gloo_worker, args=(_free_port(),), nprocs=2, join=True)
    mp.spawn(funcol_worker, args=(_free_port(),), nprocs=4, join=True)
    for f in sorted(HERE.glob("*.json")):
        print(f"{f.name}: {f.stat().st_size} bytes", file=sys.stderr)


if __name__ == "__main__":
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    main()
