"""FLOPs (`num_ops`) and bytes touched (`tensor_size`) of an op from its recorded shapes.

Formulas (multiply-add = 2 ops):
  mm A[m,k]·B[k,n]: 2mkn;  addmm(bias, A, B): 2mkn + mn;  bmm A[b,m,k]·B[b,k,n]: 2bmkn;  baddbmm: 2bmkn + bmn
  matmul: 2·numel(out)·k (k = A's last dim; covers batching/broadcast);  linear x[…,k]·Wᵀ[n,k]: 2·(numel(x)/k)·k·n
  convolution x[N,C,…], w[K,C/g,r…]: 2·numel(out)·(C/g)·∏r (+ numel(out) with a bias)
  convolution_backward(dy, x, w, …, transposed, …, output_mask): the forward's 2·MACs for each of grad input and
  grad weight the mask asks for (MACs = numel(dy)·(C/g)·∏r; transposed: numel(x)·w[1]·∏r), + numel(dy) for grad bias
  max_pool2d_with_indices_backward(dy, …): numel(dy) (each gradient is added once into the zeroed grad input)
  elementwise/activation/normalisation: numel(out) per output element (a few ops per element for softmax and
  layer_norm: 5 and 8)
tensor_size = bytes of every tensor input and output (the traffic a roofline charges).
Anything else returns None: the converter then leaves num_ops/tensor_size unset.
"""

from __future__ import annotations

from math import prod
from typing import Any

_ELEMENTWISE = {
    "add": 1, "sub": 1, "mul": 1, "div": 1, "relu": 1, "gelu": 8, "sigmoid": 4, "tanh": 4, "silu": 5, "exp": 1,
    "log": 1, "sqrt": 1, "rsqrt": 1, "pow": 1, "neg": 1, "abs": 1, "clamp": 1, "where": 1, "threshold_backward": 1,
    "gelu_backward": 10, "sigmoid_backward": 3, "tanh_backward": 3, "silu_backward": 6, "addcmul": 2, "addcdiv": 2,
    "lerp": 3, "softmax": 5, "_softmax": 5, "log_softmax": 5, "_log_softmax": 5, "_softmax_backward_data": 4,
    "_log_softmax_backward_data": 4, "layer_norm": 8, "native_layer_norm": 8, "native_layer_norm_backward": 12,
    "dropout": 2, "native_dropout": 2, "native_dropout_backward": 1, "mse_loss": 3, "sum": 1, "mean": 1,
    "nll_loss": 1, "nll_loss_forward": 1, "nll_loss_backward": 1, "max_pool2d_with_indices": 1,
}
CONV_BACKWARD = "convolution_backward"  # the CPU and CUDA autograd op (mkldnn, cudnn and slow paths alike)
POOL_BACKWARD = "max_pool2d_with_indices_backward"
CONV_OPS = {"convolution", "_convolution", "conv1d", "conv2d", "conv3d", "mkldnn_convolution", "cudnn_convolution",
         "convolution_overrideable", "slow_conv2d_forward", "_slow_conv2d_forward", "thnn_conv2d"}


_KNOWN = {"mm", "addmm", "bmm", "baddbmm", "matmul", "linear", *CONV_OPS, CONV_BACKWARD, POOL_BACKWARD, *_ELEMENTWISE}


def _lists(io: dict, *keys: str) -> list[list]:
    """io[key] for each key, [] where it is missing or not a list."""
    return [v if isinstance(v := io.get(k), list) else [] for k in keys]


def _tensors(io: dict) -> list[tuple[list[int], int]]:
    """(shape, element bytes) of each tensor argument."""
    out = []
    values, shapes, types = _lists(io, "values", "shapes", "types")
    for v, s, t in zip(values, shapes, types):
        if isinstance(t, str) and t.startswith("Tensor(") and isinstance(s, list) and _is_shape(s):
            out.append((s, v[4] if isinstance(v, list) and len(v) == 6 and isinstance(v[4], int) else 4))
    return out


_INT = frozenset((int,))


def _is_shape(s: list) -> bool:
    """Non-negative int dimensions (a bool is not one); map/min keep the loop in C."""
    return not s or (_INT.issuperset(map(type, s)) and min(s) >= 0)


