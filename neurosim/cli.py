"""The ``neurosim`` command: train, evaluate, trace, plot and list models.

Errors that neurosim anticipates print as one line on standard error with a non-zero exit
status: 2 for invalid input, 3 for a diverged run, 130 for an interrupted one, 1 for a
failed file-system operation.
"""

import argparse
import logging
import sys
from pathlib import Path

from .errors import CheckpointError, NeurosimError, RunDirectoryError

__all__ = ["main", "build_parser"]

logger = logging.getLogger("neurosim")

DEFAULT_MODEL = "mnist-784-500-10"
DEFAULT_ENGINE = "brian2"


def _add_train(subparsers):
    parser = subparsers.add_parser(
        "train", help="train a model and write a run directory",
        description="Train an Equilibrium Propagation network. Writes config.toml, run.json, "
                    "metrics.csv, metrics.json, checkpoint.npz and train.log into --out.")
    parser.add_argument("model", nargs="?",
                        help=f"preset name or path of a TOML file (default: {DEFAULT_MODEL}, or "
                             "with --resume the run's own config.toml); 'neurosim models' lists "
                             "the presets")
    parser.add_argument("--engine", choices=("brian2", "dense"),
                        help="simulation engine: 'brian2' (default; with --resume the run's own "
                             "engine) declares the network as Brian2 equations; 'dense' is the "
                             "batched NumPy engine")
    _add_device(parser)
    parser.add_argument("--epochs", type=int, help="number of epochs (sets training.epochs)")
    parser.add_argument("--out", help="run directory (default: runs/MODEL)")
    parser.add_argument("--resume", action="store_true",
                        help="continue the run in --out from its last checkpoint")
    parser.add_argument("--force", action="store_true",
                        help="start over even if --out already contains a run (its files are replaced)")
    parser.add_argument("--seed", type=int, help="random seed (sets training.seed)")
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                        help="override a configuration value, e.g. --set training.eta=[0.1,0.05] "
                             "or --set dynamics.t_minus=2.0 (times in units of tau); repeatable")
    parser.add_argument("--max-samples", type=int, metavar="N",
                        help="train on only the first N training samples per epoch")
    parser.add_argument("--no-progress", action="store_true", help="hide the progress bar")
    parser.set_defaults(func=_cmd_train)


def _add_device(parser):
    parser.add_argument("--device", choices=("auto", "cpp_standalone", "cython", "numpy"),
                        default="auto",
                        help="how the brian2 engine runs: 'auto' (default) compiles C++ "
                             "standalone code where a compiler works and falls back to "
                             "runtime mode otherwise; 'cython' and 'numpy' use runtime mode")


def _engine_options(args, engine):
    return {"device": args.device} if engine == "brian2" else {}


def _add_evaluate(subparsers):
    parser = subparsers.add_parser(
        "evaluate", help="evaluate the checkpoint of a run on the test set",
        description="Load RUN_DIR/checkpoint.npz and report the test error of the feedforward "
                    "pass (s^f) and after settling (s-).")
    parser.add_argument("run_dir", help="run directory written by 'neurosim train'")
    parser.add_argument("--engine", choices=("brian2", "dense"), default="dense",
                        help="engine used to settle (default: dense)")
    _add_device(parser)
    parser.set_defaults(func=_cmd_evaluate)


def _add_models(subparsers):
    parser = subparsers.add_parser("models", help="list the model presets",
                                   description="List the presets that MODEL may name.")
    parser.set_defaults(func=_cmd_models)


def _add_bench(subparsers):
    from .benchmarking import DESCRIPTION, add_arguments

    parser = subparsers.add_parser(
        "bench", help="benchmark the engines: speed, memory, arithmetic floor",
        description=DESCRIPTION)
    add_arguments(parser)
    parser.set_defaults(func=_cmd_bench)


def _cmd_bench(args):
    from .benchmarking import run_command

    return run_command(args)


