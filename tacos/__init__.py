"""TACOS: topology-aware collective synthesis for any topology.

    from tacos import synthesize, load_topology
    schedule = synthesize(load_topology("mesh4x4.yml"), "all-reduce", 64 << 20, chunks="auto", seed=0)
"""

from astrasim_py.topology import Topology, generate, load_topology
from tacos.baselines import baselines
from tacos.schedule import Schedule, lower_bound_ns, synthesize

__all__ = ["synthesize", "Schedule", "lower_bound_ns", "baselines", "load_topology", "generate", "Topology"]
