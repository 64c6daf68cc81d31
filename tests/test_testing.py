"""The public helpers in certqnn.testing: the problem strategy, the brute force and the assertion."""
import numpy as np
import pytest
from hypothesis import given, settings

from certqnn import QNNProblem
from certqnn.testing import DEFAULT_ACTIVATIONS, beta_max, brute_force_optimum, make_problem, problems


@settings(max_examples=60)
@given(problems())
def test_default_strategy_bounds(problem):
    assert 4 <= problem.n <= 30 and 1 <= problem.d <= 6
    assert problem.binary_dim <= 8
    assert problem.levels.describe() in ("binary", "ternary", "kbit:2")
    assert problem.activation.as_list() in [list(map(float, a)) for a in DEFAULT_ACTIVATIONS]
    assert np.all(np.isfinite(problem.X)) and np.all(np.isfinite(problem.y))
    # beta is a fraction of beta_max: the zero network is not optimal
    bmax = beta_max(problem.X, problem.y, problem.activation, problem.levels)
    assert 0.0 < problem.beta < bmax


@settings(max_examples=20)
@given(problems(max_n=8, max_d=2, levels=("kbit:3",), activations=[(1.0, 0.0, 0.0)], max_binary_dim=6,
                widths=(1, 3)))
def test_strategy_options(problem):
    assert problem.n <= 8 and problem.d <= 2 and problem.levels.n_bits == 3 and problem.width in (1, 3)


def test_strategy_rejects_impossible_options():
    with pytest.raises(ValueError):
        problems(levels=("kbit:3",), max_binary_dim=2)
    with pytest.raises(ValueError):
        problems(beta_fractions=(0.0, 0.5))


def test_make_problem_is_deterministic_and_nontrivial():
    a = make_problem(9, 12, 3, (1, 0.5, 0), "ternary", beta_fraction=0.2, target="labels")
    b = make_problem(9, 12, 3, (1, 0.5, 0), "ternary", beta_fraction=0.2, target="labels")
    assert np.array_equal(a.X, b.X) and np.array_equal(a.y, b.y) and a.beta == b.beta
    assert set(np.unique(a.y)) <= {-1.0, 1.0}
    assert brute_force_optimum(a).alpha.size >= 1


@pytest.mark.parametrize("b", [0.0, 0.7])
@pytest.mark.parametrize("beta", [0.1, 1.0, 3.0, 100.0])
def test_brute_force_closed_form_one_weight(b, beta):
    """d = 1, binary: atoms phi_+ = sigma(x), phi_- = sigma(-x). With b = 0 they coincide and the
    one-atom Lasso has the closed form p* = |y|^2/2 - max(|phi^T y| - beta, 0)^2 / (2 |phi|^2)."""
    rng = np.random.default_rng(3)
    x = rng.standard_normal((7, 1))
    y = rng.standard_normal(7) + 2 * x[:, 0] ** 2
    problem = QNNProblem(x, y, activation=(1.0, b, 0.0), beta=beta)
    bf = brute_force_optimum(problem)
    if b == 0.0:
        phi = x[:, 0] ** 2
        shrink = max(abs(phi @ y) - beta, 0.0)
        expected = 0.5 * y @ y - shrink ** 2 / (2 * phi @ phi)
        assert bf.atoms == 1
        assert bf.value == pytest.approx(expected, rel=1e-10)
    else:
        assert bf.atoms == 2
        # two atoms: compare with a dense grid over (alpha_+, alpha_-) refined by the exact 2-atom KKT
        P = np.stack([x[:, 0] ** 2 + b * x[:, 0], x[:, 0] ** 2 - b * x[:, 0]], axis=1)
        best = 0.5 * y @ y
        for signs in [(1, 1), (1, -1), (-1, 1), (-1, -1)]:
            for S in ([0], [1], [0, 1]):
                th = np.array(signs, float)[S]
                a = np.linalg.solve(P[:, S].T @ P[:, S], P[:, S].T @ y - beta * th)
                if np.all(a * th > 0):
                    r = P[:, S] @ a - y
                    best = min(best, 0.5 * r @ r + beta * np.abs(a).sum())
        assert bf.value == pytest.approx(best, rel=1e-10)
    assert bf.lower_bound <= bf.value + 1e-12 and bf.gap <= 1e-8 * bf.value
    assert float(bf) == bf.value
    assert problem.objective(bf.U, bf.alpha) == pytest.approx(bf.value, rel=1e-15)


def test_brute_force_refuses_large_problems():
    problem = QNNProblem(np.ones((3, 7)), np.ones(3), levels="kbit:2")     # 4^7 weight vectors
    with pytest.raises(ValueError, match="max_atoms"):
        brute_force_optimum(problem)


def test_brute_force_with_zero_solution():
    problem = make_problem(1, 8, 2, (1, 0, 0), "binary", beta_fraction=1.5)   # beta > beta_max
    bf = brute_force_optimum(problem)
    assert bf.alpha.size == 0
    assert bf.value == pytest.approx(0.5 * float(problem.y @ problem.y), rel=1e-15)
