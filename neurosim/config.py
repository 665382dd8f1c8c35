"""Model and training configuration: TOML files, presets, overrides and validation.

A configuration has four tables. Times are in units of the membrane time constant tau, so
a negative phase of 20 forward-Euler steps at ``dt = 0.5`` is ``t_minus = 10.0``::

    [network]
    layers = [784, 500, 10]     # input, hidden..., output sizes
    init = "feedforward"        # "feedforward": Initialized EP; "zero": plain EP

    [dynamics]
    dt = 0.5                    # integration step epsilon = dt / tau
    t_minus = 10.0              # negative phase duration (tau)
    t_plus = 2.0                # positive phase duration (tau)
    method = "euler"            # Brian2 integration method: euler, rk2 or rk4
    coupling = 0.0              # lambda, strength of the pull toward s^f

    [training]
    epochs = 25
    batch_size = 20
    beta = 0.5                  # nudging strength; its sign is drawn per minibatch
    random_sign = true
    eta = [0.1, 0.05]           # EP learning rate per weight matrix
    eta_feedforward = []        # feedforward learning rates; empty means eta
    eta_decay = 1.0             # factor on every rate per epoch from eta_decay_start on
    eta_decay_start = 2         # first epoch (from 1) whose rates are decayed
    feedforward_loss = "local"  # "local" or "global"
    dtype = "float64"
    seed = 0

    [data]
    dataset = "mnist"           # "mnist" or "synthetic"
    root = ""                   # folder of IDX files; empty searches the usual places
"""

import dataclasses
import difflib
import logging
import math
import tomllib
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path

from .errors import ConfigError

__all__ = [
    "NetworkConfig",
    "DynamicsConfig",
    "TrainingConfig",
    "DataConfig",
    "Config",
    "load_config",
    "list_presets",
    "preset_path",
    "apply_overrides",
    "config_to_toml",
    "validate_training",
]

logger = logging.getLogger(__name__)

#: Largest step (units of tau): above it forward Euler on the leak ds/dt = -s overshoots.
EULER_STABLE_DT = 1.0


@dataclass
class NetworkConfig:
    """Layer sizes and how the negative phase starts."""

    layers: list = field(default_factory=lambda: [784, 500, 10])
    init: str = "feedforward"

    @property
    def initialized(self):
        """True for Initialized EP, where the feedforward population starts each negative phase."""
        return self.init == "feedforward"


@dataclass
class DynamicsConfig:
    """Integration step, phase durations (in units of tau) and the coupling strength lambda."""

    dt: float = 0.5
    t_minus: float = 10.0
    t_plus: float = 2.0
    method: str = "euler"
    coupling: float = 0.0

    @property
    def steps_minus(self):
        """Number of integration steps of the negative phase."""
        return int(round(self.t_minus / self.dt))

    @property
    def steps_plus(self):
        """Number of integration steps of the positive phase."""
        return int(round(self.t_plus / self.dt))


@dataclass
class TrainingConfig:
    """Minibatches, nudging, learning rates, precision and the random seed."""

    epochs: int = 25
    batch_size: int = 20
    beta: float = 0.5
    random_sign: bool = True
    eta: list = field(default_factory=lambda: [0.1, 0.05])
    eta_feedforward: list = field(default_factory=list)
    eta_decay: float = 1.0
    eta_decay_start: int = 2
    feedforward_loss: str = "local"
    dtype: str = "float64"
    seed: int = 0

    @property
    def feedforward_rates(self):
        """Learning rates of the feedforward population: ``eta_feedforward``, or ``eta`` if empty."""
        return list(self.eta_feedforward) if self.eta_feedforward else list(self.eta)

    def rate_scale(self, epoch):
        """Return the factor on every learning rate during ``epoch`` (counted from 1).

        Epochs before ``eta_decay_start`` train at the full rates; epoch
        ``eta_decay_start + k`` multiplies them by ``eta_decay ** (k + 1)``. With the default
        ``eta_decay = 1`` the rates stay constant.
        """
        return float(self.eta_decay) ** max(0, epoch - self.eta_decay_start + 1)


