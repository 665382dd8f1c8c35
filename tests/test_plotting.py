"""Learning curves, trace and settling figures, and the plot command."""

import math

import matplotlib.image
import numpy as np
import pytest

from neurosim.cli import main
from neurosim.config import load_config
from neurosim.convergence import settling_steps
from neurosim.data import load_dataset
from neurosim.engines.dense import DenseEngine
from neurosim.network import Network
from neurosim.plotting import (
    PlotError,
    load_metrics,
    plot_learning_curves,
    plot_settling,
    plot_trace,
    run_label,
)
from neurosim.rundir import RunDirectory
from neurosim.traces import record_trace

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def _write_run(folder, n_epochs, plain=False, csv_only=False):
    rows = []
    for epoch in range(1, n_epochs + 1):
        rows.append({
            "epoch": epoch,
            "train_error_sf": float("nan") if plain else 0.2 / epoch,
            "train_error_minus": 0.15 / epoch,
            "test_error_sf": float("nan") if plain else 0.1 / epoch,
            "test_error_minus": 0.08 / epoch,
            "residual_mean": 1e-3 / epoch,
            "residual_max": 1e-2 / epoch,
        })
    run = RunDirectory(folder)
    run.path.mkdir(parents=True)
    run.write_metrics(rows)
    if csv_only:
        run.metrics_json.unlink()
    return run.path


def _assert_png(path, min_width=300):
    data = path.read_bytes()
    assert data[:8] == PNG_SIGNATURE
    assert len(data) > 5_000
    assert matplotlib.image.imread(path).shape[1] >= min_width


def test_load_metrics_reads_json_and_csv(tmp_path):
    json_run = _write_run(tmp_path / "a", 3)
    csv_run = _write_run(tmp_path / "b", 3, csv_only=True)

    from_json, from_csv = load_metrics(json_run), load_metrics(csv_run)

    assert [row["epoch"] for row in from_json] == [1, 2, 3]
    assert [row["epoch"] for row in from_csv] == [1.0, 2.0, 3.0]
    assert from_csv[1]["test_error_minus"] == pytest.approx(0.04)
    assert from_json[2]["residual_max"] == pytest.approx(1e-2 / 3)


def test_load_metrics_rejects_missing(tmp_path):
    (tmp_path / "empty").mkdir()
    with pytest.raises(PlotError, match="empty has no metrics"):
        load_metrics(tmp_path / "empty")
    with pytest.raises(PlotError, match="nowhere not found"):
        load_metrics(tmp_path / "nowhere")


def test_run_label_is_folder_name(tmp_path):
    assert run_label(tmp_path / "init-ep-t20") == "init-ep-t20"
    assert run_label(tmp_path / "init-ep-t20" / ".") == "init-ep-t20"


def test_plot_learning_curves_writes_png(tmp_path):
    runs = [_write_run(tmp_path / "init-ep", 4), _write_run(tmp_path / "plain-ep", 4, plain=True)]

    path = plot_learning_curves(runs, tmp_path / "curves.png")
    wide = plot_learning_curves(runs, tmp_path / "wide.png", log_scale=True, residual=True)

    _assert_png(path)
    _assert_png(wide)
    assert matplotlib.image.imread(wide).shape[1] > matplotlib.image.imread(path).shape[1]


def test_plot_learning_curves_single_epoch(tmp_path):
    path = plot_learning_curves([_write_run(tmp_path / "one", 1)], tmp_path / "one.png")
    _assert_png(path)


def test_plot_rejects_missing_folder(tmp_path):
    run = _write_run(tmp_path / "ok", 2)
    with pytest.raises(PlotError, match="does not exist"):
        plot_learning_curves([run], tmp_path / "missing" / "curves.png")


def test_plot_cli_overlays_runs(tmp_path, capsys):
    runs = [str(_write_run(tmp_path / name, 3)) for name in ("lambda0", "lambda0.1")]
    out = tmp_path / "fig2.png"

    status = main(["plot", *runs, "--out", str(out), "--residual", "--log"])

    assert status == 0
    _assert_png(out)
    assert str(out) in capsys.readouterr().out


def test_plot_cli_run_without_metrics(tmp_path, capsys):
    good = _write_run(tmp_path / "good", 2)
    (tmp_path / "fresh").mkdir()

    status = main(["plot", str(good), str(tmp_path / "fresh"), "--out", str(tmp_path / "x.png")])

    err = capsys.readouterr().err
    assert status == 2
    assert "fresh" in err
    assert err.count("\n") == 1
    assert not (tmp_path / "x.png").exists()


def test_plot_trace_writes_png(tmp_path):
    config = load_config("synthetic-small")
    network = Network.initialize(config.network.layers, seed=0)
    data = load_dataset(config)
    trace = record_trace(DenseEngine(network, config), config, data.x_test[0],
                         int(data.y_test[0]), sample=0, split="test")

    _assert_png(plot_trace(trace, tmp_path / "trace.png"))
    _assert_png(plot_trace(
        record_trace(DenseEngine(network, config), config, data.x_test[0], int(data.y_test[0]),
                     neurons="all"), tmp_path / "all.png"))


def test_plot_settling_writes_png(tmp_path):
    config = load_config("synthetic-small")
    network = Network.initialize(config.network.layers, seed=0)
    x = load_dataset(config).x_test[:5]
    result = settling_steps(network, config, x, max_steps=30, reference_steps=200)

    _assert_png(plot_settling(result, tmp_path / "settling.png"))
    assert not math.isnan(result.distance["zero"][-1])
    assert np.isfinite(result.distance["feedforward"]).all()
