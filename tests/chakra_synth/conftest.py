"""Fixtures shared by the chakra-synth tests: the family models and the recorded DLRM step are fitted once per
session (each fit learns size and architecture laws, ~1-3 s per family; the DLRM step is converted and fitted in
~2.6 s)."""

from __future__ import annotations

from pathlib import Path

import pytest

from chakra_tools.synth import fit

from ..gpu_data import convert_dlrm
from .test_synth import FAMILY_TRAIN


@pytest.fixture(scope="session")
def family_models() -> dict[str, dict]:
    """Per family (mlp, cnn, tfm): the model fitted on its training traces (read-only: copy before editing)."""
    return {f: fit(ps) for f, ps in FAMILY_TRAIN.items()}


@pytest.fixture(scope="session")
def dlrm(tmp_path_factory) -> Path:
    """The recorded 8-rank DLRM GPU step (tests/data/gpu), converted with its Kineto traces; its prefix."""
    return convert_dlrm(tmp_path_factory.mktemp("dlrm"))


@pytest.fixture(scope="session")
def dlrm_model(dlrm) -> dict:
    """The model fitted on the DLRM step alone (read-only; it warns that the ranks' kind sequences differ)."""
    return fit([dlrm])
