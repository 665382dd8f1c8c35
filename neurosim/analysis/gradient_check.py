"""How close is the EP update to the true gradient of the loss at the fixed point?

The loss of Equilibrium Propagation is ``L(theta) = C(s*(theta), y)``, the cost of the
negative-phase fixed point ``s*``. Its true gradient follows from the implicit function
theorem at ``s*``::

    dL/dtheta = -(dC/ds) (d2E/ds2)^-1 (d2E/ds dtheta)

A neuron clipped at 0 or 1 stays clipped under a small change of the parameters, so only
the free neurons (``0 < s < 1``) enter. On them the Hessian is ``I - A_FF``, where ``A`` is
the symmetric matrix of all couplings between non-input neurons. The gradient is then
``lambda^T d(drive)/dtheta`` with ``(I - A_FF) lambda_F = dC/ds_F``.

The EP estimate of ``-dL/dtheta`` is the update of :func:`~neurosim.learning.ep_update`
with unit learning rates. With ``+beta`` alone, or ``-beta`` alone, its error shrinks like
``beta``; the symmetric estimate (the mean of the two) shrinks like ``beta^2``.

Every fixed point here is exact to round-off: forward-Euler settling finds which neurons
are clipped, then one linear solve over the free neurons gives their states.
"""

import numpy as np

from ..dynamics import rho, rho_prime
from ..learning import ep_update

__all__ = ["FlatNetwork", "exact_fixed_point", "implicit_gradient", "ep_gradient_estimate",
           "finite_difference_gradient", "compare_gradients", "flatten_parameters"]


class FlatNetwork:
    """The equilibrating network with all non-input neurons in one vector.

    ``A`` contains ``W_l`` between layers ``l-1`` and ``l`` (both directions), so the drive of
    every neuron is ``rho(s) A + b + x W_1`` (the last term on the first layer only).
    """

    def __init__(self, network):
        self.network = network
        sizes = network.layers[1:]
        edges = np.concatenate([[0], np.cumsum(sizes)])
        self.slices = [slice(int(a), int(b)) for a, b in zip(edges[:-1], edges[1:])]
        n = int(edges[-1])
        self.size = n
        self.A = np.zeros((n, n))
        for k in range(1, len(sizes)):
            below, above = self.slices[k - 1], self.slices[k]
            self.A[below, above] = network.weights[k]
            self.A[above, below] = network.weights[k].T
        self.bias = np.concatenate(network.biases).astype(np.float64)
        self.output = self.slices[-1]

    def external(self, x, beta=0.0, target=None):
        """Return the constant currents: bias, input drive ``x W_1`` and nudging ``beta y``."""
        x = np.atleast_2d(np.asarray(x, np.float64))
        current = np.tile(self.bias, (x.shape[0], 1))
        current[:, self.slices[0]] += x @ self.network.weights[0]
        if beta:
            current[:, self.output] += beta * np.atleast_2d(target)
        return current

    def gradient(self, s, external, beta=0.0):
        """Return ``dF/ds`` of ``F = E + beta C`` for flat states ``s`` (rows are samples)."""
        grad = s - rho_prime(s) * (rho(s) @ self.A + external)
        if beta:
            grad[:, self.output] += beta * s[:, self.output]
        return grad

    def split(self, s):
        """Return the flat states ``s`` (batch, N) as a list of per-layer arrays."""
        return [s[:, sl] for sl in self.slices]

    def join(self, states):
        """Return per-layer states as one flat (batch, N) array."""
        return np.concatenate([np.atleast_2d(s) for s in states], axis=1)


def _polish(flat, s, external, beta):
    """Return the states whose free neurons solve the fixed-point equation, the clipped ones kept."""
    out = s.copy()
    for row in range(s.shape[0]):
        free = (s[row] > 0.0) & (s[row] < 1.0)
        if not free.any():
            continue
        clipped = ~free
        hessian = np.eye(int(free.sum())) - flat.A[np.ix_(free, free)]
        if beta:
            on_output = np.zeros(flat.size, bool)
            on_output[flat.output] = True
            hessian[np.diag_indices_from(hessian)] += beta * on_output[free]
        rhs = external[row, free] + flat.A[np.ix_(free, clipped)] @ s[row, clipped]
        out[row, free] = np.linalg.solve(hessian, rhs)
    return out


