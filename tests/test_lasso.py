"""certqnn.lasso (refit, feature_sign) and certqnn.qp: min_a |Phi a - y|^2 / 2 + beta |a|_1 (docs/math.md §3, §7)."""
import itertools

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.optimize import minimize

from certqnn.errors import UnsupportedProblemError
from certqnn.lasso import caratheodory_reduce, feature_sign, kkt_residual, refit
from certqnn.losses import SquaredLoss
from certqnn.qp import l1_qp
from strategies import lasso_instances


def lasso_objective(Phi, y, beta, a):
    r = Phi @ a - y
    return 0.5 * float(r @ r) + beta * float(np.abs(a).sum())


def exact_reference(Phi, y, beta):
    """Exact Lasso optimum for tiny m: some optimal solution has a support S with linearly
    independent columns and signs theta, where a_S = G_SS^{-1} (c_S - beta theta_S). Every
    sign-consistent candidate is feasible, so the smallest objective among them is p*."""
    n, m = Phi.shape
    G, c = Phi.T @ Phi, Phi.T @ y
    best = lasso_objective(Phi, y, beta, np.zeros(m))
    for k in range(1, min(m, n) + 1):
        for S in itertools.combinations(range(m), k):
            S = list(S)
            GS = G[np.ix_(S, S)]
            if np.linalg.matrix_rank(Phi[:, S]) < k:
                continue
            for theta in itertools.product((-1.0, 1.0), repeat=k):
                theta = np.array(theta)
                aS = np.linalg.solve(GS, c[S] - beta * theta)
                if np.all(aS * theta > 0):
                    a = np.zeros(m)
                    a[S] = aS
                    best = min(best, lasso_objective(Phi, y, beta, a))
    return best


def scipy_reference(Phi, y, beta):
    """High-accuracy L-BFGS-B on the split form a = p - q, p, q >= 0 (smooth, bound constrained)."""
    m = Phi.shape[1]

    def f(x):
        a = x[:m] - x[m:]
        r = Phi @ a - y
        g = Phi.T @ r
        return 0.5 * r @ r + beta * x.sum(), np.concatenate([g + beta, -g + beta])

    res = minimize(f, np.zeros(2 * m), jac=True, method="L-BFGS-B", bounds=[(0, None)] * (2 * m),
                   options={"ftol": 1e-15, "gtol": 1e-13, "maxiter": 20000, "maxcor": 50})
    return float(res.fun)


def assert_kkt(Phi, y, beta, alpha, rtol=1e-6):
    w = Phi @ alpha - y
    corr = Phi.T @ w
    scale = beta + 1e-12 * float(np.abs(Phi).max() * np.abs(y).max())
    nz = alpha != 0
    assert np.all(np.abs(corr[nz] + beta * np.sign(alpha[nz])) <= rtol * scale), \
        f"nonzero coefficients violate phi_j^T w = -beta sign(alpha_j): {corr[nz]} vs {-beta * np.sign(alpha[nz])}"
    assert np.all(np.abs(corr[~nz]) <= beta * (1 + rtol)), \
        f"zero coefficients violate |phi_j^T w| <= beta: max {np.abs(corr[~nz]).max(initial=0)} > {beta}"


@settings(max_examples=60)
@given(lasso_instances(max_n=10, max_m=6))
def test_refit_is_exact_on_tiny_instances(inst):
    Phi, y, beta = inst
    sol = refit(Phi, y, beta)
    ref = exact_reference(Phi, y, beta)
    assert sol.objective == pytest.approx(lasso_objective(Phi, y, beta, sol.alpha), rel=1e-13)
    assert sol.objective <= ref + 1e-9 * max(1.0, abs(ref))
    assert sol.objective >= ref - 1e-9 * max(1.0, abs(ref))
    assert_kkt(Phi, y, beta, sol.alpha)
    # its own dual bound is a valid lower bound and closes the gap
    assert sol.lower_bound <= ref + 1e-10 * max(1.0, abs(ref))
    assert sol.gap == pytest.approx(sol.objective - sol.lower_bound, abs=1e-12)
    assert sol.gap <= 1e-7 * max(1.0, abs(sol.objective))


