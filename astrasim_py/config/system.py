"""ASTRA-sim system JSON (or YAML with the same keys): scheduling, chunking, collective algorithms, compute model."""

from __future__ import annotations

import os
from dataclasses import dataclass, field

from chakra_tools.common import ConfigError, from_dict, load_mapping

ALGORITHMS = ("ring", "direct", "halvingDoubling", "doubleBinaryTree", "oneRing", "oneDirect", "oneHalvingDoubling")


@dataclass
class SystemConfig:
    """Keys as in ASTRA-sim (`scheduling-policy` → scheduling_policy); keys ASTRA-sim ignores are ignored."""

    scheduling_policy: str = "LIFO"
    collective_optimization: str = "baseline"
    endpoint_delay: int = 10
    active_chunks_per_dimension: int = 1
    preferred_dataset_splits: int = 1
    local_mem_bw: float = 0.0            # GB/s with GB = 1e9 (reductions, roofline)
    peak_perf: float = 0.0               # TFLOP/s
    roofline_enabled: int = 0
    all_reduce_implementation: list[str] = field(default_factory=lambda: ["ring"])
    all_gather_implementation: list[str] = field(default_factory=lambda: ["ring"])
    reduce_scatter_implementation: list[str] = field(default_factory=lambda: ["ring"])
    all_to_all_implementation: list[str] = field(default_factory=lambda: ["ring"])
    num_queues_per_dim: int = 1
    comm_scale: float = 1.0              # --comm-scale: multiplies collective sizes
    source: str = field(default="system config", repr=False, compare=False)  # file it came from (errors)

    def validate(self) -> None:
        if self.scheduling_policy not in ("LIFO", "FIFO", "EXPLICIT"):
            raise ValueError(f"scheduling-policy must be LIFO, FIFO or EXPLICIT, got {self.scheduling_policy!r}")
        if self.collective_optimization not in ("baseline", "localBWAware"):
            raise ValueError("collective-optimization must be 'baseline' or 'localBWAware', "
                             f"got {self.collective_optimization!r}")
        if self.preferred_dataset_splits < 1:
            raise ValueError(f"preferred-dataset-splits must be >= 1 (ASTRA-sim divides by it), "
                             f"got {self.preferred_dataset_splits}")
        if self.active_chunks_per_dimension < 1:
            raise ValueError("active-chunks-per-dimension must be >= 1")
        if self.endpoint_delay < 0 or self.local_mem_bw < 0 or self.peak_perf < 0:
            raise ValueError("endpoint-delay, local-mem-bw and peak-perf must be >= 0")
        for key in ("all_reduce", "all_gather", "reduce_scatter", "all_to_all"):
            impls = getattr(self, f"{key}_implementation")
            if not impls:
                raise ValueError(f"{key.replace('_', '-')}-implementation must list one algorithm per dimension")
            for a in impls:
                base = a[:-1] if a.startswith("direct") and a[6:].isdigit() else a
                if base.rstrip("0123456789") not in ALGORITHMS:
                    raise ValueError(f"{key.replace('_', '-')}-implementation: unknown algorithm {a!r} "
                                     f"(known: {', '.join(ALGORITHMS)}, directN)")

    @property
    def roofline(self) -> bool:
        return bool(self.roofline_enabled)


def load_system(path: str | os.PathLike) -> SystemConfig:
    data = load_mapping(path)
    known = {f.replace("_", "-") for f in SystemConfig.__dataclass_fields__}
    kept = {k: v for k, v in data.items() if k in known or k.replace("-", "_") in SystemConfig.__dataclass_fields__}
    cfg = from_dict(SystemConfig, kept, file=path)
    if cfg.roofline and cfg.peak_perf <= 0:
        raise ConfigError(path, "peak-perf", "must be > 0 when roofline-enabled is 1")
    cfg.source = str(path)  # named in errors found only once the network and workload are known
    return cfg
