"""Figure 2: learning curves of plain EP and Initialized EP with many and few settling steps.

Trains every run of experiments/configs/fig2.toml (or those named by --only), each in its
own run directory under --out, continuing from its checkpoint when it has one, then writes
summary.json and fig2.png from every run directory found there, and fig2-projection.png
when some run has not reached its planned epochs yet.

    python experiments/fig2_learning_curves.py                       # everything (days)
    python experiments/fig2_learning_curves.py --only shallow-t4-ep  # one run
    python experiments/fig2_learning_curves.py --plot-only           # figure from the runs so far
    python experiments/fig2_learning_curves.py --smoke --out /tmp/fig2
"""

import math

from common import parser, run_main, setup, write_json

from neurosim.analysis.curves import plot_learning_curves, plot_projections, summarize_run
from neurosim.analysis.projection import project_curve
from neurosim.analysis.runs import (
    SMOKE_HIDDEN,
    load_runs,
    read_metrics,
    run_engine,
    select_runs,
    train_run,
)


def main():
    p = parser(__doc__.splitlines()[0], "fig2", "fig2.toml")
    p.add_argument("--only", nargs="+", default=[], metavar="NAME", help="train only these runs")
    p.add_argument("--epochs", type=int, help="train each run up to this many epochs")
    p.add_argument("--max-samples", type=int, metavar="N",
                   help="train on only the first N training samples per epoch (a preview of "
                        "runs too slow for whole epochs)")
    p.add_argument("--no-plot", action="store_true", help="train, but write no summary or figure")
    p.add_argument("--plot-only", action="store_true", help="write the summary and figure only")
    p.add_argument("--max-rms-log", type=float, default=0.2, metavar="R",
                   help="reject a projection whose fit misses log(error) by more than R, "
                        "root mean square over the fitted epochs (default 0.2, about 20 %%)")
    p.add_argument("--title", default="MNIST test error: plain EP and Initialized EP",
                   help="title of the figure")
    p.add_argument("--project-skip", type=int, default=1, metavar="K",
                   help="leave out the first K epochs when projecting an unfinished run to its "
                        "planned epochs (default 1)")
    args = p.parse_args()
    if args.project_skip < 0:
        p.error(f"--project-skip {args.project_skip} is invalid: give 0 or more epochs to "
                "leave out.")
    if not args.max_rms_log > 0:
        p.error(f"--max-rms-log {args.max_rms_log:g} is invalid: give a positive number, such "
                "as the default 0.2.")
    out = setup(args)

    specs = load_runs(args.config)
    if not args.plot_only:
        cache = {}
        for spec in select_runs(specs, args.only):
            train_run(spec, out, engine=args.engine, epochs=args.epochs, smoke=args.smoke,
                      cache=cache, max_samples=args.max_samples)
    if args.no_plot:
        return 0

    summary, panels = {}, {}
    for spec in specs:
        rows = read_metrics(out / spec.name)
        if not rows:
            continue
        panel = f"{spec.panel} (smoke: {SMOKE_HIDDEN} hidden)" if args.smoke else spec.panel
        summary[spec.name] = {"panel": panel, "label": spec.label,
                              "engine": run_engine(out / spec.name), **summarize_run(rows),
                              **_projections(rows, spec.epochs, args.project_skip,
                                             args.max_rms_log)}
        panels.setdefault(panel, []).append((spec.label, summary[spec.name]))
    write_json(out / "summary.json", summary)
    xlabel = f"epoch of {args.max_samples} samples" if args.max_samples else "epoch"
    plot_learning_curves(panels, out / "fig2.png", xlabel=xlabel,
                         title=args.title)
    projected = {}
    for name, run in summary.items():
        if "projection" in run:
            projected.setdefault(run["panel"], []).append((run["label"], run))
    if projected:
        plot_projections(projected, out / "fig2-projection.png",
                         title="Measured test error and its power-law projection")
    for name, run in summary.items():
        print(f"{name:30s} {run['epochs']:3d} epochs  s^f {_pct(run['final_sf'])}  "
              f"s- {_pct(run['final_minus'])}  ({run['seconds_per_epoch']:.0f} s/epoch)")
        projected = run.get("projection", {})
        if _fitted(projected.get("minus")):
            sf = projected["sf"]["value"] if _fitted(projected.get("sf")) else None
            print(f"{'':30s} projected to epoch {projected['epoch']}: s^f {_pct(sf)}  "
                  f"s- {_pct(projected['minus']['value'])}")
    return 0


def _projections(rows, planned, skip, max_rms_log):
    """Return power-law projections of an unfinished run to its planned epochs, or a back-test.

    ``projection`` fits every epoch so far (after the first ``skip``) and reads the fit at
    ``planned``. When the root mean square of the fit's residuals of ``log(err)`` exceeds
    ``max_rms_log``, the projection is recorded as rejected. A finished run of at least 20
    epochs gets ``backtest`` instead: the fit of its first 10 epochs read at its last epoch,
    beside the mean of its last 5 epochs, which shows how far such projections can be
    trusted.
    """
    done = len(rows)
    curves = {key: [None if math.isnan(row[f"test_error_{key}"]) else
                    100.0 * row[f"test_error_{key}"] for row in rows] for key in ("sf", "minus")}
    result = {}
    if done < planned:
        result["projection"] = {"epoch": planned, "from_epochs": done}
        for key, curve in curves.items():
            fit = project_curve(curve, planned, skip=skip)
            if fit is None:
                result["projection"][key] = None
            elif fit.rms_log > max_rms_log:
                # The power law misses such a curve (a plateau, then a drop, or jumps up and
                # down), so its value at a later epoch would mean nothing.
                result["projection"][key] = {"rejected": "the power law does not fit the curve",
                                             "rms_log": fit.rms_log}
            else:
                # An error rate lies in [0, 100] %, however wide the fitted range.
                fit.low, fit.high = max(fit.low, 0.0), min(fit.high, 100.0)
                result["projection"][key] = fit.as_dict()
    elif done >= 20:
        result["backtest"] = {"fit_epochs": 10, "epoch": done}
        for key, curve in curves.items():
            fit = project_curve(curve[:10], done, skip=skip)
            last = [v for v in curve[-5:] if v is not None]
            result["backtest"][key] = None if fit is None or not last else {
                "projected": fit.value, "low": fit.low, "high": fit.high,
                "measured_mean_last_5": sum(last) / len(last)}
    return result


def _fitted(projection):
    """Return True for a projection with a fit in it (neither None nor rejected)."""
    return bool(projection) and "value" in projection


def _pct(value):
    return "    -  " if value is None else f"{value:6.2f}%"


if __name__ == "__main__":
    run_main(main)
