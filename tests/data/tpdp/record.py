"""Record the hybrid-parallel fixture: Megatron-style tensor-parallel x data-parallel training steps on gloo.

Two worlds of the same model, so that chakra-synth's process-group roles can be checked against a real recording
at a second world size: `tp2dp2` (4 ranks) and `tp2dp4` (8 ranks). Ranks are laid out tensor-parallel inner, as
Megatron-LM does: rank = dp * TP + tp, so the TP groups are {0,1}, {2,3}, ... and the DP groups {0,2}, {1,3} (4
ranks) or {0,2,4,6}, {1,3,5,7} (8 ranks).

Model (per DP rank a batch of 8 x 16 tokens, hidden H = 64): input Linear(32, H) (replicated), then BLOCKS
Megatron MLP blocks -- f (identity forward, TP all_reduce of the input gradient backward), column-parallel
Linear(H, 4H / TP), GELU, row-parallel Linear(4H / TP, H) without bias, g (TP all_reduce forward, identity backward),
bias --, then Linear(H, 10) and cross-entropy. After backward one DP all_reduce per gradient (averaged) and SGD.
Every collective is a functional collective (torch.distributed._functional_collectives, what DTensor uses), so
the trace names each one's process group.

Each world runs WARMUP untraced steps, then STEPS traced ones (ExecutionTraceObserver + torch.profiler, converted
with `chakra-convert pytorch --kineto`); the committed trace is a step with every node's duration replaced by its
minimum over the steps with the same nodes. Durations are CPU times of this 2-core machine with 4 or 8 processes on it: the
fixture is for the communication structure (groups, sizes, order), its times are only indicative.

A third world is pipeline-parallel, `pp2dp2` (4 ranks, PP 2 x DP 2, rank = stage * DP + dp as Megatron-LM lays
out pipeline stages outermost): stage 0 holds Linear(32, H), GELU, Linear(H, H), GELU; stage 1 Linear(H, H), GELU,
Linear(H, 10) and the loss. The batch runs as MICRO micro-batches in the 1F1B schedule (stage 0: forward i + 1
before backward i, its activations sent after that backward; stage 1: forward and backward of each in turn):
activations go stage 0 -> 1 and their gradients 1 -> 0 with blocking c10d send/recv (tag = micro-batch; an isend
on gloo leaves its record-function scope open until waited, so the ET would nest every later op under it), then
one DP all_reduce per gradient inside the stage. The two stages run different programs: heterogeneous ranks.
`tp2pp2dp2` and `tp2pp2dp4` (8 and 16 ranks) add tensor parallelism inside each stage: Megatron's 3-D layout, rank
= (stage * DP + dp) * TP + tp, each stage's hidden layer a TPBlock on its TP pair. `pp4` is a 4-stage GPipe pipeline of one rank per stage with a gradient-norm all-reduce over all stages
(gpipe_worker). `pp2dp2_h<H>` and `pp4_h<H>` are those two pipelines at hidden size H (WIDTHS_TRAIN and
WIDTHS_HELD_OUT, each with a `.describe.json` sidecar {"width": H}): chakra-synth's what-if at a bigger pipeline is
fitted on the first and checked on the second (tests/chakra_synth/test_pipeline_what_if.py). Both families were
recorded in one run with `--passes 2`, in order of H, the two families alternating; `pp2dp4_h320` (PP 2 x DP 4 at
width 320, for both what-ifs at once) after them, also with `--passes 2`. `pp2dp2_m<M>` and `pp4_m<M>` are the two
pipelines (H = 64) with M = 2, 4, 8 micro-batches of the same 32 rows (the global batch grows with M), recorded in
one run with `--passes 2`: chakra-synth's what-if on the number of micro-batches is fitted on M = 4 and checked on
2 and 8 (tests/chakra_synth/test_micro_batches.py).

Usage: OMP_NUM_THREADS=1 python tests/data/tpdp/record.py [--out DIR] [--passes N] [WORLD...]
(needs torch 2.13 CPU; ~20 s per world and pass). With --passes N every world runs N fresh process groups,
round-robin over the worlds given (pass k of every world before pass k + 1 of any), and its minimum is taken over
the steps of all of them: a world recorded while the machine was slow for a while is not slow in the minimum.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
from functools import partial
from pathlib import Path

import numpy as np
import torch
import torch.distributed as dist
import torch.distributed._functional_collectives as funcol
import torch.multiprocessing as mp
from torch import nn
from torch.profiler import ExecutionTraceObserver, ProfilerActivity, profile

HERE = Path(__file__).resolve().parent
TP, HIDDEN, BLOCKS, BATCH, TOKENS, INPUTS = 2, 64, 2, 8, 16, 32
PP, MICRO = 2, 4
FUNCOL_BOOKKEEPING = {"_c10d_functional::wait_tensor", "_c10d_functional::_wrap_tensor_autograd", "PythonSubclass"}
WARMUP, STEPS = 3, 30


def all_reduce(x, group):
    """Sum over `group` with torch's functional collectives, as DTensor's tensor parallelism issues them: their ET
    nodes name the group (a plain c10d call on gloo does not), which chakra-convert gives the collective."""
    return funcol.wait_tensor(funcol.all_reduce(x.contiguous(), "sum", group))


class CopyToTP(torch.autograd.Function):
    """Megatron's f: identity forward; the input gradient is summed over the TP group."""

    @staticmethod
    def forward(ctx, x, group):
        ctx.group = group
        return x

    @staticmethod
    def backward(ctx, grad):
        return all_reduce(grad, ctx.group), None