def exact_fixed_point(flat, x, start, beta=0.0, target=None, dt=0.5, steps=200, rounds=50,
                      tol=1e-12):
    """Settle to a fixed point of ``F = E + beta C`` exact to round-off.

    Alternates ``steps`` forward-Euler steps (states clipped to [0, 1]) with a linear solve
    over the free neurons, until ``max |ds/dt| < tol`` or ``rounds`` rounds have run.

    Parameters
    ----------
    flat : FlatNetwork
    x : ndarray, shape (batch, n_0)
    start : ndarray, shape (batch, N)
        Initial flat states.
    beta : float
    target : ndarray, shape (batch, n_L), optional

    Returns
    -------
    states : ndarray, shape (batch, N)
    residual : ndarray, shape (batch,)
        ``max |ds/dt|`` of each sample at the returned states (0 at an exact fixed point).
    """
    external = flat.external(x, beta, target)
    s = np.clip(np.array(start, np.float64), 0.0, 1.0)
    residual = _residual(flat, s, external, beta, dt)
    for _ in range(rounds):
        if residual.max() < tol:
            break
        for _ in range(steps):
            s = np.clip(s - dt * flat.gradient(s, external, beta), 0.0, 1.0)
        polished = _polish(flat, s, external, beta)
        polished_residual = _residual(flat, polished, external, beta, dt)
        better = polished_residual < _residual(flat, s, external, beta, dt)
        s[better] = polished[better]
        residual = _residual(flat, s, external, beta, dt)
    return s, residual


def _residual(flat, s, external, beta, dt):
    moved = np.clip(s - dt * flat.gradient(s, external, beta), 0.0, 1.0) - s
    return np.max(np.abs(moved), axis=1) / dt


def implicit_gradient(flat, x, target, s_star):
    """Return ``dL/dW_l`` and ``dL/db_l`` of ``L = mean C(s*, y)`` by the implicit function theorem.

    Parameters
    ----------
    flat : FlatNetwork
    x : ndarray, shape (batch, n_0)
    target : ndarray, shape (batch, n_L)
    s_star : ndarray, shape (batch, N)
        Exact fixed points of the negative phase (beta = 0).

    Returns
    -------
    (list of ndarray, list of ndarray)
        Gradients shaped like the network's weights and biases, averaged over the batch.
    """
    batch = x.shape[0]
    lam = np.zeros_like(s_star)
    for row in range(batch):
        free = (s_star[row] > 0.0) & (s_star[row] < 1.0)
        dcost = np.zeros(flat.size)
        dcost[flat.output] = s_star[row, flat.output] - target[row]
        if not free.any():
            continue
        hessian = np.eye(int(free.sum())) - flat.A[np.ix_(free, free)]
        lam[row, free] = np.linalg.solve(hessian, dcost[free])

    # dL/dtheta = lambda^T d(drive)/dtheta; W_l drives layer l from below and layer l-1 from above.
    rates = flat.split(rho(s_star))
    lams = flat.split(lam)
    below = [np.asarray(x, np.float64)] + rates[:-1]
    grad_w, grad_b = [], []
    for k in range(len(rates)):
        g = below[k].T @ lams[k]
        if k > 0:
            g += lams[k - 1].T @ rates[k]
        grad_w.append(g / batch)
        grad_b.append(lams[k].sum(axis=0) / batch)
    return grad_w, grad_b


def ep_gradient_estimate(flat, x, target, s_minus, beta, **settle):
    """Return the EP estimate of ``(dL/dW, dL/db)`` with nudging ``beta``.

    It is minus the update of :func:`~neurosim.learning.ep_update` with unit learning
    rates, computed from the exact fixed points of both phases.
    """
    s_plus, _ = exact_fixed_point(flat, x, s_minus, beta=beta, target=target, **settle)
    rates = [1.0] * len(flat.slices)
    dw, db = ep_update(np.asarray(x, np.float64), flat.split(s_minus), flat.split(s_plus), beta,
                       rates)
    return [-w for w in dw], [-b for b in db]


def finite_difference_gradient(network, x, target, s_star, coordinates, step=1e-6, **settle):
    """Return central differences of ``L = mean C(s*, y)`` for chosen weight or bias entries.

    ``coordinates`` is a list of ``(group, layer, index)`` with group "weights" or "biases"
    and ``index`` a tuple into that array. Each perturbed network settles from ``s_star``.
    """
    from ..dynamics import cost

    values = []
    for group, layer, index in coordinates:
        losses = []
        for sign in (1.0, -1.0):
            net = network.astype(np.float64)
            getattr(net, group)[layer][index] += sign * step
            flat = FlatNetwork(net)
            s, _ = exact_fixed_point(flat, x, s_star, **settle)
            losses.append(float(np.mean(cost(s[:, flat.output], target))))
        values.append((losses[0] - losses[1]) / (2.0 * step))
    return np.array(values)


def flatten_parameters(weights, biases):
    """Return all weight and bias arrays as one flat vector."""
    return np.concatenate([np.ravel(a) for a in list(weights) + list(biases)])


def compare_gradients(estimate, reference):
    """Return the cosine similarity and the relative error ``|e - r| / |r|`` of two flat vectors."""
    norm_ref = np.linalg.norm(reference)
    norm_est = np.linalg.norm(estimate)
    cosine = float(estimate @ reference / (norm_est * norm_ref)) if norm_est * norm_ref > 0 \
        else float("nan")
    relative = float(np.linalg.norm(estimate - reference) / norm_ref) if norm_ref > 0 \
        else float("nan")
    return {"cosine": cosine, "relative_error": relative}