@dataclass
class DataConfig:
    """The data set to train on and its location."""

    dataset: str = "mnist"
    root: str = ""
    synthetic_train: int = 2000
    synthetic_test: int = 500


@dataclass
class Config:
    """A whole model and training configuration."""

    network: NetworkConfig = field(default_factory=NetworkConfig)
    dynamics: DynamicsConfig = field(default_factory=DynamicsConfig)
    training: TrainingConfig = field(default_factory=TrainingConfig)
    data: DataConfig = field(default_factory=DataConfig)
    name: str = "custom"

    def to_dict(self):
        """Return the configuration as nested dictionaries, without the name."""
        return {key: dataclasses.asdict(getattr(self, key)) for key in _SECTIONS}

    def validate(self, warn=True):
        """Check every value and raise :class:`ConfigError` naming the first invalid one.

        ``training.beta = 0`` passes here, because settling and evaluation do not nudge;
        :func:`validate_training` rejects it before training. With ``warn``, log a warning
        for settings that are valid but doubtful (a step at which forward Euler overshoots).
        """
        _validate(self, warn=warn)
        return self


_SECTIONS = {
    "network": NetworkConfig,
    "dynamics": DynamicsConfig,
    "training": TrainingConfig,
    "data": DataConfig,
}

_CHOICES = {
    ("network", "init"): ("feedforward", "zero"),
    ("dynamics", "method"): ("euler", "rk2", "rk4"),
    ("training", "feedforward_loss"): ("local", "global"),
    ("training", "dtype"): ("float64", "float32"),
    ("data", "dataset"): ("mnist", "synthetic"),
}


def _suggest(name, candidates):
    match = difflib.get_close_matches(name, list(candidates), n=1, cutoff=0.5)
    return f" Did you mean '{match[0]}'?" if match else ""


def _home_table(key):
    """Return the table that has a key called ``key``, or None."""
    for section, cls in _SECTIONS.items():
        if key in {f.name for f in dataclasses.fields(cls)}:
            return section
    return None


def _suggest_key(section, key, fields):
    """Suggest a close key of ``[section]``, or the table where ``key`` belongs."""
    home = _home_table(key)
    if home is not None and home != section:
        return f" '{key}' belongs in [{home}]: move it there."
    return _suggest(key, fields)


def _type_name(kind):
    return {int: "an integer", float: "a number", bool: "true or false", str: "a string",
            list: "a list"}[kind]


def _coerce(section, key, value, default, source):
    """Check ``value`` against the type of ``default`` and return it in that type."""
    where = f"{section}.{key}"
    kind = type(default)
    if kind is bool:
        if not isinstance(value, bool):
            raise ConfigError(f"{where} = {value!r} in {source} is invalid: expected true or false.")
        return value
    if kind is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise ConfigError(f"{where} = {value!r} in {source} is invalid: expected an integer.")
        return value
    if kind is float:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ConfigError(f"{where} = {value!r} in {source} is invalid: expected a number.")
        return float(value)
    if kind is list:
        if not isinstance(value, list):
            raise ConfigError(f"{where} = {value!r} in {source} is invalid: expected a list.")
        return list(value)
    if not isinstance(value, kind):
        raise ConfigError(f"{where} = {value!r} in {source} is invalid: expected {_type_name(kind)}.")
    return value


