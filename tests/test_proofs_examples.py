"""Numerical checks of the statements proved in proofs/*.md, and the example certificates in
proofs/certificates/ (each re-verified through the command line, in process and as a subprocess).

Each test names the page it checks; proofs/README.md maps every statement to its tests.
"""
from __future__ import annotations

import glob
import json
import os
import shutil
import subprocess
import sys
from fractions import Fraction as F

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from certqnn import Certificate, Levels, Polynomial, QNNProblem, QuantizedNetwork, certify, solve, verify
from certqnn.rounding import grothendieck_samples, unit_diagonal
from certqnn.cli import main as cli_main
from certqnn.lifting import apply_lifted, lifted_point, neuron_outputs, q_matrix
from certqnn.losses import Loss, SquaredLoss
from certqnn.pricing import sign_vectors
from certqnn.testing import brute_force_optimum, make_problem
from certqnn.triangles import SIGN_PATTERNS, all_triples, cut_values, weighted_sum
from certqnn.trusted.arith import U_ROUND, gamma
from certqnn.trusted.rho import shor_rho_bound

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CERT_DIR = os.path.join(ROOT, "proofs", "certificates")
EXAMPLES = sorted(glob.glob(os.path.join(CERT_DIR, "*.json")))
seeds = st.integers(0, 2 ** 32 - 1)


def all_atoms(problem):
    """(S, Phi): every binary sign vector of the reduced problem and its atom sigma(Xb s)."""
    S = sign_vectors(problem.binary_dim)
    return S, neuron_outputs(problem.binary_design(), problem.activation, S)


def g_squared(w, y):
    return -float(w @ y) - 0.5 * float(w @ w)


# =============================================================================================
# proofs/weak_duality_scaling.md
# =============================================================================================
@settings(max_examples=40)
@given(seed=seeds, n=st.integers(1, 8))
def test_squared_loss_conjugate_closed_form(seed, n):
    """L*(w) = sup_v w^T v - |v - y|^2/2 = w^T y + |w|^2/2, attained at v = y + w (Fenchel-Young)."""
    rng = np.random.default_rng(seed)
    y, w = rng.standard_normal(n), rng.standard_normal(n) * 3
    loss = SquaredLoss()
    conj = loss.conjugate(w, y)
    assert conj == pytest.approx(float(w @ y) + 0.5 * float(w @ w), rel=1e-12, abs=1e-12)
    v_star = y + w
    assert float(w @ v_star) - loss.value(v_star, y) == pytest.approx(conj, rel=1e-12, abs=1e-12)
    for v in rng.standard_normal((50, n)) * 5:                 # every other v gives less
        assert float(w @ v) - loss.value(v, y) <= conj + 1e-12 * (1 + abs(conj))
    assert loss.dual_value(w, y) == pytest.approx(g_squared(w, y), rel=1e-12, abs=1e-12)


@pytest.mark.parametrize("seed", range(6))
def test_every_feasible_scale_gives_a_lower_bound(seed):
    """For ANY w and rho_bar >= rho(w): g(s w) <= p*_inf for every s in [0, beta/rho_bar]."""
    act = [(1.0, 0.0, 0.0), (1.0, 0.5, 0.2), (0.5, 1.0, -0.25)][seed % 3]
    problem = make_problem(seed, 10, 3, act, ["binary", "ternary"][seed % 2], beta_fraction=0.2)
    bf = brute_force_optimum(problem)
    _, Phi = all_atoms(problem)
    rng = np.random.default_rng(seed)
    for _ in range(20):
        w = rng.standard_normal(problem.n) * rng.choice([0.1, 1.0, 10.0])
        rho = float(np.max(np.abs(Phi.T @ w)))
        for rho_bar in (rho, 1.5 * rho):
            for s in np.linspace(0.0, problem.beta / rho_bar, 11):
                assert g_squared(s * w, problem.y) <= bf.value + 1e-9 * max(1.0, bf.value)


