"""The EP update against the implicit-function gradient of C(s*(theta), y)."""

import numpy as np
import pytest

from neurosim.analysis.gradient_check import (
    FlatNetwork,
    compare_gradients,
    ep_gradient_estimate,
    exact_fixed_point,
    finite_difference_gradient,
    flatten_parameters,
    implicit_gradient,
)
from neurosim.dynamics import energy_gradient
from neurosim.network import Network


@pytest.fixture()
def small_problem():
    rng = np.random.default_rng(1)
    network = Network.initialize([12, 10, 8, 4], seed=3)
    # Positive biases keep more neurons off the lower clip, so the check is not trivial.
    network.biases = [rng.uniform(0.0, 0.4, b.shape) for b in network.biases]
    x = rng.random((3, 12))
    y = np.eye(4)[rng.integers(0, 4, 3)]
    flat = FlatNetwork(network)
    s_star, residual = exact_fixed_point(flat, x, np.zeros((3, flat.size)))
    return network, flat, x, y, s_star, residual


def test_flat_gradient_matches_energy_gradient(small_problem):
    network, flat, x, _, s_star, _ = small_problem
    states = np.random.default_rng(2).random(s_star.shape)
    expected = np.concatenate(energy_gradient(flat.split(states), x, network.weights,
                                              network.biases), axis=1)
    np.testing.assert_allclose(flat.gradient(states, flat.external(x)), expected, atol=1e-14)


def test_exact_fixed_point_has_zero_residual(small_problem):
    _, flat, x, _, s_star, residual = small_problem
    assert residual.max() < 1e-12
    free = (s_star > 0) & (s_star < 1)
    assert 0.2 < free.mean() < 1.0
    assert np.all((s_star >= 0) & (s_star <= 1))


def test_implicit_gradient_matches_finite_differences(small_problem):
    network, flat, x, y, s_star, _ = small_problem
    grad_w, grad_b = implicit_gradient(flat, x, y, s_star)
    coordinates = [("weights", k, np.unravel_index(np.argmax(np.abs(g)), g.shape))
                   for k, g in enumerate(grad_w)]
    coordinates += [("weights", 1, (0, 0)), ("biases", 0, (1,)), ("biases", 2, (3,))]
    numeric = finite_difference_gradient(network, x, y, s_star, coordinates, step=1e-6)
    analytic = np.array([(grad_w if g == "weights" else grad_b)[k][i] for g, k, i in coordinates])
    assert np.max(np.abs(analytic)) > 1e-3
    np.testing.assert_allclose(numeric, analytic, atol=1e-8)


def test_ep_update_approximates_gradient_for_small_beta(small_problem):
    _, flat, x, y, s_star, _ = small_problem
    reference = flatten_parameters(*implicit_gradient(flat, x, y, s_star))
    errors = {}
    for beta in (1e-2, 1e-3):
        plus = flatten_parameters(*ep_gradient_estimate(flat, x, y, s_star, beta))
        minus = flatten_parameters(*ep_gradient_estimate(flat, x, y, s_star, -beta))
        errors[beta] = (compare_gradients(plus, reference)["relative_error"],
                        compare_gradients(0.5 * (plus + minus), reference)["relative_error"])
    # One-sided estimates err like beta, the symmetric one like beta^2.
    assert errors[1e-3][0] < 0.05
    assert errors[1e-2][0] / errors[1e-3][0] == pytest.approx(10, rel=0.3)
    assert errors[1e-2][1] / errors[1e-3][1] == pytest.approx(100, rel=0.3)
    assert compare_gradients(plus, reference)["cosine"] > 0.999


def test_compare_gradients_values():
    result = compare_gradients(np.array([1.0, 1.0]), np.array([1.0, 0.0]))
    assert result["cosine"] == pytest.approx(np.sqrt(0.5))
    assert result["relative_error"] == pytest.approx(1.0)
