"""certqnn.blas: the symmetric product through SciPy's BLAS table."""
import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

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
    assert blas._dsymv() is not None                   # SciPy's table has dsymv: the fast path is tested
    for other in (G.T.copy(order="F")[:, :], G[::1, ::1].astype(np.float32), np.asfortranarray(G)):
        np.testing.assert_allclose(blas.symmetric_matvec(other, x), other @ x, rtol=1e-5)