@settings(max_examples=60)
@given(seed=seeds, n=st.integers(1, 10), smax_exp=st.integers(-3, 3), aligned=st.booleans())
def test_best_dual_scale_maximises_g_over_the_interval(seed, n, smax_exp, aligned):
    rng = np.random.default_rng(seed)
    y = rng.standard_normal(n)
    w = -y * rng.uniform(0.1, 2) + 0.1 * rng.standard_normal(n) if aligned else rng.standard_normal(n)
    smax = 10.0 ** smax_exp
    s = SquaredLoss().best_dual_scale(w, y, smax)
    assert 0.0 <= s <= smax
    grid = np.linspace(0.0, smax, 2001)
    best_on_grid = max(g_squared(t * w, y) for t in grid)
    assert g_squared(s * w, y) >= best_on_grid - 1e-12 * (1 + abs(best_on_grid))
    # docs/math.md §4's default scale min(1, beta/rho_bar) is in the interval, so it is never better
    assert g_squared(s * w, y) >= g_squared(min(1.0, smax) * w, y) - 1e-12 * (1 + abs(best_on_grid))
    assert Loss.best_dual_scale(SquaredLoss(), w, y, smax) == min(1.0, smax)


@pytest.mark.parametrize("seed", range(5))
def test_no_duality_gap_at_the_optimum(seed):
    """At the Lasso optimum w* = Phi alpha* - y: rho(w*) <= beta and g(w*) = p*_inf."""
    problem = make_problem(40 + seed, 12, 3, (1.0, 0.5, 0.0), "binary", beta_fraction=0.1)
    bf = brute_force_optimum(problem)
    yhat = problem.activation(problem.X @ bf.U) @ bf.alpha
    w = yhat - problem.y
    _, Phi = all_atoms(problem)
    assert float(np.max(np.abs(Phi.T @ w))) <= problem.beta * (1 + 1e-6)
    assert g_squared(w, problem.y) == pytest.approx(bf.value, rel=1e-6)


# =============================================================================================
# proofs/lifting.md
# =============================================================================================
@settings(max_examples=40)
@given(seed=seeds, n=st.integers(1, 6), p=st.integers(1, 4), act=st.sampled_from([(1, 0, 0), (2, -4, 3), (-1, 2, 0.5), (0, 2, 1)]))
def test_lifting_identity_exact_in_rationals(seed, n, p, act):
    """With integer data q_matrix is exact; then u~^T Q(w) u~ = sum_i w_i sigma(x_i^T u) holds as an
    identity of rationals, for real (not only +-1) u."""
    rng = np.random.default_rng(seed)
    X = rng.integers(-5, 6, size=(n, p)).astype(float)
    w = rng.integers(-5, 6, size=n).astype(float)
    a, b, c = (F(v) for v in act)
    sig = Polynomial(*act)
    Q = q_matrix(X, sig, w)
    for u in [rng.choice([-1.0, 1.0], size=p), rng.standard_normal(p)]:
        ut = [F(v) for v in u.tolist()] + [F(1)]
        quad = sum((F(Q[k, l]) * ut[k] * ut[l] for k in range(p + 1) for l in range(p + 1)), F(0))
        direct = F(0)
        for i in range(n):
            t = sum((F(X[i, k]) * ut[k] for k in range(p)), F(0))
            direct += F(w[i]) * (a * t * t + b * t + c)
        assert quad == direct


@pytest.mark.parametrize("seed", range(5))
def test_q_is_the_adjoint_of_the_lifted_operator(seed):
    """<w, A(Z)> = <Q(w), Z>, and A(Z+ - Z-) of a lifted network is its prediction vector."""
    rng = np.random.default_rng(seed)
    n, p = 9, 4
    X, w = rng.standard_normal((n, p)), rng.standard_normal(n)
    act = Polynomial(1.0, 0.7, -0.2)
    B = rng.standard_normal((p + 1, p + 1))
    Z = B + B.T
    assert float(w @ apply_lifted(X, act, Z)) == pytest.approx(float(np.sum(q_matrix(X, act, w) * Z)), rel=1e-12)
    S = np.where(rng.random((p, 5)) < 0.5, -1.0, 1.0)
    alpha = rng.standard_normal(5)
    Zp = lifted_point(S[:, alpha > 0], alpha[alpha > 0])
    Zm = lifted_point(S[:, alpha < 0], -alpha[alpha < 0])
    np.testing.assert_allclose(apply_lifted(X, act, Zp - Zm), act(X @ S) @ alpha, rtol=1e-12, atol=1e-12)


