"""ASTRA-sim remote-memory JSON: latency + size / bandwidth per MEM_LOAD/MEM_STORE node."""

from __future__ import annotations

import os
from dataclasses import dataclass

from chakra_tools.common import from_dict, load_mapping

MEMORY_TYPES = ("NO_MEMORY_EXPANSION", "PER_NODE_MEMORY_EXPANSION", "PER_NPU_MEMORY_EXPANSION", "MEMORY_POOL")


@dataclass
class MemoryConfig:
    memory_type: str = "NO_MEMORY_EXPANSION"
    remote_mem_latency: float = 0.0   # ns
    remote_mem_bw: float = 1.0        # bytes per ns
    num_nodes: int = 1
    num_npus_per_node: int = 1

    def validate(self) -> None:
        if self.memory_type not in MEMORY_TYPES:
            raise ValueError(f"memory-type must be one of {', '.join(MEMORY_TYPES)}, got {self.memory_type!r}")
        if self.remote_mem_bw <= 0 or self.remote_mem_latency < 0:
            raise ValueError("remote-mem-bw must be > 0 and remote-mem-latency >= 0")
        if self.num_nodes < 1 or self.num_npus_per_node < 1:
            raise ValueError("num-nodes and num-npus-per-node must be >= 1")

    def access_ns(self, nbytes: int) -> int:
        return int(self.remote_mem_latency + nbytes // self.remote_mem_bw)

    def server_of(self, npu: int) -> int | None:
        """Which shared server serialises this NPU's requests (None = its own, never shared)."""
        if self.memory_type == "MEMORY_POOL":
            return 0
        if self.memory_type == "PER_NODE_MEMORY_EXPANSION":
            return npu // self.num_npus_per_node
        return None


def load_memory(path: str | os.PathLike) -> MemoryConfig:
    data = load_mapping(path)
    return from_dict(MemoryConfig, {k: v for k, v in data.items()
                                    if k.replace("-", "_") in MemoryConfig.__dataclass_fields__}, file=path)
