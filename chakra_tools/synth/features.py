"""Node features that keep no names: a node kind (node type + coarse op class) and numeric attributes."""

from __future__ import annotations

import re
from typing import Any

from chakra_tools.et import CommType, NodeType, attrs_of
from chakra_tools.schema import et_def_pb2 as pb
from chakra_tools.synth.groups import split_kind, with_role

# Coarse op classes, first match wins. Keywords are matched against the lower-cased op name without namespace:
# PyTorch's operator names (aten::addmm) and the GPU kernel names a Kineto-linked trace carries as compute nodes
# (cuBLAS/CUTLASS gemms, cuDNN convolutions, flash attention, PyTorch's elementwise and reduce kernels, memcpy).
OP_CLASSES: list[tuple[str, tuple[str, ...]]] = [
    ("optimizer", ("optimizer", "sgd", "adam", "_foreach", "multi_tensor")),
    ("conv", ("conv", "winograd", "fprop", "dgrad", "wgrad")),
    ("matmul", ("mm", "addmm", "bmm", "matmul", "linear", "einsum", "attention", "gemm", "gemv", "cublas", "flash",
                "fmha", "sdpa", "splitkreduce")),
    ("norm", ("norm",)),
    ("softmax", ("softmax",)),
    ("loss", ("loss", "cross_entropy", "nll")),
    ("pool", ("pool",)),
    ("activation", ("relu", "gelu", "sigmoid", "tanh", "threshold", "silu", "dropout")),
    ("reduce", ("sum", "mean", "max", "min", "norm", "argmax", "reduce_kernel")),
    ("alloc", ("empty", "zeros", "ones", "full", "rand", "arange", "new_", "resize", "memset")),
    ("view", ("view", "reshape", "transpose", "permute", "strided", "select", "slice", "expand", "squeeze",
              "flatten", "contiguous", "detach", "alias", "split", "chunk", "unbind", "narrow", "t", "index",
              "cat", "stack", "lift")),
    ("copy", ("copy", "clone", "to", "_to_copy", "fill", "zero", "memcpy")),
    ("elementwise", ("add", "mul", "div", "sub", "neg", "sqrt", "pow", "exp", "log", "where", "clamp", "lerp",
                     "addcmul", "addcdiv", "abs", "sign", "rsub", "reciprocal", "elementwise", "rotary")),
]
# GPU kernels that run a collective (NCCL/RCCL): like c10d's host ops, communication rather than compute
_COLLECTIVE_KERNELS = ("nccl", "rccl")
# backward in a kernel's name: cuDNN's data/weight gradients, flash attention's bwd
_BACKWARD_PARTS = ("bwd", "dgrad", "wgrad")
_WORD = re.compile(r"[a-z0-9_]+")
_TYPE_TOKEN = {NodeType.METADATA_NODE: "META", NodeType.MEM_LOAD_NODE: "MEM_LOAD", NodeType.MEM_STORE_NODE: "MEM_STORE",
               NodeType.COMM_SEND_NODE: "SEND", NodeType.COMM_RECV_NODE: "RECV", NodeType.INVALID_NODE: "INVALID"}
NUMERIC_ATTRS = ("num_ops", "tensor_size", "comm_size")
COMPUTE_HEADS = ("COMP:", "GPU:")  # kind heads of compute nodes: host ops, kernels


def op_class(name: str) -> str:
    """Coarse class of an op name, e.g. 'aten::addmm' -> 'matmul'; backward ops get a 'bwd_' prefix."""
    low = name.lower()
    prefix = ""
    if "backward" in low:
        prefix = "bwd_"
        low = low.replace("backward", " ")
    # a kernel's template arguments name its op (elementwise_kernel<..., mul_kernel_cuda>) and hold "::" of
    # their own: the namespace is split off the part before them
    head, angle, args = low.partition("<")
    namespace, _, base = head.rpartition("::")
    words = _WORD.findall(base + " " + angle + args)
    if "c10d" in namespace or any(k in w for w in words for k in _COLLECTIVE_KERNELS):
        return prefix + "collective"  # the host side of a functional collective (issue, wrap, wait), NCCL kernels
    if any(part in _BACKWARD_PARTS for w in words for part in w.split("_")):
        prefix = "bwd_"
    for cls, keys in OP_CLASSES:
        for w in words:
            w = w.strip("_")
            if any(w == k or (len(k) > 2 and k in w) for k in keys):
                return prefix + cls
    return prefix + "other"


