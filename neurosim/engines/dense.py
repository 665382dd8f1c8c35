"""Dense engine: forward-Euler settling of whole minibatches with NumPy and BLAS.

It integrates ``ds/dt = -dF/ds`` (see :mod:`neurosim.dynamics`) with step ``dt`` (units of
tau), updating every layer from the previous step's states and clipping to [0, 1] after
each step. Because states stay in [0, 1], ``rho(s) = s`` and ``rho'(s) = 1`` there, so one
step of layer ``l`` is::

    s_l <- clip(s_l + dt (-s_l + b_l + s_{l-1} W_l + s_{l+1} W_{l+1}^T
                          + 2 lambda (s^f_l - s_l) + [output] beta (y - s_l)), 0, 1)

How it is made fast (measurements in docs/benchmarks.md):

* The input drive ``x W_1`` does not change while a minibatch is presented, so it is
  computed once and shared by the negative and the positive phase. With Initialized EP the
  first feedforward pre-activation ``x Phi_1`` multiplies the same ``x``, so ``W_1^T`` and
  ``Phi_1^T`` are stored as the rows of one ``(2 n_1, n_0)`` array and one product gives
  both. In that layout (one row per neuron) BLAS computes the product fastest, most of all
  for small minibatches.
* The updates of ``W_1`` and ``Phi_1`` are one product ``[dW_1 | dPhi_1]^T x`` that BLAS
  ``gemm`` adds to the weights in place (:mod:`neurosim.engines.blas`), with no temporary
  of the weights' size.
* Each settling step writes preallocated buffers, and its products add into them through
  ``gemm`` too.

The arithmetic is that of the plain formulation (:func:`neurosim.learning.ep_update` and
the feedforward rules) with additions in another order, so the results agree with a
straightforward per-sample implementation to round-off.
"""

import numpy as np

from ..dynamics import h, h_prime
from ..learning import feedforward_pass
from .base import Engine, EvalResult, TrainStats
from .blas import blas_function, clip_ufunc, gemm_into

__all__ = ["DenseEngine", "Trajectory"]

#: Workspaces (buffers for one minibatch size) kept at once: training, evaluation and a rest.
_MAX_WORKSPACES = 4


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


class _Workspace:
    """Preallocated arrays for minibatches of one size."""

    def __init__(self, sizes, batch, dtype, n_first):
        def new(n):
            return np.empty((batch, n), dtype)

        self.first = np.empty((n_first, batch), dtype)  # (x [W_1 | Phi_1])^T, or (x W_1)^T
        self.update_first = new(n_first)  # [dW_1 | dPhi_1] before multiplying by x^T
        self.start = [new(n) for n in sizes]
        self.constant = [new(n) for n in sizes]
        self.constant_plus = new(sizes[-1])
        self.minus = ([new(n) for n in sizes], [new(n) for n in sizes])
        self.plus = ([new(n) for n in sizes], [new(n) for n in sizes])


class _Parameters:
    """The engine's parameter arrays, checked for dtype and layout, and views of them."""

    def __init__(self, network, first):
        self.first = first
        self.weights = network.weights
        self.weights_t = [w.T for w in network.weights]
        self.biases = network.biases
        self.ff_weights = network.ff_weights
        self.ff_biases = network.ff_biases


