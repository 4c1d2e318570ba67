"""Design-space sweeps: expand a sweep spec into point arrays, evaluate them in vectorised batches on local
processes or a Dask cluster, and keep every result in a resumable SQLite store."""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from chakra_tools.common import ConfigError, ToolError, load_mapping
from comet.model import Cluster, TransformerModel, load_cluster, load_model
from comet.perf import REASONS, RECOMPUTE, evaluate
from comet.store import Store

STRATEGY = ("gpus", "tp", "pp", "batch", "micro", "interleave", "recompute", "sequence_parallel", "zero")
RESOURCES = ("peak_tflops", "hbm_gb", "hbm_gbps", "scaleup_gbps", "scaleout_gbps", "expanded_memory_gb",
             "expanded_memory_gbps")
DEFAULTS = {"micro": 1, "interleave": 1, "recompute": "full", "sequence_parallel": False, "zero": 0}


@dataclass
class SweepSpec:
    model: TransformerModel
    cluster: Cluster
    axes: dict[str, list]

    @property
    def size(self) -> int:
        n = 1
        for v in self.axes.values():
            n *= len(v)
        return n


def load_sweep(path: str | os.PathLike) -> SweepSpec:
    data = load_mapping(path)
    for k in ("model", "cluster"):
        if k not in data:
            raise ConfigError(path, k, "required key is missing")
    model = load_model(data["model"], file=path)
    cluster = load_cluster(data["cluster"], file=path)
    axes: dict[str, list] = {}
    for key in (*STRATEGY, *RESOURCES):
        if key not in data:
            if key in DEFAULTS:
                axes[key] = [DEFAULTS[key]]
                continue
            if key in RESOURCES:
                axes[key] = [getattr(cluster, key)]
                continue
            raise ConfigError(path, key, "required key is missing")
        axes[key] = _values(data[key], key, path)
    unknown = set(data) - {"model", "cluster", *STRATEGY, *RESOURCES}
    if unknown:
        raise ConfigError(path, sorted(unknown)[0], f"unknown key (known: model, cluster, {', '.join(STRATEGY + RESOURCES)})")
    spec = SweepSpec(model, cluster, axes)
    if spec.size > MAX_POINTS:
        raise ConfigError(path, "", f"the sweep has {spec.size:,} points (more than {MAX_POINTS:,}); split it")
    return spec


MAX_AXIS, MAX_POINTS = 100_000, 50_000_000


def _values(v: Any, key: str, path: Any) -> list:
    if isinstance(v, dict):  # {from, to, step} or {from, to, factor}
        extra = sorted(map(str, set(v) - {"from", "to", "step", "factor"}))
        if extra:
            raise ConfigError(path, f"{key}.{extra[0]}", "unknown range key (known: from, to, step, factor)")
        if "step" in v and "factor" in v:
            raise ConfigError(path, key, "a range takes step or factor, not both")
        lo, hi, step, factor = v.get("from"), v.get("to"), v.get("step", 1), v.get("factor")
        nums = [x for x in (lo, hi, step, factor) if x is not None]
        if lo is None or hi is None or not all(isinstance(x, (int, float)) and not isinstance(x, bool)
                                              and np.isfinite(x) for x in nums):
            raise ConfigError(path, key, "a range needs numeric from, to and step or factor")
        if lo > hi:
            raise ConfigError(path, key, f"empty range (from {lo} is above to {hi})")
        if factor is not None:
            if factor <= 1 or lo <= 0:
                raise ConfigError(path, key, "a geometric range needs factor > 1 and from > 0")
            count = np.log(hi / lo) / np.log(factor) + 1
        else:
            if step <= 0:
                raise ConfigError(path, key, "step must be > 0")
            count = (hi - lo) / step + 1
        if count > MAX_AXIS:
            raise ConfigError(path, key, f"the range has {count:.0f} values (more than {MAX_AXIS})")
        if factor is not None:
            out, x = [], lo
            while x <= hi:
                out.append(x)
                x *= factor
            vals = out
        else:
            vals = list(np.arange(lo, hi + step / 2, step).tolist())
    else:
        vals = v if isinstance(v, list) else [v]
        if not vals:
            raise ConfigError(path, key, "empty list")
    for i, x in enumerate(vals):
        problem = value_problem(key, x)
        if problem:
            raise ConfigError(path, f"{key}[{i}]", problem)
    return vals


# Integer strategy knobs and their bounds; resources are positive numbers (expanded memory may be 0 = none).
INT_BOUNDS = {"gpus": (1, 10**9), "tp": (1, 10**9), "pp": (1, 10**9), "batch": (1, 10**9), "micro": (1, 10**9),
              "interleave": (1, 10**9), "zero": (0, 3)}


