"""certqnn.column_generation: one loop (restricted master + pricers + work budget), docs/math.md §9."""
import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from certqnn import QNNProblem
from certqnn.column_generation import (Budget, ExactPricer, LocalSearchPricer, Pricer, Pricing, RestrictedMaster,
                                       SmoothingCenter, column_generation)
from certqnn.gaps import dual_lower_bound, relative_gap
from certqnn.lasso import caratheodory_reduce, refit
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


def test_the_progress_bar_knows_the_end_of_a_run_budgeted_in_pricing_calls(monkeypatch):
    """The rounding's runs (a pricing budget, no deadline) show how many rounds are left; a
    certified run (it ends at convergence) and a timed one (at its limit) show a count only."""
    import certqnn.column_generation as cg

    totals = []
    real = cg.progress

    def spy(total=None, **kw):
        totals.append(total)
        return real(total=total, **kw)

    monkeypatch.setattr(cg, "progress", spy)
    problem = make_problem(3, 60, 10, beta_fraction=0.02)
    column_generation(problem, [LocalSearchPricer(4)], Budget(max_rounds=6, max_pricings=5, per_round=1))
    column_generation(problem, [ExactPricer()], Budget(max_rounds=7, per_round=1), tol=1e-12)
    column_generation(problem, [LocalSearchPricer(4)], Budget(max_rounds=6, max_pricings=5, deadline=1e18))
    assert totals == [6, None, None]


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
        before = {col.tobytes(): a for col, a in zip(master.S.T, master.alpha)}
        prediction = master.prediction()
        master.keep(rng.random(master.S.shape[1]) < kept_fraction)
        # the kept atoms may move, but each keeps its weight (the used ones all stay)
        assert all(before[col.tobytes()] == a for col, a in zip(master.S.T, master.alpha))
        np.testing.assert_allclose(master.prediction(), prediction, rtol=1e-12, atol=1e-12)
        Phi = neuron_outputs(Xb, problem.activation, master.S)
        np.testing.assert_allclose(master.Phi, Phi, rtol=1e-13, atol=1e-14)   # BLAS blocking: last bits
        np.testing.assert_allclose(master.G, kappa * Phi.T @ Phi, rtol=1e-13, atol=1e-12)
        np.testing.assert_array_equal(master.G, master.G.T)
        np.testing.assert_allclose(master.c, kappa * Phi.T @ t, rtol=1e-13, atol=1e-12)
    fresh = RestrictedMaster(Xb, problem)
    fresh.add(master.S)
    assert master.solve() == pytest.approx(fresh.solve(), rel=1e-9, abs=1e-12)


@settings(max_examples=30, deadline=None)
@given(st.integers(0, 2**16), st.lists(st.tuples(st.integers(1, 9), st.floats(0.0, 1.0)), min_size=1, max_size=6))
def test_a_streamed_master_is_the_stored_one_without_its_outputs(seed, steps):
    """streamed=True holds no (n, m) outputs but recomputes them by blocks of rows (three blocks
    here): through any adds and keeps its G, c, prediction, objective, Lasso and Carathéodory
    reduction are the stored master's, up to the order of the sums."""
    problem = make_problem(seed % 7, 150, 5, beta_fraction=0.1)
    Xb = problem.binary_design()
    rng = np.random.default_rng(seed)
    stored, streamed = RestrictedMaster(Xb, problem), RestrictedMaster(Xb, problem, streamed=True)
    streamed.STREAM_BLOCK_ENTRIES = 1                   # 64 rows per block
    assert streamed.Phi is None and streamed._buffer.size == 0
    for added, kept_fraction in steps:
        S_new = np.where(rng.random((5, added)) < 0.5, -1.0, 1.0)
        assert stored.add(S_new) == streamed.add(S_new)
        J = stored.solve()
        assert streamed.solve() == pytest.approx(J, rel=1e-9, abs=1e-12)
        np.testing.assert_allclose(streamed.G, stored.G, rtol=1e-12, atol=1e-12)
        np.testing.assert_array_equal(streamed.G, streamed.G.T)
        np.testing.assert_allclose(streamed.c, stored.c, rtol=1e-12, atol=1e-12)
        np.testing.assert_allclose(streamed.alpha, stored.alpha, rtol=1e-7, atol=1e-9)
        np.testing.assert_allclose(streamed.prediction(), stored.prediction(), rtol=1e-9, atol=1e-10)
        np.testing.assert_allclose(streamed.gradient(), stored.gradient(), rtol=1e-9, atol=1e-10)
        keep = rng.random(stored.S.shape[1]) < kept_fraction
        stored.keep(keep)
        streamed.keep(keep)
        np.testing.assert_array_equal(streamed.S, stored.S)
    used = stored.alpha != 0
    S1, a1, J1 = stored.reduced(used, stored.objective())
    S2, a2, J2 = streamed.reduced(used, streamed.objective())
    assert J2 == pytest.approx(J1, rel=1e-9, abs=1e-12) and a2.size == a1.size
    with pytest.raises(ValueError, match="quadratic"):
        labels = make_problem(0, 20, 4, target="labels")
        logistic = QNNProblem(labels.X, labels.y, activation=labels.activation, levels="binary", loss="logistic",
                              beta=labels.beta)
        RestrictedMaster(logistic.binary_design(), logistic, streamed=True)


