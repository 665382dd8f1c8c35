"""Property tests over random small networks: bounded states, finite energy, and agreement of
the dense engine with a plain per-sample NumPy loop (and of the Brian2 engine with the dense one).
"""

import importlib.util
import inspect

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from neurosim.config import Config
from neurosim.dynamics import energy, h, h_prime, rho, rho_prime, total_energy
from neurosim.engines import make_engine
from neurosim.engines.dense import DenseEngine
from neurosim.network import Network

HAS_BRIAN2_ENGINE = importlib.util.find_spec("neurosim.engines.brian2_engine") is not None


@st.composite
def cases(draw, max_layers=4, max_size=7, max_steps=12, max_batch=4):
    """Draw a network, its settings and a minibatch."""
    layers = draw(st.lists(st.integers(1, max_size), min_size=2, max_size=max_layers))
    dt = draw(st.sampled_from([0.1, 0.25, 0.5, 0.75, 1.0]))
    steps_minus = draw(st.integers(1, max_steps))
    steps_plus = draw(st.integers(1, max_steps))
    init = draw(st.sampled_from(["feedforward", "zero"]))
    coupling = draw(st.sampled_from([0.0, 0.1, 0.5])) if init == "feedforward" else 0.0
    beta = draw(st.sampled_from([0.2, 0.5, 1.0])) * draw(st.sampled_from([-1.0, 1.0]))
    scale = draw(st.sampled_from([0.3, 1.0, 2.0]))
    seed = draw(st.integers(0, 2**32 - 1))
    batch = draw(st.integers(1, max_batch))

    config = Config()
    config.network.layers = layers
    config.network.init = init
    config.dynamics.dt = dt
    config.dynamics.t_minus = steps_minus * dt
    config.dynamics.t_plus = steps_plus * dt
    config.dynamics.coupling = coupling
    config.training.beta = abs(beta)
    config.training.batch_size = batch
    config.training.eta = [0.1 / (i + 1) for i in range(len(layers) - 1)]
    config.validate(warn=False)

    rng = np.random.default_rng(seed)
    network = Network.initialize(layers, seed=seed)
    for array in network.weights + network.ff_weights:
        array *= scale
    for array in network.biases + network.ff_biases:
        array[:] = rng.normal(0.0, 0.5 * scale, array.shape)
    x = rng.random((batch, layers[0]))
    y = np.eye(layers[-1])[rng.integers(0, layers[-1], batch)]
    return config, network, x, y, beta


# --- the reference: one sample at a time, written from the equations --------------------------

def reference_settle(x, states, steps, net, dt, beta=0.0, y=None, coupling=0.0, sf=None):
    """Forward Euler on ds/dt = -s + rho'(s)(b + W^T rho(below) + W rho(above)) + currents."""
    s = [np.clip(np.array(layer, dtype=float), 0.0, 1.0) for layer in states]
    n = len(s)
    for _ in range(steps):
        new = []
        for l in range(n):
            below = x if l == 0 else rho(s[l - 1])
            drive = net.biases[l] + below @ net.weights[l]
            if l + 1 < n:
                drive = drive + net.weights[l + 1] @ rho(s[l + 1])
            ds = -s[l] + rho_prime(s[l]) * drive
            if coupling:
                ds = ds + 2.0 * coupling * (sf[l] - s[l])
            if beta and l == n - 1:
                ds = ds + beta * (y - s[l])
            new.append(np.clip(s[l] + dt * ds, 0.0, 1.0))
        s = new
    return s


def reference_feedforward(x, net):
    pre, states, below = [], [], x
    for phi, c in zip(net.ff_weights, net.ff_biases):
        u = phi.T @ below + c
        below = h(u)
        pre.append(u)
        states.append(below)
    return pre, states


def reference_train_batch(config, net, xs, ys, beta):
    """Return the mean per-sample increments of W, b, Phi and c for one minibatch."""
    dyn, rates = config.dynamics, config.training.eta
    initialized = config.network.initialized
    sums = {group: [np.zeros_like(a) for a in getattr(net, group)]
            for group in ("weights", "biases", "ff_weights", "ff_biases")}
    for x, y in zip(xs, ys):
        sf = pre = None
        if initialized:
            pre, sf = reference_feedforward(x, net)
            start = [np.clip(f, 0.0, 1.0) for f in sf]
        else:
            start = [np.zeros(n) for n in net.layers[1:]]
        s_minus = reference_settle(x, start, dyn.steps_minus, net, dyn.dt,
                                   coupling=dyn.coupling, sf=sf)
        s_plus = reference_settle(x, s_minus, dyn.steps_plus, net, dyn.dt, beta=beta, y=y,
                                  coupling=dyn.coupling, sf=sf)
        below_minus, below_plus = [x] + s_minus[:-1], [x] + s_plus[:-1]
        for l, eta in enumerate(rates):
            sums["weights"][l] += (eta / beta) * (np.outer(rho(below_plus[l]), rho(s_plus[l]))
                                                  - np.outer(rho(below_minus[l]), rho(s_minus[l])))
            sums["biases"][l] += (eta / beta) * (rho(s_plus[l]) - rho(s_minus[l]))
            if initialized:
                delta = (sf[l] - s_minus[l]) * h_prime(pre[l])
                below_f = x if l == 0 else sf[l - 1]
                sums["ff_weights"][l] += -eta * np.outer(below_f, delta)
                sums["ff_biases"][l] += -eta * delta
    return {group: [a / len(xs) for a in arrays] for group, arrays in sums.items()}


