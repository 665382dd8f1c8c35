"""The installed package has its presets and subpackages without the source tree.

The tests are skipped where neurosim is not installed, as in a development checkout.
"""

import os
import subprocess
import sys
from pathlib import Path

import pytest


def _installed_neurosim(cwd):
    env = {key: value for key, value in os.environ.items() if key != "PYTHONPATH"}
    probe = subprocess.run([sys.executable, "-c", "import neurosim, sys; print(neurosim.__file__)"],
                           cwd=cwd, env=env, capture_output=True, text=True)
    return env if probe.returncode == 0 else None


def test_installed_package_lists_presets(tmp_path):
    env = _installed_neurosim(tmp_path)
    if env is None:
        pytest.skip("neurosim is not installed in this environment")
    result = subprocess.run([sys.executable, "-m", "neurosim", "models"], cwd=tmp_path, env=env,
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert "mnist-784-500-10 " in result.stdout
    assert "mnist-784-500x3-10 " in result.stdout


def test_installed_package_has_every_subpackage(tmp_path):
    env = _installed_neurosim(tmp_path)
    if env is None:
        pytest.skip("neurosim is not installed in this environment")
    source = Path(__file__).resolve().parent.parent / "neurosim"
    names = sorted(f"neurosim.{init.parent.name}" for init in source.glob("*/__init__.py"))
    code = "import importlib, sys\nfor name in sys.argv[1:]:\n    importlib.import_module(name)\n"
    result = subprocess.run([sys.executable, "-c", code, *names], cwd=tmp_path, env=env,
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