# =============================================================================================
# proofs/shor_bound.md
# =============================================================================================
@pytest.mark.parametrize("seed", range(5))
def test_lifted_network_is_feasible_for_the_sdp_with_objective_j(seed):
    problem = make_problem(60 + seed, 11, 4, (1.0, 0.3, 0.1), "binary")
    rng = np.random.default_rng(seed)
    S = np.where(rng.random((4, 6)) < 0.5, -1.0, 1.0)
    alpha = rng.standard_normal(6)
    Zp = lifted_point(S[:, alpha > 0], alpha[alpha > 0])
    Zm = lifted_point(S[:, alpha < 0], -alpha[alpha < 0])
    for Z, t in ((Zp, alpha[alpha > 0].sum()), (Zm, -alpha[alpha < 0].sum())):
        assert np.linalg.eigvalsh(Z)[0] >= -1e-12 * max(1.0, t)
        np.testing.assert_allclose(np.diag(Z), t, rtol=1e-14)                 # Z_kk = t for all k
    yhat = apply_lifted(problem.binary_design(), problem.activation, Zp - Zm)
    sdp_objective = problem.loss.value(yhat, problem.y) + problem.beta * (Zp[-1, -1] + Zm[-1, -1])
    assert sdp_objective == pytest.approx(problem.objective(S, alpha), rel=1e-12)


@pytest.mark.parametrize("seed", range(4))
def test_sdp_weak_duality_on_random_feasible_points(seed):
    """Any dual-feasible (w, z+, z-) bounds the SDP objective of every feasible (Z+, Z-) from below."""
    problem = make_problem(70 + seed, 10, 4, (1.0, -0.5, 0.3), "binary")
    Xb, act, y, beta = problem.binary_design(), problem.activation, problem.y, problem.beta
    rng = np.random.default_rng(seed)
    D = Xb.shape[1] + 1
    for _ in range(10):
        w = rng.standard_normal(problem.n)
        Q = q_matrix(Xb, act, w)
        off = np.abs(Q - np.diag(np.diag(Q))).sum(1)
        zp, zm = np.diag(Q) + off, -np.diag(Q) + off                  # Gershgorin: both sides PSD
        s = beta / max(zp.sum(), zm.sum())                             # now 1^T (s z^±) <= beta
        ws, zp, zm = s * w, s * zp, s * zm
        Qs = q_matrix(Xb, act, ws)
        assert np.linalg.eigvalsh(np.diag(zp) - Qs)[0] >= -1e-10 and np.linalg.eigvalsh(np.diag(zm) + Qs)[0] >= -1e-10
        g = g_squared(ws, y)
        for _ in range(20):
            Zs = []
            for _side in range(2):
                G = rng.standard_normal((D, rng.integers(1, D + 1)))
                Z = G @ G.T
                dg = np.sqrt(np.diag(Z))
                Zs.append(rng.exponential() * Z / np.outer(dg, dg))       # PSD with constant diagonal
            yhat = apply_lifted(Xb, act, Zs[0] - Zs[1])
            primal = problem.loss.value(yhat, y) + beta * (Zs[0][-1, -1] + Zs[1][-1, -1])
            assert g <= primal + 1e-9 * (1 + abs(primal))


@pytest.mark.parametrize("seed", range(3))
def test_sdp_cone_duals_give_a_shor_certificate_with_sum_beta(seed):
    """The SDP engine's cone duals: Diag(z+) - Q(w) >= 0, Diag(z-) + Q(w) >= 0, 1^T z^± = beta, and
    g(w) = d_SDP (strong duality), up to the solver's accuracy."""
    problem = make_problem(80 + seed, 12, 4, [(1.0, 0.0, 0.0), (1.0, 0.5, 0.2), (1.0, -1.0, 0.3)][seed], "binary",
                           beta_fraction=0.1)
    res = solve(problem, "sdp", eps=1e-9, rounding=False)
    Q = q_matrix(problem.binary_design(), problem.activation, res.dual.w)
    zp, zm = res.dual.z_plus, res.dual.z_minus
    scale = max(1.0, float(np.abs(Q).max()))
    assert zp.sum() == pytest.approx(problem.beta, rel=1e-6)
    assert zm.sum() == pytest.approx(problem.beta, rel=1e-6)
    assert np.linalg.eigvalsh(np.diag(zp) - Q)[0] >= -1e-6 * scale
    assert np.linalg.eigvalsh(np.diag(zm) + Q)[0] >= -1e-6 * scale
    assert g_squared(res.dual.w, problem.y) == pytest.approx(res.relaxation["value"], rel=1e-5)


# =============================================================================================
# proofs/triangle_cuts.md
# =============================================================================================
def explicit_E(row, D):
    i, j, k, si, sj, sk = row
    E = np.zeros((D, D))
    for (p, q, sp_, sq) in ((i, j, si, sj), (i, k, si, sk), (j, k, sj, sk)):
        E[p, q] = E[q, p] = sp_ * sq / 2
    return E


