"""ASTRA-sim analytical network YAML: one entry per dimension; dimension 0 varies fastest."""

from __future__ import annotations

import os
from dataclasses import dataclass
from math import prod

from chakra_tools.common import from_dict, load_mapping

TOPOLOGIES = ("Ring", "FullyConnected", "Switch")
HOPS = {"Ring": 1, "FullyConnected": 1, "Switch": 2}  # for a message to a neighbour in the dimension


@dataclass
class NetworkConfig:
    topology: list[str]
    npus_count: list[int]
    bandwidth: list[float]   # GB/s with GB = 2^30 B, as ASTRA-sim
    latency: list[float]     # ns per hop

    def validate(self) -> None:
        n = len(self.topology)
        if not n:
            raise ValueError("topology must list at least one dimension")
        for key in ("npus_count", "bandwidth", "latency"):
            if len(getattr(self, key)) != n:
                raise ValueError(f"{key} has {len(getattr(self, key))} entries but topology has {n}")
        for i, t in enumerate(self.topology):
            if t not in TOPOLOGIES:
                raise ValueError(f"topology[{i}]: unknown {t!r} (ASTRA-sim's analytical backend accepts "
                                 f"{', '.join(TOPOLOGIES)})")
            if self.npus_count[i] < 1:
                raise ValueError(f"npus_count[{i}] must be >= 1, got {self.npus_count[i]}")
            if self.bandwidth[i] <= 0:
                raise ValueError(f"bandwidth[{i}] must be > 0, got {self.bandwidth[i]}")
            if self.latency[i] < 0:
                raise ValueError(f"latency[{i}] must be >= 0, got {self.latency[i]}")

    @property
    def npus(self) -> int:
        return prod(self.npus_count)

    @property
    def dims(self) -> int:
        return len(self.topology)

    def bytes_per_ns(self, dim: int) -> float:
        return self.bandwidth[dim] * (1 << 30) / 1e9

    def coords(self, npu: int) -> list[int]:
        out = []
        for n in self.npus_count:
            out.append(npu % n)
            npu //= n
        return out


def load_network(path: str | os.PathLike) -> NetworkConfig:
    data = load_mapping(path)
    return from_dict(NetworkConfig, {k: data[k] for k in data if k in NetworkConfig.__dataclass_fields__}, file=path)
