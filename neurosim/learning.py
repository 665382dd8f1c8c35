"""Local learning rules: the EP update and the feedforward population's delta rule.

The functions take minibatches (samples in rows) and return the mean of the per-sample
updates, computed with the parameters frozen, as increments to add to the parameters.
"""

import numpy as np

from .dynamics import h, h_prime, rho

__all__ = [
    "ep_update",
    "feedforward_pass",
    "local_feedforward_update",
    "global_feedforward_update",
    "feedforward_loss",
]


def ep_update(x, s_minus, s_plus, beta, rates):
    """Compute the Equilibrium Propagation update of every weight matrix and bias.

    For the matrix ``W_l`` between layers ``l-1`` and ``l``::

        dW_l = (eta_l / beta) (rho(s+_{l-1}) rho(s+_l)^T - rho(s-_{l-1}) rho(s-_l)^T)
        db_l = (eta_l / beta) (rho(s+_l) - rho(s-_l))

    with ``rho(s_0) = x`` in both phases, averaged over the minibatch.

    Parameters
    ----------
    x : ndarray, shape (batch, n_0)
    s_minus, s_plus : list of ndarray
        Settled states of the negative and positive phase, one ``(batch, n_l)`` array per layer.
    beta : float
        The signed nudging strength used in the positive phase.
    rates : sequence of float
        ``eta_l`` per weight matrix.

    Returns
    -------
    (list of ndarray, list of ndarray)
        Increments of the weights and of the biases.
    """
    batch = x.shape[0]
    r_minus = [rho(s) for s in s_minus]
    r_plus = [rho(s) for s in s_plus]
    dw, db = [], []
    for layer, eta in enumerate(rates):
        scale = eta / (beta * batch)
        if layer == 0:
            # The input is clamped, so both phases share it: x^T (s+ - s-).
            grad = x.T @ (r_plus[0] - r_minus[0])
        else:
            grad = r_plus[layer - 1].T @ r_plus[layer] - r_minus[layer - 1].T @ r_minus[layer]
        dw.append(scale * grad)
        db.append(scale * np.sum(r_plus[layer] - r_minus[layer], axis=0))
    return dw, db


def feedforward_pass(x, ff_weights, ff_biases):
    """Run the feedforward population ``s^f_l = h(Phi_l^T s^f_{l-1} + c_l)``.

    Returns
    -------
    (list of ndarray, list of ndarray)
        Pre-activations ``u_l`` and states ``s^f_l`` of every non-input layer.
    """
    pre, states = [], []
    below = x
    for phi, c in zip(ff_weights, ff_biases):
        u = below @ phi + c
        below = h(u)
        pre.append(u)
        states.append(below)
    return pre, states


def feedforward_loss(ff_states, s_minus):
    """Return the local losses ``1/2 ||s^f_l - s-_l||^2``, averaged over the minibatch."""
    return [0.5 * float(np.mean(np.sum((f - s) ** 2, axis=-1))) for f, s in zip(ff_states, s_minus)]


def local_feedforward_update(x, pre, ff_states, s_minus, rates):
    """Compute the delta rule of each feedforward layer toward its own target ``s-_l``.

    Each layer descends its own loss ``1/2 ||s^f_l - s-_l||^2`` with respect to its own
    parameters, with its input ``s^f_{l-1}`` held constant, so no error crosses layers::

        dPhi_l = -eta_l s^f_{l-1} delta_l^T,   delta_l = (s^f_l - s-_l) h'(u_l)

    Returns
    -------
    (list of ndarray, list of ndarray)
        Increments of ``Phi_l`` and ``c_l``, averaged over the minibatch.
    """
    batch = x.shape[0]
    below = [x] + list(ff_states[:-1])
    dphi, dc = [], []
    for layer, eta in enumerate(rates):
        delta = (ff_states[layer] - s_minus[layer]) * h_prime(pre[layer])
        dphi.append((-eta / batch) * (below[layer].T @ delta))
        dc.append((-eta / batch) * np.sum(delta, axis=0))
    return dphi, dc


def global_feedforward_update(x, pre, ff_states, s_minus, ff_weights, rates):
    """Compute the gradient step of the summed loss ``sum_l 1/2 ||s^f_l - s-_l||^2``.

    Unlike :func:`local_feedforward_update`, the error of every layer is backpropagated
    through the feedforward pass to all earlier layers. It serves as a comparison with the
    local rule; ``rates`` scales each layer's parameter gradient.
    """
    batch = x.shape[0]
    below = [x] + list(ff_states[:-1])
    n = len(ff_weights)
    dphi, dc = [None] * n, [None] * n
    upstream = np.zeros_like(ff_states[-1])
    for layer in reversed(range(n)):
        # dLoss/ds^f_l: this layer's own error plus what flows back from the layers above.
        error = (ff_states[layer] - s_minus[layer]) + upstream
        delta = error * h_prime(pre[layer])
        dphi[layer] = (-rates[layer] / batch) * (below[layer].T @ delta)
        dc[layer] = (-rates[layer] / batch) * np.sum(delta, axis=0)
        upstream = delta @ ff_weights[layer].T
    return dphi, dc