@settings(max_examples=15)
@given(lasso_instances(max_n=20, max_m=30))
def test_refit_matches_scipy_reference(inst):
    Phi, y, beta = inst
    sol = refit(Phi, y, beta)
    ref = scipy_reference(Phi, y, beta)
    # L-BFGS-B is only approximately optimal: refit must be at least as good, and close
    assert sol.objective <= ref + 1e-9 * max(1.0, abs(ref))
    assert sol.objective >= ref - 1e-6 * max(1.0, abs(ref))
    assert_kkt(Phi, y, beta, sol.alpha)


@pytest.mark.parametrize("seed", range(6))
@pytest.mark.parametrize("n, m, r", [(6, 40, 6), (8, 60, 3), (5, 25, 5), (12, 80, 7)])
def test_caratheodory_sparsity(seed, n, m, r):
    """Many collinear atoms (m >> n, rank r): at most rank + 1 nonzeros survive (docs/math.md §1)."""
    rng = np.random.default_rng(seed)
    Phi = rng.standard_normal((n, r)) @ rng.standard_normal((r, m))
    y = rng.standard_normal(n)
    beta = 0.05 * float(np.max(np.abs(Phi.T @ y)))
    sol = refit(Phi, y, beta)
    rank = np.linalg.matrix_rank(Phi)
    assert rank == r
    assert np.count_nonzero(sol.alpha) <= rank + 1
    assert_kkt(Phi, y, beta, sol.alpha)
    assert sol.gap <= 1e-7 * max(1.0, abs(sol.objective))


def test_quantized_atoms_are_highly_collinear_but_refit_stays_sparse():
    """Real atoms sigma(X u) over all u live in a space of dimension <= (p+1)(p+2)/2."""
    rng = np.random.default_rng(3)
    p, n = 5, 40
    X = rng.standard_normal((n, p))
    U = 1.0 - 2.0 * ((np.arange(2 ** p)[None, :] >> np.arange(p)[:, None]) & 1)
    Phi = (X @ U) ** 2 + 0.3 * (X @ U)
    y = rng.standard_normal(n)
    beta = 0.02 * float(np.max(np.abs(Phi.T @ y)))
    sol = refit(Phi, y, beta)
    assert np.count_nonzero(sol.alpha) <= np.linalg.matrix_rank(Phi) + 1
    assert_kkt(Phi, y, beta, sol.alpha)
    assert sol.objective <= scipy_reference(Phi, y, beta) + 1e-9 * sol.objective


@pytest.mark.parametrize("seed", range(5))
def test_caratheodory_reduce_keeps_prediction_and_l1_norm(seed):
    rng = np.random.default_rng(seed)
    Phi = rng.standard_normal((4, 15))
    alpha = rng.standard_normal(15)
    reduced = caratheodory_reduce(Phi, alpha)
    assert np.count_nonzero(reduced) <= 5
    np.testing.assert_allclose(Phi @ reduced, Phi @ alpha, rtol=1e-9, atol=1e-9)
    # signs never flip, so |alpha|_1 is preserved exactly along the move
    assert np.all(reduced * alpha >= 0)
    assert np.abs(reduced).sum() == pytest.approx(np.abs(alpha).sum(), rel=1e-9)


@pytest.mark.parametrize("order", ["C", "F"])
def test_caratheodory_reduce_sums_its_gram_over_row_blocks_in_either_memory_order(order):
    """More rows than one block of the in-place Gram accumulation, Phi in the layout of a plain
    array (C) or of the master's buffer (F), some atoms unused: rank + 1 atoms survive with the
    same prediction and l1 norm."""
    from certqnn import lasso

    rng = np.random.default_rng(7)
    n, m, r = 2 * lasso._CARATHEODORY_BLOCK + 37, 60, 9
    A = rng.standard_normal((n, r))
    A[:-40, :4] = 0.0                     # four of the directions only in the last block's rows
    Phi = np.asarray(A @ rng.standard_normal((r, m)), order=order)
    alpha = rng.standard_normal(m) * (rng.random(m) < 0.8)
    reduced = caratheodory_reduce(Phi, alpha)
    assert np.count_nonzero(reduced) == r + 1
    assert np.all(reduced * alpha >= 0) and np.all(reduced[alpha == 0] == 0)
    np.testing.assert_allclose(Phi @ reduced, Phi @ alpha, rtol=1e-9, atol=1e-9)
    assert np.abs(reduced).sum() == pytest.approx(np.abs(alpha).sum(), rel=1e-9)


