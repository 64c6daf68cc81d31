"""The verifier's rigorous arithmetic (docs/math.md §8): every check is compared against exact rational
arithmetic (fractions.Fraction), so a floating-point shortcut that could let a false claim pass
shows up as a failure here."""
import itertools
import math
from fractions import Fraction as F

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from certqnn import Polynomial
from certqnn.losses import SquaredLoss
from certqnn.trusted.bounds import objective_upper_bound, scaled_dual_lower_bound
from certqnn.trusted.psd import cholesky_succeeds, is_psd_rigorous
from certqnn.trusted.rho import exact_rho_bound, q_matrix_with_error, shor_rho_bound

SQUARED = SquaredLoss()

seeds = st.integers(0, 2 ** 32 - 1)


# -- exact references ---------------------------------------------------------------------------
def exact_psd(M) -> bool:
    """Exact PSD test of a matrix of floats/Fractions: symmetric elimination with diagonal pivoting
    (M >= 0 iff the largest pivot is >= 0 and its Schur complement is >= 0; a zero largest pivot
    forces the remaining block to vanish)."""
    A = [[F(x) for x in row] for row in np.asarray(M, dtype=object).tolist()]
    idx = list(range(len(A)))
    while idx:
        k = max(idx, key=lambda i: A[i][i])
        p = A[k][k]
        if p < 0:
            return False
        if p == 0:
            return all(A[i][j] == 0 for i in idx for j in idx)
        idx.remove(k)
        for i in idx:
            f = A[i][k] / p
            if f:
                for j in idx:
                    A[i][j] -= f * A[k][j]
    return True


def exact_objective(X, y, act, U, alpha, beta):
    a, b, c = F(act.a), F(act.b), F(act.c)
    Xf = [[F(v) for v in row] for row in X.tolist()]
    Uf = [[F(v) for v in row] for row in U.tolist()]
    al = [F(v) for v in alpha.tolist()]
    total = F(0)
    for i, x in enumerate(Xf):
        f = F(0)
        for j, aj in enumerate(al):
            t = sum((x[k] * Uf[k][j] for k in range(len(x))), F(0))
            f += aj * ((a * t + b) * t + c)
        r = f - F(y[i])
        total += r * r / 2
    return total + F(beta) * sum((abs(v) for v in al), F(0))


def exact_q(Xb, act, w):
    n, p = Xb.shape
    Q = [[F(0)] * (p + 1) for _ in range(p + 1)]
    a, b, c = F(act.a), F(act.b), F(act.c)
    for i in range(n):
        xt = [F(v) for v in Xb[i].tolist()] + [F(1)]
        wi = F(w[i])
        for k in range(p + 1):
            for l in range(p + 1):
                if k < p and l < p:
                    coef = a
                elif k == p and l == p:
                    coef = c
                else:
                    coef = b / 2
                Q[k][l] += wi * coef * xt[k] * xt[l]
    return Q


def exact_rho(Q):
    p = len(Q) - 1
    best = F(0)
    for u in itertools.product((-1, 1), repeat=p):
        ut = list(u) + [1]
        v = sum((Q[k][l] * ut[k] * ut[l] for k in range(p + 1) for l in range(p + 1)), F(0))
        best = max(best, abs(v))
    return best


# -- is_psd_rigorous ----------------------------------------------------------------------------
def test_rejects_tiny_negative_eigenvalue_2x2():
    delta = 2.0 ** -40                    # det = -delta exactly: lambda_min ~ -2.3e-13 relative
    M = np.array([[1.0, 1.0], [1.0, 1.0 - delta]])
    assert not exact_psd(M)
    ok, why = is_psd_rigorous(M, np.zeros((2, 2)))
    assert not ok, why


@pytest.mark.parametrize("seed", range(10))
@pytest.mark.parametrize("D", [3, 6, 12])
def test_rejects_rank_one_minus_a_tiny_diagonal(seed, D):
    """M = v v^T - delta e_k e_k^T (exact in floating point) is indefinite; |lambda_min| ~ 1e-12 |M|."""
    rng = np.random.default_rng(seed)
    v = rng.integers(-9, 10, size=D).astype(float)
    v[0] = 5.0
    M = np.outer(v, v)
    k = int(rng.integers(D))
    delta = 2.0 ** math.floor(math.log2(1e-12 * float(v @ v)))
    M[k, k] -= delta
    assert M[k, k] + delta == v[k] ** 2                      # the subtraction was exact
    assert not exact_psd(M)
    assert abs(np.linalg.eigvalsh(M)[0]) <= 1e-11 * float(v @ v)
    ok, _ = is_psd_rigorous(M, np.zeros((D, D)))
    assert not ok


