"""Weight-shared SuperNets (OFA MobileNetV3 w1.0, OFA ResNet50D) as tables of weight tensors ("slots").

A SubNet activates, in every slot, a *box* of the SuperNet's weight tensor ``[O, I, K, K]``: the first
``o`` output channels, the first ``i`` input channels and the centre ``k x k`` of the kernel (OFA's
elastic width keeps the first channels, elastic kernel the centre, elastic depth the first blocks of a
stage).  Because every dimension is a prefix (or a centred crop, which nests the same way), the weights
two SubNets share in a slot are again a box with the element-wise minimum of their dims, so the weight
set shared by any set of SubNets -- a *SubGraph* -- is one box per slot.  Sizes of intersections and
unions therefore have closed forms (`box_elems`, `union_elems`); `enumerate_weights` lists the explicit
weight indices for tests.

Structures follow the public once-for-all code (mit-han-lab/once-for-all, `OFAMobileNetV3`,
`OFAResNets`): channel counts go through OFA's ``make_divisible(v, 8)``; batch norm is folded into a
per-output-channel bias (how an inference accelerator stores it).
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from functools import cached_property

import numpy as np

from chakra_tools.common import ToolError

CONV, DW, FC = 0, 1, 2          # slot kinds: dense conv (incl. 1x1), depthwise conv, fully connected


def make_divisible(v: float, divisor: int = 8) -> int:
    """OFA's channel rounding: nearest multiple of `divisor`, never below 90 % of `v`."""
    new_v = max(divisor, int(v + divisor / 2) // divisor * divisor)
    if new_v < 0.9 * v:
        new_v += divisor
    return new_v


def make_divisible_array(v, divisor: int = 8) -> np.ndarray:
    """`make_divisible` element-wise (int64): the same rounding, vectorised."""
    v = np.asarray(v, dtype=np.float64)
    new_v = np.maximum(divisor, np.trunc(v + divisor / 2).astype(np.int64) // divisor * divisor)
    return np.where(new_v < 0.9 * v, new_v + divisor, new_v)


@dataclass(frozen=True)
class Slot:
    """One weight tensor of the SuperNet at its largest shape."""
    name: str
    kind: int
    max_o: int
    max_i: int
    max_k: int
    bias: bool
    block: int = -1          # elastic block index, -1 for layers every SubNet has


@dataclass
class LayerDims:
    """Active dims of every slot for N SubNets: arrays of shape [N, L] (0 where the slot is absent)."""
    o: np.ndarray            # active output channels
    i: np.ndarray            # active input channels (1 for depthwise)
    k: np.ndarray            # active kernel size
    hw: np.ndarray           # output pixels (1 for FC / pooled layers)
    ext_in: np.ndarray       # elements read from a block-boundary activation tensor (0 if fused on chip)
    ext_out: np.ndarray      # elements written to a block-boundary tensor
    resid: np.ndarray        # elements of a block input re-read for a residual add / shortcut

    @property
    def present(self) -> np.ndarray:
        return self.o > 0


class SuperNet:
    """Base class: slots, choice space, vectorised active dims of a batch of SubNet configs."""
    name: str = ""
    slots: list[Slot]
    resolutions: tuple[int, ...] = ()

    # ---- configs: dict of lists (OFA's subnet dict) <-> batch of arrays
    keys: tuple[str, ...] = ()
    # the list-valued keys: (key, length, allowed values, conversion of a validated list or None)
    choice_spec: tuple = ()

    def dims(self, batch: dict[str, np.ndarray]) -> LayerDims:
        raise NotImplementedError

    def sample(self, rng: np.random.Generator, n: int) -> dict[str, np.ndarray]:
        raise NotImplementedError

    def canonical(self, batch: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        """Same SubNets with the choices of skipped blocks set to the smallest (they own no weights)."""
        raise NotImplementedError

    def extremes(self) -> list[dict]:
        """The smallest and the largest SubNet (at the lowest and highest resolution)."""
        return [{**{key: [pick(allowed)] * n for key, n, allowed, _ in self.choice_spec}, "image_size": res}
                for pick, res in ((min, self.resolutions[0]), (max, self.resolutions[-1]))]

    def validate(self, cfg: dict, where: str = "") -> dict:
        """Check one SubNet dict (OFA keys); return it normalised (lists of ints). Raises ToolError."""
        known = ", ".join(self.keys)
        if not isinstance(cfg, dict):
            raise ToolError(f"{where}expected a SubNet mapping with keys {known}")
        unknown = set(cfg) - set(self.keys)
        if unknown:
            raise ToolError(f"{where}{sorted(unknown)[0]}: unknown SubNet key (known: {known})")
        out = {}
        for key, n, allowed, conv in self.choice_spec:
            v = self._check_list(cfg, key, n, allowed, where)
            out[key] = v if conv is None else [conv(x) for x in v]
        out["image_size"] = self._check_res(cfg, where)
        return out

    @cached_property
    def slot_kind(self) -> np.ndarray:
        """[L] kind (CONV / DW / FC) of every slot."""
        return np.array([s.kind for s in self.slots])

    @cached_property
    def slot_bias(self) -> np.ndarray:
        """[L] 1 where the slot has a bias, else 0 (int64)."""
        return np.array([s.bias for s in self.slots], dtype=np.int64)

    @staticmethod
    def batch(cfgs: list[dict]) -> dict[str, np.ndarray]:
        return {k: np.array([c[k] for c in cfgs]) for k in cfgs[0]}

    @staticmethod
    def unbatch(batch: dict[str, np.ndarray]) -> list[dict]:
        n = len(batch["image_size"])
        out = []
        for j in range(n):
            out.append({k: (v[j].tolist() if v.ndim > 1 else v[j].item()) for k, v in batch.items()})
        return out

    @staticmethod
    def key(cfg: dict) -> str:
        return json.dumps(cfg, separators=(",", ":"))

    def _check_list(self, cfg, key, n, allowed, where):
        v = cfg.get(key)
        if not isinstance(v, list) or len(v) != n:
            raise ToolError(f"{where}{key}: expected a list of {n} values")
        for x in v:
            if isinstance(x, bool) or x not in allowed:
                raise ToolError(f"{where}{key}: {x!r} not in {sorted(allowed)}")
        return list(v)

    def _check_res(self, cfg, where):
        r = cfg.get("image_size")
        if isinstance(r, bool) or r not in self.resolutions:
            raise ToolError(f"{where}image_size: {r!r} not a supported resolution "
                            f"({self.resolutions[0]}..{self.resolutions[-1]} step 4)")
        return int(r)


def _ceil_half(x):
    return -(-x // 2)


def _put(arrays, col, on, *values):
    """Set slot `col` of the active-dims arrays (o, i, k, hw) to `values` where `on`, 0 elsewhere."""
    for a, v in zip(arrays, values):
        a[:, col] = np.where(on, v, 0)


# --------------------------------------------------------------------------- OFA MobileNetV3
class OFAMobileNetV3(SuperNet):
    """`ofa_mbv3_d234_e346_k357_w1.0`: stem, fixed MBConv1, 5 elastic stages of up to 4 MBConv blocks
    (kernel 3/5/7, expand 3/4/6, depth 2/3/4), final 1x1 960, feature mix 1280, classifier 1000."""
    name = "ofa-mbv3"
    keys = ("ks", "e", "d", "image_size")
    widths = (24, 40, 80, 112, 160)
    strides = (2, 2, 2, 1, 2)
    use_se = (False, True, False, True, True)
    ks_choices = (3, 5, 7)
    e_choices = (3, 4, 6)
    d_choices = (2, 3, 4)
    choice_spec = (("ks", 20, ks_choices, None), ("e", 20, e_choices, None), ("d", 5, d_choices, None))
    resolutions = tuple(range(128, 225, 4))
    n_blocks = 20

    def __init__(self):
        s: list[Slot] = [Slot("first_conv", CONV, 16, 3, 3, True),
                         Slot("first_block.dw", DW, 16, 1, 3, True),
                         Slot("first_block.pw", CONV, 16, 16, 1, True)]
        self.block_slots: list[dict[str, int]] = []
        cin = 16
        b = 0
        for st, (w, se) in enumerate(zip(self.widths, self.use_se)):
            for j in range(4):
                mid = make_divisible(round(cin * 6))
                idx = {"expand": len(s)}
                s.append(Slot(f"s{st + 1}.b{j}.expand", CONV, mid, cin, 1, True, b))
                idx["dw"] = len(s)
                s.append(Slot(f"s{st + 1}.b{j}.dw", DW, mid, 1, 7, True, b))
                if se:
                    red = make_divisible(mid // 4)
                    idx["se_reduce"] = len(s)
                    s.append(Slot(f"s{st + 1}.b{j}.se_reduce", FC, red, mid, 1, True, b))
                    idx["se_expand"] = len(s)
                    s.append(Slot(f"s{st + 1}.b{j}.se_expand", FC, mid, red, 1, True, b))
                idx["pw"] = len(s)
                s.append(Slot(f"s{st + 1}.b{j}.project", CONV, w, mid, 1, True, b))
                self.block_slots.append(idx)
                cin = w
                b += 1
        s.append(Slot("final_expand", CONV, 960, 160, 1, True))
        s.append(Slot("feature_mix", FC, 1280, 960, 1, False))     # OFA: bias=False, no BN
        s.append(Slot("classifier", FC, 1000, 1280, 1, True))
        self.slots = s

    def dims(self, batch):
        ks, e, d, r = (np.asarray(batch[k]) for k in self.keys)
        n, L = len(r), len(self.slots)
        z = lambda: np.zeros((n, L), dtype=np.int64)  # noqa: E731
        o, i, k, hw, ein, eout, res = z(), z(), z(), z(), z(), z(), z()
        act = (o, i, k, hw)
        one = np.ones(n, dtype=np.int64)
        h = _ceil_half(r)                                  # stem stride 2
        # stem: reads the image from DRAM (ext_in), writes a 16-channel map
        o[:, 0], i[:, 0], k[:, 0], hw[:, 0] = 16, 3, 3, h * h
        ein[:, 0] = 3 * r * r
        o[:, 1], i[:, 1], k[:, 1], hw[:, 1] = 16, 1, 3, h * h
        o[:, 2], i[:, 2], k[:, 2], hw[:, 2] = 16, 16, 1, h * h
        eout[:, 2] = 16 * h * h
        res[:, 2] = 16 * h * h                              # MBConv1 16->16 stride 1 has a residual
        cin = 16
        b = 0
        for st, (w, se) in enumerate(zip(self.widths, self.use_se)):
            for j in range(4):
                on = j < d[:, st]
                stride = self.strides[st] if j == 0 else 1
                hin = h
                hout = _ceil_half(h) if stride == 2 else h
                mid = cin * e[:, b]                              # widths are multiples of 8 -> exact
                sl = self.block_slots[b]
                _put(act, sl["expand"], on, mid, cin * one, one, hin * hin)
                ein[:, sl["expand"]] = np.where(on, cin * hin * hin, 0)
                _put(act, sl["dw"], on, mid, one, ks[:, b], hout * hout)
                if se:
                    red = make_divisible_array(mid // 4)
                    _put(act, sl["se_reduce"], on, red, mid, one, one)
                    _put(act, sl["se_expand"], on, mid, red, one, one)
                _put(act, sl["pw"], on, w * one, mid, one, hout * hout)
                eout[:, sl["pw"]] = np.where(on, w * hout * hout, 0)
                if stride == 1 and cin == w:
                    res[:, sl["pw"]] = np.where(on, cin * hin * hin, 0)
                h = hout
                cin = w
                b += 1
        fe, fm, cl = L - 3, L - 2, L - 1
        o[:, fe], i[:, fe], k[:, fe], hw[:, fe] = 960, 160, 1, h * h
        ein[:, fe] = 160 * h * h
        o[:, fm], i[:, fm], k[:, fm], hw[:, fm] = 1280, 960, 1, 1
        o[:, cl], i[:, cl], k[:, cl], hw[:, cl] = 1000, 1280, 1, 1
        eout[:, cl] = 1000
        return LayerDims(o, i, k, hw, ein, eout, res)

    def sample(self, rng, n):
        d = rng.choice(self.d_choices, size=(n, 5))
        return {"ks": rng.choice(self.ks_choices, size=(n, 20)), "e": rng.choice(self.e_choices, size=(n, 20)),
                "d": d, "image_size": rng.choice(self.resolutions, size=n)}

    def canonical(self, batch):
        d = np.asarray(batch["d"])
        on = np.arange(4)[None, None, :] < d[:, :, None]           # [N, stage, block]
        on = on.reshape(len(d), 20)
        return dict(batch, ks=np.where(on, batch["ks"], 3), e=np.where(on, batch["e"], 3))



# --------------------------------------------------------------------------- OFA ResNet50D
class OFAResNet50(SuperNet):
    """`ofa_resnet50` (ResNet50D space): stem conv 3x3/2, skippable 3x3 residual conv, conv 3x3, max-pool;
    4 stages of bottlenecks with base depth [2,2,4,2] + d (d in 0/1/2), expand 0.2/0.25/0.35, width
    multiplier 0.65/0.8/1.0 per stage (6 width choices: 2 stem convs + 4 stages); linear 1000."""
    name = "ofa-resnet50"
    keys = ("d", "e", "w", "image_size")
    base_depth = (2, 2, 4, 2)
    stage_width = (256, 512, 1024, 2048)
    strides = (1, 2, 2, 2)
    width_mults = (0.65, 0.8, 1.0)
    e_choices = (0.2, 0.25, 0.35)
    d_choices = (0, 1, 2)
    w_choices = (0, 1, 2)                   # index into width_mults
    choice_spec = (("d", 5, d_choices, None), ("e", 18, e_choices, float), ("w", 6, w_choices, None))
    resolutions = tuple(range(128, 225, 4))
    n_blocks = 18

    def __init__(self):
        self.stem_in = [make_divisible(64 * m) for m in self.width_mults]            # 40 48 64
        self.stem_mid = [make_divisible(c // 2) for c in self.stem_in]               # 24 24 32
        self.widths = [[make_divisible(w * m) for m in self.width_mults] for w in self.stage_width]
        s: list[Slot] = [Slot("stem.conv0", CONV, max(self.stem_mid), 3, 3, True),
                         Slot("stem.res_conv", CONV, max(self.stem_mid), max(self.stem_mid), 3, True),
                         Slot("stem.conv2", CONV, max(self.stem_in), max(self.stem_mid), 3, True)]
        self.block_slots = []
        cin = max(self.stem_in)
        b = 0
        for st, nb in enumerate(self.base_depth):
            w = max(self.widths[st])
            mid = make_divisible(round(w * max(self.e_choices)))
            for j in range(nb + 2):
                idx = {"conv1": len(s)}
                s.append(Slot(f"s{st + 1}.b{j}.conv1", CONV, mid, cin, 1, True, b))
                idx["conv2"] = len(s)
                s.append(Slot(f"s{st + 1}.b{j}.conv2", CONV, mid, mid, 3, True, b))
                idx["conv3"] = len(s)
                s.append(Slot(f"s{st + 1}.b{j}.conv3", CONV, w, mid, 1, True, b))
                if j == 0:
                    idx["down"] = len(s)
                    s.append(Slot(f"s{st + 1}.b{j}.downsample", CONV, w, cin, 1, True, b))
                self.block_slots.append(idx)
                cin = w
                b += 1
        s.append(Slot("classifier", FC, 1000, max(self.widths[-1]), 1, True))
        self.slots = s

    def dims(self, batch):
        d, e, w, r = (np.asarray(batch[k]) for k in self.keys)
        e = np.asarray(e, dtype=np.float64)
        n, L = len(r), len(self.slots)
        z = lambda: np.zeros((n, L), dtype=np.int64)  # noqa: E731
        o, i, k, hw, ein, eout, res = z(), z(), z(), z(), z(), z(), z()
        act = (o, i, k, hw)
        one = np.ones(n, dtype=np.int64)
        smid = np.array(self.stem_mid)[w[:, 0]]
        sin = np.array(self.stem_in)[w[:, 1]]
        h = _ceil_half(r)
        o[:, 0], i[:, 0], k[:, 0], hw[:, 0] = smid, 3, 3, h * h
        ein[:, 0] = 3 * r * r
        on = d[:, 0] == 2                                   # OFA: the stem residual conv runs only at max depth
        o[:, 1], i[:, 1], k[:, 1], hw[:, 1] = np.where(on, smid, 0), np.where(on, smid, 0), np.where(on, 3, 0), \
            np.where(on, h * h, 0)
        o[:, 2], i[:, 2], k[:, 2], hw[:, 2] = sin, smid, 3, h * h
        h = _ceil_half(h)                                   # max-pool 3x3 stride 2
        eout[:, 2] = sin * h * h
        cin = sin
        b = 0
        for st, nb in enumerate(self.base_depth):
            wout = np.array(self.widths[st])[w[:, st + 2]]
            for j in range(nb + 2):
                onb = j < nb + d[:, st + 1]
                stride = self.strides[st] if j == 0 else 1
                hin = h
                hout = _ceil_half(h) if stride == 2 else h
                mid = make_divisible_array(np.round(wout * e[:, b]))
                sl = self.block_slots[b]
                _put(act, sl["conv1"], onb, mid, cin, one, hin * hin)
                ein[:, sl["conv1"]] = np.where(onb, cin * hin * hin, 0)
                _put(act, sl["conv2"], onb, mid, mid, 3 * one, hout * hout)
                _put(act, sl["conv3"], onb, wout, mid, one, hout * hout)
                eout[:, sl["conv3"]] = np.where(onb, wout * hout * hout, 0)
                if j == 0:                                   # avg-pool + 1x1 conv shortcut (ResNet-D)
                    _put(act, sl["down"], onb, wout, cin, one, hout * hout)
                    res[:, sl["down"]] = cin * hin * hin
                else:
                    res[:, sl["conv3"]] = np.where(onb, cin * hin * hin, 0)
                h = hout
                cin = wout
                b += 1
        o[:, L - 1], i[:, L - 1], k[:, L - 1], hw[:, L - 1] = 1000, cin, 1, 1
        eout[:, L - 1] = 1000
        return LayerDims(o, i, k, hw, ein, eout, res)

    def sample(self, rng, n):
        d = rng.choice(self.d_choices, size=(n, 5))
        d[:, 0] = rng.choice([0, 2], size=n)
        return {"d": d, "e": rng.choice(self.e_choices, size=(n, 18)), "w": rng.integers(0, 3, size=(n, 6)),
                "image_size": rng.choice(self.resolutions, size=n)}

    def canonical(self, batch):
        d = np.asarray(batch["d"])
        on = np.concatenate([np.arange(nb + 2)[None, :] < nb + d[:, st + 1:st + 2]
                             for st, nb in enumerate(self.base_depth)], axis=1)
        out = dict(batch, e=np.where(on, batch["e"], min(self.e_choices)))
        out["d"] = d.copy()
        out["d"][:, 0] = np.where(d[:, 0] == 2, 2, 0)               # stem: only d=2 runs the residual conv
        return out


SUPERNETS = {"ofa-mbv3": OFAMobileNetV3, "ofa-resnet50": OFAResNet50}


def get_supernet(name: str) -> SuperNet:
    if name not in SUPERNETS:
        raise ToolError(f"unknown supernet {name!r} (known: {', '.join(SUPERNETS)})")
    return SUPERNETS[name]()


# --------------------------------------------------------------------------- weight sets
def boxes(dims: LayerDims) -> np.ndarray:
    """[N, L, 3] weight boxes (o, i, k) of N SubNets; all zero where a slot is absent."""
    return np.stack([dims.o, dims.i, dims.k], axis=-1)


def slot_macs(net: SuperNet, dims: LayerDims) -> np.ndarray:
    """[N, L] MACs of every slot (depthwise: one input channel per output channel)."""
    o, i, k, hw = dims.o, dims.i, dims.k, dims.hw
    return np.where(net.slot_kind == DW, o * k * k * hw, o * i * k * k * hw)


def box_elems(net: SuperNet, box: np.ndarray) -> np.ndarray:
    """Weight + bias elements of boxes [..., L, 3] (closed form o*i*k^2 + o)."""
    o, i, k = box[..., 0], box[..., 1], box[..., 2]
    return o * i * k * k + o * net.slot_bias


def intersect(box: np.ndarray) -> np.ndarray:
    """SubGraph shared by a group of SubNets: element-wise min over the group axis ([G, L, 3] -> [L, 3])."""
    return box.min(axis=0)


def union_elems(net: SuperNet, box: np.ndarray) -> np.ndarray:
    """Elements of the union of G boxes per slot ([G, L, 3] -> [L]) by coordinate compression.

    The union of origin-anchored boxes is a staircase; over the grid of distinct coordinates a cell is
    covered iff some box dominates its upper corner.  Kernel positions nest as centred squares, so the
    kernel axis is compressed on k^2 (ring order), exactly like a prefix.
    """
    G, L, _ = box.shape
    bias = net.slot_bias
    out = np.zeros(L, dtype=np.int64)
    for slot in range(L):
        b = box[:, slot, :]
        b = b[(b > 0).all(axis=1)]
        if len(b) == 0:
            continue
        sq = np.stack([b[:, 0], b[:, 1], b[:, 2] ** 2], axis=1)
        axes = [np.unique(np.concatenate([[0], sq[:, a]])) for a in range(3)]
        tot = 0
        for x0, x1 in zip(axes[0][:-1], axes[0][1:]):
            for y0, y1 in zip(axes[1][:-1], axes[1][1:]):
                for z0, z1 in zip(axes[2][:-1], axes[2][1:]):
                    if ((sq[:, 0] >= x1) & (sq[:, 1] >= y1) & (sq[:, 2] >= z1)).any():
                        tot += int((x1 - x0) * (y1 - y0) * (z1 - z0))
        if bias[slot]:
            tot += int(b[:, 0].max())
        out[slot] = tot
    return out


def enumerate_weights(net: SuperNet, slot: int, box: tuple[int, int, int]) -> np.ndarray:
    """Explicit flat indices of the weights (and bias) a box activates in one slot's max tensor.

    Index = ((out * I + in) * K + y) * K + x; biases follow at O*I*K*K + out.  Used by tests to check the
    closed forms against direct enumeration.
    """
    s = net.slots[slot]
    o, i, k = (int(v) for v in box)
    if o == 0:
        return np.zeros(0, dtype=np.int64)
    n_out, n_in, K = s.max_o, s.max_i, s.max_k
    c, r = K // 2, k // 2
    ys = np.arange(c - r, c + r + 1)
    a, bb, y, x = np.meshgrid(np.arange(o), np.arange(i), ys, ys, indexing="ij")
    idx = (((a * n_in + bb) * K + y) * K + x).ravel()
    if s.bias:
        idx = np.concatenate([idx, n_out * n_in * K * K + np.arange(o)])
    return idx
