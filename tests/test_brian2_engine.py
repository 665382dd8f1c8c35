"""The Brian2 engine against the dense engine, NumPy references and the command line.

Most tests run Brian2 in runtime mode with the numpy target, which compiles nothing. The
C++ standalone tests share one build cache per test session (kept in pytest's cache
folder when it is enabled), so only the first session compiles.
"""

import json
import logging
import os
import shutil
import sys
import threading

import numpy as np
import pytest

from conftest import small_config
from neurosim.brian2 import standalone
from neurosim.brian2.spec import NetworkSpec
from neurosim.config import apply_overrides, load_config
from neurosim.engines.brian2_engine import Brian2Engine
from neurosim.engines.dense import DenseEngine
from neurosim.errors import ConfigError
from neurosim.network import Network
from runhelpers import run_cli

HAS_COMPILER = shutil.which(os.environ.get("CXX", "g++")) is not None


@pytest.fixture(scope="session")
def build_cache(request, tmp_path_factory):
    """Point the standalone build cache at a folder shared by this session's tests."""
    cache = getattr(request.config, "cache", None)
    folder = cache.mkdir("neurosim-brian2") if cache is not None else \
        tmp_path_factory.mktemp("neurosim-brian2")
    saved = os.environ.get("NEUROSIM_BRIAN2_CACHE")
    os.environ["NEUROSIM_BRIAN2_CACHE"] = str(folder)
    yield folder
    if saved is None:
        os.environ.pop("NEUROSIM_BRIAN2_CACHE", None)
    else:
        os.environ["NEUROSIM_BRIAN2_CACHE"] = saved


def _network(config, seed=3, bias_scale=0.3):
    """Return a network with random biases, so that states settle inside (0, 1)."""
    network = Network.initialize(config.network.layers, seed=seed)
    rng = np.random.default_rng(seed)
    for bias in network.biases + network.ff_biases:
        bias += rng.normal(0.0, bias_scale, bias.shape)
    return network


def _data(config, n, seed=5):
    """Return ``n`` inputs in [0, 1] with zeros (like MNIST pixels) and one-hot targets."""
    rng = np.random.default_rng(seed)
    x = rng.uniform(0.0, 1.0, (n, config.network.layers[0]))
    x[x < 0.4] = 0.0
    n_classes = config.network.layers[-1]
    return x, np.eye(n_classes)[rng.integers(0, n_classes, n)]


def _assert_same_parameters(engine, reference, atol):
    for (name, mine), (_, expected) in zip(engine.network.parameters(),
                                           reference.network.parameters()):
        np.testing.assert_allclose(mine, expected, rtol=0, atol=atol, err_msg=name)


def _assert_same_stats(stats, reference):
    assert stats.samples == reference.samples
    assert stats.correct_sf == reference.correct_sf
    assert stats.correct_minus == reference.correct_minus
    assert stats.residual_sum == pytest.approx(reference.residual_sum, rel=1e-9, abs=1e-12)
    assert stats.residual_max == pytest.approx(reference.residual_max, rel=1e-9, abs=1e-12)


# --- one relaxation ------------------------------------------------------------------------

RELAXATIONS = {
    "plain EP": dict(init="zero"),
    "Initialized EP": dict(init="feedforward"),
    "lambda 0.2": dict(init="feedforward", coupling=0.2),
}


@pytest.mark.parametrize("case", RELAXATIONS)
def test_record_sample_matches_dense(case):
    config = small_config(layers=(10, 7, 5, 3), t_minus=6.0, t_plus=2.0, **RELAXATIONS[case])
    network = _network(config)
    x, y = _data(config, 1)
    expected = DenseEngine(network.copy(), config).record_sample(x[0], y[0], beta=-0.5)

    engine = Brian2Engine(network.copy(), config, device="numpy")
    recorded = engine.record_sample(x[0], y[0], beta=-0.5)
    assert set(recorded) == set(expected)
    np.testing.assert_allclose(recorded["t"], expected["t"], rtol=0, atol=1e-12)
    np.testing.assert_array_equal(recorded["beta"], expected["beta"])
    assert recorded["t_boundary"] == expected["t_boundary"]
    for layer, (mine, reference) in enumerate(zip(recorded["states"], expected["states"])):
        assert mine.shape == reference.shape
        np.testing.assert_allclose(mine, reference, rtol=0, atol=1e-10, err_msg=f"layer {layer}")
    if expected["ff_states"] is None:
        assert recorded["ff_states"] is None
    else:
        for mine, reference in zip(recorded["ff_states"], expected["ff_states"]):
            np.testing.assert_allclose(mine, reference, rtol=0, atol=1e-12)


