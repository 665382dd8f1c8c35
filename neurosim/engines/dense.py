"""Dense engine: forward-Euler settling of whole minibatches with NumPy matrix products.

It integrates ``ds/dt = -dF/ds`` (see :mod:`neurosim.dynamics`) with step ``dt`` (units of
tau), updating every layer from the previous step's states and clipping to [0, 1] after
each step. Because states stay in [0, 1], ``rho(s) = s`` and ``rho'(s) = 1`` there, so one
step of layer ``l`` is::

    s_l <- clip(s_l + dt (-s_l + b_l + s_{l-1} W_l + s_{l+1} W_{l+1}^T
                          + 2 lambda (s^f_l - s_l) + [output] beta (y - s_l)), 0, 1)

The input drive ``x W_1`` and the constant currents are computed once per minibatch.
"""

import numpy as np

from ..learning import (
    ep_update,
    feedforward_pass,
    global_feedforward_update,
    local_feedforward_update,
)
from .base import Engine, EvalResult, TrainStats

__all__ = ["DenseEngine", "Trajectory"]


class Trajectory:
    """States of every layer at every step of a settling.

    ``states[l]`` has shape ``(steps + 1, batch, n_l)``; index 0 is the initial state.
    """

    def __init__(self, states):
        self.states = states

    @property
    def steps(self):
        """Number of integration steps recorded."""
        return self.states[0].shape[0] - 1


