"""Lifting identity, Shor bound, Grothendieck's identity and the sin test (docs/math.md §5-7)."""
import itertools

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

from certqnn.activations import Polynomial
from certqnn.rounding import block_report, grothendieck_samples, one_flip_search, unit_diagonal
from certqnn.shor.svec import lifted_features, smat, svec
from certqnn.lifting import apply_lifted, lifted_point, neuron_outputs, q_matrix
from certqnn.pricing import quadratic_value


def all_signs(p):
    return np.array(list(itertools.product([-1.0, 1.0], repeat=p))).T


@given(seed=st.integers(0, 10_000), n=st.integers(1, 12), p=st.integers(1, 6),
       a=st.floats(-2, 2), b=st.floats(-2, 2), c=st.floats(-2, 2))
@settings(max_examples=60, deadline=None)
def test_lifting_identity(seed, n, p, a, b, c):
    """sigma(x^T u) = <M(x), u~ u~^T> and phi_u^T w = u~^T Q(w) u~ for every sign vector u."""
    if a == 0 and b == 0:
        a = 1.0
    rng = np.random.default_rng(seed)
    X, w = rng.normal(size=(n, p)), rng.normal(size=n)
    act = Polynomial(a, b, c)
    S = all_signs(p)
    Phi = neuron_outputs(X, act, S)
    Q = q_matrix(X, act, w)
    np.testing.assert_allclose(Phi.T @ w, quadratic_value(Q, S), rtol=1e-10, atol=1e-10)
    for j in range(S.shape[1]):
        Z = lifted_point(S[:, [j]], [1.0])
        np.testing.assert_allclose(apply_lifted(X, act, Z), Phi[:, j], rtol=1e-10, atol=1e-10)
    # the SCS svec features give the same operator
    Z = lifted_point(S, rng.uniform(0, 1, S.shape[1]))
    np.testing.assert_allclose(lifted_features(X, act) @ svec(Z), apply_lifted(X, act, Z), rtol=1e-9, atol=1e-9)
    np.testing.assert_allclose(smat(svec(Z), p + 1), Z, atol=1e-12)


@given(seed=st.integers(0, 10_000), p=st.integers(1, 7))
@settings(max_examples=60, deadline=None)
def test_shor_bound(seed, p):
    """Diag(z) - Q >= 0 implies u~^T Q u~ <= 1^T z for every u in {-1,1}^p."""
    rng = np.random.default_rng(seed)
    Q = rng.normal(size=(p + 1, p + 1))
    Q = Q + Q.T
    z = rng.normal(size=p + 1)
    shift = np.linalg.eigvalsh(np.diag(z) - Q)[0]
    z = z - shift + 1e-9                     # now Diag(z) - Q is PSD
    values = quadratic_value(Q, all_signs(p))
    assert values.max() <= z.sum() + 1e-9
    # the bound is tight for Q = u~ u~^T: z = (p+1) 1 certifies it and u attains 1^T z = (p+1)^2
    u = all_signs(p)[:, 0]
    ut = np.append(u, 1.0)
    Q1 = np.outer(ut, ut)
    z1 = np.full(p + 1, p + 1.0)
    assert np.linalg.eigvalsh(np.diag(z1) - Q1)[0] >= -1e-9
    assert quadratic_value(Q1, u[:, None])[0] == pytest.approx(z1.sum())


def test_grothendieck_identity_monte_carlo():
    """E[sign(g) sign(g)^T] = (2/pi) arcsin(Sigma) for g ~ N(0, Sigma) with unit diagonal."""
    rng = np.random.default_rng(0)
    B = rng.normal(size=(4, 4))
    Sigma = B @ B.T
    d = np.sqrt(np.diag(Sigma))
    Sigma = Sigma / np.outer(d, d)
    G = np.linalg.cholesky(Sigma) @ rng.normal(size=(4, 200_000))
    V = np.sign(G)
    empirical = V @ V.T / G.shape[1]
    np.testing.assert_allclose(empirical, 2 / np.pi * np.arcsin(np.clip(Sigma, -1, 1)), atol=0.01)


