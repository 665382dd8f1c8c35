"""How many negative-phase steps a network needs to settle, from ``s^f`` and from zero.

Initialized EP starts the negative phase from the feedforward prediction ``clip(s^f)``
instead of zero, so that a trained network starts close to its fixed point ``s-`` and
needs fewer settling steps. :func:`settling_steps` measures this: it settles a set of
samples for many steps to find the reference fixed point, then counts, for each start,
the steps after which the states stay within a tolerance of it.
"""

from dataclasses import dataclass, field

import numpy as np

from .dynamics import total_energy
from .engines.dense import DenseEngine

__all__ = ["SettlingSteps", "settling_steps"]


@dataclass
class SettlingSteps:
    """Steps to settle per sample and start, and the mean distance to the fixed point.

    ``steps[start]`` has one entry per sample: the number of forward-Euler steps after
    which ``max |s - s*|`` over all neurons stays at or below ``tol`` until ``max_steps``,
    or -1 if it is above ``tol`` at ``max_steps``. ``distance[start]`` has shape
    ``(max_steps + 1,)``: the mean over samples of ``max |s_k - s*|`` after ``k`` steps.
    ``s*`` is the state after ``reference_steps`` steps from zero. ``reference_change`` is
    each sample's ``max |ds|`` over that run's last step: a large value means the reference
    itself has not settled. ``fixed_point_gap`` is each sample's ``max |s - s*|``
    after ``reference_steps`` steps from ``s^f``: above ``tol`` the two starts reach
    different fixed points. ``last_step_energy_change[start]`` is each sample's change of
    the total energy ``F`` over the last step of the configured negative phase
    (``dynamics.steps_minus``), NaN if that phase is longer than ``max_steps``.
    """

    tol: float
    dt: float
    max_steps: int
    reference_steps: int
    steps: dict
    distance: dict
    reference_change: np.ndarray
    fixed_point_gap: np.ndarray
    last_step_energy_change: dict = field(default_factory=dict)

    def fraction_settled(self, steps):
        """Return, per start, the fraction of samples within ``tol`` after ``steps`` steps."""
        return {start: float(np.mean((counts >= 0) & (counts <= steps)))
                for start, counts in self.steps.items()}

    def summary(self):
        """Return a dict per start: samples, how many settled, mean and median steps."""
        result = {}
        for start, steps in self.steps.items():
            settled = steps[steps >= 0]
            result[start] = {
                "samples": int(steps.size),
                "settled": int(settled.size),
                "mean_steps": float(settled.mean()) if settled.size else float("nan"),
                "median_steps": float(np.median(settled)) if settled.size else float("nan"),
            }
        return result


def settling_steps(network, config, x, tol=1e-3, max_steps=200, reference_steps=1000,
                   chunk_size=50):
    """Measure the steps the negative phase needs to get within ``tol`` of its fixed point.

    Parameters
    ----------
    network : Network
    config : Config
        Its ``dynamics`` (step, coupling lambda) and ``training.dtype`` are used.
    x : ndarray, shape (n_samples, n_0)
    tol : float
        Tolerance on ``max |s - s*|`` over all neurons of all layers.
    max_steps : int
        Steps recorded from each start.
    reference_steps : int
        Steps from zero that define the fixed point ``s*``; must be >= ``max_steps``.
    chunk_size : int
        Samples settled at once; memory grows as ``chunk_size * max_steps * neurons``.

    Returns
    -------
    SettlingSteps
        Only the start "zero" for plain EP (``network.init = "zero"``).
    """
    if reference_steps < max_steps:
        raise ValueError(f"reference_steps = {reference_steps} is below max_steps = "
                         f"{max_steps}: the reference must settle at least as long.")
    engine = DenseEngine(network, config)
    x = np.asarray(x)
    starts = ["feedforward", "zero"] if config.network.initialized else ["zero"]
    steps = {start: [] for start in starts}
    energy_change = {start: [] for start in starts}
    distance_sum = {start: np.zeros(max_steps + 1) for start in starts}
    reference_change, gaps = [], []
    for lo in range(0, len(x), chunk_size):
        xb = x[lo:lo + chunk_size]
        chunk = _settle_chunk(engine, xb, starts, tol, max_steps, reference_steps)
        for start in starts:
            steps[start].append(chunk["steps"][start])
            energy_change[start].append(chunk["energy_change"][start])
            distance_sum[start] += chunk["distance"][start].sum(axis=1)
        reference_change.append(chunk["reference_change"])
        gaps.append(chunk["gap"])
    n = max(len(x), 1)
    return SettlingSteps(
        tol=tol, dt=config.dynamics.dt, max_steps=max_steps, reference_steps=reference_steps,
        steps={start: np.concatenate(parts) for start, parts in steps.items()},
        distance={start: total / n for start, total in distance_sum.items()},
        reference_change=np.concatenate(reference_change),
        fixed_point_gap=np.concatenate(gaps) if gaps[0] is not None else np.zeros(0),
        last_step_energy_change={start: np.concatenate(parts)
                                 for start, parts in energy_change.items()})


