"""Transformer models and clusters as typed configs; parameter and FLOP counts (Megatron-LM SC21 formulas)."""

from __future__ import annotations

import os
from dataclasses import dataclass

from chakra_tools.common import ConfigError, from_dict, load_data, load_mapping, package_data


@dataclass(frozen=True)
class TransformerModel:
    name: str
    layers: int
    hidden: int
    heads: int
    seq: int = 2048
    vocab: int = 51200

    def validate(self) -> None:
        if min(self.layers, self.hidden, self.heads, self.seq, self.vocab) < 1:
            raise ValueError("layers, hidden, heads, seq and vocab must be >= 1")
        if max(self.layers, self.hidden, self.heads, self.seq, self.vocab) > 10**9:
            raise ValueError("layers, hidden, heads, seq and vocab must be <= 1e9")
        if self.hidden % self.heads:
            raise ValueError(f"hidden ({self.hidden}) must be divisible by heads ({self.heads})")

    @property
    def params(self) -> float:
        """P = 12 l h² (1 + 13/(12h) + (V + s)/(12 l h))."""
        n, h = self.layers, self.hidden
        return 12 * n * h * h * (1 + 13 / (12 * h) + (self.vocab + self.seq) / (12 * n * h))

    def flops_per_iteration(self, batch: int) -> float:
        """F = 96 B s l h² (1 + s/(6h) + V/(16 l h)): GEMMs only, with activation recomputation (4 passes)."""
        n, h, s = self.layers, self.hidden, self.seq
        return 96 * batch * s * n * h * h * (1 + s / (6 * h) + self.vocab / (16 * n * h))


@dataclass(frozen=True)
class Cluster:
    name: str
    gpus_per_node: int
    peak_tflops: float           # dense fp16/bf16 per GPU
    hbm_gb: float                # GB = 1e9 B
    hbm_gbps: float
    scaleup_gbps: float          # per GPU and direction, inside a node
    scaleout_gbps: float         # per GPU and direction, between nodes
    scaleup_latency_us: float = 2.0
    scaleout_latency_us: float = 5.0
    expanded_memory_gb: float = 0.0   # CXL-like pool per GPU
    expanded_memory_gbps: float = 0.0

    def validate(self) -> None:
        if not 1 <= self.gpus_per_node <= 10**6:
            raise ValueError("gpus_per_node must be between 1 and 1e6")
        for k in ("peak_tflops", "hbm_gb", "hbm_gbps", "scaleup_gbps", "scaleout_gbps"):
            if getattr(self, k) <= 0:
                raise ValueError(f"{k} must be > 0")
        if self.expanded_memory_gb < 0 or self.expanded_memory_gbps < 0:
            raise ValueError("expanded_memory_gb and expanded_memory_gbps must be >= 0")
        if self.expanded_memory_gb > 0 and self.expanded_memory_gbps <= 0:
            raise ValueError("expanded_memory_gbps must be > 0 when expanded_memory_gb > 0")


def _presets(file: str) -> dict:
    return load_data(package_data("comet", f"presets/{file}"))


def load_model(spec: str | os.PathLike, *, file: str | os.PathLike | None = None) -> TransformerModel:
    """A preset name (megatron-1.7b … megatron-1t, gpt3-175b, turing-530b) or a YAML file; `file` is the config
    that gave `spec` (a sweep or point file), named in errors."""
    presets = _presets("models.yml")
    if not isinstance(spec, (str, os.PathLike)):
        raise ConfigError(file, "model", f"expected a preset name or a file, got {spec!r}")
    if str(spec) in presets:
        return from_dict(TransformerModel, {"name": str(spec), **presets[str(spec)]}, file="presets/models.yml",
                         key=str(spec))
    if not os.path.exists(spec):
        raise ConfigError(file, "", f"unknown model {spec!r}: not a preset ({', '.join(presets)}) and no such file")
    data = load_mapping(spec)
    data.setdefault("name", os.path.basename(str(spec)))
    return from_dict(TransformerModel, data, file=spec)


def load_cluster(spec: str | os.PathLike | dict, overrides: dict | None = None, *,
                 file: str | os.PathLike | None = None) -> Cluster:
    """A preset name, a YAML file, or a mapping {preset: NAME, key: value, ...} written inline in `file`."""
    presets = _presets("clusters.yml")
    if isinstance(spec, dict):
        base = spec.get("preset")
        if base is not None and not (isinstance(base, str) and base in presets):
            raise ConfigError(file, "cluster.preset", f"unknown cluster preset {base!r} ({', '.join(presets)})")
        data = {**presets.get(base, {}), **{k: v for k, v in spec.items() if k != "preset"}}
        return from_dict(Cluster, {"name": str(base or "custom"), **data, **(overrides or {})}, file=file,
                         key="cluster")
    if not isinstance(spec, (str, os.PathLike)):
        raise ConfigError(file, "cluster", f"expected a preset name, a file or a mapping, got {spec!r}")
    if str(spec) in presets:
        return from_dict(Cluster, {"name": str(spec), **presets[str(spec)], **(overrides or {})},
                         file="presets/clusters.yml", key=str(spec))
    if not os.path.exists(spec):
        raise ConfigError(file, "", f"unknown cluster {spec!r}: not a preset ({', '.join(presets)}) and no such file")
    data = load_mapping(spec)
    data.setdefault("name", os.path.basename(str(spec)))
    return from_dict(Cluster, {**data, **(overrides or {})}, file=spec)
