"""Gradient alignment of local losses (Figure 1), checked against finite differences."""

import numpy as np
import pytest

from neurosim.analysis.alignment import (
    alignment_draws,
    cosine_similarity,
    local_loss_gradients,
    random_feedforward,
)
from neurosim.learning import feedforward_pass


def _local_loss(x, weights, biases, targets, layer):
    _, states = feedforward_pass(x, weights, biases)
    return 0.5 * np.sum((states[layer] - targets[layer]) ** 2) / x.shape[0]


def test_local_loss_gradients_match_finite_differences():
    rng = np.random.default_rng(4)
    layers = [6, 5, 4, 3]
    weights, biases = random_feedforward(rng, layers)
    biases = [rng.normal(0, 0.3, b.shape) for b in biases]
    x = rng.random((3, layers[0]))
    targets = [rng.random((3, n)) for n in layers[1:]]
    gradients = local_loss_gradients(x, weights, biases, targets)
    step = 1e-6
    for layer, gradient in enumerate(gradients):
        numeric = np.zeros_like(gradient)
        for index in np.ndindex(gradient.shape):
            for sign in (1.0, -1.0):
                shifted = [w.copy() for w in weights]
                shifted[0][index] += sign * step
                numeric[index] += sign * _local_loss(x, shifted, biases, targets, layer)
        numeric /= 2 * step
        np.testing.assert_allclose(gradient, numeric, atol=1e-8)


def test_cosine_similarity_values():
    assert cosine_similarity(np.array([1.0, 0.0]), np.array([2.0, 0.0])) == pytest.approx(1.0)
    assert cosine_similarity(np.array([1.0, 0.0]), np.array([0.0, 3.0])) == pytest.approx(0.0)
    assert cosine_similarity(np.array([1.0, 1.0]), np.array([-1.0, -1.0])) == pytest.approx(-1.0)
    assert np.isnan(cosine_similarity(np.zeros(2), np.ones(2)))


def test_alignment_draws_first_layer_is_one_and_mostly_positive():
    cosines = alignment_draws([30, 20, 20, 20, 20, 20, 5], draws=40, batch_size=2, seed=1)
    assert cosines.shape == (40, 6)
    np.testing.assert_allclose(cosines[:, 0], 1.0)
    # The paper's claim, on a small network: deeper losses mostly pull W_1 the same way.
    assert np.mean(cosines[:, 1:] > 0) > 0.6
