"""The engine interface that the training loop uses, and the statistics it returns."""

from dataclasses import dataclass, field

import numpy as np

__all__ = ["TrainStats", "EvalResult", "Engine"]


@dataclass
class TrainStats:
    """Counts accumulated while training on a stretch of minibatches.

    ``correct_sf`` and ``correct_minus`` count samples whose class was predicted right by
    the feedforward output and by the settled output ``s-``, before that minibatch's update.
    ``residual_sum`` sums, over samples, the mean ``|ds/dt|`` of the last negative-phase step.
    """

    samples: int = 0
    correct_sf: int = 0
    correct_minus: int = 0
    residual_sum: float = 0.0
    residual_max: float = 0.0

    def add(self, other):
        """Add the counts of ``other`` to these, in place, and return self."""
        self.samples += other.samples
        self.correct_sf += other.correct_sf
        self.correct_minus += other.correct_minus
        self.residual_sum += other.residual_sum
        self.residual_max = max(self.residual_max, other.residual_max)
        return self

    def as_dict(self):
        """Return the counts as a plain dict (for checkpoints)."""
        return {"samples": self.samples, "correct_sf": self.correct_sf,
                "correct_minus": self.correct_minus, "residual_sum": self.residual_sum,
                "residual_max": self.residual_max}


@dataclass
class EvalResult:
    """Predictions of a network on a data set.

    ``output_sf`` and ``output_minus`` are the output layer's states from the feedforward
    pass and after settling; ``output_sf`` is None for plain EP, which has no feedforward
    population. ``residual`` is each sample's mean ``|ds/dt|`` at the last step of the
    negative phase.
    """

    output_sf: np.ndarray | None
    output_minus: np.ndarray
    residual: np.ndarray = field(default_factory=lambda: np.zeros(0))

    def errors(self, labels):
        """Return the error rates ``(feedforward, settled)``; the first is NaN for plain EP."""
        if self.output_sf is None:
            error_sf = float("nan")
        else:
            error_sf = float(np.mean(np.argmax(self.output_sf, axis=1) != labels))
        error_minus = float(np.mean(np.argmax(self.output_minus, axis=1) != labels))
        return error_sf, error_minus


class Engine:
    """Interface of a simulation engine.

    An engine owns a :class:`~neurosim.network.Network` and a :class:`~neurosim.config.Config`.
    The training loop calls :meth:`train` on consecutive stretches of minibatches and reads
    the parameters back through :attr:`network`.
    """

    name = "engine"
    #: Number of minibatches the training loop should pass to one :meth:`train` call.
    batches_per_call = 1
    #: Factor on every learning rate (EP and feedforward); the training loop sets it per epoch.
    rate_scale = 1.0

    def train(self, x, y, signs):
        """Train on ``len(signs)`` consecutive minibatches of ``x`` and one-hot ``y``.

        ``signs[k]`` (+1 or -1) multiplies beta for minibatch ``k``. Returns :class:`TrainStats`.
        """
        raise NotImplementedError

    def evaluate(self, x):
        """Return :class:`EvalResult` for inputs ``x`` of shape ``(n, n_input)``."""
        raise NotImplementedError

    def record_sample(self, x, y, start="feedforward"):
        """Simulate one sample through both phases and record every neuron at every step.

        Parameters
        ----------
        x : ndarray, shape (n_input,)
        y : ndarray, shape (n_output,)
            One-hot target that the positive phase nudges toward.
        start : {"feedforward", "zero"}
            Start the negative phase from ``clip(s^f)`` or from zero.

        Returns
        -------
        dict
            ``t``: times in units of tau, shape ``(T + 1,)`` with
            ``T = steps_minus + steps_plus``; ``states``: one ``(T + 1, n_l)`` array per
            layer; ``beta``: the nudging strength in effect during the step that ends at
            each time, shape ``(T + 1,)`` (0 at index 0); ``t_boundary``: the end of the
            negative phase in tau; ``ff_states``: the feedforward states ``s^f``, one
            ``(n_l,)`` array per layer, or None for plain EP.
        """
        raise NotImplementedError

    @property
    def network(self):
        """The current parameters as a :class:`~neurosim.network.Network`."""
        raise NotImplementedError

    def close(self):
        """Release files and processes the engine holds."""
