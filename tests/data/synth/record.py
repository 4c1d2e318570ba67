"""Record the chakra-synth corpus: 2-rank gloo data-parallel training steps of three model families.

Families (input shape fixed per family, so that size is the only thing that changes within one):
- `mlp_<w>x<L>`: L hidden Linear+ReLU layers of width w, 128 inputs, 10 classes, batch 32;
- `cnn_<c>x<D>`: D stages of Conv3x3(+ReLU, MaxPool2) with c, 2c, 4c, ... channels, then Linear(10); 8 x 3x32x32;
- `tfm_<d>x<L>`: L TransformerEncoder layers (d_model d, 4 heads, feed-forward 4d), Flatten, Linear(10); 4 x 16 x d.

Training sizes form a checkerboard over the mlp and tfm (width, depth) grids and the full cnn grid (minus its
held-out combination: a conv's time steps with the channel blocking of the kernel library, so each width is
needed at every depth); held-out models (never fitted) are two unseen widths inside the range, one unseen
(width, depth) combination and one model wider than any training model (extrapolation). One step = forward,
backward, one all_reduce per gradient (DDP-style, averaged), SGD update.

Noise: this machine is shared (single traced steps of the same model differ by up to 2x). Each model runs in
--pairs fresh process pairs (PAIRS by default), round-robin over the models recorded together (pass p of every
model before pass p + 1 of any); each pair does WARMUP untraced steps and then STEPS traced steps (torch's
ExecutionTraceObserver + torch.profiler, converted with `chakra-convert pytorch`). All traces of a rank have the
same nodes in the same order; the committed trace is the first one with every node's duration replaced by its
minimum over all the steps (per-op minimum: interference only ever adds time). `corpus.json` records, per
model, the spread of the single-step iteration times and the reproducibility of the per-op minimum (two disjoint
halves of the steps), i.e. the measurement noise any prediction is up against; models whose halves or ranks
differ by more than QUIET are named at the end (re-record them). The committed corpus: mlp and tfm with 3 pairs,
model by model; the cnn family with `--pairs 6` in one round-robin run of its 24 models (a family is never
mixed from two runs: the machine's speed drifts by several % between them).

Every model also gets `<name>.describe.json` ({"depth": D, "width": W}: the architecture descriptors its owner
knows), which `chakra-synth fit` reads to learn its architecture laws.

Usage: OMP_NUM_THREADS=1 .venv/bin/python tests/data/synth/record.py [--out DIR] [--pairs N] [--describe-only | --recost] [MODEL...]
(--describe-only: write only the descriptor sidecars, no torch needed; --recost: re-derive the committed traces'
num_ops/tensor_size with today's converter formulas from the shapes they hold, chakra_tools.convert.recost, after
the formulas learn an op: durations untouched, no torch needed)
(needs torch: `.venv/bin/pip install torch==2.13.0`; ~30 min for the whole corpus on 2 cores). Durations are
CPU times of this machine, so re-recording changes the numbers; the committed .et.gz files are the reference.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

try:
    import torch
    import torch.distributed as dist
    import torch.multiprocessing as mp
    from torch import nn
    from torch.profiler import ExecutionTraceObserver, ProfilerActivity, profile
except ImportError:  # --describe-only writes the descriptor sidecars without torch
    torch = None

HERE = Path(__file__).resolve().parent
PAIRS, STEPS, WARMUP = 3, 8, 5

FAMILIES = {  # family: (widths, depths, held-out unseen widths (w, depth), unseen combination, extrapolation, grid)
    "mlp": ((64, 96, 128, 192, 256, 384, 512), (1, 2, 3, 4), [(160, 2), (320, 3)], (128, 2), (768, 3), "checkerboard"),
    "cnn": ((4, 6, 8, 12, 16, 24, 32), (2, 3, 4), [(10, 3), (20, 2)], (16, 3), (48, 4), "full"),
    "tfm": ((16, 32, 48, 64, 96, 128), (1, 2, 3), [(40, 2), (80, 2)], (64, 3), (192, 2), "checkerboard"),
}


def _name(family: str, w: int, depth: int) -> str:
    return f"{family}_{w}x{depth}"


def splits() -> tuple[dict[str, list[str]], dict[str, list[str]]]:
    """Training (the checkerboard or the full grid, minus the held-out models) and held-out model names per family."""
    train, held = {}, {}
    for fam, (widths, depths, unseen, combo, extra, grid) in FAMILIES.items():
        held[fam] = [_name(fam, *wd) for wd in [*unseen, combo, extra]]
        train[fam] = [_name(fam, w, d) for i, w in enumerate(widths) for j, d in enumerate(depths)
                      if (grid == "full" or (i + j) % 2 == 0) and _name(fam, w, d) not in held[fam]]
    return train, held


TRAIN, HELD_OUT = splits()


def descriptors(name: str) -> dict[str, int]:
    """The architecture descriptors a user knows of the model: its width (mlp hidden width, cnn first-stage
    channels, transformer d_model) and depth (hidden layers, conv stages, encoder layers)."""
    w, depth = (int(x) for x in name.split("_")[1].split("x"))
    return {"depth": depth, "width": w}


def write_sidecar(name: str, out: Path) -> None:
    """`<name>.describe.json` beside the trace: what `chakra-synth fit` learns the architecture laws from."""
    (out / f"{name}.describe.json").write_text(json.dumps(descriptors(name)) + "\n")


def build(name: str) -> tuple[nn.Module, tuple[int, ...]]:
    fam, dims = name.split("_")
    w, depth = (int(x) for x in dims.split("x"))
    if fam == "mlp":
        widths = [128] + [w] * depth + [10]
        layers: list[nn.Module] = []
        for a, b in zip(widths, widths[1:]):
            layers += [nn.Linear(a, b), nn.ReLU()]
        return nn.Sequential(*layers[:-1]), (32, 128)
    if fam == "cnn":
        channels = [3] + [w * 2**i for i in range(depth)]
        layers = []
        for a, b in zip(channels, channels[1:]):
            layers += [nn.Conv2d(a, b, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2)]
        return nn.Sequential(*layers, nn.Flatten(), nn.LazyLinear(10)), (8, 3, 32, 32)
    if fam == "tfm":
        block = nn.TransformerEncoderLayer(d_model=w, nhead=4, dim_feedforward=4 * w, batch_first=True, dropout=0.0)
        return nn.Sequential(nn.TransformerEncoder(block, depth, enable_nested_tensor=False), nn.Flatten(),
                             nn.LazyLinear(10)), (4, 16, w)
    raise ValueError(f"unknown model {name}")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def worker(rank: int, port: int, name: str, base: str) -> None:
    torch.set_num_threads(1)
    dist.init_process_group("gloo", init_method=f"tcp://127.0.0.1:{port}", rank=rank, world_size=2)
    torch.manual_seed(0)
    model, shape = build(name)
    model(torch.randn(*shape))  # materialise lazy layers
    opt = torch.optim.SGD(model.parameters(), lr=0.01)
    torch.manual_seed(rank + 1)
    x, y = torch.randn(*shape), torch.randint(0, 10, (shape[0],))

    def step() -> None:
        opt.zero_grad()
        loss = nn.functional.cross_entropy(model(x), y)
        loss.backward()
        for p in model.parameters():
            dist.all_reduce(p.grad)
            p.grad /= 2
        opt.step()

    for _ in range(WARMUP):
        step()
    for s in range(STEPS):
        traced(step, f"{base}.s{s}.rank{rank}")
    dist.destroy_process_group()


def traced(step, base: str) -> None:
    """Run `step` once under the ExecutionTraceObserver and the profiler: `base`.et.json and `base`.kineto.json."""
    et = ExecutionTraceObserver().register_callback(f"{base}.et.json")
    with profile(activities=[ProfilerActivity.CPU], execution_trace_observer=et, record_shapes=True) as prof:
        step()
    prof.export_chrome_trace(f"{base}.kineto.json")
    et.unregister_callback()


def spawn_pair(name: str, base: str, attempts: int = 3) -> None:
    """Run both ranks in a fresh process pair; gloo sometimes aborts at teardown after the traces are written."""
    files = [Path(f"{base}.s{s}.rank{r}.{kind}.json") for s in range(STEPS) for r in (0, 1) for kind in ("et", "kineto")]
    for attempt in range(attempts):
        try:
            mp.spawn(worker, args=(_free_port(), name, base), nprocs=2, join=True)
            return
        except mp.ProcessExitedException:
            if all(f.exists() and f.stat().st_size for f in files):
                return
            if attempt == attempts - 1:
                raise


def record_pair(name: str, base: str) -> list[str]:
    """One fresh process pair of `name`: its STEPS traced steps as Chakra ETs (prefixes); the raw JSON is removed."""
    conv = Path(sys.executable).with_name("chakra-convert")
    spawn_pair(name, base)
    steps = []
    for s in range(STEPS):
        b = f"{base}.s{s}"
        subprocess.run([str(conv), "pytorch", f"{b}.rank0.et.json", f"{b}.rank1.et.json", "--kineto",
                        f"{b}.rank0.kineto.json", "--kineto", f"{b}.rank1.kineto.json", "-o", b, "-q"], check=True)
        for f in Path(base).parent.glob(f"{Path(b).name}.rank*.json"):
            f.unlink()
        steps.append(b)
    return steps


def aggregate(name: str, steps: list[str], out: Path, pairs: int) -> dict:
    """The committed trace of `name` (per-op minimum over all its recorded steps, from `pairs` round-robin process
    pairs) and its noise statistics."""
    from chakra_tools.et import rank_path, read_et, write_et

    stats: dict = {"ranks": {}}
    for r in (0, 1):
        traces = [read_et(rank_path(b, r)) for b in steps]
        meta, nodes = traces[0]
        key = [(n.name, n.type) for n in sorted(nodes, key=lambda n: n.id)]
        aligned = [sorted(ns, key=lambda n: n.id) for _, ns in traces
                   if [(n.name, n.type) for n in sorted(ns, key=lambda n: n.id)] == key]
        if len(aligned) < len(traces) // 2:
            raise RuntimeError(f"{name} rank {r}: only {len(aligned)} of {len(traces)} steps have the same nodes")
        dur = np.array([[n.duration_micros for n in ns] for ns in aligned], dtype=np.int64)
        best = dur.min(axis=0)
        order = sorted(nodes, key=lambda n: n.id)
        for n, d in zip(order, best.tolist()):
            n.duration_micros = int(d)
        write_et(rank_path(out / name, r, gz=True), meta, order)
        totals = dur.sum(axis=1)
        stats["ranks"][str(r)] = {
            "steps": len(aligned), "nodes": len(order), "per_op_min_us": int(best.sum()),
            "step_us_min": int(totals.min()), "step_us_median": int(np.median(totals)), "step_us_max": int(totals.max()),
            # reproducibility of the per-op minimum: the same estimator on two disjoint halves of the steps
            "per_op_min_halves_us": [int(dur[0::2].min(axis=0).sum()), int(dur[1::2].min(axis=0).sum())],
        }
    stats["round_robin"], stats["pairs"] = True, pairs
    shutil.copyfile(f"{steps[0]}.comm_groups.json", out / f"{name}.comm_groups.json")
    write_sidecar(name, out)
    print(f"recorded {name}: {json.dumps(stats)}", file=sys.stderr)
    return stats


def recost_trace(name: str, out: Path) -> None:
    """Re-derive the num_ops/tensor_size of `name`'s committed ETs in place (rewritten only when one changed)."""
    from chakra_tools.convert.recost import recost
    from chakra_tools.et import rank_path, read_et, write_et

    for r in (0, 1):
        path = rank_path(out / name, r, gz=True)
        meta, nodes = read_et(path)
        changed = recost(nodes)
        if changed:
            write_et(path, meta, nodes)
        print(f"{path.name}: {changed} nodes re-costed", file=sys.stderr)


