"""Matrix-engine and core parameters: VEGETA-{D,S}-alpha-beta engines and the CPU core around them.

Engine geometry (reference/vegeta.md §4): 512 BF16 MACs. A PU is alpha MACs feeding an alpha-input adder tree (one
dot product of length alpha per cycle); a PE is beta PUs sharing the eastbound A inputs (they compute beta output
columns). The array is weight (B) stationary: 32/alpha PE rows along K, 16/beta PE columns along N; A rows stream
in from the west one per cycle, partial sums flow south. D engines run TILE_GEMM only; S engines add a 4:1 mux per
MAC and a 4-entry B buffer (TILE_SPMM_U/V) and split the K direction into two 16-MAC lanes (TILE_SPMM_R).
VEGETA-D-1-1 is the RASA-SM dense baseline, VEGETA-D-1-2 RASA-DM.

Pipeline constants (cycles; assumed, CPU-typical, the same for every engine and pattern):
  adder_levels_per_cycle 2   adder-tree levels per pipeline stage: a PE row takes 1 + ceil(log2(alpha)/2) cycles
  t_wakeup 2, t_rf 2         scoreboard wake-up/dispatch and tile-register read before a dependent op starts
  t_acc 1, t_wb 2            FP32 accumulate at the array edge and tile-register write-back
  wl_rows 16                 weight load: 16 register rows; ureg/vreg tregs sit in separate banks, read in parallel
Core constants (CoreConfig, documented in docs/vegeta-sim.md with their sources/assumptions).
"""
from __future__ import annotations

import math
import re
from dataclasses import dataclass, fields
from typing import TYPE_CHECKING

from chakra_tools.common import ToolError

if TYPE_CHECKING:
    from .sparsity import Pattern

TOTAL_MACS = 512


@dataclass(frozen=True)
class Engine:
    """A VEGETA-{D,S}-alpha-beta matrix engine."""

    sparse: bool
    alpha: int
    beta: int
    adder_levels_per_cycle: int = 2
    t_wakeup: int = 2
    t_rf: int = 2
    t_acc: int = 1
    t_wb: int = 2
    wl_rows: int = 16

    @property
    def name(self) -> str:
        return f"VEGETA-{'S' if self.sparse else 'D'}-{self.alpha}-{self.beta}"

    @property
    def pe_rows(self) -> int:
        return 32 // self.alpha

    @property
    def pe_cols(self) -> int:
        return 16 // self.beta

    @property
    def row_stage(self) -> int:
        """Cycles a partial sum spends in one PE row: the MAC plus the adder tree."""
        return 1 + math.ceil(math.log2(self.alpha) / self.adder_levels_per_cycle)

    @property
    def drain(self) -> int:
        """Cycles from the last A slot entering the array to its C row being written back."""
        return (self.pe_cols - 1) + self.pe_rows * self.row_stage + self.t_acc + self.t_wb

    @property
    def t_operand(self) -> int:
        """Cycles between an operand becoming ready and a dependent op using it."""
        return self.t_wakeup + self.t_rf

    def supports(self, op: str) -> bool:
        return op == "TILE_GEMM" or self.sparse

    def require(self, op_or_pattern: str | Pattern) -> None:
        """ValueError unless this engine runs the instruction (or the sparsity pattern's instruction)."""
        is_op = isinstance(op_or_pattern, str)
        if not self.supports(op_or_pattern if is_op else op_or_pattern.op):
            what = op_or_pattern if is_op else op_or_pattern.spec
            raise ValueError(f"{self.name} is dense-only and cannot run {what}; use a VEGETA-S engine")


ALIASES = {"RASA-SM": "VEGETA-D-1-1", "RASA-DM": "VEGETA-D-1-2"}


def display_name(e: Engine) -> str:
    """`RASA-SM (VEGETA-D-1-1)` for the RASA designs, else the VEGETA name."""
    alias = {v: k for k, v in ALIASES.items()}.get(e.name)
    return f"{alias} ({e.name})" if alias else e.name
