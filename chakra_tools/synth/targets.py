"""What to synthesize at a target size: the size laws at --param-bytes/--flops/--nodes, the architecture laws at
--describe, the kind tables they condition and the compute time per node the sample is calibrated to."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from chakra_tools.common import ToolError, warn
from chakra_tools.synth.arch import MAX_VALUE, predict_architecture, target_vector
from chakra_tools.synth.blocking import atom_factors
from chakra_tools.synth.features import is_comm_kind
from chakra_tools.synth.kriging import predict_correction
from chakra_tools.synth.model import quantile_table
from chakra_tools.synth.model_check import MAX_DESCRIBED_NODES
from chakra_tools.synth.scaling import DESCRIPTORS, predict_cost, predict_law

MAX_STEP_US = 1e15  # a described step's compute time per rank (31 years): beyond it the laws are meaningless


@dataclass
class Target:
    """A model size to synthesize: the descriptors the size laws are evaluated at."""

    param_bytes: float
    flops: float
    nodes: int

    def as_dict(self) -> dict[str, float]:
        return {"param_bytes": self.param_bytes, "flops": self.flops, "nodes": float(self.nodes)}


def resolve_target(model: dict, param_bytes: float, flops: float | None, nodes: int | None) -> Target:
    """Fill in FLOPs and nodes from the model's laws in parameter bytes when they are not given."""
    sc = model.get("scaling")
    if sc is None:
        raise ToolError("--param-bytes needs a model with size laws (fitted on >= 4 traces that all have "
                        "collectives and FLOPs, of different sizes)")
    for name, v in (("--param-bytes", param_bytes), ("--flops", flops)):
        if v is not None and not (math.isfinite(v) and 1 <= v <= 1e18):
            raise ToolError(f"{name} must be a number in 1..1e18, got {v}")
    x = np.array([math.log(param_bytes) - sc["center"][0]])
    if flops is None:
        flops = float(predict_law(sc["flops_law"], x)[0])
    if nodes is None:
        nodes = max(1, int(round(float(predict_law(sc["nodes_law"], x)[0]))))
    return Target(float(param_bytes), max(float(flops), 1.0), int(nodes))


@dataclass
class Architecture:
    """What the architecture laws give at a described model: nodes per rank of every kind, and per kind and
    attribute its exact atoms (values, expected nodes per rank) and rest (count, quantile table)."""

    kind_counts: dict[str, int]
    attrs: dict[str, dict[str, dict]]

    def total(self, kinds, attr: str) -> float:
        """Expected sum of `attr` per rank over `kinds` (atoms exactly, the rest by its table's mean)."""
        out = 0.0
        for k in kinds:
            a = self.attrs.get(k, {}).get(attr)
            if a is not None:
                out += float(a["values"] @ a["counts"]) + a["rest_count"] * _table_mean(a["rest_table"])
        return out


def resolve_architecture(model: dict, describe: dict[str, float], warn_clipped: bool = True
                         ) -> tuple[Architecture, Target]:
    """The architecture laws at `describe`, and the size descriptors they imply (param bytes = the collectives'
    bytes, FLOPs = the num_ops, nodes = the kind counts) for the size laws and the cost law. `warn_clipped`:
    one warning when some value reaches the clip (a pipeline's programs warn once, together)."""
    block = model.get("architecture")
    if block is None:
        raise ToolError("--describe needs a model with architecture laws (fitted on >= 4 traces of different "
                        "sizes that all have descriptors: PREFIX.describe.json or fit --describe)")
    x = target_vector(block, describe)
    pred = predict_architecture(block, x)
    arch = Architecture(pred["kind_counts"], pred["attrs"])
    if warn_clipped:
        warn_if_clipped([arch], block)
    if "channel_block" in model:  # each conv atom's blocked factor at this model's channel counts
        for k, entry in block["kinds"].items():
            spec = arch.attrs.get(k, {}).get("num_ops")
            if spec is not None:
                spec["factors"] = atom_factors(entry["attrs"]["num_ops"]["atoms"], x, model["channel_block"])
    nodes = sum(arch.kind_counts.values())
    if nodes < 1:
        raise ToolError("--describe: the architecture laws give no nodes for this model")
    if nodes > MAX_DESCRIBED_NODES:
        raise ToolError(f"--describe: the architecture laws give {nodes} nodes per rank (more than "
                        f"{MAX_DESCRIBED_NODES}): far outside the corpus the model was fitted on")
    kinds = list(arch.kind_counts)
    coll = [k for k in kinds if k.startswith("COLL:")]
    return arch, Target(max(arch.total(coll, "comm_size"), 1.0), max(arch.total(kinds, "num_ops"), 1.0), nodes)


