"""Reading a result store: best designs, Pareto front (GPUs vs iteration time), heatmaps over two parameters."""

from __future__ import annotations

from pathlib import Path

from chakra_tools.common import ToolError, save_figure
from comet.perf import RECOMPUTE
from comet.store import PARAMS, RESULTS, Store

_RC = {v: k for k, v in RECOMPUTE.items()}
_INT = {"gpus", "tp", "pp", "batch", "micro", "interleave", "zero"}


def _clean(r: dict) -> dict:
    out = {}
    for k, v in r.items():
        if k in _INT:
            out[k] = int(v)
        elif k == "recompute":
            out[k] = _RC.get(int(v), v)
        elif k in ("feasible", "sequence_parallel"):
            out[k] = bool(v)
        else:
            out[k] = v
    return out


CSV_COLUMNS = ["key", *PARAMS, *(r for r in RESULTS if r != "reason")]  # what top_rows() gives, also when empty


def top_rows(store: Store, k: int) -> list[dict]:
    rows = store.rows("feasible = 1", "tflops_per_gpu DESC, iteration_time_s ASC, key ASC", k)
    return [_clean({key: v for key, v in r.items() if key != "reason"}) for r in rows]


def pareto_plot(store: Store, path: str | Path) -> None:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    rows = store.rows("feasible = 1")
    if not rows:
        raise ToolError(f"{store.path}: no feasible points to plot")
    best: dict[float, float] = {}
    for r in rows:
        best[r["gpus"]] = min(best.get(r["gpus"], float("inf")), r["iteration_time_s"])
    xs = sorted(best)
    front, cur = [], float("inf")
    for x in xs:
        if best[x] < cur:
            cur = best[x]
            front.append((x, cur))
    fig, ax = plt.subplots(figsize=(6, 4))
    ax.scatter([r["gpus"] for r in rows], [r["iteration_time_s"] for r in rows], s=4, alpha=0.3, label="designs")
    ax.plot([f[0] for f in front], [f[1] for f in front], "r-o", label="Pareto front")
    ax.set_xlabel("GPUs")
    ax.set_ylabel("iteration time (s)")
    ax.set_yscale("log")
    ax.legend()
    fig.tight_layout()
    try:
        save_figure(fig, path)
    finally:
        plt.close(fig)


def heatmap(store: Store, x: str, y: str, path: str | Path) -> None:
    for p in (x, y):
        if p not in PARAMS:
            raise ToolError(f"--heatmap: unknown parameter {p!r} (one of {', '.join(PARAMS)})")
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np
    rows = store.db.execute(f"SELECT {x}, {y}, MAX(tflops_per_gpu) FROM points WHERE feasible = 1 GROUP BY {x}, {y}"
                            ).fetchall()
    if not rows:
        raise ToolError(f"{store.path}: no feasible points for a heatmap")
    xs = sorted({r[0] for r in rows})
    ys = sorted({r[1] for r in rows})
    grid = np.full((len(ys), len(xs)), np.nan)
    for a, b, v in rows:
        grid[ys.index(b), xs.index(a)] = v
    fig, ax = plt.subplots(figsize=(6, 4.5))
    im = ax.imshow(grid, origin="lower", aspect="auto", cmap="viridis")
    ax.set_xticks(range(len(xs)), [f"{v:g}" for v in xs])
    ax.set_yticks(range(len(ys)), [f"{v:g}" for v in ys])
    ax.set_xlabel(x)
    ax.set_ylabel(y)
    fig.colorbar(im, label="best TFLOP/s per GPU")
    fig.tight_layout()
    try:
        save_figure(fig, path)
    finally:
        plt.close(fig)
