"""Shared fixtures: small configurations and networks that keep the tests fast."""

import logging

import numpy as np
import pytest

from neurosim.config import config_from_dict


@pytest.fixture(autouse=True)
def _quiet_logs(caplog):
    caplog.set_level(logging.INFO, logger="neurosim")


def small_config(layers=(6, 5, 4, 3), init="feedforward", coupling=0.0, dt=0.5, t_minus=10.0,
                 t_plus=2.0, batch_size=4, **training):
    """Return a validated configuration of a small network on synthetic data."""
    rates = training.pop("eta", [0.1] * (len(layers) - 1))
    return config_from_dict({
        "network": {"layers": list(layers), "init": init},
        "dynamics": {"dt": dt, "t_minus": t_minus, "t_plus": t_plus, "coupling": coupling},
        "training": {"batch_size": batch_size, "eta": rates, **training},
        "data": {"dataset": "synthetic", "synthetic_train": 200, "synthetic_test": 50},
    })


@pytest.fixture
def rng():
    return np.random.default_rng(1234)