def _fitted_range(block: dict) -> str:
    """'width 64..512, depth 1..4': the descriptors' range over the traces an architecture block was fitted on."""
    return ", ".join(f"{n} {v[0]:g}..{v[1]:g}" for n, v in zip(block["descriptors"], block["range"]))


def warn_if_clipped(archs: list[Architecture], block: dict) -> None:
    """One warning when some attribute value of the described architectures reached the clip."""
    if any(np.any(spec["values"] >= MAX_VALUE) for arch in archs for a in arch.attrs.values() for spec in a.values()):
        warn(f"--describe: some attribute values reach {MAX_VALUE:g}, where they are clipped: the description is "
             f"far outside the corpus the model was fitted on ({_fitted_range(block)})")


def described(model: dict, describe: dict[str, float], warn_clipped: bool = True
              ) -> tuple[Architecture, Target, dict, float | None]:
    """At a described model: the architecture laws, the size they imply, the kind tables and the compute time
    per node. The tables are the size path's (as --param-bytes/--flops/--nodes would give them at that size);
    the time is the architecture's bottom-up expectation (its kind counts x each kind's mean duration, FLOP-doing
    nodes through the work model), times the residual correction kriged over the training traces' descriptors
    (kriging.py) when the model has one."""
    arch, target = resolve_architecture(model, describe, warn_clipped)
    stats, rate = model["kind_stats"], model.get("compute_us_per_node")
    if "scaling" in model:
        stats = conditioned_stats(model, target)
        # the bottom-up expectation over the architecture's own kind counts and atoms (not the corpus kind mix),
        # without the cost law: once every big op carries its FLOPs the aggregate law only adds its extrapolation
        # error (cross-validation, docs/chakra-synth.md)
        bottom_up = expected_compute_us(blocked(apply_architecture(stats, arch), arch), target.nodes, arch.kind_counts)
        rate = bottom_up / max(target.nodes, 1)
        block = model["architecture"]
        x = np.log(target_vector(block, describe))
        rate *= math.exp(predict_correction(block.get("time_correction"), x))
        if not math.isfinite(rate * target.nodes) or rate * target.nodes > MAX_STEP_US:
            raise ToolError(f"--describe: the laws put this model's step at {rate * target.nodes:.3g} us per rank, "
                            f"beyond an ET's durations: far outside the corpus the model was fitted on "
                            f"({_fitted_range(block)})")
    return arch, target, stats, rate


def apply_architecture(stats: dict, arch: Architecture) -> dict:
    """kind_stats with each attribute the architecture laws describe replaced by its atom mixture (as a
    quantile table, for expectations such as expected_compute_us: examples/synth/cv.py) and its share of the
    kind's nodes. Sampling does not need it (draw_program draws those attributes from the atoms)."""
    out = {}
    for k, st in stats.items():
        st = dict(st)
        n = arch.kind_counts.get(k, 0)
        for a, spec in arch.attrs.get(k, {}).items():
            carriers = float(spec["counts"].sum()) + spec["rest_count"]
            if n <= 0 or carriers <= 0:
                continue
            st[a] = mixture_table(spec)
            st["attr_fraction"] = {**st.get("attr_fraction", {}), a: round(min(carriers / n, 1.0), 4)}
        out[k] = st
    return out


def blocked(stats: dict, arch: Architecture) -> dict:
    """kind_stats for the time of a described model: a kind with a blocked work model (blocking.py) is timed by it,
    on its atoms' FLOPs times their blocked factors."""
    out = dict(stats)
    for k, st in stats.items():
        spec = arch.attrs.get(k, {}).get("num_ops")
        if "work_blocked" in st and spec is not None and "factors" in spec and "num_ops" in st:
            out[k] = {**st, "work": st["work_blocked"],
                      "num_ops": mixture_table({**spec, "values": spec["values"] * spec["factors"]})}
    return out


def mixture_table(spec: dict) -> list[float]:
    """65-point quantile table of an atom mixture (atoms with their expected counts, the rest by its table)."""
    vals = np.repeat(spec["values"], np.maximum(np.rint(spec["counts"] * 16), 0).astype(int))
    if spec["rest_count"] > 0 and spec["rest_table"]:
        m = max(int(round(spec["rest_count"] * 16)), 1)
        vals = np.concatenate([vals, np.interp((np.arange(m) + 0.5) / m, np.linspace(0, 1, len(spec["rest_table"])),
                                               spec["rest_table"])])
    return quantile_table(vals) if vals.size else []


