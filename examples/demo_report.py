"""Collect the demo's JSON reports into out/demo/report.md."""

from __future__ import annotations

import json
import sys
from pathlib import Path


def main(out: Path) -> None:
    lines = ["# mlcodesign demo report", ""]
    insp = out / "gloo.inspect.json"
    if insp.exists():
        rep = json.loads(insp.read_text())
        lines += ["## chakra-convert: 2-rank gloo trace", "",
                  "| rank | nodes | collectives | collective bytes | send/recv | critical path (µs) |",
                  "|---|---|---|---|---|---|"]
        for r in rep["ranks"]:
            lines.append(f"| {r['rank']} | {r['nodes']} | {sum(c['count'] for c in r['collectives'])} | "
                         f"{r['collective_bytes']} | {r['sends']}/{r['recvs']} | {r['critical_path_us']} |")
        lines += ["", "Collectives (type, bytes, process group):", ""]
        for c in rep["ranks"][0]["collectives"]:
            lines.append(f"- {c['comm_type']} {c['comm_size']} B (pg '{c['pg_name']}') x{c['count']}")
        lines.append("")
    (out / "report.md").write_text("\n".join(lines) + "\n")


if __name__ == "__main__":
    main(Path(sys.argv[1]))
