"""Brian2 engine: the network declared as Brian2 equations, trained by synaptic code.

The model (neuron equations, synapses, plasticity) is in :mod:`neurosim.brian2.equations`,
the objects and their schedule in :mod:`neurosim.brian2.builder`. This module feeds data,
weights and minibatch signs to those networks, chunk by chunk, and reads back weights,
predictions and residuals. It computes no weight update itself.

A training chunk of ``batches_per_call`` minibatches is one Brian2 run. With the C++
standalone device a chunk always has the same number of samples (a shorter one is padded
with samples that are not learned), so the compiled binary is reused for every chunk.
"""

import logging

import numpy as np

from ..brian2.device import SimulatorFactory, check_device
from ..brian2.results import RunInputs
from ..brian2.spec import NetworkSpec
from .base import Engine, EvalResult, TrainStats

__all__ = ["Brian2Engine", "DEFAULT_CHUNK_SAMPLES"]

logger = logging.getLogger(__name__)

#: Samples per Brian2 run, for training and for evaluation.
DEFAULT_CHUNK_SAMPLES = 5000


class Brian2Engine(Engine):
    """Engine that simulates the network with Brian2.

    Parameters
    ----------
    network : Network
        The parameters; converted to ``config.training.dtype``.
    config : Config
    device : {"auto", "cpp_standalone", "cython", "numpy"}
        How Brian2 runs the network (see :mod:`neurosim.brian2.device`).
    chunk_samples : int
        Samples per Brian2 run; training runs hold whole minibatches.
    """

    name = "brian2"

    def __init__(self, network, config, device="auto", chunk_samples=DEFAULT_CHUNK_SAMPLES):
        self.config = config
        self.dtype = np.dtype(config.training.dtype)
        self._network = network.astype(self.dtype)
        self.device = check_device(device)
        batch_size = config.training.batch_size
        self.batches_per_call = max(1, int(round(chunk_samples / batch_size)))
        self.chunk_samples = int(chunk_samples)
        self._factory = SimulatorFactory(device)
        self._simulators = {}
        self._compiled = 0.0

    @property
    def network(self):
        """The parameters the engine trains, as a :class:`~neurosim.network.Network`."""
        return self._network

    @network.setter
    def network(self, value):
        self._network = value.astype(self.dtype)

    def close(self):
        """Delete the work folders of the compiled networks."""
        for simulator in self._simulators.values():
            if hasattr(simulator, "close"):
                simulator.close()
        self._simulators.clear()

    # --- simulators ---------------------------------------------------------------------

    def _size(self, mode, n_samples):
        """Return the samples per run of ``mode`` for ``n_samples`` samples.

        Compiled simulators take a fixed size (``n_samples`` is then padded up to it);
        numpy simulators take the size asked for, since they compile nothing.
        """
        if mode == "record" or not self._factory.compiles():
            return n_samples
        if mode == "train":
            return self.batches_per_call * self.config.training.batch_size
        return self.chunk_samples

    def _run(self, mode, n_samples, timed, start="feedforward"):
        """Run the network of ``mode`` on ``timed`` (built by ``timed(size)``).

        Returns the :class:`RunOutputs`. A C++ standalone binary that fails is replaced
        by a runtime simulator and the run is repeated, so no data is lost.
        """
        from ..brian2.standalone import StandaloneBuildError

        size = self._size(mode, n_samples)
        key = (mode, size, start)
        try:
            if key not in self._simulators:
                spec = NetworkSpec.from_config(self.config, mode, size, start=start)
                simulator = self._factory.create(spec, standalone=mode != "record")
                self._compiled += getattr(simulator, "compile_seconds", 0.0)
                self._simulators[key] = simulator
            return self._simulators[key].run(self._inputs(timed(size)))
        except StandaloneBuildError as exc:
            self._factory.fail(exc)
            for stale in [k for k, s in self._simulators.items()
                          if s.device_name == "cpp_standalone"]:
                self._simulators.pop(stale).close()
            return self._run(mode, n_samples, timed, start)

    @property
    def compile_seconds(self):
        """Seconds spent compiling C++ standalone networks for this engine (0 if cached).

        The total only grows: networks dropped after a failed binary keep their count.
        """
        return self._compiled

    @property
    def device_name(self):
        """The device of the simulators created so far, such as "cpp_standalone"."""
        names = sorted({simulator.device_name for simulator in self._simulators.values()})
        return ", ".join(names) if names else self.device

    def _inputs(self, timed):
        """Return :class:`RunInputs` with the current parameters and learning rates."""
        cfg = self.config
        parameters = {name: array for name, array in self._network.parameters()
                      if cfg.network.initialized or not name.startswith("ff_")}
        rates = {}
        for layer, eta in enumerate(cfg.training.eta):
            rates[f"eta_{layer}"] = eta * self.rate_scale
        if cfg.network.initialized:
            for layer, eta in enumerate(cfg.training.feedforward_rates):
                rates[f"eta_ff_{layer}"] = eta * self.rate_scale
        if cfg.dynamics.coupling > 0:
            for layer in range(len(cfg.training.eta)):
                rates[f"coupling_{layer}"] = cfg.dynamics.coupling
        return RunInputs(parameters=parameters, rates=rates, timed=timed)

    def _store(self, parameters):
        """Copy the parameters read back from Brian2 into the network."""
        net = self._network
        for name, array in net.parameters():
            if name in parameters:
                array[...] = parameters[name]

    # --- training -----------------------------------------------------------------------

    def train(self, x, y, signs):
        """Train on consecutive minibatches; see :meth:`Engine.train`."""
        batch_size = self.config.training.batch_size
        stats = TrainStats()
        for first in range(0, len(signs), self.batches_per_call):
            chunk_signs = np.asarray(signs[first:first + self.batches_per_call], dtype=float)
            lo, hi = first * batch_size, (first + len(chunk_signs)) * batch_size
            stats.add(self._train_chunk(np.asarray(x[lo:hi]), np.asarray(y[lo:hi]),
                                        chunk_signs))
        return stats

    def _train_chunk(self, x, y, signs):
        cfg = self.config
        n = len(x)
        beta = np.repeat(signs, cfg.training.batch_size) * cfg.training.beta

        def timed(size):
            # Row k of a "tick" array acts at the start of sample k, on the sample k - 1
            # that has just ended; padded samples are not learned.
            inv_beta = np.zeros(size + 1)
            inv_beta[1:n + 1] = 1.0 / beta
            learn = np.zeros(size + 1)
            learn[1:n + 1] = 1.0
            return {"x_values": _pad(x, size), "y_values": _pad(y, size),
                    "beta_values": _pad(beta, size), "inv_beta_values": inv_beta,
                    "learn_values": learn}

        outputs = self._run("train", n, timed)
        self._store(outputs.parameters)

        labels = np.argmax(y, axis=1)
        residual = self._residuals(outputs, n)
        stats = TrainStats(samples=n, residual_sum=float(np.sum(residual)),
                           residual_max=float(np.max(residual)))
        stats.correct_minus = int(np.sum(np.argmax(outputs.monitors["s_minus"][1:n + 1],
                                                   axis=1) == labels))
        if cfg.network.initialized:
            stats.correct_sf = int(np.sum(np.argmax(outputs.monitors["sf"][1:n + 1], axis=1)
                                          == labels))
        return stats

    def _residuals(self, outputs, n):
        """Return each sample's mean |ds/dt| over all neurons at the last negative step."""
        n_neurons = sum(self._network.layers[1:])
        return outputs.monitors["residual"][1:n + 1].sum(axis=1) / n_neurons

    # --- inference ----------------------------------------------------------------------

    def evaluate(self, x):
        """Predict with the feedforward pass and after settling; see :meth:`Engine.evaluate`."""
        x = np.asarray(x)
        outputs_sf, outputs_minus, residuals = [], [], []
        for lo in range(0, len(x), self.chunk_samples):
            chunk = x[lo:lo + self.chunk_samples]
            n = len(chunk)
            outputs = self._run("evaluate", n,
                                lambda size, chunk=chunk: {"x_values": _pad(chunk, size)})
            outputs_minus.append(outputs.monitors["s_minus"][1:n + 1])
            if self.config.network.initialized:
                outputs_sf.append(outputs.monitors["sf"][1:n + 1])
            residuals.append(self._residuals(outputs, n))
        output_sf = np.concatenate(outputs_sf) if outputs_sf else None
        return EvalResult(output_sf, np.concatenate(outputs_minus), np.concatenate(residuals))

    def record_sample(self, x, y, start="feedforward", beta=None):
        """Record both phases of one sample with Brian2 StateMonitors.

        Runs in runtime mode whatever the device; see :meth:`Engine.record_sample` for the
        returned dict. ``beta`` defaults to ``+training.beta``.
        """
        cfg = self.config
        if start not in ("feedforward", "zero"):
            raise ValueError(f"start = {start!r} is invalid: choose 'feedforward' or 'zero'.")
        beta = cfg.training.beta if beta is None else float(beta)
        x = np.asarray(x, self.dtype).reshape(1, -1)
        y = np.asarray(y, self.dtype).reshape(1, -1)
        timed = {"x_values": x, "y_values": y, "beta_values": np.array([beta])}
        outputs = self._run("record", 1, lambda size: timed, start=start)

        n_layers = len(self._network.layers) - 1
        states = [np.concatenate([outputs.monitors[f"s_{layer}"],
                                  outputs.final_states[f"layer_{layer}"][None]])
                  for layer in range(1, n_layers + 1)]
        steps_minus, steps_plus = cfg.dynamics.steps_minus, cfg.dynamics.steps_plus
        total = steps_minus + steps_plus
        beta_trace = np.zeros(total + 1)
        beta_trace[steps_minus + 1:] = beta
        dt = cfg.dynamics.dt
        ff_states = None
        if cfg.network.initialized:
            ff_states = [outputs.feedforward_states[f"ff_{layer}"]
                         for layer in range(1, n_layers + 1)]
        return {"t": np.arange(total + 1) * dt, "states": states, "beta": beta_trace,
                "t_boundary": steps_minus * dt, "ff_states": ff_states}


def _pad(values, rows):
    """Return ``values`` with zero rows appended up to ``rows`` rows."""
    values = np.asarray(values)
    if len(values) == rows:
        return values
    padded = np.zeros((rows,) + values.shape[1:], dtype=values.dtype)
    padded[:len(values)] = values
    return padded
