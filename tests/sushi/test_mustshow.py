"""The issue's must-show numbers on the documented default workload (docs/sushi-serve.md):
OFA MobileNetV3 on the default ZCU104-class SushiAccel, 100,000 bursty queries, seed 0."""
import pytest

from sushi.api import default_config, queries_for, run


@pytest.fixture(scope="module")
def report():
    cfg = default_config()
    rep, _, _ = run(cfg, queries_for(cfg, 0))
    return rep


def test_sushi_vs_no_cache(report):
    s, n = report["policies"]["sushi"], report["policies"]["no-cache"]
    assert 1 - s["mean_latency_ms"] / n["mean_latency_ms"] >= 0.20
    assert 1 - s["offchip_energy_mj"] / n["offchip_energy_mj"] >= 0.70
    assert s["served_accuracy"] >= n["served_accuracy"]


def test_sushi_ahead_of_slackfit_at_equal_accuracy(report):
    iso = report["comparison"]["sushi_vs_slackfit_iso_accuracy"]
    assert abs(iso["sushi"]["served_accuracy"] - iso["slackfit"]["served_accuracy"]) <= 0.1
    assert iso["sushi"]["slo_attainment"] > iso["slackfit"]["slo_attainment"]


def test_reselection_costs_nothing_on_a_stationary_mix(report):
    # the default mix is stationary: re-selecting every window must stay within 1 % of the fixed SubGraph
    s, st = report["policies"]["sushi"], report["policies"]["static"]
    assert s["offchip_energy_mj"] <= st["offchip_energy_mj"] * 1.01
    assert s["mean_latency_ms"] <= st["mean_latency_ms"] * 1.01
