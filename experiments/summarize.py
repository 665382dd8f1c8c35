"""Print Markdown tables of the experiments' results, for docs/results.md.

Reads the files that the experiment scripts write (summary.json of fig2 and fig3,
alignment.json of fig1, gradient_check.json) under --results and prints one table per
experiment that has results; missing experiments are skipped.

    python experiments/summarize.py --results results
"""

import argparse
import json
from pathlib import Path


def _pct(value):
    return "-" if value is None else f"{value:.2f}"


def _load(path):
    return json.loads(path.read_text(encoding="utf-8")) if path.exists() else None


def fig2_table(summary):
    lines = ["| run | panel | epochs | test error s^f (%) | test error s- (%) | best s- (%) | "
             "s per epoch |", "| --- | --- | --- | --- | --- | --- | --- |"]
    for name, run in summary.items():
        lines.append(f"| {run['label']} (`{name}`) | {run['panel']} | {run['epochs']} | "
                     f"{_pct(run['final_sf'])} | {_pct(run['final_minus'])} | "
                     f"{_pct(run['best_minus'])} | {run['seconds_per_epoch']:.0f} |")
    return lines


def per_epoch_table(summary, names):
    """Return a table with one row per epoch and the s^f / s- errors of each run in columns."""
    runs = [(name, summary[name]) for name in names if name in summary]
    epochs = max((run["epochs"] for _, run in runs), default=0)
    lines = ["| epoch | " + " | ".join(f"`{name}` s^f / s- (%)" for name, _ in runs) + " |",
             "| --- |" + " --- |" * len(runs)]
    for epoch in range(epochs):
        cells = []
        for _, run in runs:
            if epoch < run["epochs"]:
                cells.append(f"{_pct(run['test_error_sf'][epoch])} / "
                             f"{_pct(run['test_error_minus'][epoch])}")
            else:
                cells.append("")
        lines.append(f"| {epoch + 1} | " + " | ".join(cells) + " |")
    return lines


def fig1_table(result):
    lines = ["| layer i | positive cosines (%) | median cosine | 10 % / 90 % quantiles |",
             "| --- | --- | --- | --- |"]
    for i, (positive, median, low, high) in enumerate(zip(
            result["fraction_positive"], result["median"], result["quantile_10"],
            result["quantile_90"])):
        lines.append(f"| {i + 1} | {100 * positive:.1f} | {median:+.3f} | {low:+.3f} / {high:+.3f} |")
    return lines


def gradient_table(result):
    lines = ["| network | beta | cosine +beta / -beta / symmetric | relative error +beta / -beta "
             "/ symmetric |", "| --- | --- | --- | --- |"]
    for name, check in result["results"].items():
        for row in check["by_beta"]:
            cos = " / ".join(f"{row[k]['cosine']:.6f}" for k in ("plus", "minus", "symmetric"))
            rel = " / ".join(f"{row[k]['relative_error']:.2e}" for k in ("plus", "minus",
                                                                         "symmetric"))
            lines.append(f"| {name} | {row['beta']:g} | {cos} | {rel} |")
    return lines


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--results", default="results", help="results folder (default: results)")
    args = p.parse_args()
    root = Path(args.results)

    for folder in ("fig2", "fig2-deep-preview"):
        summary = _load(root / folder / "summary.json")
        if summary:
            print(f"## {folder}\n")
            print("\n".join(fig2_table(summary)) + "\n")
            print("\n".join(per_epoch_table(summary, list(summary))) + "\n")
    fig3 = _load(root / "fig3" / "summary.json")
    if fig3:
        print(f"## fig3 ({fig3['epochs_compared']} epochs compared)\n")
        print("\n".join(per_epoch_table(fig3["runs"], list(fig3["runs"]))) + "\n")
    for folder in sorted(p.name for p in root.glob("fig1*")):
        result = _load(root / folder / "alignment.json")
        if result:
            print(f"## {folder}: layers {result['settings']['layers']}, "
                  f"{result['settings']['draws']} draws, {result['settings']['inputs']} inputs\n")
            print("\n".join(fig1_table(result)) + "\n")
    check = _load(root / "gradient_check" / "gradient_check.json")
    if check:
        print("## gradient check\n")
        print("\n".join(gradient_table(check)) + "\n")
        for name, result in check["results"].items():
            fd = result["finite_difference"]
            print(f"- {name} ({result['network']}): fixed-point residual "
                  f"{result['fixed_point_residual_max']:.1e}, free neurons "
                  f"{100 * result['free_fraction']:.1f} %, finite differences on {fd['entries']} "
                  f"entries agree to {fd['max_difference_over_max_gradient']:.1e} of the "
                  f"largest, {result['seconds']:.0f} s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
