"""`--plot`: latency-accuracy trade-off (menu SubNets, policies, SlackFit's knob) and PB hit rate over time."""
from __future__ import annotations

from chakra_tools.common import save_figure

COLORS = {"sushi": "tab:red", "static": "tab:orange", "no-cache": "tab:blue", "slackfit": "tab:green"}


def plot_report(path, rep: dict, series: dict) -> None:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (ax, hx) = plt.subplots(1, 2, figsize=(12, 4.6))
    menu = rep["menu"]
    ax.plot([m["latency_ms"] for m in menu], [m["accuracy"] for m in menu], "o-", color="0.6", ms=3,
            label="menu SubNets, no cache")
    ax.plot([m["latency_ms_best_subgraph"] for m in menu], [m["accuracy"] for m in menu], "o-", color="0.3", ms=3,
            label="menu SubNets, best cached SubGraph")
    for p, m in rep["policies"].items():
        ax.scatter(m["mean_latency_ms"], m["served_accuracy"], s=60, color=COLORS.get(p, "k"), zorder=3,
                   label=f"{p}: SLO {100 * m['slo_attainment']:.1f} %")
    iso = rep["comparison"].get("sushi_vs_slackfit_iso_accuracy")
    title = f"{rep['supernet']}: latency-accuracy trade-off"
    if iso:
        cur = iso["slackfit_curve"]
        ax.plot([c["mean_latency_ms"] for c in cur], [c["served_accuracy"] for c in cur], "--", color=COLORS["slackfit"],
                lw=1, label="slackfit, slack_fraction 0.1..1")
        sc = iso.get("sushi_curve")
        if sc:
            ax.plot([c["mean_latency_ms"] for c in sc], [c["served_accuracy"] for c in sc], "--", color=COLORS["sushi"],
                    lw=1, label="sushi, headroom -6..+2 pp")
        for p, mk in (("sushi", "*"), ("slackfit", "*")):
            ax.scatter(iso[p]["mean_latency_ms"], iso[p]["served_accuracy"], s=90, marker=mk, color=COLORS[p], zorder=4,
                       edgecolors="k", linewidths=0.5)
        title += (f"\n(stars) at equal accuracy {iso['sushi']['served_accuracy']:.2f} %: SLO attainment SUSHI "
                  f"{100 * iso['sushi']['slo_attainment']:.2f} % vs SlackFit {100 * iso['slackfit']['slo_attainment']:.2f} %")
    ax.set_xlabel("latency (ms)")
    ax.set_ylabel("top-1 accuracy (%)")
    ax.set_title(title, fontsize=9)
    ax.legend(fontsize=7, loc="lower right")
    for p, s in series.items():
        hx.plot(s["t_s"], 100 * s["hit_rate"], color=COLORS.get(p, "k"), lw=1.6 if p == "no-cache" else 1, label=p,
                ls=":" if p == "no-cache" else "-")
    hx.set_xlabel("time (s)")
    hx.set_ylabel("PB hit rate (% of weight bytes)")
    hx.set_ylim(-2, 102)
    hx.set_title("Persistent Buffer hit rate per scheduling window (dashed grey: SUSHI's served accuracy)", fontsize=9)
    hx.legend(fontsize=7, loc="center right")
    if "sushi" in series:
        ax2 = hx.twinx()
        ax2.plot(series["sushi"]["t_s"], series["sushi"]["accuracy"], "--", color="0.5", lw=0.8)
        ax2.set_ylabel("served top-1 accuracy (%)", fontsize=8)
    fig.tight_layout()
    try:
        save_figure(fig, path)
    finally:
        plt.close(fig)
