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

__all__ = ["blas_function", "gemm_into", "clip_ufunc"]

_PREFIX = {np.dtype(np.float64): "d", np.dtype(np.float32): "s"}


def blas_function(name, dtype):
    """Return SciPy's wrapper of the BLAS routine ``name`` ("gemm", "gemv", "ger") for ``dtype``."""
    try:
        prefix = _PREFIX[np.dtype(dtype)]
    except KeyError:
        raise TypeError(f"no BLAS {name} for dtype {np.dtype(dtype)}: use float64 or float32.") \
            from None
    return getattr(_scipy_blas, prefix + name)


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

    Products with a single row, column or inner dimension go to ``gemv`` or ``ger``:
    OpenBLAS's ``gemm`` is several times slower than ``gemv`` on a matrix times a vector.

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
    if a.shape[1] == 1:
        return _outer_into(c, a[:, 0], b[0], alpha, beta)
    if c.shape[1] == 1:
        _matvec_into(c[:, 0], a, b[:, 0], alpha, beta)
        return c
    if c.shape[0] == 1:
        _matvec_into(c[0], b.T, a[0], alpha, beta)
        return c
    # c^T = b^T a^T: the first BLAS operand stands for b^T, the second for a^T.
    first, trans_first = _operand(b)
    second, trans_second = _operand(a)
    result = blas_function("gemm", c.dtype)(alpha, first, second, beta, c.T, trans_first,
                                            trans_second, 1)
    _check_in_place(result, c)
    return c


def _matvec_into(y, m, v, alpha, beta):
    """``y = alpha m v + beta y`` for a contiguous vector ``y``."""
    matrix, trans = _operand(m)  # op(matrix) = m^T, so transpose once more
    v = np.ascontiguousarray(v)
    result = blas_function("gemv", y.dtype)(alpha, matrix, v, beta, y, 0, 1, 0, 1, 1 - trans, 1)
    _check_in_place(result, y)


def _outer_into(c, u, v, alpha, beta):
    """``c = alpha u v^T + beta c``."""
    if beta == 0.0:
        c.fill(0.0)  # as in gemm, beta = 0 ignores what c held, NaN included
    elif beta != 1.0:
        c *= beta
    # c^T = v u^T, and c^T is an F-ordered view.
    result = blas_function("ger", c.dtype)(alpha, np.ascontiguousarray(v), np.ascontiguousarray(u),
                                           1, 1, c.T, 0, 0, 1)
    _check_in_place(result, c)
    return c


def _check_in_place(result, target):
    if not np.may_share_memory(result, target):  # a wrapper that copied: write the result back
        target[...] = result.T if result.ndim == 2 else result