class DenseEngine(Engine):
    """Batched NumPy engine with the same equations as the Brian2 engine.

    Parameters
    ----------
    network : Network
        The parameters; converted to ``config.training.dtype`` and owned by the engine.
    config : Config

    Notes
    -----
    With Initialized EP, ``network.weights[0]`` and ``network.ff_weights[0]`` are views into
    one array. Changing them in place, or replacing them in the lists, both work: the
    engine notices a replaced array at its next call.
    """

    name = "dense"
    batches_per_call = 10

    def __init__(self, network, config):
        self.config = config
        self.dtype = np.dtype(config.training.dtype)
        self.eval_batch_size = 1000
        self._gemm = blas_function("gemm", self.dtype)
        self._gemv = blas_function("gemv", self.dtype)
        self._workspaces = {}
        self.network = network

    @property
    def network(self):
        """The parameters the engine trains, as a :class:`~neurosim.network.Network`."""
        return self._network

    @network.setter
    def network(self, value):
        self._network = value.astype(self.dtype)
        self._pack()

    # --- parameter layout -------------------------------------------------------------

    def _pack(self):
        """Store ``W_1^T`` (and ``Phi_1^T``, Initialized EP) as rows of one C-ordered array.

        Each row contains one neuron's incoming weights, the layout in which BLAS computes the
        products with the input fastest, and ``weights[0]`` (``ff_weights[0]``) become
        transposed views of it.
        """
        net = self._network
        n_input, n_first = net.layers[0], net.layers[1]
        rows = 2 * n_first if self.config.network.initialized else n_first
        packed = np.empty((rows, n_input), self.dtype)
        packed[:n_first] = net.weights[0].T
        net.weights[0] = packed[:n_first].T
        if self.config.network.initialized:
            packed[n_first:] = net.ff_weights[0].T
            net.ff_weights[0] = packed[n_first:].T
        self._packed = packed
        self._views = (net.weights[0], net.ff_weights[0])

    def _parameters(self):
        """Return the parameters, re-packing or converting arrays that were replaced."""
        net = self._network
        if net.weights[0] is not self._views[0] or net.ff_weights[0] is not self._views[1]:
            self._pack()
        ff_start = 1 if self.config.network.initialized else 0
        for group, start in ((net.weights, 1), (net.ff_weights, ff_start), (net.biases, 0),
                             (net.ff_biases, 0)):
            for i in range(start, len(group)):
                array = group[i]
                if array.dtype != self.dtype or not array.flags.c_contiguous:
                    group[i] = np.ascontiguousarray(array, self.dtype)
        self._views = (net.weights[0], net.ff_weights[0])
        return _Parameters(net, self._packed)

    def _workspace(self, batch):
        ws = self._workspaces.get(batch)
        if ws is None:
            if len(self._workspaces) >= _MAX_WORKSPACES:
                self._workspaces.pop(next(iter(self._workspaces)))
            sizes = self._network.layers[1:]
            ws = self._workspaces[batch] = _Workspace(sizes, batch, self.dtype,
                                                      self._packed.shape[0])
        return ws

    def _as_batch(self, x):
        return np.ascontiguousarray(x, self.dtype)

    # --- dynamics ---------------------------------------------------------------------

    def feedforward(self, x):
        """Return pre-activations and states of the feedforward population for inputs ``x``."""
        net = self._parameters()
        return feedforward_pass(self._as_batch(x), net.ff_weights, net.ff_biases)

    def initial_states(self, x, ff_states=None):
        """Return the states that start a negative phase: ``clip(s^f)`` or zeros."""
        if ff_states is not None and self.config.network.initialized:
            return [np.clip(f, 0.0, 1.0) for f in ff_states]
        batch = np.asarray(x).shape[0]
        return [np.zeros((batch, n), self.dtype) for n in self._network.layers[1:]]

    def _constant_currents(self, input_drive, biases, ff_states, out):
        """Fill ``out`` with the currents that stay fixed during a phase; return the decay.

        The currents are ``b_l``, the input drive ``x W_1`` (first layer) and the coupling
        ``2 lambda s^f_l``; the decay rate of every state is ``1 + 2 lambda``.
        """
        coupling = self.config.dynamics.coupling
        decay = 1.0
        np.add(input_drive, biases[0], out=out[0])
        for layer in range(1, len(out)):
            np.copyto(out[layer], biases[layer])
        if coupling:
            if ff_states is None:
                raise ValueError("dynamics.coupling > 0 needs the feedforward states: pass "
                                 "ff_states (the second value of feedforward(x)).")
            for layer, current in enumerate(out):
                current += 2.0 * coupling * ff_states[layer]
            decay += 2.0 * coupling
        return decay

    def _integrate(self, params, start, steps, constant, keep, buffers, history=None):
        """Take ``steps`` Euler steps from ``start`` (left unchanged) into ``buffers``.

        ``constant[l]`` is ``dt`` times the layer's fixed current and ``keep[l]`` is
        ``1 - dt * decay``, so that a step is ``s_l <- clip(keep s_l + constant_l
        + dt (s_{l-1} W_l + s_{l+1} W_{l+1}^T))``. Returns the last state and the one before.
        """
        dt = self.config.dynamics.dt
        gemm, gemv = self._gemm, self._gemv
        weights_t = params.weights_t
        n_layers = len(start)
        single = start[0].shape[0] == 1  # one sample: matrix-vector products
        last, before = start, start
        for step in range(steps):
            current = buffers[step & 1]
            for layer in range(n_layers):
                out = current[layer]
                np.multiply(last[layer], keep[layer], out=out)
                out += constant[layer]
                # gemm_into(out, last, W, dt) without its checks, which would cost as much
                # as these small products: in column-major terms out^T += dt W^T last^T.
                if layer and single:
                    gemv(dt, weights_t[layer], last[layer - 1][0], 1.0, out[0], 0, 1, 0, 1, 0, 1)
                elif layer:
                    gemm(dt, weights_t[layer], last[layer - 1].T, 1.0, out.T, 0, 0, 1)
                if layer + 1 < n_layers and single:
                    gemv(dt, weights_t[layer + 1], last[layer + 1][0], 1.0, out[0], 0, 1, 0, 1,
                         1, 1)
                elif layer + 1 < n_layers:
                    gemm(dt, weights_t[layer + 1], last[layer + 1].T, 1.0, out.T, 1, 0, 1)
                clip_ufunc(out, 0.0, 1.0, out=out)
            before, last = last, current
            if history is not None:
                for layer, states in enumerate(history):
                    states.append(current[layer].copy())
        return last, before

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
        params = self._parameters()
        dt = self.config.dynamics.dt
        x = self._as_batch(x)
        start = [np.clip(np.array(s, dtype=self.dtype), 0.0, 1.0) for s in states]
        sizes = [s.shape for s in start]

        constant = [np.empty(shape, self.dtype) for shape in sizes]
        decay = self._constant_currents(x @ params.weights[0], params.biases, ff_states, constant)
        keep = [1.0 - dt * decay] * len(start)
        if beta:
            constant[-1] += beta * self._as_batch(target)
            keep[-1] = 1.0 - dt * (decay + beta)
        for current in constant:
            current *= dt

        buffers = tuple([np.empty(shape, self.dtype) for shape in sizes] for _ in range(2))
        history = [[s.copy()] for s in start] if record else None
        last, before = self._integrate(params, start, steps, constant, keep, buffers, history)
        residual = self._residual(last, before, steps, dt)
        if record:
            return last, residual, Trajectory([np.stack(h) for h in history])
        return last, residual

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

    def _negative(self, params, ws, x):
        """Run the feedforward pass and the negative phase of a minibatch in ``ws``.

        Returns ``(pre, ff_states, s_minus, residual, decay)``; ``ws.constant`` is left
        holding ``dt`` times the fixed currents of the phase.
        """
        dyn = self.config.dynamics
        n_first = self._network.layers[1]
        # ws.first = [W_1 | Phi_1]^T x^T (or W_1^T x^T), one product for both populations.
        gemm_into(ws.first, params.first, x.T, beta=0.0)
        pre = ff_states = None
        if self.config.network.initialized:
            pre, ff_states = self._feedforward_rest(params, ws.first[n_first:].T)
            for f, s in zip(ff_states, ws.start):
                clip_ufunc(f, 0.0, 1.0, out=s)
        else:
            for s in ws.start:
                s.fill(0.0)

        decay = self._constant_currents(ws.first[:n_first].T, params.biases, ff_states,
                                        ws.constant)
        for current in ws.constant:
            current *= dyn.dt
        keep = [1.0 - dyn.dt * decay] * len(ws.start)
        s_minus, before = self._integrate(params, ws.start, dyn.steps_minus, ws.constant, keep,
                                          ws.minus)
        return pre, ff_states, s_minus, self._residual(s_minus, before, dyn.steps_minus, dyn.dt), \
            decay

    @staticmethod
    def _feedforward_rest(params, first_product):
        """Finish the feedforward pass from ``x Phi_1``: return pre-activations and states."""
        u = first_product + params.ff_biases[0]
        pre, states = [u], [h(u)]
        for phi, c in zip(params.ff_weights[1:], params.ff_biases[1:]):
            u = states[-1] @ phi + c
            pre.append(u)
            states.append(h(u))
        return pre, states

    # --- training ---------------------------------------------------------------------

    def train(self, x, y, signs):
        """Train on consecutive minibatches; see :meth:`Engine.train`."""
        batch_size = self.config.training.batch_size
        beta = float(self.config.training.beta)
        x, y = self._as_batch(x), self._as_batch(y)
        params = self._parameters()
        stats = TrainStats()
        for k, sign in enumerate(signs):
            lo = k * batch_size
            stats.add(self._train_minibatch(params, x[lo:lo + batch_size], y[lo:lo + batch_size],
                                            float(sign) * beta))
        return stats

    def train_batch(self, x, y, beta):
        """Run both phases on one minibatch and apply the EP and feedforward updates."""
        return self._train_minibatch(self._parameters(), self._as_batch(x), self._as_batch(y),
                                     float(beta))

    def _train_minibatch(self, params, x, y, beta):
        dyn = self.config.dynamics
        ws = self._workspace(x.shape[0])
        pre, ff_states, s_minus, residual, decay = self._negative(params, ws, x)

        # The positive phase adds the nudging current beta (y - s_L) to the output layer.
        constant = list(ws.constant)
        constant[-1] = ws.constant_plus
        np.multiply(y, dyn.dt * beta, out=ws.constant_plus)
        ws.constant_plus += ws.constant[-1]
        keep = [1.0 - dyn.dt * decay] * len(constant)
        keep[-1] = 1.0 - dyn.dt * (decay + beta)
        s_plus, _ = self._integrate(params, s_minus, dyn.steps_plus, constant, keep, ws.plus)

        labels = np.argmax(y, axis=1)
        stats = TrainStats(samples=x.shape[0],
                           correct_minus=int(np.sum(np.argmax(s_minus[-1], axis=1) == labels)),
                           residual_sum=float(np.sum(residual)),
                           residual_max=float(np.max(residual)))
        if ff_states is not None:
            stats.correct_sf = int(np.sum(np.argmax(ff_states[-1], axis=1) == labels))

        deltas = self._feedforward_deltas(params, pre, ff_states, s_minus) if pre else None
        self._apply_updates(params, ws, x, s_minus, s_plus, beta, ff_states, deltas)
        return stats

    def _feedforward_deltas(self, params, pre, ff_states, s_minus):
        """Return ``delta_l = dLoss/du_l`` of each feedforward layer (local or global loss).

        The global variant backpropagates through the current ``Phi``, so the deltas are all
        computed before any parameter changes.
        """
        if self.config.training.feedforward_loss == "local":
            return [(f - s) * h_prime(u) for f, s, u in zip(ff_states, s_minus, pre)]
        deltas = [None] * len(pre)
        upstream = None
        for layer in reversed(range(len(pre))):
            error = ff_states[layer] - s_minus[layer]
            if upstream is not None:
                error += upstream
            deltas[layer] = error * h_prime(pre[layer])
            if layer:
                upstream = deltas[layer] @ params.ff_weights[layer].T
        return deltas

    def _apply_updates(self, params, ws, x, s_minus, s_plus, beta, ff_states, deltas):
        """Add the EP update and the feedforward update to the parameters, in place.

        EP (see :func:`neurosim.learning.ep_update`), with ``rho(s) = s`` on settled states::

            W_1 += (eta_1 / (beta B)) x^T (s+_1 - s-_1)
            W_l += (eta_l / (beta B)) (s+_{l-1}^T s+_l - s-_{l-1}^T s-_l)

        and the feedforward delta rule ``Phi_l += -(eta_f,l / B) s^f_{l-1}^T delta_l``.
        """
        tr = self.config.training
        batch = x.shape[0]
        n_first = self._network.layers[1]
        eta = [rate * self.rate_scale for rate in tr.eta]
        eta_ff = [rate * self.rate_scale for rate in tr.feedforward_rates]

        # First layer: one product [dW_1 | dPhi_1]^T x added to [W_1 | Phi_1]^T.
        scale = eta[0] / (beta * batch)
        d_first = ws.update_first
        d_w = d_first[:, :n_first]
        np.subtract(s_plus[0], s_minus[0], out=d_w)
        d_w *= scale
        params.biases[0] += d_w.sum(axis=0)
        if deltas is not None:
            d_phi = d_first[:, n_first:]
            np.multiply(deltas[0], -eta_ff[0] / batch, out=d_phi)
            params.ff_biases[0] += d_phi.sum(axis=0)
        gemm_into(params.first, d_first.T, x)

        for layer in range(1, len(eta)):
            scale = eta[layer] / (beta * batch)
            weights = params.weights[layer]
            gemm_into(weights, s_plus[layer - 1].T, s_plus[layer], alpha=scale)
            gemm_into(weights, s_minus[layer - 1].T, s_minus[layer], alpha=-scale)
            params.biases[layer] += scale * (s_plus[layer].sum(axis=0) - s_minus[layer].sum(axis=0))
        if deltas is None:
            return
        for layer in range(1, len(deltas)):
            rate = -eta_ff[layer] / batch
            gemm_into(params.ff_weights[layer], ff_states[layer - 1].T, deltas[layer], alpha=rate)
            params.ff_biases[layer] += rate * deltas[layer].sum(axis=0)

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
        params = self._parameters()
        outputs_sf, outputs_minus, residuals = [], [], []
        for lo in range(0, len(x), self.eval_batch_size):
            xb = self._as_batch(x[lo:lo + self.eval_batch_size])
            ws = self._workspace(xb.shape[0])
            _, ff_states, s_minus, residual, _ = self._negative(params, ws, xb)
            outputs_minus.append(s_minus[-1].copy())
            if ff_states is not None:
                outputs_sf.append(ff_states[-1])
            residuals.append(residual)
        output_sf = np.concatenate(outputs_sf) if outputs_sf else None
        return EvalResult(output_sf, np.concatenate(outputs_minus), np.concatenate(residuals))
