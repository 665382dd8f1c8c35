"""Neuron and energy traces of one sample through the negative and the positive phase.

A trace follows one sample in continuous time (units of the membrane time constant tau):
the negative phase settles with the input clamped and ``beta = 0``, then the positive phase
nudges the output toward the target with the nudging current ``beta (y - s_L)``. For
Initialized EP the negative phase is recorded twice, once starting from the feedforward
states ``clip(s^f)`` and once from zero, so that the two settlings can be compared. Plain EP
starts from zero only. The energy ``E``, the cost ``C`` and the total energy
``F = E + beta C + lambda sum (s^f - s)^2`` are computed from the recorded states of all
neurons with :mod:`neurosim.dynamics`, whichever neurons are kept for the trace.

Arrays saved by :meth:`Trace.save` (``np.load`` reads them without pickle). ``T`` is
``steps_minus + steps_plus``, ``L`` the number of non-input layers, ``k_l`` the number of
neurons kept in layer ``l`` and ``START`` is ``feedforward`` or ``zero``:

==========================  ===============  ==================================================
key                         shape            content
==========================  ===============  ==================================================
``t``                       ``(T + 1,)``     time of each recorded state, in units of tau
``beta``                    ``(T + 1,)``     nudging strength during the step ending at ``t``
``phase_boundaries``        ``(3,)``         start, end of the negative phase, end of the
                                             positive phase, in tau
``layers``                  ``(L + 1,)``     layer sizes, input first
``starts``                  ``(n_starts,)``  the recorded starts, the main one first
``x``                       ``(n_0,)``       the clamped input
``label``, ``sample``       ``()``           the class of the sample and its index in ``split``
``split``, ``engine``       ``()``           data split and engine name (strings)
``neurons_l``               ``(k_l,)``       indices of the kept neurons of layer ``l = 1..L``
``states_START_l``          ``(T + 1, k_l)`` their states, settling from START
``ff_l``                    ``(k_l,)``       their feedforward states ``s^f`` (Initialized EP)
``energy_START``            ``(T + 1,)``     ``E(s, x)`` of all neurons
``cost_START``              ``(T + 1,)``     ``C = 1/2 ||s_L - y||^2``
``total_energy_START``      ``(T + 1,)``     ``F``, the function the dynamics descend
==========================  ===============  ==================================================
"""

import logging
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .data import one_hot
from .dynamics import coupling_energy, cost, energy
from .errors import CheckpointError, NeurosimError

__all__ = [
    "Trace",
    "TraceError",
    "record_trace",
    "trace_sample",
    "resolve_model",
    "select_neurons",
    "parse_neuron_spec",
    "default_engine",
    "DEFAULT_NEURONS_PER_LAYER",
]

logger = logging.getLogger(__name__)

#: Neurons kept per layer when none are named: those whose state changes most when the
#: negative phase starts from zero.
DEFAULT_NEURONS_PER_LAYER = 4


class TraceError(NeurosimError, ValueError):
    """A sample, neuron or layer asked for in a trace does not exist."""