def test_sampling_reads_neurons_correctly():
    """u = v_{1:p} v_{p+1} gives u~ u~^T = v v^T; a rank-one Z_hat returns its own neuron."""
    u = np.array([1.0, -1.0, -1.0, 1.0])
    ut = np.append(u, 1.0)
    Zh = unit_diagonal(np.outer(ut, ut) * 3.0)
    S = grothendieck_samples(Zh, 50, np.random.default_rng(1))
    assert np.all(S == u[:, None])
    report = block_report(Zh, 3.0)
    assert report["rank"] == 1 and report["sin_psd"]


def test_sin_test_detects_points_outside_cut_polytope():
    """sin((pi/2) Z) is PSD for cut-polytope points and fails for a non-cut elliptope point."""
    rng = np.random.default_rng(2)
    S = all_signs(3)
    lam = rng.dirichlet(np.ones(S.shape[1]))
    Zcut = (np.vstack([S, np.ones(S.shape[1])]) * lam) @ np.vstack([S, np.ones(S.shape[1])]).T
    assert np.linalg.eigvalsh(np.sin(np.pi / 2 * Zcut))[0] >= -1e-10
    # the 3x3 elliptope point with all off-diagonals -1/2 is not in the cut polytope... but
    # with -0.5 it is (triangle inequality tight); -0.6 violates x12+x13+x23 >= -1
    E = np.full((3, 3), -0.45)
    np.fill_diagonal(E, 1.0)
    E4 = np.eye(4)
    E4[:3, :3] = E
    E4 = unit_diagonal(E4)
    assert np.linalg.eigvalsh(E4)[0] >= 0   # in the elliptope
    assert E4[0, 1] + E4[0, 2] + E4[1, 2] < -1  # violates a triangle inequality: not a cut point
    assert not block_report(E4, 1.0)["sin_psd"]


@given(seed=st.integers(0, 10_000), p=st.integers(1, 8))
@settings(max_examples=40, deadline=None)
def test_one_flip_search_is_a_local_optimum(seed, p):
    rng = np.random.default_rng(seed)
    Q = rng.normal(size=(p + 1, p + 1))
    Q = Q + Q.T
    start = np.where(rng.random((p, 5)) < 0.5, -1.0, 1.0)
    for maximize in (True, False):
        out = one_flip_search(Q, start, maximize=maximize)
        sign = 1 if maximize else -1
        base = sign * quadratic_value(Q, out)
        assert np.all(base >= sign * quadratic_value(Q, start) - 1e-9)
        for k in range(p):
            flipped = out.copy()
            flipped[k] *= -1
            assert np.all(sign * quadratic_value(Q, flipped) <= base + 1e-9)


@given(a=st.sampled_from([1.0, -1.0, 0.5, 0.0, 3.0]), b=st.sampled_from([0.0, -0.0, 1e-3, -0.7]),
       c=st.sampled_from([0.0, -0.0, 0.2, -1e-300]), seed=st.integers(0, 10_000))
@settings(max_examples=80, deadline=None)
def test_the_activation_in_place_rounds_as_the_formula(a, b, c, seed):
    """sigma(t, overwrite=True), which neuron_outputs uses on its fresh products, gives the bits of
    (a t + b) t + c, signs of zero and non-finite values included."""
    if a == 0 and b == 0:
        b = 1.0
    act = Polynomial(a, b, c)
    t = np.random.default_rng(seed).standard_normal((40, 7))
    t[0] = [-0.0, 0.0, 1e-300, -1e-170, 1e300, -np.inf, np.inf]
    with np.errstate(all="ignore"):
        expected = (a * t + b) * t + c
        got = act(t.copy(), overwrite=True)
    nan = np.isnan(expected)
    np.testing.assert_array_equal(np.isnan(got), nan)
    np.testing.assert_array_equal(np.where(nan, 0.0, got).view(np.int64), np.where(nan, 0.0, expected).view(np.int64))