def _settle_chunk(engine, xb, starts, tol, max_steps, reference_steps):
    ff_states = engine.feedforward(xb)[1] if engine.config.network.initialized else None
    coupled = ff_states if engine.config.dynamics.coupling else None
    zeros = engine.initial_states(xb)

    reference, _ = engine.settle(xb, zeros, reference_steps - 1, ff_states=coupled)
    final, _ = engine.settle(xb, reference, 1, ff_states=coupled)
    reference_change = _max_abs(final, reference)
    reference = final

    result = {"steps": {}, "distance": {}, "energy_change": {},
              "reference_change": reference_change, "gap": None}
    for start in starts:
        init = engine.initial_states(xb, ff_states) if start == "feedforward" else zeros
        _, _, trajectory = engine.settle(xb, init, max_steps, ff_states=coupled, record=True)
        distance = np.max([np.abs(t - r).max(axis=2) for t, r in zip(trajectory.states, reference)],
                          axis=0)
        result["distance"][start] = distance
        result["steps"][start] = _steps_within(distance, tol)
        result["energy_change"][start] = _last_step_energy_change(engine, xb, trajectory,
                                                                  ff_states)
    if "feedforward" in starts:
        init = engine.initial_states(xb, ff_states)
        limit, _ = engine.settle(xb, init, reference_steps, ff_states=coupled)
        result["gap"] = _max_abs(limit, reference)
    return result


def _last_step_energy_change(engine, xb, trajectory, ff_states):
    """Return ``F(s_T) - F(s_{T-1})`` per sample for the negative phase of ``T`` steps."""
    steps_minus = engine.config.dynamics.steps_minus
    if steps_minus > trajectory.steps:
        return np.full(xb.shape[0], np.nan)
    net = engine.network
    coupling = engine.config.dynamics.coupling

    def energy_at(step):
        states = [layer[step] for layer in trajectory.states]
        return total_energy(states, xb, net.weights, net.biases, coupling=coupling,
                            feedforward_states=ff_states)

    return energy_at(steps_minus) - energy_at(steps_minus - 1)


def _max_abs(a_states, b_states):
    """Return ``max |a - b|`` over all neurons of all layers, per sample."""
    return np.max([np.abs(a - b).max(axis=1) for a, b in zip(a_states, b_states)], axis=0)


def _steps_within(distance, tol):
    """Return the first step from which ``distance`` (steps, samples) stays <= tol, else -1."""
    above = distance > tol
    n_steps = distance.shape[0]
    # The step after the last one above tol is the first from which the distance stays within.
    last_above = n_steps - 1 - np.argmax(above[::-1], axis=0)
    steps = np.where(above.any(axis=0), last_above + 1, 0)
    return np.where(above[-1], -1, steps)
