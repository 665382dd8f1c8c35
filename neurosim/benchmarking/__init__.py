"""Benchmarks of the engines: speed, peak memory, the arithmetic floor and a baseline.

``neurosim bench`` (or ``python -m benchmarks`` in a clone) runs the cases chosen by the
options below, prints a table and writes every number to a JSON file. For each case it
reports training and evaluation samples per second and the peak resident memory. It also
counts the floating-point operations per training sample (:mod:`~neurosim.benchmarking.flops`)
and compares the achieved rate with a matrix multiply measured in the same process. The last
column is the speed-up over the usual formulation (:mod:`~neurosim.benchmarking.usual`).
"""

import json
import logging
import sys
from pathlib import Path

from ..errors import ConfigError, NeurosimError
from .cases import ENGINES, NETWORKS, Case, select_cases
from .flops import dense_flops, usual_flops
from .report import format_table
from .runner import run_benchmarks

__all__ = ["DESCRIPTION", "add_arguments", "run_command", "main", "Case", "select_cases", "run_benchmarks",
           "dense_flops", "usual_flops", "format_table"]

logger = logging.getLogger(__name__)

DEFAULT_ENGINES = ("dense", "brian2-standalone", "brian2-cython")

#: Help text of ``neurosim bench`` and ``python -m benchmarks``.
DESCRIPTION = ("Time training and evaluation of the dense and Brian2 engines on 784-500-10 and "
               "784-500-500-500-10 networks, count the floating-point operations per sample, "
               "compare with the matrix-multiply rate measured in the same process and with "
               "the usual formulation; print a table and write JSON. The usual formulation "
               "recomputes every layer's input, x W_1 included, at every step, as most EP code "
               "does; 'speed-up' is the engine's training rate divided by its rate. The deep "
               "network runs T- = 20 here, not the 50 of its preset. Other jobs on the "
               "machine slow the two-thread cases most.")


def _list(kind):
    def parse(text):
        return [kind(item) for item in text.split(",") if item.strip()]
    return parse


def add_arguments(parser):
    """Add the benchmark options to an :class:`argparse.ArgumentParser`."""
    parser.add_argument("--engines", type=_list(str), default=list(DEFAULT_ENGINES),
                        help="comma-separated engines, from: " + ", ".join(ENGINES)
                             + f" (default: {','.join(DEFAULT_ENGINES)})")
    parser.add_argument("--networks", type=_list(str), default=list(NETWORKS),
                        help="comma-separated networks: shallow (784-500-10, T-=20, T+=4), "
                             "deep (784-500-500-500-10, T-=20, T+=8) (default: both)")

    parser.add_argument("--dtypes", type=_list(str), default=["float64", "float32"],
                        help="comma-separated precisions of the dense engine (default: both)")
    parser.add_argument("--batches", type=_list(int), default=[1, 20, 100],
                        help="comma-separated minibatch sizes of the dense engine "
                             "(default: 1,20,100)")
    parser.add_argument("--threads", type=_list(int), default=[1, 2],
                        help="comma-separated BLAS thread counts of the dense engine "
                             "(default: 1,2)")

    parser.add_argument("--seconds", type=float, default=1.0,
                        help="duration of each timed repeat in seconds (default: 1)")
    parser.add_argument("--repeats", type=int, default=3,
                        help="timed repeats per measurement; the table shows the best "
                             "(default: 3)")

    parser.add_argument("--data", choices=("mnist", "random"), default="mnist",
                        help="train on MNIST images (default) or uniform random inputs")
    parser.add_argument("--no-usual", action="store_true",
                        help="skip the usual-formulation baseline and its speed-up column")
    parser.add_argument("--quick", action="store_true",
                        help="a short check: dense engine, shallow network, batch 20, one "
                             "0.3 s repeat")

    parser.add_argument("--training-memory", type=int, metavar="EPOCHS",
                        help="also train the default preset on MNIST for EPOCHS epochs in a "
                             "subprocess and record its peak memory")
    parser.add_argument("--json", default="neurosim-bench.json",
                        help="file the results are written to (default: neurosim-bench.json)")
    parser.add_argument("--markdown", action="store_true", help="print the table as Markdown")


def run_command(args):
    """Run the benchmarks described by parsed ``args``; return the exit status."""
    if args.quick:
        args.engines, args.networks, args.batches = ["dense"], ["shallow"], [20]
        args.seconds, args.repeats = 0.3, 1
    if not args.seconds > 0:
        raise ConfigError(f"--seconds {args.seconds} is invalid: give a positive duration.")
    if args.repeats < 1:
        raise ConfigError(f"--repeats {args.repeats} is invalid: give at least 1.")
    if args.training_memory is not None and args.training_memory < 1:
        raise ConfigError(f"--training-memory {args.training_memory} is invalid: give at least "
                          "1 epoch.")
    report = run_benchmarks(args.engines, args.networks, args.dtypes, args.batches,
                            args.threads, seconds=args.seconds, repeats=args.repeats,
                            data=args.data, usual=not args.no_usual,
                            progress=lambda line: print(line, file=sys.stderr, flush=True))
    if args.training_memory:
        from .memory import measure_training_run

        print(f"training the default preset for {args.training_memory} epoch(s) to measure "
              "its peak memory", file=sys.stderr, flush=True)
        report["training_memory"] = measure_training_run(epochs=args.training_memory)

    machine = report["machine"]
    print(f"{machine['cpu_model']}, {machine['cpus']} CPUs, {machine['memory_gib']} GiB; "
          f"load average {_load(machine.get('load_average'))} before, "
          f"{_load(machine.get('load_average_after'))} after; data: {report['data']}")
    print(format_table(report["cases"], markdown=args.markdown))
    for note in report["notes"]:
        print(f"note: {note}")
    if "training_memory" in report:
        run = report["training_memory"]
        print(f"training run: {run['command']}: peak RSS {run['peak_rss_mib']:.0f} MiB, "
              f"{run['wall_seconds']:.0f} s, exit code {run['exit_code']}")
    Path(args.json).write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
    print(f"results written to {args.json}")
    failed = [case for case in report["cases"] if "error" in case]
    return 1 if failed or report.get("training_memory", {}).get("exit_code", 0) else 0


def _load(values):
    return "?" if not values else " ".join(f"{v:.2f}" for v in values)


def main(argv=None):
    """Run ``python -m neurosim.benchmarking`` with ``argv``; return the exit status."""
    import argparse

    parser = argparse.ArgumentParser(prog="python -m benchmarks", description=DESCRIPTION)
    add_arguments(parser)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(message)s")
    try:
        return run_command(args)
    except NeurosimError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return exc.exit_code
