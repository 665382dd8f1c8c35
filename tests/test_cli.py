"""The neurosim command end to end, run as a user would run it."""

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def run_cli(*args, cwd):
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    return subprocess.run([sys.executable, "-m", "neurosim", *args], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=300)


def test_train_evaluate_and_list_models(tmp_path):
    result = run_cli("train", "synthetic-small", "--engine", "dense", "--epochs", "2",
                     "--out", "run", "--no-progress", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert "epoch 2: test error" in result.stdout
    assert (tmp_path / "run" / "metrics.csv").read_text().count("\n") == 3

    result = run_cli("evaluate", "run", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert "run: epoch 2, test error s^f" in result.stdout

    result = run_cli("models", cwd=tmp_path)
    assert result.returncode == 0
    for name in ("mnist-784-500-10", "mnist-784-500x3-10", "mnist-784-500-10-ep",
                 "mnist-784-500x3-10-ep"):
        assert name in result.stdout
    decay_row = next(line for line in result.stdout.splitlines()
                     if line.startswith("mnist-784-500-10-decay "))
    assert "eta=0.3,0.15 x0.7/epoch from 26, 35 epochs" in decay_row


def test_resume_flag_continues_run(tmp_path):
    first = run_cli("train", "synthetic-small", "--engine", "dense", "--epochs", "1",
                    "--out", "run", "--no-progress", cwd=tmp_path)
    assert first.returncode == 0, first.stderr
    second = run_cli("train", "synthetic-small", "--engine", "dense", "--epochs", "2",
                     "--out", "run", "--resume", "--no-progress", cwd=tmp_path)
    assert second.returncode == 0, second.stderr
    assert "epoch 2:" in second.stdout


def test_unknown_preset_is_one_line_error(tmp_path):
    result = run_cli("train", "mnist-784-500-1", "--engine", "dense", cwd=tmp_path)
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1
    assert "no preset named 'mnist-784-500-1'" in lines[0]
    assert "Traceback" not in result.stderr


def test_layers_not_matching_data_is_one_line_error(tmp_path):
    result = run_cli("train", "synthetic-small", "--engine", "dense", "--set",
                     "training.eta=[0.1]", cwd=tmp_path)
    assert result.returncode == 2
    assert "training.eta has 1 values" in result.stderr


def test_help_names_units(tmp_path):
    result = run_cli("train", "--help", cwd=tmp_path)
    assert result.returncode == 0
    assert "units of tau" in result.stdout


def test_evaluate_names_a_partial_epoch():
    from neurosim.cli import _trained_label

    assert _trained_label({"epoch": 2, "next_batch": 1250}) == \
        "epoch 2 and 1250 minibatches of epoch 3"
    assert _trained_label({"epoch": 3, "next_batch": 0}) == "epoch 3"


def test_trace_creates_the_output_folder(tmp_path):
    result = run_cli("trace", "synthetic-small", "--engine", "dense", "--out",
                     "new/deeper/trace.png", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert (tmp_path / "new" / "deeper" / "trace.png").stat().st_size > 0
    assert (tmp_path / "new" / "deeper" / "trace.npz").exists()
