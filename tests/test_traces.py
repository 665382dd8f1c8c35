"""Trace recording: states, energies, saved arrays, neuron choice and the trace command."""

import logging
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from neurosim.cli import main
from neurosim.config import apply_overrides, load_config
from neurosim.data import load_dataset, one_hot
from neurosim.engines.dense import DenseEngine
from neurosim.network import Network
from neurosim.traces import (
    Trace,
    TraceError,
    default_engine,
    parse_neuron_spec,
    record_trace,
    resolve_model,
    select_neurons,
    trace_sample,
)

REPO = Path(__file__).resolve().parent.parent


def _setup(*overrides):
    config = load_config("synthetic-small")
    if overrides:
        config = apply_overrides(config, list(overrides))
    network = Network.initialize(config.network.layers, seed=3)
    data = load_dataset(config)
    return config, network, data


def _direct_settling(engine, config, x, label, start):
    """Both phases through DenseEngine.settle, returning all states per layer (steps + 1, n)."""
    x = x.reshape(1, -1)
    target = one_hot([label], config.network.layers[-1])
    ff_states = engine.feedforward(x)[1]
    init = engine.initial_states(x, ff_states if start == "feedforward" else None)
    s_minus, _, first = engine.settle(x, init, config.dynamics.steps_minus, record=True)
    _, _, second = engine.settle(x, s_minus, config.dynamics.steps_plus,
                                 beta=config.training.beta, target=target, record=True)
    return [np.concatenate([a[:, 0], b[1:, 0]]) for a, b in zip(first.states, second.states)]


def test_record_trace_matches_dense_settle():
    config, network, data = _setup()
    engine = DenseEngine(network, config)
    x, label = data.x_test[5], int(data.y_test[5])

    trace = record_trace(engine, config, x, label, neurons="all")

    assert trace.starts == ["feedforward", "zero"]
    for start in trace.starts:
        expected = _direct_settling(engine, config, x, label, start)
        for layer, states in enumerate(trace.states[start]):
            np.testing.assert_array_equal(states, expected[layer])
    steps = config.dynamics.steps_minus + config.dynamics.steps_plus
    np.testing.assert_allclose(trace.t, np.arange(steps + 1) * config.dynamics.dt)
    assert trace.phase_boundaries.tolist() == [0.0, config.dynamics.t_minus,
                                               config.dynamics.t_minus + config.dynamics.t_plus]


def test_record_trace_energy_matches_formula():
    config, network, data = _setup()
    engine = DenseEngine(network, config)
    x, label = data.x_test[0].astype(np.float64), int(data.y_test[0])
    trace = record_trace(engine, config, x, label, neurons="all")
    s1, s2 = trace.states["zero"]
    (w1, w2), (b1, b2) = network.weights, network.biases
    y = np.eye(config.network.layers[-1])[label]

    for k in (0, 4, len(trace.t) - 1):
        h, o = s1[k], s2[k]
        expected_e = (0.5 * (h @ h + o @ o) - b1 @ h - b2 @ o - x @ w1 @ h - h @ w2 @ o)
        expected_c = 0.5 * np.sum((o - y) ** 2)
        assert trace.energy["zero"][k] == pytest.approx(expected_e, rel=1e-12)
        assert trace.cost["zero"][k] == pytest.approx(expected_c, rel=1e-12)
        expected_f = expected_e + trace.beta[k] * expected_c
        assert trace.total_energy["zero"][k] == pytest.approx(expected_f, rel=1e-12)


def test_record_trace_energy_decreases_when_settling():
    config, network, data = _setup("dynamics.dt=0.05", "dynamics.t_minus=5.0",
                                   "dynamics.t_plus=1.0", "dynamics.coupling=0.0")
    engine = DenseEngine(network, config)
    steps_minus = config.dynamics.steps_minus

    for sample in range(5):
        trace = record_trace(engine, config, data.x_test[sample], int(data.y_test[sample]),
                             beta=0.0)
        assert not trace.beta.any()
        for start in trace.starts:
            negative = trace.total_energy[start][:steps_minus + 1]
            assert np.all(np.diff(negative) <= 1e-12), (sample, start)
            assert negative[0] - negative[-1] > 0.1, (sample, start)


def test_record_trace_coupling_adds_to_total_energy():
    config, network, data = _setup("dynamics.coupling=0.1")
    engine = DenseEngine(network, config)
    trace = record_trace(engine, config, data.x_test[1], int(data.y_test[1]), neurons="all")
    ff = [np.asarray(f) for f in engine.feedforward(data.x_test[1:2].astype(np.float64))[1]]
    states = trace.states["zero"]
    k = 3
    coupling = 0.1 * sum(np.sum((f[0] - s[k]) ** 2) for f, s in zip(ff, states))
    assert trace.total_energy["zero"][k] == pytest.approx(trace.energy["zero"][k] + coupling)


