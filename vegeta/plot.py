"""--plot: speed-up over the dense baseline vs sparsity degree (N:M points, 80-99 % unstructured sweep)."""
from __future__ import annotations

from chakra_tools.common import save_figure

from .api import PUBLISHED, PUBLISHED_ROWWISE, run
from .sparsity import parse_pattern

SWEEP = (0.80, 0.85, 0.90, 0.95, 0.97, 0.99)


def sweep(workload, engine, baseline, core, seed: int = 0, advance=lambda n=1: None) -> dict:
    """{'nm': [(sparsity %, speedup)], 'unstructured': [...]} for the plot and the report."""
    def one(spec):
        s = run(workload, parse_pattern(spec, seed), engine, baseline, core)["speedup"]
        advance()
        return s
    nm = [(100 * (1 - n / 4), one(f"{n}:4")) for n in (4, 2, 1)]
    un = [(100 * s, one(f"unstructured:{s:g}")) for s in SWEEP]
    return {"nm": nm, "unstructured": un}


def draw(path: str, data: dict, title: str) -> None:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    fig, ax = plt.subplots(figsize=(7, 4.2))
    xs, ys = zip(*data["nm"], strict=True)
    ax.plot(xs, ys, "o-", label="N:4 structured (4:4, 2:4, 1:4)")
    ux, uy = zip(*data["unstructured"], strict=True)
    ax.plot(ux, uy, "s-", label="unstructured -> row-wise N:4 cover")
    ax.plot([0, 50, 75], [1, 2, 4], ":", color="grey", label="ideal M/N (same engine)")
    pub = [(0, PUBLISHED["4:4"]), (50, PUBLISHED["2:4"]), (75, PUBLISHED["1:4"])]
    pub += [(100 * float(k.split(":")[1]), v) for k, v in PUBLISHED_ROWWISE.items()]
    ax.plot(*zip(*pub, strict=True), "k*", markersize=10, label="published (VEGETA, HPCA 2023)")
    ax.set_xlabel("sparsity of A (%)")
    ax.set_ylabel("speed-up vs dense baseline")
    ax.set_title(title, fontsize=9)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7)
    fig.tight_layout()
    try:
        save_figure(fig, path)
    finally:
        plt.close(fig)
