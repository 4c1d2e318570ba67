"""Print the study's headline next to SUSHI's (MLSys'23 abstract: up to 25 % lower latency, +0.98 % served
accuracy, up to 78.7 % less off-chip energy) from the reports `make reproduce` wrote."""
import json
import sys
from pathlib import Path

STUDIES = ("default", "zcu104", "stationary", "shifting_mix", "diurnal_mix", "resnet50")

out = Path(sys.argv[1])
print("SUSHI paper (abstract): up to 25 % lower latency, +0.98 % served accuracy, up to 78.7 % less off-chip energy")
for s in STUDIES:
    r = json.loads((out / f"{s}.json").read_text())
    c, st, i = (r["comparison"][k] for k in ("sushi_vs_no_cache", "sushi_vs_static", "sushi_vs_slackfit_iso_accuracy"))
    print(f"{s:13s} vs no-cache: latency {-100 * c['mean_latency_reduction']:+.1f} %, accuracy "
          f"{c['served_accuracy_gain_pp']:+.2f} pp, energy {-100 * c['offchip_energy_reduction']:+.1f} % | vs static: "
          f"latency {-100 * st['mean_latency_reduction']:+.1f} %, energy {-100 * st['offchip_energy_reduction']:+.1f} % | "
          f"vs SlackFit at equal accuracy: SLO {100 * i['sushi']['slo_attainment']:.2f} vs "
          f"{100 * i['slackfit']['slo_attainment']:.2f} %")
sw = json.loads((out / "pb_sweep.json").read_text())["devices"]
for dev, rows in sw.items():
    lat = max(r["sushi_vs_no_cache"]["mean_latency_reduction"] for r in rows)
    en = max(r["sushi_vs_no_cache"]["offchip_energy_reduction"] for r in rows)
    print(f"PB sweep {dev}: up to {100 * lat:.1f} % lower latency, up to {100 * en:.1f} % less off-chip energy")
b = json.loads((out / "reselection.json").read_text())
o = b["oracle"]
print(f"re-selection bound (default stream): per-phase oracle vs best fixed SubGraph: latency "
      f"-{100 * o['latency']['per_phase_oracle_vs_best_fixed']:.1f} %, energy "
      f"-{100 * o['energy']['per_phase_oracle_vs_best_fixed']:.1f} %; SubNet weights nested "
      f"{100 * b['nesting']['mean_share_contained']:.1f} %")
