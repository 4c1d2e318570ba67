"""Fixtures shared by the chakra-synth tests: the family models are fitted once per session (each fit learns
size and architecture laws, ~1-3 s per family)."""

from __future__ import annotations

import pytest

from chakra_tools.synth import fit

from .test_synth import FAMILY_TRAIN


@pytest.fixture(scope="session")
def family_models() -> dict[str, dict]:
    """Per family (mlp, cnn, tfm): the model fitted on its training traces (read-only: copy before editing)."""
    return {f: fit(ps) for f, ps in FAMILY_TRAIN.items()}
