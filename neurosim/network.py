"""Parameters of a layered network: the equilibrating network and its feedforward population.

``weights[l]`` and ``biases[l]`` (``W_{l+1}``, ``b_{l+1}`` in the paper's 1-based numbering)
belong to the equilibrating network; ``ff_weights[l]`` and ``ff_biases[l]`` (``Phi_{l+1}``,
``c_{l+1}``) to the feedforward population that predicts its fixed point. Every weight
matrix has shape ``(n_in, n_out)``, so a layer's drive from below is ``s_below @ W``.
"""

import numpy as np

from .errors import CheckpointError

__all__ = ["Network", "glorot_uniform"]


def glorot_uniform(rng, n_in, n_out, dtype=np.float64):
    """Draw an ``(n_in, n_out)`` matrix from U(-a, a), ``a = sqrt(6 / (n_in + n_out))``."""
    limit = np.sqrt(6.0 / (n_in + n_out))
    return rng.uniform(-limit, limit, size=(n_in, n_out)).astype(dtype)


class Network:
    """Weights and biases of both networks.

    Parameters
    ----------
    layers : sequence of int
        Sizes from the input to the output layer, for example ``[784, 500, 10]``.
    weights, biases, ff_weights, ff_biases : list of ndarray
        One array per weight matrix, input side first.
    """

    def __init__(self, layers, weights, biases, ff_weights, ff_biases):
        self.layers = [int(n) for n in layers]
        self.weights = list(weights)
        self.biases = list(biases)
        self.ff_weights = list(ff_weights)
        self.ff_biases = list(ff_biases)
        self._check_shapes()

    @classmethod
    def initialize(cls, layers, seed=0, dtype=np.float64):
        """Create a network with Glorot-uniform weights and zero biases.

        The equilibrating weights are drawn first, then the feedforward weights, from one
        generator seeded with ``seed``, so a seed fixes both networks.
        """
        rng = np.random.default_rng(seed)
        pairs = list(zip(layers[:-1], layers[1:]))
        weights = [glorot_uniform(rng, n_in, n_out, dtype) for n_in, n_out in pairs]
        ff_weights = [glorot_uniform(rng, n_in, n_out, dtype) for n_in, n_out in pairs]
        biases = [np.zeros(n_out, dtype) for _, n_out in pairs]
        ff_biases = [np.zeros(n_out, dtype) for _, n_out in pairs]
        return cls(layers, weights, biases, ff_weights, ff_biases)

    @property
    def n_weight_matrices(self):
        """Number of weight matrices, one per non-input layer."""
        return len(self.layers) - 1

    @property
    def dtype(self):
        """Floating-point type of the parameters."""
        return self.weights[0].dtype

    def parameters(self):
        """Return ``(name, array)`` pairs of every parameter, in a fixed order."""
        named = []
        for group in ("weights", "biases", "ff_weights", "ff_biases"):
            named.extend((f"{group}_{i}", a) for i, a in enumerate(getattr(self, group)))
        return named

    def copy(self):
        """Return a deep copy."""
        return Network(self.layers, [w.copy() for w in self.weights],
                       [b.copy() for b in self.biases], [w.copy() for w in self.ff_weights],
                       [b.copy() for b in self.ff_biases])

    def astype(self, dtype):
        """Return a copy with every parameter converted to ``dtype``."""
        convert = lambda arrays: [np.array(a, dtype=dtype) for a in arrays]  # noqa: E731
        return Network(self.layers, convert(self.weights), convert(self.biases),
                       convert(self.ff_weights), convert(self.ff_biases))

    def first_non_finite(self):
        """Return the name of the first parameter holding NaN or infinity, or None."""
        for name, array in self.parameters():
            if not np.isfinite(array).all():
                return name
        return None

    def to_arrays(self):
        """Return a dict of arrays for ``np.savez``, layer sizes included."""
        arrays = {"layers": np.asarray(self.layers, dtype=np.int64)}
        arrays.update(self.parameters())
        return arrays

    @classmethod
    def from_arrays(cls, arrays, source="the checkpoint"):
        """Rebuild a network from the dict written by :meth:`to_arrays`."""
        if "layers" not in arrays:
            raise CheckpointError(f"{source} contains no network: the array 'layers' is missing.")
        layers = [int(n) for n in arrays["layers"]]
        groups = {}
        try:
            for group in ("weights", "biases", "ff_weights", "ff_biases"):
                groups[group] = [np.array(arrays[f"{group}_{i}"]) for i in range(len(layers) - 1)]
        except KeyError as exc:
            raise CheckpointError(f"{source} is incomplete: the array {exc} is missing.") from None
        return cls(layers, **groups)

    def _check_shapes(self):
        pairs = list(zip(self.layers[:-1], self.layers[1:]))
        for group, expected in (("weights", pairs), ("ff_weights", pairs),
                                ("biases", [(n,) for _, n in pairs]),
                                ("ff_biases", [(n,) for _, n in pairs])):
            arrays = getattr(self, group)
            if len(arrays) != len(expected):
                raise ValueError(f"{group} has {len(arrays)} arrays, but layers {self.layers} "
                                 f"need {len(expected)}.")
            for i, (array, shape) in enumerate(zip(arrays, expected)):
                if tuple(array.shape) != tuple(shape):
                    raise ValueError(f"{group}[{i}] has shape {array.shape}, but layers "
                                     f"{self.layers} need {shape}.")