def _add_trace(subparsers):
    parser = subparsers.add_parser(
        "trace", help="record neuron states and energy of one sample over both phases",
        description="Simulate one sample through the negative and the positive phase and write "
                    "a PNG of chosen neurons of every layer, the energy F = E + beta C and the "
                    "cost C against time (units of tau), plus the raw arrays as .npz beside it. "
                    "Initialized EP is recorded twice: settling from clip(s^f) and from zero.")
    parser.add_argument("model", metavar="MODEL_OR_RUN_DIR",
                        help="run directory (weights from its checkpoint.npz), or a preset name "
                             "or TOML file (random initial weights of training.seed)")
    parser.add_argument("--sample", type=int, default=0, help="index of the sample (default: 0)")
    parser.add_argument("--split", choices=("test", "train"), default="test",
                        help="data split the sample comes from (default: test)")
    parser.add_argument("--neurons", nargs="+", action="extend", metavar="SPEC",
                        help="neurons to keep: 'all', a count per layer (default: the 4 whose "
                             "state changes most when settling from zero; the output neuron "
                             "of the label is always kept), or LAYER:I,J,... for one layer "
                             "(layers 1 to L, output last)")
    parser.add_argument("--beta", type=float,
                        help="nudging strength of the positive phase (default: +training.beta)")
    parser.add_argument("--out", help="PNG to write; the .npz gets the same name (default: "
                                      "trace-NAME-SPLITI.png in the current folder)")
    parser.add_argument("--engine", choices=("brian2", "dense"),
                        help="engine that records: 'brian2' (default when it imports) or 'dense'")
    parser.set_defaults(func=_cmd_trace)


def _add_plot(subparsers):
    parser = subparsers.add_parser(
        "plot", help="plot learning curves of one or more runs",
        description="Draw train and test error per epoch of the feedforward pass (s^f, dashed) "
                    "and after settling (s-, solid), one colour per run, from the metrics.json "
                    "of each run directory.")
    parser.add_argument("run_dirs", nargs="+", metavar="RUN_DIR",
                        help="run directories written by 'neurosim train'")
    parser.add_argument("--out", default="learning-curves.png",
                        help="PNG to write (default: learning-curves.png)")
    parser.add_argument("--log", action="store_true", help="logarithmic error axis")
    parser.add_argument("--residual", action="store_true",
                        help="add a panel with the residual |ds/dt| at the end of the negative "
                             "phase per epoch")
    parser.set_defaults(func=_cmd_plot)


def build_parser():
    """Return the argument parser of the ``neurosim`` command."""
    from . import __version__

    parser = argparse.ArgumentParser(
        prog="neurosim",
        description="Simulate and train Equilibrium Propagation networks in continuous time.")
    parser.add_argument("--version", action="version", version=f"neurosim {__version__}")
    parser.add_argument("-v", "--verbose", action="store_true", help="log debug messages")
    subparsers = parser.add_subparsers(dest="command", required=True)
    _add_train(subparsers)
    _add_evaluate(subparsers)
    _add_models(subparsers)
    _add_trace(subparsers)
    _add_plot(subparsers)
    _add_bench(subparsers)
    return parser


def _resolve_config(args):
    from .config import load_config
    from .rundir import RunDirectory

    overrides = list(args.set)
    if args.epochs is not None:
        overrides.append(f"training.epochs={args.epochs}")
    if args.seed is not None:
        overrides.append(f"training.seed={args.seed}")
    if args.model is None and args.resume and args.out:
        run = RunDirectory(args.out)
        if run.config_path.is_file():
            config = load_config(run.config_path, overrides)
            config.name = run.read_info().get("model", config.name)
            return config
    return load_config(args.model or DEFAULT_MODEL, overrides)


def _cmd_train(args):
    from .rundir import RunDirectory
    from .training import Trainer

    config = _resolve_config(args)
    out = args.out or str(Path("runs") / config.name)
    engine = args.engine
    if engine is None:
        engine = RunDirectory(out).read_info().get("engine") if args.resume else None
        engine = engine if engine in ("brian2", "dense") else DEFAULT_ENGINE
    trainer = Trainer(config, out, engine=engine, resume=args.resume, force=args.force,
                      max_samples=args.max_samples, progress=False if args.no_progress else None,
                      engine_options=_engine_options(args, engine))
    metrics = trainer.fit()
    if metrics:
        last = metrics[-1]
        print(f"epoch {last['epoch']}: test error s^f {_percent(last['test_error_sf'])}, "
              f"s- {_percent(last['test_error_minus'])}; run directory {out}")
    return 0


