"""The dense engine against a plain per-sample reference written here.

The reference integrates ``s <- rho(s - dt dF/ds)`` one sample at a time with
:func:`neurosim.dynamics.energy_gradient`, and trains with the update functions of
:mod:`neurosim.learning`, averaging the per-sample updates of a minibatch with the
parameters frozen. The engine's fast path (shared input products, in-place BLAS updates,
preallocated buffers) must compute the same numbers up to round-off.
"""

import numpy as np
import pytest

from neurosim.config import Config, apply_overrides, load_config
from neurosim.dynamics import energy_gradient, rho
from neurosim.engines import DenseEngine
from neurosim.learning import (
    ep_update,
    feedforward_pass,
    global_feedforward_update,
    local_feedforward_update,
)
from neurosim.network import Network

# --- the reference ----------------------------------------------------------------------------


def relax(states, x, net, steps, dt, beta=0.0, target=None, coupling=0.0, ff_states=None):
    """Integrate one sample for ``steps`` Euler steps; return every state visited."""
    states = [rho(s) for s in states]
    visited = [states]
    for _ in range(steps):
        grads = energy_gradient(states, x, net.weights, net.biases, beta=beta, target=target,
                                coupling=coupling, feedforward_states=ff_states)
        states = [rho(s - dt * g) for s, g in zip(states, grads)]
        visited.append(states)
    return visited


def reference_phases(net, config, x, y, beta):
    """Return ``(pre, s^f, s-, s+)`` of one sample (1-D ``x`` and ``y``)."""
    dyn = config.dynamics
    if config.network.initialized:
        pre, ff = feedforward_pass(x, net.ff_weights, net.ff_biases)
        init = ff
    else:
        pre = ff = None
        init = [np.zeros(n) for n in net.layers[1:]]
    coupled = ff if dyn.coupling else None
    s_minus = relax(init, x, net, dyn.steps_minus, dyn.dt, coupling=dyn.coupling,
                    ff_states=coupled)[-1]
    s_plus = relax(s_minus, x, net, dyn.steps_plus, dyn.dt, beta=beta, target=y,
                   coupling=dyn.coupling, ff_states=coupled)[-1]
    return pre, ff, s_minus, s_plus


def reference_train(net, config, x, y, signs):
    """Train a float64 copy of ``net`` sample by sample; return it."""
    net = net.astype(np.float64)
    tr = config.training
    batch = tr.batch_size
    x = np.asarray(x, np.float64)
    y = np.asarray(y, np.float64)
    for k, sign in enumerate(signs):
        beta = float(sign) * tr.beta
        total = [np.zeros_like(p) for p in net.weights + net.biases + net.ff_weights + net.ff_biases]
        for i in range(k * batch, (k + 1) * batch):
            xi, yi = x[i:i + 1], y[i:i + 1]
            pre, ff, s_minus, s_plus = reference_phases(net, config, xi, yi, beta)
            dw, db = ep_update(xi, s_minus, s_plus, beta, tr.eta)
            updates = dw + db
            if config.network.initialized:
                if tr.feedforward_loss == "local":
                    dphi, dc = local_feedforward_update(xi, pre, ff, s_minus, tr.feedforward_rates)
                else:
                    dphi, dc = global_feedforward_update(xi, pre, ff, s_minus, net.ff_weights,
                                                         tr.feedforward_rates)
                updates += dphi + dc
            for acc, delta in zip(total, updates):
                acc += delta
        params = net.weights + net.biases
        if config.network.initialized:
            params += net.ff_weights + net.ff_biases
        for param, acc in zip(params, total):
            param += acc / batch
    return net


# --- fixtures ---------------------------------------------------------------------------------


def make_config(layers, init="feedforward", steps=(6, 3), coupling=0.0, loss="local",
                dtype="float64", batch=5, eta=None):
    config = Config()
    config.network.layers = list(layers)
    config.network.init = init
    config.dynamics.t_minus = steps[0] * config.dynamics.dt
    config.dynamics.t_plus = steps[1] * config.dynamics.dt
    config.dynamics.coupling = coupling
    config.training.feedforward_loss = loss
    config.training.dtype = dtype
    config.training.batch_size = batch
    n = len(layers) - 1
    config.training.eta = eta or [0.2 / 2 ** i for i in range(n)]
    config.data.dataset = "synthetic"
    return config.validate()


def make_data(layers, n, seed=1):
    rng = np.random.default_rng(seed)
    x = rng.random((n, layers[0]))
    y = np.eye(layers[-1])[rng.integers(0, layers[-1], n)]
    return x, y


def make_network(layers, seed=3):
    """A network whose biases are non-zero, so that they enter every product."""
    net = Network.initialize(layers, seed=seed)
    rng = np.random.default_rng(seed + 1)
    for b in net.biases + net.ff_biases:
        b[:] = rng.uniform(-0.1, 0.1, b.shape)
    return net


