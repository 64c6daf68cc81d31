"""certqnn.pricing.quadratic_extremes: exact max/min of u~^T Q u~ over u in {+-1}^p (docs/math.md §5, §9)."""
import itertools

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from strategies import value_of

import certqnn.trusted.enumerate as trusted_enumerate
from certqnn import UnsupportedProblemError
from certqnn.limits import EXACT_PRICING_MAX_DIM
from certqnn.pricing import quadratic_extremes, quadratic_value, sign_vectors


def brute_values(Q):
    """All (u, value) by itertools (independent of sign_vectors)."""
    p = Q.shape[0] - 1
    us = np.array(list(itertools.product((-1.0, 1.0), repeat=p)), dtype=float).reshape(2 ** p, p)
    ut = np.hstack([us, np.ones((us.shape[0], 1))])
    return us, np.einsum("jk,kl,jl->j", ut, Q, ut)


def random_Q(seed, p, even=False, scale=1.0):
    rng = np.random.default_rng(seed)
    A = rng.standard_normal((p + 1, p + 1)) * scale
    Q = 0.5 * (A + A.T)
    if even:
        Q[:p, p] = Q[p, :p] = 0.0          # b = 0: value invariant under u -> -u
    return Q


@settings(max_examples=80)
@given(p=st.integers(0, 10), seed=st.integers(0, 2 ** 32 - 1), even=st.booleans(),
       scale=st.sampled_from([1e-3, 1.0, 1e4]))
def test_extremes_equal_brute_force(p, seed, even, scale):
    Q = random_Q(seed, p, even, scale)
    us, vals = brute_values(Q)
    ext = quadratic_extremes(Q, even=even)
    tol = 1e-12 * scale * (p + 1) ** 2
    assert ext.max_value == pytest.approx(vals.max(), abs=tol)
    assert ext.min_value == pytest.approx(vals.min(), abs=tol)
    assert ext.rho == pytest.approx(np.abs(vals).max(), abs=tol)
    # the returned arguments attain the returned values and are sign vectors
    assert ext.argmax.shape == (p, 1) and ext.argmin.shape == (p, 1)
    assert np.all(np.abs(ext.argmax) == 1) and np.all(np.abs(ext.argmin) == 1)
    assert value_of(Q, ext.argmax[:, 0]) == pytest.approx(ext.max_value, abs=tol)
    assert value_of(Q, ext.argmin[:, 0]) == pytest.approx(ext.min_value, abs=tol)
    assert ext.evaluated == (2 ** (p - 1) if even and p >= 1 else 2 ** p)


@settings(max_examples=40)
@given(p=st.integers(1, 9), seed=st.integers(0, 2 ** 32 - 1), top=st.integers(1, 12), even=st.booleans())
def test_top_k_ordering(p, seed, top, even):
    Q = random_Q(seed, p, even)
    us, vals = brute_values(Q)
    if even:                                   # one representative per pair {u, -u}
        keep = us[:, 0] > 0
        us, vals = us[keep], vals[keep]
    ext = quadratic_extremes(Q, even=even, top=top)
    k = min(top, vals.size)
    assert ext.argmax.shape == (p, k) and ext.argmin.shape == (p, k)
    got_hi = np.array([value_of(Q, u) for u in ext.argmax.T])
    got_lo = np.array([value_of(Q, u) for u in ext.argmin.T])
    np.testing.assert_allclose(got_hi, np.sort(vals)[::-1][:k], atol=1e-10)
    np.testing.assert_allclose(got_lo, np.sort(vals)[:k], atol=1e-10)
    assert np.all(np.diff(got_hi) <= 1e-12) and np.all(np.diff(got_lo) >= -1e-12)
    # distinct sign vectors
    assert len({tuple(c) for c in ext.argmax.T}) == k
    assert len({tuple(c) for c in ext.argmin.T}) == k


def test_even_mode_agrees_with_full_enumeration():
    for seed in range(10):
        for p in range(1, 9):
            Q = random_Q(seed, p, even=True)
            full, half = quadratic_extremes(Q), quadratic_extremes(Q, even=True)
            assert half.max_value == pytest.approx(full.max_value, abs=1e-12)
            assert half.min_value == pytest.approx(full.min_value, abs=1e-12)


def test_non_even_matrix_needs_full_enumeration():
    """With b != 0 the value is not sign-invariant: even=False must see both halves."""
    Q = np.zeros((3, 3))
    Q[0, 2] = Q[2, 0] = 1.0                # value = 2 u_1 (+0): max at u_1 = +1, min at u_1 = -1
    ext = quadratic_extremes(Q)
    assert ext.max_value == 2.0 and ext.min_value == -2.0
    assert ext.argmax[0, 0] == 1.0 and ext.argmin[0, 0] == -1.0


def test_blocked_evaluation(monkeypatch):
    """Force many small blocks: the running top-k merge must give the same answer."""
    monkeypatch.setattr(trusted_enumerate, "BLOCK_ENTRIES", 8)
    for seed in range(5):
        for p in (5, 8, 11):
            Q = random_Q(seed, p, even=bool(seed % 2))
            us, vals = brute_values(Q)
            ext = quadratic_extremes(Q, even=bool(seed % 2), top=5)
            assert ext.max_value == pytest.approx(vals.max(), abs=1e-10)
            assert ext.min_value == pytest.approx(vals.min(), abs=1e-10)
            assert value_of(Q, ext.argmax[:, 4]) <= value_of(Q, ext.argmax[:, 0]) + 1e-12


def test_asymmetric_input_is_symmetrised():
    rng = np.random.default_rng(0)
    A = rng.standard_normal((6, 6))
    us, vals = brute_values(0.5 * (A + A.T))
    ext = quadratic_extremes(A)
    assert ext.max_value == pytest.approx(vals.max(), abs=1e-12)


def test_refuses_beyond_the_exact_limit():
    with pytest.raises(UnsupportedProblemError, match="sdp"):
        quadratic_extremes(np.eye(EXACT_PRICING_MAX_DIM + 2))


def test_sign_vectors_encode_bits():
    for k in range(0, 7):
        S = sign_vectors(k)
        assert S.shape == (k, 2 ** k)
        assert len({tuple(c) for c in S.T}) == 2 ** k
        for j in range(2 ** k):
            assert all(S[i, j] == (-1.0 if (j >> i) & 1 else 1.0) for i in range(k))


def test_quadratic_value():
    rng = np.random.default_rng(4)
    Q = random_Q(4, 5)
    S = np.where(rng.random((5, 7)) < 0.5, -1.0, 1.0)
    np.testing.assert_allclose(quadratic_value(Q, S), [value_of(Q, s) for s in S.T], rtol=1e-13)
