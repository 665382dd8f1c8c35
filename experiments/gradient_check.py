"""Gradient check: the EP update against the true gradient of the loss at the fixed point.

For an untrained and a trained network, compares the EP estimate of dL/dtheta (nudging
+beta, -beta and their mean, the symmetric estimate) with the gradient from the implicit
function theorem, over a range of beta, and checks that gradient against central finite
differences. Writes gradient_check.json and gradient_check.png into --out.

    python experiments/gradient_check.py
    python experiments/gradient_check.py --trained-run results/fig2/shallow-t20-initep
    python experiments/gradient_check.py --smoke --out /tmp/gradient-check
"""

import time
import tomllib
from pathlib import Path

import numpy as np
from common import parser, run_main, setup, write_json

from neurosim.analysis.gradient_check import (
    FlatNetwork,
    compare_gradients,
    ep_gradient_estimate,
    exact_fixed_point,
    finite_difference_gradient,
    flatten_parameters,
    implicit_gradient,
)
from neurosim.analysis.runs import RunSpec, run_config
from neurosim.data import load_dataset, one_hot
from neurosim.learning import feedforward_pass
from neurosim.network import Network

DEFAULTS = {"preset": "mnist-784-500-10", "samples": 20,
            "betas": [1.0, 0.5, 0.2, 0.1, 0.05, 0.02, 0.01, 0.001, 0.0001],
            "finite_difference_entries": 24, "finite_difference_step": 1e-6,
            "euler_steps": 200, "seed": 0, "training": {"epochs": 1, "max_samples": 10000}}


def load_settings(path, smoke):
    with open(path, "rb") as handle:
        settings = {**DEFAULTS, **tomllib.load(handle).get("gradient_check", {})}
    if smoke:
        settings.update(samples=4, betas=[0.5, 0.01, 0.0001], finite_difference_entries=4,
                        training={"epochs": 1, "max_samples": None})
    return settings


def trained_network(settings, args, out):
    """Return the trained network: from --trained-run, or trained here with the Trainer."""
    from neurosim.checkpoint import load_checkpoint
    from neurosim.training import Trainer

    if args.trained_run:
        network, state = load_checkpoint(Path(args.trained_run) / "checkpoint.npz")
        return network, f"{args.trained_run} after {state['epoch']} epochs"
    spec = RunSpec(name="trained", preset=settings["preset"],
                   epochs=settings["training"]["epochs"])
    config = run_config(spec, smoke=args.smoke, epochs=settings["training"]["epochs"])
    run_dir = out / "trained"
    done = (run_dir / "checkpoint.npz").exists()
    Trainer(config, run_dir, engine=args.engine, resume=done, force=not done,
            max_samples=settings["training"].get("max_samples"), progress=False).fit()
    network, state = load_checkpoint(run_dir / "checkpoint.npz")
    return network, (f"{settings['preset']} trained {state['epoch']} epoch(s) on "
                     f"{settings['training'].get('max_samples') or 'all'} samples")


def check(network, x, y, settings):
    """Compare EP estimates with the implicit gradient; check that with finite differences."""
    flat = FlatNetwork(network.astype(np.float64))
    settle = {"steps": settings["euler_steps"]}
    _, ff_states = feedforward_pass(x, network.ff_weights, network.ff_biases)
    start = np.clip(flat.join(ff_states), 0.0, 1.0)
    s_star, residual = exact_fixed_point(flat, x, start, **settle)
    grad_w, grad_b = implicit_gradient(flat, x, y, s_star)
    reference = flatten_parameters(grad_w, grad_b)

    rng = np.random.default_rng(settings["seed"])
    coordinates = []
    groups = [("weights", k, w) for k, w in enumerate(network.weights)] + \
             [("biases", k, b) for k, b in enumerate(network.biases)]
    for i in range(settings["finite_difference_entries"]):
        group, k, array = groups[i % len(groups)]
        # Half of the entries where the gradient is largest, so the check is not all zeros.
        source = grad_w[k] if group == "weights" else grad_b[k]
        if i % 2 == 0:
            index = np.unravel_index(int(np.argmax(np.abs(source))), array.shape)
        else:
            index = tuple(int(rng.integers(0, n)) for n in array.shape)
        coordinates.append((group, k, tuple(int(v) for v in index)))
    fd = finite_difference_gradient(network, x, y, s_star, coordinates,
                                    step=settings["finite_difference_step"], **settle)
    analytic = np.array([(grad_w if g == "weights" else grad_b)[k][index]
                         for g, k, index in coordinates])
    scale = max(np.max(np.abs(analytic)), 1e-300)

    rows = []
    for beta in settings["betas"]:
        plus = flatten_parameters(*ep_gradient_estimate(flat, x, y, s_star, beta, **settle))
        minus = flatten_parameters(*ep_gradient_estimate(flat, x, y, s_star, -beta, **settle))
        rows.append({"beta": beta, "plus": compare_gradients(plus, reference),
                     "minus": compare_gradients(minus, reference),
                     "symmetric": compare_gradients(0.5 * (plus + minus), reference)})
    free = (s_star > 0) & (s_star < 1)
    return {
        "fixed_point_residual_max": float(residual.max()),
        "free_fraction": float(free.mean()),
        "gradient_norm": float(np.linalg.norm(reference)),
        "finite_difference": {"entries": len(coordinates),
                              "max_abs_difference": float(np.max(np.abs(fd - analytic))),
                              "max_abs_gradient": float(scale),
                              "max_difference_over_max_gradient":
                                  float(np.max(np.abs(fd - analytic)) / scale)},
        "by_beta": rows,
    }


