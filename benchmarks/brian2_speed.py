"""Training speed of the Brian2 engine in C++ standalone mode on MNIST.

Compiles the training network into a fresh cache folder (timed on its own), then trains
on MNIST samples and reports samples per second, both per second of wall-clock time and
per second of CPU time (the binary's and this process's), with the load average, since
other processes on a shared machine slow the wall-clock rate. Run from the repository
root::

    PYTHONPATH=. python benchmarks/brian2_speed.py                       # plain EP and Initialized EP
    PYTHONPATH=. python benchmarks/brian2_speed.py --models mnist-784-500-10 --samples 20000
    PYTHONPATH=. python benchmarks/brian2_speed.py --set training.batch_size=20
"""

import argparse
import logging
import os
import platform
import resource
import shutil
import tempfile
import time

import numpy as np

from neurosim.config import apply_overrides, load_config
from neurosim.data import load_mnist, one_hot
from neurosim.engines.brian2_engine import Brian2Engine
from neurosim.network import Network


def cpu_seconds():
    """Return the CPU time used so far by this process and its finished children."""
    own = resource.getrusage(resource.RUSAGE_SELF)
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


def machine():
    """Return the CPU model, core count and memory of this machine."""
    model = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as handle:
            names = [line.split(":", 1)[1].strip() for line in handle
                     if line.startswith("model name")]
        model = names[0] if names else model
    except OSError:
        pass
    memory = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    return f"{model}, {os.cpu_count()} cores, {memory:.0f} GiB"


def measure(model, overrides, data, samples, chunk):
    """Compile and train one model; return a dict of timings."""
    config = apply_overrides(load_config(model), overrides)
    network = Network.initialize(config.network.layers, seed=config.training.seed)
    engine = Brian2Engine(network, config, device="cpp_standalone", chunk_samples=chunk)
    batch = config.training.batch_size
    x = data.x_train[:samples]
    y = one_hot(data.y_train[:samples], config.network.layers[-1])
    signs = np.random.default_rng(0).choice([-1.0, 1.0], samples // batch)
    try:
        began = time.perf_counter()
        engine.train(x[:batch], y[:batch], signs[:1])   # compiles, then runs one chunk
        compile_and_first = time.perf_counter() - began
        if engine.device_name != "cpp_standalone":
            raise SystemExit(f"C++ standalone mode failed; the engine ran {engine.device_name}")
        compile_seconds = engine.compile_seconds

        wall, cpu = time.perf_counter(), cpu_seconds()
        engine.train(x, y, signs)
        wall, cpu = time.perf_counter() - wall, cpu_seconds() - cpu
    finally:
        engine.close()
    return {"model": model, "compile": compile_seconds, "first": compile_and_first,
            "samples": samples, "wall": wall, "cpu": cpu, "load": os.getloadavg()[0]}


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", default="mnist-784-500-10-ep,mnist-784-500-10",
                        help="comma-separated presets (default: plain EP and Initialized EP)")
    parser.add_argument("--samples", type=int, default=10000, help="training samples timed")
    parser.add_argument("--chunk", type=int, default=5000,
                        help="samples per Brian2 run; --samples should be a multiple of it")
    parser.add_argument("--set", action="append", default=["training.batch_size=1"],
                        metavar="KEY=VALUE", help="configuration override (repeatable)")
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)

    # A fresh cache, so that the compile time is measured; deleted at the end.
    cache = tempfile.mkdtemp(prefix="neurosim-brian2-bench-")
    os.environ["NEUROSIM_BRIAN2_CACHE"] = cache
    data = load_mnist()
    print(f"machine: {machine()}; settings: {' '.join(args.set)}")
    print("model                  compile s  samples  wall s  samples/s (wall)  "
          "samples/s (CPU)  load")
    try:
        for model in args.models.split(","):
            # A chunk is simulated whole, padding included: keep it no larger than needed.
            row = measure(model, args.set, data, args.samples, min(args.chunk, args.samples))
            print(f"{row['model']:22s} {row['compile']:9.1f}  {row['samples']:7d}  "
                  f"{row['wall']:6.1f}  {row['samples'] / row['wall']:16.0f}  "
                  f"{row['samples'] / row['cpu']:15.0f}  {row['load']:4.1f}")
    finally:
        shutil.rmtree(cache, ignore_errors=True)


if __name__ == "__main__":
    main()
