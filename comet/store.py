"""SQLite result store: one row per design point, keyed by its canonical parameters, committed in batches so an
interrupted sweep loses nothing it finished and resumes where it stopped.

A point's key holds only its strategy and resource values; everything else its results depend on (the resolved
model and cluster, the calibration) is recorded once in the table `meta` under `setup`, and a sweep resumes into a
store only when that record matches — otherwise it would mix results of two different models or clusters."""

from __future__ import annotations

import contextlib
import dataclasses
import json
import os
import sqlite3
from pathlib import Path
from typing import Any
from urllib.parse import quote

import numpy as np

from chakra_tools.common import ToolError, atomic_path
from comet.perf import Calibration

PARAMS = ("gpus", "tp", "pp", "batch", "micro", "interleave", "recompute", "sequence_parallel", "zero",
          "peak_tflops", "hbm_gb", "hbm_gbps", "scaleup_gbps", "scaleout_gbps", "expanded_memory_gb",
          "expanded_memory_gbps")
RESULTS = ("feasible", "reason", "iteration_time_s", "tflops_per_gpu", "memory_per_gpu_bytes", "compute_s",
           "tp_comm_s", "pp_comm_s", "bubble_s", "dp_comm_s", "dp_exposed_s", "optimizer_s", "offload_s")
_SCHEMA = {"points": ["key", *PARAMS, *RESULTS], "meta": ["name", "value"]}


def setup_of(model: Any, cluster: Any) -> dict:
    """Everything besides a point's key that its results depend on (a model or cluster given only by name, as
    older callers do, is recorded by name)."""
    def describe(x: Any) -> dict:
        return dataclasses.asdict(x) if dataclasses.is_dataclass(x) else {"name": str(x)}
    return {"model": describe(model), "cluster": describe(cluster), "calibration": dataclasses.asdict(Calibration())}


class Store:
    """`Store(path)` opens an existing store read-only (for reports); `Store(path, model, cluster)` opens or
    creates one for a sweep of that model on that cluster."""

    def __init__(self, path: str | os.PathLike, model: Any = None, cluster: Any = None):
        self.path = str(path)
        self.created = False
        p = Path(path)
        if p.is_dir():
            raise ToolError(f"{path}: is a directory, expected a comet-sweep result store")
        if model is None and not p.exists():
            raise ToolError(f"{path}: file not found")
        if model is not None and not p.exists():
            self._create(p, setup_of(model, cluster))
            self.created = True
        self.db = self._connect(readonly=model is None)
        try:
            self._check_schema()
            if model is not None:
                self._check_setup(setup_of(model, cluster))
        except BaseException:
            self.db.close()
            raise

    def _connect(self, readonly: bool) -> sqlite3.Connection:
        try:
            if not readonly:
                return sqlite3.connect(self.path)
            # mode=ro never writes the file. A WAL store with no -wal file beside it is not open anywhere, so it is
            # read as immutable: otherwise SQLite would leave empty -wal and -shm files next to it.
            wal = Path(self.path + "-wal").exists()
            uri = f"file:{quote(os.path.abspath(self.path))}?mode=ro" + ("" if wal else "&immutable=1")
            return sqlite3.connect(uri, uri=True)
        except sqlite3.Error as e:
            raise ToolError(f"{self.path}: cannot open ({e})") from None

    @staticmethod
    def _create(path: Path, setup: dict) -> None:
        # built under a temporary name and renamed: a store file, once there, always has the schema and setup
        with atomic_path(path) as tmp:
            db = sqlite3.connect(tmp)
            try:
                db.execute("PRAGMA journal_mode=WAL")
                db.execute(f"CREATE TABLE points ({_SCHEMA['points'][0]} TEXT PRIMARY KEY, "
                           + ", ".join(f"{c} REAL" for c in _SCHEMA["points"][1:]) + ")")
                db.execute("CREATE TABLE meta (name TEXT PRIMARY KEY, value TEXT)")
                db.executemany("INSERT INTO meta VALUES (?, ?)",
                               [("model", setup["model"]["name"]), ("cluster", setup["cluster"]["name"]),
                                ("setup", json.dumps(setup, sort_keys=True))])
                db.commit()
            finally:
                db.close()

    def _check_schema(self) -> None:
        try:
            found = {t: [r[1] for r in self.db.execute(f"PRAGMA table_info({t})")] for t in _SCHEMA}
        except sqlite3.DatabaseError as e:
            raise ToolError(f"{self.path}: not a comet-sweep result store ({e})") from None
        if found != _SCHEMA:
            raise ToolError(f"{self.path}: not a comet-sweep result store")

    def _check_setup(self, setup: dict) -> None:
        row = self.db.execute("SELECT value FROM meta WHERE name = 'setup'").fetchone()
        if row is None:
            raise ToolError(f"{self.path}: made by an older comet-sweep that did not record the model and cluster, "
                            "so its results cannot be checked against this sweep; use a new -o store")
        # compared as parsed JSON so that 312 and 312.0 are the same value
        old, new = json.loads(row[0]), json.loads(json.dumps(setup))
        if old != new:
            raise ToolError(f"{self.path}: made for a different model/cluster ({_first_difference(old, new)}); "
                            "use a new -o store")

    def done_keys(self) -> set[str]:
        return {r[0] for r in self.db.execute("SELECT key FROM points")}

    def count(self) -> int:
        return self.db.execute("SELECT COUNT(*) FROM points").fetchone()[0]

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

    def discard(self) -> None:
        """Close and delete a store this run created (used when the run failed before storing any point)."""
        self.close()
        for suffix in ("", "-wal", "-shm", "-journal"):
            with contextlib.suppress(FileNotFoundError):
                os.remove(self.path + suffix)


def _first_difference(old: dict, new: dict, prefix: str = "") -> str:
    """The first key whose value differs, as 'model.layers: 24 in the store, 96 now'."""
    for k in sorted(set(old) | set(new)):
        a, b = old.get(k), new.get(k)
        if isinstance(a, dict) and isinstance(b, dict):
            if a != b:
                return _first_difference(a, b, f"{prefix}{k}.")
        elif a != b:
            return f"{prefix}{k}: {a!r} in the store, {b!r} now"
    return "same values"
