"""`compare --plot`: empirical CDFs of A and B per attribute and their node-kind mix (matplotlib, Agg)."""

from __future__ import annotations

import os

import numpy as np

from chakra_tools.common import ToolError, figure_format, save_figure


def plot_compare(a: str | os.PathLike, b: str | os.PathLike, report: dict, path: str | os.PathLike) -> None:
    if figure_format(path) is None:  # before any plotting work
        raise ToolError(f"{path}: --plot needs a .png, .svg or .pdf file name")
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from chakra_tools.graph import Trace
    from chakra_tools.synth.compare import trace_values

    va, vb = trace_values(Trace.load(a)), trace_values(Trace.load(b))
    names = [n for n in report["attributes"] if va[n].size and vb[n].size]
    fig, axes = plt.subplots(1, len(names) + 1, figsize=(4 * (len(names) + 1), 3.6))
    for ax, name in zip(axes, names):
        for vals, label in ((va[name], "A"), (vb[name], "B")):
            x = np.sort(vals)
            ax.step(np.maximum(x, 0.5), np.arange(1, x.size + 1) / x.size, where="post", label=label)
        ax.set_xscale("log")
        ax.set_title(f"{name}  KS {report['attributes'][name]['ks']:.3f}", fontsize=9)
        ax.set_ylabel("CDF")
        ax.legend(fontsize=8)
    mix = report["kind_mix"]
    kinds = sorted(mix, key=lambda k: -(mix[k]["a"] + mix[k]["b"]))[:15]
    y = np.arange(len(kinds))
    axes[-1].barh(y - 0.2, [mix[k]["a"] for k in kinds], 0.4, label="A")
    axes[-1].barh(y + 0.2, [mix[k]["b"] for k in kinds], 0.4, label="B")
    axes[-1].set_yticks(y, kinds, fontsize=7)
    axes[-1].invert_yaxis()
    axes[-1].set_title(f"node-kind mix  TV {report['kind_mix_tv']:.3f}", fontsize=9)
    axes[-1].legend(fontsize=8)
    fig.tight_layout()
    save_figure(fig, path, dpi=110)
    plt.close(fig)
