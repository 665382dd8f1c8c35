"""Figure 3: the feedforward population trained with local losses against the global loss.

Trains the runs of experiments/configs/fig3.toml ("local" and "global") under --out and
compares their test errors, feedforward (s^f) and after settling (s-), epoch by epoch.
--reuse-local DIR takes the local run from an existing run directory with the same settings
(for example the main Figure 2 run) instead of training it again.

    python experiments/fig3_local_global.py --epochs 10 --reuse-local results/fig2/shallow-t20-initep
"""

from pathlib import Path

from common import parser, run_main, setup, write_json

from neurosim.analysis.curves import plot_learning_curves, summarize_run
from neurosim.analysis.runs import (
    check_same_settings,
    load_runs,
    read_metrics,
    run_config,
    run_engine,
    train_run,
)


def main():
    p = parser(__doc__.splitlines()[0], "fig3", "fig3.toml")
    p.add_argument("--epochs", type=int, help="train each run up to this many epochs")
    p.add_argument("--reuse-local", metavar="RUN_DIR",
                   help="read the local run from this run directory instead of training it")
    args = p.parse_args()
    out = setup(args)

    specs = {spec.name: spec for spec in load_runs(args.config)}
    run_dirs, cache = {}, {}
    for name, spec in specs.items():
        if name == "local" and args.reuse_local:
            check_same_settings(run_config(spec, smoke=args.smoke), args.reuse_local)
            run_dirs[name] = Path(args.reuse_local)
            continue
        train_run(spec, out, engine=args.engine, epochs=args.epochs, smoke=args.smoke,
                  cache=cache)
        run_dirs[name] = out / name

    rows = {name: read_metrics(run_dir) for name, run_dir in run_dirs.items()}
    common = min(len(r) for r in rows.values())
    if args.epochs is not None:
        common = min(common, args.epochs)
    summaries = {name: summarize_run(r[:common]) for name, r in rows.items()}
    comparison = {
        "epochs_compared": common,
        "runs": {name: {"run_dir": str(run_dirs[name]), "label": specs[name].label,
                        "engine": run_engine(run_dirs[name]), **s}
                 for name, s in summaries.items()},
    }
    if {"local", "global"} <= summaries.keys():
        for key in ("final_sf", "final_minus"):
            comparison[f"{key}_global_minus_local"] = \
                summaries["global"][key] - summaries["local"][key]
    write_json(out / "summary.json", comparison)
    panels = {f"784-500-10, feedforward loss, {common} epochs":
              [(specs[name].label, s) for name, s in summaries.items()]}
    plot_learning_curves(panels, out / "fig3.png", title="Local against global feedforward loss")
    for name, s in summaries.items():
        print(f"{name:8s} after {common} epochs: s^f {s['final_sf']:.2f} %, "
              f"s- {s['final_minus']:.2f} %")
    return 0


if __name__ == "__main__":
    run_main(main)
