"""Link utilisation over time: the fraction of links carrying a chunk."""

from __future__ import annotations

from pathlib import Path

from tacos.schedule import Schedule


def utilisation(s: Schedule) -> tuple[list[int], list[float]]:
    edges = sorted([(x.start, 1) for x in s.transfers] + [(x.end, -1) for x in s.transfers])
    ts, ys, busy = [0], [0.0], 0
    for t, d in edges:
        busy += d
        ts.append(t)
        ys.append(busy / len(s.topo.links))
    return ts, ys


def plot(s: Schedule, path: str | Path) -> None:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from chakra_tools.common import save_figure
    ts, ys = utilisation(s)
    fig, ax = plt.subplots(figsize=(7, 3.2))
    ax.step([t / 1000 for t in ts], [100 * y for y in ys], where="post")
    ax.set_xlabel("time (µs)")
    ax.set_ylabel("links busy (%)")
    ax.set_title(f"{s.collective}, {s.topo.npus} NPUs, {s.chunks_per_npu} chunk(s)/NPU: {s.time_ns / 1000:.1f} µs")
    ax.set_ylim(0, 105)
    fig.tight_layout()
    save_figure(fig, path)
    plt.close(fig)
