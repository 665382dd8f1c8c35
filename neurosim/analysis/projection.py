"""Project a learning curve to a later epoch by fitting a decaying power law.

Long runs often stop early on a small machine: O'Connor, Gavves and Welling (2019) train
their deep network for 200 epochs, which takes hours per run on two cores. This module
models the test error of such a run as a power law that decays to a floor,

    err(e) = a + b e^(-c),      a, b >= 0,  c > 0,

where ``e`` is the epoch, ``a`` the error the curve approaches and ``c`` how fast it gets
there. :func:`project_curve` fits it by least squares on the logarithm of the error, so
that a drop from 10 % to 5 % weighs as much as one from 2 % to 1 %. It then reads the fit at
a later epoch. The projection is an extrapolation: it assumes the curve keeps its shape, and the
returned range only reflects how well the fitted epochs pin the parameters down.
"""

import math
from dataclasses import dataclass

import numpy as np

__all__ = ["Projection", "project_curve", "power_law"]

#: Minimum number of epochs with a finite error for a fit (three parameters, one to spare).
MIN_EPOCHS = 4


def power_law(epochs, floor, scale, exponent):
    """Return ``floor + scale * epochs ** -exponent``."""
    return floor + scale * np.asarray(epochs, dtype=float) ** -exponent


@dataclass
class Projection:
    """A power-law fit of one curve and its value at a later epoch.

    ``value`` is the fitted error at ``epoch``. ``low`` and ``high`` span the fits whose
    parameters lie within one standard error of the best one (from the fit's covariance).
    ``floor`` is the fitted limit ``a``, and ``rms_log`` the root mean square of the
    residuals of ``log(err)`` over the ``fitted`` epochs used.
    """

    epoch: int
    value: float
    low: float
    high: float
    floor: float
    scale: float
    exponent: float
    rms_log: float
    fitted: int

    def as_dict(self):
        """Return the fields as a plain dict (for JSON)."""
        return dict(self.__dict__)


def project_curve(errors, epoch, skip=0):
    """Fit ``err(e) = a + b e^(-c)`` to a curve and return its value at ``epoch``.

    Parameters
    ----------
    errors : sequence of float or None
        The error after epochs 1, 2, ...; None and NaN entries are left out of the fit.
        Any positive unit works (fractions or percent); the result is in the same unit.
    epoch : int
        The epoch to project to, usually later than the last one given.
    skip : int
        Leave out the first ``skip`` epochs, where a curve may not have its later shape yet.

    Returns
    -------
    Projection or None
        None when fewer than :data:`MIN_EPOCHS` finite positive errors remain or the fit
        does not converge.
    """
    from scipy.optimize import curve_fit

    points = [(index + 1, float(value)) for index, value in enumerate(errors)
              if index >= skip and value is not None and math.isfinite(value) and value > 0]
    if len(points) < MIN_EPOCHS:
        return None
    x = np.array([p[0] for p in points], dtype=float)
    y = np.array([p[1] for p in points], dtype=float)

    def log_model(e, floor, scale, exponent):
        return np.log(power_law(e, floor, scale, exponent) + 1e-12)

    start = (0.5 * y.min(), max(y[0] - 0.5 * y.min(), 1e-6), 0.5)
    try:
        params, covariance = curve_fit(log_model, x, np.log(y), p0=start,
                                       bounds=([0.0, 0.0, 1e-3], [np.inf, np.inf, 10.0]),
                                       maxfev=20000)
    except (RuntimeError, ValueError):
        return None
    floor, scale, exponent = (float(v) for v in params)
    value = float(power_law(epoch, floor, scale, exponent))
    residual = log_model(x, *params) - np.log(y)
    low, high = _spread(params, covariance, epoch, value)
    return Projection(epoch=int(epoch), value=value, low=low, high=high, floor=floor,
                      scale=scale, exponent=exponent,
                      rms_log=float(np.sqrt(np.mean(residual ** 2))), fitted=len(points))


def _spread(params, covariance, epoch, value):
    """Return the lowest and highest projection over parameters one standard error away."""
    if not np.all(np.isfinite(covariance)):
        return value, value
    errors = np.sqrt(np.clip(np.diag(covariance), 0.0, None))
    values = [value]
    for signs in np.ndindex(3, 3, 3):
        shifted = params + (np.array(signs) - 1) * errors
        shifted[0] = max(shifted[0], 0.0)
        shifted[1] = max(shifted[1], 0.0)
        shifted[2] = max(shifted[2], 1e-3)
        values.append(float(power_law(epoch, *shifted)))
    return min(values), max(values)