def op_base(name: str) -> str | None:
    """`aten::add_.Tensor` → `add`: the op without namespace, overload and in-place suffix."""
    if "::" not in name:
        return None
    base = name.split("::", 1)[1].split(".", 1)[0]
    if base.endswith("_") and not base.startswith("_"):
        base = base[:-1]  # in-place variants (add_, relu_) cost the same
    return base


def known_base(name: str) -> str | None:
    """op_base(name) when op_cost can return a cost for an op of this name, else None (so callers can skip the
    rest, and pass the base to base_cost for every node of that name)."""
    base = op_base(name)
    return base if base in _KNOWN else None


def op_known(name: str) -> bool:
    """Whether op_cost can return a cost for an op of this name (so callers can skip the rest)."""
    return known_base(name) is not None


def op_cost(name: str, inputs: Any, outputs: Any) -> tuple[int, int] | None:
    """(num_ops, tensor_size) or None when the op or its shapes are not understood."""
    return base_cost(op_base(name), inputs, outputs)


def base_cost(base: str | None, inputs: Any, outputs: Any) -> tuple[int, int] | None:
    """op_cost of an op given its op_base (what the converter caches per distinct name)."""
    if not isinstance(inputs, dict) or not isinstance(outputs, dict):
        return None
    if base not in _KNOWN:
        return None
    ins, outs = _tensors(inputs), _tensors(outputs)
    if not ins and not outs:
        return None
    nbytes = sum(prod(s) * eb for s, eb in ins + outs)
    if base == CONV_BACKWARD:
        ops = _conv_backward_ops([s for s, _ in ins], inputs)
    else:
        ops = _ops(base, [s for s, _ in ins], [s for s, _ in outs])
    return None if ops is None else (ops, nbytes)


def _conv_backward_ops(ins: list[list[int]], inputs: dict) -> int | None:
    """FLOPs of aten::convolution_backward: which gradients it computes is its output_mask argument (the first
    conv of a network computes no grad input), read with the transposed flag from the recorded values."""
    values, types = _lists(inputs, "values", "types")
    flags = [v for v, t in zip(values, types) if t == "Bool"]
    masks = [v for v, t in zip(values, types) if t == "GenericList[Bool,Bool,Bool]"]
    if len(ins) < 3 or len(flags) != 1 or len(masks) != 1 or not all(isinstance(m, bool) for m in masks[0]):
        return None
    (dy, x, w), transposed, (grad_x, grad_w, grad_b) = ins[:3], flags[0], masks[0]
    try:
        macs = prod(x if transposed else dy) * w[1] * prod(w[2:])
    except (IndexError, TypeError):
        return None
    return 2 * macs * (int(grad_x) + int(grad_w)) + (prod(dy) if grad_b else 0)


def _ops(base: str, ins: list[list[int]], outs: list[list[int]]) -> int | None:
    try:
        if base == "mm" and len(ins) >= 2:
            (m, k), (_, n) = ins[0], ins[1]
            return 2 * m * k * n
        if base == "addmm" and len(ins) >= 3:
            (m, k), (_, n) = ins[1], ins[2]
            return 2 * m * k * n + m * n
        if base == "bmm" and len(ins) >= 2:
            (b, m, k), (_, _, n) = ins[0], ins[1]
            return 2 * b * m * k * n
        if base == "baddbmm" and len(ins) >= 3:
            (b, m, k), (_, _, n) = ins[1], ins[2]
            return 2 * b * m * k * n + b * m * n
        if base == "matmul" and len(ins) >= 2 and outs:
            return 2 * prod(outs[0]) * ins[0][-1]
        if base == "linear" and len(ins) >= 2:
            x, w = ins[0], ins[1]
            ops = 2 * prod(x) * w[0]
            return ops + (prod(x) // x[-1] * w[0] if len(ins) >= 3 else 0)
        if base in CONV_OPS and len(ins) >= 2 and outs:
            w = ins[1]
            bias = prod(outs[0]) if len(ins) >= 3 else 0
            return 2 * prod(outs[0]) * w[1] * prod(w[2:]) + bias
        if base == POOL_BACKWARD and ins:
            return prod(ins[0])
        if base in _ELEMENTWISE:
            ref = outs[0] if outs else ins[0]
            return _ELEMENTWISE[base] * prod(ref)
    except (ValueError, IndexError, TypeError):
        return None
    return None