def config_from_dict(data, source="the configuration", name="custom"):
    """Build a validated :class:`Config` from nested dictionaries as read from TOML.

    Raises
    ------
    ConfigError
        For an unknown table or key (with the closest valid name suggested), a value of the
        wrong type or a value outside its valid range.
    """
    config = Config(name=name)
    for section, values in data.items():
        if section not in _SECTIONS:
            home = _home_table(section) if not isinstance(values, dict) else None
            if home is not None:
                raise ConfigError(f"key '{section}' in {source} is outside any table: write it "
                                  f"under [{home}] (as {home}.{section}).")
            raise ConfigError(f"unknown table [{section}] in {source}.{_suggest(section, _SECTIONS)}"
                              f" Valid tables: {', '.join(_SECTIONS)}.")
        if not isinstance(values, dict):
            raise ConfigError(f"'{section}' in {source} must be a table such as [{section}].")
        target = getattr(config, section)
        fields = {f.name: f for f in dataclasses.fields(target)}
        for key, value in values.items():
            if key not in fields:
                raise ConfigError(f"unknown key '{section}.{key}' in {source}."
                                  f"{_suggest_key(section, key, fields)}"
                                  f" Valid keys of [{section}]: {', '.join(fields)}.")
            setattr(target, key, _coerce(section, key, value, getattr(target, key), source))
    _validate(config, source)
    return config


def _positive(where, value, source, kind="number"):
    if not (value > 0) or (isinstance(value, float) and not math.isfinite(value)):
        finite = "" if kind == "integer" else "finite "
        raise ConfigError(f"{where} = {value!r} in {source} is invalid: it must be a positive "
                          f"{finite}{kind}.")


def _validate(config, source="the configuration", warn=True):
    """Check the values of ``config`` and their combinations; warn where Euler overshoots."""
    for (section, key), choices in _CHOICES.items():
        value = getattr(getattr(config, section), key)
        if value not in choices:
            raise ConfigError(f"{section}.{key} = {value!r} in {source} is invalid: choose one of "
                              f"{', '.join(repr(c) for c in choices)}.{_suggest(str(value), choices)}")

    layers = config.network.layers
    if len(layers) < 2:
        raise ConfigError(f"network.layers = {layers!r} in {source} is invalid: give at least an "
                          "input and an output size, for example [784, 500, 10].")
    for size in layers:
        if isinstance(size, bool) or not isinstance(size, int) or size <= 0:
            raise ConfigError(f"network.layers = {layers!r} in {source} is invalid: every size "
                              f"must be a positive integer, and {size!r} is not.")

    dyn = config.dynamics
    if not (0.0 < dyn.dt <= EULER_STABLE_DT) or not math.isfinite(dyn.dt):
        raise ConfigError(f"dynamics.dt = {dyn.dt!r} in {source} is invalid: the step must lie in "
                          "(0, 1] (units of tau). The published runs use 0.5.")
    _positive("dynamics.t_minus", dyn.t_minus, source)
    _positive("dynamics.t_plus", dyn.t_plus, source)
    for key in ("t_minus", "t_plus"):
        duration = getattr(dyn, key)
        steps = duration / dyn.dt
        if abs(steps - round(steps)) > 1e-6 * max(1.0, steps):
            raise ConfigError(f"dynamics.{key} = {duration!r} in {source} is invalid: it must be "
                              f"a whole number of steps of dt = {dyn.dt!r} (it is {steps:.4g} "
                              "steps).")
    if dyn.coupling < 0 or not math.isfinite(dyn.coupling):
        raise ConfigError(f"dynamics.coupling = {dyn.coupling!r} in {source} is invalid: lambda "
                          "must be a finite number >= 0 (the published runs use 0 or 0.1).")
    if dyn.coupling > 0 and not config.network.initialized:
        raise ConfigError(f"dynamics.coupling > 0 in {source} needs the feedforward population: "
                          "set network.init = \"feedforward\" or dynamics.coupling = 0.")

    tr = config.training
    _positive("training.epochs", tr.epochs, source, "integer")
    _positive("training.batch_size", tr.batch_size, source, "integer")
    if not math.isfinite(tr.beta):
        raise ConfigError(f"training.beta = {tr.beta!r} in {source} is invalid: it must be a "
                          "finite number (the published runs use 0.5 or 1.0).")
    n_weights = len(layers) - 1
    for key, rates in (("eta", tr.eta), ("eta_feedforward", tr.eta_feedforward)):
        if key == "eta_feedforward" and not rates:
            continue
        if len(rates) != n_weights:
            raise ConfigError(f"training.{key} has {len(rates)} values in {source}, but "
                              f"network.layers = {layers} has {n_weights} weight matrices: give "
                              "one rate per matrix.")
        for rate in rates:
            if isinstance(rate, bool) or not isinstance(rate, (int, float)) or not rate > 0 \
                    or not math.isfinite(rate):
                raise ConfigError(f"training.{key} = {rates!r} in {source} is invalid: every "
                                  f"learning rate must be a positive finite number, and {rate!r} "
                                  "is not.")
    if isinstance(tr.eta_decay, bool) or not isinstance(tr.eta_decay, (int, float)) \
            or not 0 < tr.eta_decay <= 1:
        raise ConfigError(f"training.eta_decay = {tr.eta_decay!r} in {source} is invalid: it "
                          "must be a number in (0, 1], the factor on the learning rates per "
                          "epoch (1 keeps them constant).")
    _positive("training.eta_decay_start", tr.eta_decay_start, source, "integer")
    if tr.seed < 0:
        raise ConfigError(f"training.seed = {tr.seed!r} in {source} is invalid: it must be >= 0.")

    data = config.data
    _positive("data.synthetic_train", data.synthetic_train, source, "integer")
    _positive("data.synthetic_test", data.synthetic_test, source, "integer")
    if warn and data.root and data.dataset != "mnist":
        logger.warning("data.root = %r in %s is ignored: it only applies to data.dataset = "
                       "\"mnist\".", data.root, source)
    if warn and tr.eta_decay < 1 and tr.eta_decay_start > tr.epochs:
        logger.warning("training.eta_decay = %g in %s never applies: eta_decay_start = %d is "
                       "after the last epoch (%d). Lower eta_decay_start or raise epochs.",
                       tr.eta_decay, source, tr.eta_decay_start, tr.epochs)
    if warn:
        _warn_overshoot(config, source)


