"""Order of synapses in Brian2 and the conversion between weight matrices and synapses.

Brian2 stores a synaptic variable as a flat array, one entry per synapse, in the order the
synapses were created. Weight matrices of :class:`~neurosim.network.Network` have shape
``(n_pre, n_post)``.
"""

import numpy as np

__all__ = ["synapse_order", "parameter_order", "parameter_shape", "to_synapses",
           "from_synapses"]


def synapse_order(n_pre, n_post, kind):
    """Return the ``(pre, post)`` neuron indices of every synapse, in creation order.

    Parameters
    ----------
    n_pre, n_post : int
    kind : {"rows", "diagonal"}
        "rows" lists the synapses of presynaptic neuron 0 first, then neuron 1 and so on
        (the order of Brian2's ``connect()``), so an input event touches one contiguous
        block. "diagonal" makes consecutive synapses differ in both their pre- and their
        postsynaptic neuron: a summed variable then never adds to the same neuron twice in
        a row, which would make each addition wait for the previous one to be stored.
    """
    k = np.arange(n_pre * n_post)
    if kind == "rows":
        return k // n_post, k % n_post
    if kind != "diagonal":
        raise ValueError(f"synapse order {kind!r} is invalid: choose 'rows' or 'diagonal'.")
    if n_pre >= n_post:
        block, post = np.divmod(k, n_post)
        return (block + post) % n_pre, post
    block, pre = np.divmod(k, n_pre)
    return pre, (block + pre) % n_post


def parameter_order(layers, name):
    """Return the synapse order of parameter ``name``, or None for a bias.

    The first weight matrices (``weights_0``, ``ff_weights_0``) carry input events and
    are in "rows" order; the others carry summed variables and are "diagonal".
    """
    group, index = name.rsplit("_", 1)
    if group not in ("weights", "ff_weights"):
        return None
    index = int(index)
    kind = "rows" if index == 0 else "diagonal"
    return synapse_order(layers[index], layers[index + 1], kind)


def to_synapses(layers, name, array):
    """Return parameter ``name`` as the flat array of its Brian2 variable."""
    order = parameter_order(layers, name)
    array = np.asarray(array)
    return array.ravel() if order is None else array[order]


def from_synapses(layers, name, flat, shape):
    """Return the flat Brian2 variable of parameter ``name`` in the network's ``shape``."""
    order = parameter_order(layers, name)
    if order is None:
        return np.reshape(flat, shape)
    array = np.empty(shape, dtype=np.asarray(flat).dtype)
    array[order] = flat
    return array


def parameter_shape(spec, name):
    """Return the shape of parameter ``name`` in :class:`~neurosim.network.Network`."""
    group, index = name.rsplit("_", 1)
    index = int(index)
    if group in ("weights", "ff_weights"):
        return spec.layers[index], spec.layers[index + 1]
    return (spec.layers[index + 1],)
