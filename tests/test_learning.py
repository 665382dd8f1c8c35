"""Learning rules against finite-difference gradients.

The EP update must approach minus the gradient of the loss C(s*(theta), y) at the fixed
point as beta goes to zero (Scellier and Bengio, 2017), and the feedforward delta rule
must equal minus the gradient of each layer's own loss.
"""

import numpy as np
import pytest

from conftest import small_config
from neurosim.dynamics import cost
from neurosim.engines import DenseEngine
from neurosim.learning import (
    ep_update,
    feedforward_loss,
    feedforward_pass,
    global_feedforward_update,
    local_feedforward_update,
)
from neurosim.network import Network


def _interior_network(rng, layers):
    """A network whose fixed points lie inside (0, 1), away from the kinks of rho."""
    net = Network.initialize(layers, seed=7)
    net.weights = [rng.normal(0, 0.25, w.shape) for w in net.weights]
    net.biases = [rng.uniform(0.3, 0.6, b.shape) for b in net.biases]
    return net


def _fixed_point(engine, x, beta=0.0, y=None, start=None):
    states = start if start is not None else engine.initial_states(x)
    states, residual = engine.settle(x, states, 400, beta=beta, target=y)
    assert np.all(residual < 1e-13)
    return states


def test_ep_update_approximates_gradient_for_small_beta(rng):
    layers = [4, 3, 2]
    config = small_config(layers=layers, init="zero", t_minus=200.0)
    net = _interior_network(rng, layers)
    x = rng.random((1, 4))
    y = np.array([[1.0, 0.0]])
    engine = DenseEngine(net, config)

    def loss():
        return float(cost(_fixed_point(engine, x)[-1], y)[0])

    # Central finite differences of the loss at the free fixed point.
    eps = 1e-6
    numeric = []
    for w in engine.network.weights:
        grad = np.zeros_like(w)
        for index in np.ndindex(w.shape):
            w[index] += eps
            up = loss()
            w[index] -= 2 * eps
            down = loss()
            w[index] += eps
            grad[index] = (up - down) / (2 * eps)
        numeric.append(grad)

    s_minus = _fixed_point(engine, x)
    for beta, tolerance in ((1e-3, 5e-3), (-1e-3, 5e-3), (1e-5, 5e-5)):
        s_plus = _fixed_point(engine, x, beta=beta, y=y, start=s_minus)
        dw, _ = ep_update(x, s_minus, s_plus, beta, [1.0, 1.0])
        for layer, (update, grad) in enumerate(zip(dw, numeric)):
            error = np.max(np.abs(update + grad)) / np.max(np.abs(grad))
            assert error < tolerance, f"beta {beta}, layer {layer}: relative error {error:.2e}"


def test_ep_bias_update_matches_gradient(rng):
    layers = [3, 3, 2]
    config = small_config(layers=layers, init="zero", t_minus=200.0)
    net = _interior_network(rng, layers)
    engine = DenseEngine(net, config)
    x = rng.random((1, 3))
    y = np.array([[0.0, 1.0]])
    eps = 1e-6
    numeric = []
    for b in engine.network.biases:
        grad = np.zeros_like(b)
        for j in range(b.size):
            b[j] += eps
            up = cost(_fixed_point(engine, x)[-1], y)[0]
            b[j] -= 2 * eps
            down = cost(_fixed_point(engine, x)[-1], y)[0]
            b[j] += eps
            grad[j] = (up - down) / (2 * eps)
        numeric.append(grad)
    s_minus = _fixed_point(engine, x)
    beta = 1e-5
    s_plus = _fixed_point(engine, x, beta=beta, y=y, start=s_minus)
    _, db = ep_update(x, s_minus, s_plus, beta, [1.0, 1.0])
    for update, grad in zip(db, numeric):
        assert np.allclose(update, -grad, atol=1e-4 * np.max(np.abs(grad)))


def test_ep_update_by_hand():
    # One sample, one weight per matrix, eta / beta = 2.
    x = np.array([[1.0]])
    s_minus = [np.array([[0.2]]), np.array([[0.5]])]
    s_plus = [np.array([[0.3]]), np.array([[0.7]])]
    dw, db = ep_update(x, s_minus, s_plus, 0.5, [1.0, 1.0])
    assert dw[0][0, 0] == pytest.approx(2 * (0.3 - 0.2))
    assert dw[1][0, 0] == pytest.approx(2 * (0.3 * 0.7 - 0.2 * 0.5))
    assert db[1][0] == pytest.approx(2 * (0.7 - 0.5))


def test_ep_update_is_mean_over_minibatch(rng):
    x = rng.random((3, 4))
    s_minus = [rng.random((3, 2)), rng.random((3, 2))]
    s_plus = [rng.random((3, 2)), rng.random((3, 2))]
    dw, db = ep_update(x, s_minus, s_plus, 0.5, [0.1, 0.2])
    singles = [ep_update(x[i:i + 1], [s[i:i + 1] for s in s_minus],
                         [s[i:i + 1] for s in s_plus], 0.5, [0.1, 0.2]) for i in range(3)]
    for layer in range(2):
        assert np.allclose(dw[layer], np.mean([s[0][layer] for s in singles], axis=0))
        assert np.allclose(db[layer], np.mean([s[1][layer] for s in singles], axis=0))


