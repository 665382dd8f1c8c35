"""Experiment runs: a list of named trainings, each a preset plus overrides, in one TOML file.

An experiment file contains one ``[[run]]`` table per training::

    [[run]]
    name = "shallow-t4-ep"             # run directory name under the results folder
    panel = "784-500-10, T- = 4"       # runs with the same panel share a plot
    label = "plain EP"                 # legend entry
    preset = "mnist-784-500-10-ep"     # preset name or TOML path
    epochs = 25
    set = ["dynamics.t_minus=2.0"]     # KEY=VALUE overrides, as for `neurosim train --set`

:func:`train_run` trains one of them with :class:`~neurosim.training.Trainer` in its own
run directory and continues from the checkpoint when the directory already contains one.
"""

import logging
import tomllib
from dataclasses import dataclass, field
from pathlib import Path

from ..config import load_config
from ..errors import ConfigError
from ..rundir import RunDirectory

__all__ = ["RunSpec", "load_runs", "select_runs", "run_config", "train_run", "read_metrics",
           "run_engine", "check_same_settings", "SMOKE_HIDDEN"]

logger = logging.getLogger(__name__)

#: Hidden-layer width of the smoke setting, which trains on a small synthetic set in seconds.
SMOKE_HIDDEN = 32


@dataclass
class RunSpec:
    """One training of an experiment: a preset, overrides and a number of epochs."""

    name: str
    preset: str
    epochs: int
    panel: str = ""
    label: str = ""
    overrides: list = field(default_factory=list)


def load_runs(path):
    """Read the ``[[run]]`` tables of an experiment file and return a list of :class:`RunSpec`."""
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"experiment file {path} not found: pass an existing TOML file.")
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path} is not valid TOML: {exc}.") from None
    specs = []
    for index, table in enumerate(data.get("run", [])):
        missing = [key for key in ("name", "preset", "epochs") if key not in table]
        if missing:
            raise ConfigError(f"[[run]] number {index + 1} in {path} lacks {', '.join(missing)}: "
                              "every run needs a name, a preset and a number of epochs.")
        specs.append(RunSpec(name=table["name"], preset=table["preset"], epochs=int(table["epochs"]),
                             panel=table.get("panel", ""), label=table.get("label", table["name"]),
                             overrides=list(table.get("set", []))))
    if not specs:
        raise ConfigError(f"{path} contains no [[run]] table: add at least one run.")
    names = [spec.name for spec in specs]
    duplicates = sorted({name for name in names if names.count(name) > 1})
    if duplicates:
        raise ConfigError(f"{path} names the runs {', '.join(duplicates)} more than once: give "
                          "every run its own name.")
    return specs


def select_runs(specs, names):
    """Return the specs called ``names`` (all of them when ``names`` is empty)."""
    if not names:
        return list(specs)
    known = {spec.name: spec for spec in specs}
    unknown = [name for name in names if name not in known]
    if unknown:
        raise ConfigError(f"unknown run {', '.join(unknown)}: choose among {', '.join(known)}.")
    return [known[name] for name in names]


def run_config(spec, epochs=None, smoke=False):
    """Return the validated configuration of ``spec``.

    ``epochs`` replaces the spec's number of epochs. ``smoke`` shrinks the run to a few
    seconds: hidden layers of :data:`SMOKE_HIDDEN` neurons, a synthetic data set of 200
    training and 100 test samples, and 2 epochs unless ``epochs`` is given.
    """
    overrides = list(spec.overrides)
    if smoke:
        layers = load_config(spec.preset, overrides).network.layers
        hidden = [SMOKE_HIDDEN] * (len(layers) - 2)
        overrides += [f"network.layers={[layers[0], *hidden, layers[-1]]}",
                      'data.dataset="synthetic"', "data.synthetic_train=200",
                      "data.synthetic_test=100"]
        epochs = 2 if epochs is None else epochs
    overrides.append(f"training.epochs={spec.epochs if epochs is None else epochs}")
    config = load_config(spec.preset, overrides)
    config.name = spec.name
    return config


def train_run(spec, out, engine="dense", epochs=None, smoke=False, progress=False, cache=None,
              max_samples=None):
    """Train ``spec`` in ``out / spec.name``, continuing from its checkpoint if there is one.

    ``max_samples`` limits every epoch to the first training samples, as
    ``neurosim train --max-samples`` does.

    ``cache`` (a dict) keeps loaded data sets between calls, so that a series of runs on
    the same data reads it once.

    Returns
    -------
    list of dict
        The metric rows of every epoch trained so far.
    """
    from ..training import Trainer

    config = run_config(spec, epochs=epochs, smoke=smoke)
    run_dir = Path(out) / spec.name
    resume = RunDirectory(run_dir).checkpoint_path.exists()
    logger.info("%s %s in %s (%d epochs)", "continuing" if resume else "starting", spec.name,
                run_dir, config.training.epochs)
    trainer = Trainer(config, run_dir, engine=engine, resume=resume, force=not resume,
                      max_samples=max_samples, progress=progress)
    return trainer.fit(_dataset(config, cache))


def _dataset(config, cache):
    from ..data import load_dataset

    if cache is None:
        return load_dataset(config)
    layers = config.network.layers
    key = (tuple(sorted(config.to_dict()["data"].items())), layers[0], layers[-1],
           config.training.seed)
    if key not in cache:
        cache[key] = load_dataset(config)
    return cache[key]


def read_metrics(run_dir):
    """Return the metric rows in ``run_dir/metrics.json``, or an empty list if there are none."""
    return RunDirectory(run_dir).read_metrics()


def run_engine(run_dir):
    """Return the engine that trained the run in ``run_dir`` (from run.json), or None."""
    return RunDirectory(run_dir).read_info().get("engine")


def check_same_settings(config, run_dir):
    """Raise :class:`ConfigError` unless ``run_dir`` was trained with the settings of ``config``.

    The number of epochs may differ; every other value must match.
    """
    path = RunDirectory(run_dir).config_path
    if not path.exists():
        raise ConfigError(f"{run_dir} contains no run (no config.toml): train it first or drop "
                          "the option that reuses it.")
    theirs = load_config(path).to_dict()
    ours = config.to_dict()
    for section, values in ours.items():
        for key, value in values.items():
            if (section, key) != ("training", "epochs") and theirs[section][key] != value:
                raise ConfigError(f"{run_dir} was trained with {section}.{key} = "
                                  f"{theirs[section][key]!r}, not {value!r}: it cannot stand in "
                                  "for this run.")
