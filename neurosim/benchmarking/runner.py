"""Run benchmark cases, each in a subprocess, and collect the results with the machine's facts."""

import json
import logging
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from .cases import select_cases
from .flops import dense_flops, usual_flops

__all__ = ["machine_info", "prepare_data", "run_benchmarks", "brian2_status", "child_environment"]

logger = logging.getLogger(__name__)

#: Environment variables that set BLAS threads or the OpenBLAS kernel; recorded with results.
BLAS_VARIABLES = ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS",
                  "OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE")

#: Maximum time one case may take (Brian2 compiles C++ code in its first call).
CASE_TIMEOUT_SECONDS = 1800


def _cpu_model():
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def _memory_gib():
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                return round(int(line.split()[1]) / 1024 ** 2, 1)
    except OSError:
        pass
    return None


def machine_info():
    """Return the facts that a benchmark result depends on: CPU, memory, load, software."""
    import scipy

    info = {
        "cpu_model": _cpu_model(),
        "cpus": os.cpu_count(),
        "memory_gib": _memory_gib(),
        "platform": platform.platform(),
        "python": platform.python_version(),
        "numpy": np.__version__,
        "scipy": scipy.__version__,
        "environment": {name: os.environ.get(name) for name in BLAS_VARIABLES},
    }
    try:
        info["load_average"] = list(os.getloadavg())
    except OSError:
        info["load_average"] = None
    return info


def prepare_data(kind, folder, samples=2000, seed=0):
    """Write the inputs and labels the cases train on into ``folder``; return (path, source).

    ``kind`` is ``"mnist"`` (the first ``samples`` MNIST training images, or random data with
    a warning when MNIST cannot be loaded) or ``"random"`` (uniform inputs in [0, 1]).
    """
    source = "random"
    if kind == "mnist":
        from ..data import load_mnist
        from ..errors import DataError

        try:
            data = load_mnist(download=False)
            x, labels = data.x_train[:samples], data.y_train[:samples]
            source = "mnist"
        except DataError as exc:
            logger.warning("MNIST is not available (%s); benchmarking on random inputs.", exc)
    if source == "random":
        rng = np.random.default_rng(seed)
        x = rng.random((samples, 784), dtype=np.float32)
        labels = rng.integers(0, 10, samples)
    path = Path(folder) / "bench-data.npz"
    np.savez(path, x=x, labels=labels)
    return path, source


def brian2_status():
    """Return None if the Brian2 engine can be created, else the reason it cannot."""
    from ..config import load_config
    from ..engines import make_engine
    from ..network import Network

    config = load_config("synthetic-small")
    try:
        engine = make_engine("brian2", Network.initialize(config.network.layers), config)
    except ImportError as exc:
        return f"the Brian2 engine is not available ({exc})"
    except Exception as exc:  # any failure to build it means its rows cannot run
        return f"the Brian2 engine could not be created ({type(exc).__name__}: {exc})"
    engine.close()
    return None


def child_environment(threads=None):
    """Return the environment of a subprocess that imports this copy of neurosim.

    ``threads``, if given, sets the BLAS thread count of the subprocess.
    """
    env = dict(os.environ)
    package_root = str(Path(__file__).resolve().parents[2])
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [package_root, env.get("PYTHONPATH")]))
    if threads:
        for name in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
            env[name] = str(threads)
    return env


def _run_in_subprocess(case, spec_path, spec):
    Path(spec_path).write_text(json.dumps(spec), encoding="utf-8")
    command = [sys.executable, "-m", "neurosim.benchmarking.worker", str(spec_path)]
    try:
        done = subprocess.run(command, capture_output=True, text=True, env=child_environment(
            case.threads), timeout=CASE_TIMEOUT_SECONDS, check=False)
    except subprocess.TimeoutExpired:
        return {"case": case.as_dict(), "error": f"timed out after {CASE_TIMEOUT_SECONDS} s"}
    lines = done.stdout.strip().splitlines()
    if done.returncode != 0 or not lines:
        tail = done.stderr.strip().splitlines()[-1:] or ["no output"]
        return {"case": case.as_dict(), "error": f"worker exited with {done.returncode}: {tail[0]}"}
    return json.loads(lines[-1])


