"""sushi: SUSHI -- SubGraph Stationary serving of weight-shared SuperNet SubNets (`sushi-serve`).

Python API::

    from sushi import default_config, make_catalog, queries_for, run
    cfg = default_config()
    report, results, catalog = run(cfg, queries_for(cfg, seed=0))
"""
from .accel import Accelerator, layer_costs, per_layer_table
from .accuracy import accuracy_model
from .api import (
           Config,
           MenuConfig,
           default_config,
           iso_accuracy,
           load_config,
           make_catalog,
           metrics,
           queries_for,
           run,
)
from .catalog import Catalog, build_catalog, build_menu
from .sched import POLICIES, SchedConfig, simulate
from .supernet import SUPERNETS, OFAMobileNetV3, OFAResNet50, get_supernet
from .workload import Dist, Phase, Queries, Workload, generate, read_trace

__all__ = ["Accelerator", "Catalog", "Config", "Dist", "MenuConfig", "OFAMobileNetV3", "OFAResNet50", "POLICIES",
           "Phase", "Queries", "SUPERNETS", "SchedConfig", "Workload", "accuracy_model", "build_catalog", "build_menu",
           "default_config", "generate", "get_supernet", "iso_accuracy", "layer_costs", "load_config", "make_catalog",
           "metrics", "per_layer_table", "queries_for", "read_trace", "run", "simulate"]
