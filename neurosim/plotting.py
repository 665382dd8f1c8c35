"""Figures: neuron and energy traces, learning curves, residuals and settling distances.

Every function draws with Matplotlib's Agg backend (no display needed), writes a PNG and
returns its path. Learning curves read the ``metrics.json`` (or ``metrics.csv``) that
:mod:`neurosim.rundir` writes into a run directory.
"""

import json
import logging
import math
from pathlib import Path

import matplotlib
import numpy as np

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
from matplotlib.lines import Line2D  # noqa: E402
from matplotlib.ticker import MaxNLocator  # noqa: E402

from .errors import NeurosimError  # noqa: E402
from .rundir import RunDirectory, read_metrics_csv  # noqa: E402

__all__ = [
    "PlotError",
    "load_metrics",
    "run_label",
    "plot_learning_curves",
    "plot_trace",
    "plot_settling",
]

logger = logging.getLogger(__name__)

#: Line style of each start of the negative phase in trace figures.
START_STYLES = {"feedforward": "-", "zero": "--"}
START_LABELS = {"feedforward": "from clip(s^f)", "zero": "from zero"}
#: Largest number of neurons per layer that get a legend entry each.
MAX_LEGEND_NEURONS = 10
DPI = 100


class PlotError(NeurosimError, ValueError):
    """A run directory has no metrics to plot."""


def load_metrics(run_dir):
    """Return the metric rows (one dict per epoch) of a run directory.

    Reads ``metrics.json``, or ``metrics.csv`` if there is no JSON file.

    Raises
    ------
    PlotError
        If the folder does not exist or contains no metrics.
    """
    run = RunDirectory(run_dir)
    if not run.path.is_dir():
        raise PlotError(f"run directory {run.path} not found: pass the --out folder of "
                        "'neurosim train'.")
    if run.metrics_json.is_file():
        try:
            rows = json.loads(run.metrics_json.read_text(encoding="utf-8"))
        except json.JSONDecodeError as exc:
            raise PlotError(f"{run.metrics_json} is not valid JSON ({exc}).") from None
    elif run.metrics_csv.is_file():
        rows = read_metrics_csv(run.metrics_csv)
    else:
        raise PlotError(f"run directory {run.path} has no metrics.json or metrics.csv: let the "
                        "run finish at least one epoch.")
    if not rows:
        raise PlotError(f"run directory {run.path} has no finished epoch to plot.")
    return rows


def run_label(run_dir):
    """Return the legend label of a run: the name of its folder."""
    path = Path(run_dir)
    return path.resolve().name if path.name in ("", ".", "..") else path.name


def _column(rows, key):
    values = []
    for row in rows:
        value = row.get(key)
        values.append(float("nan") if value is None else float(value))
    return values


def _has_values(values):
    return any(not math.isnan(v) for v in values)


def plot_learning_curves(run_dirs, path, log_scale=False, residual=False, labels=None):
    """Draw train and test error per epoch, ``s^f`` dashed and ``s-`` solid, one colour per run.

    Parameters
    ----------
    run_dirs : sequence of path-like
    path : path-like
        The PNG to write.
    log_scale : bool
        Logarithmic error axis.
    residual : bool
        Add a panel with the mean (solid) and maximum (dotted) ``|ds/dt|`` at the last step
        of the negative phase, and the level above which training warns.
    labels : sequence of str, optional
        Legend labels; the run directory names by default.

    Returns
    -------
    Path
    """
    from .training import RESIDUAL_WARNING

    runs = [(labels[i] if labels else run_label(folder), load_metrics(folder))
            for i, folder in enumerate(run_dirs)]
    n_panels = 3 if residual else 2
    fig, axes = plt.subplots(1, n_panels, figsize=(4.2 * n_panels, 4.0), squeeze=False,
                             layout="constrained")
    axes = axes[0]
    colors = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    for i, (label, rows) in enumerate(runs):
        color = colors[i % len(colors)]
        epochs = _column(rows, "epoch")
        for ax, split in zip(axes[:2], ("train", "test")):
            for kind, style, marker in (("minus", "-", "o"), ("sf", "--", "^")):
                values = [100 * v for v in _column(rows, f"{split}_error_{kind}")]
                if _has_values(values):
                    ax.plot(epochs, values, style, color=color, marker=marker, markersize=4)
        if residual:
            axes[2].plot(epochs, _column(rows, "residual_mean"), "-", color=color, marker="o",
                         markersize=4)
            axes[2].plot(epochs, _column(rows, "residual_max"), ":", color=color, marker="v",
                         markersize=4)

    # Whole epochs on the x axis, with room around a single epoch.
    last_epoch = max((max(_column(rows, "epoch"), default=1) for _, rows in runs), default=1)
    for ax in axes:
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.set_xlim(0.5, last_epoch + 0.5)
    for ax, split in zip(axes[:2], ("train", "test")):
        ax.set_title(f"{split} error")
        ax.set_xlabel("epoch")
        ax.set_ylabel("error (%)")
        if log_scale:
            ax.set_yscale("log")
        ax.grid(True, which="both", alpha=0.3)
    if residual:
        ax = axes[2]
        ax.axhline(RESIDUAL_WARNING, color="gray", linewidth=0.8)
        ax.set_yscale("log")
        ax.set_title("residual at the last negative step")
        ax.set_xlabel("epoch")
        ax.set_ylabel("|ds/dt| (1/tau)")
        ax.grid(True, which="both", alpha=0.3)

    handles = [Line2D([], [], color=colors[i % len(colors)], label=label)
               for i, (label, _) in enumerate(runs)]
    handles += [Line2D([], [], color="black", linestyle="-", marker="o", label="s- (settled)"),
                Line2D([], [], color="black", linestyle="--", marker="^",
                       label="s^f (feedforward)")]
    if residual:
        handles += [Line2D([], [], color="black", linestyle=":", marker="v", label="max |ds/dt|"),
                    Line2D([], [], color="gray", linewidth=0.8, label="warning level")]
    fig.legend(handles=handles, fontsize=8, loc="outside lower center",
               ncol=min(len(handles), 4))
    return _save(fig, path)


