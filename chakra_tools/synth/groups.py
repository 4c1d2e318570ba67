"""Process-group roles: where a collective's group sits in the rank grid, so that a synthetic trace puts it on
the same kind of group at any world size.

Hybrid parallelism lays ranks out on a grid (Megatron-LM: tensor-parallel inner, rank = dp x TP + tp), and each
process group is one line of it: the ranks {first + k x stride, k < size}. A group's role is that line's shape:
- the world: no role (kind `COLL:ALL_REDUCE`, as for a single-group trace);
- an **outer** line, one that reaches the end of the world (stride x size = world, e.g. data-parallel groups
  {0, 2}, {1, 3} of a 4-rank TP 2 x DP 2 step): `s<stride>`; it grows with the world (at 8 ranks: {0, 2, 4, 6},
  {1, 3, 5, 7}), as data parallelism does when a job gets more ranks;
- an **inner** line (stride x size < world, e.g. tensor-parallel pairs {0, 1}, {2, 3}): `g<size>s<stride>`; it
  keeps its size and stride at any world size (at 8 ranks: {0, 1}, {2, 3}, {4, 5}, {6, 7}).
A group whose ranks are not evenly spaced, or not aligned to such a grid, is taken as contiguous blocks of its size
(`g<size>s1`). The role is part of a collective's kind (`COLL:ALL_REDUCE@g2s1`), so the kind chain, the size
tables and the architecture laws are learned per role: where in the step each group's collectives come and how
large they are.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence

from chakra_tools.common import ToolError

SEP = "@"
_ROLE = re.compile(r"^(?:g(\d+))?s(\d+)$")
MAX_RANKS = 1 << 20


def role_of(members: Iterable[int], world: int) -> str:
    """The role tag of a group of `members` in a world of `world` ranks ("" for the whole world)."""
    m = sorted(set(members))
    if not m or len(m) >= world or m == list(range(world)):
        return ""
    size = len(m)
    stride = m[1] - m[0] if size > 1 else 1
    even = all(b - a == stride for a, b in zip(m, m[1:]))
    if even and stride * size == world and m[0] < stride:
        return f"s{stride}"
    if even and world % (stride * size) == 0 and m[0] % (stride * size) < stride:
        return f"g{size}s{stride}"
    return f"g{size}s1"


def split_kind(kind: str) -> tuple[str, str]:
    """(kind without role, role tag) of a kind token: `COLL:ALL_REDUCE@s2` -> (`COLL:ALL_REDUCE`, `s2`)."""
    base, _, role = kind.partition(SEP)
    return base, role


def kind_roles(kinds: Iterable[str]) -> list[str]:
    """The distinct roles of a model's kinds, sorted (none for a model whose collectives all ran on the world)."""
    return sorted({split_kind(k)[1] for k in kinds} - {""})


def with_role(kind: str, role: str) -> str:
    return f"{kind}{SEP}{role}" if role else kind


def parse_role(role: str) -> tuple[int | None, int]:
    """(size or None for an outer line, stride) of a role tag; a one-line error for anything else."""
    m = _ROLE.match(role)
    if m is None or int(m.group(2)) < 1 or (m.group(1) is not None and int(m.group(1)) < 1) \
            or int(m.group(2)) > MAX_RANKS or int(m.group(1) or 1) > MAX_RANKS:
        raise ToolError(f"process-group role '{role}' is not g<size>s<stride> or s<stride>")
    return (int(m.group(1)) if m.group(1) is not None else None), int(m.group(2))


def trace_roles(groups: dict[str, list[int]], world: int) -> dict[str, str]:
    """Per pg_name of a trace its role tag ("" and "0", the default group, are the world)."""
    return {name: role_of(members, world) if members else "" for name, members in groups.items()}


def role_groups(role: str, ranks: int) -> list[list[int]]:
    """The groups of one role in a world of `ranks` ranks, ordered by their first rank; a one-line error when
    the world cannot hold the role's grid (`ranks` must be a multiple of stride x size, or of the stride). An outer
    role at `ranks` = its stride has groups of one rank (data parallelism of 1: what-if without it)."""
    size, stride = parse_role(role)
    block = stride * (size if size is not None else 1)
    if ranks % block:
        what = (f"groups of {size} ranks {stride} apart" if size is not None
                else f"groups of ranks {stride} apart across the world")
        raise ToolError(f"--ranks {ranks}: the model's collectives run on {what}, which needs a multiple of "
                        f"{block} ranks")
    if size is None:
        size = ranks // stride
    span = stride * size
    return [[b + o + k * stride for k in range(size)] for b in range(0, ranks, span) for o in range(stride)]


def layout(roles: Sequence[str], ranks: int) -> tuple[dict[str, list[int]], dict[str, list[str]]]:
    """Comm groups for the roles at `ranks` ranks: (`{pg_name: ranks}` named "1", "2", ... role by role in sorted
    order, `{role: pg_name of each rank}`). A role whose groups are the whole world gets none (its collectives
    carry no pg_name, as in the trace it was learned from)."""
    groups: dict[str, list[int]] = {}
    of_rank: dict[str, list[str]] = {}
    for role in sorted(set(roles)):
        names = [""] * ranks
        for members in role_groups(role, ranks):
            if len(members) == ranks:
                break
            name = str(len(groups) + 1)
            groups[name] = members
            for r in members:
                names[r] = name
        of_rank[role] = names
    return groups, of_rank
