"""Each experiment script runs end to end in its smoke setting and writes its results."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def _run(script, out, *args):
    env = {**os.environ, "OPENBLAS_NUM_THREADS": "1", "MPLBACKEND": "Agg"}
    result = subprocess.run([sys.executable, str(ROOT / "experiments" / script), "--smoke",
                             "--out", str(out), *args], capture_output=True, text=True,
                            env=env, timeout=300)
    assert result.returncode == 0, result.stderr[-2000:]
    return result


def test_fig1_smoke_writes_fractions(tmp_path):
    _run("fig1_alignment.py", tmp_path)
    result = json.loads((tmp_path / "alignment.json").read_text())
    assert len(result["fraction_positive"]) == 6
    assert result["fraction_positive"][0] == 1.0
    assert (tmp_path / "fig1.png").stat().st_size > 1000
    assert len((tmp_path / "cosines.csv").read_text().splitlines()) == 51


def test_fig2_smoke_trains_and_resumes(tmp_path):
    _run("fig2_learning_curves.py", tmp_path, "--only", "shallow-t4-initep-lambda0.1",
         "deep-t20-ep", "--epochs", "1")
    _run("fig2_learning_curves.py", tmp_path, "--only", "shallow-t4-initep-lambda0.1")
    summary = json.loads((tmp_path / "summary.json").read_text())
    assert set(summary) == {"shallow-t4-initep-lambda0.1", "deep-t20-ep"}
    assert summary["shallow-t4-initep-lambda0.1"]["epochs"] == 2
    assert summary["deep-t20-ep"]["epochs"] == 1
    assert summary["deep-t20-ep"]["final_sf"] is None
    assert summary["deep-t20-ep"]["engine"] == "dense"
    assert (tmp_path / "fig2.png").exists()


def test_fig2_rejects_unknown_run(tmp_path):
    env = {**os.environ, "OPENBLAS_NUM_THREADS": "1"}
    result = subprocess.run([sys.executable, str(ROOT / "experiments" / "fig2_learning_curves.py"),
                             "--smoke", "--out", str(tmp_path), "--only", "nope"],
                            capture_output=True, text=True, env=env, timeout=120)
    assert result.returncode == 2
    assert "unknown run nope" in result.stderr


def test_fig3_smoke_compares_local_and_global(tmp_path):
    _run("fig3_local_global.py", tmp_path)
    summary = json.loads((tmp_path / "summary.json").read_text())
    assert summary["epochs_compared"] == 2
    assert set(summary["runs"]) == {"local", "global"}
    assert summary["runs"]["global"]["engine"] == "dense"
    assert "final_sf_global_minus_local" in summary


def test_gradient_check_smoke_converges_as_beta_shrinks(tmp_path):
    _run("gradient_check.py", tmp_path)
    result = json.loads((tmp_path / "gradient_check.json").read_text())
    for name in ("untrained", "trained"):
        check = result["results"][name]
        assert check["fixed_point_residual_max"] < 1e-10
        assert check["finite_difference"]["max_difference_over_max_gradient"] < 1e-5
        smallest = check["by_beta"][-1]
        assert smallest["symmetric"]["relative_error"] < 1e-3
        assert smallest["plus"]["cosine"] > 0.999


def test_fig2_projects_unfinished_runs_within_bounds(tmp_path):
    _run("fig2_learning_curves.py", tmp_path, "--only", "deep-t20-ep", "--epochs", "5",
         "--max-rms-log", "0.05")
    projection = json.loads((tmp_path / "summary.json").read_text())["deep-t20-ep"]["projection"]
    assert projection["epoch"] == 200
    assert projection["from_epochs"] == 5
    assert projection["sf"] is None  # plain EP has no feedforward prediction
    fit = projection["minus"]
    if fit is not None and "rejected" in fit:
        assert fit["rms_log"] > 0.05
    elif fit is not None:
        assert fit["rms_log"] <= 0.05
        assert 0.0 <= fit["low"] <= fit["value"] <= fit["high"] <= 100.0
    assert (tmp_path / "fig2-projection.png").exists()


@pytest.mark.parametrize("option, value", [("--max-rms-log", "0"), ("--project-skip", "-1")])
def test_fig2_rejects_invalid_projection_option(tmp_path, option, value):
    env = {**os.environ, "OPENBLAS_NUM_THREADS": "1"}
    result = subprocess.run([sys.executable, str(ROOT / "experiments" / "fig2_learning_curves.py"),
                             "--smoke", "--out", str(tmp_path), option, value],
                            capture_output=True, text=True, env=env, timeout=120)
    assert result.returncode == 2
    assert f"{option} {value} is invalid" in result.stderr
