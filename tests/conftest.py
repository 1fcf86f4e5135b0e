"""Shared fixtures. Generated data sets are cached once per test session, not in ~/.cache."""
from __future__ import annotations

import os
import tempfile

import pytest

# Set before trainlab is imported anywhere, so subprocesses inherit it too.
os.environ.setdefault("TRAINLAB_CACHE", os.path.join(tempfile.gettempdir(), "trainlab-test-cache"))


@pytest.fixture
def tiny_recipe() -> dict:
    """A recipe that trains in well under a second: moons, a small MLP, 3 epochs."""
    return {
        "name": "tiny",
        "seed": 0,
        "data": {"name": "moons", "n_samples": 200, "batch_size": 32, "preprocess": "zscore"},
        "model": {"name": "mlp", "hidden": [16], "activation": "tanh"},
        "optim": {"name": "adam", "lr": 0.01},
        "stopping": {"epochs": 3},
        "checkpoint": {"every": 2},
    }
