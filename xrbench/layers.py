"""One layer as a convolution/GEMM shape, and a small builder that tracks the running tensor shape.

Every operator of the unit models is expressed in the conv loop nest MAESTRO and the cost model use:
output channels K, input channels per group C, groups G, batch N, output rows Y', columns X', filter R x S,
stride. Mapping of the other operators onto that nest:

* depthwise conv: G = channels, K = C = 1 per group;
* fully-connected / 1x1 projection over T tokens: K = out features, C = in features, Y' = T, X' = 1;
* attention score / context matmul (activation x activation): `op="matmul"`, G = heads, Y' = query tokens,
  K = key tokens (scores) or head dim (context), C = the reduced dimension; its second operand (the "weight"
  slot) is an activation, so it has no parameters;
* per-ROI heads: N = number of ROIs (weights shared across N).

Spatial sizes follow "same" padding: Y' = ceil(Y / stride) (PyTorch with padding = R // 2).
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field


@dataclass(frozen=True)
class Layer:
    name: str
    op: str          # conv | dwconv | fc | matmul
    k: int           # output channels per group
    c: int           # input channels per group (the reduction besides R x S)
    y: int           # input rows (tokens for fc/matmul)
    x: int = 1       # input columns
    r: int = 1
    s: int = 1
    stride: int = 1
    groups: int = 1
    n: int = 1       # batch sharing the weights (ROIs)
    bias: bool = False

    @property
    def yo(self) -> int:
        return math.ceil(self.y / self.stride)

    @property
    def xo(self) -> int:
        return math.ceil(self.x / self.stride)

    @property
    def macs(self) -> int:
        return self.n * self.groups * self.k * self.c * self.r * self.s * self.yo * self.xo

    @property
    def weights(self) -> int:
        """Elements of the second operand (weights, or the activation operand of a matmul)."""
        return self.groups * self.k * self.c * self.r * self.s

    @property
    def params(self) -> int:
        if self.op == "matmul":
            return 0
        return self.weights + (self.groups * self.k if self.bias else 0)

    @property
    def inputs(self) -> int:
        return self.n * self.groups * self.c * self.y * self.x

    @property
    def outputs(self) -> int:
        return self.n * self.groups * self.k * self.yo * self.xo

    def encoded(self) -> Layer:
        """This layer as the XRBench MAESTRO files encode it (reference §1): stride ignored, output
        Y-R+1 x X-S+1 (no padding), depthwise written as a dense C x C conv, N folded into Y like the files.
        The result has stride 1 and its Y, X are those output sizes; every operator but a matmul becomes a conv."""
        dense = self.op == "dwconv"
        k, c = (self.k * self.groups, self.c * self.groups) if dense else (self.k, self.c)
        y, x = max(self.y * self.n - self.r + 1, 1), max(self.x - self.s + 1, 1)
        op = "matmul" if self.op == "matmul" else "conv"
        return Layer(self.name, op, k, c, y, x, self.r, self.s, 1, 1 if dense else self.groups, 1, self.bias)

    def encoded_macs(self) -> int:
        """MACs of this layer as the XRBench MAESTRO files encode it (`encoded()`)."""
        return self.encoded().macs


@dataclass
class Net:
    """Layer-list builder: `Net(3, 224, 224).conv(32, 3, stride=2).dw(3)...`; `.layers` is the result.

    The builder carries the current (channels, rows, columns); branches are built with `fork()` (a copy
    sharing the layer list) or started on another tensor with `at(c, y, x)` (also sharing it).
    """
    c: int
    y: int
    x: int = 1
    layers: list[Layer] = field(default_factory=list)
    prefix: str = ""
    n: int = 1           # batch of the layers added (e.g. ROIs through a shared head), unless a call gives n

    def _add(self, op, k, r=1, s=None, stride=1, groups=1, name=None, c=None, n=None, bias=False) -> Net:
        cin = self.c if c is None else c
        n = self.n if n is None else n
        s = r if s is None else s
        per_group = cin // groups
        kk = k // groups
        label = f"{self.prefix}{name or op}{len(self.layers) + 1}"
        lay = Layer(label, op, kk, per_group, self.y, self.x, r, s, stride, groups, n, bias)
        self.layers.append(lay)
        self.c, self.y, self.x = k, lay.yo, lay.xo
        return self

    def conv(self, k, r=1, s=None, stride=1, name=None, bias=False, n=None) -> Net:
        return self._add("conv", k, r, s, stride, 1, name, n=n, bias=bias)

    def dw(self, r=3, stride=1, name=None, bias=False, n=None) -> Net:
        return self._add("dwconv", self.c, r, r, stride, self.c, name, n=n, bias=bias)

    def fc(self, k, name=None, bias=True, n=None) -> Net:
        """Linear layer applied to every one of the y*x positions (tokens)."""
        tokens = self.y * self.x
        self.y, self.x = tokens, 1
        return self._add("fc", k, name=name, n=n, bias=bias)

    def matmul(self, heads, m, kdim, reduce, name=None, n=None) -> Layer:
        """Activation x activation product per head: (m x reduce) @ (reduce x kdim); shape state unchanged."""
        lay = Layer(f"{self.prefix}{name or 'matmul'}{len(self.layers) + 1}", "matmul", kdim, reduce, m, 1,
                    groups=heads, n=self.n if n is None else n)
        self.layers.append(lay)
        return lay

    def deconv(self, k, kernel=2, name=None, bias=False, n=None) -> Net:
        """Transposed conv, stride 2: costed as its sub-pixel equivalent, a (kernel/2)^2 conv at the input
        resolution producing 4*k channels (same MACs and weights), then depth-to-space to (k, 2y, 2x)."""
        self._add("conv", 4 * k, kernel // 2, name=name or "deconv", n=n, bias=bias)
        self.c, self.y, self.x = k, self.y * 2, self.x * 2
        return self

    def pool(self, f=2, fx=None, ceil=True) -> Net:
        """Max/avg pooling (no MACs counted): divide rows/columns by the window (ceil or floor mode)."""
        fx = f if fx is None else fx
        rnd = math.ceil if ceil else math.floor
        self.y, self.x = max(1, rnd(self.y / f)), max(1, rnd(self.x / fx))
        return self

    def up(self, f=2) -> Net:
        self.y, self.x = self.y * f, self.x * f
        return self

    def set(self, c=None, y=None, x=None) -> Net:
        """Reshape/concat/crop without compute (e.g. channel concatenation of a skip)."""
        self.c = self.c if c is None else c
        self.y = self.y if y is None else y
        self.x = self.x if x is None else x
        return self

    def fork(self) -> Net:
        return Net(self.c, self.y, self.x, self.layers, self.prefix, self.n)

    def at(self, c: int, y: int, x: int = 1, prefix: str | None = None) -> Net:
        """A branch on a tensor of shape (c, y, x) appending to the same layer list (e.g. a head on a tap or an
        ROI-pooled feature); the prefix is this builder's unless given, the batch n is this builder's."""
        return Net(c, y, x, self.layers, self.prefix if prefix is None else prefix, self.n)

    def shape(self) -> tuple[int, int, int]:
        return self.c, self.y, self.x


# ------------------------------------------------------------------------------------------- common blocks
def inverted_residual(net: Net, out: int, k: int, stride: int, expand: float, se: bool = False,
                      se_div: int = 4, divisor: int = 8) -> Net:
    """MobileNetV2/FBNet IRF block: 1x1 expand (skipped at expansion 1), k x k depthwise, optional
    squeeze-excite on the mid tensor (two FCs on the pooled vector), 1x1 linear projection."""
    mid = _round(net.c * expand, divisor)
    if mid != net.c:
        net.conv(mid, 1, name="pw")
    net.dw(k, stride)
    if se:
        c, y, x = net.shape()
        sq = _round(mid / se_div, divisor)
        net.set(y=1, x=1).conv(sq, 1, name="se", bias=True).conv(mid, 1, name="se", bias=True).set(mid, y, x)
    return net.conv(out, 1, name="pwl")


def _round(v: float, divisor: int) -> int:
    """Channel rounding used by the MobileNet/FBNet/EfficientNet builders (never below 90 % of v)."""
    r = max(divisor, int(v + divisor / 2) // divisor * divisor)
    return r + divisor if r < 0.9 * v else r


def bottleneck(net: Net, planes: int, stride: int = 1, expansion: int = 4, bias=False, caffe=False) -> Net:
    """ResNet bottleneck (1x1, 3x3, 1x1 x expansion) with a projection shortcut when the shape changes;
    the stride sits on the 3x3 (torchvision) or, with `caffe=True`, on the first 1x1 (MSRA/Caffe, Matterport)."""
    cin = net.c
    out = planes * expansion
    if stride != 1 or cin != out:
        net.fork().conv(out, 1, stride=stride, name="down", bias=bias)
    s1, s3 = (stride, 1) if caffe else (1, stride)
    net.conv(planes, 1, stride=s1, bias=bias).conv(planes, 3, stride=s3, bias=bias).conv(out, 1, bias=bias)
    return net


def basic_block(net: Net, planes: int, stride: int = 1) -> Net:
    """ResNet-18/34 basic block (two 3x3 convs) with a 1x1 projection shortcut when the shape changes."""
    cin = net.c
    if stride != 1 or cin != planes:
        net.fork().conv(planes, 1, stride=stride, name="down")
    return net.conv(planes, 3, stride=stride).conv(planes, 3)
