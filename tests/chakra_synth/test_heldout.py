"""The held-out claims of docs/chakra-synth.md, on the committed corpus (tests/data/synth).

Per family a model is fitted on the training sizes only (with their architecture descriptors, the
`<trace>.describe.json` sidecars); every held-out model (never fitted) is synthesized, 2 ranks, seed 1, two ways,
and compared with the recorded trace:
- `arch`: from its architecture descriptors alone (`describe={"width": W, "depth": D}`);
- `cond`: from its three size descriptors alone (parameter bytes, FLOPs, nodes).
The issue's targets are |simulated time ratio - 1| <= 5 % and KS < 0.1 per attribute. What is claimed (and
asserted here) is exactly what the experiment met; the rest is documented as not met, with its reason:
- arch: KS < 0.1 for every attribute (durations, FLOPs, tensor bytes, message sizes) for all 12 held-out models;
- simulated time within 5 %: from the architecture for 10 of 12 (not the CNNs cnn_20x2 -13.9 %, cnn_48x4 -7.9 %),
  from the size for 10 of 12 (not mlp_128x2, cnn_20x2);
- cond: duration KS < 0.1 for 11 of 12 (not mlp_768x3); pooled over each family's held-out models KS < 0.1 for
  durations, FLOPs and tensor bytes; per model its FLOP / tensor-byte / message-size KS mostly stay above 0.1
  (atoms at the held-out's own layer dimensions that a law in size alone cannot place) and are not claimed.
Simulated times come from astra-run when its Python API is present; otherwise the compute-path ratio is used
(astra-run replays these fully chained CPU traces within 1 % of it; checked below when both exist).
"""

from __future__ import annotations

import numpy as np
import pytest
from scipy.stats import ks_2samp

from chakra_tools.graph import Trace
from chakra_tools.synth import compare, sample
from chakra_tools.synth.arch import read_sidecar
from chakra_tools.synth.compare import ATTRIBUTES, trace_values
from chakra_tools.synth.scaling import trace_descriptors

from .test_synth import DATA, FAMILY_HELD

CFG = DATA.parents[2] / "examples" / "configs" / "chakra-synth"
HELD = sorted(h.rsplit("/", 1)[-1] for hs in FAMILY_HELD.values() for h in hs)
# the documented misses per variant, with the range each is reported in (not silently worse)
MISSES = {"arch": {"cnn_20x2": (0.90, 0.95), "cnn_48x4": (0.90, 0.95)},
          "cond": {"mlp_128x2": (0.91, 0.95), "cnn_20x2": (0.81, 0.95)}}
DURATION_KS_BELOW_01_COND = set(HELD) - {"mlp_768x3"}
SIZES = ("num_ops", "tensor_size", "comm_size")


def _simulator():
    try:
        from astrasim_py import simulate  # noqa: F401
    except ImportError:
        return None
    return str(CFG / "system.json"), str(CFG / "network.yml")


@pytest.fixture(scope="module")
def results(family_models, tmp_path_factory) -> dict:
    out = tmp_path_factory.mktemp("heldout")
    sim = _simulator()
    cases: dict[str, dict] = {"arch": {}, "cond": {}}
    pooled: dict[str, dict] = {"arch": {}, "cond": {}}
    for fam, model in family_models.items():
        va: dict[str, list] = {a: [] for a in ATTRIBUTES}
        vb: dict[str, dict[str, list]] = {v: {a: [] for a in ATTRIBUTES} for v in cases}
        for h in FAMILY_HELD[fam]:
            name = h.rsplit("/", 1)[-1]
            d = trace_descriptors(h)
            sample(model, out / f"{name}.arch", ranks=2, seed=1, describe=read_sidecar(h))
            sample(model, out / f"{name}.cond", ranks=2, nodes=d["nodes"], seed=1, param_bytes=d["param_bytes"],
                   flops=d["flops"])
            for a, x in trace_values(Trace.load(h)).items():
                va[a].append(x)
            for v in cases:
                cases[v][name] = compare(h, out / f"{name}.{v}", *(sim or ()))
                for a, x in trace_values(Trace.load(out / f"{name}.{v}")).items():
                    vb[v][a].append(x)
        for v in cases:
            pooled[v][fam] = {a: ks_2samp(np.concatenate(va[a]), np.concatenate(vb[v][a])).statistic
                              for a in ATTRIBUTES}
    return {"cases": cases, "pooled": pooled}