def test_caratheodory_from_the_outputs_gram_is_the_same_reduction():
    """caratheodory_reduce given Phi_S^T Phi_S drops the same atoms as from Phi itself."""
    rng = np.random.default_rng(3)
    Phi = rng.standard_normal((30, 12))
    Phi[:, 8:] = Phi[:, :4] @ rng.standard_normal((4, 4))    # four dependent atoms
    alpha = rng.standard_normal(12)
    alpha[5] = 0.0
    S = np.flatnonzero(alpha)
    a1 = caratheodory_reduce(Phi, alpha)
    a2 = caratheodory_reduce(None, alpha, outputs_gram=np.asfortranarray(Phi[:, S].T @ Phi[:, S]))
    assert np.count_nonzero(a1) < np.count_nonzero(alpha)
    np.testing.assert_array_equal(a1 != 0, a2 != 0)
    np.testing.assert_allclose(Phi @ a2, Phi @ alpha, atol=1e-10)
    assert np.abs(a2).sum() == pytest.approx(np.abs(alpha).sum(), rel=1e-12)


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


class RecordingPricer(Pricer):
    """Records the matrices it prices; finds nothing at matrices other than `real` (a pricer that
    always mis-prices the smoothed point), and every sign vector above the level at `real`."""

    name = "recording"

    def __init__(self):
        self.seen = []
        self.real = None

    def price(self, Q, state):
        self.seen.append(Q.copy())
        if self.real is None or not np.array_equal(Q, self.real):
            return Pricing(np.zeros((Q.shape[0] - 1, 0)), np.zeros(0))
        S = sign_vectors(Q.shape[0] - 1)
        vals = np.abs(quadratic_value(Q, S))
        return Pricing(S[:, vals > state.level], vals[vals > state.level])


