"""SQLite result store: one row per design point, keyed by its canonical parameters, committed in batches so an
interrupted sweep loses nothing it finished and resumes where it stopped."""

from __future__ import annotations

import os
import sqlite3

import numpy as np

from chakra_tools.common import ToolError

PARAMS = ("gpus", "tp", "pp", "batch", "micro", "interleave", "recompute", "sequence_parallel", "zero",
          "peak_tflops", "hbm_gb", "hbm_gbps", "scaleup_gbps", "scaleout_gbps", "expanded_memory_gb",
          "expanded_memory_gbps")
RESULTS = ("feasible", "reason", "iteration_time_s", "tflops_per_gpu", "memory_per_gpu_bytes", "compute_s",
           "tp_comm_s", "pp_comm_s", "bubble_s", "dp_comm_s", "dp_exposed_s", "optimizer_s", "offload_s")


class Store:
    def __init__(self, path: str | os.PathLike, model: str | None = None, cluster: str | None = None):
        self.path = str(path)
        try:
            self.db = sqlite3.connect(self.path)
            self.db.execute("PRAGMA journal_mode=WAL")
            cols = ", ".join(f"{c} REAL" for c in (*PARAMS, *RESULTS))
            self.db.execute(f"CREATE TABLE IF NOT EXISTS points (key TEXT PRIMARY KEY, {cols})")
            self.db.execute("CREATE TABLE IF NOT EXISTS meta (name TEXT PRIMARY KEY, value TEXT)")
            self.db.commit()
        except sqlite3.DatabaseError as e:
            raise ToolError(f"{path}: not a comet-sweep result store ({e})") from None
        if model is not None:
            self._check_meta("model", model)
            self._check_meta("cluster", cluster or "")

    def _check_meta(self, name: str, value: str) -> None:
        row = self.db.execute("SELECT value FROM meta WHERE name = ?", (name,)).fetchone()
        if row is None:
            self.db.execute("INSERT INTO meta VALUES (?, ?)", (name, value))
            self.db.commit()
        elif row[0] != value:
            raise ToolError(f"{self.path}: holds results for {name} {row[0]!r}, not {value!r} (use another -o)")

    def done_keys(self) -> set[str]:
        return {r[0] for r in self.db.execute("SELECT key FROM points")}

    def write(self, keys: list[str], params: dict[str, np.ndarray], results: dict[str, np.ndarray]) -> None:
        cols = [np.asarray(params[c], dtype=float).tolist() for c in PARAMS] + \
               [np.asarray(results[c], dtype=float).tolist() for c in RESULTS]
        rows = [(k, *vals) for k, *vals in zip(keys, *cols)]
        marks = ", ".join("?" * (1 + len(PARAMS) + len(RESULTS)))
        self.db.executemany(f"INSERT OR REPLACE INTO points VALUES ({marks})", rows)
        self.db.commit()

    def rows(self, where: str = "", order: str = "", limit: int | None = None) -> list[dict]:
        q = "SELECT * FROM points" + (f" WHERE {where}" if where else "") + (f" ORDER BY {order}" if order else "")
        if limit is not None:
            q += f" LIMIT {int(limit)}"
        cur = self.db.execute(q)
        names = [d[0] for d in cur.description]
        return [dict(zip(names, r)) for r in cur]

    def meta(self) -> dict[str, str]:
        return dict(self.db.execute("SELECT name, value FROM meta"))

    def close(self) -> None:
        self.db.close()