def assert_networks_close(actual, expected, rtol, atol):
    for (name, a), (_, e) in zip(actual.parameters(), expected.parameters()):
        np.testing.assert_allclose(a, e, rtol=rtol, atol=atol, err_msg=name)


SHALLOW = [30, 24, 6]
DEEP = [30, 24, 16, 6]

VARIANTS = {
    "plain-ep": dict(init="zero"),
    "initialized-ep": dict(),
    "coupling": dict(coupling=0.25, steps=(3, 3)),
    "global-loss": dict(loss="global"),
}


# --- training ---------------------------------------------------------------------------------


@pytest.mark.parametrize("layers", [SHALLOW, DEEP], ids=["shallow", "deep"])
@pytest.mark.parametrize("variant", list(VARIANTS))
def test_dense_train_matches_reference_float64(layers, variant):
    config = make_config(layers, **VARIANTS[variant])
    net = make_network(layers)
    x, y = make_data(layers, 15)
    signs = np.array([1.0, -1.0, 1.0])

    engine = DenseEngine(net, config)
    stats = engine.train(x, y, signs)
    expected = reference_train(net, config, x, y, signs)

    assert stats.samples == 15
    assert_networks_close(engine.network, expected, rtol=0, atol=1e-10)
    # Plain EP must leave the unused feedforward population as it was.
    if variant == "plain-ep":
        np.testing.assert_array_equal(engine.network.ff_weights[0], net.ff_weights[0])


@pytest.mark.parametrize("variant", list(VARIANTS))
def test_dense_train_matches_reference_float32(variant):
    config = make_config(DEEP, dtype="float32", **VARIANTS[variant])
    net = make_network(DEEP).astype(np.float32)
    x, y = make_data(DEEP, 15)
    signs = np.array([-1.0, 1.0, 1.0])

    engine = DenseEngine(net, config)
    engine.train(x.astype(np.float32), y.astype(np.float32), signs)
    expected = reference_train(net, config, x.astype(np.float32), y, signs)

    for _, array in engine.network.parameters():
        assert array.dtype == np.float32
    assert_networks_close(engine.network, expected, rtol=0, atol=1e-6)
    # The tolerance is far below the size of one update, so a wrong update would show.
    moved = max(np.abs(a - b).max() for (_, a), (_, b) in
                zip(engine.network.parameters(), net.parameters()))
    assert moved > 1e-3


@pytest.mark.parametrize("init", ["feedforward", "zero"])
def test_dense_train_batch_one_matches_reference(init):
    # One sample per minibatch takes the matrix-vector paths (gemv, ger).
    config = make_config(DEEP, init=init, batch=1, coupling=0.1 if init == "feedforward" else 0)
    net = make_network(DEEP)
    x, y = make_data(DEEP, 3)
    signs = np.array([1.0, -1.0, 1.0])

    engine = DenseEngine(net, config)
    engine.train(x, y, signs)
    expected = reference_train(net, config, x, y, signs)
    assert_networks_close(engine.network, expected, rtol=0, atol=1e-10)


def test_dense_train_matches_reference_on_mnist_shapes():
    config = apply_overrides(load_config("mnist-784-500-10"),
                             ["training.batch_size=10", "data.dataset=\"synthetic\""])
    layers = config.network.layers
    net = make_network(layers)
    x, y = make_data(layers, 20)
    x = (x < 0.2) * x  # sparse, like digit images
    signs = np.array([1.0, -1.0])

    engine = DenseEngine(net, config)
    engine.train(x, y, signs)
    expected = reference_train(net, config, x, y, signs)
    assert_networks_close(engine.network, expected, rtol=0, atol=1e-10)


def test_dense_train_batch_reports_errors_before_the_update():
    config = make_config(SHALLOW)
    net = make_network(SHALLOW)
    x, y = make_data(SHALLOW, 5)
    _, ff, s_minus, _ = zip(*[reference_phases(net, config, x[i], y[i], 0.5) for i in range(5)])

    stats = DenseEngine(net, config).train_batch(x, y, 0.5)

    labels = y.argmax(axis=1)
    assert stats.correct_minus == sum(int(s[-1].argmax() == c) for s, c in zip(s_minus, labels))
    assert stats.correct_sf == sum(int(f[-1].argmax() == c) for f, c in zip(ff, labels))


def test_dense_train_accepts_a_replaced_weight_array():
    config = make_config(SHALLOW)
    net = make_network(SHALLOW)
    x, y = make_data(SHALLOW, 10)
    engine = DenseEngine(net, config)
    engine.train(x[:5], y[:5], [1.0])

    # Replace the first weight matrices outright, as a user editing the network might.
    trained = engine.network.copy()
    engine.network.weights[0] = net.weights[0].copy()
    engine.network.ff_weights[0] = net.ff_weights[0].copy()
    engine.train(x[5:], y[5:], [1.0])

    trained.weights[0] = net.weights[0].copy()
    trained.ff_weights[0] = net.ff_weights[0].copy()
    expected = reference_train(trained, config, x[5:], y[5:], [1.0])
    assert_networks_close(engine.network, expected, rtol=0, atol=1e-10)