def condition(model: dict, target: Target) -> tuple[dict, float]:
    """kind_stats with every table that has a size law replaced by its prediction at `target`, and the
    predicted compute time per node (us)."""
    stats = conditioned_stats(model, target)
    return stats, predicted_rate(model, stats, target)


def conditioned_stats(model: dict, target: Target) -> dict:
    """kind_stats with every table that has a size law replaced by its prediction at `target`."""
    sc = model["scaling"]
    d = target.as_dict()
    x = np.log([max(d[n], 1.0) for n in DESCRIPTORS]) - np.asarray(sc["center"], dtype=float)
    stats = {}
    for k, st in model["kind_stats"].items():
        st = dict(st)
        for name, law in sc["kind_laws"].get(k, {}).items():
            st[name] = [round(float(v), 3) for v in predict_law(law, x)]
            st.pop(f"{name}_atoms", None)  # the corpus' own sizes are not the target's
        stats[k] = st
    return stats


def predicted_rate(model: dict, stats: dict, target: Target) -> float:
    """Compute time per node at `target`: the geometric mean of the cost law and the bottom-up expectation over
    the corpus kind mix (the size path; a described architecture uses its own bottom-up alone: described())."""
    # two estimates of the step's compute time at the target size: the cost law (aggregate, top-down) and the
    # kind mix x each kind's mean duration from the size laws (bottom-up); their geometric mean predicted the
    # training traces best in cross-validation (interpolation and extrapolation, docs/chakra-synth.md)
    sc = model["scaling"]
    cost = math.sqrt(max(predict_cost(sc["compute_cost"], target.as_dict()), 0.0)
                     * expected_compute_us(stats, target.nodes))
    return cost / max(target.nodes, 1)


def _table_mean(table: list) -> float:
    """Mean of the distribution a quantile table describes (linear between quantiles: trapezoid rule)."""
    if not table:
        return 0.0
    t = np.asarray(table, dtype=float)
    return float(t.mean()) if t.size == 1 else float(((t[1:] + t[:-1]) / 2).mean())


def expected_compute_us(stats: dict, nodes: int, kind_counts: dict[str, int] | None = None) -> float:
    """Bottom-up expected compute time of a step of `nodes` nodes: the corpus kind mix (or the given nodes per
    kind) times each kind's mean duration at the target size (plain nodes from their duration table, FLOP-doing
    nodes from the work model)."""
    comp = {k: st for k, st in stats.items() if not is_comm_kind(k)}
    total = sum(st.get("count", 0) for st in stats.values())
    out = 0.0
    for k, st in comp.items():
        share = (kind_counts.get(k, 0) / max(nodes, 1) if kind_counts is not None
                 else st.get("count", 0) / max(total, 1))
        wm = st.get("work")
        f = float(st.get("attr_fraction", {}).get("num_ops", 0.0)) if wm is not None else 0.0
        mean = (1 - f) * _table_mean(st.get("duration_us", []))
        if wm is not None and f > 0:
            res = float(np.mean(np.exp(np.asarray(wm["log_residual"], dtype=float)))) if wm["log_residual"] else 1.0
            mean += f * ((wm["overhead_us"] + 1 + wm["us_per_op"] * _table_mean(st.get("num_ops", []))) * res - 1)
        out += share * nodes * max(mean, 0.0)
    return out


RANGE_ROUNDING = 5e-4  # the size descriptors' range is stored to 4 significant digits


def outside_corpus(model: dict, describe: dict[str, float] | None, target: Target | None) -> dict[str, dict]:
    """The target's descriptors that lie outside the range of the traces the model was fitted on, {name:
    {"value", "range"}}: there the laws extrapolate (the held-out experiment's largest misses are there)."""
    if describe is not None:
        block = model["architecture"]
        names, values = block["descriptors"], [describe[n] for n in block["descriptors"]]
    elif target is not None:
        block = model["scaling"]
        names, values = block["descriptors"], [target.param_bytes, target.flops, float(target.nodes)]
    else:
        return {}
    return {n: {"value": v, "range": [lo, hi]} for n, v, (lo, hi) in zip(names, values, block["range"])
            if v > hi * (1 + RANGE_ROUNDING) or v < lo * (1 - RANGE_ROUNDING)}
