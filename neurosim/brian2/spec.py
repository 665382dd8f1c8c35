"""What fixes the generated code of a Brian2 network: shapes, step counts and switches.

Two networks with the same :class:`NetworkSpec` share their generated code, so a C++
standalone build is compiled once per spec and re-run with new data, weights, learning rates,
nudging strengths and coupling strength, which are inputs of the build.
"""

import hashlib
import json
from dataclasses import asdict, dataclass

__all__ = ["NetworkSpec", "MODES"]

#: "train": both phases and the plasticity; "evaluate": the negative phase only;
#: "record": both phases of one sample with every state recorded at every step.
MODES = ("train", "evaluate", "record")


@dataclass(frozen=True)
class NetworkSpec:
    """Compile-time settings of a Brian2 network.

    Parameters
    ----------
    layers : tuple of int
        Layer sizes from the input to the output.
    steps_minus, steps_plus : int
        Integration steps of the negative and positive phase (``steps_plus`` is 0 when
        ``mode`` is "evaluate").
    dt : float
        Integration step in units of tau.
    method : str
        Brian2 integration method: "euler", "rk2" or "rk4".
    initialized : bool
        Build the feedforward population (Initialized EP).
    start_from_feedforward : bool
        Start each negative phase from ``clip(s^f)`` rather than from zero.
    coupled : bool
        Add the coupling current ``2 lambda (s^f - s)``.
    global_loss : bool
        Train the feedforward population on the summed loss (backpropagated) instead of
        the local loss of each layer.
    batch_size : int
        Samples per minibatch; updates are averaged and applied every ``batch_size`` samples.
    n_samples : int
        Samples presented by one run.
    mode : str
        One of :data:`MODES`.
    dtype : str
        "float64" or "float32".
    """

    layers: tuple
    steps_minus: int
    steps_plus: int
    dt: float
    method: str
    initialized: bool
    start_from_feedforward: bool
    coupled: bool
    global_loss: bool
    batch_size: int
    n_samples: int
    mode: str
    dtype: str = "float64"

    def __post_init__(self):
        if self.mode not in MODES:
            raise ValueError(f"mode {self.mode!r} is invalid: choose one of {', '.join(MODES)}.")

    @classmethod
    def from_config(cls, config, mode, n_samples, start="feedforward"):
        """Return the spec of ``config`` for ``mode``, presenting ``n_samples`` per run."""
        dyn, tr = config.dynamics, config.training
        initialized = config.network.initialized
        return cls(
            layers=tuple(config.network.layers),
            steps_minus=dyn.steps_minus,
            steps_plus=0 if mode == "evaluate" else dyn.steps_plus,
            dt=float(dyn.dt),
            method=dyn.method,
            initialized=initialized,
            start_from_feedforward=initialized and start == "feedforward",
            coupled=initialized and dyn.coupling > 0,
            global_loss=initialized and tr.feedforward_loss == "global",
            batch_size=tr.batch_size if mode == "train" else 1,
            n_samples=int(n_samples),
            mode=mode,
            dtype=tr.dtype,
        )

    @property
    def steps_per_sample(self):
        """Integration steps per presented sample."""
        return self.steps_minus + self.steps_plus

    @property
    def plastic(self):
        """True when the network learns."""
        return self.mode == "train"

    @property
    def accumulate(self):
        """True when updates are collected over a minibatch before they are applied."""
        return self.plastic and self.batch_size > 1

    @property
    def n_steps(self):
        """Integration steps of one run.

        Training and evaluation run one step more than the samples need: the sample
        clock then ticks once more and applies the last sample's learning and readout.
        """
        steps = self.n_samples * self.steps_per_sample
        return steps if self.mode == "record" else steps + 1

    def to_dict(self):
        """Return the spec as a JSON-compatible dict."""
        data = asdict(self)
        data["layers"] = list(self.layers)
        return data

    @classmethod
    def from_dict(cls, data):
        """Rebuild a spec from :meth:`to_dict`."""
        data = dict(data)
        data["layers"] = tuple(data["layers"])
        return cls(**data)

    def key(self):
        """Return a short hash that names the spec's build."""
        text = json.dumps(self.to_dict(), sort_keys=True)
        return hashlib.sha256(text.encode()).hexdigest()[:16]
