"""Measure how the settled state s- of the Brian2 engine changes as the step dt shrinks.

For each integration method and each step dt, the Brian2 engine (runtime mode, numpy
target) records the negative phase of a few MNIST test samples, and the script prints the
largest and the mean ``|s-(dt) - s-(dt/2)|`` over those samples and all neurons. The phase
lasts ``dynamics.t_minus`` (units of tau) whatever the step.

Example::

    PYTHONPATH=. python benchmarks/brian2_dt_convergence.py mnist-784-500-10 --samples 5
    PYTHONPATH=. python benchmarks/brian2_dt_convergence.py mnist-784-500-10 --checkpoint RUN/checkpoint.npz
"""

import argparse
import logging
import time

import numpy as np

from neurosim.checkpoint import load_checkpoint
from neurosim.config import apply_overrides, load_config
from neurosim.data import load_mnist, one_hot
from neurosim.engines.brian2_engine import Brian2Engine
from neurosim.network import Network


def settled_states(config, network, x, y, method, dt):
    """Return s- of every sample (all layers concatenated) for ``method`` and ``dt``."""
    config = apply_overrides(config, [f"dynamics.method=\"{method}\"", f"dynamics.dt={dt!r}"])
    engine = Brian2Engine(network, config, device="numpy")
    steps = config.dynamics.steps_minus
    rows = []
    for sample, target in zip(x, y):
        record = engine.record_sample(sample, target)
        rows.append(np.concatenate([states[steps] for states in record["states"]]))
    return np.array(rows)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("model", help="preset name or TOML file")
    parser.add_argument("--checkpoint", help="checkpoint.npz of a trained run (default: "
                                             "fresh Glorot-uniform weights)")
    parser.add_argument("--samples", type=int, default=5)
    parser.add_argument("--methods", default="euler,rk2,rk4")
    parser.add_argument("--dts", default="0.5,0.25,0.125,0.0625,0.03125,0.015625")
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)

    config = load_config(args.model)
    if args.checkpoint:
        network, _ = load_checkpoint(args.checkpoint)
    else:
        network = Network.initialize(config.network.layers, seed=config.training.seed)
    data = load_mnist()
    x = data.x_test[:args.samples]
    y = one_hot(data.y_test[:args.samples], config.network.layers[-1])
    dts = [float(value) for value in args.dts.split(",")]
    print(f"{args.model}, t_minus = {config.dynamics.t_minus} tau, "
          f"{'trained' if args.checkpoint else 'untrained'}, {args.samples} samples")
    print("method  dt        max|s-(dt) - s-(dt/2)|  mean")
    for method in args.methods.split(","):
        began = time.perf_counter()
        states = [settled_states(config, network, x, y, method, dt) for dt in dts]
        for dt, coarse, fine in zip(dts, states, states[1:]):
            difference = np.abs(coarse - fine)
            print(f"{method:6s}  {dt:<8g}  {difference.max():.3e}               "
                  f"{difference.mean():.3e}")
        print(f"        ({time.perf_counter() - began:.0f} s)")


if __name__ == "__main__":
    main()