def _feedforward_problem(rng, layers=(5, 4, 3)):
    phis = [rng.normal(0, 0.8, (a, b)) for a, b in zip(layers[:-1], layers[1:])]
    cs = [rng.normal(0, 0.3, b) for b in layers[1:]]
    x = rng.random((4, layers[0]))
    targets = [rng.random((4, n)) for n in layers[1:]]
    return phis, cs, x, targets


def test_local_feedforward_update_matches_own_layer_gradient(rng):
    phis, cs, x, targets = _feedforward_problem(rng)
    pre, states = feedforward_pass(x, phis, cs)
    dphi, dc = local_feedforward_update(x, pre, states, targets, [1.0, 1.0])
    inputs = [x, states[0]]
    eps = 1e-6

    def layer_loss(layer, phi, c):
        # The layer's input is held fixed, so only its own parameters change its loss.
        from neurosim.dynamics import h

        out = h(inputs[layer] @ phi + c)
        return 0.5 * np.mean(np.sum((out - targets[layer]) ** 2, axis=1))

    for layer in range(2):
        grad = np.zeros_like(phis[layer])
        for index in np.ndindex(grad.shape):
            phi = phis[layer].copy()
            phi[index] += eps
            up = layer_loss(layer, phi, cs[layer])
            phi[index] -= 2 * eps
            grad[index] = (up - layer_loss(layer, phi, cs[layer])) / (2 * eps)
        assert np.allclose(dphi[layer], -grad, atol=1e-8), f"layer {layer}"
        grad_c = np.zeros_like(cs[layer])
        for j in range(cs[layer].size):
            c = cs[layer].copy()
            c[j] += eps
            up = layer_loss(layer, phis[layer], c)
            c[j] -= 2 * eps
            grad_c[j] = (up - layer_loss(layer, phis[layer], c)) / (2 * eps)
        assert np.allclose(dc[layer], -grad_c, atol=1e-8), f"layer {layer}"


def test_global_feedforward_update_matches_summed_loss_gradient(rng):
    phis, cs, x, targets = _feedforward_problem(rng)
    pre, states = feedforward_pass(x, phis, cs)
    dphi, _ = global_feedforward_update(x, pre, states, targets, phis, [1.0, 1.0])
    eps = 1e-6

    def total(params):
        _, out = feedforward_pass(x, params, cs)
        return sum(feedforward_loss(out, targets))

    for layer in range(2):
        grad = np.zeros_like(phis[layer])
        for index in np.ndindex(grad.shape):
            params = [p.copy() for p in phis]
            params[layer][index] += eps
            up = total(params)
            params[layer][index] -= 2 * eps
            grad[index] = (up - total(params)) / (2 * eps)
        assert np.allclose(dphi[layer], -grad, atol=1e-8), f"layer {layer}"


def test_local_and_global_agree_on_last_layer(rng):
    phis, cs, x, targets = _feedforward_problem(rng)
    pre, states = feedforward_pass(x, phis, cs)
    local, _ = local_feedforward_update(x, pre, states, targets, [1.0, 1.0])
    global_, _ = global_feedforward_update(x, pre, states, targets, phis, [1.0, 1.0])
    assert np.allclose(local[-1], global_[-1])
    assert not np.allclose(local[0], global_[0])


def test_train_batch_applies_rules_with_frozen_weights(rng):
    config = small_config(layers=(6, 5, 3), init="feedforward", coupling=0.2, eta=[0.1, 0.05])
    net = Network.initialize(config.network.layers, seed=11)
    engine = DenseEngine(net.copy(), config)
    x = rng.random((4, 6))
    y = np.eye(3)[rng.integers(0, 3, 4)]
    beta = -0.5
    engine.train_batch(x, y, beta)

    # The same step spelled out with the library's pieces on the untouched copy.
    reference = DenseEngine(net.copy(), config)
    pre, ff = reference.feedforward(x)
    s_minus, _ = reference.negative_phase(x, ff)
    s_plus, _ = reference.settle(x, s_minus, config.dynamics.steps_plus, beta=beta, target=y,
                                 ff_states=ff)
    dw, db = ep_update(x, s_minus, s_plus, beta, config.training.eta)
    dphi, dc = local_feedforward_update(x, pre, ff, s_minus, config.training.feedforward_rates)
    for got, start, delta in zip(engine.network.weights + engine.network.biases
                                 + engine.network.ff_weights + engine.network.ff_biases,
                                 net.weights + net.biases + net.ff_weights + net.ff_biases,
                                 dw + db + dphi + dc):
        assert np.allclose(got, start + delta, atol=1e-12)
