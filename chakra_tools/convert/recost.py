"""Re-derive `num_ops`/`tensor_size` of a converted Chakra ET from the shapes its nodes hold.

A trace converted before the cost formulas learned an op (shapes.py) lacks that op's FLOPs; its nodes still hold
the recorded inputs and outputs (values, shapes, types), and each node's ctrl dep is its caller (the converter's
call tree), so the converter's rules can be applied again without the PyTorch trace: every COMP node gets the cost
of its op, kept only on the innermost op doing the work, written last among its attributes as the converter
writes it. Durations, dependencies and every other attribute stay as they are, so a trace whose ops the formulas
already knew comes back byte-identical.
"""

from __future__ import annotations

import ast
from collections.abc import Sequence
from dataclasses import dataclass

from chakra_tools.convert.pytorch import innermost_costs
from chakra_tools.convert.shapes import base_cost, known_base
from chakra_tools.et import NodeType, make_attr
from chakra_tools.schema import et_def_pb2 as pb

COST_ATTRS = ("num_ops", "tensor_size")


def _io(info: pb.IOInfo) -> dict | None:
    """The converter's view of an IOInfo ({values, shapes, types} lists), or None when its text is not literal."""
    try:
        out = {k: ast.literal_eval(getattr(info, k)) if getattr(info, k) else [] for k in ("values", "shapes", "types")}
    except (ValueError, SyntaxError, TypeError, MemoryError, RecursionError):
        return None
    return out if all(isinstance(v, list) for v in out.values()) else None


def node_cost(node: pb.Node) -> tuple[int, int] | None:
    """(num_ops, tensor_size) of a COMP node from its recorded shapes, or None (op or shapes not understood)."""
    base = known_base(node.name)
    if node.type != NodeType.COMP_NODE or base is None:
        return None
    ins, outs = _io(node.inputs), _io(node.outputs)
    return None if ins is None or outs is None else base_cost(base, ins, outs)


@dataclass
class _Call:
    """What the converter's innermost-op rule reads of a record (a converted ET has no thread roots)."""

    cost: tuple[int, int] | None
    parent: int
    kind: None = None


def recost(nodes: Sequence[pb.Node]) -> int:
    """Set every node's num_ops/tensor_size to what the converter's formulas give now (in place); the number of
    nodes whose cost changed."""
    calls = {n.id: _Call(node_cost(n), n.ctrl_deps[0] if n.ctrl_deps else -1) for n in nodes}
    innermost_costs(calls)  # the converter's rule: the cost stays on the innermost op doing the work
    changed = 0
    for n in nodes:
        old = {a.name: a for a in n.attr if a.name in COST_ATTRS}
        new = calls[n.id].cost
        old_cost = (old["num_ops"].int64_val, old["tensor_size"].uint64_val) if len(old) == 2 else None
        if old_cost == new and (not old or [a.name for a in n.attr][-2:] == list(COST_ATTRS)):
            continue
        keep = [a for a in n.attr if a.name not in COST_ATTRS]
        del n.attr[:]
        n.attr.extend(keep)
        if new is not None:
            n.attr.extend([make_attr("num_ops", int(new[0])), make_attr("tensor_size", int(new[1]))])
        changed += 1
    return changed