def test_smoothed_pricing_falls_back_to_the_masters_dual_point_and_exact_pricing_never_smooths():
    """Heuristic pricers see Q(lambda w + (1 - lambda) center) first and Q(w) after a mispricing,
    so the loop ends for lack of violators only when Q(w) has none; an exact pricer (every
    certified bound) sees Q(w) only."""
    problem = make_problem(3, 40, 5, beta_fraction=0.1)
    center = np.random.default_rng(1).standard_normal(problem.n) * 0.01
    master = RestrictedMaster(problem.binary_design(), problem)
    pricer = RecordingPricer()
    original = master.dual_matrix
    asked = []

    def dual_matrix(w):
        asked.append(np.array(w))
        return original(w)

    master.dual_matrix = dual_matrix
    run = column_generation(problem, [pricer], Budget(max_rounds=6, per_round=4), master=master,
                            center=center, smoothing=0.25, moving_center=False)
    # every round formed Q(w) and then Q(0.25 w + 0.75 center) from the master's w (the center
    # fixed; test_the_smoothing_center_moves_by_wentges_rule covers the moving one)
    assert len(asked) >= 2
    for w_round, w_smooth in zip(asked[0::2], asked[1::2]):
        np.testing.assert_allclose(w_smooth, 0.25 * w_round + 0.75 * center, rtol=0, atol=1e-15)
    # this pricer finds nothing at the smoothed point: the loop must have tried Q(w) too
    assert run.stats["mispricings"] == len(asked) // 2
    # an exact pricer is never given a smoothed matrix: one Q(w) per round, and the certified
    # bound at the end is the one of an unsmoothed run
    asked.clear()
    exact = column_generation(problem, [EnumeratingPricer()], Budget(max_rounds=50, per_round=4), tol=1e-9,
                              master=master, center=center, smoothing=0.25)
    assert len(asked) == exact.rounds and exact.stats["mispricings"] == 0
    assert exact.stop == "converged"
    plain = column_generation(problem, [EnumeratingPricer()], Budget(max_rounds=50, per_round=4), tol=1e-9)
    assert exact.objective == pytest.approx(plain.objective, rel=1e-8)


def test_the_smoothing_center_moves_by_wentges_rule():
    """The center moves to the searched point w scaled by s = the loss's best scale in
    [0, beta / rho_hat] (rho_hat: the largest value found, at least beta) exactly when -L*(s w)
    beats the center's value, so the values it takes never decrease; fixed, it never moves."""
    problem = make_problem(3, 40, 5, beta_fraction=0.1)
    loss, y, beta = problem.loss, problem.y, problem.beta
    rng = np.random.default_rng(4)

    def value(w, smax):
        s = loss.best_dual_scale(w, y, smax)
        return loss.dual_value(s * w, y), s

    w0 = -0.5 * y
    center = SmoothingCenter(w0, problem)
    assert center.value == value(w0, 1.0)[0] and center.moves == 0
    fixed = SmoothingCenter(w0, problem, moving=False)
    # before the first move a moving center is searched closer to (lambda times FIRST_MOVE_FACTOR)
    w = rng.standard_normal(problem.n)
    lam = 0.1 * SmoothingCenter.FIRST_MOVE_FACTOR
    np.testing.assert_allclose(center.smoothed(w, 0.1), lam * w + (1 - lam) * w0, rtol=0, atol=1e-15)
    np.testing.assert_allclose(fixed.smoothed(w, 0.1), 0.1 * w + 0.9 * w0, rtol=0, atol=1e-15)
    seen = [center.value]
    for _ in range(40):
        w = center.smoothed(-y * rng.uniform(0.0, 2.0) + 0.3 * rng.standard_normal(problem.n), 0.3)
        found = beta * rng.uniform(0.5, 3.0, size=rng.integers(0, 4))
        before, moves = center.point, center.moves
        expected, s = value(w, beta / max(found.max(initial=0.0), beta))
        center.consider(w, found, beta)
        fixed.consider(w, found, beta)
        if expected > seen[-1]:
            assert center.moves == moves + 1 and center.value == expected
            np.testing.assert_array_equal(center.point, s * w)
        else:
            assert center.moves == moves and center.point is before
        seen.append(center.value)
    assert 0 < center.moves < 40                       # both branches were taken
    assert np.all(np.diff(seen) >= 0)
    assert fixed.moves == 0 and fixed.point is fixed.start and fixed.value == seen[0]
    # the smoothed point mixes the master's w with the center as it stands
    w = rng.standard_normal(problem.n)
    np.testing.assert_allclose(center.smoothed(w, 0.1), 0.1 * w + 0.9 * center.point, rtol=0, atol=1e-15)