def _add_floor(result, case):
    """Add operation counts, the achieved rate and the ratio to the measured GEMM rate."""
    config = case.config()
    dyn, tr = config.dynamics, config.training
    args = (config.network.layers, dyn.steps_minus, dyn.steps_plus, config.network.initialized,
            tr.feedforward_loss)
    flops = dense_flops(*args)
    result["flops_per_train_sample"] = flops.as_dict()
    result["flops_per_eval_sample"] = dense_flops(*args, training=False).as_dict()
    result["usual_flops_per_train_sample"] = usual_flops(*args).as_dict()
    if "train" in result:
        achieved = result["train"]["best"] * flops.total / 1e9
        result["train_gflops"] = achieved
        result["fraction_of_gemm"] = achieved / result["gemm_gflops"]
    if "usual_train" in result and "train" in result:
        result["speedup_over_usual"] = result["train"]["best"] / result["usual_train"]["best"]


def _compare_brian2_with_usual(results):
    """Give Brian2 rows the speed-up over the usual formulation of the same network.

    The Brian2 engine runs float64 on one thread with minibatches of 20, so its baseline is
    the usual formulation measured in the dense case with those settings, if it ran.
    """
    baselines = {}
    for result in results:
        case = result["case"]
        if case["engine"] == "dense" and "usual_train" in result and (
                case["dtype"], case["batch"], case["threads"]) == ("float64", 20, 1):
            baselines[case["network"]] = result
    for result in results:
        baseline = baselines.get(result["case"]["network"])
        if result["case"]["engine"] != "dense" and "train" in result and baseline:
            result["usual_train"] = baseline["usual_train"]
            result["usual_measured_in"] = baseline["name"]
            result["speedup_over_usual"] = result["train"]["best"] / baseline["usual_train"]["best"]


def run_benchmarks(engines, networks, dtypes, batches, threads, seconds=1.0, repeats=3,
                   data="mnist", usual=True, progress=None):
    """Run the selected cases and return the results with the machine's facts.

    Parameters
    ----------
    engines, networks, dtypes, batches, threads : sequence
        See :func:`neurosim.benchmarking.cases.select_cases`.
    seconds : float
        Approximate duration of each timed repeat.
    repeats : int
        Timed repeats per measurement; tables report the best, JSON keeps all.
    data : {"mnist", "random"}
    usual : bool
        Also time the usual formulation (:class:`~neurosim.benchmarking.usual.UsualEP`)
        for every dense case.
    progress : callable, optional
        Called with a line of text before each case.

    Returns
    -------
    dict
        ``machine``, ``options``, ``data``, ``notes`` and ``cases`` (one dict per case).
    """
    cases = select_cases(engines, networks, dtypes, batches, threads)
    notes = []
    if any(case.engine_kind == "brian2" for case in cases):
        reason = brian2_status()
        if reason is not None:
            notes.append(f"Brian2 rows skipped: {reason}.")
            cases = [case for case in cases if case.engine_kind != "brian2"]

    began = time.time()
    report = {"machine": machine_info(), "notes": notes,
              "options": {"seconds": seconds, "repeats": repeats, "usual": usual},
              "started": time.strftime("%Y-%m-%dT%H:%M:%S%z"), "cases": []}
    with tempfile.TemporaryDirectory(prefix="neurosim-bench-") as folder:
        data_path, report["data"] = prepare_data(data, folder)
        for index, case in enumerate(cases, 1):
            if progress:
                progress(f"[{index}/{len(cases)}] {case.name}")
            spec = {"case": case.as_dict(), "seconds": seconds, "repeats": repeats,
                    "usual": usual, "data": str(data_path)}
            result = _run_in_subprocess(case, Path(folder) / "spec.json", spec)
            if "error" not in result:
                _add_floor(result, case)
            result.setdefault("name", case.name)
            report["cases"].append(result)
    _compare_brian2_with_usual(report["cases"])
    report["seconds"] = time.time() - began
    try:
        report["machine"]["load_average_after"] = list(os.getloadavg())
    except OSError:
        pass
    return report
