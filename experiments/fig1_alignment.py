"""Figure 1: cosine similarity between the local gradient dL_1/dW_1 and each dL_i/dW_1.

Writes alignment.json (fraction of positive cosines, quantiles), cosines.csv (every draw)
and fig1.png (one histogram per layer) into --out.

    python experiments/fig1_alignment.py
    python experiments/fig1_alignment.py --smoke --out /tmp/fig1
"""

import time
import tomllib

import numpy as np
from common import parser, run_main, setup, write_json

from neurosim.analysis.alignment import alignment_draws
from neurosim.errors import ConfigError

DEFAULTS = {"layers": [784, 500, 500, 500, 500, 500, 10], "draws": 500, "batch_size": 1,
            "inputs": "mnist", "seed": 0}


def load_settings(path, smoke):
    with open(path, "rb") as handle:
        settings = {**DEFAULTS, **tomllib.load(handle).get("alignment", {})}
    if settings["inputs"] not in ("mnist", "uniform"):
        raise ConfigError(f"alignment.inputs = {settings['inputs']!r} is invalid: choose "
                          "'mnist' or 'uniform'.")
    if smoke:
        settings.update(layers=[784] + [32] * 5 + [10], draws=50, inputs="uniform")
    return settings


def plot(cosines, path):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    n = cosines.shape[1]
    fig, axes = plt.subplots(1, n, figsize=(2.0 * n, 2.4), sharey=True)
    bins = np.linspace(-1, 1, 41)
    for i, ax in enumerate(axes):
        ax.hist(cosines[:, i], bins=bins, color="C0")
        ax.axvline(0, color="k", linewidth=0.8)
        ax.set_title(f"i = {i + 1}, {100 * np.mean(cosines[:, i] > 0):.0f} % > 0", fontsize=9)
        ax.set_xlabel("cos(dL1/dW1, dLi/dW1)", fontsize=7)
    axes[0].set_ylabel("draws")
    fig.tight_layout()
    fig.savefig(path, dpi=80)
    plt.close(fig)


def main():
    p = parser(__doc__.splitlines()[0], "fig1", "fig1.toml")
    args = p.parse_args()
    out = setup(args)
    settings = load_settings(args.config, args.smoke)

    inputs = None
    if settings["inputs"] == "mnist":
        from neurosim.data import load_mnist

        inputs = load_mnist().x_test
    began = time.perf_counter()
    cosines = alignment_draws(settings["layers"], settings["draws"], settings["batch_size"],
                              settings["seed"], inputs)
    seconds = time.perf_counter() - began

    np.savetxt(out / "cosines.csv", cosines, delimiter=",", fmt="%.6f",
               header=",".join(f"layer_{i + 1}" for i in range(cosines.shape[1])), comments="")
    result = {
        "settings": settings,
        "seconds": seconds,
        "fraction_positive": np.mean(cosines > 0, axis=0).tolist(),
        "median": np.median(cosines, axis=0).tolist(),
        "quantile_10": np.quantile(cosines, 0.1, axis=0).tolist(),
        "quantile_90": np.quantile(cosines, 0.9, axis=0).tolist(),
    }
    write_json(out / "alignment.json", result)
    plot(cosines, out / "fig1.png")
    for i, (positive, median) in enumerate(zip(result["fraction_positive"], result["median"])):
        print(f"layer {i + 1}: {100 * positive:5.1f} % positive, median cosine {median:+.3f}")
    return 0


if __name__ == "__main__":
    run_main(main)