class DenseEngine(Engine):
    """Batched NumPy engine with the same equations as the Brian2 engine.

    Parameters
    ----------
    network : Network
        The parameters; converted to ``config.training.dtype`` and owned by the engine.
    config : Config
    """

    name = "dense"
    batches_per_call = 10

    def __init__(self, network, config):
        self.config = config
        self.dtype = np.dtype(config.training.dtype)
        self._network = network.astype(self.dtype)
        self.eval_batch_size = 1000

    @property
    def network(self):
        """The parameters the engine trains, as a :class:`~neurosim.network.Network`."""
        return self._network

    @network.setter
    def network(self, value):
        self._network = value.astype(self.dtype)

    # --- dynamics ---------------------------------------------------------------------

    def feedforward(self, x):
        """Return pre-activations and states of the feedforward population for inputs ``x``."""
        net = self._network
        return feedforward_pass(np.asarray(x, self.dtype), net.ff_weights, net.ff_biases)

    def initial_states(self, x, ff_states=None):
        """Return the states that start a negative phase: ``clip(s^f)`` or zeros."""
        if ff_states is not None and self.config.network.initialized:
            return [np.clip(f, 0.0, 1.0) for f in ff_states]
        batch = np.asarray(x).shape[0]
        return [np.zeros((batch, n), self.dtype) for n in self._network.layers[1:]]

    def settle(self, x, states, steps, beta=0.0, target=None, ff_states=None, record=False):
        """Integrate the dynamics for ``steps`` forward-Euler steps.

        Parameters
        ----------
        x : ndarray, shape (batch, n_0)
        states : list of ndarray
            Initial states, one ``(batch, n_l)`` array per layer; they are not modified.
        steps : int
        beta : float
            Nudging strength; 0 in the negative phase.
        target : ndarray, shape (batch, n_L), optional
            One-hot targets, needed when ``beta != 0``.
        ff_states : list of ndarray, optional
            Feedforward states ``s^f``, needed when the coupling lambda is non-zero.
        record : bool
            Also return the :class:`Trajectory`.

        Returns
        -------
        states : list of ndarray
        residual : ndarray, shape (batch,)
            Mean ``|ds/dt|`` over the neurons of each sample at the last step.
        trajectory : Trajectory
            Only when ``record`` is true.
        """
        net = self._network
        dt = self.config.dynamics.dt
        coupling = self.config.dynamics.coupling
        x = np.asarray(x, self.dtype)
        n_layers = len(states)
        current = [np.clip(np.array(s, dtype=self.dtype), 0.0, 1.0) for s in states]

        # Currents that do not change during the phase: bias, input drive, coupling, nudging.
        constant = [np.broadcast_to(b, s.shape).copy() for b, s in zip(net.biases, current)]
        constant[0] += x @ net.weights[0]
        decay = [1.0] * n_layers
        if coupling:
            for layer in range(n_layers):
                constant[layer] += 2.0 * coupling * ff_states[layer]
                decay[layer] += 2.0 * coupling
        if beta:
            constant[-1] += beta * np.asarray(target, self.dtype)
            decay[-1] += beta

        history = [[s.copy()] for s in current] if record else None
        previous = [np.empty_like(s) for s in current]
        for _ in range(steps):
            current, previous = previous, current
            for layer in range(n_layers):
                drive = constant[layer].copy()
                if layer > 0:
                    drive += previous[layer - 1] @ net.weights[layer]
                if layer + 1 < n_layers:
                    drive += previous[layer + 1] @ net.weights[layer + 1].T
                out = current[layer]
                np.multiply(previous[layer], 1.0 - dt * decay[layer], out=out)
                out += dt * drive
                np.clip(out, 0.0, 1.0, out=out)
            if record:
                for layer in range(n_layers):
                    history[layer].append(current[layer].copy())

        residual = self._residual(current, previous, steps, dt)
        if record:
            return current, residual, Trajectory([np.stack(h) for h in history])
        return current, residual

    @staticmethod
    def _residual(current, previous, steps, dt):
        if steps == 0:
            return np.full(current[0].shape[0], np.nan)
        total = sum(np.abs(c - p).sum(axis=1) for c, p in zip(current, previous))
        n_neurons = sum(c.shape[1] for c in current)
        return total / (n_neurons * dt)

    def negative_phase(self, x, ff_states=None, record=False):
        """Settle with the input clamped and no nudging, from ``clip(s^f)`` or from zero."""
        init = self.initial_states(x, ff_states)
        return self.settle(x, init, self.config.dynamics.steps_minus, ff_states=ff_states,
                           record=record)

    # --- training ---------------------------------------------------------------------

    def train(self, x, y, signs):
        """Train on consecutive minibatches; see :meth:`Engine.train`."""
        batch_size = self.config.training.batch_size
        stats = TrainStats()
        for k, sign in enumerate(signs):
            lo = k * batch_size
            stats.add(self.train_batch(x[lo:lo + batch_size], y[lo:lo + batch_size],
                                       sign * self.config.training.beta))
        return stats

    def train_batch(self, x, y, beta):
        """Run both phases on one minibatch and apply the EP and feedforward updates."""
        cfg = self.config
        net = self._network
        x = np.asarray(x, self.dtype)
        y = np.asarray(y, self.dtype)
        coupling = cfg.dynamics.coupling

        pre = ff_states = None
        if cfg.network.initialized:
            pre, ff_states = self.feedforward(x)
        s_minus, residual = self.negative_phase(x, ff_states)
        s_plus, _ = self.settle(x, s_minus, cfg.dynamics.steps_plus, beta=beta, target=y,
                                ff_states=ff_states if coupling else None)

        dw, db = ep_update(x, s_minus, s_plus, beta, cfg.training.eta)
        for param, delta in zip(net.weights + net.biases, dw + db):
            param += delta.astype(self.dtype, copy=False)
        if cfg.network.initialized:
            self._update_feedforward(x, pre, ff_states, s_minus)

        labels = np.argmax(y, axis=1)
        stats = TrainStats(samples=x.shape[0],
                           correct_minus=int(np.sum(np.argmax(s_minus[-1], axis=1) == labels)),
                           residual_sum=float(np.sum(residual)),
                           residual_max=float(np.max(residual)))
        if ff_states is not None:
            stats.correct_sf = int(np.sum(np.argmax(ff_states[-1], axis=1) == labels))
        return stats

    def _update_feedforward(self, x, pre, ff_states, s_minus):
        cfg = self.config.training
        net = self._network
        if cfg.feedforward_loss == "local":
            dphi, dc = local_feedforward_update(x, pre, ff_states, s_minus, cfg.feedforward_rates)
        else:
            dphi, dc = global_feedforward_update(x, pre, ff_states, s_minus, net.ff_weights,
                                                 cfg.feedforward_rates)
        for param, delta in zip(net.ff_weights + net.ff_biases, dphi + dc):
            param += delta.astype(self.dtype, copy=False)

    def record_sample(self, x, y, start="feedforward", beta=None):
        """Record both phases of one sample; see :meth:`Engine.record_sample`.

        ``beta`` defaults to ``+training.beta``.
        """
        cfg = self.config
        if start not in ("feedforward", "zero"):
            raise ValueError(f"start = {start!r} is invalid: choose 'feedforward' or 'zero'.")
        beta = cfg.training.beta if beta is None else beta
        x = np.asarray(x, self.dtype).reshape(1, -1)
        y = np.asarray(y, self.dtype).reshape(1, -1)
        ff_states = self.feedforward(x)[1] if cfg.network.initialized else None
        if start == "feedforward" and ff_states is not None:
            init = [np.clip(f, 0.0, 1.0) for f in ff_states]
        else:
            init = [np.zeros((1, n), self.dtype) for n in self._network.layers[1:]]
        coupled = ff_states if cfg.dynamics.coupling else None
        steps_minus, steps_plus = cfg.dynamics.steps_minus, cfg.dynamics.steps_plus
        s_minus, _, first = self.settle(x, init, steps_minus, ff_states=coupled, record=True)
        _, _, second = self.settle(x, s_minus, steps_plus, beta=beta, target=y,
                                   ff_states=coupled, record=True)
        states = [np.concatenate([a[:, 0], b[1:, 0]]) for a, b in zip(first.states, second.states)]
        total = steps_minus + steps_plus
        beta_trace = np.zeros(total + 1)
        beta_trace[steps_minus + 1:] = beta
        dt = cfg.dynamics.dt
        return {
            "t": np.arange(total + 1) * dt,
            "states": states,
            "beta": beta_trace,
            "t_boundary": steps_minus * dt,
            "ff_states": [f[0] for f in ff_states] if ff_states is not None else None,
        }

    # --- inference --------------------------------------------------------------------

    def evaluate(self, x):
        """Predict with the feedforward pass and after settling; see :meth:`Engine.evaluate`."""
        outputs_sf, outputs_minus, residuals = [], [], []
        for lo in range(0, len(x), self.eval_batch_size):
            xb = np.asarray(x[lo:lo + self.eval_batch_size], self.dtype)
            ff_states = None
            if self.config.network.initialized:
                _, ff_states = self.feedforward(xb)
            s_minus, residual = self.negative_phase(xb, ff_states)
            outputs_minus.append(s_minus[-1])
            if ff_states is not None:
                outputs_sf.append(ff_states[-1])
            residuals.append(residual)
        output_sf = np.concatenate(outputs_sf) if outputs_sf else None
        return EvalResult(output_sf, np.concatenate(outputs_minus), np.concatenate(residuals))
