"""Exceptions that carry the offending value and the fix.

The command-line interface prints :class:`NeurosimError` subclasses as one line and exits
with a non-zero status, so every message names what was wrong and what to change.
"""

__all__ = [
    "NeurosimError",
    "ConfigError",
    "DataError",
    "CheckpointError",
    "DivergenceError",
    "RunDirectoryError",
]


class NeurosimError(Exception):
    """Base class of the errors that neurosim reports to its users."""

    exit_code = 2


class ConfigError(NeurosimError, ValueError):
    """A model or training configuration is invalid."""


class DataError(NeurosimError, ValueError):
    """A data set is missing, malformed or does not fit the network."""


class CheckpointError(NeurosimError):
    """A checkpoint is missing, corrupt or does not match the run."""


class DivergenceError(NeurosimError, FloatingPointError):
    """States or weights became NaN or infinite during training."""

    exit_code = 3


class RunDirectoryError(NeurosimError):
    """A run directory already contains a run, or another process uses it."""