def test_record_trace_plain_ep_has_zero_start_only(tmp_path):
    config, network, data = _setup('network.init="zero"')
    trace = record_trace(DenseEngine(network, config), config, data.x_test[0],
                         int(data.y_test[0]))

    assert trace.starts == ["zero"]
    assert trace.ff_states is None
    with np.load(trace.save(tmp_path / "plain.npz")) as arrays:
        assert "ff_1" not in arrays.files
        assert "states_feedforward_1" not in arrays.files


def test_trace_save_has_documented_shapes(tmp_path):
    config, network, data = _setup()
    n_hidden = config.network.layers[1]
    trace = record_trace(DenseEngine(network, config), config, data.x_test[2],
                         int(data.y_test[2]), neurons={1: [0, n_hidden - 1], 2: "all"}, sample=2,
                         split="test")
    n_times = config.dynamics.steps_minus + config.dynamics.steps_plus + 1
    n_input, n_hidden, n_output = config.network.layers

    with np.load(trace.save(tmp_path / "trace.npz"), allow_pickle=False) as arrays:
        assert arrays["t"].shape == (n_times,)
        assert arrays["beta"].shape == (n_times,)
        assert arrays["phase_boundaries"].shape == (3,)
        assert arrays["layers"].tolist() == [n_input, n_hidden, n_output]
        assert arrays["starts"].tolist() == ["feedforward", "zero"]
        assert arrays["x"].shape == (n_input,)
        assert int(arrays["label"]) == int(data.y_test[2])
        assert int(arrays["sample"]) == 2
        assert str(arrays["split"]) == "test"
        assert arrays["neurons_1"].tolist() == [0, n_hidden - 1]
        assert arrays["neurons_2"].tolist() == list(range(n_output))
        for start in ("feedforward", "zero"):
            assert arrays[f"states_{start}_1"].shape == (n_times, 2)
            assert arrays[f"states_{start}_2"].shape == (n_times, n_output)
            for key in ("energy", "cost", "total_energy"):
                assert arrays[f"{key}_{start}"].shape == (n_times,)
        assert arrays["ff_1"].shape == (2,)
        assert arrays["ff_2"].shape == (n_output,)

    loaded = Trace.load(tmp_path / "trace.npz")
    np.testing.assert_array_equal(loaded.states["zero"][0], trace.states["zero"][0])
    assert loaded.label == trace.label


def test_select_neurons_default_keeps_most_active_and_label():
    t = np.linspace(0, 1, 5)[:, None]
    hidden = np.hstack([t * 0.1, t * 0.9, t * 0.0, t * 0.5, t * 0.7, t * 0.3])
    output = np.hstack([t * 0.9, t * 0.8, t * 0.7, t * 0.6, t * 0.5, t * 0.0])

    chosen = select_neurons([hidden, output], None, label=5)

    assert chosen[0].tolist() == [1, 3, 4, 5]
    assert chosen[1].tolist() == [0, 1, 2, 5]
    assert [c.tolist() for c in select_neurons([hidden, output], 2)] == [[1, 4], [0, 1]]


@pytest.mark.parametrize("neurons, value", [({1: [32]}, "32"), ({2: [0, -1]}, "-1"),
                                            ({3: [0]}, "layer 3"), ({0: "all"}, "layer 0")])
def test_select_neurons_rejects_missing(neurons, value):
    states = [np.zeros((3, 32)), np.zeros((3, 4))]
    with pytest.raises(TraceError, match=value):
        select_neurons(states, neurons)


def test_parse_neuron_spec_forms():
    assert parse_neuron_spec(None) is None
    assert parse_neuron_spec(["all"]) == "all"
    assert parse_neuron_spec(["6"]) == 6
    assert parse_neuron_spec(["1:0,5,7", "2:all"]) == {1: [0, 5, 7], 2: "all"}
    assert parse_neuron_spec(["3", "2:1"]) == {2: [1], "default": 3}
    for bad in (["x"], ["1:a"], ["0"], ["1:"]):
        with pytest.raises(TraceError):
            parse_neuron_spec(bad)


def test_trace_sample_from_run_directory_uses_checkpoint(tmp_path):
    from neurosim.checkpoint import load_checkpoint
    from neurosim.training import Trainer

    config, _, data = _setup("training.epochs=1")
    run = tmp_path / "run"
    Trainer(config, run, engine="dense", max_samples=100, progress=False).fit()
    trained, _ = load_checkpoint(run / "checkpoint.npz")

    _, network, source = resolve_model(run)
    initial = Network.initialize(config.network.layers, seed=config.training.seed)
    for loaded, saved in zip(network.weights + network.ff_weights,
                             trained.weights + trained.ff_weights):
        np.testing.assert_array_equal(loaded, saved)
    assert not np.array_equal(network.weights[0], initial.weights[0])
    assert "epoch 1" in source

    trace = trace_sample(run, sample=7, neurons="all", engine="dense")
    expected = _direct_settling(DenseEngine(trained, config), config, data.x_test[7],
                                int(data.y_test[7]), "feedforward")
    np.testing.assert_array_equal(trace.states["feedforward"][1], expected[1])