def test_dense_train_rate_scale_multiplies_every_rate():
    config = make_config(SHALLOW)
    net = make_network(SHALLOW)
    x, y = make_data(SHALLOW, 10)
    signs = np.array([1.0, -1.0])
    engine = DenseEngine(net, config)
    engine.rate_scale = 0.3
    engine.train(x, y, signs)
    # The reference trains with the rates themselves scaled, the feedforward ones included.
    scaled = make_config(SHALLOW, eta=[0.3 * rate for rate in config.training.eta])
    scaled.training.eta_feedforward = [0.3 * rate for rate in config.training.feedforward_rates]
    expected = reference_train(net, scaled, x, y, signs)
    assert_networks_close(engine.network, expected, rtol=0, atol=1e-10)


# --- settling and inference -------------------------------------------------------------------


@pytest.mark.parametrize("dtype,atol", [("float64", 1e-12), ("float32", 2e-6)])
def test_dense_settle_trajectory_matches_reference(dtype, atol):
    config = make_config(DEEP, coupling=0.3, dtype=dtype)
    net = make_network(DEEP)
    x, y = make_data(DEEP, 4)
    engine = DenseEngine(net, config)
    ref_net = engine.network.astype(np.float64)
    _, ff = engine.feedforward(x)
    start = [np.full((4, n), 0.5) for n in DEEP[1:]]

    states, residual, trajectory = engine.settle(x, start, 7, beta=-0.4, target=y,
                                                 ff_states=ff, record=True)

    assert trajectory.steps == 7
    for i in range(4):
        visited = relax([s[i] for s in start], x[i], ref_net, 7, config.dynamics.dt, beta=-0.4,
                        target=y[i], coupling=0.3,
                        ff_states=[np.asarray(f[i], np.float64) for f in ff])
        for layer in range(len(states)):
            expected = np.array([v[layer] for v in visited])
            np.testing.assert_allclose(trajectory.states[layer][:, i], expected, atol=atol)
            np.testing.assert_allclose(states[layer][i], expected[-1], atol=atol)
            assert states[layer].dtype == np.dtype(dtype)
        last_change = sum(np.abs(v - w).sum() for v, w in zip(visited[-1], visited[-2]))
        np.testing.assert_allclose(residual[i], last_change / (sum(DEEP[1:]) * 0.5), atol=10 * atol)


def test_dense_settle_leaves_initial_states_unchanged():
    config = make_config(SHALLOW)
    engine = DenseEngine(make_network(SHALLOW), config)
    x, _ = make_data(SHALLOW, 3)
    start = [np.full((3, n), 0.25) for n in SHALLOW[1:]]
    states, _ = engine.settle(x, start, 4)
    assert all((s == 0.25).all() for s in start)
    # Two calls must not share buffers: the first result stays valid.
    first = [s.copy() for s in states]
    engine.settle(x, [np.zeros((3, n)) for n in SHALLOW[1:]], 4)
    for a, b in zip(states, first):
        np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("init", ["feedforward", "zero"])
def test_dense_evaluate_matches_reference(init):
    config = make_config(DEEP, init=init, coupling=0.2 if init == "feedforward" else 0.0)
    net = make_network(DEEP)
    x, _ = make_data(DEEP, 21)
    engine = DenseEngine(net, config)
    engine.eval_batch_size = 10  # several chunks, the last one a single sample

    result = engine.evaluate(x)

    for i in range(21):
        _, ff, s_minus, _ = reference_phases(net, config, x[i], np.zeros(6), 0.5)
        np.testing.assert_allclose(result.output_minus[i], s_minus[-1], atol=1e-12)
        if init == "feedforward":
            np.testing.assert_allclose(result.output_sf[i], ff[-1], atol=1e-12)
    if init == "zero":
        assert result.output_sf is None
    assert result.residual.shape == (21,)


def test_dense_record_sample_matches_reference():
    config = make_config(SHALLOW, coupling=0.1)
    net = make_network(SHALLOW)
    x, y = make_data(SHALLOW, 1)
    record = DenseEngine(net, config).record_sample(x[0], y[0], beta=0.5)

    _, ff, _, _ = reference_phases(net, config, x[0], y[0], 0.5)
    first = relax(ff, x[0], net, 6, 0.5, coupling=0.1, ff_states=ff)
    second = relax(first[-1], x[0], net, 3, 0.5, beta=0.5, target=y[0], coupling=0.1,
                   ff_states=ff)
    visited = first + second[1:]
    for layer in range(2):
        np.testing.assert_allclose(record["states"][layer],
                                   np.array([v[layer] for v in visited]), atol=1e-12)
