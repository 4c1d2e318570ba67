"""xrbench: XRBench multi-model multi-task XR scenarios and scores (`xrbench-run`)."""
from .accelerators import STYLES, SubAccelerator, load_costs, parse_preset, preset
from .api import evaluate, system_costs
from .models import MODELS
from .runtime import Record, simulate
from .scenarios import BUILTIN, Scenario, ScenarioModel, load_scenarios

__all__ = ["MODELS", "BUILTIN", "STYLES", "Scenario", "ScenarioModel", "SubAccelerator", "Record",
           "simulate", "evaluate", "system_costs", "load_costs", "load_scenarios", "parse_preset", "preset"]
