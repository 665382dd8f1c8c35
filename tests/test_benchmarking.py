"""The benchmark suite: operation counts, the usual-formulation baseline, the runner and CLI."""

import json
import subprocess
import sys

import numpy as np
import pytest

from neurosim.benchmarking import dense_flops, format_table, select_cases, usual_flops
from neurosim.benchmarking.cases import Case
from neurosim.benchmarking.memory import measure_training_run
from neurosim.benchmarking.runner import child_environment
from neurosim.benchmarking.usual import UsualEP
from neurosim.cli import main
from neurosim.config import Config
from neurosim.engines import DenseEngine
from neurosim.errors import ConfigError
from neurosim.network import Network


def test_dense_flops_shallow_by_hand():
    # 784-500-10, Initialized EP, T- = 20, T+ = 4. Matrix sizes p1 = 392,000, p2 = 5,000.
    count = dense_flops([784, 500, 10], 20, 4)
    assert count.parts == {
        "input products": 2 * 392_000 * 2,  # x W_1 and x Phi_1, once per sample
        "feedforward": 2 * 5_000,
        "settling": 24 * 4 * 5_000,  # W_2 from below and above at each step
        "EP update": 2 * 392_000 + 4 * 5_000,
        "feedforward update": 2 * (392_000 + 5_000),
    }
    assert count.total == 3_656_000


def test_dense_flops_deep_plain_and_evaluation():
    # 784-500-500-500-10: p1 = 392,000, upper layers 250,000 + 250,000 + 5,000 = 505,000.
    plain = dense_flops([784, 500, 500, 500, 10], 20, 8, initialized=False)
    assert plain.total == 2 * 392_000 + 28 * 4 * 505_000 + 2 * 392_000 + 4 * 505_000
    evaluation = dense_flops([784, 500, 500, 500, 10], 20, 8, training=False)
    assert evaluation.total == 4 * 392_000 + 2 * 505_000 + 20 * 4 * 505_000


def test_usual_flops_recompute_input_every_step():
    count = usual_flops([784, 500, 10], 20, 4)
    assert count.parts["settling"] == 24 * (2 * 392_000 + 4 * 5_000)
    assert count.total == (2 * 397_000 + 24 * 804_000 + 4 * 397_000 + 2 * 397_000)
    global_loss = usual_flops([784, 500, 10], 20, 4, feedforward_loss="global")
    assert global_loss.total - count.total == 2 * 5_000


def _config(init="feedforward", coupling=0.0, loss="local"):
    config = Config()
    config.network.layers = [40, 30, 20, 6]
    config.network.init = init
    config.dynamics.t_minus = 3.0
    config.dynamics.t_plus = 1.5
    config.dynamics.coupling = coupling
    config.training.eta = [0.2, 0.1, 0.05]
    config.training.feedforward_loss = loss
    config.training.batch_size = 4
    return config.validate()


@pytest.mark.parametrize("settings", [
    dict(), dict(init="zero"), dict(coupling=0.2), dict(loss="global")],
    ids=["initialized", "plain", "coupling", "global"])
def test_usual_ep_trains_like_dense_engine(settings):
    config = _config(**settings)
    network = Network.initialize(config.network.layers, seed=5)
    rng = np.random.default_rng(0)
    x = rng.random((12, 40))
    y = np.eye(6)[rng.integers(0, 6, 12)]
    signs = [1.0, -1.0, 1.0]

    usual = UsualEP(network, config)
    usual.train(x, y, signs)
    engine = DenseEngine(network, config)
    engine.train(x, y, signs)

    for (name, a), (_, b) in zip(usual.network.parameters(), engine.network.parameters()):
        np.testing.assert_allclose(a, b, rtol=0, atol=1e-10, err_msg=name)
    moved = np.abs(usual.network.weights[0] - network.weights[0]).max()
    assert moved > 1e-3