@dataclass
class Trace:
    """Recorded states, energies and phase boundaries of one sample; see the module docstring.

    ``states``, ``energy``, ``cost`` and ``total_energy`` are dicts keyed by the start
    ("feedforward" or "zero"). ``states[start]`` and ``ff_states`` contain one array per
    non-input layer, restricted to the kept ``neurons``.
    """

    t: np.ndarray
    beta: np.ndarray
    phase_boundaries: np.ndarray
    layers: list
    neurons: list
    states: dict
    energy: dict
    cost: dict
    total_energy: dict
    ff_states: list | None
    x: np.ndarray
    label: int
    sample: int = -1
    split: str = ""
    engine: str = ""

    @property
    def starts(self):
        """The recorded starts of the negative phase, the main one first."""
        return list(self.states)

    def to_arrays(self):
        """Return the arrays written by :meth:`save`, keyed as in the module docstring."""
        arrays = {
            "t": self.t, "beta": self.beta, "phase_boundaries": self.phase_boundaries,
            "layers": np.asarray(self.layers, dtype=np.int64),
            "starts": np.asarray(self.starts), "x": self.x,
            "label": np.int64(self.label), "sample": np.int64(self.sample),
            "split": np.asarray(self.split), "engine": np.asarray(self.engine),
        }
        for layer, indices in enumerate(self.neurons, start=1):
            arrays[f"neurons_{layer}"] = np.asarray(indices, dtype=np.int64)
            if self.ff_states is not None:
                arrays[f"ff_{layer}"] = self.ff_states[layer - 1]
            for start in self.starts:
                arrays[f"states_{start}_{layer}"] = self.states[start][layer - 1]
        for start in self.starts:
            arrays[f"energy_{start}"] = self.energy[start]
            arrays[f"cost_{start}"] = self.cost[start]
            arrays[f"total_energy_{start}"] = self.total_energy[start]
        return arrays

    def save(self, path):
        """Write the arrays to ``path`` (``.npz``) and return the path."""
        path = Path(path)
        np.savez_compressed(path, **self.to_arrays())
        return path

    @classmethod
    def load(cls, path):
        """Read a trace written by :meth:`save`."""
        with np.load(path, allow_pickle=False) as archive:
            arrays = {key: archive[key] for key in archive.files}
        starts = [str(s) for s in arrays["starts"]]
        n_layers = len(arrays["layers"]) - 1
        layer_numbers = range(1, n_layers + 1)
        has_ff = "ff_1" in arrays
        return cls(
            t=arrays["t"], beta=arrays["beta"], phase_boundaries=arrays["phase_boundaries"],
            layers=[int(n) for n in arrays["layers"]],
            neurons=[arrays[f"neurons_{l}"] for l in layer_numbers],
            states={s: [arrays[f"states_{s}_{l}"] for l in layer_numbers] for s in starts},
            energy={s: arrays[f"energy_{s}"] for s in starts},
            cost={s: arrays[f"cost_{s}"] for s in starts},
            total_energy={s: arrays[f"total_energy_{s}"] for s in starts},
            ff_states=[arrays[f"ff_{l}"] for l in layer_numbers] if has_ff else None,
            x=arrays["x"], label=int(arrays["label"]), sample=int(arrays["sample"]),
            split=str(arrays["split"]), engine=str(arrays["engine"]))


# --- choosing neurons ------------------------------------------------------------------------

def parse_neuron_spec(values):
    """Turn ``--neurons`` strings into the ``neurons`` argument of :func:`record_trace`.

    Each value is ``all`` (every neuron of every layer), a count ``N`` (the ``N`` neurons
    per layer whose state changes most when settling from zero) or ``LAYER:I,J,...`` /
    ``LAYER:all`` for one layer, with layers numbered 1 (first hidden) to L (output).
    Layers not named keep the default.

    Returns
    -------
    None, "all", int or dict
        None when ``values`` is empty.
    """
    if not values:
        return None
    per_layer, default = {}, None
    for value in values:
        text = value.strip()
        if ":" in text:
            layer_text, _, index_text = text.partition(":")
            layer = _parse_int(layer_text, value, "a layer number")
            if index_text.strip() == "all":
                per_layer[layer] = "all"
            else:
                per_layer[layer] = [_parse_int(part, value, "a neuron index")
                                    for part in index_text.split(",") if part.strip()]
                if not per_layer[layer]:
                    raise TraceError(f"--neurons {value!r} names no neuron: write LAYER:I,J, "
                                     "for example 1:0,5,7.")
        elif text == "all":
            default = "all"
        else:
            default = _parse_int(text, value, "a count")
            if default <= 0:
                raise TraceError(f"--neurons {value!r} is invalid: the count per layer must be "
                                 "positive.")
    if not per_layer:
        return default
    if default is not None:
        per_layer["default"] = default
    return per_layer


def _parse_int(text, value, what):
    try:
        return int(text.strip())
    except ValueError:
        raise TraceError(f"--neurons {value!r} is invalid: {text.strip()!r} is not {what}. "
                         "Write 'all', a count such as 4, or LAYER:I,J such as 1:0,5,7.") from None


