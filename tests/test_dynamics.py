"""The energy, its gradient and the activation functions against hand-derived values."""

import numpy as np
import pytest

from neurosim.dynamics import (
    cost,
    energy,
    energy_gradient,
    h,
    h_prime,
    rho,
    rho_prime,
    total_energy,
)


def test_rho_clips_to_unit_interval():
    u = np.array([-0.5, 0.0, 0.3, 1.0, 1.7])
    assert np.array_equal(rho(u), [0.0, 0.0, 0.3, 1.0, 1.0])
    assert np.array_equal(rho_prime(u), [0.0, 1.0, 1.0, 1.0, 0.0])


def test_h_has_leak_slope_outside_unit_interval():
    u = np.array([-2.0, 0.5, 3.0])
    assert np.allclose(h(u), [-0.02, 0.505, 1.03])
    assert np.allclose(h_prime(u), [0.01, 1.01, 0.01])


def test_energy_of_one_neuron_by_hand():
    # One input x = 2 with weight 0.5 and bias 0.1, state s = 0.4:
    # E = 0.4^2 / 2 - 0.1 * 0.4 - 2 * 0.5 * 0.4 = 0.08 - 0.04 - 0.4
    value = energy([np.array([0.4])], np.array([2.0]), [np.array([[0.5]])], [np.array([0.1])])
    assert value == pytest.approx(-0.36)


def test_cost_by_hand():
    assert cost(np.array([0.2, 0.9]), np.array([0.0, 1.0])) == pytest.approx(0.5 * (0.04 + 0.01))


def _random_problem(rng, layers=(5, 4, 3, 2), batch=3):
    weights = [rng.normal(0, 0.5, (a, b)) for a, b in zip(layers[:-1], layers[1:])]
    biases = [rng.normal(0, 0.3, b) for b in layers[1:]]
    x = rng.random((batch, layers[0]))
    # Interior states keep the finite differences away from the kinks of rho.
    states = [rng.uniform(0.05, 0.95, (batch, n)) for n in layers[1:]]
    target = np.eye(layers[-1])[rng.integers(0, layers[-1], batch)]
    ff_states = [rng.uniform(0, 1, (batch, n)) for n in layers[1:]]
    return weights, biases, x, states, target, ff_states


@pytest.mark.parametrize("beta,coupling", [(0.0, 0.0), (0.7, 0.0), (0.0, 0.3), (-0.5, 1.0)])
def test_energy_gradient_matches_finite_differences(rng, beta, coupling):
    weights, biases, x, states, target, ff_states = _random_problem(rng)
    kwargs = dict(beta=beta, target=target, coupling=coupling, feedforward_states=ff_states)
    analytic = energy_gradient(states, x, weights, biases, **kwargs)
    eps = 1e-6
    for layer, s in enumerate(states):
        numeric = np.zeros_like(s)
        for index in np.ndindex(s.shape):
            plus = [a.copy() for a in states]
            minus = [a.copy() for a in states]
            plus[layer][index] += eps
            minus[layer][index] -= eps
            difference = (total_energy(plus, x, weights, biases, **kwargs)
                          - total_energy(minus, x, weights, biases, **kwargs))
            numeric[index] = difference[index[0]] / (2 * eps)
        assert np.allclose(analytic[layer], numeric, atol=1e-8), f"layer {layer}"


def test_energy_gradient_ignores_rate_terms_outside_unit_interval():
    # Outside [0, 1], rho is flat, so only the leak term s remains.
    weights = [np.array([[1.0]]), np.array([[2.0]])]
    biases = [np.array([0.5]), np.array([0.5])]
    states = [np.array([1.5]), np.array([-0.2])]
    grads = energy_gradient(states, np.array([1.0]), weights, biases)
    assert grads[0] == pytest.approx([1.5])
    assert grads[1] == pytest.approx([-0.2])
