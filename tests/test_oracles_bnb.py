"""Branch and bound pricing (certqnn.pricing): exact against brute force, certified bounds on time-out."""
import itertools

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from strategies import value_of

from certqnn.pricing import (bnb_maximize, local_search_max, max_abs_quadratic, one_flip_ascent,
                             quadratic_extremes, quadratic_value, shor_shift, sphere_bounds)


def brute_values(Q):
    """Every value u~^T Q u~, u in {-1,+1}^p, by itertools (independent of certqnn.pricing)."""
    p = Q.shape[0] - 1
    us = np.array(list(itertools.product((-1.0, 1.0), repeat=p)), dtype=float).reshape(2 ** p, p)
    ut = np.hstack([us, np.ones((us.shape[0], 1))])
    return us, np.einsum("jk,kl,jl->j", ut, Q, ut)


def random_Q(seed, p, even=False, scale=1.0, diag_heavy=False):
    rng = np.random.default_rng(seed)
    if diag_heavy:                          # like Q(w) = X^T Diag(w) X: large, sign-mixed diagonal
        X = rng.standard_normal((3 * p + 3, p + 1))
        A = (X.T * rng.standard_normal(X.shape[0])) @ X
    else:
        A = rng.standard_normal((p + 1, p + 1))
    Q = 0.5 * (A + A.T) * scale
    if even:
        Q[:p, p] = Q[p, :p] = 0.0          # b = 0: value invariant under u -> -u
    return Q


@settings(max_examples=60, deadline=None)
@given(p=st.integers(0, 12), seed=st.integers(0, 2 ** 32 - 1), even=st.booleans(),
       scale=st.sampled_from([1e-3, 1.0, 1e4]), leaf=st.sampled_from([0, 1, 3, 10]),
       diag_heavy=st.booleans())
def test_bnb_equals_brute_force(p, seed, even, scale, leaf, diag_heavy):
    Q = random_Q(seed, p, even, scale, diag_heavy)
    _, vals = brute_values(Q)
    tol = 1e-9 * scale * (p + 1) ** 2
    for sign, target in ((1.0, vals.max()), (-1.0, -vals.min())):
        res = bnb_maximize(sign * Q, even=even, leaf_size=leaf)
        assert res.finished and res.exact
        assert res.value == pytest.approx(target, abs=tol)
        assert res.upper_bound >= target - tol
        assert res.argmax.shape == (p,) and np.all(np.abs(res.argmax) == 1)
        assert value_of(sign * Q, res.argmax) == pytest.approx(res.value, abs=tol)


@settings(max_examples=30, deadline=None)
@given(p=st.integers(1, 12), seed=st.integers(0, 2 ** 32 - 1), even=st.booleans(),
       method=st.sampled_from(["bnb", "mitm", "auto"]))
def test_max_abs_quadratic_is_exact(p, seed, even, method):
    Q = random_Q(seed, p, even, diag_heavy=True)
    _, vals = brute_values(Q)
    ext = max_abs_quadratic(Q, even, method=method)
    rho = np.abs(vals).max()
    tol = 1e-9 * np.abs(Q).sum()
    assert ext.exact
    assert ext.rho == pytest.approx(rho, abs=tol)
    assert ext.rho_upper_bound >= rho - tol
    assert ext.max_upper >= vals.max() - tol and ext.min_lower <= vals.min() + tol
    # the returned arguments attain the returned values
    assert value_of(Q, ext.argmax[:, 0]) == pytest.approx(ext.max_value, abs=tol)
    assert value_of(Q, ext.argmin[:, 0]) == pytest.approx(ext.min_value, abs=tol)


@settings(max_examples=25, deadline=None)
@given(p=st.integers(2, 11), seed=st.integers(0, 2 ** 32 - 1), frac=st.sampled_from([0.5, 0.9, 1.1, 2.0]))
def test_threshold_proves_an_upper_bound(p, seed, frac):
    """With a threshold above the maximum the search only proves max <= threshold."""
    Q = random_Q(seed, p, diag_heavy=True)
    _, vals = brute_values(Q)
    top = vals.max()
    thr = top * frac if top > 0 else top + frac
    res = bnb_maximize(Q, threshold=thr, leaf_size=2)
    assert res.finished
    assert res.upper_bound >= top - 1e-9 * np.abs(Q).sum()
    if res.exact:
        assert res.value == pytest.approx(top, abs=1e-9 * np.abs(Q).sum())
    else:
        assert res.value < thr and res.upper_bound == thr


