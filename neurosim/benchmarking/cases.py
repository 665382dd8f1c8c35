"""Benchmark cases: which engine, network, precision, minibatch size and BLAS threads."""

from dataclasses import asdict, dataclass
from itertools import product

from ..config import apply_overrides, load_config
from ..errors import ConfigError

__all__ = ["Case", "NETWORKS", "ENGINES", "select_cases"]

#: Benchmarked networks: preset and the phase lengths in steps of dt = 0.5 tau.
NETWORKS = {
    "shallow": {"preset": "mnist-784-500-10", "steps_minus": 20, "steps_plus": 4},
    "deep": {"preset": "mnist-784-500x3-10", "steps_minus": 20, "steps_plus": 8},
}

#: Engine names of the benchmark: the dense engine and the Brian2 engine per device.
ENGINES = {
    "dense": ("dense", None),
    "brian2-standalone": ("brian2", "cpp_standalone"),
    "brian2-cython": ("brian2", "cython"),
    "brian2-numpy": ("brian2", "numpy"),
}

#: Training samples per call of ``engine.train`` (the same every call, so that the Brian2
#: engine does not rebuild for a new number of samples).
_SAMPLES_PER_CALL = {("dense", "shallow"): 2000, ("dense", "deep"): 400,
                     ("brian2", "shallow"): 1000, ("brian2", "deep"): 200}


@dataclass(frozen=True)
class Case:
    """One benchmark measurement.

    Attributes
    ----------
    engine : str
        A key of :data:`ENGINES`.
    network : str
        A key of :data:`NETWORKS`.
    dtype : str
    batch : int
        Minibatch size of training and evaluation.
    threads : int
        BLAS threads.
    """

    engine: str
    network: str
    dtype: str = "float64"
    batch: int = 20
    threads: int = 1

    @property
    def name(self):
        """Short label such as ``dense 784-500-10 float32 b20 t2``."""
        layers = "-".join(map(str, self.config().network.layers))
        return f"{self.engine} {layers} {self.dtype} b{self.batch} t{self.threads}"

    @property
    def engine_kind(self):
        """``"dense"`` or ``"brian2"``."""
        return ENGINES[self.engine][0]

    @property
    def engine_options(self):
        """Keyword options for :func:`neurosim.engines.make_engine`.

        The Brian2 engine gets its device and a run length (``chunk_samples``) equal to the
        samples of one call, so that no call is padded to a longer run.
        """
        device = ENGINES[self.engine][1]
        if device is None:
            return {}
        return {"device": device, "chunk_samples": self.samples_per_call}

    @property
    def samples_per_call(self):
        """Training samples handed to the engine in one call."""
        count = _SAMPLES_PER_CALL[(self.engine_kind, self.network)]
        return max(self.batch, count // self.batch * self.batch)

    def config(self):
        """Return the model configuration of this case (preset with the case's settings)."""
        spec = NETWORKS[self.network]
        config = load_config(spec["preset"])
        dt = config.dynamics.dt
        return apply_overrides(config, [
            f"dynamics.t_minus={spec['steps_minus'] * dt}",
            f"dynamics.t_plus={spec['steps_plus'] * dt}",
            f'training.dtype="{self.dtype}"',
            f"training.batch_size={self.batch}",
        ])

    def as_dict(self):
        """Return the fields as a plain dict."""
        return asdict(self)


def _check(kind, values, valid):
    for value in values:
        if value not in valid:
            raise ConfigError(f"{kind} {value!r} is unknown: choose from "
                              f"{', '.join(map(str, valid))}.")


def select_cases(engines, networks, dtypes, batches, threads):
    """Return the cases of every combination; Brian2 runs float64, one thread, batch 20 only.

    The Brian2 engine simulates one sample at a time in float64 and uses no BLAS, so only
    the dense engine is measured across precisions, minibatch sizes and thread counts.

    Raises
    ------
    ConfigError
        For an unknown engine, network or dtype, or a batch or thread count below 1.
    """
    _check("engine", engines, ENGINES)
    _check("network", networks, NETWORKS)
    _check("dtype", dtypes, ("float64", "float32"))
    for kind, values in (("batch size", batches), ("thread count", threads)):
        if any(v < 1 for v in values):
            raise ConfigError(f"{kind} {min(values)} is invalid: give integers >= 1.")
    cases = []
    for engine, network in product(engines, networks):
        if ENGINES[engine][0] == "dense":
            for dtype, batch, count in product(dtypes, batches, threads):
                cases.append(Case(engine, network, dtype, batch, count))
        else:
            cases.append(Case(engine, network, "float64", 20, 1))
    return cases
