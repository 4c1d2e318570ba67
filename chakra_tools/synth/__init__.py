"""chakra-synth: learn the statistics of Chakra ETs and synthesize new, valid, name-free ones.

    from chakra_tools.synth import fit, sample, compare
    model = fit(["et/mlp", "et/cnn"])          # a JSON-able dict (no names, no raw sequences)
    sample(model, "synth/x", ranks=8, nodes=500, seed=1)
    report = compare("et/mlp", "synth/x")
"""

from chakra_tools.synth.compare import compare
from chakra_tools.synth.fit import fit
from chakra_tools.synth.sample import sample

__all__ = ["fit", "sample", "compare"]
