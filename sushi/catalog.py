"""The serving catalog: a menu of SubNets, candidate SubGraphs for the Persistent Buffer, and the
precomputed (SubNet x cached SubGraph) latency / off-chip-byte tables every policy looks up.

Menu: the Pareto frontier (no-cache latency on this accelerator vs predicted top-1) of a seeded pool --
random SubNets, the uniform ones, and a few rounds of mutating the frontier (a small hardware-aware
search) -- thinned to `menu_size` SubNets evenly spread in accuracy.  A config may list SubNets instead.

Candidate SubGraphs: for every contiguous accuracy range of the menu, the SubGraph its SubNets share (the
element-wise minimum box per slot), fitted into the PB: layers are kept in order of the latency they save
per byte for the range's SubNets (memory-bound layers first), the last one that does not fit is cut to a
prefix of its output channels.  Candidate 0 is the empty cache.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from chakra_tools.common import ToolError

from .accel import Accelerator, LayerCosts, bytes_of_box, cached_bytes, latency_energy, layer_costs
from .accuracy import accuracy_model
from .supernet import SuperNet


@dataclass
class Catalog:
    net: SuperNet
    acc: Accelerator
    subnets: list[dict]             # menu, sorted by accuracy (ascending)
    accuracy: np.ndarray            # [N] top-1 %
    costs: LayerCosts               # per-layer costs of the menu
    cand: np.ndarray                # [J, L, 3] cached SubGraph boxes (0 = empty cache)
    cand_range: dict                # (lo, hi) menu index range -> candidate built for it ((-1,-1) = empty)
    lat_s: np.ndarray               # [N, J] latency of SubNet n with SubGraph j resident
    off_bytes: np.ndarray           # [N, J] off-chip bytes
    pb_bytes: np.ndarray            # [J] bytes each candidate occupies
    fill_bytes: np.ndarray          # [J, J] bytes to fetch when the PB switches from j to j'

    @property
    def n(self) -> int:
        return len(self.subnets)

    def candidate_for(self, lo: int, hi: int) -> int:
        return self.cand_range.get((lo, hi), 0)


def _evaluate(net, acc, model, batch):
    dims = net.dims(batch)
    c = layer_costs(net, acc, dims)
    L = len(net.slots)
    lat, _ = latency_energy(c, acc, np.zeros((c.n, 1, L)))
    return model.predict(batch, macs=c.macs.sum(axis=1)), lat[:, 0], c


def _pareto(lat, accv):
    """Indices on the (min latency, max accuracy) frontier, by increasing latency."""
    order = np.lexsort((-accv, lat))
    keep, best = [], -np.inf
    for i in order:
        if accv[i] > best + 1e-9:
            keep.append(i)
            best = accv[i]
    return np.array(keep, dtype=np.int64)


def _mutate(net, rng, batch, n_children):
    par = rng.integers(0, len(batch["image_size"]), size=n_children)
    child = {k: v[par].copy() for k, v in batch.items()}
    fresh = net.sample(rng, n_children)
    for k in child:
        mask = rng.random(child[k].shape) < (0.15 if child[k].ndim > 1 else 0.3)
        child[k] = np.where(mask, fresh[k], child[k])
    return child


def _cat(a, b):
    return {k: np.concatenate([a[k], b[k]]) for k in a}


def build_menu(net: SuperNet, acc: Accelerator, menu_size: int = 24, pool: int = 3000, rounds: int = 4,
               seed: int = 0) -> list[dict]:
    model = accuracy_model(net)
    rng = np.random.default_rng(seed)
    batch = _cat(net.sample(rng, pool), net.batch(net.extremes()))
    for _ in range(rounds + 1):
        accv, lat, _ = _evaluate(net, acc, model, batch)
        front = _pareto(lat, accv)
        frontier = {k: v[front] for k, v in batch.items()}
        if _ == rounds:
            break
        batch = _cat(frontier, _mutate(net, rng, frontier, pool))
    fa = accv[front]
    if len(front) <= menu_size:
        pick = np.arange(len(front))
    else:                                   # evenly spaced accuracy targets, endpoints kept
        targets = np.linspace(fa[0], fa[-1], menu_size)
        pick = sorted({int(np.argmin(np.abs(fa - t))) for t in targets})
    cfgs = net.unbatch(net.canonical({k: v[pick] for k, v in frontier.items()}))
    return cfgs


def _fit_to_pb(net, acc, box, member_costs: LayerCosts, capacity: float, objective: str = "balanced") -> np.ndarray:
    """Cut a SubGraph box [L, 3] to `capacity` bytes, keeping the layers that save the members the most per
    byte (latency, off-chip bytes, or both relative to the members' no-cache totals); the first layer that
    does not fit is cut to a prefix of its output channels."""
    per = bytes_of_box(net, acc, box)
    if per.sum() <= capacity:
        return box.copy()
    bw = acc.dram_bytes_per_s
    cached = bytes_of_box(net, acc, np.minimum(member_costs.boxes, box[None]))        # [members, L]
    act = member_costs.act_offchip_bytes
    comp = member_costs.compute_s
    t_all = np.maximum(comp, (member_costs.weight_bytes + act) / bw)
    t_c = np.maximum(comp, (member_costs.weight_bytes - cached + act) / bw)
    saved_t = (t_all - t_c).sum(axis=0) / max(t_all.sum(), 1e-30)
    saved_b = cached.sum(axis=0) / max((member_costs.weight_bytes + act).sum(), 1e-30)
    saved = {"latency": saved_t, "energy": saved_b}.get(objective, saved_t + saved_b)
    density = np.where(per > 0, saved / np.maximum(per, 1), -1.0)
    order = np.lexsort((np.arange(len(per)), -density))
    out = np.zeros_like(box)
    left = float(capacity)
    bias = net.slot_bias
    for li in order:
        if per[li] <= 0:
            continue
        if per[li] <= left:
            out[li] = box[li]
            left -= per[li]
            continue
        o, i, k = box[li]
        per_out = i * k * k * acc.weight_bits / 8 + bias[li] * acc.bias_bits / 8
        o_fit = int(left // per_out)
        if o_fit > 0:
            out[li] = (o_fit, i, k)
            left -= bytes_of_box(net, acc, out[li][None, None])[0, 0]
    return out


def _ranges(N: int) -> list[tuple[int, int]]:
    """Contiguous accuracy ranges of the menu that get a candidate SubGraph: all of them up to 32 SubNets,
    else those of power-of-two length plus every prefix and suffix."""
    if N <= 32:
        return [(lo, hi) for lo in range(N) for hi in range(lo, N)]
    out = {(0, hi) for hi in range(N)} | {(lo, N - 1) for lo in range(N)}
    length = 1
    while length <= N:
        out |= {(lo, lo + length - 1) for lo in range(N - length + 1)}
        length *= 2
    return sorted(out)


def build_catalog(net: SuperNet, acc: Accelerator, subnets: list[dict] | None = None, menu_size: int = 24,
                  seed: int = 0, objective: str = "balanced") -> Catalog:
    if subnets is None:
        subnets = build_menu(net, acc, menu_size=menu_size, seed=seed)
    if not subnets:
        raise ToolError("the SubNet menu is empty")
    model = accuracy_model(net)
    batch = net.batch(subnets)
    accv = model.predict(batch)
    order = np.argsort(accv, kind="stable")
    subnets = [subnets[i] for i in order]
    batch = {k: v[order] for k, v in batch.items()}
    accv = accv[order]
    costs = layer_costs(net, acc, net.dims(batch))
    sb = costs.boxes
    N, L = len(subnets), len(net.slots)
    cands = [np.zeros((L, 3), dtype=np.int64)]
    ranges = {(-1, -1): 0}
    seen = {cands[0].tobytes(): 0}
    cap = float(acc.persistent_buffer)
    if cap > 0:
        for lo, hi in _ranges(N):
            members = slice(lo, hi + 1)
            sub = LayerCosts(costs.macs[members], costs.weight_bytes[members], costs.compute_s[members],
                             costs.act_offchip_bytes[members], costs.present[members], sb[members])
            for kind, box in (("shared", sb[members].min(axis=0)), ("union", sb[members].max(axis=0))):
                fitted = _fit_to_pb(net, acc, box, sub, cap, objective)
                key = fitted.tobytes()
                if key not in seen:
                    seen[key] = len(cands)
                    cands.append(fitted)
                if kind == "shared":
                    ranges[(lo, hi)] = seen[key]
    cand = np.stack(cands)
    lat = np.empty((N, len(cand)))
    off = np.empty((N, len(cand)))
    for j0 in range(0, len(cand), 64):                  # chunks bound the [N, J, L] intermediate
        sl = slice(j0, j0 + 64)
        lat[:, sl], off[:, sl] = latency_energy(costs, acc, cached_bytes(net, acc, sb, cand[sl]))
    pb = bytes_of_box(net, acc, cand).sum(axis=1)
    fill = np.empty((len(cand), len(cand)))
    for j0 in range(0, len(cand), 32):
        inter = np.minimum(cand[j0:j0 + 32, None], cand[None, :])
        fill[j0:j0 + 32] = pb[None, :] - bytes_of_box(net, acc, inter).sum(axis=-1)
    return Catalog(net, acc, subnets, accv, costs, cand, ranges, lat, off, pb, fill)