@pytest.mark.parametrize("rel", [1e-12, 1e-10, 1e-8])
@pytest.mark.parametrize("seed", range(8))
def test_rejects_relative_negative_eigenvalue(rel, seed):
    rng = np.random.default_rng(seed)
    D = 5
    Qm, _ = np.linalg.qr(rng.standard_normal((D, D)))
    lam = np.concatenate([[-rel], rng.uniform(0.5, 2.0, D - 1)])
    M = (Qm * lam) @ Qm.T
    M = 0.5 * (M + M.T)
    if exact_psd(M):               # rounding in the construction moved it; nothing to check then
        pytest.skip("construction rounded to a PSD matrix")
    assert not is_psd_rigorous(M, np.zeros((D, D)))[0]


@pytest.mark.parametrize("seed", range(10))
@pytest.mark.parametrize("D", [1, 2, 5, 20, 60])
def test_accepts_clearly_positive_definite(seed, D):
    rng = np.random.default_rng(seed)
    B = rng.standard_normal((D, D))
    M = B @ B.T + 0.1 * np.eye(D)
    assert is_psd_rigorous(M, np.zeros((D, D)))[0]
    assert is_psd_rigorous(M, np.full((D, D), 1e-9))[0]
    assert is_psd_rigorous(1e-200 * M, np.zeros((D, D)))[0]        # scale invariance at the small end
    assert is_psd_rigorous(1e200 * M, np.zeros((D, D)))[0]


def test_accepts_a_positive_definite_matrix_with_small_margin():
    delta = 2.0 ** -20                    # lambda_min ~ 2.4e-7: far above the rounding margin
    M = np.array([[1.0, 1.0], [1.0, 1.0 + delta]])
    assert is_psd_rigorous(M, np.zeros((2, 2)))[0]


@pytest.mark.parametrize("e", [1.0 + 1e-7, 1.5, 10.0])
def test_error_bound_is_respected(e):
    """M = I is PD, but a member of the box |M' - I| <= E is indefinite: must be rejected."""
    E = np.array([[0.0, e], [e, 0.0]])
    assert not is_psd_rigorous(np.eye(2), E)[0]


def test_rejects_non_finite():
    M = np.eye(3)
    M[0, 1] = M[1, 0] = np.nan
    assert not is_psd_rigorous(M, np.zeros((3, 3)))[0]
    assert not is_psd_rigorous(np.eye(3), np.full((3, 3), np.inf))[0]


@settings(max_examples=120)
@given(D=st.integers(1, 6), seed=seeds, shift=st.sampled_from([-1e-6, -1e-10, -1e-13, -1e-15, 0.0, 1e-15, 1e-13,
                                                                   1e-10, 1e-6]),
       err=st.sampled_from([0.0, 1e-16, 1e-13, 1e-9]), scale_exp=st.integers(-5, 5))
def test_psd_test_is_sound_against_exact_arithmetic(D, seed, shift, err, scale_exp):
    """Whenever is_psd_rigorous accepts (M, E), M itself and the worst member of the box along the
    approximate bottom eigenvector are PSD in exact arithmetic."""
    rng = np.random.default_rng(seed)
    A = rng.standard_normal((D, D)) * 10.0 ** scale_exp
    A = 0.5 * (A + A.T)
    vals = np.linalg.eigvalsh(A)
    norm = max(abs(vals[0]), abs(vals[-1]), 1e-300)
    M = A - (vals[0] - shift * norm) * np.eye(D)                 # lambda_min ~ shift * |A|
    M = 0.5 * (M + M.T)
    E = np.abs(M) * err
    ok, _ = is_psd_rigorous(M, E)
    if not ok:
        return
    assert exact_psd(M)
    x = np.linalg.eigh(M)[1][:, 0]
    sign = np.sign(np.outer(x, x))
    worst = [[F(M[i, j]) - F(E[i, j]) * F(sign[i, j]) for j in range(D)] for i in range(D)]
    assert exact_psd(worst)