def test_triangle_inequalities_hold_at_every_vertex():
    """<E_T, v v^T> = ((a+b+c)^2 - 3)/2 >= -1 for every cut and every v in {+-1}^D."""
    D = 6
    cuts = np.array([(*t, *s) for t in all_triples(D) for s in SIGN_PATTERNS])
    V = sign_vectors(D)
    for v in V.T:
        vals = cut_values(cuts, np.outer(v, v))
        a, b, c = (cuts[:, 3 + r] * v[cuts[:, r]] for r in range(3))
        np.testing.assert_array_equal(vals, ((a + b + c) ** 2 - 3) / 2)
        assert vals.min() >= -1
    # every value -1 and 3 occurs: the inequality is tight on the cut polytope
    assert {float(x) for v in V.T for x in cut_values(cuts, np.outer(v, v))} == {-1.0, 3.0}


@settings(max_examples=30)
@given(seed=seeds, D=st.integers(3, 7), k=st.integers(1, 25))
def test_weighted_sum_is_the_sum_of_e_t(seed, D, k):
    rng = np.random.default_rng(seed)
    tri = all_triples(D)
    cuts = np.hstack([tri[rng.integers(0, len(tri), k)], SIGN_PATTERNS[rng.integers(0, 4, k)]])
    mu = rng.exponential(size=k)
    expected = sum(m * explicit_E(row, D) for m, row in zip(mu, cuts.tolist()))
    got = weighted_sum(cuts, mu, D)
    np.testing.assert_allclose(got, expected, rtol=1e-13, atol=1e-14)
    assert np.all(np.diag(got) == 0) and np.array_equal(got, got.T)
    Z = rng.standard_normal((D, D))
    Z = Z + Z.T
    for m, row in zip(mu[:3], cuts[:3]):
        assert cut_values(row, Z)[0] == pytest.approx(float(np.sum(explicit_E(row.tolist(), D) * Z)), rel=1e-12, abs=1e-12)
    # a global sign flip defines the same E_T
    flipped = cuts.copy()
    flipped[:, 3:] *= -1
    np.testing.assert_array_equal(weighted_sum(flipped, mu, D), got)


@pytest.mark.parametrize("seed", range(5))
def test_lifted_networks_satisfy_the_cuts(seed):
    rng = np.random.default_rng(seed)
    p = 5
    S = np.where(rng.random((p, 7)) < 0.5, -1.0, 1.0)
    lam = rng.exponential(size=7)
    Z = lifted_point(S, lam)
    D = p + 1
    cuts = np.array([(*t, *s) for t in all_triples(D) for s in SIGN_PATTERNS])
    assert np.all(cut_values(cuts, Z) >= -lam.sum() * (1 + 1e-12))


@settings(max_examples=60)
@given(seed=seeds, D=st.integers(3, 7), k=st.integers(0, 12))
def test_generalized_certificate_bounds_the_maximum(seed, D, k):
    """Diag(z) - sum mu E_T - Q >= 0 with mu >= 0  =>  max_v v^T Q v <= 1^T z + 1^T mu (exhaustive)."""
    rng = np.random.default_rng(seed)
    A = rng.standard_normal((D, D))
    Q = A + A.T
    tri = all_triples(D)
    cuts = np.hstack([tri[rng.integers(0, len(tri), k)], SIGN_PATTERNS[rng.integers(0, 4, k)]]).reshape(-1, 6)
    mu = rng.exponential(size=k)
    T = weighted_sum(cuts, mu, D)
    z = rng.standard_normal(D)
    z = z - np.linalg.eigvalsh(np.diag(z) - T - Q)[0]            # Diag(z) - T - Q is PSD (lambda_min ~ 0)
    V = sign_vectors(D)
    vals = np.einsum("kj,kl,lj->j", V, Q, V)
    assert vals.max() <= z.sum() + mu.sum() + 1e-9 * (1 + np.abs(Q).sum())
    # the verifier accepts a slightly padded version and its rho_bar dominates the exact rho of Q
    if k:
        zpad = z + 1e-6 * (1 + np.abs(Q).max())
        zminus = 2 * np.abs(Q).sum(1) + 1                             # diagonally dominant: Diag(z-) + Q > 0
        rho_bar, why = shor_rho_bound(Q, np.zeros_like(Q), zpad, zminus, cuts, mu, None, None)
        assert rho_bar is not None, why
        assert rho_bar >= np.abs(vals).max()


