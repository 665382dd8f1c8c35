"""Run a Brian2 network in runtime mode (numpy or cython code generation).

The objects are built once; every run restores the state stored right after building,
loads the parameters, learning rates and TimedArrays of that run, and simulates. The
TimedArrays keep their names and shapes from run to run, so cython compiles each code
object once.
"""

import logging
from contextlib import contextmanager

import numpy as np

from .builder import build_network, make_timed_array
from .layout import from_synapses, parameter_order, parameter_shape, to_synapses
from .results import RunOutputs

__all__ = ["RuntimeSimulator", "brian_prefs"]

logger = logging.getLogger(__name__)


@contextmanager
def brian_prefs(target, dtype):
    """Set Brian2's code generation target and float type for the duration of a block."""
    from brian2 import prefs

    saved = prefs.codegen.target, prefs.core.default_float_dtype
    prefs.codegen.target = target
    prefs.core.default_float_dtype = np.dtype(dtype).type
    try:
        yield
    finally:
        prefs.codegen.target, prefs.core.default_float_dtype = saved


class RuntimeSimulator:
    """A network built in the current process and run with Brian2's runtime device.

    Parameters
    ----------
    spec : NetworkSpec
    target : {"numpy", "cython"}
        Brian2 code generation target.
    """

    def __init__(self, spec, target):
        import brian2

        self.spec = spec
        self.target = target
        self.device_name = f"runtime ({target})"
        if brian2.get_device().__class__.__name__ != "RuntimeDevice":
            brian2.set_device("runtime")
        with brian_prefs(target, spec.dtype):
            self.built = build_network(spec)
            self.built.net.store("built")
        self._check_synapse_order()

    def _check_synapse_order(self):
        """Check that Brian2 created the synapses in the order :mod:`.layout` expects."""
        for name, (synapses, _) in self.built.parameters.items():
            expected = parameter_order(self.spec.layers, name)
            if expected is None:
                continue
            if not (np.array_equal(synapses.i[:], expected[0])
                    and np.array_equal(synapses.j[:], expected[1])):
                raise RuntimeError(f"Brian2 created the synapses of {name} in an unexpected "
                                   "order; the engine cannot map them to a weight matrix.")

    def run(self, inputs):
        """Simulate one run and return its :class:`RunOutputs`.

        Parameters
        ----------
        inputs : RunInputs
        """
        built = self.built
        with brian_prefs(self.target, self.spec.dtype):
            built.net.restore("built")
            for name, values in inputs.parameters.items():
                owner, variable = built.parameters[name]
                setattr(owner, variable, to_synapses(self.spec.layers, name, values))
            for name, value in inputs.rates.items():
                owner, variable = built.rates[name]
                setattr(owner, variable, value)
            for name in built.timed_array_names():
                built.namespace[name] = make_timed_array(built, name, inputs.timed[name])
            built.net.run(built.duration)
            return self._outputs()

    def _outputs(self):
        built = self.built
        parameters = {}
        for name, (owner, variable) in built.parameters.items():
            flat = np.array(getattr(owner, variable)[:])
            parameters[name] = from_synapses(self.spec.layers, name, flat,
                                             parameter_shape(self.spec, name))
        monitors = {}
        for key, monitor in built.monitors.items():
            if key == "residual":
                names = sorted(monitor.record_variables, key=lambda v: int(v.rsplit("_", 1)[1]))
                monitors[key] = np.stack([np.asarray(getattr(monitor, v))[0] for v in names],
                                         axis=1)
            else:
                variable = monitor.record_variables[0]
                monitors[key] = np.asarray(getattr(monitor, variable)).T.copy()
        final = {name: np.array(group.s[:]) for name, group in built.groups.items()
                 if name.startswith("layer_")}
        feedforward = {name: np.array(group.sf[:]) for name, group in built.groups.items()
                       if name.startswith("ff_")}
        return RunOutputs(parameters=parameters, monitors=monitors, final_states=final,
                          feedforward_states=feedforward)