def test_large_beta_gives_zero_solution():
    rng = np.random.default_rng(1)
    Phi, y = rng.standard_normal((8, 5)), rng.standard_normal(8)
    beta = 1.0001 * float(np.max(np.abs(Phi.T @ y)))
    sol = refit(Phi, y, beta)
    assert np.all(sol.alpha == 0)
    assert sol.objective == pytest.approx(0.5 * float(y @ y), rel=1e-15)
    assert sol.lower_bound <= sol.objective


def test_no_atoms():
    y = np.array([1.0, -2.0])
    sol = refit(np.zeros((2, 0)), y, 1.0)
    assert sol.alpha.shape == (0,) and sol.objective == 2.5 and sol.gap == 0.0


def test_duplicate_atoms_split_weight_without_changing_the_value():
    rng = np.random.default_rng(2)
    Phi = rng.standard_normal((10, 3))
    y = rng.standard_normal(10)
    beta = 0.2 * float(np.max(np.abs(Phi.T @ y)))
    single = refit(Phi, y, beta)
    doubled = refit(np.hstack([Phi, Phi]), y, beta)
    assert doubled.objective == pytest.approx(single.objective, rel=1e-10)
    np.testing.assert_allclose(doubled.alpha[:3] + doubled.alpha[3:], single.alpha, atol=1e-7)


@settings(max_examples=60)
@given(lasso_instances(max_n=10, max_m=6), st.integers(0, 2 ** 32 - 1), st.sampled_from([1e-3, 1.0, 1e3]))
def test_warm_start_gives_the_cold_optimum(inst, seed, size):
    """alpha0 only starts the feature-sign search: any start (dense, of any size, on dependent
    atoms) ends at the same optimum value, and at a KKT point."""
    Phi, y, beta = inst
    alpha0 = size * np.random.default_rng(seed).standard_normal(Phi.shape[1])
    cold, warm = refit(Phi, y, beta), refit(Phi, y, beta, alpha0=alpha0)
    assert warm.objective == pytest.approx(cold.objective, rel=1e-10, abs=1e-12)
    assert warm.objective <= exact_reference(Phi, y, beta) + 1e-9 * max(1.0, abs(cold.objective))
    assert_kkt(Phi, y, beta, warm.alpha)


def test_warm_start_at_the_optimum_takes_no_step():
    rng = np.random.default_rng(4)
    Phi, y = rng.standard_normal((12, 6)), rng.standard_normal(12)
    beta = 0.1 * float(np.max(np.abs(Phi.T @ y)))
    G, c = Phi.T @ Phi, Phi.T @ y
    a = feature_sign(G, c, beta)
    assert kkt_residual(G, c, beta, a) <= 1e-12
    np.testing.assert_array_equal(feature_sign(G, c, beta, a, max_steps=1), a)


def test_alpha0_of_the_wrong_size_is_rejected():
    rng = np.random.default_rng(0)
    with pytest.raises(ValueError):
        refit(rng.standard_normal((5, 3)), rng.standard_normal(5), 0.1, alpha0=np.zeros(4))


def test_refit_needs_a_quadratic_loss_and_names_it():
    class Other(SquaredLoss):
        name = "other"

        def quadratic(self, y):
            return None

    rng = np.random.default_rng(0)
    with pytest.raises(UnsupportedProblemError, match="'other'"):
        refit(rng.standard_normal((5, 3)), rng.standard_normal(5), 0.1, Other())


@settings(max_examples=20, deadline=None)
@given(lasso_instances(max_n=12, max_m=8))
def test_penalized_qp_agrees_with_feature_sign(inst):
    Phi, y, beta = inst
    G, c = Phi.T @ Phi, Phi.T @ y
    a = l1_qp(G, c, beta)
    assert lasso_objective(Phi, y, beta, a) == pytest.approx(refit(Phi, y, beta).objective, rel=1e-7, abs=1e-9)


