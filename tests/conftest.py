"""Shared fixtures: a fixed seed and tiny sizes so the default suite runs on 2 CPU cores."""

import random

import pytest
import torch

TINY = {"d_model": 32, "n_layers": 2, "n_heads": 4, "vocab_size": 99}


@pytest.fixture(autouse=True)
def seed():
    """Every test starts from the same random state."""
    random.seed(0)
    torch.manual_seed(0)
    return 0


def pytest_collection_modifyitems(config, items):
    """Skip gpu-marked tests on machines without CUDA, with the reason."""
    if torch.cuda.is_available():
        return
    skip = pytest.mark.skip(reason="needs CUDA; none on this machine")
    for item in items:
        if "gpu" in item.keywords:
            item.add_marker(skip)
