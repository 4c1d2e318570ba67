"""The held-out claims of docs/chakra-synth.md, on the committed corpus (tests/data/synth).

Per family a model is fitted on the training sizes only; every held-out model (never fitted) is synthesized
from its three size descriptors (parameter bytes, FLOPs, nodes), 2 ranks, seed 1, and compared with the recorded
trace. The issue's targets are |simulated time ratio - 1| <= 5 % and KS < 0.1 per attribute. What is claimed
(and asserted here) is exactly what the experiment met; the rest is documented as not met, with its reason:
- simulated time within 5 % for 9 of 12 held-out models (not mlp_128x2 -5.1 %, cnn_10x3, cnn_20x2);
- duration KS < 0.1 for 11 of 12 (not cnn_16x3);
- pooled over each family's held-out models: KS < 0.1 for durations, FLOPs and tensor bytes (not message sizes);
- per model, FLOP / tensor-byte / message-size KS mostly stay above 0.1 (atoms at the held-out's own layer
  dimensions; see the docs) and are not claimed.
Simulated times come from astra-run when its Python API is present; otherwise the compute-path ratio is used
(astra-run replays these fully chained CPU traces within 0.5 % of it; checked below when both exist).
"""

from __future__ import annotations

import numpy as np
import pytest
from scipy.stats import ks_2samp

from chakra_tools.graph import Trace
from chakra_tools.synth import compare, fit, sample
from chakra_tools.synth.compare import ATTRIBUTES, trace_values
from chakra_tools.synth.scaling import trace_descriptors

from .test_synth import DATA, FAMILY_HELD, FAMILY_TRAIN

CFG = DATA.parents[2] / "examples" / "configs" / "chakra-synth"
WITHIN_5PCT = {"mlp_160x2", "mlp_320x3", "mlp_768x3", "cnn_16x3", "cnn_48x4", "tfm_40x2", "tfm_80x2", "tfm_64x3",
               "tfm_192x2"}
DURATION_KS_BELOW_01 = {h.rsplit("/", 1)[-1] for hs in FAMILY_HELD.values() for h in hs} - {"cnn_16x3"}


def _simulator():
    try:
        from astrasim_py import simulate  # noqa: F401
    except ImportError:
        return None
    return str(CFG / "system.json"), str(CFG / "network.yml")


@pytest.fixture(scope="module")
def results(tmp_path_factory) -> dict:
    out = tmp_path_factory.mktemp("heldout")
    sim = _simulator()
    cases, pooled = {}, {}
    for fam, train in FAMILY_TRAIN.items():
        model = fit(train)
        va: dict[str, list] = {a: [] for a in ATTRIBUTES}
        vb: dict[str, list] = {a: [] for a in ATTRIBUTES}
        for h in FAMILY_HELD[fam]:
            name = h.rsplit("/", 1)[-1]
            d = trace_descriptors(h)
            sample(model, out / name, ranks=2, nodes=d["nodes"], seed=1, param_bytes=d["param_bytes"],
                   flops=d["flops"])
            cases[name] = compare(h, out / name, *(sim or ()))
            for a, x in trace_values(Trace.load(h)).items():
                va[a].append(x)
            for a, x in trace_values(Trace.load(out / name)).items():
                vb[a].append(x)
        pooled[fam] = {a: ks_2samp(np.concatenate(va[a]), np.concatenate(vb[a])).statistic for a in ATTRIBUTES}
    return {"cases": cases, "pooled": pooled}


def _ratio(r: dict) -> float:
    return r["sim_time_ratio"] if "sim_time_ratio" in r else r["compute_path_ratio"]


def test_simulated_time_within_5_percent(results):
    for name in sorted(WITHIN_5PCT):
        assert abs(_ratio(results["cases"][name]) - 1) <= 0.05, (name, _ratio(results["cases"][name]))
    # the three documented misses stay misses of the size reported in the docs (not silently worse)
    for name in ("mlp_128x2", "cnn_10x3", "cnn_20x2"):
        assert 0.85 < _ratio(results["cases"][name]) < 0.96, name


def test_duration_ks_below_0_1(results):
    for name in sorted(DURATION_KS_BELOW_01):
        assert results["cases"][name]["attributes"]["duration_micros"]["ks"] < 0.1, name


def test_pooled_ks_below_0_1(results):
    for fam, ks in results["pooled"].items():
        for a in ("duration_micros", "num_ops", "tensor_size"):
            assert ks[a] < 0.1, (fam, a, ks[a])


def test_synthesized_traces_share_nothing_long(results):
    # at most a handful of consecutive (type, duration, sizes) tuples in common with the held-out trace
    for name, r in results["cases"].items():
        assert r["obfuscation"]["longest_shared_value_run"] <= 10, name


def test_sim_time_follows_compute_path(results):
    if _simulator() is None:
        pytest.skip("astra-run's Python API (astrasim_py.simulate) is not available")
    for name, r in results["cases"].items():
        assert r["sim_time_ratio"] == pytest.approx(r["compute_path_ratio"], rel=0.005), name
