"""The dense engine's settling against a plain per-sample forward-Euler loop."""

import numpy as np
import pytest

from conftest import small_config
from neurosim.dynamics import energy_gradient, total_energy
from neurosim.engines import DenseEngine
from neurosim.network import Network


def reference_settle(x, states, net, steps, dt, beta=0.0, target=None, coupling=0.0, ff=None):
    """Integrate ds/dt = -dF/ds one sample at a time with forward Euler and clipping."""
    out = []
    for i in range(x.shape[0]):
        s = [np.clip(layer[i].copy(), 0, 1) for layer in states]
        f = [layer[i] for layer in ff] if ff is not None else None
        y = target[i] if target is not None else None
        for _ in range(steps):
            grads = energy_gradient(s, x[i], net.weights, net.biases, beta=beta, target=y,
                                    coupling=coupling, feedforward_states=f)
            s = [np.clip(a - dt * g, 0.0, 1.0) for a, g in zip(s, grads)]
        out.append(s)
    return [np.stack([sample[layer] for sample in out]) for layer in range(len(states))]


@pytest.mark.parametrize("init,coupling,beta", [("zero", 0.0, 0.0), ("feedforward", 0.0, 0.5),
                                                ("feedforward", 0.3, -0.5)])
def test_settle_matches_per_sample_loop(rng, init, coupling, beta):
    config = small_config(init=init, coupling=coupling)
    net = Network.initialize(config.network.layers, seed=3)
    net.biases = [rng.normal(0, 0.2, b.shape) for b in net.biases]
    engine = DenseEngine(net, config)
    x = rng.random((5, 6))
    y = np.eye(3)[rng.integers(0, 3, 5)]
    _, ff = engine.feedforward(x)
    init_states = engine.initial_states(x, ff)
    got, _ = engine.settle(x, init_states, 17, beta=beta, target=y,
                           ff_states=ff if coupling else None)
    want = reference_settle(x, init_states, engine.network, 17, config.dynamics.dt, beta=beta,
                            target=y, coupling=coupling, ff=ff)
    for layer, (a, b) in enumerate(zip(got, want)):
        assert np.allclose(a, b, atol=1e-12, rtol=0), f"layer {layer}"


def test_settle_records_trajectory_and_keeps_inputs(rng):
    config = small_config(init="zero")
    engine = DenseEngine(Network.initialize(config.network.layers, seed=0), config)
    x = rng.random((2, 6))
    start = [rng.random((2, n)) for n in (5, 4, 3)]
    before = [s.copy() for s in start]
    final, residual, trajectory = engine.settle(x, start, 6, record=True)
    assert trajectory.steps == 6
    assert [t.shape for t in trajectory.states] == [(7, 2, 5), (7, 2, 4), (7, 2, 3)]
    for layer in range(3):
        assert np.array_equal(trajectory.states[layer][-1], final[layer])
        assert np.array_equal(start[layer], before[layer])
    assert residual.shape == (2,)


def test_negative_phase_lowers_energy(rng):
    config = small_config(init="zero", dt=0.1, t_minus=20.0)
    engine = DenseEngine(Network.initialize(config.network.layers, seed=5), config)
    x = rng.random((4, 6))
    _, _, trajectory = engine.negative_phase(x, record=True)
    net = engine.network
    energies = [total_energy([t[k] for t in trajectory.states], x, net.weights, net.biases)
                for k in range(trajectory.steps + 1)]
    assert np.all(np.diff(np.stack(energies), axis=0) <= 1e-12)


def test_settle_reaches_fixed_point(rng):
    config = small_config(init="zero", t_minus=100.0)
    net = Network.initialize(config.network.layers, seed=2)
    engine = DenseEngine(net, config)
    x = rng.random((3, 6))
    s_minus, residual = engine.negative_phase(x)
    assert np.all(residual < 1e-10)
    grads = energy_gradient(s_minus, x, net.weights, net.biases)
    for s, g in zip(s_minus, grads):
        # At a fixed point every free neuron has zero gradient; a clipped one pushes outward.
        interior = (s > 1e-9) & (s < 1 - 1e-9)
        assert np.allclose(g[interior], 0.0, atol=1e-9)
        assert np.all(g[s <= 1e-9] >= -1e-9)
        assert np.all(g[s >= 1 - 1e-9] <= 1e-9)


def test_float32_settle_close_to_float64(rng):
    config64 = small_config(init="feedforward")
    config32 = small_config(init="feedforward", dtype="float32")
    net = Network.initialize(config64.network.layers, seed=4)
    x = rng.random((3, 6))
    results = []
    for config in (config64, config32):
        engine = DenseEngine(net, config)
        _, ff = engine.feedforward(x)
        states, _ = engine.negative_phase(x, ff)
        results.append(states)
        assert states[0].dtype == np.dtype(config.training.dtype)
    for a, b in zip(*results):
        assert np.allclose(a, b, atol=1e-5)