def plot(results, path):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(9, 3.4))
    styles = {"plus": ("+beta", "-"), "minus": ("-beta", "--"), "symmetric": ("symmetric", ":")}
    for n, (name, result) in enumerate(results.items()):
        betas = [r["beta"] for r in result["by_beta"]]
        for key, (label, line) in styles.items():
            rel = [r[key]["relative_error"] for r in result["by_beta"]]
            cos = [1.0 - r[key]["cosine"] for r in result["by_beta"]]
            axes[0].loglog(betas, rel, line, color=f"C{n}", marker=".", label=f"{name}, {label}")
            axes[1].loglog(betas, np.maximum(cos, 1e-17), line, color=f"C{n}", marker=".")
    axes[0].set_ylabel("|g_EP - g| / |g|")
    axes[1].set_ylabel("1 - cosine(g_EP, g)")
    for ax in axes:
        ax.set_xlabel("|beta|")
        ax.grid(True, which="both", alpha=0.3)
    axes[0].legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=80)
    plt.close(fig)


def main():
    p = parser(__doc__.splitlines()[0], "gradient_check", "gradient_check.toml")
    p.add_argument("--trained-run", metavar="RUN_DIR",
                   help="take the trained network from this run directory's checkpoint")
    args = p.parse_args()
    out = setup(args)
    settings = load_settings(args.config, args.smoke)

    config = run_config(RunSpec(name="check", preset=settings["preset"], epochs=1),
                        smoke=args.smoke)
    data = load_dataset(config)
    n = settings["samples"]
    x = np.asarray(data.x_test[:n], np.float64)
    y = one_hot(data.y_test[:n], config.network.layers[-1])

    trained, trained_source = trained_network(settings, args, out)
    networks = {
        "untrained": (Network.initialize(config.network.layers, seed=config.training.seed),
                      f"Glorot-uniform initialization, seed {config.training.seed}"),
        "trained": (trained, trained_source),
    }
    results = {}
    for name, (network, source) in networks.items():
        began = time.perf_counter()
        results[name] = {"network": source, **check(network, x, y, settings),
                         "seconds": time.perf_counter() - began}
    write_json(out / "gradient_check.json",
               {"settings": settings, "layers": config.network.layers, "results": results})
    plot(results, out / "gradient_check.png")
    for name, result in results.items():
        fd = result["finite_difference"]["max_difference_over_max_gradient"]
        print(f"{name}: fixed-point residual {result['fixed_point_residual_max']:.1e}, "
              f"finite differences agree to {fd:.1e} of the largest entry")
        for row in result["by_beta"]:
            print(f"  beta {row['beta']:<7g} cosine +{row['plus']['cosine']:.6f} "
                  f"-{row['minus']['cosine']:.6f} sym {row['symmetric']['cosine']:.6f} | rel. "
                  f"error {row['plus']['relative_error']:.2e} {row['minus']['relative_error']:.2e} "
                  f"{row['symmetric']['relative_error']:.2e}")
    return 0


if __name__ == "__main__":
    run_main(main)
