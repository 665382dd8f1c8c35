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
    assert "test error s^f" in result.stdout

    result = run_cli("models", cwd=tmp_path)
    assert result.returncode == 0
    for name in ("mnist-784-500-10", "mnist-784-500x3-10", "mnist-784-500-10-ep",
                 "mnist-784-500x3-10-ep"):
        assert name in result.stdout


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