def node_kind(node: pb.Node, attrs: dict[str, Any] | None = None) -> str:
    """Kind token: 'COMP:<class>' (a host op), 'GPU:<class>' (a kernel: is_cpu_op false), 'COLL:<CommType name>',
    'SEND', 'RECV', 'META', 'MEM_LOAD', …"""
    t = node.type
    if t == NodeType.COMP_NODE:
        if node.name.startswith(COMPUTE_HEADS):  # a node chakra-synth wrote: its name is its kind
            return node.name
        # a Kineto-linked trace holds an op and the kernel it launches under one op class: they run on different
        # lanes and only the op is waited for, so they are different kinds
        a = attrs if attrs is not None else attrs_of(node)
        return ("COMP:" if a.get("is_cpu_op", False) else "GPU:") + op_class(node.name)
    if t == NodeType.COMM_COLL_NODE:
        a = attrs if attrs is not None else attrs_of(node)
        ct = int(a.get("comm_type", -1))
        try:
            return "COLL:" + CommType(ct).name
        except ValueError:
            return "COLL:UNKNOWN"
    return _TYPE_TOKEN.get(t, "INVALID")


def role_kind(node: pb.Node, attrs: dict[str, Any], roles: dict[str, str]) -> str:
    """node_kind with a collective's process-group role appended (`COLL:ALL_REDUCE@g2s1`; groups.py): `roles`
    maps the trace's pg_names to role tags; a collective on the world, or on no named group, has none."""
    kind = node_kind(node, attrs)
    if roles and node.type == NodeType.COMM_COLL_NODE:
        return with_role(kind, roles.get(str(attrs.get("pg_name", "") or ""), ""))
    return kind


COMM_NODE_TYPES = (NodeType.COMM_COLL_NODE, NodeType.COMM_SEND_NODE, NodeType.COMM_RECV_NODE)


def thread_key(node, attrs: dict) -> tuple[int, int] | None:
    """The thread a node runs on, for fit's thread slots and compare's thread figures: (1, stream) for a GPU node
    with a `stream` attribute (a kernel runs in its stream's order, whatever tid it carries: the converter and
    trace_link's ET+ give it its launching thread's), (0, tid) for another node with a tid; None for communication
    and metadata nodes (sample writes them on the main thread) and for nodes with neither."""
    if node.type in COMM_NODE_TYPES or node.type == NodeType.METADATA_NODE:
        return None
    s = attrs.get("stream")
    if attrs.get("is_cpu_op") is False and isinstance(s, int) and not isinstance(s, bool):
        return 1, s
    t = attrs.get("tid")
    return (0, t) if isinstance(t, int) and not isinstance(t, bool) else None


def is_comm_kind(kind: str) -> bool:
    """Whether a kind token is a communication node's (a collective, a send or a recv)."""
    return kind.startswith("COLL:") or kind in ("SEND", "RECV")


def compute_path_us(g) -> int:
    """Critical path of duration_micros through a RankGraph with communication nodes taking 0: the compute
    part of what a simulator such as astra-run replays (it times comm nodes from sizes, not durations)."""
    finish: dict[int, int] = {}
    by_id = g.by_id
    for i in g.issue_order():
        n = by_id[i]
        start = max((finish[d] for d in g.deps(n) if d in finish), default=0)
        finish[i] = start + (0 if n.type in COMM_NODE_TYPES else n.duration_micros)
    return max(finish.values(), default=0)


def node_type_of(kind: str) -> int:
    """The NodeType a kind token is written as."""
    head = kind.split(":")[0]
    return {"COMP": NodeType.COMP_NODE, "GPU": NodeType.COMP_NODE, "COLL": NodeType.COMM_COLL_NODE, "SEND": NodeType.COMM_SEND_NODE,
            "RECV": NodeType.COMM_RECV_NODE, "META": NodeType.METADATA_NODE, "MEM_LOAD": NodeType.MEM_LOAD_NODE,
            "MEM_STORE": NodeType.MEM_STORE_NODE}.get(head, NodeType.COMP_NODE)


def comm_type_of(kind: str) -> int | None:
    if not kind.startswith("COLL:"):
        return None
    try:
        return int(CommType[split_kind(kind)[0][5:]])  # without its process-group role
    except KeyError:
        return None
