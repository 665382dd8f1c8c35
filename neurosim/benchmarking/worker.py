"""Measure one benchmark case in a process of its own and print the result as JSON.

Run by :mod:`neurosim.benchmarking.runner` as ``python -m neurosim.benchmarking.worker
SPEC.json``. A fresh process per case gives each case its own BLAS thread pools and its
own peak resident memory.
"""

import inspect
import json
import logging
import resource
import sys
import time
import traceback

import numpy as np

logger = logging.getLogger(__name__)


def peak_rss_mib():
    """Return the peak resident memory of this process so far, in MiB.

    Linux's ``VmHWM`` belongs to the process's own address space. ``ru_maxrss`` is not used
    where ``VmHWM`` exists because it carries the parent's resident size over ``fork`` and
    ``exec``, which would charge the benchmark runner's memory to every case.
    """
    try:
        with open("/proc/self/status", encoding="ascii") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024.0
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def measure_gemm(dtype, n=1024, seconds=0.5, max_repeats=30):
    """Return the best rate in GFLOP/s of an ``n x n`` by ``n x n`` product.

    The product is repeated for about ``seconds``, at least 3 and at most ``max_repeats``
    times. On a machine shared with other jobs, the best of many is the rate the processor
    attains when it is not interrupted.
    """
    rng = np.random.default_rng(0)
    a = rng.random((n, n)).astype(dtype)
    b = rng.random((n, n)).astype(dtype)
    out = np.empty((n, n), dtype)
    np.matmul(a, b, out=out)
    best, began, count = float("inf"), time.perf_counter(), 0
    while count < 3 or (count < max_repeats and time.perf_counter() - began < seconds):
        start = time.perf_counter()
        np.matmul(a, b, out=out)
        best = min(best, time.perf_counter() - start)
        count += 1
    return 2.0 * n ** 3 / best / 1e9


def time_calls(call, warmup, max_size, batch, seconds, repeats):
    """Time ``call(k)``, which processes ``k`` samples; return ``(rates, first_call_seconds)``.

    A first call on ``warmup`` samples estimates the rate; it also absorbs one-time costs
    such as buffer allocation or code generation. Each timed repeat then processes about
    ``seconds`` worth of samples, in calls of at most ``max_size`` samples (a multiple of
    ``batch``). With ``warmup == max_size`` every call has the same size, which engines that
    compile code for a shape need.
    """
    began = time.perf_counter()
    call(warmup)
    first = time.perf_counter() - began
    target = seconds * warmup / max(first, 1e-9)  # samples in about `seconds`
    if warmup == max_size:
        size = max_size
    else:
        size = min(max_size, max(batch, int(target // batch) * batch))
    calls = max(1, int(round(target / size)))
    rates = []
    for _ in range(repeats):
        began = time.perf_counter()
        for _ in range(calls):
            call(size)
        rates.append(calls * size / (time.perf_counter() - began))
    return rates, first


def _summary(rates):
    return {"best": max(rates), "median": float(np.median(rates)), "all": rates}


def _engine_options(case):
    """Return the case's engine options that the engine's constructor accepts."""
    options = case.engine_options
    if case.engine_kind == "brian2":
        from ..engines.brian2_engine import Brian2Engine

        accepted = inspect.signature(Brian2Engine).parameters
        options = {key: value for key, value in options.items() if key in accepted}
    return options


def run_case(spec):
    """Measure the case described by ``spec`` and return a dict of results."""
    from threadpoolctl import threadpool_info, threadpool_limits

    from ..engines import make_engine
    from ..network import Network
    from .cases import Case
    from .usual import UsualEP

    case = Case(**spec["case"])
    seconds, repeats = spec["seconds"], spec["repeats"]
    config = case.config()
    dtype = np.dtype(case.dtype)
    data = np.load(spec["data"])
    n = case.samples_per_call
    x = np.ascontiguousarray(data["x"][:n], dtype)
    y = np.eye(config.network.layers[-1], dtype=dtype)[data["labels"][:n]]
    signs = np.where(np.arange(n // case.batch) % 2 == 0, 1.0, -1.0)
    if len(x) < n:
        raise ValueError(f"the data file contains {len(x)} samples, but the case needs {n}: "
                         "write a larger data pool.")

    result = {"case": case.as_dict(), "name": case.name}
    with threadpool_limits(case.threads):
        result["blas"] = [{k: i.get(k) for k in ("internal_api", "version", "architecture",
                                                  "num_threads", "filepath")}
                          for i in threadpool_info()]
        result["gemm_gflops"] = measure_gemm(dtype)
        result["rss_before_engine_mib"] = peak_rss_mib()

        network = Network.initialize(config.network.layers, seed=0, dtype=dtype)
        engine = make_engine(case.engine_kind, network, config, **_engine_options(case))
        dense = case.engine_kind == "dense"
        # The Brian2 engine gets calls of one size only; the dense engine a short warm-up.
        warmup = min(n, 10 * case.batch) if dense else n
        try:
            rates, first = time_calls(
                lambda k: engine.train(x[:k], y[:k], signs[:k // case.batch]),
                warmup, n, case.batch, seconds, repeats)
            result["train"] = _summary(rates)
            result["train_first_call_seconds"] = first
            if dense:
                engine.eval_batch_size = case.batch
            rates, first = time_calls(lambda k: engine.evaluate(x[:k]), warmup, n, case.batch,
                                      seconds, repeats)
            result["evaluate"] = _summary(rates)
            result["evaluate_first_call_seconds"] = first
        finally:
            engine.close()
        result["peak_rss_mib"] = peak_rss_mib()

        if spec["usual"] and dense:
            usual = UsualEP(network, config)
            rates, _ = time_calls(lambda k: usual.train(x[:k], y[:k], signs[:k // case.batch]),
                                  min(n, 2 * case.batch), n, case.batch, seconds, repeats)
            result["usual_train"] = _summary(rates)
    return result


def main(argv=None):
    """Read the spec file named in ``argv``, run it and print one line of JSON."""
    argv = sys.argv[1:] if argv is None else argv
    with open(argv[0], encoding="utf-8") as handle:
        spec = json.load(handle)
    try:
        result = run_case(spec)
    except Exception as exc:  # reported in the table as the case's note
        result = {"case": spec["case"], "error": f"{type(exc).__name__}: {exc}",
                  "traceback": traceback.format_exc()}
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
