"""Settling diagnostics: steps to reach the fixed point from s^f and from zero."""

import numpy as np
import pytest

from neurosim.config import apply_overrides, load_config
from neurosim.convergence import _steps_within, settling_steps
from neurosim.data import load_dataset
from neurosim.learning import feedforward_pass
from neurosim.network import Network


def _euler_settle(network, x, state, steps, dt):
    """Plain forward-Euler loop of the free phase for a network with one hidden layer."""
    (w1, w2), (b1, b2) = network.weights, network.biases
    hidden, output = (s.copy() for s in state)
    history = [np.concatenate([hidden, output])]
    for _ in range(steps):
        new_hidden = hidden + dt * (-hidden + b1 + x @ w1 + output @ w2.T)
        new_output = output + dt * (-output + b2 + hidden @ w2)
        hidden, output = np.clip(new_hidden, 0, 1), np.clip(new_output, 0, 1)
        history.append(np.concatenate([hidden, output]))
    return np.array(history)


def test_steps_within_hand_cases():
    distance = np.array([[2.0, 0.1, 2.0],
                         [0.5, 0.1, 2.0],
                         [2.0, 0.1, 0.5],
                         [0.5, 0.1, 2.0],
                         [0.1, 0.1, 0.5]])
    assert _steps_within(distance, 1.0).tolist() == [3, 0, 4]
    assert _steps_within(distance, 0.05).tolist() == [-1, -1, -1]


def test_settling_steps_matches_plain_loop():
    config = load_config("synthetic-small")
    network = Network.initialize(config.network.layers, seed=1)
    x = load_dataset(config).x_test[:7].astype(np.float64)
    dt, tol, max_steps, reference_steps = config.dynamics.dt, 1e-4, 40, 1000

    result = settling_steps(network, config, x, tol=tol, max_steps=max_steps,
                            reference_steps=reference_steps, chunk_size=3)
    counted = np.concatenate([result.steps["zero"], result.steps["feedforward"]])
    assert (counted > 0).any()
    assert (counted == -1).any()

    sf = feedforward_pass(x, network.ff_weights, network.ff_biases)[1]
    for i in range(len(x)):
        zero = [np.zeros(n) for n in config.network.layers[1:]]
        reference = _euler_settle(network, x[i], zero, reference_steps, dt)[-1]
        for start, init in (("zero", zero), ("feedforward", [np.clip(f[i], 0, 1) for f in sf])):
            path = _euler_settle(network, x[i], init, max_steps, dt)
            distance = np.abs(path - reference).max(axis=1)
            within = distance <= tol
            if not within[-1]:
                expected = -1
            else:
                outside = np.flatnonzero(~within)
                expected = int(outside[-1] + 1) if outside.size else 0
            assert result.steps[start][i] == expected, (i, start)
    assert result.distance["zero"].shape == (max_steps + 1,)
    assert result.distance["zero"][0] > result.distance["zero"][-1]
    assert np.all(result.reference_change < tol / 100)
    assert result.fixed_point_gap.shape == (len(x),)


def test_settling_steps_zero_start_only_for_plain_ep():
    config = apply_overrides(load_config("synthetic-small"), ['network.init="zero"'])
    network = Network.initialize(config.network.layers, seed=1)
    x = load_dataset(config).x_test[:4]

    result = settling_steps(network, config, x, max_steps=20, reference_steps=100)

    assert list(result.steps) == ["zero"]
    summary = result.summary()["zero"]
    assert summary["samples"] == 4
    assert 0 <= summary["settled"] <= 4


def test_settling_steps_rejects_short_reference():
    config = load_config("synthetic-small")
    network = Network.initialize(config.network.layers, seed=1)
    with pytest.raises(ValueError, match="reference_steps = 10"):
        settling_steps(network, config, np.zeros((1, 64)), max_steps=20, reference_steps=10)


def test_fraction_settled_counts_steps():
    from neurosim.convergence import SettlingSteps

    result = SettlingSteps(tol=1e-3, dt=0.5, max_steps=10, reference_steps=20,
                           steps={"zero": np.array([0, 4, 10, -1])}, distance={},
                           reference_change=np.zeros(4), fixed_point_gap=np.zeros(0))

    assert result.fraction_settled(4) == {"zero": 0.5}
    assert result.fraction_settled(10) == {"zero": 0.75}
    assert result.summary()["zero"]["mean_steps"] == pytest.approx(14 / 3)


def test_settling_steps_last_step_energy_change():
    from neurosim.dynamics import energy

    config = load_config("synthetic-small")
    network = Network.initialize(config.network.layers, seed=1)
    x = load_dataset(config).x_test[:3].astype(np.float64)
    steps_minus = config.dynamics.steps_minus

    result = settling_steps(network, config, x, max_steps=steps_minus, reference_steps=50)

    zero = [np.zeros(n) for n in config.network.layers[1:]]
    for i in range(len(x)):
        path = _euler_settle(network, x[i], zero, steps_minus, config.dynamics.dt)
        n_hidden = config.network.layers[1]
        before, after = path[-2], path[-1]
        expected = (energy([after[:n_hidden], after[n_hidden:]], x[i], network.weights,
                           network.biases)
                    - energy([before[:n_hidden], before[n_hidden:]], x[i], network.weights,
                             network.biases))
        assert result.last_step_energy_change["zero"][i] == pytest.approx(expected, abs=1e-12)

    short = settling_steps(network, config, x, max_steps=steps_minus - 1, reference_steps=50)
    assert np.isnan(short.last_step_energy_change["feedforward"]).all()
