"""Helpers for tests that run the ``neurosim`` command as a user would, in a subprocess."""

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parent.parent

#: Metric columns that depend only on the computation, not on timing.
ERROR_COLUMNS = ("epoch", "train_error_sf", "train_error_minus", "test_error_sf",
                 "test_error_minus", "residual_mean", "residual_max")


def cli_env():
    """Return an environment that imports neurosim from this checkout."""
    env = dict(os.environ, PYTHONPATH=str(REPO))
    env.pop("NEUROSIM_MNIST_DIR", None)
    return env


def neurosim_command(*args):
    """Return the argument list that runs ``neurosim ARGS`` with this interpreter."""
    return [sys.executable, "-m", "neurosim", *map(str, args)]


def run_cli(*args, cwd, timeout=120):
    """Run ``neurosim ARGS`` to completion and return the CompletedProcess."""
    return subprocess.run(neurosim_command(*args), cwd=cwd, env=cli_env(), capture_output=True,
                          text=True, timeout=timeout)


def start_cli(*args, cwd):
    """Start ``neurosim ARGS`` in the background; stdout and stderr go to files in ``cwd``."""
    stdout = open(Path(cwd) / "stdout.txt", "w")
    stderr = open(Path(cwd) / "stderr.txt", "w")
    proc = subprocess.Popen(neurosim_command(*args), cwd=cwd, env=cli_env(), stdout=stdout,
                            stderr=stderr)
    proc.output_files = (stdout, stderr)
    return proc


def finish(proc, timeout=120):
    """Wait for a process from :func:`start_cli`; return (returncode, stdout, stderr)."""
    try:
        proc.wait(timeout=timeout)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        for handle in proc.output_files:
            handle.close()
    stdout, stderr = (Path(handle.name).read_text() for handle in proc.output_files)
    return proc.returncode, stdout, stderr


def checkpoint_state(path):
    """Return the training state stored in a checkpoint, or None if it cannot be read yet."""
    try:
        with np.load(path, allow_pickle=False) as archive:
            return json.loads(archive["state"].tobytes().decode("utf-8"))
    except (OSError, ValueError, KeyError):
        return None


def wait_until(condition, proc, timeout=60.0, interval=0.01):
    """Poll ``condition()`` until it is true; fail if ``proc`` exits first or time runs out.

    On failure the process is killed, so no test leaves a run behind.
    """
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        if proc.poll() is not None:
            raise AssertionError(f"the process exited with {proc.returncode} before the "
                                 "awaited condition held")
        time.sleep(interval)
    proc.kill()
    proc.wait()
    raise AssertionError(f"condition not reached within {timeout} s")


def error_columns(rows):
    """Return the timing-free columns of metric rows as tuples, for exact comparison."""
    return [tuple(row[column] for column in ERROR_COLUMNS) for row in rows]


def one_line(stderr):
    """Return the lines of ``stderr`` that the CLI printed as its error message."""
    return [line for line in stderr.splitlines() if line.startswith("neurosim: ")]