def plot_trace(trace, path):
    """Draw a :class:`~neurosim.traces.Trace`: one panel per layer, output on top, then F and C.

    Neuron states are solid when the negative phase starts from ``clip(s^f)`` and dashed
    when it starts from zero; dotted horizontal lines mark the feedforward states ``s^f``.
    The positive phase is shaded.

    Returns
    -------
    Path
    """
    n_layers = len(trace.neurons)
    fig, axes = plt.subplots(n_layers + 2, 1, figsize=(7.0, 1.9 * (n_layers + 2)), sharex=True)
    colors = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    t = trace.t

    for row, layer in enumerate(range(n_layers, 0, -1)):
        ax = axes[row]
        indices = trace.neurons[layer - 1]
        for k, index in enumerate(indices):
            color = colors[k % len(colors)]
            for start in trace.starts:
                ax.plot(t, trace.states[start][layer - 1][:, k], START_STYLES[start], color=color,
                        linewidth=1.0, label=f"{index}" if start == trace.starts[0] else None)
            if trace.ff_states is not None:
                ax.axhline(trace.ff_states[layer - 1][k], color=color, linestyle=":",
                           linewidth=0.8)
        name = "output layer" if layer == n_layers else f"hidden layer {layer}"
        ax.set_ylabel(f"{name}\ns")
        if len(indices) <= MAX_LEGEND_NEURONS:
            ax.legend(title="neuron", fontsize=7, title_fontsize=7, loc="center left",
                      bbox_to_anchor=(1.0, 0.5))

    for start in trace.starts:
        axes[n_layers].plot(t, trace.total_energy[start], START_STYLES[start], color="black")
        axes[n_layers + 1].plot(t, trace.cost[start], START_STYLES[start], color="black")
    axes[n_layers].set_ylabel("energy\nF = E + beta C")
    axes[n_layers + 1].set_ylabel("cost C")
    axes[-1].set_xlabel("time (tau)")

    beta = trace.beta[-1]
    for ax in axes:
        ax.axvspan(trace.phase_boundaries[1], trace.phase_boundaries[2], color="tab:orange",
                   alpha=0.12, linewidth=0)
        ax.grid(True, alpha=0.3)
    style_handles = [Line2D([], [], color="black", linestyle=START_STYLES[s], label=START_LABELS[s])
                     for s in trace.starts]
    if trace.ff_states is not None:
        style_handles.append(Line2D([], [], color="black", linestyle=":", label="s^f"))
    axes[n_layers].legend(handles=style_handles, fontsize=7, loc="upper right")
    where = f"{trace.split} sample {trace.sample}" if trace.sample >= 0 else "sample"
    axes[0].set_title(f"{where}, label {trace.label}, {trace.engine} engine; shaded: positive "
                      f"phase, beta = {beta:g}", fontsize=9)
    return _save(fig, path)


def plot_settling(result, path, log_scale=True):
    """Draw how the negative phase approaches its fixed point ``s*`` from each start.

    Left: the mean over samples of ``max |s - s*|`` against the step, with the tolerance.
    Right: the fraction of samples that stay within the tolerance from that step on.
    ``result`` is a :class:`~neurosim.convergence.SettlingSteps`.

    Returns
    -------
    Path
    """
    fig, (left, right) = plt.subplots(1, 2, figsize=(9.0, 3.4))
    summary = result.summary()
    step_axis = np.arange(result.max_steps + 1)
    for start, distance in result.distance.items():
        style = START_STYLES[start]
        left.plot(step_axis, distance, style, color="black", label=START_LABELS[start])
        steps = result.steps[start]
        settled = (steps[None, :] >= 0) & (steps[None, :] <= step_axis[:, None])
        right.plot(step_axis, settled.mean(axis=1), style, color="black",
                   label=f"{START_LABELS[start]}: mean {summary[start]['mean_steps']:.1f}, "
                         f"median {summary[start]['median_steps']:.0f} steps")
    left.axhline(result.tol, color="gray", linewidth=0.8, label=f"tol = {result.tol:g}")
    if log_scale:
        left.set_yscale("log")
    left.set_ylabel("mean of max |s - s*|")
    right.set_ylabel(f"fraction within {result.tol:g} of s*")
    right.set_ylim(0.0, 1.02)
    for ax in (left, right):
        ax.set_xlabel(f"negative-phase step (dt = {result.dt:g} tau)")
        ax.grid(True, which="both", alpha=0.3)
        ax.legend(fontsize=8)
    return _save(fig, path)


def _save(fig, path):
    path = Path(path)
    if not path.parent.is_dir():
        plt.close(fig)
        raise PlotError(f"cannot write {path}: the folder {path.parent} does not exist.")
    try:
        if fig.get_layout_engine() is None:
            fig.tight_layout()
        fig.savefig(path, dpi=DPI)
    finally:
        plt.close(fig)
    logger.debug("wrote %s", path)
    return path