def _warn_overshoot(config, source):
    """Warn when forward Euler overshoots the fixed point of the fastest-decaying neuron."""
    dyn = config.dynamics
    # The leak, the coupling and the nudging pull a state back at the combined rate
    # 1 + 2 lambda + |beta|; forward Euler overshoots once dt times that rate exceeds 1.
    decay_rate = 1.0 + 2.0 * dyn.coupling + abs(config.training.beta)
    if dyn.method == "euler" and dyn.dt * decay_rate > 1.0:
        logger.warning("dynamics.dt = %g in %s overshoots with forward Euler: the decay rate "
                       "1 + 2 lambda + |beta| = %g needs dt <= %.3g to settle monotonically.",
                       dyn.dt, source, decay_rate, 1.0 / decay_rate)


def validate_training(config):
    """Check the settings that only training needs, beyond :meth:`Config.validate`.

    Raises
    ------
    ConfigError
        If ``training.beta`` is 0: the EP update divides by beta.
    """
    if config.training.beta == 0:
        raise ConfigError("training.beta = 0 is invalid for training: the EP update divides by "
                          "beta, so set a non-zero value (the published runs use 0.5 or 1.0).")
    return config


# --- presets -----------------------------------------------------------------------------

def _preset_dirs():
    """Yield the folders that may hold presets: models/ of a clone, then the installed copy."""
    clone = Path(__file__).resolve().parent.parent / "models"
    if clone.is_dir():
        yield clone
    try:
        installed = resources.files("neurosim.models")
    except ModuleNotFoundError:
        return
    if installed.is_dir():
        yield installed


def list_presets():
    """Return a dict mapping each preset name to its TOML path (or resource)."""
    presets = {}
    for folder in _preset_dirs():
        for entry in folder.iterdir():
            if entry.name.endswith(".toml") and entry.name[:-5] not in presets:
                presets[entry.name[:-5]] = entry
    return dict(sorted(presets.items()))


def preset_path(name):
    """Return the path of preset ``name``, raising :class:`ConfigError` if there is none."""
    presets = list_presets()
    if name not in presets:
        raise ConfigError(f"no preset named '{name}'.{_suggest(name, presets)} Run 'neurosim "
                          f"models' to list presets, or pass the path of a TOML file.")
    return presets[name]