def test_cholesky_factor():
    rng = np.random.default_rng(0)
    B = rng.standard_normal((6, 6))
    A = B @ B.T + np.eye(6)
    R = cholesky_succeeds(A)
    np.testing.assert_allclose(R.T @ R, A, rtol=1e-12, atol=1e-12)
    assert np.allclose(R, np.triu(R))
    assert cholesky_succeeds(-A) is None


# -- objective upper bound ----------------------------------------------------------------------
ACTS = [Polynomial(1, 0, 0), Polynomial(1, 0.5, -0.3), Polynomial(-2.5, 1e3, 7.0), Polynomial(1e-3, -1, 1e4),
        Polynomial(0, 1, 0)]


@settings(max_examples=60)
@given(seed=seeds, n=st.integers(1, 6), d=st.integers(1, 4), m=st.integers(0, 4), act=st.sampled_from(ACTS),
       xexp=st.integers(-8, 8), mode=st.sampled_from(["plain", "fit", "cancel", "mixed"]),
       beta=st.sampled_from([1e-8, 0.3, 1.0, 1e6]))
def test_objective_upper_bound_dominates_the_exact_objective(seed, n, d, m, act, xexp, mode, beta):
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, d)) * 10.0 ** xexp
    if mode == "mixed":
        X *= 10.0 ** rng.integers(-6, 7, size=(n, d))
    U = rng.choice([-3.0, -1.0, -0.5, 0.0, 0.5, 1.0, 3.0], size=(d, m))
    alpha = rng.standard_normal(m) * 10.0 ** rng.integers(-3, 4, size=m)
    if mode == "cancel" and m >= 2:            # two opposite neurons: f is a difference of huge terms
        U[:, 1] = U[:, 0]
        alpha[1] = -alpha[0] * (1 + 1e-12)
    yhat = act(X @ U) @ alpha
    y = rng.standard_normal(n) * (1 + np.abs(yhat))
    if mode == "fit":                          # residuals at rounding level: worst relative error
        y = yhat.copy()
    ub = objective_upper_bound(SQUARED, X, y, act, U, alpha, beta)
    J = exact_objective(X, y, act, U, alpha, beta)
    assert math.isfinite(ub)
    assert F(ub) >= J, f"upper bound {ub!r} below the exact objective {float(J)!r}"


@pytest.mark.parametrize("seed", range(5))
def test_objective_upper_bound_is_tight_on_benign_data(seed):
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((15, 4))
    U = rng.choice([-1.0, 1.0], size=(4, 3))
    alpha = rng.standard_normal(3)
    y = rng.standard_normal(15)
    act = Polynomial(1, 0.5, 0.1)
    ub = objective_upper_bound(SQUARED, X, y, act, U, alpha, 0.7)
    J = exact_objective(X, y, act, U, alpha, 0.7)
    assert F(ub) >= J
    assert ub <= float(J) * (1 + 1e-12)


# -- Q(w) with error bound, rho bounds ------------------------------------------------------------
@settings(max_examples=40)
@given(seed=seeds, n=st.integers(1, 8), p=st.integers(1, 4), act=st.sampled_from(ACTS), wexp=st.integers(-6, 6),
       cancel=st.booleans())
def test_q_matrix_error_bound_is_valid(seed, n, p, act, wexp, cancel):
    rng = np.random.default_rng(seed)
    Xb = rng.standard_normal((n, p)) * 10.0 ** rng.integers(-3, 4, size=(n, p))
    w = rng.standard_normal(n) * 10.0 ** wexp
    if cancel and n >= 2:
        Xb[1] = Xb[0]
        w[1] = -w[0] * (1 + 2.0 ** -30)
    Q, E = q_matrix_with_error(Xb, act, w)
    Qx = exact_q(Xb, act, w)
    for k in range(p + 1):
        for l in range(p + 1):
            assert abs(F(Q[k, l]) - Qx[k][l]) <= F(E[k, l]), (k, l)


