"""The issue's must-show numbers on the documented default workload (docs/sushi-serve.md): OFA MobileNetV3 on
the default ZU19EG-class SushiAccel (4.5 MiB Persistent Buffer), 100,000 bursty queries whose accuracy demand
drifts through a 2-minute cycle, seed 0.  Plus: SubGraph re-selection never loses to the best fixed SubGraph."""
import pytest

from sushi.api import default_config, make_catalog, metrics, queries_for, run
from sushi.sched import simulate


@pytest.fixture(scope="module")
def report():
    cfg = default_config()
    rep, _, _ = run(cfg, queries_for(cfg, 0))
    return rep


def test_default_is_the_documented_workload(report):
    assert report["accelerator"]["name"] == "zu19eg-class"
    assert report["subgraphs"]["persistent_buffer_bytes"] == 4608 * 1024
    # the PB is larger than the weights every menu SubNet shares: what else to cache is a real choice
    assert report["subgraphs"]["persistent_buffer_bytes"] > 1.3 * report["subgraphs"]["shared_by_all_bytes"]
    assert report["policies"]["sushi"]["queries"] == 100_000


def test_sushi_vs_no_cache(report):
    s, n = report["policies"]["sushi"], report["policies"]["no-cache"]
    assert 1 - s["mean_latency_ms"] / n["mean_latency_ms"] >= 0.20
    assert 1 - s["offchip_energy_mj"] / n["offchip_energy_mj"] >= 0.70
    assert s["served_accuracy"] >= n["served_accuracy"]


def test_sushi_ahead_of_slackfit_at_equal_accuracy(report):
    iso = report["comparison"]["sushi_vs_slackfit_iso_accuracy"]
    assert abs(iso["sushi"]["served_accuracy"] - iso["slackfit"]["served_accuracy"]) <= 0.1
    assert iso["sushi"]["slo_attainment"] > iso["slackfit"]["slo_attainment"]
    # and not only at that point: every SlackFit setting (slack_fraction 0.1..1) is beaten in SLO attainment by a
    # SUSHI setting (accuracy headroom -6..+2 pp) at least as accurate
    assert iso["dominates"] and iso["slackfit_settings_beaten"] == len(iso["slackfit_curve"])


def test_sushi_not_worse_than_the_best_fixed_subgraph_in_hindsight(report):
    # the drifting default: re-selection may not lose to the strongest static baseline (it wins by ~2 % energy;
    # docs explain why no re-selection can win much more on OFA SuperNets)
    s, st = report["policies"]["sushi"], report["policies"]["static"]
    assert s["offchip_energy_mj"] <= st["offchip_energy_mj"] * 1.005
    assert s["mean_latency_ms"] <= st["mean_latency_ms"] * 1.005
    assert s["slo_attainment"] >= st["slo_attainment"] - 0.001


@pytest.mark.parametrize("arrival", ["bursty", "poisson"])
def test_reselection_costs_nothing_on_a_stationary_mix(arrival):
    # no drift: the hysteresis keeps SUSHI's PB where it is -- within 0.5 % of the fixed SubGraph chosen in hindsight
    cfg = default_config()
    w = cfg.resolved_workload()
    w.phases, w.arrival = [], arrival
    q = queries_for(cfg, 1, n=50_000)
    cat = make_catalog(cfg)
    s = metrics(cat, q, simulate(cat, q, "sushi", cfg.scheduler))
    st = metrics(cat, q, simulate(cat, q, "static", cfg.scheduler))
    assert s["offchip_energy_mj"] <= st["offchip_energy_mj"] * 1.005
    assert s["mean_latency_ms"] <= st["mean_latency_ms"] * 1.005
    assert s["subgraph_switches"] <= 2