def load_config(model, overrides=()):
    """Load a configuration from a preset name or a TOML file path.

    Parameters
    ----------
    model : str or path-like
        A preset name such as ``"mnist-784-500-10"`` or the path of a TOML file.
    overrides : sequence of str
        ``KEY=VALUE`` assignments as for :func:`apply_overrides`, applied before the
        configuration is validated, so it is checked (and warned about) once.

    Raises
    ------
    ConfigError
        If the preset or file does not exist or cannot be read, the TOML is malformed or a
        value is invalid.
    """
    text = str(model)
    path = Path(text)
    if text.endswith(".toml") or path.exists():
        if path.is_dir():
            raise ConfigError(f"model file {text} is a folder: pass a TOML file or a preset name "
                              "(see 'neurosim models').")
        if not path.is_file():
            raise ConfigError(f"model file {text} not found: pass an existing TOML file or a "
                              "preset name (see 'neurosim models').")
        source, name = str(path), path.stem
        raw = _read_text(path, source)
    else:
        resource = preset_path(text)
        source, name = f"preset '{text}'", text
        raw = _read_text(resource, source)
    try:
        data = tomllib.loads(raw)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{source} is not valid TOML: {exc}. Fix the syntax at that line.") from None
    if overrides:
        data = _apply_assignments(data, overrides)
        source = f"{source} with the command-line overrides ({', '.join(overrides)})"
    return config_from_dict(data, source=source, name=name)


def _read_text(path, source):
    try:
        return path.read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        raise ConfigError(f"{source} is not UTF-8 text ({exc.reason} at byte {exc.start}): save "
                          "it as UTF-8 TOML.") from None
    except OSError as exc:
        raise ConfigError(f"{source} cannot be read: {exc.strerror or exc}. Check its "
                          "permissions.") from None


def _apply_assignments(data, assignments):
    """Return a copy of the nested dict ``data`` with ``KEY=VALUE`` assignments applied."""
    data = {section: dict(values) if isinstance(values, dict) else values
            for section, values in data.items()}
    for assignment in assignments:
        if "=" not in assignment:
            raise ConfigError(f"--set {assignment!r} is invalid: write KEY=VALUE, for example "
                              "training.epochs=3.")
        key, value_text = (part.strip() for part in assignment.split("=", 1))
        if key.count(".") != 1:
            home = _home_table(key)
            example = f"{home}.{key}" if home else "training.epochs"
            raise ConfigError(f"--set key {key!r} is invalid: write TABLE.KEY, for example "
                              f"{example}.")
        section, name = key.split(".")
        try:
            value = tomllib.loads(f"v = {value_text}")["v"]
        except tomllib.TOMLDecodeError:
            value = value_text
        table = data.setdefault(section, {})
        if not isinstance(table, dict):
            raise ConfigError(f"--set {key}: '{section}' is not a table. Valid tables: "
                              f"{', '.join(_SECTIONS)}.")
        table[name] = value
    return data


def apply_overrides(config, assignments):
    """Return a copy of ``config`` with ``KEY=VALUE`` assignments applied.

    Keys are dotted (``training.epochs``); values are TOML values (``3``, ``0.1``,
    ``[0.1, 0.05]``, ``"zero"``). A bare word that is not valid TOML is taken as a string.
    """
    data = _apply_assignments(config.to_dict(), assignments)
    return config_from_dict(data, source="--set", name=config.name)


def _toml_value(value):
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'
    if isinstance(value, list):
        return "[" + ", ".join(_toml_value(v) for v in value) + "]"
    return repr(value)


def config_to_toml(config):
    """Return the configuration as TOML text that :func:`load_config` reads back."""
    lines = [f"# neurosim configuration '{config.name}'"]
    for section, values in config.to_dict().items():
        lines.append(f"\n[{section}]")
        lines.extend(f"{key} = {_toml_value(value)}" for key, value in values.items())
    return "\n".join(lines) + "\n"