def _cmd_evaluate(args):
    from .checkpoint import load_checkpoint
    from .config import load_config
    from .data import load_dataset
    from .engines import make_engine
    from .rundir import RunDirectory

    run = RunDirectory(args.run_dir)
    if not run.path.is_dir():
        raise RunDirectoryError(f"run directory {run.path} not found: pass the --out folder of "
                                "'neurosim train'.")
    if not run.config_path.is_file():
        raise RunDirectoryError(f"{run.path} has no config.toml: it is not a run directory "
                                "written by 'neurosim train'.")
    config = load_config(run.config_path)
    network, state = load_checkpoint(run.checkpoint_path)
    if network.layers != list(config.network.layers):
        raise CheckpointError(f"{run.checkpoint_path} contains layers {network.layers}, but "
                              f"{run.config_path} sets network.layers = "
                              f"{config.network.layers}: restore the run's config.toml.")
    data = load_dataset(config)
    engine = make_engine(args.engine, network, config, **_engine_options(args, args.engine))
    try:
        error_sf, error_minus = engine.evaluate(data.x_test).errors(data.y_test)
    finally:
        engine.close()
    print(f"{run.path}: {_trained_label(state)}, test error s^f {_percent(error_sf)}, "
          f"s- {_percent(error_minus)} on {len(data.y_test)} samples ({args.engine} engine)")
    return 0


def _cmd_trace(args):
    from .plotting import plot_trace
    from .traces import parse_neuron_spec, trace_sample

    neurons = parse_neuron_spec(args.neurons)
    if args.out:
        png = Path(args.out).with_suffix(".png")
    else:
        name = Path(args.model).name.removesuffix(".toml")
        png = Path(f"trace-{name}-{args.split}{args.sample}.png")
    _make_parent(png)
    trace = trace_sample(args.model, sample=args.sample, split=args.split, neurons=neurons,
                         engine=args.engine, beta=args.beta)
    plot_trace(trace, png)
    npz = trace.save(png.with_suffix(".npz"))
    print(f"wrote {png} and {npz}")
    return 0


def _cmd_plot(args):
    from .plotting import plot_learning_curves

    _make_parent(Path(args.out))
    path = plot_learning_curves(args.run_dirs, args.out, log_scale=args.log,
                                residual=args.residual)
    print(f"wrote {path}")
    return 0


def _cmd_models(_args):
    from .config import list_presets, load_config

    for name in list_presets():
        config = load_config(name)
        kind = "Initialized EP" if config.network.initialized else "plain EP"
        dyn = config.dynamics
        tr = config.training
        rates = "eta=" + ",".join(f"{rate:g}" for rate in tr.eta)
        if tr.eta_decay < 1:
            rates += f" x{tr.eta_decay:g}/epoch from {tr.eta_decay_start}"
        print(f"{name:28s} {'-'.join(map(str, config.network.layers)):20s} {kind:15s} "
              f"T-={dyn.steps_minus} T+={dyn.steps_plus} steps of dt={dyn.dt:g} "
              f"lambda={dyn.coupling:g} beta={tr.beta:g} {rates}, {tr.epochs} epochs")
    return 0


def _make_parent(path):
    """Create the folder of an output file before any work, or fail with a one-line error."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise NeurosimError(f"cannot create the folder {path.parent} for {path.name}: "
                            f"{exc.strerror}. Choose another --out.") from None


def _trained_label(state):
    """Return how far the checkpoint's run got: "epoch 2", or the minibatches of a partial one."""
    epoch, batch = int(state.get("epoch", 0)), int(state.get("next_batch", 0))
    if batch:
        return f"epoch {epoch} and {batch} minibatches of epoch {epoch + 1}"
    return f"epoch {epoch}"


def _percent(value):
    return "-" if value != value else f"{100 * value:.2f} %"


def main(argv=None):
    """Run the command line; return the exit status."""
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.DEBUG if args.verbose else logging.INFO,
                        format="%(levelname)s %(message)s", stream=sys.stderr)
    try:
        return args.func(args)
    except NeurosimError as exc:
        kind = "interrupted" if exc.exit_code == 130 else "error"
        print(f"neurosim: {kind}: {exc}", file=sys.stderr)
        return exc.exit_code
    except OSError as exc:
        # The file system failed (permission denied, disk full, ...): report it, not a traceback.
        print(f"neurosim: error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("neurosim: interrupted; files written before the interruption are kept",
              file=sys.stderr)
        return 130