@settings(max_examples=30)
@given(seed=seeds, n=st.integers(1, 8), p=st.integers(1, 5), act=st.sampled_from(ACTS))
def test_exact_rho_bound_dominates_exact_rho(seed, n, p, act):
    rng = np.random.default_rng(seed)
    Xb = rng.choice([-1.0, 1.0], size=(n, p)) * rng.standard_normal((n, 1))
    w = rng.standard_normal(n)
    Q, E = q_matrix_with_error(Xb, act, w)
    rho_bar, _ = exact_rho_bound(Q, E, act.is_even)
    assert F(rho_bar) >= exact_rho(exact_q(Xb, act, w))
    # and it covers every Q within the error box: |u~^T dQ u~| <= sum E
    Qh = [[F(v) for v in row] for row in Q.tolist()]
    assert F(rho_bar) >= exact_rho(Qh) + sum((F(v) for v in E.ravel().tolist()), F(0))


@settings(max_examples=40)
@given(seed=seeds, n=st.integers(1, 8), p=st.integers(1, 5), act=st.sampled_from(ACTS),
       slack=st.sampled_from([0.0, 1e-14, 1e-9, 1e-3]))
def test_shor_rho_bound_dominates_exact_rho(seed, n, p, act, slack):
    """Any z accepted by shor_rho_bound gives 1^T z >= max |u~^T Q(w) u~| exactly."""
    rng = np.random.default_rng(seed)
    Xb = rng.standard_normal((n, p))
    w = rng.standard_normal(n)
    Q, E = q_matrix_with_error(Xb, act, w)
    # a z guess: the diagonal plus Gershgorin-like row sums, then shrunk to be nearly tight
    zp = np.diag(Q) + np.abs(Q - np.diag(np.diag(Q))).sum(1)
    zm = -np.diag(Q) + np.abs(Q - np.diag(np.diag(Q))).sum(1)
    lp = np.linalg.eigvalsh(np.diag(zp) - Q)[0]
    lm = np.linalg.eigvalsh(np.diag(zm) + Q)[0]
    scale = max(1.0, float(np.abs(Q).max()))
    zp = zp - lp + slack * scale
    zm = zm - lm + slack * scale
    rho_bar, why = shor_rho_bound(Q, E, zp, zm)
    if rho_bar is None:
        assert slack <= 1e-9, why        # with 1e-3 of slack the test must pass
        return
    assert F(rho_bar) >= exact_rho(exact_q(Xb, act, w))
    assert F(rho_bar) >= max(sum(F(v) for v in zp.tolist()), sum(F(v) for v in zm.tolist()))


def test_shor_rho_bound_rejects_malformed_z():
    Q = np.eye(3)
    E = np.zeros((3, 3))
    assert shor_rho_bound(Q, E, np.ones(2), np.ones(3))[0] is None
    assert shor_rho_bound(Q, E, np.array([1, 1, np.nan]), np.ones(3))[0] is None
    assert shor_rho_bound(Q, E, np.full(3, 0.5), np.ones(3))[0] is None        # Diag(z+) - Q not PSD
    assert shor_rho_bound(Q, E, np.full(3, 2.0), np.full(3, -1.5))[0] is None  # Diag(z-) + Q not PSD
    rho, _ = shor_rho_bound(Q, E, np.full(3, 2.0), np.zeros(3))
    assert 6.0 <= rho <= 6.0 * (1 + 1e-15)                                      # max(1^T z+, 1^T z-), rounded up


# -- scaled dual lower bound --------------------------------------------------------------------
def exact_g(s, w, y):
    fs = F(s)
    wy = sum((F(a) * F(b) for a, b in zip(w.tolist(), y.tolist())), F(0))
    ww = sum((F(a) * F(a) for a in w.tolist()), F(0))
    return -fs * wy - fs * fs * ww / 2


@settings(max_examples=150)
@given(seed=seeds, n=st.integers(1, 12), wexp=st.integers(-8, 8), rho_exp=st.integers(-8, 8),
       beta=st.sampled_from([1e-10, 1e-3, 0.7, 1.0, 3.0, 1e5]), aligned=st.booleans(),
       rho_kind=st.sampled_from(["random", "zero", "awkward"]))