def test_select_cases_brian2_once_per_network():
    cases = select_cases(["dense", "brian2-cython"], ["shallow"], ["float64", "float32"],
                         [1, 20], [1, 2])
    dense = [c for c in cases if c.engine == "dense"]
    brian2 = [c for c in cases if c.engine == "brian2-cython"]
    assert len(dense) == 8
    assert brian2 == [Case("brian2-cython", "shallow", "float64", 20, 1)]
    assert brian2[0].engine_options == {"device": "cython", "chunk_samples": 1000}


def test_select_cases_rejects_unknown_engine():
    with pytest.raises(ConfigError, match="engine 'gpu' is unknown"):
        select_cases(["gpu"], ["shallow"], ["float64"], [20], [1])


def test_case_config_sets_steps_and_batch():
    config = Case("dense", "deep", "float32", 100, 2).config()
    assert config.network.layers == [784, 500, 500, 500, 10]
    assert (config.dynamics.steps_minus, config.dynamics.steps_plus) == (20, 8)
    assert config.training.batch_size == 100
    assert config.training.dtype == "float32"


def test_format_table_shows_failed_case():
    table = format_table([{"name": "dense x", "error": "boom"}])
    assert "failed: boom" in table.splitlines()[1]


def test_peak_rss_grows_with_allocation():
    # In a fresh process, so that no earlier test has already set the peak.
    code = ("import numpy as np; from neurosim.benchmarking.worker import peak_rss_mib; "
            "before = peak_rss_mib(); block = np.ones(2 ** 24); print(before, peak_rss_mib())")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          env=child_environment(), check=True)
    before, after = map(float, done.stdout.split())
    assert after >= before + 100  # 128 MiB touched


def test_bench_command_writes_table_and_json(tmp_path, capsys):
    out = tmp_path / "bench.json"
    status = main(["bench", "--engines", "dense", "--networks", "shallow", "--dtypes",
                   "float32", "--batches", "20", "--threads", "1", "--seconds", "0.05",
                   "--repeats", "1", "--data", "random", "--json", str(out)])

    assert status == 0
    report = json.loads(out.read_text())
    (case,) = report["cases"]
    assert case["name"] == "dense 784-500-10 float32 b20 t1"
    assert case["train"]["best"] > 0
    assert case["evaluate"]["best"] > 0
    assert case["usual_train"]["best"] > 0
    assert case["flops_per_train_sample"]["total"] == 3_656_000
    assert case["fraction_of_gemm"] == pytest.approx(
        case["train"]["best"] * 3_656_000 / 1e9 / case["gemm_gflops"])
    assert 20 < case["peak_rss_mib"] < 1000
    assert report["machine"]["cpus"] >= 1
    printed = capsys.readouterr().out
    assert "dense 784-500-10 float32 b20 t1" in printed


def test_measure_training_run_reports_peak_memory():
    run = measure_training_run("synthetic-small", epochs=1)
    assert run["exit_code"] == 0, run["output"]
    assert 20 < run["peak_rss_mib"] < 1500
    assert len(run["metrics"]) == 1


def test_brian2_rows_compare_with_dense_usual_baseline():
    from neurosim.benchmarking.runner import _compare_brian2_with_usual

    dense = {"name": "dense shallow", "case": Case("dense", "shallow", "float64", 20, 1).as_dict(),
             "train": {"best": 4000.0}, "usual_train": {"best": 500.0}}
    other = {"name": "dense f32", "case": Case("dense", "shallow", "float32", 20, 1).as_dict(),
             "train": {"best": 8000.0}, "usual_train": {"best": 900.0}}
    brian2 = {"name": "brian2", "case": Case("brian2-standalone", "shallow").as_dict(),
              "train": {"best": 1000.0}}
    deep = {"name": "brian2 deep", "case": Case("brian2-standalone", "deep").as_dict(),
            "train": {"best": 50.0}}

    _compare_brian2_with_usual([dense, other, brian2, deep])

    assert brian2["speedup_over_usual"] == 2.0
    assert brian2["usual_measured_in"] == "dense shallow"
    assert "speedup_over_usual" not in deep


def test_bench_command_rejects_zero_repeats(capsys):
    assert main(["bench", "--repeats", "0"]) == 2
    assert "--repeats 0 is invalid" in capsys.readouterr().err
