"""In-place products of the dense engine against NumPy's ``@``."""

import numpy as np
import pytest

from neurosim.engines.blas import clip_ufunc, gemm_into

SHAPES = {
    "matrix": (5, 4, 3),
    "outer": (5, 1, 3),  # inner dimension 1: ger
    "one-row": (1, 4, 3),  # one row out: gemv
    "one-column": (5, 4, 1),  # one column out: gemv
    "scalar": (1, 1, 1),
}


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("order_a", ["C", "F"])
@pytest.mark.parametrize("order_b", ["C", "F"])
@pytest.mark.parametrize("shape", list(SHAPES))
def test_gemm_into_matches_numpy(dtype, order_a, order_b, shape):
    m, k, n = SHAPES[shape]
    rng = np.random.default_rng(0)
    a = np.asarray(rng.standard_normal((m, k)), dtype, order=order_a)
    b = np.asarray(rng.standard_normal((k, n)), dtype, order=order_b)
    c = rng.standard_normal((m, n)).astype(dtype)
    expected = 0.5 * (a.astype(np.float64) @ b) - 2.0 * c

    result = gemm_into(c, a, b, alpha=0.5, beta=-2.0)

    assert result is c
    tolerance = 1e-12 if dtype == np.float64 else 1e-5
    np.testing.assert_allclose(c, expected, rtol=tolerance, atol=tolerance)


@pytest.mark.parametrize("shape", list(SHAPES))
def test_gemm_into_beta_zero_ignores_nan(shape):
    m, k, n = SHAPES[shape]
    a = np.ones((m, k))
    b = np.ones((k, n))
    c = np.full((m, n), np.nan)
    gemm_into(c, a, b, beta=0.0)
    np.testing.assert_array_equal(c, np.full((m, n), float(k)))


def test_gemm_into_updates_only_a_row_block():
    # The dense engine adds into row blocks of one array, such as [W_1 | Phi_1]^T.
    packed = np.zeros((6, 4))
    block = packed[:3]
    gemm_into(block, np.ones((3, 2)), np.ones((2, 4)))
    np.testing.assert_array_equal(packed[:3], 2.0)
    np.testing.assert_array_equal(packed[3:], 0.0)


def test_gemm_into_rejects_mixed_dtypes():
    with pytest.raises(ValueError, match="dtypes differ"):
        gemm_into(np.zeros((2, 2)), np.zeros((2, 2), np.float32), np.zeros((2, 2)))


def test_gemm_into_rejects_non_contiguous_operand():
    with pytest.raises(ValueError, match="not contiguous"):
        gemm_into(np.zeros((2, 2)), np.zeros((2, 4))[:, ::2], np.zeros((2, 2)))


def test_gemm_into_rejects_shape_mismatch():
    with pytest.raises(ValueError, match="shapes do not match"):
        gemm_into(np.zeros((2, 2)), np.zeros((2, 3)), np.zeros((2, 2)))


def test_clip_ufunc_keeps_nan():
    values = np.array([-0.5, 0.25, 1.5, np.nan])
    clip_ufunc(values, 0.0, 1.0, out=values)
    np.testing.assert_array_equal(values[:3], [0.0, 0.25, 1.0])
    assert np.isnan(values[3])