def test_record_sample_zero_start_matches_dense():
    config = small_config(layers=(10, 7, 3), t_minus=4.0)
    network = _network(config)
    x, y = _data(config, 1)
    expected = DenseEngine(network.copy(), config).record_sample(x[0], y[0], start="zero")
    recorded = Brian2Engine(network.copy(), config, device="numpy").record_sample(
        x[0], y[0], start="zero")
    assert all(np.all(states[0] == 0.0) for states in recorded["states"])
    for mine, reference in zip(recorded["states"], expected["states"]):
        np.testing.assert_allclose(mine, reference, rtol=0, atol=1e-10)


def test_record_both_starts_logs_mode_once(caplog):
    config = small_config(layers=(10, 7, 3), t_minus=2.0)
    engine = Brian2Engine(_network(config), config, device="numpy")
    x, y = _data(config, 1)
    with caplog.at_level(logging.INFO, logger="neurosim"):
        engine.record_sample(x[0], y[0], start="zero")
        engine.record_sample(x[0], y[0], start="feedforward")
    lines = [r.getMessage() for r in caplog.records if "record network runs" in r.getMessage()]
    assert lines == ["Brian2 engine: the record network runs in runtime mode (numpy)"]


# --- training --------------------------------------------------------------------------------

TRAININGS = {
    "online, Initialized EP": dict(batch_size=1),
    "minibatches, global loss, lambda 0.1": dict(batch_size=10, coupling=0.1,
                                                 feedforward_loss="global"),
    "online, plain EP": dict(batch_size=1, init="zero"),
    "minibatches, rates scaled by 0.4": dict(batch_size=5, rate_scale=0.4),
}


