"""Choose how Brian2 runs a network: C++ standalone, or runtime mode with cython or numpy.

``"auto"`` and ``"cpp_standalone"`` compile the network with the C++ standalone device;
when that fails (no compiler, a failing compiler, a broken build) they fall back to
runtime mode with a warning that names the cause, and the run goes on with the same
equations. Runtime mode uses cython where a test compilation works, numpy otherwise.
"""

import functools
import logging

from ..errors import ConfigError

__all__ = ["DEVICES", "check_device", "runtime_target", "SimulatorFactory"]

logger = logging.getLogger(__name__)

#: Values of the engine option ``device``.
DEVICES = ("auto", "cpp_standalone", "cython", "numpy")


def check_device(device):
    """Raise :class:`ConfigError` unless ``device`` is one of :data:`DEVICES`."""
    if device not in DEVICES:
        raise ConfigError(f"Brian2 device {device!r} is unknown: choose one of "
                          f"{', '.join(DEVICES)}.")
    return device


@functools.cache
def cython_available():
    """Return True when Brian2 can compile cython code on this machine."""
    from brian2.codegen.runtime.cython_rt.cython_rt import CythonCodeObject

    return bool(CythonCodeObject.is_available())


def runtime_target(device):
    """Return the runtime code generation target ("cython" or "numpy") for ``device``."""
    if device == "numpy":
        return "numpy"
    if cython_available():
        return "cython"
    if device == "cython":
        logger.warning("Brian2 cannot compile cython code here (a test compilation failed); "
                       "running with the numpy target instead, which is slower.")
    return "numpy"


class SimulatorFactory:
    """Create the simulators of an engine, remembering a failed standalone build.

    Parameters
    ----------
    device : str
        One of :data:`DEVICES`.
    """

    def __init__(self, device):
        self.device = check_device(device)
        self.standalone_error = None
        self._announced = set()

    def compiles(self):
        """Return True when the simulators of train and evaluate runs compile their code.

        Compiled code depends on the number of samples per run, so such simulators keep
        one size and pad shorter runs; numpy simulators take any size.
        """
        if self.device in ("auto", "cpp_standalone") and self.standalone_error is None:
            return True
        return runtime_target(self.device) == "cython"

    def create(self, spec, standalone=True):
        """Return a simulator for ``spec``.

        ``standalone=False`` asks for runtime mode (to record with a StateMonitor).

        Raises
        ------
        StandaloneBuildError
            When the C++ standalone build fails; call :meth:`fail` and create again.
        """
        from .runtime import RuntimeSimulator
        from .standalone import StandaloneSimulator

        wants_standalone = self.device in ("auto", "cpp_standalone") and standalone
        if wants_standalone and self.standalone_error is None:
            simulator = StandaloneSimulator(spec)
            self._announce(spec.mode, "as C++ standalone")
            return simulator
        if not standalone and self.device in ("auto", "cpp_standalone"):
            # Recording one sample: the numpy target has no compilation to wait for.
            target = "numpy"
        else:
            target = runtime_target(self.device)
        simulator = RuntimeSimulator(spec, target)
        self._announce(spec.mode, f"in runtime mode ({target})")
        return simulator

    def _announce(self, mode, manner):
        """Log how the networks of ``mode`` run, once per engine and manner.

        Each run size and start gets its own simulator, so without this the same line would
        repeat for every one of them.
        """
        if (mode, manner) not in self._announced:
            self._announced.add((mode, manner))
            logger.info("Brian2 engine: the %s network runs %s", mode, manner)

    def fail(self, error):
        """Record that C++ standalone mode failed with ``error`` and warn once."""
        if self.standalone_error is not None:
            return
        self.standalone_error = str(error)
        logger.warning("Brian2 C++ standalone mode is unavailable: %s. Falling back to "
                       "runtime mode (%s): the same equations, only slower. Check the C++ "
                       "compiler (environment variable CXX) to get the standalone speed "
                       "back.", error, runtime_target(self.device))
