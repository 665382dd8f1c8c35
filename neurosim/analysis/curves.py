"""Learning curves: test error per epoch of several runs, one panel per setting (Figure 2)."""

import math

__all__ = ["plot_learning_curves", "plot_projections", "summarize_run"]


def summarize_run(rows):
    """Return the final, best and per-epoch test errors (in %) and the mean seconds per epoch."""
    def percent(key):
        # Rounded to 1e-6 %, far below one test sample, to keep 100 * 0.14 from printing
        # as 14.000000000000002.
        return [None if math.isnan(row[key]) else round(100.0 * row[key], 6) for row in rows]

    sf, minus = percent("test_error_sf"), percent("test_error_minus")
    seconds = [row["train_seconds"] + row["eval_seconds"] for row in rows]

    def best(values):
        present = [v for v in values if v is not None]
        return min(present) if present else None

    return {
        "epochs": len(rows),
        "test_error_sf": sf,
        "test_error_minus": minus,
        "final_sf": sf[-1] if sf else None,
        "final_minus": minus[-1] if minus else None,
        "best_sf": best(sf),
        "best_minus": best(minus),
        "train_error_minus_final": 100.0 * rows[-1]["train_error_minus"] if rows else None,
        "seconds_per_epoch": sum(seconds) / len(seconds) if seconds else None,
    }


def plot_learning_curves(panels, path, title=None, xlabel="epoch"):
    """Plot test error against epoch, one axis per panel, and save the figure as PNG.

    Parameters
    ----------
    panels : dict
        Maps a panel title to a list of ``(label, summary)`` pairs, ``summary`` as returned
        by :func:`summarize_run`. Solid lines show the error after settling (``s-``),
        dashed lines the feedforward prediction (``s^f``) of the same run.
    path : path-like
    title : str, optional
    xlabel : str
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.ticker import FuncFormatter, MaxNLocator

    percent = FuncFormatter(lambda value, _pos: f"{value:g}")
    # Label the minor ticks at 2, 3, 4, 5 and 7 times a power of ten only, so none overlap.
    sparse = FuncFormatter(lambda value, _pos: f"{value:g}" if f"{value:e}"[0] in "23457" else "")
    n = max(1, len(panels))
    cols = min(n, 2)
    rows = math.ceil(n / cols)
    fig, axes = plt.subplots(rows, cols, figsize=(5.2 * cols, 3.6 * rows), squeeze=False)
    for ax, (panel, runs) in zip(axes.flat, panels.items()):
        for index, (label, summary) in enumerate(runs):
            color = f"C{index}"
            epochs = list(range(1, summary["epochs"] + 1))
            ax.plot(epochs, _masked(summary["test_error_minus"]), color=color, marker=".",
                    label=f"{label}, s-")
            if any(v is not None for v in summary["test_error_sf"]):
                ax.plot(epochs, _masked(summary["test_error_sf"]), color=color, linestyle="--",
                        label=f"{label}, s^f")
        ax.set_yscale("log")
        ax.yaxis.set_major_formatter(percent)
        low, high = ax.get_ylim()
        ax.yaxis.set_minor_formatter(sparse if high > 4 * low else percent)
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.tick_params(axis="y", which="minor", labelsize=7)
        ax.set_title(panel, fontsize=10)
        ax.set_xlabel(xlabel)
        ax.set_ylabel("test error (%)")
        ax.grid(True, which="both", alpha=0.3)
        ax.legend(fontsize=7)
    for ax in list(axes.flat)[n:]:
        ax.set_visible(False)
    return _save(fig, path, title)


def plot_projections(panels, path, title=None):
    """Plot measured test errors and their power-law projections on a log-log scale.

    Parameters
    ----------
    panels : dict
        As for :func:`plot_learning_curves`; a summary may carry a ``projection`` dict with
        ``epoch`` and, for ``"minus"`` and ``"sf"``, the fields of
        :class:`~neurosim.analysis.projection.Projection` (or None). Dots are the measured
        errors, solid (s-) and dashed (s^f) lines the fits up to the projected epoch, and a
        bar at that epoch spans the projection's range.
    path : path-like
    title : str, optional
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np
    from matplotlib.ticker import FuncFormatter

    from .projection import power_law

    percent = FuncFormatter(lambda value, _pos: f"{value:g}")
    sparse = FuncFormatter(lambda value, _pos: f"{value:g}" if f"{value:e}"[0] in "25" else "")
    n = max(1, len(panels))
    fig, axes = plt.subplots(1, n, figsize=(5.2 * n, 3.8), squeeze=False)
    for ax, (panel, runs) in zip(axes.flat, panels.items()):
        plotted_values = []
        for index, (label, summary) in enumerate(runs):
            color = f"C{index}"
            epochs = np.arange(1, summary["epochs"] + 1)
            projection = summary.get("projection") or {}
            for key, style, marker in (("minus", "-", "o"), ("sf", "--", "x")):
                measured = _masked(summary[f"test_error_{key}"])
                if all(math.isnan(v) for v in measured):
                    continue
                name = "s-" if key == "minus" else "s^f"
                ax.plot(epochs, measured, color=color, linestyle="none", marker=marker,
                        markersize=3, label=f"{label}, {name}")
                plotted_values += [v for v in measured if not math.isnan(v)]
                fit = projection.get(key)
                if not fit or "value" not in fit:
                    continue
                plotted_values.append(fit["value"])
                grid = np.geomspace(1, projection["epoch"], 200)
                ax.plot(grid, power_law(grid, fit["floor"], fit["scale"], fit["exponent"]),
                        color=color, linestyle=style, linewidth=1)
                ax.errorbar([projection["epoch"]], [fit["value"]],
                            yerr=[[fit["value"] - fit["low"]], [fit["high"] - fit["value"]]],
                            color=color, marker=marker, capsize=3)
        ax.set_xscale("log")
        ax.set_yscale("log")
        if plotted_values:
            # Wide projection ranges may run off the axis rather than flatten the curves.
            ax.set_ylim(0.5 * min(plotted_values), 1.5 * max(plotted_values))
        ax.xaxis.set_major_formatter(percent)
        ax.yaxis.set_major_formatter(percent)
        ax.yaxis.set_minor_formatter(sparse)
        ax.tick_params(axis="y", which="minor", labelsize=7)
        ax.set_title(panel, fontsize=10)
        ax.set_xlabel("epoch")
        ax.set_ylabel("test error (%)")
        ax.grid(True, which="both", alpha=0.3)
        ax.legend(fontsize=7)
    return _save(fig, path, title)


def _save(fig, path, title):
    """Add the title, save the figure as PNG, close it and return ``path``."""
    import matplotlib.pyplot as plt

    if title:
        fig.suptitle(title)
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)
    return path


def _masked(values):
    return [float("nan") if v is None else v for v in values]
