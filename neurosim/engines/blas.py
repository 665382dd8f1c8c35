"""In-place matrix products for the dense engine, through BLAS ``gemm``.

NumPy's ``a @ b`` always writes a new array (or ``out``); ``c += a @ b`` therefore streams
``c`` and a temporary of the same size through memory. For a weight update of 784 x 1000
values per minibatch that extra traffic costs as much as the product itself. BLAS ``gemm``
computes ``c = alpha op(a) op(b) + beta c`` in one pass, in place.

The arrays here are C-ordered (samples in rows); BLAS is column-major. ``c = a b`` in C order
is ``c^T = b^T a^T`` in column-major order, and the transpose of a C-ordered array is an
F-ordered view, so no array is copied.
"""

import numpy as np
from scipy.linalg import blas as _scipy_blas

try:  # the clip ufunc without np.clip's Python-level checks (a few microseconds per call)
    from numpy._core.umath import clip as clip_ufunc
except ImportError:  # NumPy < 2
    from numpy.core.umath import clip as clip_ufunc

__all__ = ["gemm_function", "gemm_into", "clip_ufunc"]

_GEMM = {np.dtype(np.float64): _scipy_blas.dgemm, np.dtype(np.float32): _scipy_blas.sgemm}


def gemm_function(dtype):
    """Return the BLAS ``gemm`` routine (SciPy's wrapper) for ``dtype``."""
    try:
        return _GEMM[np.dtype(dtype)]
    except KeyError:
        raise TypeError(f"no BLAS gemm for dtype {np.dtype(dtype)}: use float64 or float32.") \
            from None


def _operand(m):
    """Return ``(array, trans)`` with ``array`` F-contiguous and ``op(array) == m^T``."""
    if m.flags.c_contiguous:
        return m.T, 0
    if m.flags.f_contiguous:
        return m, 1
    raise ValueError(f"a matrix of shape {m.shape} with strides {m.strides} is not contiguous; "
                     "pass np.ascontiguousarray(m).")


def gemm_into(c, a, b, alpha=1.0, beta=1.0):
    """Compute ``c = alpha * (a @ b) + beta * c`` in place and return ``c``.

    Parameters
    ----------
    c : ndarray, C-contiguous, float64 or float32
    a, b : ndarray
        C- or F-contiguous, of the same dtype as ``c``.
    alpha, beta : float

    Raises
    ------
    ValueError
        If an operand is not contiguous, the dtypes differ, or the shapes do not match.
    """
    if not c.flags.c_contiguous:
        raise ValueError(f"the output of shape {c.shape} must be C-contiguous.")
    if a.dtype != c.dtype or b.dtype != c.dtype:
        raise ValueError(f"dtypes differ: {a.dtype} @ {b.dtype} into {c.dtype}.")
    if a.shape[1] != b.shape[0] or (a.shape[0], b.shape[1]) != c.shape:
        raise ValueError(f"shapes do not match: {a.shape} @ {b.shape} into {c.shape}.")
    # c^T = b^T a^T: the first BLAS operand stands for b^T, the second for a^T.
    first, trans_first = _operand(b)
    second, trans_second = _operand(a)
    result = gemm_function(c.dtype)(alpha, first, second, beta, c.T, trans_first, trans_second, 1)
    if not np.shares_memory(result, c):  # pragma: no cover - a SciPy wrapper that copies
        c[...] = result.T
    return c