@pytest.mark.parametrize("case", TRAININGS)
def test_training_matches_dense(case):
    options = dict(TRAININGS[case])
    rate_scale = options.pop("rate_scale", 1.0)
    config = small_config(layers=(12, 8, 6, 3), t_minus=5.0, t_plus=2.0,
                          eta=[0.1, 0.05, 0.02], **options)
    network = _network(config)
    x, y = _data(config, 20)
    signs = np.random.default_rng(7).choice([-1.0, 1.0], 20 // config.training.batch_size)

    dense = DenseEngine(network.copy(), config)
    dense.rate_scale = rate_scale
    expected = dense.train(x, y, signs)
    engine = Brian2Engine(network.copy(), config, device="numpy")
    engine.rate_scale = rate_scale
    stats = engine.train(x, y, signs)

    _assert_same_parameters(engine, dense, atol=1e-8)
    _assert_same_stats(stats, expected)
    assert engine.network.first_non_finite() is None
    moved = max(np.abs(a - b).max() for (_, a), (_, b) in
                zip(engine.network.parameters(), network.parameters()))
    assert moved > 1e-3, "training left the parameters unchanged"


def test_evaluate_matches_dense():
    config = small_config(layers=(12, 8, 3), coupling=0.1, t_minus=5.0)
    network = _network(config)
    x, _ = _data(config, 7)
    expected = DenseEngine(network.copy(), config).evaluate(x)
    result = Brian2Engine(network.copy(), config, device="numpy").evaluate(x)
    np.testing.assert_allclose(result.output_minus, expected.output_minus, rtol=0, atol=1e-10)
    np.testing.assert_allclose(result.output_sf, expected.output_sf, rtol=0, atol=1e-12)
    np.testing.assert_allclose(result.residual, expected.residual, rtol=0, atol=1e-10)


def test_engine_rejects_unknown_device():
    config = small_config()
    with pytest.raises(ConfigError, match="device 'gpu' is unknown"):
        Brian2Engine(Network.initialize(config.network.layers), config, device="gpu")


def test_batches_per_call_fills_a_chunk():
    config = small_config(batch_size=20)
    engine = Brian2Engine(Network.initialize(config.network.layers), config, chunk_samples=5000)
    assert engine.batches_per_call == 250


# --- continuous time -----------------------------------------------------------------------

def _rk4_reference(config, network, x, y, beta):
    """Integrate the negative and positive phase with RK4, synaptic currents held per step.

    Within a step every neuron sees the currents of the states at the step's start (as
    Brian2 computes summed variables once per step) and RK4 integrates its own leak,
    coupling and nudging; the states are then clipped to [0, 1].
    """
    dt, coupling = config.dynamics.dt, config.dynamics.coupling
    weights, biases = network.weights, network.biases
    below = x
    ff_states = []
    for phi, c in zip(network.ff_weights, network.ff_biases):
        u = below @ phi + c
        below = np.clip(u, 0, 1) + 0.01 * u
        ff_states.append(below)
    states = [np.clip(f, 0, 1) for f in ff_states]
    steps = config.dynamics.steps_minus + config.dynamics.steps_plus
    for step in range(steps):
        nudge = beta if step >= config.dynamics.steps_minus else 0.0
        currents = []
        for layer in range(len(states)):
            drive = biases[layer] + (x if layer == 0 else states[layer - 1]) @ weights[layer]
            if layer + 1 < len(states):
                drive = drive + states[layer + 1] @ weights[layer + 1].T
            currents.append(drive)
        new_states = []
        for layer, (s, current) in enumerate(zip(states, currents)):
            def rate(u, layer=layer, current=current):
                value = -u + current + 2 * coupling * (ff_states[layer] - u)
                if layer == len(states) - 1:
                    value = value + nudge * (y - u)
                return value
            k1 = rate(s)
            k2 = rate(s + 0.5 * dt * k1)
            k3 = rate(s + 0.5 * dt * k2)
            k4 = rate(s + dt * k3)
            new_states.append(np.clip(s + dt / 6 * (k1 + 2 * k2 + 2 * k3 + k4), 0, 1))
        states = new_states
    return states


def test_rk4_relaxation_matches_numpy_reference():
    config = small_config(layers=(10, 7, 3), t_minus=3.0, t_plus=1.0, coupling=0.3)
    config = apply_overrides(config, ['dynamics.method="rk4"'])
    network = _network(config)
    x, y = _data(config, 1)
    recorded = Brian2Engine(network.copy(), config, device="numpy").record_sample(
        x[0], y[0], beta=0.7)
    expected = _rk4_reference(config, network, x[0], y[0], 0.7)
    for mine, reference in zip(recorded["states"], expected):
        np.testing.assert_allclose(mine[-1], reference, rtol=0, atol=1e-10)


@pytest.mark.parametrize("method", ["euler", "rk4"])
def test_settled_state_converges_as_dt_shrinks(method):
    base = small_config(layers=(10, 8, 4), t_minus=2.0, t_plus=0.5)
    network = _network(base, bias_scale=0.1)
    x, y = _data(base, 1)
    settled = []
    for dt in (0.25, 0.125, 0.0625, 0.03125):
        config = apply_overrides(base, [f'dynamics.method="{method}"', f"dynamics.dt={dt}"])
        record = Brian2Engine(network.copy(), config, device="numpy").record_sample(x[0], y[0])
        steps = config.dynamics.steps_minus
        assert record["t"][steps] == pytest.approx(2.0)
        settled.append(np.concatenate([states[steps] for states in record["states"]]))
    changes = [np.abs(a - b).max() for a, b in zip(settled, settled[1:])]
    # First order in dt: each halving of dt about halves the change.
    for coarse, fine in zip(changes, changes[1:]):
        assert fine < 0.7 * coarse, changes
    assert changes[-1] < 5e-3, changes


# --- devices -------------------------------------------------------------------------------

@pytest.mark.skipif(not HAS_COMPILER, reason="no C++ compiler")
@pytest.mark.slow
def test_standalone_training_matches_dense(build_cache):
    config = apply_overrides(load_config("synthetic-small"), ["training.epochs=1"])
    network = _network(config)
    x, y = _data(config, 20)
    signs = np.array([1.0, -1.0])
    dense = DenseEngine(network.copy(), config)
    expected = dense.train(x, y, signs)

    engine = Brian2Engine(network.copy(), config, device="cpp_standalone")
    try:
        stats = engine.train(x, y, signs)
        assert engine.device_name == "cpp_standalone"
        _assert_same_parameters(engine, dense, atol=1e-8)
        _assert_same_stats(stats, expected)
        result = engine.evaluate(x)
    finally:
        engine.close()
    reference = dense.evaluate(x)
    np.testing.assert_allclose(result.output_minus, reference.output_minus, rtol=0, atol=1e-10)
    np.testing.assert_allclose(result.output_sf, reference.output_sf, rtol=0, atol=1e-10)


def test_fallback_to_runtime_without_compiler(tmp_path, monkeypatch, caplog):
    import neurosim.brian2.device as device

    monkeypatch.setenv("CXX", str(tmp_path / "no-such-compiler"))
    monkeypatch.setenv("NEUROSIM_BRIAN2_CACHE", str(tmp_path / "cache"))
    # Without a compiler cython cannot work either; skip its slow test compilation.
    monkeypatch.setattr(device, "cython_available", lambda: False)
    config = small_config(layers=(8, 5, 3), batch_size=2, t_minus=3.0)
    network = _network(config)
    x, y = _data(config, 4)
    signs = np.array([1.0, -1.0])
    dense = DenseEngine(network.copy(), config)
    dense.train(x, y, signs)

    engine = Brian2Engine(network.copy(), config, device="auto")
    with caplog.at_level(logging.WARNING, logger="neurosim"):
        engine.train(x, y, signs)
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    fallback = [w for w in warnings if "C++ standalone mode is unavailable" in w]
    assert len(fallback) == 1, warnings
    assert "runtime mode (numpy)" in fallback[0]
    assert "no-such-compiler" in fallback[0], "the warning does not name the cause"
    assert engine.device_name == "runtime (numpy)"
    _assert_same_parameters(engine, dense, atol=1e-10)
    assert not list((tmp_path / "cache").glob("train-*/"))


def _stub_compiler(tmp_path, fail=False):
    """Return a compile command that counts its runs and writes a manifest after a pause."""
    script = tmp_path / "stub_compile.py"
    script.write_text(
        "import sys, time, pathlib\n"
        f"log = pathlib.Path({str(tmp_path / 'runs.txt')!r})\n"
        "with log.open('a') as handle: handle.write('run\\n')\n"
        "time.sleep(1.0)\n"
        f"sys.exit(1) if {fail} else None\n"
        "project = pathlib.Path(sys.argv[2]); project.mkdir(parents=True)\n"
        "(project / 'manifest.json').write_text('{}')\n")
    return lambda spec_file, project: [sys.executable, str(script), str(spec_file), str(project)]


def test_concurrent_builds_compile_once(tmp_path, monkeypatch):
    monkeypatch.setenv("NEUROSIM_BRIAN2_CACHE", str(tmp_path / "cache"))
    monkeypatch.setattr(standalone, "compile_command", _stub_compiler(tmp_path))
    spec = NetworkSpec.from_config(small_config(), "train", 10)
    key = standalone.build_key(spec)
    folders = []
    threads = [threading.Thread(target=lambda: folders.append(
        standalone._compile(spec, key, timeout=60)[0])) for _ in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert (tmp_path / "runs.txt").read_text().count("run") == 1
    assert len(set(folders)) == 1
    assert (folders[0] / "manifest.json").is_file()
    assert [p.name for p in (tmp_path / "cache").iterdir() if p.is_dir()] == [key]


def test_failed_build_leaves_no_folder(tmp_path, monkeypatch):
    monkeypatch.setenv("NEUROSIM_BRIAN2_CACHE", str(tmp_path / "cache"))
    monkeypatch.setattr(standalone, "compile_command", _stub_compiler(tmp_path, fail=True))
    spec = NetworkSpec.from_config(small_config(), "train", 10)
    with pytest.raises(standalone.StandaloneBuildError):
        standalone._compile(spec, standalone.build_key(spec), timeout=60)
    assert not [p for p in (tmp_path / "cache").iterdir() if p.is_dir()]


# --- command line --------------------------------------------------------------------------

@pytest.mark.skipif(not HAS_COMPILER, reason="no C++ compiler")
@pytest.mark.slow
def test_cli_train_with_brian2_engine(tmp_path, build_cache):
    brian2_run = run_cli("train", "synthetic-small", "--epochs", "1", "--out", "brian2-run",
                         "--no-progress", cwd=tmp_path, timeout=600)
    assert brian2_run.returncode == 0, brian2_run.stderr
    assert "C++ standalone" in brian2_run.stderr
    dense_run = run_cli("train", "synthetic-small", "--epochs", "1", "--engine", "dense",
                        "--out", "dense-run", "--no-progress", cwd=tmp_path)
    assert dense_run.returncode == 0, dense_run.stderr

    info = json.loads((tmp_path / "brian2-run" / "run.json").read_text())
    assert info["engine"] == "brian2"
    mine = json.loads((tmp_path / "brian2-run" / "metrics.json").read_text())
    reference = json.loads((tmp_path / "dense-run" / "metrics.json").read_text())
    assert len(mine) == len(reference) == 1
    for column in ("train_error_sf", "train_error_minus", "test_error_sf", "test_error_minus"):
        assert mine[0][column] == pytest.approx(reference[0][column], abs=0.01), column
    assert mine[0]["test_error_minus"] < 0.5
