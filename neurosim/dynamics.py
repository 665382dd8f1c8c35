"""Activation functions, the energy of the network and its gradient.

Notation (O'Connor, Gavves and Welling, "Initialized Equilibrium Propagation for
Backprop-Free Training", ICLR 2019):

* ``x`` is the clamped input, layer 0. It is not a state.
* ``s[l]`` for ``l = 1..L`` are the states of the non-input layers; ``s[-1]`` is the output.
* ``W[l]`` couples layer ``l`` (rows) to layer ``l + 1`` (columns), so ``W[0]`` has shape
  ``(n_input, n_1)``. ``b[l]`` is the bias of layer ``l + 1``.
* ``rho(u) = clip(u, 0, 1)`` is the firing rate and ``rho'(u)`` is 1 on [0, 1], else 0.
* ``h(u) = rho(u) + 0.01 u`` is the activation of the feedforward population.

The energy of the equilibrating network is::

    E(s, x) = 1/2 sum_i s_i^2 - sum_i b_i rho(s_i)
              - x^T W_1 rho(s_1) - sum_{l>=2} rho(s_{l-1})^T W_l rho(s_l)

The positive phase adds ``beta * C`` with the cost ``C = 1/2 ||s_L - y||^2``, so the output
neurons receive the nudging current ``beta (y - s_L)``. The optional coupling to the
feedforward states ``s^f`` adds ``lambda * sum_j (s^f_j - s_j)^2`` and so the current
``2 lambda (s^f_j - s_j)`` on every neuron. All functions here accept one sample (1-D
arrays) or a minibatch (2-D arrays with samples in rows).
"""

import numpy as np

__all__ = [
    "LEAK_SLOPE",
    "rho",
    "rho_prime",
    "h",
    "h_prime",
    "energy",
    "cost",
    "total_energy",
    "energy_gradient",
    "coupling_energy",
]

#: Slope of the feedforward activation ``h`` outside [0, 1], so that its gradient never vanishes.
LEAK_SLOPE = 0.01


def rho(u):
    """Return the firing rate ``clip(u, 0, 1)``."""
    return np.clip(u, 0.0, 1.0)


def rho_prime(u):
    """Return the derivative of :func:`rho`: 1 where ``0 <= u <= 1``, else 0.

    The closed interval keeps the gradient at the clip bounds, where settled states sit.
    """
    u = np.asarray(u)
    return ((u >= 0.0) & (u <= 1.0)).astype(u.dtype if u.dtype.kind == "f" else float)


def h(u):
    """Return the feedforward activation ``rho(u) + 0.01 u``."""
    return np.clip(u, 0.0, 1.0) + LEAK_SLOPE * u


def h_prime(u):
    """Return the derivative of :func:`h`: ``rho'(u) + 0.01``."""
    return rho_prime(u) + LEAK_SLOPE


def _bilinear(a, W, c):
    """Return ``a^T W c`` per sample (a scalar for 1-D inputs, a vector for batches)."""
    return np.sum((a @ W) * c, axis=-1)


def energy(states, x, weights, biases):
    """Compute the Hopfield energy ``E(s, x)`` of the equilibrating network.

    Parameters
    ----------
    states : list of ndarray
        States ``s_1 .. s_L``, each of shape ``(n_l,)`` or ``(batch, n_l)``.
    x : ndarray
        Clamped input, shape ``(n_0,)`` or ``(batch, n_0)``.
    weights, biases : list of ndarray
        ``W_1 .. W_L`` with shapes ``(n_{l-1}, n_l)`` and ``b_1 .. b_L``.

    Returns
    -------
    float or ndarray
        The energy, one value per sample for batched input.
    """
    rates = [rho(s) for s in states]
    value = sum(0.5 * np.sum(s * s, axis=-1) for s in states)
    value = value - sum(np.sum(r * b, axis=-1) for r, b in zip(rates, biases))
    below = x
    for r, W in zip(rates, weights):
        value = value - _bilinear(below, W, r)
        below = r
    return value


def cost(output, target):
    """Return the cost ``C = 1/2 ||s_L - y||^2`` per sample."""
    diff = output - target
    return 0.5 * np.sum(diff * diff, axis=-1)


def coupling_energy(states, feedforward_states, coupling):
    """Return ``lambda * sum_j (s^f_j - s_j)^2`` per sample, summed over the layers."""
    return coupling * sum(np.sum((f - s) ** 2, axis=-1) for s, f in zip(states, feedforward_states))


def total_energy(states, x, weights, biases, beta=0.0, target=None, coupling=0.0,
                 feedforward_states=None):
    """Return ``E + beta C + lambda sum (s^f - s)^2``, the function the dynamics descend."""
    value = energy(states, x, weights, biases)
    if beta != 0.0:
        value = value + beta * cost(states[-1], target)
    if coupling != 0.0:
        value = value + coupling_energy(states, feedforward_states, coupling)
    return value


def energy_gradient(states, x, weights, biases, beta=0.0, target=None, coupling=0.0,
                    feedforward_states=None):
    """Compute ``dF/ds`` of :func:`total_energy` for every layer.

    The dynamics of the network are ``ds/dt = -dF/ds`` with time in units of the membrane
    time constant tau. For neuron ``j`` of layer ``l``::

        dE/ds_j = s_j - rho'(s_j) (b_j + [W_l^T rho(s_{l-1})]_j + [W_{l+1} rho(s_{l+1})]_j)

    Returns
    -------
    list of ndarray
        One gradient per layer, shaped like ``states``.
    """
    rates = [rho(s) for s in states]
    below = [x] + rates[:-1]
    gradients = []
    for layer, s in enumerate(states):
        drive = biases[layer] + below[layer] @ weights[layer]
        if layer + 1 < len(states):
            drive = drive + rates[layer + 1] @ weights[layer + 1].T
        grad = s - rho_prime(s) * drive
        if coupling != 0.0:
            grad = grad - 2.0 * coupling * (feedforward_states[layer] - s)
        gradients.append(grad)
    if beta != 0.0:
        gradients[-1] = gradients[-1] + beta * (states[-1] - target)
    return gradients