@pytest.mark.parametrize("seed", range(4))
def test_time_out_keeps_a_certified_upper_bound(seed):
    """time_limit=0: nothing is explored, yet the bound is a valid upper bound (root Shor bound)."""
    p = 18
    Q = random_Q(seed, p, even=bool(seed % 2), diag_heavy=True)
    ext = quadratic_extremes(Q, even=bool(seed % 2))
    res = bnb_maximize(Q, even=bool(seed % 2), time_limit=0.0)
    assert not res.finished and not res.exact
    assert res.value <= ext.max_value + 1e-9
    assert res.upper_bound >= ext.max_value
    cert = max_abs_quadratic(Q, bool(seed % 2), method="bnb", time_limit=0.0)
    assert not cert.exact
    assert cert.rho_upper_bound >= ext.rho
    assert cert.rho <= ext.rho + 1e-9


def test_collect_returns_violators_above_threshold():
    Q = random_Q(7, 10, diag_heavy=True)
    us, vals = brute_values(Q)
    thr = np.sort(vals)[-20]
    res = bnb_maximize(Q, threshold=thr, collect=8, leaf_size=4)
    assert res.found.shape[0] == 10 and 1 <= res.found.shape[1] <= 8
    got = quadratic_value(Q, res.found)
    np.testing.assert_allclose(got, res.found_values, rtol=1e-12, atol=1e-12)
    assert np.all(got > thr)
    assert np.all(np.diff(res.found_values) <= 0)


@settings(max_examples=30, deadline=None)
@given(k=st.integers(1, 9), seed=st.integers(0, 2 ** 32 - 1))
def test_sphere_bound_is_valid(k, seed):
    """k t + g^T (tI - A)^{-1} g + const bounds u^T A u + 2 g^T u + const on {-1,+1}^k."""
    rng = np.random.default_rng(seed)
    A = rng.standard_normal((k, k))
    A = 0.5 * (A + A.T)
    G = rng.standard_normal((k, 5)) * rng.choice([0.0, 1e-6, 1.0, 10.0], size=5)
    const = rng.standard_normal(5)
    lam, V = np.linalg.eigh(A)
    b = sphere_bounds(lam, V, G, const)
    us = np.array(list(itertools.product((-1.0, 1.0), repeat=k)))
    true = np.einsum("jk,kl,jl->j", us, A, us)[:, None] + 2 * us @ G + const[None, :]
    assert np.all(b >= true.max(0) - 1e-9 * (1 + np.abs(true).max()))
    # never worse than the plain eigenvalue bound with t at the start of the search
    assert np.all(b <= k * lam[-1] + np.sqrt(k) * np.linalg.norm(G, axis=0) * 2 + const + 1e-9)


@settings(max_examples=20, deadline=None)
@given(D=st.integers(1, 9), seed=st.integers(0, 2 ** 32 - 1))
def test_shor_shift_bounds_and_improves_on_the_eigenvalue_bound(D, seed):
    rng = np.random.default_rng(seed)
    B = rng.standard_normal((D, D)) + np.diag(rng.standard_normal(D) * 5)
    B = 0.5 * (B + B.T)
    bound, mu = shor_shift(B)
    vs = np.array(list(itertools.product((-1.0, 1.0), repeat=D)))
    top = np.einsum("jk,kl,jl->j", vs, B, vs).max()
    assert bound >= top - 1e-9 * (1 + abs(top))
    assert bound == pytest.approx(D * np.linalg.eigvalsh(B - np.diag(mu))[-1] + mu.sum())
    assert bound <= D * np.linalg.eigvalsh(B)[-1] + 1e-9 * (1 + abs(bound))


