"""Floating-point operations that training and evaluation need, counted from the layer sizes.

Only matrix products are counted, at 2 operations (a multiply and an add) per
multiply-accumulate. A product of a ``(B, m)`` by an ``(m, n)`` matrix is ``2 B m n``
operations, so per sample it is ``2 m n``. Element-wise work (leak, clip, nudging, coupling,
the feedforward activation) is left out: it is ``O(sum n_l)`` per step, a few percent of
the products for the networks benchmarked, and limited by memory rather than arithmetic.

With ``p_l = n_{l-1} n_l`` the size of weight matrix ``l`` (``l = 1..L``) and ``T = T- + T+``
steps, one training sample of the dense engine costs:

========================  ===================================================================
input products            ``2 p_1``: ``x W_1``, computed once for both phases;
                          ``+ 2 p_1`` for ``x Phi_1`` (Initialized EP)
feedforward, layers >= 2  ``sum_{l>=2} 2 p_l`` (Initialized EP)
settling                  ``T sum_{l>=2} 4 p_l``: each ``W_l`` drives layer ``l`` from below
                          and layer ``l-1`` from above at every step
EP update                 ``2 p_1`` for ``x^T (s+_1 - s-_1)``, ``+ sum_{l>=2} 4 p_l`` for the
                          two outer products of each other layer
feedforward update        ``sum_l 2 p_l`` (Initialized EP); the global loss adds
                          ``sum_{l>=2} 2 p_l`` to send errors back through ``Phi``
========================  ===================================================================

The usual formulation recomputes every layer's input at each step, the input layer's
``x W_1`` included, so its settling costs ``T (2 p_1 + sum_{l>=2} 4 p_l)``, and it computes
the ``W_1`` update as two outer products (``4 p_1``). Evaluation runs the input products,
the feedforward pass and ``T-`` steps.
"""

__all__ = ["FlopCount", "dense_flops", "usual_flops"]


class FlopCount:
    """Operations per sample, split by where they are spent.

    Attributes
    ----------
    parts : dict
        Operations per sample for each part (see the module docstring for the formulas).
    """

    def __init__(self, parts):
        self.parts = dict(parts)

    @property
    def total(self):
        """Operations per sample, all parts together."""
        return sum(self.parts.values())

    def as_dict(self):
        """Return the parts and the total as a plain dict."""
        return {**self.parts, "total": self.total}


def _sizes(layers):
    return [m * n for m, n in zip(layers[:-1], layers[1:])]


def dense_flops(layers, steps_minus, steps_plus, initialized=True, feedforward_loss="local",
                training=True):
    """Count the operations per sample of the dense engine.

    Parameters
    ----------
    layers : sequence of int
        Layer sizes from the input to the output.
    steps_minus, steps_plus : int
        Steps of the negative and the positive phase.
    initialized : bool
        Initialized EP (a feedforward population starts the negative phase) or plain EP.
    feedforward_loss : {"local", "global"}
    training : bool
        Count a training sample (both phases and the updates) or an evaluation sample
        (feedforward pass and negative phase).

    Returns
    -------
    FlopCount
    """
    first, *rest = _sizes(layers)
    upper = sum(rest)
    parts = {"input products": 2 * first * (2 if initialized else 1)}
    if initialized:
        parts["feedforward"] = 2 * upper
    steps = steps_minus + steps_plus if training else steps_minus
    parts["settling"] = steps * 4 * upper
    if training:
        parts["EP update"] = 2 * first + 4 * upper
        if initialized:
            backward = 2 * upper if feedforward_loss == "global" else 0
            parts["feedforward update"] = 2 * (first + upper) + backward
    return FlopCount(parts)


def usual_flops(layers, steps_minus, steps_plus, initialized=True, feedforward_loss="local"):
    """Count the operations per training sample of the usual formulation (see module doc)."""
    first, *rest = _sizes(layers)
    upper = sum(rest)
    parts = {}
    if initialized:
        parts["feedforward"] = 2 * (first + upper)
    parts["settling"] = (steps_minus + steps_plus) * (2 * first + 4 * upper)
    parts["EP update"] = 4 * (first + upper)
    if initialized:
        backward = 2 * upper if feedforward_loss == "global" else 0
        parts["feedforward update"] = 2 * (first + upper) + backward
    return FlopCount(parts)
