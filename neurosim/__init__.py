"""neurosim: continuous-time Equilibrium Propagation networks on Brian2 and NumPy.

The main entry points are :func:`neurosim.training.train` and the ``neurosim`` command.
"""

__version__ = "0.1.0"

from .config import Config, apply_overrides, list_presets, load_config  # noqa: E402
from .network import Network  # noqa: E402

__all__ = ["__version__", "Config", "Network", "load_config", "apply_overrides", "list_presets",
           "train"]


def train(*args, **kwargs):
    """Train a model; see :func:`neurosim.training.train`."""
    from .training import train as _train

    return _train(*args, **kwargs)