def test_local_search_returns_one_flip_maxima():
    Q = random_Q(3, 14, diag_heavy=True)
    rng = np.random.default_rng(0)
    S = one_flip_ascent(Q, np.where(rng.random((14, 20)) < 0.5, -1.0, 1.0))
    base = quadratic_value(Q, S)
    for i in range(14):
        flipped = S.copy()
        flipped[i] *= -1
        assert np.all(quadratic_value(Q, flipped) <= base + 1e-9)
    value, u = local_search_max(Q, starts=S)
    assert value >= base.max() - 1e-12 and value == pytest.approx(value_of(Q, u))


@pytest.mark.parametrize("p", [60, 120])
def test_single_precision_sweeps_end_at_one_flip_maxima_of_the_double_values(p):
    """Large p (where single precision is the default): every returned column is a 1-flip local
    maximum of the double-precision value up to the sweeps' tolerance, and p below the threshold
    keeps the double sweeps bit for bit."""
    from certqnn.pricing.local_search import SINGLE_SWEEPS_MIN_DIM

    rng = np.random.default_rng(p)
    B = rng.standard_normal((p + 1, p + 1))
    Q = B + B.T
    S0 = np.where(rng.random((p, 60)) < 0.5, -1.0, 1.0)
    S = one_flip_ascent(Q, S0, single=True)
    St = np.vstack([S, np.ones((1, S.shape[1]))])
    QS = Q @ St
    gains = 4.0 * (np.diag(Q)[:p, None] - S * QS[:p])              # value change of each single flip
    assert np.all(gains <= 1e-5 * (1.0 + np.abs(QS).max()))
    auto = one_flip_ascent(Q, S0)
    assert np.array_equal(auto, S if p >= SINGLE_SWEEPS_MIN_DIM else one_flip_ascent(Q, S0, single=False))


def _greedy_one_column(Q, s, max_flips):
    """Best-improvement 1-flip ascent of one start, flips scored by whole re-evaluation (the
    first coordinate on ties), the plain loop one_flip_ascent vectorizes."""
    s = s.copy()
    for _ in range(max_flips):
        base = value_of(Q, s)
        gains = []
        for i in range(s.size):
            t = s.copy()
            t[i] *= -1
            gains.append(value_of(Q, t) - base)
        i = int(np.argmax(gains))
        if gains[i] <= 0:
            break
        s[i] *= -1
    return s


@settings(max_examples=60, deadline=None)
@given(p=st.integers(1, 9), k=st.integers(1, 40), seed=st.integers(0, 2 ** 31 - 1),
       sweeps=st.sampled_from([1, 2, 5, 1000]), single=st.sampled_from([None, False, True]))
def test_one_flip_ascent_climbs_every_start_on_its_own(p, k, seed, sweeps, single):
    # integer Q: every gain is exact (in single precision too), so the vectorized ascent (which
    # drops the columns that stop) must take the very flips of the plain per-start loop, ties included
    rng = np.random.default_rng(seed)
    A = rng.integers(-3, 4, size=(p + 1, p + 1)).astype(float)
    Q = A + A.T
    S = np.where(rng.random((p, k)) < 0.5, -1.0, 1.0)
    starts = S.copy()
    got = one_flip_ascent(Q, S, max_sweeps=sweeps, single=single)
    assert got.dtype == np.float64
    want = np.column_stack([_greedy_one_column(Q, starts[:, j], sweeps) for j in range(k)])
    np.testing.assert_array_equal(got, want)
    np.testing.assert_array_equal(S, starts)                          # the starts are not written to


@pytest.mark.slow
@pytest.mark.parametrize("p,even", [(22, True), (23, False)])
def test_bnb_matches_meet_in_the_middle_on_larger_instances(p, even):
    for seed in range(2):
        Q = random_Q(seed, p, even, diag_heavy=True)
        mitm = quadratic_extremes(Q, even=even)
        bnb = max_abs_quadratic(Q, even, method="bnb")
        assert bnb.exact
        assert bnb.rho == pytest.approx(mitm.rho, rel=1e-12, abs=1e-12)
