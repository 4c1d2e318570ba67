"""Summarise the held-out comparisons written by `make reproduce` into summary.json and a table on stdout."""

from __future__ import annotations

import json
import sys
from pathlib import Path

from chakra_tools.common import print_table, provenance, write_json


def main(out: str) -> None:
    rows, cases = [], {}
    for f in sorted(Path(out).glob("*.compare.json")):
        r = json.loads(f.read_text())
        name = f.name.removesuffix(".compare.json")
        attrs = {k: v["ks"] for k, v in r["attributes"].items()}
        case = {"ks_max": r["ks_max"], "ks": attrs, "compute_path_ratio": r["compute_path_ratio"],
                "sim_time_ratio": r.get("sim_time_ratio"), "kind_mix_tv": r["kind_mix_tv"],
                "longest_shared_kind_run": r["obfuscation"]["longest_shared_kind_run"],
                "longest_shared_value_run": r["obfuscation"]["longest_shared_value_run"]}
        cases[name] = case
        rows.append((name, attrs.get("duration_micros"), case["ks_max"], case["compute_path_ratio"],
                     case["sim_time_ratio"], case["kind_mix_tv"], case["longest_shared_value_run"]))
    print_table("held-out traces vs synthesized (fit on training models only)",
                ["held-out.model", "KS duration", "ks_max", "compute ratio", "sim ratio", "kind TV",
                 "shared value run"], rows)
    write_json(Path(out) / "summary.json", {"cases": cases, "provenance": provenance("chakra-synth", [])})


if __name__ == "__main__":
    main(sys.argv[1])