def _ratio(r: dict) -> float:
    return r["sim_time_ratio"] if "sim_time_ratio" in r else r["compute_path_ratio"]


def test_every_attribute_ks_below_0_1_from_descriptors(results):
    assert len(results["cases"]["arch"]) == 12
    for name, r in results["cases"]["arch"].items():
        for a in ATTRIBUTES:
            assert r["attributes"][a]["ks"] < 0.1, (name, a, r["attributes"][a]["ks"])


def test_every_attribute_ks_below_0_1_from_descriptors_at_other_seeds(family_models, tmp_path):
    # seeds 2-5 (seed 1 above). Until durations were rounded once, seed 3 missed: cnn_10x3's were calibrated by
    # +5.7 % after rounding, which moved each integer atom whole (its 13 us nodes to 14: KS 0.108)
    for fam, model in family_models.items():
        for h in FAMILY_HELD[fam]:
            name = h.rsplit("/", 1)[-1]
            for seed in (2, 3, 4, 5):
                sample(model, tmp_path / f"{name}.{seed}", ranks=2, seed=seed, describe=read_sidecar(h))
                r = compare(h, tmp_path / f"{name}.{seed}")
                for a in ATTRIBUTES:
                    assert r["attributes"][a]["ks"] < 0.1, (name, seed, a, r["attributes"][a]["ks"])


def test_descriptors_beat_size_on_every_size_attribute(results):
    # the exact atoms: at least as close as the size laws for every held-out model and attribute, and strictly
    # closer for message sizes (size laws: 0.10-0.44, the atoms: 0)
    for name in HELD:
        arch, cond = results["cases"]["arch"][name], results["cases"]["cond"][name]
        for a in SIZES:
            assert arch["attributes"][a]["ks"] <= cond["attributes"][a]["ks"], (name, a)
        assert arch["attributes"]["comm_size"]["ks"] < cond["attributes"]["comm_size"]["ks"], name


@pytest.mark.parametrize("variant", ["arch", "cond"])
def test_simulated_time_within_5_percent(results, variant):
    cases = results["cases"][variant]
    for name in sorted(set(HELD) - set(MISSES[variant])):
        assert abs(_ratio(cases[name]) - 1) <= 0.05, (name, _ratio(cases[name]))
    for name, (lo, hi) in sorted(MISSES[variant].items()):
        assert lo < _ratio(cases[name]) < hi, (name, _ratio(cases[name]))


def test_duration_ks_below_0_1_from_size(results):
    for name in sorted(DURATION_KS_BELOW_01_COND):
        assert results["cases"]["cond"][name]["attributes"]["duration_micros"]["ks"] < 0.1, name


def test_pooled_ks_below_0_1(results):
    for fam, ks in results["pooled"]["cond"].items():
        for a in ("duration_micros", "num_ops", "tensor_size"):
            assert ks[a] < 0.1, (fam, a, ks[a])
    for fam, ks in results["pooled"]["arch"].items():
        for a in ATTRIBUTES:
            assert ks[a] < 0.1, (fam, a, ks[a])


def test_synthesized_traces_share_nothing_long(results):
    # at most a handful of consecutive (type, duration, sizes) tuples in common with the held-out trace, also
    # with the exact sizes of the architecture laws (durations are drawn, not copied)
    for variant, cases in results["cases"].items():
        for name, r in cases.items():
            assert r["obfuscation"]["longest_shared_value_run"] <= 10, (variant, name)


def test_sim_time_follows_compute_path(results):
    if _simulator() is None:
        pytest.skip("astra-run's Python API (astrasim_py.simulate) is not available")
    for variant, cases in results["cases"].items():
        for name, r in cases.items():
            assert r["sim_time_ratio"] == pytest.approx(r["compute_path_ratio"], rel=0.01), (variant, name)