# =============================================================================================
# proofs/multilevel_reduction.md
# =============================================================================================
def test_level_families_are_the_stated_sets():
    """Independent of collapse(): binary {+-1}, ternary {-1,0,1}, k-bit = all odd integers up to 2^K-1."""
    assert Levels("binary").values.tolist() == [-1.0, 1.0]
    assert Levels("ternary").values.tolist() == [-1.0, 0.0, 1.0]
    for K in range(1, 9):
        odd = [float(v) for v in range(-(2 ** K - 1), 2 ** K, 2)]
        assert Levels("kbit", K).values.tolist() == odd
        assert Levels("kbit", K, scale=0.125).values.tolist() == [v * 0.125 for v in odd]


def _exact_inner(x, u):
    return sum((F(a) * F(b) for a, b in zip(x, u)), F(0))


@pytest.mark.parametrize("levels", [Levels("binary"), Levels("ternary"), Levels("kbit", 2), Levels("kbit", 3),
                                    Levels("binary", scale=2.0 ** -3), Levels("ternary", scale=4.0),
                                    Levels("kbit", 4, scale=2.0 ** 5)], ids=lambda lv: lv.describe())
def test_power_of_two_reduction_is_exact_in_rationals(levels):
    """Power-of-two coefficients: fl(c_l x) = c_l x and the grid sums are exact, so
    x~^T s = x^T collapse(s) holds exactly on arbitrary float data (proofs/multilevel_reduction.md (b))."""
    rng = np.random.default_rng(3)
    d = 3 if levels.n_bits <= 2 else 2
    X = rng.standard_normal((6, d)) * 10.0 ** rng.integers(-5, 6, size=(6, d))
    Xb = levels.expand(X)
    S = sign_vectors(d * levels.n_bits)
    U = levels.collapse(S)
    coeffs = levels.coefficients
    for j in range(S.shape[1]):
        s, u = S[:, j], U[:, j]
        # the stored grid value is the real sum of c_l s_l
        for k in range(d):
            assert F(u[k]) == sum((F(c) * F(s[l * d + k]) for l, c in enumerate(coeffs)), F(0))
        for i in range(X.shape[0]):
            assert _exact_inner(Xb[i], s) == _exact_inner(X[i], u)


@pytest.mark.parametrize("spec", [[-1 / 3, 1 / 3], [-0.1, 0.0, 0.1], [-3.3, -1.1, 1.1, 3.3], [-0.3, -0.1, 0.1, 0.3],
                                  "kbit:3*0.7"], ids=str)
def test_non_dyadic_reduction_error_is_one_rounding_per_level(spec):
    """|x~^T s - x^T collapse(s)| <= (u + gamma_{B-1}) sum_l |c_l| |x|_1 in exact arithmetic on the
    stored floats (proofs/multilevel_reduction.md (c)); for non-power-of-two scales it is not always 0."""
    levels = Levels("kbit", 3, scale=0.7) if spec == "kbit:3*0.7" else Levels.parse(spec)
    rng = np.random.default_rng(5)
    d, B = 2, levels.n_bits
    X = rng.standard_normal((40, d))
    Xb = levels.expand(X)
    S = sign_vectors(d * B)
    U = levels.collapse(S)
    csum = sum(abs(c) for c in levels.coefficients)
    worst = F(0)
    for j in range(S.shape[1]):
        for i in range(X.shape[0]):
            diff = abs(_exact_inner(Xb[i], S[:, j]) - _exact_inner(X[i], U[:, j]))
            bound = F(U_ROUND + gamma(B - 1)) * F(csum) * sum((abs(F(v)) for v in X[i]), F(0))
            assert diff <= bound
            worst = max(worst, diff / bound)
    assert worst > 0          # the caveat is real: the reduction is not bit-exact for these scales


# =============================================================================================
# proofs/grothendieck.md
# =============================================================================================
def test_sampling_rule_gives_u_tilde_u_tilde_t_equal_v_v_t():
    D = 5
    for v in sign_vectors(D).T:
        u = v[:-1] * v[-1]
        ut = np.append(u, 1.0)
        np.testing.assert_array_equal(np.outer(ut, ut), np.outer(v, v))