PROPERTY_SETTINGS = settings(max_examples=60, deadline=None,
                             suppress_health_check=[HealthCheck.too_slow])


@PROPERTY_SETTINGS
@given(cases())
def test_settle_stays_in_unit_interval_with_finite_energy(case):
    config, network, x, y, beta = case
    engine = DenseEngine(network, config)
    rng = np.random.default_rng(0)
    # Start from arbitrary states, even outside [0, 1]: the engine clips them first.
    start = [rng.normal(0.5, 2.0, (len(x), n)) for n in network.layers[1:]]
    ff = engine.feedforward(x)[1] if config.network.initialized else None
    coupled = ff if config.dynamics.coupling else None
    for steps, nudge in ((config.dynamics.steps_minus, 0.0), (config.dynamics.steps_plus, beta)):
        states, residual = engine.settle(x, start, steps, beta=nudge, target=y, ff_states=coupled)
        for layer in states:
            assert np.all((layer >= 0.0) & (layer <= 1.0))
        assert np.all(np.isfinite(residual))
        assert np.all(np.isfinite(energy(states, x, network.weights, network.biases)))
        assert np.all(np.isfinite(total_energy(states, x, network.weights, network.biases,
                                               beta=nudge, target=y,
                                               coupling=config.dynamics.coupling,
                                               feedforward_states=ff)))
        start = states


@PROPERTY_SETTINGS
@given(cases())
def test_settle_matches_per_sample_loop(case):
    config, network, x, y, beta = case
    engine = DenseEngine(network, config)
    dyn = config.dynamics
    ff = engine.feedforward(x)[1] if config.network.initialized else None
    start = engine.initial_states(x, ff)
    coupled = ff if dyn.coupling else None
    s_minus, _ = engine.settle(x, start, dyn.steps_minus, ff_states=coupled)
    s_plus, _ = engine.settle(x, s_minus, dyn.steps_plus, beta=beta, target=y, ff_states=coupled)
    for k in range(len(x)):
        sf = [f[k] for f in ff] if ff is not None else None
        ref_minus = reference_settle(x[k], [s[k] for s in start], dyn.steps_minus, network,
                                     dyn.dt, coupling=dyn.coupling, sf=sf)
        ref_plus = reference_settle(x[k], ref_minus, dyn.steps_plus, network, dyn.dt, beta=beta,
                                    y=y[k], coupling=dyn.coupling, sf=sf)
        for layer, (mine, ref) in enumerate(zip(s_minus, ref_minus)):
            np.testing.assert_allclose(mine[k], ref, rtol=0, atol=1e-10,
                                       err_msg=f"s- layer {layer}")
        for layer, (mine, ref) in enumerate(zip(s_plus, ref_plus)):
            np.testing.assert_allclose(mine[k], ref, rtol=0, atol=1e-10,
                                       err_msg=f"s+ layer {layer}")


@PROPERTY_SETTINGS
@given(cases())
def test_train_batch_matches_per_sample_loop(case):
    config, network, x, y, beta = case
    before = network.copy()
    expected = reference_train_batch(config, before, x, y, beta)
    engine = DenseEngine(network, config)
    engine.train_batch(x, y, beta)
    after = engine.network
    for group, increments in expected.items():
        for l, increment in enumerate(increments):
            change = getattr(after, group)[l] - getattr(before, group)[l]
            np.testing.assert_allclose(change, increment, rtol=0, atol=1e-9,
                                       err_msg=f"{group}[{l}]")


# --- the Brian2 engine against the dense one ---------------------------------------------------

def brian2_engine(network, config):
    """Build the Brian2 engine on the runtime numpy target (no compiler needed)."""
    import brian2

    from neurosim.engines.brian2_engine import Brian2Engine

    brian2.prefs.codegen.target = "numpy"
    parameters = inspect.signature(Brian2Engine).parameters
    options = {name: "numpy" for name in ("target", "codegen_target") if name in parameters}
    if "mode" in parameters:
        options["mode"] = "runtime"
    return make_engine("brian2", network, config, **options)


@pytest.mark.skipif(not HAS_BRIAN2_ENGINE, reason="neurosim/engines/brian2_engine.py is absent")
@settings(max_examples=4, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(cases(max_layers=3, max_size=5, max_steps=8, max_batch=1))
def test_brian2_record_sample_matches_dense(case):
    config, network, x, y, _ = case
    dense = DenseEngine(network.copy(), config).record_sample(x[0], y[0])
    engine = brian2_engine(network.copy(), config)
    try:
        recorded = engine.record_sample(x[0], y[0])
    finally:
        engine.close()
    np.testing.assert_allclose(recorded["t"], dense["t"], rtol=0, atol=1e-12)
    for layer, (mine, ref) in enumerate(zip(recorded["states"], dense["states"])):
        np.testing.assert_allclose(mine, ref, rtol=0, atol=1e-9, err_msg=f"layer {layer}")