_NAME = re.compile(r"^VEGETA-([DS])-(\d+)-(\d+)$", re.IGNORECASE)
DEFAULT_ENGINE = "VEGETA-S-16-2"
BASELINE_ENGINE = "RASA-SM"
# The designs the paper names (reference/vegeta.md §4); any valid alpha/beta is accepted.
KNOWN_ENGINES = ("VEGETA-D-1-1", "VEGETA-D-1-2", "VEGETA-D-16-1", "VEGETA-S-1-2", "VEGETA-S-2-2", "VEGETA-S-4-2",
                 "VEGETA-S-8-2", "VEGETA-S-16-2")


def parse_engine(name: str) -> Engine:
    """`VEGETA-S-16-2`, `VEGETA-D-1-1`, or an alias (`RASA-SM`, `RASA-DM`)."""
    key = ALIASES.get(name.strip().upper(), name.strip())
    m = _NAME.match(key)
    if not m:
        raise ToolError(f"unknown engine {name!r} (VEGETA-{{D,S}}-alpha-beta, e.g. {DEFAULT_ENGINE}, or "
                        f"{', '.join(ALIASES)})")
    kind, alpha, beta = m.group(1).upper(), int(m.group(2)), int(m.group(3))
    if alpha not in (1, 2, 4, 8, 16, 32) or beta not in (1, 2, 4, 8, 16):
        raise ToolError(f"engine {name!r}: alpha must be a power of two <= 32 and beta a power of two <= 16")
    if kind == "S" and alpha == 32:
        raise ToolError(f"engine {name!r}: a sparse engine needs at least two PE rows (alpha <= 16) for its "
                        "row-wise lanes")
    return Engine(sparse=kind == "S", alpha=alpha, beta=beta)


@dataclass(frozen=True)
class CoreConfig:
    """The CPU core around the engine: caches, bandwidths, clock (YAML keys = these field names)."""

    clock_ghz: float = 2.0                 # for durations in --from-et output; cycles are clock-free
    l1_bytes: int = 48 * 1024              # L1D capacity
    l1_load_bytes_per_cycle: float = 192   # L1 -> tile registers: three 64 B load ports
    l1_latency: int = 5                    # load-to-use of the first row
    store_bytes_per_cycle: float = 64      # one 64 B store port
    l2_bytes: int = 2 * 1024 * 1024        # L2 capacity
    l2_bytes_per_cycle: float = 128        # L2 -> L1 fill bandwidth (2x a 2023 core: see docs)
    mem_bytes_per_cycle: float = 32        # LLC/DRAM bandwidth available to this core
    phys_tregs: int = 16                   # physical tile registers behind the 8 architectural (8 = no renaming)
    phys_mregs: int = 16                   # physical metadata registers behind the 8 architectural

    def validate(self) -> None:
        for f in fields(self):
            v = getattr(self, f.name)
            if not isinstance(v, (int, float)) or isinstance(v, bool) or not math.isfinite(v) or v <= 0:
                raise ValueError(f"{f.name} must be a positive number (got {v!r})")
            lo, hi = _LIMITS.get(f.name, (1e-3, 1e12))
            if not lo <= v <= hi:
                raise ValueError(f"{f.name} = {v!r} is outside the supported range {lo:g}..{hi:g}")
        for name in ("phys_tregs", "phys_mregs"):
            v = getattr(self, name)
            if v != int(v) or not 8 <= v <= 64:
                raise ValueError(f"{name} must be an integer from 8 to 64 (got {v!r})")
        if self.l1_bytes < 8 * 1024 or self.l2_bytes < self.l1_bytes:
            raise ValueError("l1_bytes must be >= 8 KiB and l2_bytes >= l1_bytes")


_LIMITS = {"clock_ghz": (1e-6, 1e3), "l1_latency": (1e-3, 1e6), "l1_bytes": (8192, 2 ** 40),
           "l2_bytes": (8192, 2 ** 50)}