def select_neurons(states, neurons=None, label=None):
    """Return the indices of the neurons to keep in each layer.

    Parameters
    ----------
    states : list of ndarray
        Recorded states, one ``(steps + 1, n_l)`` array per non-input layer.
    neurons : None, "all", int or dict
        None keeps :data:`DEFAULT_NEURONS_PER_LAYER` per layer, an int that many, "all"
        every neuron. A dict maps a layer number (1 to L) to a list of indices or "all".
        Its key "default" sets the rule for the other layers.
    label : int, optional
        Target class: the output neuron of this class is always among the chosen ones.

    Raises
    ------
    TraceError
        If a layer number or neuron index does not exist.
    """
    n_layers = len(states)
    rules = dict(neurons) if isinstance(neurons, dict) else {"default": neurons}
    default = rules.pop("default", None)
    for layer in rules:
        if isinstance(layer, bool) or not isinstance(layer, int) or not 1 <= layer <= n_layers:
            raise TraceError(f"--neurons names layer {layer!r}, but the network has layers 1 to "
                             f"{n_layers} (layer 0 is the input, which is clamped).")
    chosen = []
    for layer, trajectory in enumerate(states, start=1):
        rule = rules.get(layer, default)
        n = trajectory.shape[1]
        if rule == "all":
            chosen.append(np.arange(n))
        elif isinstance(rule, (list, tuple, np.ndarray)):
            chosen.append(_check_indices(rule, layer, n))
        else:
            count = DEFAULT_NEURONS_PER_LAYER if rule is None else int(rule)
            must = label if layer == n_layers else None
            chosen.append(_largest_change(trajectory, count, must))
    return chosen


def _check_indices(indices, layer, n):
    for index in indices:
        if isinstance(index, bool) or not isinstance(index, (int, np.integer)) \
                or not 0 <= index < n:
            raise TraceError(f"neuron {index!r} of layer {layer} does not exist: layer {layer} "
                             f"has {n} neurons (indices 0 to {n - 1}).")
    return np.asarray(indices, dtype=np.int64)


def _largest_change(trajectory, count, must=None):
    """Return, sorted, the ``count`` neurons whose state spans the widest range (and ``must``)."""
    span = trajectory.max(axis=0) - trajectory.min(axis=0)
    order = np.argsort(-span, kind="stable")
    picked = list(order[:count])
    if must is not None and must not in picked:
        picked[-1] = must
    return np.sort(np.asarray(picked, dtype=np.int64))


# --- recording -------------------------------------------------------------------------------

def record_trace(engine, config, x, label, neurons=None, beta=None, sample=-1, split=""):
    """Record one sample through both phases and compute its energy and cost.

    Parameters
    ----------
    engine : Engine
        Any engine with ``record_sample(x, y, start=..., beta=...)``.
    config : Config
        The configuration the engine was built with.
    x : ndarray, shape (n_0,)
    label : int
        Class of the sample; the positive phase nudges toward its one-hot target.
    neurons : None, "all", int or dict
        Which neurons to keep; see :func:`select_neurons`.
    beta : float, optional
        Nudging strength of the positive phase; the engine's default (``+training.beta``)
        when None.
    sample : int
        Index of the sample in its split, stored with the trace.
    split : str
        "test" or "train", stored with the trace.

    Returns
    -------
    Trace
    """
    layers = config.network.layers
    x = np.asarray(x, dtype=np.float64).reshape(-1)
    if x.shape[0] != layers[0]:
        raise TraceError(f"the sample has {x.shape[0]} features, but the network's input layer "
                         f"has {layers[0]}.")
    target = one_hot([int(label)], layers[-1])[0]
    # Check layer numbers and neuron indices before the simulation, which can take a while.
    select_neurons([np.zeros((1, n)) for n in config.network.layers[1:]], neurons,
                   label=int(label))
    starts = ["feedforward", "zero"] if config.network.initialized else ["zero"]
    options = {} if beta is None else {"beta": beta}
    records = {start: engine.record_sample(x, target, start=start, **options) for start in starts}

    main = records[starts[0]]
    net = engine.network
    coupling = config.dynamics.coupling
    energies, costs, totals = {}, {}, {}
    for start, record in records.items():
        if not np.array_equal(record["t"], main["t"]):
            raise RuntimeError(f"engine {engine.name!r} recorded different times for the starts "
                               f"{starts[0]!r} and {start!r}.")
        states = [np.asarray(s, dtype=np.float64) for s in record["states"]]
        energies[start] = np.asarray(energy(states, x, net.weights, net.biases), dtype=np.float64)
        costs[start] = np.asarray(cost(states[-1], target), dtype=np.float64)
        totals[start] = energies[start] + np.asarray(record["beta"]) * costs[start]
        if coupling:
            totals[start] = totals[start] + coupling_energy(states, record["ff_states"], coupling)

    # Ranked by their change when settling from zero, the most active neurons come first
    # whichever start is shown, so the selection does not favour where s^f is far off.
    kept = select_neurons(records["zero"]["states"], neurons, label=int(label))
    ff = main["ff_states"]
    steps_total = main["t"][-1]
    return Trace(
        t=np.asarray(main["t"], dtype=np.float64),
        beta=np.asarray(main["beta"], dtype=np.float64),
        phase_boundaries=np.array([0.0, main["t_boundary"], steps_total]),
        layers=list(layers), neurons=kept,
        states={start: [np.asarray(s)[:, idx] for s, idx in zip(rec["states"], kept)]
                for start, rec in records.items()},
        energy=energies, cost=costs, total_energy=totals,
        ff_states=[np.asarray(f)[idx] for f, idx in zip(ff, kept)] if ff is not None else None,
        x=x, label=int(label), sample=int(sample), split=split, engine=engine.name)