def value_problem(key: str, x: Any) -> str | None:
    """Why `x` is not a valid value of sweep/point key `key`, or None when it is."""
    if key == "recompute":
        return None if isinstance(x, str) and x in RECOMPUTE else f"expected none, selective or full, got {x!r}"
    if key == "sequence_parallel":
        return None if isinstance(x, bool) else f"expected true or false, got {x!r}"
    if key in INT_BOUNDS:
        lo, hi = INT_BOUNDS[key]
        if isinstance(x, float) and x.is_integer():
            x = int(x)
        if isinstance(x, bool) or not isinstance(x, int) or not lo <= x <= hi:
            return f"expected an integer in [{lo}, {hi}], got {x!r}"
        return None
    ok = isinstance(x, (int, float)) and not isinstance(x, bool) and np.isfinite(x) and x <= 1e12 and (
        x >= 0 if key == "expanded_memory_gb" else x > 0)
    return None if ok else f"expected a {'non-negative' if key == 'expanded_memory_gb' else 'positive'} number, got {x!r}"


def points(spec: SweepSpec) -> dict[str, np.ndarray]:
    """The full grid as flat arrays (one entry per point)."""
    keys = list(spec.axes)
    grids = np.meshgrid(*[np.arange(len(spec.axes[k])) for k in keys], indexing="ij")
    out = {}
    for k, g in zip(keys, grids):
        vals = spec.axes[k]
        if k == "recompute":
            arr = np.array([RECOMPUTE[v] for v in vals])
        else:
            arr = np.array(vals)
        out[k] = arr[g.ravel()]
    return out


def evaluate_points(model: TransformerModel, cluster: Cluster, pts: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    r = evaluate(model, cluster, gpus=pts["gpus"], tp=pts["tp"], pp=pts["pp"], batch=pts["batch"],
                 micro=pts["micro"], interleave=pts["interleave"], recompute=pts["recompute"],
                 sequence_parallel=pts["sequence_parallel"], zero=pts["zero"],
                 **{k: pts[k] for k in RESOURCES})
    n = len(pts["gpus"])
    return {k: np.broadcast_to(v, (n,)) for k, v in r.items()}


def _chunk_eval(args: tuple) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    model, cluster, idx, pts = args
    return idx, evaluate_points(model, cluster, pts)


def run_sweep(spec: SweepSpec, store: Store, *, executor: str = "local", workers: int = 1,
              scheduler: str | None = None, chunk: int = 50_000, progress: Callable[[int], None] | None = None,
              stop_after: int | None = None) -> dict[str, int]:
    """Evaluate every point not yet in `store`; results are committed chunk by chunk (resumable)."""
    pts = points(spec)
    keys = keys_of(pts)
    done = store.done_keys()
    todo = np.array([i for i, k in enumerate(keys) if k not in done], dtype=np.int64)
    skipped = len(keys) - len(todo)
    jobs = [todo[i:i + chunk] for i in range(0, len(todo), chunk)]
    payload = [(spec.model, spec.cluster, j, {k: v[j] for k, v in pts.items()}) for j in jobs]
    written = 0

    def save(idx: np.ndarray, res: dict[str, np.ndarray]) -> None:
        nonlocal written
        store.write([keys[i] for i in idx], {k: v[idx] for k, v in pts.items()}, res)
        written += len(idx)
        if progress:
            progress(len(idx))
        if stop_after is not None and written >= stop_after:
            raise KeyboardInterrupt  # used by tests to interrupt a sweep part-way

    if executor == "dask":
        from dask.distributed import Client, LocalCluster, as_completed
        cluster = None
        try:
            if scheduler:
                client = Client(scheduler, timeout="10s")
            else:
                cluster = LocalCluster(n_workers=max(1, workers), threads_per_worker=1, processes=workers > 1,
                                       dashboard_address=None)
                client = Client(cluster)
        except (OSError, ValueError, TypeError) as e:  # refused, timed out, or a malformed address
            where = f"--scheduler {scheduler}: cannot reach the Dask scheduler" if scheduler else \
                "cannot start a Dask LocalCluster"
            raise ToolError(f"{where} ({e})") from None
        try:
            futures = client.map(_chunk_eval, payload, pure=False)
            for fut in as_completed(futures):
                save(*fut.result())
        finally:
            client.close()
            if cluster is not None:
                cluster.close()
    elif executor == "local":
        if workers > 1 and len(payload) > 1:
            import multiprocessing as mp
            with mp.get_context("fork").Pool(workers) as pool:
                for idx, res in pool.imap_unordered(_chunk_eval, payload):
                    save(idx, res)
        else:
            for p in payload:
                save(*_chunk_eval(p))
    else:
        raise ToolError(f"unknown executor {executor!r} (local or dask)")
    return {"points": len(keys), "evaluated": written, "resumed_from_store": skipped}


def keys_of(pts: dict[str, np.ndarray]) -> list[str]:
    """A canonical key per point (the store's primary key; identical specs give identical keys)."""
    cols = [pts[k].tolist() for k in (*STRATEGY, *RESOURCES)]
    return ["|".join(map(str, row)) for row in zip(*cols)]


def reason_text(code: int) -> str:
    return REASONS.get(int(code), "")


__all__ = ["load_sweep", "points", "run_sweep", "evaluate_points", "SweepSpec"]
