"""Persistent Buffer size sweep: SUSHI, static cache and no cache on the default MobileNetV3 stream.

    python examples/sushi/pb_sweep.py OUT_DIR [--queries N]

Two devices with the same SushiAccel design: the ZCU104 class (XCZU7EV, 4.75 MiB on chip: PB up to all
3.375 MiB of URAM) and the default ZU19EG class (XCZU19EG, 8.8 MiB on chip: PB up to 7 MiB; the default is
its 4.5 MiB of URAM).  Writes OUT_DIR/pb_sweep.json and pb_sweep.png.
"""
from __future__ import annotations

import argparse
from pathlib import Path

from chakra_tools.common import parse_size, provenance, write_json
from sushi.api import default_config, make_catalog, metrics, queries_for
from sushi.sched import simulate

DEVICES = {
    "zcu104-class": ({"dsp_slices": 1728, "onchip_sram": 4976640},
                     ["0", "512KiB", "1MiB", "1536KiB", "2MiB", "2560KiB", "3MiB", "3456KiB"]),
    "zu19eg-class": ({}, ["0", "1MiB", "2MiB", "3MiB", "4MiB", "4608KiB", "5MiB", "6MiB", "7MiB"]),
}
KEYS = ("mean_latency_ms", "p99_latency_ms", "slo_attainment", "served_accuracy", "offchip_energy_mj", "pb_hit_rate")


def sweep(queries: int) -> dict:
    out = {}
    for dev, (over, sizes) in DEVICES.items():
        rows = []
        for pb in sizes:
            cfg = default_config()
            for k, v in over.items():
                setattr(cfg.accelerator, k, v)
            cfg.accelerator.name = dev
            cfg.accelerator.persistent_buffer = parse_size(pb)
            cfg.accelerator.validate()
            q = queries_for(cfg, 0, n=queries)
            cat = make_catalog(cfg)
            row = {"persistent_buffer_bytes": cfg.accelerator.persistent_buffer}
            for p in ("sushi", "static", "no-cache"):
                m = metrics(cat, q, simulate(cat, q, p, cfg.scheduler))
                row[p] = {k: m[k] for k in KEYS}
            s = row["sushi"]
            for base in ("no-cache", "static"):
                b = row[base]
                row[f"sushi_vs_{base.replace('-', '_')}"] = {
                    "mean_latency_reduction": 1 - s["mean_latency_ms"] / b["mean_latency_ms"],
                    "offchip_energy_reduction": 1 - s["offchip_energy_mj"] / b["offchip_energy_mj"],
                    "served_accuracy_gain_pp": s["served_accuracy"] - b["served_accuracy"]}
            rows.append(row)
        out[dev] = rows
    return out


def plot(res: dict, path: Path) -> None:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    fig, axes = plt.subplots(1, 2, figsize=(11, 4))
    for dev, rows in res.items():
        pb = [r["persistent_buffer_bytes"] / 2 ** 20 for r in rows]
        ls = "-" if dev.startswith("zcu") else "--"
        for p, c in (("sushi", "tab:red"), ("static", "tab:orange")):
            n = [r["no-cache"] for r in rows]
            axes[0].plot(pb, [100 * (1 - r[p]["mean_latency_ms"] / m["mean_latency_ms"]) for r, m in zip(rows, n)],
                         ls, color=c, marker="o", ms=3, label=f"{p}, {dev}")
            axes[1].plot(pb, [100 * (1 - r[p]["offchip_energy_mj"] / m["offchip_energy_mj"]) for r, m in zip(rows, n)],
                         ls, color=c, marker="o", ms=3, label=f"{p}, {dev}")
    for ax, t in zip(axes, ("mean latency reduction vs no cache (%)", "off-chip energy reduction vs no cache (%)")):
        ax.set_xlabel("Persistent Buffer (MiB)")
        ax.set_ylabel(t)
        ax.axvline(3.28, color="0.7", lw=0.8)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7)
    axes[1].annotate("weights every SubNet shares", xy=(3.3, 5), fontsize=7, color="0.4")
    fig.suptitle("OFA MobileNetV3, default stream: benefit of the Persistent Buffer (static = best fixed SubGraph "
                 "in hindsight)", fontsize=9)
    fig.tight_layout()
    fig.savefig(path, metadata={"Software": None})
    plt.close(fig)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("out", type=Path)
    ap.add_argument("--queries", type=int, default=50_000)
    a = ap.parse_args()
    a.out.mkdir(parents=True, exist_ok=True)
    res = sweep(a.queries)
    write_json(a.out / "pb_sweep.json", {"queries": a.queries, "devices": res,
                                         "provenance": provenance("pb_sweep.py", [], 0)})
    plot(res, a.out / "pb_sweep.png")
    for dev, rows in res.items():
        best = max(rows, key=lambda r: r["sushi_vs_no_cache"]["offchip_energy_reduction"])["sushi_vs_no_cache"]
        vs = [r["sushi_vs_static"]["offchip_energy_reduction"] for r in rows[1:]]
        print(f"{dev}: up to {100 * max(r['sushi_vs_no_cache']['mean_latency_reduction'] for r in rows):.1f} % lower "
              f"latency, {100 * best['offchip_energy_reduction']:.1f} % less off-chip energy (largest PB); vs static "
              f"{100 * min(vs):+.1f}..{100 * max(vs):+.1f} % energy")


if __name__ == "__main__":
    main()
