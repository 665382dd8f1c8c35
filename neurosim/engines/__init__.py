"""Simulation engines: the dense NumPy engine and the Brian2 engine."""

import logging

from ..errors import ConfigError
from .base import Engine, EvalResult, TrainStats
from .dense import DenseEngine

__all__ = ["Engine", "EvalResult", "TrainStats", "DenseEngine", "make_engine", "ENGINES"]

logger = logging.getLogger(__name__)

ENGINES = ("brian2", "dense")


def make_engine(name, network, config, **options):
    """Create the engine called ``name`` ("dense" or "brian2") for ``network`` and ``config``."""
    if name == "dense":
        if config.dynamics.method != "euler":
            raise ConfigError(f"dynamics.method = {config.dynamics.method!r} is not available in "
                              "the dense engine, which integrates with forward Euler: set "
                              "dynamics.method = \"euler\" or use --engine brian2.")
        return DenseEngine(network, config)
    if name == "brian2":
        from .brian2_engine import Brian2Engine  # imports Brian2 only when asked for

        return Brian2Engine(network, config, **options)
    raise ConfigError(f"engine {name!r} is unknown: choose one of {', '.join(ENGINES)}.")
