"""Gradient alignment of local losses in a feedforward network (Figure 1 of the paper).

A student feedforward network ``s_l = h(Phi_l^T s_{l-1} + c_l)`` and a teacher network of
the same shape receive the same inputs. The teacher's layer states are the targets ``t_l``
and each student layer has the local loss ``L_l = 1/2 ||s_l - t_l||^2``. In Initialized EP
each feedforward layer descends only its own loss; the question is whether that step also
lowers the losses of the layers above it. :func:`local_loss_gradients` returns
``dL_i/dPhi_1`` for every layer ``i``, the gradient of layer ``i``'s loss carried back
through the feedforward pass to the first weight matrix, and :func:`alignment_draws`
returns the cosine similarity between ``dL_1/dPhi_1`` and each ``dL_i/dPhi_1`` over many
random draws of student, teacher and inputs.
"""

import numpy as np

from ..dynamics import h_prime
from ..learning import feedforward_pass
from ..network import glorot_uniform

__all__ = ["random_feedforward", "local_loss_gradients", "cosine_similarity", "alignment_draws"]


def random_feedforward(rng, layers, dtype=np.float64):
    """Return Glorot-uniform weights and zero biases of a feedforward network of ``layers``."""
    weights = [glorot_uniform(rng, n_in, n_out, dtype) for n_in, n_out in zip(layers[:-1], layers[1:])]
    biases = [np.zeros(n_out, dtype) for n_out in layers[1:]]
    return weights, biases


def local_loss_gradients(x, weights, biases, targets):
    """Return ``dL_i/dPhi_1`` for every layer ``i``, averaged over the minibatch.

    Parameters
    ----------
    x : ndarray, shape (batch, n_0)
    weights, biases : list of ndarray
        The student's ``Phi_l`` (shape ``(n_{l-1}, n_l)``) and ``c_l``.
    targets : list of ndarray
        ``t_l``, one ``(batch, n_l)`` array per layer.

    Returns
    -------
    list of ndarray
        One ``(n_0, n_1)`` array per layer ``i = 1..L``: the gradient of
        ``L_i = 1/2 ||s_i - t_i||^2`` with respect to ``Phi_1``, through the feedforward pass.
    """
    pre, states = feedforward_pass(x, weights, biases)
    slopes = [h_prime(u) for u in pre]
    batch = x.shape[0]
    gradients = []
    for layer in range(len(weights)):
        # Backpropagate the error of layer i alone down to the first layer's pre-activation.
        delta = (states[layer] - targets[layer]) * slopes[layer]
        for below in range(layer - 1, -1, -1):
            delta = (delta @ weights[below + 1].T) * slopes[below]
        gradients.append(x.T @ delta / batch)
    return gradients


def cosine_similarity(a, b):
    """Return the cosine of the angle between two arrays seen as flat vectors (NaN if one is 0)."""
    a, b = np.ravel(a), np.ravel(b)
    norm = np.linalg.norm(a) * np.linalg.norm(b)
    if norm == 0:
        return float("nan")
    # Round-off can put the cosine of parallel vectors just outside [-1, 1].
    return float(np.clip(a @ b / norm, -1.0, 1.0))


def alignment_draws(layers, draws, batch_size=1, seed=0, inputs=None):
    """Return the cosine similarity of ``dL_1/dPhi_1`` with each ``dL_i/dPhi_1`` over draws.

    Each draw takes a new random student, a new random teacher of the same shape and a new
    minibatch of inputs: ``batch_size`` rows of ``inputs`` chosen at random, or uniform
    random numbers in [0, 1] when ``inputs`` is None.

    Returns
    -------
    ndarray, shape (draws, L)
        Column ``i - 1`` contains the cosines for layer ``i``; column 0 is 1 by construction.
    """
    rng = np.random.default_rng(seed)
    cosines = np.empty((draws, len(layers) - 1))
    for draw in range(draws):
        student_w, student_b = random_feedforward(rng, layers)
        teacher_w, teacher_b = random_feedforward(rng, layers)
        if inputs is None:
            x = rng.random((batch_size, layers[0]))
        else:
            x = np.asarray(inputs[rng.choice(len(inputs), size=batch_size, replace=False)],
                           np.float64)
        _, targets = feedforward_pass(x, teacher_w, teacher_b)
        gradients = local_loss_gradients(x, student_w, student_b, targets)
        cosines[draw] = [cosine_similarity(gradients[0], g) for g in gradients]
    return cosines
