"""The usual way to settle and train an EP network, as a baseline for the benchmarks.

Most published EP code takes one step of ``ds/dt = -dF/ds`` by recomputing every layer's
input from scratch: ``b_l + rho(s_{l-1}) W_l + rho(s_{l+1}) W_{l+1}^T`` with
``rho(s_0) = x``, so the input layer's product ``x W_1`` is computed again at every step
of both phases. The update of each weight matrix is the difference of two outer products,
one per phase. :class:`UsualEP` does exactly that with NumPy on whole minibatches (batch 1
is the one-sample-at-a-time variant). It implements the same equations as
:class:`~neurosim.engines.DenseEngine`, which the tests check, so the two can be timed on
the same work.
"""

import numpy as np

from ..dynamics import h, h_prime, rho, rho_prime

__all__ = ["UsualEP"]


class UsualEP:
    """Straightforward minibatch EP trainer with per-step recomputation of every input.

    Parameters
    ----------
    network : Network
        Copied and converted to ``config.training.dtype``.
    config : Config
    """

    def __init__(self, network, config):
        self.config = config
        self.dtype = np.dtype(config.training.dtype)
        self.network = network.astype(self.dtype)

    def step(self, states, x, beta=0.0, target=None, ff_states=None):
        """Return the states after one forward-Euler step of ``ds/dt = -dF/ds``."""
        net = self.network
        dyn = self.config.dynamics
        rates = [rho(s) for s in states]
        below = [x] + rates[:-1]
        new = []
        for layer, s in enumerate(states):
            drive = net.biases[layer] + below[layer] @ net.weights[layer]
            if layer + 1 < len(states):
                drive = drive + rates[layer + 1] @ net.weights[layer + 1].T
            grad = s - rho_prime(s) * drive
            if dyn.coupling:
                grad = grad - 2.0 * dyn.coupling * (ff_states[layer] - s)
            if beta and layer + 1 == len(states):
                grad = grad + beta * (s - target)
            new.append(rho(s - dyn.dt * grad))
        return new

    def feedforward(self, x):
        """Return pre-activations and states of the feedforward population."""
        net = self.network
        pre, states, below = [], [], x
        for phi, c in zip(net.ff_weights, net.ff_biases):
            u = below @ phi + c
            below = h(u)
            pre.append(u)
            states.append(below)
        return pre, states

    def train_batch(self, x, y, beta):
        """Run both phases on one minibatch and apply the EP and feedforward updates."""
        cfg = self.config
        net = self.network
        batch = x.shape[0]
        initialized = cfg.network.initialized
        pre = ff_states = None
        if initialized:
            pre, ff_states = self.feedforward(x)
            states = [rho(f) for f in ff_states]
        else:
            states = [np.zeros((batch, n), self.dtype) for n in net.layers[1:]]
        coupled = ff_states if cfg.dynamics.coupling else None

        for _ in range(cfg.dynamics.steps_minus):
            states = self.step(states, x, ff_states=coupled)
        s_minus = states
        for _ in range(cfg.dynamics.steps_plus):
            states = self.step(states, x, beta, y, ff_states=coupled)
        s_plus = states

        below_minus = [x] + [rho(s) for s in s_minus[:-1]]
        below_plus = [x] + [rho(s) for s in s_plus[:-1]]
        for layer, eta in enumerate(cfg.training.eta):
            scale = eta / (beta * batch)
            grad = below_plus[layer].T @ rho(s_plus[layer]) \
                - below_minus[layer].T @ rho(s_minus[layer])
            net.weights[layer] += scale * grad
            net.biases[layer] += scale * np.sum(rho(s_plus[layer]) - rho(s_minus[layer]), axis=0)
        if initialized:
            self._update_feedforward(x, pre, ff_states, s_minus)
        return s_minus

    def _update_feedforward(self, x, pre, ff_states, s_minus):
        tr = self.config.training
        net = self.network
        batch = x.shape[0]
        below = [x] + ff_states[:-1]
        deltas = [None] * len(pre)
        upstream = 0.0
        for layer in reversed(range(len(pre))):
            error = ff_states[layer] - s_minus[layer]
            if tr.feedforward_loss == "global":
                error = error + upstream
            deltas[layer] = error * h_prime(pre[layer])
            if layer:
                upstream = deltas[layer] @ net.ff_weights[layer].T
        for layer, rate in enumerate(tr.feedforward_rates):
            net.ff_weights[layer] -= (rate / batch) * (below[layer].T @ deltas[layer])
            net.ff_biases[layer] -= (rate / batch) * np.sum(deltas[layer], axis=0)

    def train(self, x, y, signs):
        """Train on consecutive minibatches, ``signs[k]`` multiplying beta for minibatch ``k``."""
        batch = self.config.training.batch_size
        x = np.asarray(x, self.dtype)
        y = np.asarray(y, self.dtype)
        for k, sign in enumerate(signs):
            lo = k * batch
            self.train_batch(x[lo:lo + batch], y[lo:lo + batch],
                             float(sign) * self.config.training.beta)