class ReduceFromTP(torch.autograd.Function):
    """Megatron's g: the partial outputs are summed over the TP group; identity backward."""

    @staticmethod
    def forward(ctx, x, group):
        return all_reduce(x, group)

    @staticmethod
    def backward(ctx, grad):
        return grad, None


class TPBlock(nn.Module):
    def __init__(self, group) -> None:
        super().__init__()
        self.group = group
        self.up = nn.Linear(HIDDEN, 4 * HIDDEN // TP)
        self.down = nn.Linear(4 * HIDDEN // TP, HIDDEN, bias=False)
        self.bias = nn.Parameter(torch.zeros(HIDDEN))

    def forward(self, x):
        h = nn.functional.gelu(self.up(CopyToTP.apply(x, self.group)))
        return ReduceFromTP.apply(self.down(h), self.group) + self.bias


def worker(rank: int, world: int, port: int, base: str) -> None:
    torch.set_num_threads(1)
    dist.init_process_group("gloo", init_method=f"tcp://127.0.0.1:{port}", rank=rank, world_size=world)
    dp = world // TP
    # every rank creates every group, in the same order (torch names them 1, 2, ... in creation order)
    tp_groups = [dist.new_group([d * TP + t for t in range(TP)]) for d in range(dp)]
    dp_groups = [dist.new_group([d * TP + t for d in range(dp)]) for t in range(TP)]
    tp_group, dp_group = tp_groups[rank // TP], dp_groups[rank % TP]
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(INPUTS, HIDDEN), *[TPBlock(tp_group) for _ in range(BLOCKS)],
                          nn.Linear(HIDDEN, 10))
    opt = torch.optim.SGD(model.parameters(), lr=0.01)
    torch.manual_seed(1 + rank // TP)  # the ranks of one TP group see the same batch
    x, y = torch.randn(BATCH * TOKENS, INPUTS), torch.randint(0, 10, (BATCH * TOKENS,))

    def step() -> None:
        opt.zero_grad()
        nn.functional.cross_entropy(model(x), y).backward()
        for p in model.parameters():
            p.grad = all_reduce(p.grad, dp_group) / dp
        opt.step()

    traced_steps(step, rank, base)


def traced_steps(step, rank: int, base: str) -> None:
    """WARMUP untraced steps, then STEPS traced ones (ET + Kineto files per step and rank)."""
    for _ in range(WARMUP):
        step()
    for s in range(STEPS):
        et = ExecutionTraceObserver().register_callback(f"{base}.s{s}.rank{rank}.et.json")
        with profile(activities=[ProfilerActivity.CPU], execution_trace_observer=et, record_shapes=True) as prof:
            step()
        prof.export_chrome_trace(f"{base}.s{s}.rank{rank}.kineto.json")
        et.unregister_callback()
    dist.barrier()
    dist.destroy_process_group()


def pp_worker(rank: int, world: int, port: int, base: str, tp: int = 1, hidden: int = HIDDEN,
              micro: int = MICRO) -> None:
    """PP x DP (tp = 1) or TP x PP x DP: rank = (stage * DP + dp) * TP + tp, stages outermost as in Megatron-LM;
    with TP each stage's hidden layer is a Megatron MLP block (TPBlock) on the stage's TP pair."""
    torch.set_num_threads(1)
    dist.init_process_group("gloo", init_method=f"tcp://127.0.0.1:{port}", rank=rank, world_size=world)
    dp = world // (PP * tp)
    stage, d = rank // (dp * tp), (rank // tp) % dp
    peer = (rank + dp * tp) % world  # the other stage's rank of the same DP and TP index
    # every rank creates every group, in the same order (torch names them 1, 2, ... in creation order)
    tp_groups = {(s, x): dist.new_group([(s * dp + x) * tp + t for t in range(tp)])
                 for s in range(PP) for x in range(dp)} if tp > 1 else {}
    dp_groups = [dist.new_group([(s * dp + x) * tp + t for x in range(dp)]) for s in range(PP) for t in range(tp)]
    dp_group = dp_groups[stage * tp + rank % tp]
    torch.manual_seed(stage)
    if tp > 1:
        block = TPBlock(tp_groups[(stage, d)])
        layers = [nn.Linear(INPUTS, hidden), nn.GELU(), block] if stage == 0 else [block, nn.Linear(hidden, 10)]
    else:
        layers = ([nn.Linear(INPUTS, hidden), nn.GELU(), nn.Linear(hidden, hidden), nn.GELU()] if stage == 0 else
                  [nn.Linear(hidden, hidden), nn.GELU(), nn.Linear(hidden, 10)])
    model = nn.Sequential(*layers)
    opt = torch.optim.SGD(model.parameters(), lr=0.01)
    torch.manual_seed(1 + d)  # the stages and TP ranks of one pipeline see the same batch
    rows = BATCH * TOKENS // MICRO  # a micro-batch's rows; `micro` of them per step
    xs = torch.randn(micro, rows, INPUTS).unbind(0)
    ys = torch.randint(0, 10, (micro, rows)).unbind(0)

    def step() -> None:
        opt.zero_grad()
        if stage == 0:
            outs = [model(xs[0])]
            dist.send(outs[0].detach().contiguous(), peer, tag=0)
            for i in range(1, micro + 1):
                if i < micro:
                    outs.append(model(xs[i]))
                grad = torch.empty(rows, hidden)
                dist.recv(grad, peer, tag=micro + i - 1)
                outs[i - 1].backward(grad)
                if i < micro:  # sent after backward i - 1, which stage 1 sent its gradient for before this recv
                    dist.send(outs[i].detach().contiguous(), peer, tag=i)
        else:
            for i in range(micro):
                act = torch.empty(rows, hidden)
                dist.recv(act, peer, tag=i)
                act.requires_grad_()
                (nn.functional.cross_entropy(model(act), ys[i]) / micro).backward()
                dist.send(act.grad.contiguous(), peer, tag=micro + i)
        for p in model.parameters():
            p.grad = all_reduce(p.grad, dp_group) / dp
        opt.step()

    traced_steps(step, rank, base)


def gpipe_worker(rank: int, world: int, port: int, base: str, hidden: int = HIDDEN, micro: int = MICRO) -> None:
    """`pp4`: four stages, one rank each, GPipe (all forwards, then all backwards, blocking send/recv), then the
    gradient norm all-reduced over the whole pipeline (a collective of every stage: Megatron clips gradients by
    the model-parallel norm) and SGD."""
    torch.set_num_threads(1)
    dist.init_process_group("gloo", init_method=f"tcp://127.0.0.1:{port}", rank=rank, world_size=world)
    first, last = rank == 0, rank == world - 1
    torch.manual_seed(rank)
    layers = [nn.Linear(INPUTS if first else hidden, hidden), nn.GELU()] + ([nn.Linear(hidden, 10)] if last else [])
    model = nn.Sequential(*layers)
    opt = torch.optim.SGD(model.parameters(), lr=0.01)
    torch.manual_seed(1)
    rows = BATCH * TOKENS // MICRO  # a micro-batch's rows; `micro` of them per step
    xs = torch.randn(micro, rows, INPUTS).unbind(0)
    ys = torch.randint(0, 10, (micro, rows)).unbind(0)
    world_group = dist.group.WORLD

    def step() -> None:
        opt.zero_grad()
        ins, outs = [], []
        for i in range(micro):
            if first:
                x = xs[i]
            else:
                x = torch.empty(rows, hidden)
                dist.recv(x, rank - 1, tag=i)
                x.requires_grad_()
            out = model(x)
            ins.append(x)
            outs.append(nn.functional.cross_entropy(out, ys[i]) / micro if last else out)
            if not last:
                dist.send(out.detach().contiguous(), rank + 1, tag=i)
        for i in reversed(range(micro)):
            if last:
                outs[i].backward()
            else:
                grad = torch.empty(rows, hidden)
                dist.recv(grad, rank + 1, tag=micro + i)
                outs[i].backward(grad)
            if not first:
                dist.send(ins[i].grad.contiguous(), rank - 1, tag=micro + i)
        norm = all_reduce(torch.stack([p.grad.pow(2).sum() for p in model.parameters()]).sum().reshape(1),
                          world_group).sqrt()
        for p in model.parameters():
            p.grad = p.grad * torch.clamp(1.0 / (norm + 1e-6), max=1.0)
        opt.step()

    traced_steps(step, rank, base)


WORLDS = {"tp2dp2": (worker, 4), "tp2dp4": (worker, 8), "pp2dp2": (pp_worker, 4), "pp2dp4": (pp_worker, 8),
          "pp4": (gpipe_worker, 4), "tp2pp2dp2": (partial(pp_worker, tp=2), 8),
          "tp2pp2dp4": (partial(pp_worker, tp=2), 16)}
# the pipeline at several hidden sizes (chakra-synth's what-if at a bigger model of a pipeline: fitted on the
# TRAIN widths, each HELD_OUT one synthesized from its width alone); recorded in one run, in order of width
WIDTHS_TRAIN, WIDTHS_HELD_OUT = (64, 96, 128, 192, 256, 384, 512), (160, 320, 768)
WORLDS.update({f"pp2dp2_h{h}": (partial(pp_worker, hidden=h), 4) for h in sorted(WIDTHS_TRAIN + WIDTHS_HELD_OUT)})
WORLDS.update({f"pp4_h{h}": (partial(gpipe_worker, hidden=h), 4) for h in sorted(WIDTHS_TRAIN + WIDTHS_HELD_OUT)})
# the two pipelines with 2, 4 and 8 micro-batches of the same size (chakra-synth's what-if on the number of
# micro-batches: fitted on m = 4, checked at 2 and 8); recorded in one run, round-robin
MICRO_BATCHES = (2, 4, 8)
WORLDS.update({f"pp2dp2_m{m}": (partial(pp_worker, micro=m), 4) for m in MICRO_BATCHES})
WORLDS.update({f"pp4_m{m}": (partial(gpipe_worker, micro=m), 4) for m in MICRO_BATCHES})
WORLDS["pp2dp4_h320"] = (partial(pp_worker, hidden=320), 8)  # a held-out width at twice the data parallelism


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def run(name: str, tmp: str, run_index: int) -> list[str]:
    """One process group of `name` (WARMUP + STEPS steps), its steps converted: their prefixes."""
    base = f"{tmp}/{name}.p{run_index}"
    fn, world = WORLDS[name]
    mp.spawn(fn, args=(world, _free_port(), base), nprocs=world, join=True)
    conv = Path(sys.executable).with_name("chakra-convert")
    steps = []
    for s in range(STEPS):
        b = f"{base}.s{s}"
        ets = [f"{b}.rank{r}.et.json" for r in range(world)]
        kineto = [x for r in range(world) for x in ("--kineto", f"{b}.rank{r}.kineto.json")]
        subprocess.run([str(conv), "pytorch", *ets, *kineto, "-o", b, "-q"], check=True)
        steps.append(b)
    return steps


def reduce_steps(name: str, steps: list[str], out: Path) -> None:
    """Write `name`'s committed trace: one step with every node at its minimum over the aligned steps."""
    from chakra_tools.et import rank_path, read_et, write_et

    world = WORLDS[name][1]
    for r in range(world):
        traces = [(meta, sorted(ns, key=lambda n: n.id)) for meta, ns in (read_et(rank_path(b, r)) for b in steps)]
        # a functional collective's wait_tensor (and the autograd wrapper of its result) is called once or more
        # depending on timing, so steps may differ in nodes: the minimum is taken over the largest set of steps with
        # the same nodes apart from that bookkeeping (the earliest wins ties); the committed step keeps its own
        # (a wait's duration chakra-convert sets to 0; the wrappers', below). tp2dp2, tp2dp4, pp2dp2, pp2dp4
        # and pp4 were recorded when these had to match too: the 8- and 16-rank 3-D steps, with many more of them,
        # aligned only 1-5 of 30 steps that way
        core = [[n for n in ns if n.name not in FUNCOL_BOOKKEEPING] for _, ns in traces]
        # the bookkeeping's own recorded time is mostly the wait for the collective (PythonSubclass up to 17 ms on
        # 8 ranks), which the simulator times itself: each gets its op's minimum over all steps
        low = {}
        for _, ns in traces:
            for n in ns:
                if n.name in FUNCOL_BOOKKEEPING:
                    low[n.name] = min(low.get(n.name, n.duration_micros), n.duration_micros)
        keys = [tuple((n.name, n.type) for n in ns) for ns in core]
        top = max(keys, key=lambda k: (keys.count(k), -keys.index(k)))
        same = [ns for k, ns in zip(keys, core) if k == top]
        meta, order = traces[keys.index(top)]
        best = np.array([[n.duration_micros for n in ns] for ns in same]).min(axis=0)
        for n, d in zip(core[keys.index(top)], best.tolist()):
            n.duration_micros = int(d)
        for n in order:
            if n.name in FUNCOL_BOOKKEEPING:
                n.duration_micros = low[n.name]
        write_et(rank_path(out / name, r, gz=True), meta, order)
        print(f"{name} rank {r}: {len(order)} nodes, {len(same)} of {len(steps)} steps aligned, "
              f"per-op minimum {int(best.sum())} us", file=sys.stderr)
    shutil.copyfile(f"{steps[0]}.comm_groups.json", out / f"{name}.comm_groups.json")
    if "_h" in name:  # the architecture descriptor its owner knows (chakra-synth fit reads <prefix>.describe.json)
        (out / f"{name}.describe.json").write_text(json.dumps({"width": int(name.rsplit("_h", 1)[1])}) + "\n")


def main() -> None:
    args = sys.argv[1:]
    out, passes = HERE, 1
    while args[:1] in (["--out"], ["--passes"]):
        if args[0] == "--out":
            out = Path(args[1])
        else:
            passes = int(args[1])
        args = args[2:]
    names = args or list(WORLDS)
    out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        steps: dict[str, list[str]] = {n: [] for n in names}
        for k in range(passes):  # round-robin: pass k of every world before pass k + 1 of any (machine drift)
            for name in names:
                steps[name] += run(name, tmp, k)
        for name in names:
            reduce_steps(name, steps[name], out)


if __name__ == "__main__":
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    main()
