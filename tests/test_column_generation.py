"""certqnn.column_generation: one loop (restricted master + pricers + work budget), docs/math.md §9."""
import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from certqnn.column_generation import (Budget, ExactPricer, LocalSearchPricer, Pricer, Pricing, RestrictedMaster,
                                       column_generation)
from certqnn.gaps import dual_lower_bound, relative_gap
from certqnn.lasso import refit
from certqnn.lifting import neuron_outputs
from certqnn.pricing import quadratic_value, sign_vectors
from certqnn.rounding import improve_by_pricing
from certqnn.testing import make_problem
from strategies import brute_force_optimum, problems


class EnumeratingPricer(Pricer):
    """A pricer written against the interface only: every sign vector, value by value."""

    name = "enumerate"
    exact = True

    def price(self, Q, state):
        S = sign_vectors(Q.shape[0] - 1)
        vals = np.abs(quadratic_value(Q, S))
        order = np.argsort(-vals, kind="stable")[:state.top]
        rho = float(vals.max())
        return Pricing(S[:, order], vals[order], rho, rho)


@settings(max_examples=25, deadline=None)
@given(problems(max_n=20, max_d=4, max_binary_dim=8))
def test_exact_pricing_reaches_the_brute_force_optimum(problem):
    """With an exact pricer the loop stops at a certified gap, at p*_inf of an independent brute
    force over the original level set."""
    ref = brute_force_optimum(problem)
    for pricers in ([ExactPricer("mitm")], [LocalSearchPricer(8), ExactPricer("bnb")], [EnumeratingPricer()]):
        run = column_generation(problem, pricers, Budget(per_round=8), tol=1e-9)
        assert run.stop == "converged" and run.relative_gap <= 1e-9
        assert run.objective == pytest.approx(ref.value, rel=1e-7, abs=1e-9)
        # the run's lower bound is the scaling lemma with its certified rho, below the optimum
        assert run.lower_bound == dual_lower_bound(problem.loss, run.w, problem.y, run.rho_upper_bound, problem.beta)
        assert run.lower_bound <= ref.value * (1 + 1e-9) + 1e-12
        assert relative_gap(run.objective, run.lower_bound) == run.relative_gap
        assert run.S.shape[1] == run.alpha.shape[0] and np.all(run.alpha != 0)


def test_heuristic_pricing_is_reproducible_and_claims_no_bound():
    problem = make_problem(2, 60, 8, beta_fraction=0.05)
    runs = [column_generation(problem, [LocalSearchPricer(16, np.random.default_rng(5))], Budget(max_rounds=50))
            for _ in range(2)]
    a, b = runs
    np.testing.assert_array_equal(a.S, b.S)
    np.testing.assert_array_equal(a.alpha, b.alpha)
    assert a.lower_bound is None and math.isinf(a.rho_upper_bound) and math.isinf(a.relative_gap)
    assert a.stop in ("no_violator", "budget", "stalled")


def test_work_budget_and_deadline_stop_the_loop():
    problem = make_problem(3, 60, 10, beta_fraction=0.02)
    one = column_generation(problem, [ExactPricer()], Budget(max_rounds=1, per_round=1), tol=1e-12)
    assert one.stop == "budget" and one.rounds == 1 and not one.time_limit_hit
    calls = column_generation(problem, [LocalSearchPricer(4), ExactPricer()], Budget(max_pricings=3, per_round=1),
                              tol=1e-12)
    assert calls.stats["pricing_calls"] == 3
    late = column_generation(problem, [ExactPricer()], Budget(deadline=0.0))
    assert late.stop == "time_limit" and late.time_limit_hit and late.lower_bound is None


def test_restricted_master_goes_through_the_loss_quadratic_model():
    problem = make_problem(1, 30, 6, beta_fraction=0.1)
    master = RestrictedMaster(problem.binary_design(), problem)
    S = np.where(np.random.default_rng(0).random((6, 12)) < 0.5, -1.0, 1.0)
    master.add(S)
    obj = master.solve()
    kappa, t = problem.loss.quadratic(problem.y)
    np.testing.assert_allclose(master.G, kappa * master.Phi.T @ master.Phi)
    np.testing.assert_allclose(master.c, kappa * master.Phi.T @ t)
    assert obj == pytest.approx(problem.loss.value(master.prediction(), problem.y)
                                + problem.beta * np.abs(master.alpha).sum(), rel=1e-15)
    np.testing.assert_allclose(master.gradient(), problem.loss.gradient(master.prediction(), problem.y))


@settings(max_examples=30, deadline=None)
@given(st.integers(0, 2**16), st.integers(0, 6), st.integers(0, 6),
       st.lists(st.tuples(st.integers(1, 9), st.floats(0.0, 1.0)), min_size=1, max_size=6))
def test_the_masters_buffers_stay_its_atoms_outputs_through_adds_and_compactions(seed, capacity, gram_capacity,
                                                                                steps):
    """Phi and G live in buffers grown and compacted in place: after any sequence of adds and
    keeps (small capacities force the growth path) they equal sigma(Xb S) and kappa Phi^T Phi of
    the atoms held, exactly, and the master solves to the same Lasso as one built in one go."""
    problem = make_problem(seed % 7, 25, 5, beta_fraction=0.1)
    Xb = problem.binary_design()
    rng = np.random.default_rng(seed)
    master = RestrictedMaster(Xb, problem, capacity=capacity, gram_capacity=gram_capacity)
    kappa, t = problem.loss.quadratic(problem.y)
    for added, kept_fraction in steps:
        master.add(np.where(rng.random((5, added)) < 0.5, -1.0, 1.0))
        master.solve()
        master.keep(rng.random(master.S.shape[1]) < kept_fraction)
        Phi = neuron_outputs(Xb, problem.activation, master.S)
        np.testing.assert_allclose(master.Phi, Phi, rtol=1e-13, atol=1e-14)   # BLAS blocking: last bits
        np.testing.assert_allclose(master.G, kappa * Phi.T @ Phi, rtol=1e-13, atol=1e-12)
        np.testing.assert_array_equal(master.G, master.G.T)
        np.testing.assert_allclose(master.c, kappa * Phi.T @ t, rtol=1e-13, atol=1e-12)
    fresh = RestrictedMaster(Xb, problem)
    fresh.add(master.S)
    assert master.solve() == pytest.approx(fresh.solve(), rel=1e-9, abs=1e-12)


def test_improve_by_pricing_is_a_work_budget_and_reproducible():
    problem = make_problem(4, 50, 9, beta_fraction=0.05)
    Xb = problem.binary_design()
    S0 = np.where(np.random.default_rng(1).random((9, 6)) < 0.5, -1.0, 1.0)
    out = [improve_by_pricing(problem, Xb, S0, rounds=30, starts_per_round=8, rng=np.random.default_rng(3))
           for _ in range(2)]
    np.testing.assert_array_equal(out[0][0], out[1][0])
    np.testing.assert_array_equal(out[0][1], out[1][1])
    assert out[0][2] == out[1][2] == pytest.approx(problem.objective(problem.levels.collapse(out[0][0]), out[0][1]))
    assert out[0][3] in ("no_violator", "budget", "stalled")
    late = improve_by_pricing(problem, Xb, S0, rng=np.random.default_rng(3), deadline=0.0)
    assert late[3] == "time_limit"                  # the deadline is reported when it fires
    # it only improves on the exact refit of the starting atoms, and every atom it returns is used
    start = refit(neuron_outputs(Xb, problem.activation, S0), problem.y, problem.beta, problem.loss)
    assert out[0][2] <= start.objective * (1 + 1e-12)
    assert np.all(out[0][1] != 0)
