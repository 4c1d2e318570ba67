"""Sparsity patterns of the A (weight) operand and how they map onto VEGETA instructions.

  4:4 (dense)          TILE_GEMM      K 32 per instruction
  2:4                  TILE_SPMM_U    K 64
  1:4                  TILE_SPMM_V    K 128
  row-wise[:p1/p2/p4]  TILE_SPMM_R    N per row drawn from {1, 2, 4} with these shares (default 1/3 each)
  unstructured:S       TILE_SPMM_R    random unstructured sparsity S (0 <= S < 1) covered by the smallest
                                      row-wise N:4 (per row and 64-wide K window: the N fitting its densest block)

Row-wise patterns are data-dependent: the timing model uses a seeded sample of 16 x 64 windows (`WINDOWS`) and the
instruction parts (feed cycles, stored half-slots) each one needs.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from chakra_tools.common import ToolError

from .formats import HALF_SLOT, ROWWISE_BLOCKS, row_n_for, rowwise_groups
from .isa import BF16, BLOCK, TILE_M

WINDOWS = 1024                      # sampled 16 x 64 windows per row-wise pattern
PAPER_PATTERNS = ("4:4", "2:4", "1:4", "unstructured:0.95")
OPS = {1: "TILE_SPMM_V", 2: "TILE_SPMM_U", 4: "TILE_GEMM"}


@dataclass(frozen=True)
class Window:
    """Instruction parts of one 16-row x 64-K row-wise window: ((feed, half_slots, rown), ...)."""

    parts: tuple[tuple[int, int, tuple[int, ...]], ...]


@dataclass(frozen=True, eq=False)
class Pattern:
    spec: str                          # canonical spelling
    op: str                            # the compute instruction
    density: float                     # stored values / logical values of A (padding included for row-wise)
    windows: tuple[Window, ...] = ()   # row-wise only
    seed: int = 0                      # the sample of row-wise windows

    def _key(self) -> tuple:
        return (self.spec, self.op, self.seed, len(self.windows))

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Pattern) and self._key() == other._key()

    def __hash__(self) -> int:
        return hash(self._key())

    @property
    def rowwise(self) -> bool:
        return self.op == "TILE_SPMM_R"

    def mean_half_slots(self) -> float:
        """Stored half-slots per window (16 values each)."""
        return float(np.mean([sum(p[1] for p in w.parts) for w in self.windows]))

    def mean_feed(self) -> float:
        return float(np.mean([sum(p[0] for p in w.parts) for w in self.windows]))

    def mean_parts(self) -> float:
        return float(np.mean([len(w.parts) for w in self.windows]))

    @property
    def sampled(self) -> bool:
        """Row-wise windows differ from each other (timing averages over many of them)."""
        return len(self.windows) > 1

    def alternatives(self) -> list[Pattern]:
        """The ways a library can run this pattern: 1:4 weights also fit TILE_SPMM_R with every row at N = 1
        (64-wide K windows, 8 feed cycles), which wastes less padding when K is not a multiple of 128. (2:4 on
        TILE_SPMM_R equals TILE_SPMM_U: same K per instruction and feed.)"""
        if self.op == "TILE_SPMM_V":
            return [self, Pattern(self.spec, "TILE_SPMM_R", self.density, _rowwise_windows(np.ones((1, TILE_M))))]
        return [self]


def _rowwise_windows(rown: np.ndarray) -> tuple[Window, ...]:
    """rown: windows x 16 N values -> the instruction parts of each window (greedy packing, formats.py)."""
    out = []
    for rows in rown:
        parts = []
        for g in rowwise_groups(rows):
            rn = tuple(int(rows[r]) if r in g else 0 for r in range(TILE_M))
            parts.append(((sum(rn) + 1) // 2, sum(rn), rn))   # feed cycles: two half-rows per cycle
        out.append(Window(tuple(parts)))
    return tuple(out)


def parse_pattern(spec: str, seed: int = 0) -> Pattern:
    """A --sparsity value -> Pattern (ToolError on bad input)."""
    s = spec.strip().lower()
    if s in ("dense", "4:4"):
        return Pattern("4:4", "TILE_GEMM", 1.0)
    if s in ("2:4", "1:4"):
        n = int(s[0])
        return Pattern(s, OPS[n], n / BLOCK)
    rng = np.random.default_rng([seed, 0x5E6E7A])
    if s.startswith("row-wise"):
        shares = (1 / 3, 1 / 3, 1 / 3)
        if s != "row-wise":
            if not s.startswith("row-wise:"):
                raise ToolError(f"bad sparsity {spec!r}: expected row-wise or row-wise:P1/P2/P4")
            try:
                shares = tuple(float(x) for x in s.split(":", 1)[1].split("/"))
            except ValueError:
                raise ToolError(f"bad sparsity {spec!r}: row-wise shares must be numbers (row-wise:P1/P2/P4)") \
                    from None
            if len(shares) != 3 or any(not np.isfinite(x) or x < 0 for x in shares) or sum(shares) <= 0:
                raise ToolError(f"bad sparsity {spec!r}: give three non-negative shares of rows with N = 1, 2, 4")
        p = np.asarray(shares) / sum(shares)
        rown = rng.choice(np.array([1, 2, 4]), size=(WINDOWS, TILE_M), p=p)
        canon = "row-wise" if s == "row-wise" else "row-wise:" + "/".join(f"{x:g}" for x in shares)
        return Pattern(canon, "TILE_SPMM_R", float(rown.mean() / BLOCK), _rowwise_windows(rown), seed)
    if s.startswith("unstructured"):
        try:
            sp = float(s.split(":", 1)[1]) if ":" in s else 0.95
        except ValueError:
            raise ToolError(f"bad sparsity {spec!r}: expected unstructured:S with 0 <= S < 1") from None
        if not (np.isfinite(sp) and 0 <= sp < 1):
            raise ToolError(f"bad sparsity {spec!r}: S must satisfy 0 <= S < 1")
        nnz = (rng.random((WINDOWS, TILE_M, ROWWISE_BLOCKS, BLOCK)) >= sp).sum(axis=-1)
        rown = row_n_for(nnz)
        return Pattern(f"unstructured:{sp:g}", "TILE_SPMM_R", float(rown.mean() / BLOCK), _rowwise_windows(rown),
                       seed)
    raise ToolError(f"unknown sparsity {spec!r} (4:4, 2:4, 1:4, row-wise[:P1/P2/P4], unstructured:S)")


def a_bytes_per_window(half_slots: int) -> tuple[int, int]:
    """(value bytes, metadata bytes) of row-wise parts with this many half-slots."""
    return half_slots * HALF_SLOT * BF16, half_slots * HALF_SLOT // 4
