"""certqnn.blas: BLAS and LAPACK on corners of buffers, through SciPy's Cython tables."""
import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.linalg import cholesky, solve_triangular

from certqnn import blas


@settings(max_examples=30, deadline=None)
@given(seed=st.integers(0, 2**16), m=st.sampled_from([0, 1, 5, 255, 256, 300, 700]), room=st.integers(0, 40))
def test_symmetric_matvec_is_the_product_on_a_corner_of_a_buffer_reading_one_triangle(seed, m, room):
    """The master's Gram matrix is the top-left corner of a larger buffer: the product equals
    G @ x, and the triangle above the diagonal is never read (NaN there changes nothing)."""
    rng = np.random.default_rng(seed)
    B = rng.standard_normal((m, m))
    G = B + B.T
    x = rng.standard_normal(m) * (rng.random(m) < 0.5)
    buffer = np.full((m + room, m + room), np.nan)
    buffer[:m, :m] = np.tril(G) + np.triu(np.full((m, m), np.nan), 1)
    corner = buffer[:m, :m]
    got = blas.symmetric_matvec(corner, x) if m >= blas.MIN_SIZE else blas.symmetric_matvec(G, x)
    np.testing.assert_allclose(got, G @ x, rtol=1e-12, atol=1e-12 * (1 + np.abs(G).sum()))


def test_the_kernel_is_found_and_anything_else_falls_back_to_numpy():
    rng = np.random.default_rng(0)
    m = 2 * blas.MIN_SIZE
    B = rng.standard_normal((m, m))
    G = B + B.T
    x = rng.standard_normal(m)
    for name in ("dsymv", "dtrsv", "dtrsm", "dtrmv", "dpotrf"):
        assert blas._kernel(name) is not None           # SciPy's tables have them: the fast paths are tested
    for other in (G.T.copy(order="F")[:, :], G[::1, ::1].astype(np.float32), np.asfortranarray(G)):
        np.testing.assert_allclose(blas.symmetric_matvec(other, x), other @ x, rtol=1e-5)



@settings(max_examples=30, deadline=None)
@given(seed=st.integers(0, 2**16), k=st.sampled_from([0, 1, 2, 7, 64, 301]), room=st.integers(0, 30),
       columns=st.integers(0, 5))
def test_triangular_kernels_on_a_corner_match_scipy_and_read_only_their_triangle(seed, k, room, columns):
    """The rounding's factor lives in the corner of a buffer with room to grow: the Cholesky factor
    made in place, the solves with U and U^T (one or several right-hand sides) and the products
    with them equal scipy's on a contiguous copy; what lies outside the corner (NaN here) and, for
    the solves and products, below the diagonal is never read."""
    rng = np.random.default_rng(seed)
    B = rng.standard_normal((k + 3, k))
    A = B.T @ B + np.eye(k)
    buffer = np.full((k + room, k + room), np.nan)
    buffer[:k, :k] = A
    U = buffer[:k, :k]
    assert blas.cholesky_upper(U)
    reference = cholesky(A) if k else np.zeros((0, 0))
    np.testing.assert_allclose(U, reference, rtol=1e-10, atol=1e-10 * max(1.0, np.abs(A).max(initial=0.0)))
    assert np.all(np.tril(U, -1) == 0.0)
    buffer[:k, :k][np.tril_indices(k, -1)] = np.nan           # below the diagonal: not to be read
    b, Bm = rng.standard_normal(k), rng.standard_normal((k, columns))
    for transpose in (False, True):
        trans = "T" if transpose else "N"
        for rhs in (b, Bm):
            want = solve_triangular(reference, rhs, trans=trans) if k else np.zeros(rhs.shape)
            np.testing.assert_allclose(blas.upper_solve(U, rhs, transpose), want, rtol=1e-9, atol=1e-9)
        want = (reference.T if transpose else reference) @ b
        np.testing.assert_allclose(blas.upper_product(U, b, transpose), want, rtol=1e-12, atol=1e-12)


def test_a_matrix_that_is_not_positive_definite_is_reported():
    B = np.random.default_rng(1).standard_normal((3, 5))
    buffer = np.zeros((8, 8))
    buffer[:5, :5] = B.T @ B - 1e-3 * np.eye(5)                 # rank 3, shifted below zero
    assert not blas.cholesky_upper(buffer[:5, :5])