def test_scaled_dual_lower_bound_is_below_exact_g(seed, n, wexp, rho_exp, beta, aligned, rho_kind):
    rng = np.random.default_rng(seed)
    y = rng.standard_normal(n)
    w = rng.standard_normal(n) * 10.0 ** wexp
    if aligned:                                   # w ~ -y: the optimal scale is interior
        w = -y * 10.0 ** wexp + 1e-3 * w
    rho_bar = {"random": float(rng.uniform(0.1, 10.0)) * 10.0 ** rho_exp, "zero": 0.0,
               "awkward": beta / 3.0 * (1 + 2.0 ** -52)}[rho_kind]
    lb, s = scaled_dual_lower_bound(SQUARED, w, y, rho_bar, beta)
    assert s >= 0.0
    assert F(s) * F(rho_bar) <= F(beta)           # s w is dual feasible exactly
    g = exact_g(s, w, y)
    assert F(lb) <= g                             # rounded down
    assert float(g) - lb <= 4 * math.ulp(float(g)) + 1e-300
    # s is (close to) the best feasible scale: no other candidate does better by more than rounding
    ww, wy = float(w @ w), float(w @ y)
    s_best = min(max(-wy / ww, 0.0), beta / rho_bar if rho_bar > 0 else math.inf) if ww > 0 else 0.0
    assert float(g) >= float(exact_g(s_best, w, y)) - 1e-9 * (abs(float(g)) + 1e-300)


@pytest.mark.parametrize("scale", [0.0, 0.5, 1.0, 7.0, 1e9])
def test_scaled_dual_lower_bound_with_explicit_scale(scale):
    rng = np.random.default_rng(1)
    y = rng.standard_normal(5)
    w = -0.5 * y
    rho_bar, beta = 2.0, 1.0
    lb, s = scaled_dual_lower_bound(SQUARED, w, y, rho_bar, beta, scale=scale)
    assert s == min(scale, 0.5)                    # clipped to beta / rho_bar
    assert F(lb) <= exact_g(s, w, y)


def test_lower_bound_at_the_optimum_of_a_one_atom_problem():
    """phi = (1, 0), y = (2, 0), beta = 1: alpha* = 1, p* = 1/2 + 1 = 1.5; w* = (-1, 0), rho = 1."""
    w = np.array([-1.0, 0.0])
    y = np.array([2.0, 0.0])
    lb, s = scaled_dual_lower_bound(SQUARED, w, y, 1.0, 1.0)
    assert s == 1.0 and lb == 1.5
    ub = objective_upper_bound(SQUARED, np.array([[1.0], [0.0]]), y, Polynomial(0, 1, 0), np.array([[1.0]]), np.array([1.0]), 1.0)
    assert ub >= 1.5 and ub <= 1.5 * (1 + 1e-14)


def test_a_claim_between_the_exact_objective_and_the_float_bound_is_decided_exactly():
    """The floating-point bound sits a few ulps above J; a claim inside that window is settled in
    exact rational arithmetic: accepted at or above J, refused one step below it."""
    import dataclasses
    import math as _math
    from fractions import Fraction as _F

    from certqnn import QNNProblem, certify, solve
    from certqnn.trusted.bounds import exact_objective, objective_upper_bound
    from certqnn.trusted.verify import verify as _verify

    rng = np.random.default_rng(11)
    problem = QNNProblem(rng.standard_normal((30, 4)), rng.standard_normal(30), beta=0.7)
    cert = certify(problem, solve(problem, "enumeration"))
    args = (problem.loss, problem.X, problem.y, problem.activation, cert.U, cert.alpha, problem.beta)
    J = exact_objective(*args)
    fast = objective_upper_bound(*args)
    assert _F(fast) >= J
    at_or_above = float(J) if _F(float(J)) >= J else _math.nextafter(float(J), _math.inf)
    below = _math.nextafter(at_or_above, -_math.inf)
    assert at_or_above < fast           # the window exists: the float bound alone would refuse this claim
    ok = _verify(dataclasses.replace(cert, upper_bound=at_or_above, gap=cert.gap + 1.0, relative_gap=1.0))
    assert "upper_bound" not in [c.name for c in ok.failed]
    bad = _verify(dataclasses.replace(cert, upper_bound=below, gap=cert.gap + 1.0, relative_gap=1.0))
    assert "upper_bound" in [c.name for c in bad.failed]