QUIET = 0.05  # the recording-quality gate: halves of the steps and the two ranks agree within 5 %


def quiet(stats: dict) -> bool:
    """Whether a model's per-op minimum is reproducible: its two halves of the steps and its two ranks agree
    within QUIET (a data-parallel step does the same work on both ranks)."""
    ranks = list(stats["ranks"].values())
    tot = [r["per_op_min_us"] for r in ranks]
    halves = all(max(r["per_op_min_halves_us"]) <= (1 + QUIET) * min(r["per_op_min_halves_us"]) for r in ranks)
    return halves and max(tot) <= (1 + QUIET) * min(tot)


def main() -> None:
    args = sys.argv[1:]
    out, pairs = HERE, PAIRS
    if args[:1] == ["--out"]:
        out, args = Path(args[1]), args[2:]
        out.mkdir(parents=True, exist_ok=True)
    if args[:1] == ["--pairs"]:
        if len(args) < 2 or not args[1].isdigit() or int(args[1]) < 1:
            raise SystemExit("record.py: --pairs takes a positive integer")
        pairs, args = int(args[1]), args[2:]
    mode = args[0] if args[:1] in (["--describe-only"], ["--recost"]) else None
    args = args[1:] if mode else args
    names = args or [m for fam in FAMILIES for m in TRAIN[fam] + HELD_OUT[fam]]
    if mode == "--describe-only":
        for name in names:
            write_sidecar(name, out)
        return
    if mode == "--recost":
        from chakra_tools.common import ToolError

        try:
            for name in names:
                recost_trace(name, out)
        except ToolError as e:  # a missing or malformed ET: one line (write_et replaces a file only when complete)
            raise SystemExit(f"record.py --recost: {e}") from None
        return
    if torch is None:
        raise SystemExit("record.py needs torch: .venv/bin/pip install torch==2.13.0")
    index_path = out / "corpus.json"
    index = json.loads(index_path.read_text()) if index_path.exists() else {}
    index.setdefault("models", {})
    index["recording"] = {"torch": torch.__version__, "pairs": PAIRS, "steps": STEPS, "warmup": WARMUP,
                          "train": TRAIN, "held_out": HELD_OUT}
    with tempfile.TemporaryDirectory() as tmp:
        # round-robin: pass p of every model before pass p + 1 of any, so that each model's minimum is taken
        # over the whole recording window (the machine's speed drifts by several % over minutes; recorded
        # model by model, two models measured 20 minutes apart differ by that drift)
        steps: dict[str, list[str]] = {name: [] for name in names}
        for p in range(pairs):
            for name in names:
                steps[name] += record_pair(name, f"{tmp}/{name}.p{p}")
        for name in names:
            index["models"][name] = aggregate(name, steps[name], out, pairs)
    noisy = [name for name in names if not quiet(index["models"][name])]
    if noisy:
        print(f"noisy (halves or ranks differ by more than {QUIET:.0%}): {' '.join(noisy)}", file=sys.stderr)
    index["models"] = dict(sorted(index["models"].items()))
    index_path.write_text(json.dumps(index, indent=1) + "\n")


if __name__ == "__main__":
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    main()