@settings(max_examples=20, deadline=None)
@given(lasso_instances(max_n=12, max_m=8), st.sampled_from([0.0, 0.5]), st.sampled_from([0.1, 0.5, 0.9]))
def test_budgeted_qp_is_feasible_and_optimal(inst, weight, frac):
    """min |Phi a - y|^2/2 + weight beta |a|_1 s.t. |a|_1 <= tau, tau a fraction of the unconstrained
    l1 norm: the budget binds, and the point beats every feasible point of a 1-D family."""
    Phi, y, beta = inst
    G, c = Phi.T @ Phi, Phi.T @ y
    penalty = weight * beta
    free = l1_qp(G, c, penalty) if penalty > 0 else np.linalg.lstsq(Phi, y, rcond=None)[0]
    tau = frac * float(np.abs(free).sum())
    if tau <= 1e-8:
        return
    a = l1_qp(G, c, penalty, tau=tau, tol=1e-12)
    assert np.abs(a).sum() <= tau * (1 + 1e-12)

    def value(x):
        r = Phi @ x - y
        return 0.5 * r @ r + penalty * np.abs(x).sum()

    # KKT of the budgeted problem: (G a - c)_j = -(penalty + lam) sign(a_j) on the support,
    # |G a - c|_j <= penalty + lam off it, for one lam >= 0
    g = G @ a - c
    nz = np.abs(a) > 1e-9 * max(1.0, np.abs(a).max())
    if nz.any():
        lam = float(np.median(-g[nz] * np.sign(a[nz]))) - penalty
        scale = max(1.0, float(np.abs(c).max()))
        assert lam >= -1e-6 * scale
        assert np.all(np.abs(g[~nz]) <= penalty + lam + 1e-6 * scale)
        assert value(a) <= value(free * (tau / np.abs(free).sum())) + 1e-9 * max(1.0, value(a))


@settings(max_examples=40, deadline=None)
@given(seed=st.integers(0, 2 ** 31 - 1), k=st.integers(1, 12), smallest=st.sampled_from([0.0, 1e-12, 1e-6, 0.1, 1.0]))
def test_the_cholesky_shortcut_sees_an_eigenvalue_below_the_level(seed, k, smallest):
    """_no_null_vector(gram, level) is True exactly when every eigenvalue exceeds the level
    (eigenvalues placed well clear of it), reading the upper triangle only."""
    from certqnn.lasso import _no_null_vector

    rng = np.random.default_rng(seed)
    V, _ = np.linalg.qr(rng.standard_normal((k, k)))
    vals = np.concatenate([[smallest], 1.0 + rng.random(k - 1)])
    gram = (V * vals) @ V.T
    gram[np.tril_indices(k, -1)] = rng.standard_normal(k * (k - 1) // 2)     # junk below the diagonal
    for level in (1e-9, 1e-4):
        assert _no_null_vector(gram, level) == (smallest > level)
    before = gram.copy()
    _no_null_vector(gram, 1e-9)
    np.testing.assert_array_equal(gram, before)


@pytest.mark.parametrize("seed", range(3))
def test_caratheodory_reduce_leaves_independent_atoms_alone(seed):
    """Fewer atoms than rows, independent outputs: no null vector, alpha comes back unchanged
    (by the Cholesky shortcut); two dependent columns added (a null vector of the outputs that
    also keeps the l1 norm): the reduction still removes one atom."""
    rng = np.random.default_rng(seed)
    Phi = rng.standard_normal((50, 20))
    alpha = rng.standard_normal(20)
    np.testing.assert_array_equal(caratheodory_reduce(Phi, alpha), alpha)
    Phi2 = np.hstack([Phi, Phi[:, :3] @ rng.standard_normal((3, 2))])
    alpha2 = np.append(alpha, [0.5, -0.25])
    reduced = caratheodory_reduce(Phi2, alpha2)
    assert np.count_nonzero(reduced) == 21
    np.testing.assert_allclose(Phi2 @ reduced, Phi2 @ alpha2, rtol=1e-9, atol=1e-9)
    assert np.abs(reduced).sum() == pytest.approx(np.abs(alpha2).sum(), rel=1e-9)