def test_a_moving_center_carries_over_between_runs_and_guides_the_smoothed_searches():
    """column_generation uses a SmoothingCenter it is given (and moves it), so a second run starts
    where the first left the center; every smoothed matrix is formed from the center as it stood
    in that round."""
    problem = make_problem(3, 60, 6, beta_fraction=0.05)
    master = RestrictedMaster(problem.binary_design(), problem)
    center = SmoothingCenter(np.zeros(problem.n), problem)
    points, original = [], master.dual_matrix

    def dual_matrix(w):
        points.append((np.array(w), center.point))
        return original(w)

    master.dual_matrix = dual_matrix
    first = column_generation(problem, [LocalSearchPricer(restarts=8)], Budget(max_rounds=4, per_round=4),
                              master=master, center=center, smoothing=0.5)
    moved, calls = center.moves, len(points)
    assert first.stats["center_moves"] == moved >= 1
    second = column_generation(problem, [LocalSearchPricer(restarts=8)], Budget(max_rounds=4, per_round=4),
                               master=master, center=center, smoothing=0.5)
    assert second.stats["center_moves"] == center.moves >= moved        # counted over both runs
    assert points[calls + 1][1] is not center.start                      # the second run began moved
    # each round forms Q(w), then Q(lam w + (1 - lam) center) with the center of that moment, and
    # lam = 0.5 once it has moved, 0.5 FIRST_MOVE_FACTOR before
    for run_points in (points[:calls], points[calls:]):
        for (w_round, _), (w_smooth, c) in zip(run_points[0::2], run_points[1::2]):
            lam = 0.5 * (SmoothingCenter.FIRST_MOVE_FACTOR if c is center.start else 1.0)
            np.testing.assert_allclose(w_smooth, lam * w_round + (1 - lam) * c, rtol=0, atol=1e-15)


def test_a_mispriced_round_is_priced_again_at_the_masters_dual_point():
    """A pricer blind at the smoothed point still drives the loop: without the fallback the first
    round would end it with "no_violator"."""
    problem = make_problem(4, 40, 5, beta_fraction=0.05)
    center = np.zeros(problem.n)
    master = RestrictedMaster(problem.binary_design(), problem)
    pricer = RecordingPricer()
    original = master.dual_matrix

    def dual_matrix(w):
        Q = original(w)
        if not np.array_equal(w, 0.5 * master.gradient() + 0.5 * center):
            pricer.real = Q            # Q(w) itself: the pricer finds violators only there
        return Q

    master.dual_matrix = dual_matrix
    run = column_generation(problem, [pricer], Budget(max_rounds=5, per_round=3), master=master,
                            center=center, smoothing=0.5)
    plain = column_generation(problem, [RecordingPricer()], Budget(max_rounds=5, per_round=3))
    assert plain.stop == "no_violator" and plain.rounds == 1
    assert run.rounds > 1 and run.stats["mispricings"] >= 1
    assert run.objective < plain.objective


def test_gain_ranking_adds_the_atoms_that_lower_the_master_most_alone():
    """rank "gain": among the GAIN_POOL * k largest values, the k with the largest
    (|phi^T w| - beta)^2 / |phi|^2, whatever the order of the values."""
    problem = make_problem(5, 50, 6, beta_fraction=0.1)
    Xb = problem.binary_design()
    S = sign_vectors(Xb.shape[1])
    S = S[:, S[0] == 1]                                    # canonical signs (sigma is even)
    rng = np.random.default_rng(2)
    values = problem.beta * (1.0 + rng.random(S.shape[1]))
    k = 3
    by_value, by_gain = RestrictedMaster(Xb, problem), RestrictedMaster(Xb, problem)
    by_gain.rank = "gain"
    by_value.add_best(S, values, k)
    by_gain.add_best(S, values, k)
    pool = np.argsort(-values, kind="stable")[:RestrictedMaster.GAIN_POOL * k]
    P = neuron_outputs(Xb, problem.activation, S[:, pool])
    gain = (values[pool] - problem.beta) ** 2 / np.einsum("ij,ij->j", P, P)
    want = pool[np.argsort(-gain, kind="stable")[:k]]
    assert {c.tobytes() for c in by_gain.S.T} == {S[:, j].tobytes() for j in want}
    assert {c.tobytes() for c in by_value.S.T} == {S[:, j].tobytes() for j in np.argsort(-values)[:k]}
    assert {c.tobytes() for c in by_gain.S.T} != {c.tobytes() for c in by_value.S.T}