def test_sin_covariance_sampling_reproduces_z():
    """For Z_hat in the cut polytope with sin((pi/2) Z_hat) >= 0, the code's sampler run on
    sin((pi/2) Z_hat) has E[u~ u~^T] = Z_hat; run on Z_hat itself, E = (2/pi) arcsin(Z_hat)."""
    rng = np.random.default_rng(0)
    D = 4
    V = sign_vectors(D)
    lam = rng.dirichlet(np.full(V.shape[1], 5.0))
    Zh = (V * lam) @ V.T                                  # a point of CUT_D near the centre
    Sig = np.sin(0.5 * np.pi * Zh)
    assert np.linalg.eigvalsh(Sig)[0] > 0                 # the sin test passes
    K = 200_000
    for cov, expected in ((Sig, Zh), (Zh, 2 / np.pi * np.arcsin(np.clip(Zh, -1, 1)))):
        U = grothendieck_samples(unit_diagonal(cov), K, rng)
        Ut = np.vstack([U, np.ones((1, U.shape[1]))])
        np.testing.assert_allclose(Ut @ Ut.T / Ut.shape[1], expected, atol=0.01)


# =============================================================================================
# proofs/caratheodory.md
# =============================================================================================
@pytest.mark.parametrize("seed, n, d, act", [(1, 5, 4, (1.0, 0.5, 0.0)), (2, 4, 4, (1.0, 0.3, 0.2)),
                                             (3, 6, 4, (0.5, 1.0, -0.25)), (4, 5, 5, (1.0, 0.0, 0.5))])