# --- models, data and engines ----------------------------------------------------------------

def resolve_model(model):
    """Load the configuration and parameters named by a preset, TOML file or run directory.

    A preset or TOML file gives the random initial parameters of ``training.seed``; a run
    directory gives its ``config.toml`` and the parameters in its ``checkpoint.npz``.

    Returns
    -------
    (Config, Network, str)
        The configuration, the parameters and a description of where they came from.

    Raises
    ------
    TraceError
        If ``model`` is a path (it contains a folder) that does not exist.
    CheckpointError
        If a run directory has no configuration or no checkpoint.
    ConfigError
        If the preset or file does not exist or is invalid.
    """
    from .checkpoint import load_checkpoint
    from .config import load_config
    from .network import Network
    from .rundir import RunDirectory

    path = Path(str(model))
    if not path.exists() and len(path.parts) > 1:
        raise TraceError(f"{model} not found: pass a run directory, a TOML file or a preset name "
                         "(see 'neurosim models').")
    if path.is_dir():
        run = RunDirectory(path)
        if not run.config_path.is_file():
            raise CheckpointError(f"run directory {path} has no config.toml: pass the --out "
                                  "folder of 'neurosim train', or a preset name.")
        if not run.checkpoint_path.is_file():
            raise CheckpointError(f"run directory {path} has no checkpoint.npz: let the run "
                                  "finish at least one epoch, or pass a preset name for random "
                                  "initial weights.")
        config = load_config(run.config_path)
        network, state = load_checkpoint(run.checkpoint_path)
        return config, network, f"{path} (epoch {state.get('epoch')})"
    config = load_config(model)
    network = Network.initialize(config.network.layers, seed=config.training.seed,
                                 dtype=np.dtype(config.training.dtype))
    return config, network, f"{config.name} (initial weights, seed {config.training.seed})"


def default_engine():
    """Return "brian2" when the Brian2 engine imports, else "dense" (with a warning).

    Traces are meant to come from a Brian2 StateMonitor; the dense engine records the same
    discretized dynamics.
    """
    try:
        from .engines import brian2_engine  # noqa: F401
    except ImportError as exc:
        logger.warning("the Brian2 engine is not available (%s): recording with the dense "
                       "engine instead", exc)
        return "dense"
    return "brian2"


def trace_sample(model, sample=0, split="test", neurons=None, engine=None, beta=None):
    """Record the trace of one sample of the configured data set.

    Parameters
    ----------
    model : str or path-like
        Preset name, TOML file or run directory; see :func:`resolve_model`.
    sample : int
        Index of the sample in ``split``.
    split : {"test", "train"}
    neurons : None, "all", int or dict
        See :func:`select_neurons`.
    engine : {"brian2", "dense"}, optional
        Defaults to :func:`default_engine`.
    beta : float, optional
        Nudging strength of the positive phase (default ``+training.beta``).

    Returns
    -------
    Trace
    """
    from .data import load_dataset
    from .engines import make_engine

    if split not in ("test", "train"):
        raise TraceError(f"split {split!r} is invalid: choose 'test' or 'train'.")
    config, network, source = resolve_model(model)
    data = load_dataset(config)
    inputs = data.x_test if split == "test" else data.x_train
    labels = data.y_test if split == "test" else data.y_train
    if isinstance(sample, bool) or not isinstance(sample, (int, np.integer)) \
            or not 0 <= sample < len(labels):
        raise TraceError(f"sample {sample!r} does not exist: the {split} split of {data.name} has "
                         f"{len(labels)} samples (indices 0 to {len(labels) - 1}).")

    engine_name = engine or default_engine()
    logger.info("recording %s sample %d of %s with the %s engine", split, sample, source,
                engine_name)
    simulator = make_engine(engine_name, network, config)
    try:
        return record_trace(simulator, config, inputs[sample], int(labels[sample]),
                            neurons=neurons, beta=beta, sample=int(sample), split=split)
    finally:
        simulator.close()
