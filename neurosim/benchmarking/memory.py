"""Peak memory of a whole training run, measured on a ``neurosim train`` subprocess."""

import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from .runner import child_environment

__all__ = ["measure_training_run"]

# Runs ``neurosim`` with the given arguments and writes the process's peak resident memory
# to the file named first when the interpreter exits.
_WRAPPER = """
import atexit, runpy, sys
from neurosim.benchmarking.worker import peak_rss_mib
report = sys.argv[1]
atexit.register(lambda: open(report, "w").write(repr(peak_rss_mib())))
sys.argv = ["neurosim"] + sys.argv[2:]
runpy.run_module("neurosim", run_name="__main__", alter_sys=True)
"""


def measure_training_run(model="mnist-784-500-10", epochs=1, engine="dense", threads=None,
                         extra_args=()):
    """Train ``model`` in a subprocess and return its peak resident memory and timings.

    The peak is the subprocess's own ``VmHWM`` (see
    :func:`neurosim.benchmarking.worker.peak_rss_mib`), read when it exits, so it covers
    loading the data set, training and evaluation, and nothing of this process.

    Parameters
    ----------
    model : str
        Preset name or TOML path.
    epochs : int
    engine : str
    threads : int, optional
        BLAS threads of the run; None leaves the environment's setting.
    extra_args : sequence of str
        More arguments for ``neurosim train`` (for example ``--max-samples 1000``).

    Returns
    -------
    dict
        ``command``, ``exit_code``, ``peak_rss_mib``, ``wall_seconds``, ``metrics`` (the
        run's metrics.json rows) and ``output`` (its last lines).
    """
    arguments = ["train", str(model), "--engine", engine, "--epochs", str(epochs),
                 "--no-progress", *extra_args]
    with tempfile.TemporaryDirectory(prefix="neurosim-memory-") as folder:
        out = Path(folder) / "run"
        report = Path(folder) / "peak.txt"
        command = [sys.executable, "-c", _WRAPPER, str(report), *arguments, "--out", str(out)]
        began = time.perf_counter()
        done = subprocess.run(command, capture_output=True, text=True,
                              env=child_environment(threads), check=False)
        wall = time.perf_counter() - began
        peak = float(report.read_text()) if report.exists() else None
        metrics_path = out / "metrics.json"
        metrics = json.loads(metrics_path.read_text()) if metrics_path.exists() else None
    output = (done.stdout + done.stderr).strip().splitlines()[-5:]
    return {"command": " ".join(["neurosim", *arguments]), "exit_code": done.returncode,
            "peak_rss_mib": peak, "wall_seconds": wall, "metrics": metrics, "output": output}