def test_width_r_plus_one_attains_p_star_inf(seed, n, d, act):
    """The optimum needs at most r + 1 <= n + 1 neurons (r = dim span of the atoms), so the
    width-limited problem with m = n + 1 has the same optimum as the unlimited one."""
    problem = make_problem(seed, n, d, act, "binary", beta_fraction=0.02)
    bf = brute_force_optimum(problem)
    S, Phi = all_atoms(problem)
    r = np.linalg.matrix_rank(Phi)
    D = problem.binary_dim + 1
    assert r <= min(n, 1 + D * (D - 1) // 2)
    assert bf.alpha.size <= r + 1 <= n + 1
    assert bf.atoms > n + 1                     # the statement is not vacuous: more atoms than n + 1
    limited = QNNProblem(problem.X, problem.y, activation=act, levels="binary", beta=problem.beta, width=n + 1)
    cert = certify(limited, solve(limited, "enumeration"))
    assert verify(cert).ok and cert.alpha.size <= n + 1
    assert cert.upper_bound <= bf.value * (1 + 1e-7)


@pytest.mark.parametrize("seed", range(4))
def test_merging_duplicate_neurons_never_increases_j(seed):
    problem = make_problem(seed, 10, 3, (1.0, 0.5, 0.1), "ternary")
    rng = np.random.default_rng(seed)
    U = rng.choice(problem.levels.values, size=(3, 3))
    U = np.hstack([U, U[:, [0, 1]]])                        # duplicated neurons
    alpha = rng.standard_normal(5)
    net = QuantizedNetwork(U, alpha)
    merged = net.pruned()
    assert merged.width <= 3
    np.testing.assert_allclose(merged.predict(problem.X, problem.activation), net.predict(problem.X, problem.activation),
                               rtol=1e-12, atol=1e-12)
    assert problem.objective(merged.U, merged.alpha) <= problem.objective(U, alpha) + 1e-12


# =============================================================================================
# proofs/frank_wolfe_gap.md (independent of certqnn/backends/frank_wolfe.py)
# =============================================================================================
def test_frank_wolfe_gap_bounds_suboptimality_on_a_toy_problem():
    """F(x) = |Ax - b|^2/2 over the box [-1, 1]^N: exact LMO s = -sign(grad F). At every iterate
    G(x) = <grad F(x), x - s> >= F(x) - F* >= 0, with F* from a bounded least-squares solve."""
    from scipy.optimize import lsq_linear

    rng = np.random.default_rng(0)
    for trial in range(5):
        N = 6
        A = rng.standard_normal((10, N))
        b = rng.standard_normal(10) * 3
        ref = lsq_linear(A, b, bounds=(-1, 1), tol=1e-14, lsmr_tol="auto", method="bvls")
        f_star = 0.5 * float(np.sum((A @ ref.x - b) ** 2))
        x = np.zeros(N)
        for t in range(200):
            grad = A.T @ (A @ x - b)
            s = -np.where(grad >= 0, 1.0, -1.0)
            G = float(grad @ (x - s))
            fx = 0.5 * float(np.sum((A @ x - b) ** 2))
            assert G >= fx - f_star - 1e-9 * (1 + f_star)
            assert fx - G <= f_star + 1e-9 * (1 + f_star)          # a valid lower bound
            x = x + 2.0 / (t + 2) * (s - x)
        assert fx - f_star <= 0.05 * (1 + f_star)                      # FW converges (slowly)
        # an INEXACT vertex understates the gap; e.g. the current point itself gives 0, and
        # F(x) - 0 is then no lower bound: the bound needs the exact LMO
        if fx - f_star > 1e-9 * (1 + f_star):
            assert fx - float(grad @ (x - x)) > f_star


@pytest.mark.parametrize("seed", range(3))
def test_frank_wolfe_gap_over_atoms_with_exact_lmo(seed):
    """Penalized epigraph form over all atoms, tau = L(0)/beta (proofs/frank_wolfe_gap.md Statement 2):
    the gap computed with the exact (enumerated) LMO bounds F(x_t) - p*_inf at every iterate."""
    problem = make_problem(90 + seed, 12, 4, (1.0, 0.5, 0.1), "binary", beta_fraction=0.1)
    bf = brute_force_optimum(problem)
    _, Phi = all_atoms(problem)
    y, beta = problem.y, problem.beta
    tau = 0.5 * float(y @ y) / beta
    yhat, t = np.zeros(problem.n), 0.0
    for it in range(300):
        g = yhat - y
        prices = Phi.T @ g
        j = int(np.argmax(np.abs(prices)))
        if abs(prices[j]) > beta:
            v, tv = -tau * np.sign(prices[j]) * Phi[:, j], tau
        else:
            v, tv = np.zeros(problem.n), 0.0
        G = float(g @ (yhat - v)) + beta * (t - tv)
        Fx = 0.5 * float((yhat - y) @ (yhat - y)) + beta * t
        assert G >= Fx - bf.value - 1e-9 * max(1.0, bf.value)     # F - p* >= F - bf.value
        assert G >= -1e-12
        # exact line search on the segment (quadratic in gamma)
        dy, dt = v - yhat, tv - t
        denom = float(dy @ dy)
        gam = 1.0 if denom == 0 else float(np.clip(-(g @ dy + beta * dt) / denom, 0.0, 1.0))
        yhat, t = yhat + gam * dy, t + gam * dt
    assert Fx < 0.5 * float(y @ y)                                    # FW made progress from F(0) = L(0)


# =============================================================================================
# proofs/certificates/*.json
# =============================================================================================
def test_example_certificates_exist_and_are_small():
    assert len(EXAMPLES) >= 6, f"run `python proofs/make_certificates.py` (found {EXAMPLES})"
    names = {os.path.basename(p) for p in EXAMPLES}
    assert "synthetic_n60_d10_sdp_triangle.json" in names
    for path in EXAMPLES:
        assert os.path.getsize(path) < 300_000, path
    tri = Certificate.read(os.path.join(CERT_DIR, "synthetic_n60_d10_sdp_triangle.json"))
    assert tri.rho_certified_by == "shor" and sum(len(c) for c in (tri.cuts_plus, tri.cuts_minus) if c is not None) > 0


@pytest.mark.parametrize("path", EXAMPLES, ids=os.path.basename)
def test_example_certificates_verify(path, capsys):
    assert cli_main(["verify", path]) == 0
    assert "certificate holds" in capsys.readouterr().out


def _console_script():
    # the venv's bin directory first: `python -m pytest` from the venv need not have it on PATH
    path = os.pathsep.join([os.path.dirname(sys.executable), os.environ.get("PATH", "")])
    return shutil.which("certqnn", path=path)


@pytest.mark.skipif(_console_script() is None, reason="the certqnn console script is not installed")
@pytest.mark.parametrize("path", EXAMPLES, ids=os.path.basename)
def test_example_certificates_verify_with_the_console_script(path):
    proc = subprocess.run([_console_script(), "verify", path], capture_output=True, text=True, timeout=300,
                          env={**os.environ, "CERTQNN_PROGRESS": "0"})
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "certificate holds" in proc.stdout


def _flipped(path, tmp_path, how):
    doc = json.load(open(path, encoding="utf-8"))
    lb, ub = doc["lower_bound"], doc["upper_bound"]
    if how == "swap":                       # LB <-> UB
        doc["lower_bound"], doc["upper_bound"] = ub, lb
    elif how == "raise_lb":                 # LB just above the true optimum
        doc["lower_bound"] = ub * (1 + 1e-9) + 1e-9
    elif how == "lower_ub":                 # UB a hair below the network's objective (files claim ~1e-13 above it)
        doc["upper_bound"] = ub * (1 - 1e-10)
    out = tmp_path / f"{how}-{os.path.basename(path)}"
    out.write_text(json.dumps(doc), encoding="utf-8")
    return str(out)


@pytest.mark.parametrize("how", ["swap", "raise_lb", "lower_ub"])
@pytest.mark.parametrize("path", EXAMPLES, ids=os.path.basename)
def test_flipped_bound_in_example_certificate_is_rejected(path, how, tmp_path, capsys):
    bad = _flipped(path, tmp_path, how)
    assert cli_main(["verify", bad]) == 1
    out = capsys.readouterr().out
    assert "does NOT hold" in out
    expected = {"swap": ("lower_bound", "upper_bound"), "raise_lb": ("lower_bound",), "lower_ub": ("upper_bound",)}[how]
    assert all(f"[FAIL] {name}" in out for name in expected)


@pytest.mark.skipif(_console_script() is None, reason="the certqnn console script is not installed")
@pytest.mark.parametrize("path", EXAMPLES, ids=os.path.basename)
def test_flipped_bound_is_rejected_by_the_console_script(path, tmp_path):
    bad = _flipped(path, tmp_path, "swap")
    proc = subprocess.run([_console_script(), "verify", bad], capture_output=True, text=True, timeout=300,
                          env={**os.environ, "CERTQNN_PROGRESS": "0"})
    assert proc.returncode == 1, proc.stdout + proc.stderr


def test_example_certificates_bracket_each_other():
    """Certificates of the same problem: every LB is below every UB, and the exact (enumeration)
    certificate's optimum lies within each SDP certificate's interval."""
    groups = {}
    for path in EXAMPLES:
        cert = Certificate.read(path)
        key = json.dumps([cert.problem_doc["y"].tolist()[:5], cert.problem_doc["levels"], cert.problem_doc["beta"]])
        groups.setdefault(key, []).append(cert)
    assert len(groups) == 3
    for certs in groups.values():
        assert max(c.lower_bound for c in certs) <= min(c.upper_bound for c in certs)
        exact = [c for c in certs if c.rho_certified_by == "exact"]
        assert exact and exact[0].relative_gap <= 1e-6
        for c in certs:
            if "exact_value" in c.tightness:
                assert c.lower_bound <= c.tightness["exact_value"] <= c.upper_bound * (1 + 1e-12)


# =============================================================================================
# proofs/*.md stay in step with the tests
# =============================================================================================
PAGES = sorted(glob.glob(os.path.join(ROOT, "proofs", "*.md")))


def _defined_tests(path):
    import ast

    tree = ast.parse(open(os.path.join(ROOT, path), encoding="utf-8").read())
    return {n.name for n in ast.walk(tree) if isinstance(n, ast.FunctionDef)}


@pytest.mark.parametrize("page", PAGES, ids=os.path.basename)
def test_every_proof_page_names_existing_tests(page):
    """Every test a proof page cites exists: `tests/FILE.py::test_name`, a bare `tests/FILE.py`,
    and in the README index `FILE.py::name` followed by `::name` (same file). Every statement page
    has a 'Checked numerically by' line."""
    import re

    text = open(page, encoding="utf-8").read()
    refs = []
    if page.endswith("README.md"):
        for line in text.splitlines():
            current = None
            for token in re.findall(r"`([^`]+)`", line):
                m = re.fullmatch(r"(?:tests/)?(test_\w+\.py)(?:::(\w+))?(?: \(all\))?", token)
                if m:
                    current = "tests/" + m.group(1)
                    refs.append((current, m.group(2)))
                elif token.startswith("::") and current:
                    refs.append((current, token[2:]))
        assert len(refs) >= 20
    else:
        assert "Checked numerically by" in text, page
        refs = [(f, n or None) for f, n in re.findall(r"`(tests/[\w/]+\.py)(?:::(\w+))?`", text)]
        assert refs, f"{page} names no test"
    for path, name in refs:
        assert os.path.exists(os.path.join(ROOT, path)), f"{page}: {path} does not exist"
        if name:
            assert name in _defined_tests(path), f"{page}: {path}::{name} does not exist"