def test_resolve_model_preset_uses_seed():
    config, network, _ = resolve_model("synthetic-small")
    expected = Network.initialize(config.network.layers, seed=config.training.seed)
    np.testing.assert_array_equal(network.weights[1], expected.weights[1])


def test_default_engine_falls_back_to_dense(monkeypatch, caplog):
    import neurosim.engines

    monkeypatch.setitem(sys.modules, "neurosim.engines.brian2_engine", None)
    # A test that imported the engine earlier left it as an attribute of the package,
    # which "from .engines import brian2_engine" would find first.
    monkeypatch.delattr(neurosim.engines, "brian2_engine", raising=False)
    with caplog.at_level(logging.WARNING, logger="neurosim.traces"):
        assert default_engine() == "dense"
    assert "dense engine instead" in caplog.text


def test_trace_cli_writes_png_and_npz(tmp_path, capsys):
    out = tmp_path / "t.png"
    status = main(["trace", "synthetic-small", "--sample", "4", "--engine", "dense",
                   "--neurons", "2", "1:0,1,2", "--out", str(out)])

    assert status == 0
    assert out.stat().st_size > 10_000
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    with np.load(tmp_path / "t.npz") as arrays:
        assert arrays["neurons_1"].tolist() == [0, 1, 2]
        assert arrays["neurons_2"].shape == (2,)
        assert int(arrays["sample"]) == 4
    assert "t.npz" in capsys.readouterr().out


@pytest.mark.parametrize("args, value", [
    (["--sample", "200"], "sample 200"),
    (["--sample", "-1"], "sample -1"),
    (["--split", "train", "--sample", "600"], "sample 600"),
    (["--neurons", "1:1000"], "neuron 1000"),
    (["--neurons", "5:0"], "layer 5"),
])
def test_trace_cli_rejects_missing_sample_or_neuron(tmp_path, capsys, args, value):
    status = main(["trace", "synthetic-small", "--engine", "dense",
                   "--out", str(tmp_path / "t.png")] + args)

    err = capsys.readouterr().err
    assert status == 2
    assert value in err
    assert err.count("\n") == 1
    assert not (tmp_path / "t.png").exists()


def test_trace_cli_missing_run_directory(tmp_path, capsys):
    missing = tmp_path / "runs" / "nothing"

    status = main(["trace", str(missing), "--engine", "dense"])

    err = capsys.readouterr().err
    assert status == 2
    assert f"{missing} not found" in err
    assert err.count("\n") == 1


def test_trace_cli_run_without_checkpoint(tmp_path):
    run = tmp_path / "unfinished"
    run.mkdir()
    (run / "config.toml").write_text((REPO / "models" / "synthetic-small.toml").read_text())

    result = subprocess.run([sys.executable, "-m", "neurosim", "trace", str(run), "--engine",
                             "dense", "--out", str(tmp_path / "t.png")],
                            capture_output=True, text=True, cwd=REPO, timeout=120)

    assert result.returncode == 2
    assert str(run) in result.stderr
    assert "checkpoint" in result.stderr
    assert "Traceback" not in result.stderr
    assert result.stderr.strip().count("\n") == 0


@pytest.mark.slow
def test_trace_brian2_matches_dense():
    pytest.importorskip("neurosim.engines.brian2_engine")
    from neurosim.engines import make_engine

    config, network, data = _setup()
    x, label = data.x_test[0], int(data.y_test[0])
    engine = make_engine("brian2", network, config)
    try:
        trace = record_trace(engine, config, x, label, neurons="all")
    finally:
        engine.close()
    reference = record_trace(DenseEngine(network, config), config, x, label, neurons="all")

    for start in reference.starts:
        for got, expected in zip(trace.states[start], reference.states[start]):
            np.testing.assert_allclose(got, expected, atol=1e-9)
        np.testing.assert_allclose(trace.total_energy[start], reference.total_energy[start],
                                   atol=1e-8)


def test_bad_neuron_index_rejected_before_simulation(monkeypatch):
    from neurosim import traces

    config = load_config("synthetic-small")
    engine = DenseEngine(Network.initialize(config.network.layers, seed=0), config)

    def fail(*args, **kwargs):
        raise AssertionError("the engine simulated before the neuron check")

    monkeypatch.setattr(engine, "record_sample", fail)
    x = np.zeros(config.network.layers[0])
    with pytest.raises(traces.TraceError, match="neuron 500 of layer 1 does not exist"):
        traces.record_trace(engine, config, x, 0, neurons={1: [500]})
