"""certqnn.rounding: the primal side of the sdp backend -- relaxation blocks dense or factored,
Grothendieck samples, and heuristic column generation with the incremental master under a work
budget (docs/math.md §7)."""
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from certqnn import QNNProblem, certify, solve, verify
from certqnn.datasets import load
from certqnn.lasso import feature_sign, refit
from certqnn.lifting import neuron_outputs
from certqnn.rounding import (IncrementalMaster, _ActiveFactor, LowRankFactor, factor_samples, improve_by_pricing,
                              incremental_feature_sign, relaxation_factor, round_relaxation, unit_diagonal)


def lasso_value(G, c, beta, a):
    return 0.5 * a @ G @ a - c @ a + beta * np.abs(a).sum()


@settings(max_examples=40, deadline=None)
@given(seed=st.integers(0, 10_000), n=st.integers(3, 25), m=st.integers(1, 40), dup=st.booleans(),
       beta=st.floats(0.01, 3.0), batch=st.sampled_from([1, 4, 16]))
def test_incremental_feature_sign_reaches_the_exact_lasso(seed, n, m, dup, beta, batch):
    """Same optimum as lasso.feature_sign, also with duplicated (dependent) atoms, m > n, and
    several atoms entering at once."""
    rng = np.random.default_rng(seed)
    Phi = rng.standard_normal((n, m))
    if dup and m > 1:
        Phi[:, m // 2:] = Phi[:, :m - m // 2]
    t = rng.standard_normal(n)
    G, c = Phi.T @ Phi, Phi.T @ t
    exact = lasso_value(G, c, beta, feature_sign(G, c, beta))
    a, steps, _ = incremental_feature_sign(G, c, beta, batch=batch)
    assert steps >= 1
    assert lasso_value(G, c, beta, a) <= exact + 1e-7 * (1.0 + abs(exact))
    # warm started from any point it never ends above that point
    a0 = rng.standard_normal(m) * (rng.random(m) < 0.5)
    b, _, _ = incremental_feature_sign(G, c, beta, a0, batch=batch)
    assert lasso_value(G, c, beta, b) <= lasso_value(G, c, beta, a0) + 1e-12 * (1.0 + abs(lasso_value(G, c, beta, a0)))


@settings(max_examples=40, deadline=None)
@given(seed=st.integers(0, 10_000), k=st.integers(1, 12), dead=st.integers(0, 3))
def test_removing_an_atom_keeps_the_factor_of_the_others(seed, k, dead):
    """_ActiveFactor.remove (Givens rotations) leaves exactly the Cholesky factor of the remaining
    atoms' Gram block, and solves with the dead atoms held at 0 as before."""
    rng = np.random.default_rng(seed)
    Phi = rng.standard_normal((k + 5, k + 2))
    G = Phi.T @ Phi
    F = _ActiveFactor(G, np.arange(k), ridge=1e-12)
    dead = min(dead, k - 1)
    F.kill(list(rng.choice(k, size=dead, replace=False)) if dead else [])
    live = np.flatnonzero(F.alive)
    pos = int(rng.choice(live))
    gone = F.act[pos]
    F.remove(pos)
    assert gone not in F.act and F.k == k - 1
    A = F.act
    assert np.allclose(F.U.T @ F.U, G[np.ix_(A, A)] + 1e-12 * np.eye(A.size), atol=1e-9 * np.abs(G).max())
    assert np.allclose(F.U, np.triu(F.U))
    b = rng.standard_normal(A.size)
    # the products the search takes from the factor instead of G
    np.testing.assert_allclose(F.factor_product(b), F.U @ b, rtol=1e-12, atol=1e-12 * np.abs(F.U).sum())
    np.testing.assert_allclose(F.gram_product(b), G[np.ix_(A, A)] @ b, rtol=1e-9, atol=1e-9 * np.abs(G).sum())
    x = F.solve(b)
    L = F.alive
    assert np.all(x[~L] == 0.0)
    if L.any():
        expect = np.linalg.solve(G[np.ix_(A[L], A[L])] + 1e-12 * np.eye(int(L.sum())), b[L])
        assert np.allclose(x[L], expect, rtol=1e-6, atol=1e-8)


def test_incremental_feature_sign_respects_its_step_budget():
    rng = np.random.default_rng(0)
    Phi = rng.standard_normal((30, 60))
    G, c = Phi.T @ Phi, Phi.T @ rng.standard_normal(30)
    full, steps, _ = incremental_feature_sign(G, c, 0.1)
    assert steps > 5
    cut, cut_steps, _ = incremental_feature_sign(G, c, 0.1, max_steps=5)
    assert cut_steps == 5
    assert lasso_value(G, c, 0.1, full) < lasso_value(G, c, 0.1, cut) < lasso_value(G, c, 0.1, np.zeros(60))


def random_block(rng, p, r):
    V = rng.standard_normal((p + 1, r))
    return 2.5 * V @ V.T, V


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_the_master_finishes_exactly_when_the_pivot_cap_fires(seed, monkeypatch):
    """More atoms than the span of their outputs (n = 15 samples, 150 atoms): the exchanges are
    capped (here after 8) and the exact feature sign finishes from there -- the same optimum as
    the exact master."""
    from certqnn.column_generation import RestrictedMaster

    rng = np.random.default_rng(seed)
    X = rng.standard_normal((15, 6))
    problem = QNNProblem(X, rng.standard_normal(15), beta=0.05)
    Xb = problem.binary_design()
    atoms = np.where(rng.random((Xb.shape[1], 150)) < 0.5, -1.0, 1.0)
    exact = RestrictedMaster(Xb, problem)
    exact.add(atoms)
    monkeypatch.setattr(IncrementalMaster, "PIVOTS_PER_ATOM", 0.0)
    fast = IncrementalMaster(Xb, problem)
    fast.add(atoms)
    want, got = exact.solve(), fast.solve()
    assert got == pytest.approx(want, rel=1e-9, abs=1e-12)


@settings(max_examples=25, deadline=None)
@given(seed=st.integers(0, 10_000), steps=st.lists(st.tuples(st.integers(1, 12), st.floats(0.0, 1.0)),
                                                  min_size=2, max_size=6))
def test_the_master_carries_its_factor_across_adds_and_keeps(seed, steps):
    """IncrementalMaster hands each search the factor the last one ended with: after any adds and
    keeps (atoms moved, some dropped) the factor it holds is the Cholesky factor of its atoms' Gram
    block at their current positions, it is reused when the weights are the ones it was left with,
    and the budgeted solves end exactly where a master built in one go does."""
    from certqnn.column_generation import RestrictedMaster

    rng = np.random.default_rng(seed)
    problem = QNNProblem(rng.standard_normal((20, 5)), rng.standard_normal(20), beta=0.05)
    Xb = problem.binary_design()
    master = IncrementalMaster(Xb, problem, max_steps=3, capacity=4)
    for added, kept_fraction in steps:
        master.add(np.where(rng.random((5, added)) < 0.5, -1.0, 1.0))
        before = master._factor
        master.solve()
        # a factor handed over is used, unless the exact fallback (pivot cap) dropped it
        assert before is None or master._factor is before or master._factor is None
        master.keep(rng.random(master.S.shape[1]) < kept_fraction)
        F = master._factor
        if F is not None:
            A = F.act
            assert np.all(master.alpha[A[~F.alive]] == 0.0)
            np.testing.assert_allclose(F.U.T @ F.U, master.G[np.ix_(A, A)] + F.ridge * np.eye(A.size),
                                       rtol=1e-9, atol=1e-9 * np.abs(master.G).max())
    fresh = RestrictedMaster(Xb, problem)
    fresh.add(master.S)
    assert master.solve_exactly() == pytest.approx(fresh.solve(), rel=1e-9, abs=1e-12)


def test_dense_and_factored_blocks_are_the_same_relaxation():
    rng = np.random.default_rng(1)
    Z, V = random_block(rng, 6, 3)
    Fd = relaxation_factor(Z)
    Ff = relaxation_factor(LowRankFactor(V, Z[-1, -1]))        # rows not unit: normalized
    for F in (Fd, Ff):
        np.testing.assert_allclose(np.linalg.norm(F.V, axis=1), 1.0, rtol=1e-12)
        np.testing.assert_allclose(F.V @ F.V.T, unit_diagonal(Z), atol=1e-9)
        assert F.t == pytest.approx(Z[-1, -1])
    assert Fd.V.shape[1] == 3                                  # zero eigenvalues dropped: the rank
    assert relaxation_factor(np.zeros((7, 7))) is None
    assert relaxation_factor(LowRankFactor(V, 0.0)) is None
    # a rank-one block returns its own neuron, from either form
    u = np.array([1.0, -1.0, 1.0, 1.0])
    ut = np.append(u, 1.0)
    for block in (3.0 * np.outer(ut, ut), LowRankFactor(-ut[:, None], 3.0)):
        S = factor_samples(relaxation_factor(block), 20, np.random.default_rng(0))
        assert S.shape == (4, 21) and np.all(S == u[:, None])


def test_factor_samples_follow_grothendiecks_identity():
    rng = np.random.default_rng(2)
    _, V = random_block(rng, 3, 2)
    F = relaxation_factor(LowRankFactor(V, 1.0))
    S = factor_samples(F, 100_000, np.random.default_rng(3))[:, :-1]
    St = np.vstack([S, np.ones((1, S.shape[1]))])
    np.testing.assert_allclose(St @ St.T / S.shape[1], 2 / np.pi * np.arcsin(np.clip(F.V @ F.V.T, -1, 1)), atol=0.015)


@pytest.fixture(scope="module")
def relaxed():
    """A small problem (p = 10, beyond what one sample covers) and its Shor solution."""
    data = load("synthetic:n=120,d=10,seed=4")
    problem = QNNProblem(data.X, data.y)
    result = solve(problem, "sdp", rounding=False)
    return problem, problem.binary_design(), result


def factors_of(Z):
    vals, vecs = np.linalg.eigh(Z)
    keep = vals > 1e-10 * vals[-1]
    return LowRankFactor(vecs[:, keep] * np.sqrt(vals[keep]), Z[-1, -1])


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_the_improved_primal_is_never_worse_than_plain_rounding(relaxed, seed):
    """On fixed seeds: column generation from the samples ends at or below the exact refit of the
    same samples (it starts there and only descends), and is deterministic for the seed."""
    problem, Xb, r = relaxed
    Zp, Zm, w = r.relaxation["Z_plus"], r.relaxation["Z_minus"], r.dual.w
    plain, _ = round_relaxation(problem, Xb, Zp, Zm, w, seed=seed, local_search=False)
    better, info = round_relaxation(problem, Xb, Zp, Zm, w, seed=seed, pricing_rounds=10, per_round=32)
    again, _ = round_relaxation(problem, Xb, Zp, Zm, w, seed=seed, pricing_rounds=10, per_round=32)
    ub_plain = problem.objective(plain.U, plain.alpha)
    ub = problem.objective(better.U, better.alpha)
    assert ub <= ub_plain * (1 + 1e-9)
    assert ub < 0.99 * ub_plain                     # on these seeds pricing does improve, by more than 1 %
    assert np.array_equal(better.U, again.U) and np.array_equal(better.alpha, again.alpha)
    assert info["pricing_stop"] in ("budget", "no_violator", "stalled")
    # factored blocks (as a first-order engine returns them) go through the same function
    fac, _ = round_relaxation(problem, Xb, factors_of(Zp), factors_of(Zm), w, seed=seed, pricing_rounds=10,
                              per_round=32)
    assert problem.objective(fac.U, fac.alpha) <= ub_plain * (1 + 1e-9)


def test_the_atom_cap_bounds_the_masters_memory(relaxed, monkeypatch):
    """limits.ROUNDING_MAX_ENTRIES / n caps the candidates, the atoms per round and the working set
    (zero-weight atoms are trimmed to it; the support may exceed it only by what one round adds)."""
    import certqnn.limits as limits
    from certqnn.column_generation import RestrictedMaster

    problem, Xb, r = relaxed
    widest = []
    real = RestrictedMaster._append

    def append(self, S_new):
        real(self, S_new)
        widest.append(self.Phi.shape[1])

    monkeypatch.setattr(RestrictedMaster, "_append", append)
    monkeypatch.setattr(limits, "ROUNDING_MAX_ENTRIES", 20 * problem.n)
    monkeypatch.setattr(limits, "ROUNDING_STREAMED_ENTRIES", 20 * problem.n)   # streaming would not allow more
    net, info = round_relaxation(problem, Xb, r.relaxation["Z_plus"], r.relaxation["Z_minus"], r.dual.w,
                                 samples=256, max_candidates=128, pricing_rounds=5, per_round=64)
    assert info["atom_cap"] == 20 and "outputs" not in info
    assert widest[0] <= 20                          # the screened candidates
    assert max(widest) <= 20 + 20                   # the trimmed working set plus one round's atoms
    assert problem.objective(net.U, net.alpha) < problem.objective(np.zeros((problem.d, 0)), np.zeros(0))


def test_beyond_the_held_outputs_cap_the_master_streams_them(relaxed, monkeypatch):
    """When holding the outputs would allow fewer atoms than limits.ROUNDING_STREAMED_ENTRIES / n,
    the master of a quadratic loss holds none (only G, at most twice that cap plus a round) and the
    rounds take the larger cap; the network is as good as one from the same cap held."""
    import certqnn.limits as limits
    from certqnn.column_generation import RestrictedMaster

    problem, Xb, r = relaxed
    masters = []
    real = RestrictedMaster._append

    def append(self, S_new):
        real(self, S_new)
        masters.append((self.Phi, self._buffer.size, self.G.shape[0]))

    monkeypatch.setattr(RestrictedMaster, "_append", append)
    monkeypatch.setattr(limits, "ROUNDING_MAX_ENTRIES", 20 * problem.n)
    monkeypatch.setattr(limits, "ROUNDING_STREAMED_ENTRIES", 40 * problem.n)
    kw = dict(samples=256, max_candidates=128, pricing_rounds=5, per_round=64)
    net, info = round_relaxation(problem, Xb, r.relaxation["Z_plus"], r.relaxation["Z_minus"], r.dual.w, **kw)
    assert info["atom_cap"] == 40 and info["outputs"] == "streamed"
    assert all(Phi is None and size == 0 for Phi, size, _ in masters)
    assert max(m for _, _, m in masters) <= 40 + 40 // 8 * 5
    # the same rounds over held outputs (the cap 40 held) give the same network up to the sums' order
    monkeypatch.setattr(limits, "ROUNDING_MAX_ENTRIES", 40 * problem.n)
    held, info_held = round_relaxation(problem, Xb, r.relaxation["Z_plus"], r.relaxation["Z_minus"], r.dual.w, **kw)
    assert info_held["atom_cap"] == 40 and "outputs" not in info_held
    J, J_held = problem.objective(net.U, net.alpha), problem.objective(held.U, held.alpha)
    assert J == pytest.approx(J_held, rel=1e-6)


def test_the_work_budget_bounds_rounds_and_master_steps(relaxed, monkeypatch):
    problem, Xb, r = relaxed
    import certqnn.rounding as rounding

    masters = []

    class Spy(IncrementalMaster):
        def __init__(self, *a, **kw):
            super().__init__(*a, **kw)
            masters.append(self)
            self.solves, self.log = 0, []

        def solve(self):
            self.solves += 1
            capped, before = self.max_steps is not None, self.steps
            out = super().solve()
            self.log.append((capped, self.steps - before))
            return out

    monkeypatch.setattr(rounding, "IncrementalMaster", Spy)
    S0 = np.where(np.random.default_rng(0).random((Xb.shape[1], 24)) < 0.5, -1.0, 1.0)
    F = [relaxation_factor(r.relaxation["Z_plus"]), relaxation_factor(r.relaxation["Z_minus"])]
    S, alpha, obj, stop = improve_by_pricing(problem, Xb, S0, rounds=3, max_new=4, factors=F, master_steps=2,
                                             rng=np.random.default_rng(0))
    assert stop == "budget"
    last = masters[-1]
    # the refit, then one capped solve per round, then one exact solve of the final working set
    assert [capped for capped, _ in last.log] == [True] * 4 + [False]
    assert all(steps <= 2 for capped, steps in last.log if capped)
    # the weights returned are the exact Lasso's over the final working set (the final uncapped
    # solve): without it the capped rounds leave the objective far above that optimum
    on_working_set = refit(neuron_outputs(Xb, problem.activation, last.S), problem.y, problem.beta, problem.loss)
    assert obj == pytest.approx(on_working_set.objective, rel=1e-7)
    # no pricing rounds: the refit of the starting atoms only (the exact Lasso's value)
    S_0, alpha_0, obj_0, _ = improve_by_pricing(problem, Xb, S0, rounds=0)
    exact = refit(neuron_outputs(Xb, problem.activation, S0), problem.y, problem.beta, problem.loss)
    assert masters[-1].solves == 1 and obj_0 == pytest.approx(exact.objective, rel=1e-7)
    assert obj == pytest.approx(problem.objective(problem.levels.collapse(S), alpha), rel=1e-12)
    # the working-set stop: the rounds end once the master holds that many atoms, budget left or not
    _, _, _, stop_ws = improve_by_pricing(problem, Xb, S0, rounds=12, max_new=4, factors=F, max_working_set=30,
                                          rng=np.random.default_rng(0))
    held = masters[-1].S.shape[1]
    assert stop_ws == "working_set" and masters[-1].solves < 13 and 30 <= held <= 30 + 4
    # more rounds: lower (or equal) objective, never higher
    _, _, obj_more, _ = improve_by_pricing(problem, Xb, S0, rounds=12, max_new=4, factors=F,
                                           rng=np.random.default_rng(0))
    assert obj_more <= obj * (1 + 1e-9)


def test_sdp_backend_network_verifies_and_options_are_checked(relaxed):
    problem, _, _ = relaxed
    result = solve(problem, "sdp", pricing_rounds=5, pricing_atoms=16)
    cert = certify(problem, result)
    assert verify(cert).ok and cert.upper_bound >= cert.lower_bound
    from certqnn.errors import InvalidProblemError
    with pytest.raises(InvalidProblemError, match="pricing_atoms"):
        solve(problem, "sdp", pricing_atoms=0)
    with pytest.raises(InvalidProblemError, match="master_steps"):
        solve(problem, "sdp", master_steps=-1)
    # the step budget is a feature-sign budget: a loss whose master is not a quadratic Lasso refuses it
    labels = np.where(problem.y > np.median(problem.y), 1.0, -1.0)
    with pytest.raises(InvalidProblemError, match="master_steps"):
        solve(QNNProblem(problem.X, labels, loss="logistic"), "sdp", master_steps=5)
    # and a run without pricing rounds has nothing for it to budget
    with pytest.raises(InvalidProblemError, match="master_steps"):
        solve(problem, "sdp", master_steps=5, pricing_rounds=0)
    # dual smoothing: a weight in (0, 1] of the master's dual point, and only with pricing rounds
    for bad in (0.0, -0.5, 1.5, float("nan")):
        with pytest.raises(InvalidProblemError, match="smoothing"):
            solve(problem, "sdp", smoothing=bad)
    with pytest.raises(InvalidProblemError, match="smoothing"):
        solve(problem, "sdp", smoothing=0.5, pricing_rounds=0)
    # its center: moving or fixed, only with pricing rounds, and not when the smoothing is off
    with pytest.raises(InvalidProblemError, match="smoothing_center"):
        solve(problem, "sdp", smoothing_center="wander")
    with pytest.raises(InvalidProblemError, match="smoothing_center.*pricing-rounds"):
        solve(problem, "sdp", smoothing_center="fixed", pricing_rounds=0)
    with pytest.raises(InvalidProblemError, match="smoothing_center.*smoothing 1"):
        solve(problem, "sdp", smoothing_center="fixed", smoothing=1.0)


def test_the_sdp_rounding_smooths_toward_its_relaxations_dual_point(relaxed, monkeypatch):
    """The sdp backend hands its dual point and --smoothing to the rounding's pricing rounds;
    smoothing = 1 prices at the master's dual point only (no mispricings to count)."""
    import certqnn.rounding as rounding

    problem, _, _ = relaxed
    seen, original = [], rounding.column_generation

    def spy(*args, **kwargs):
        run = original(*args, **kwargs)
        seen.append((kwargs["center"], kwargs["smoothing"], run.stats.get("mispricings")))
        return run

    monkeypatch.setattr(rounding, "column_generation", spy)
    result = solve(problem, "sdp", pricing_rounds=4, pricing_atoms=16, smoothing=0.3)
    assert seen and all(s == 0.3 and m is not None for _, s, m in seen)
    center = seen[0][0]
    np.testing.assert_array_equal(center.start, result.dual.w)
    assert center.moving and result.report["center_moves"] == center.moves
    seen.clear()
    fixed = solve(problem, "sdp", pricing_rounds=4, pricing_atoms=16, smoothing=0.3, smoothing_center="fixed")
    assert not seen[0][0].moving and fixed.report["center_moves"] == 0
    seen.clear()
    plain = solve(problem, "sdp", pricing_rounds=4, pricing_atoms=16, smoothing=1.0)
    assert seen and all(s == 1.0 and m is None for _, s, m in seen)
    assert "center_moves" not in plain.report


def test_rough_masters_clean_up_at_the_working_set_cap_and_go_on(monkeypatch):
    """At the working-set stop, rough masters (a step budget) leave small weights the trim cannot
    drop: the set is solved exactly, cut to the atoms with a weight, and the rounds go on."""
    import certqnn.rounding as rounding

    data = load("synthetic:n=400,d=10,seed=4")
    problem = QNNProblem(data.X, data.y)
    Xb = problem.binary_design()
    r = solve(problem, "sdp", rounding=False)
    F = [relaxation_factor(r.relaxation["Z_plus"]), relaxation_factor(r.relaxation["Z_minus"])]
    # an instance whose first cut frees more than a quarter (43 of 60 atoms left; it was 46 from
    # the starts of seed 0 once the master kept its factor between rounds, which changed the path)
    S0 = np.where(np.random.default_rng(1).random((Xb.shape[1], 8)) < 0.5, -1.0, 1.0)
    calls, original = [], rounding.column_generation

    def spy(*args, master, **kwargs):
        held = master.S.shape[1]
        run = original(*args, master=master, **kwargs)
        calls.append((held, run.stop, run.stats["pricing_calls"]))
        return run

    monkeypatch.setattr(rounding, "column_generation", spy)
    S, alpha, obj, stop = improve_by_pricing(problem, Xb, S0, rounds=20, max_new=6, factors=F, master_steps=3,
                                             max_working_set=60, rng=np.random.default_rng(0))
    assert len(calls) >= 2                                   # it went on after the first stop
    assert all(stop_k == "working_set" for _, stop_k, _ in calls[:-1])
    assert all(held <= 0.75 * 60 for held, _, _ in calls[1:])  # each restart after a cut of >= a quarter
    assert sum(p for _, _, p in calls) <= 20                   # one budget of pricing rounds over all of them
    assert obj == pytest.approx(problem.objective(problem.levels.collapse(S), alpha), rel=1e-12)


def test_streamed_rounds_are_smaller(relaxed, monkeypatch):
    """Streamed rounds take at most atom_cap // STREAMED_ROUND_FRACTION atoms each (held ones
    atom_cap // 8): the same atoms over more rounds, chosen better (docs/math.md §7)."""
    import certqnn.limits as limits
    import certqnn.rounding as rounding

    problem, Xb, r = relaxed
    calls = []
    real = rounding.improve_by_pricing

    def spy(*args, **kw):
        calls.append(kw)
        return real(*args, **kw)

    monkeypatch.setattr(rounding, "improve_by_pricing", spy)
    monkeypatch.setattr(limits, "ROUNDING_MAX_ENTRIES", 20 * problem.n)
    for streamed_entries, max_atoms, outputs, per_round in (
            (640, 5000, "streamed", 640 // rounding.STREAMED_ROUND_FRACTION),
            (640, 320, "streamed", 320 // rounding.STREAMED_ROUND_FRACTION),    # ROUNDING_STREAMED_MAX_ATOMS caps it
            (640, 20, None, 20 // 8),                                           # streaming would allow no more
            (20, 5000, None, 20 // 8)):
        monkeypatch.setattr(limits, "ROUNDING_STREAMED_ENTRIES", streamed_entries * problem.n)
        monkeypatch.setattr(limits, "ROUNDING_STREAMED_MAX_ATOMS", max_atoms)
        _, info = round_relaxation(problem, Xb, r.relaxation["Z_plus"], r.relaxation["Z_minus"], r.dual.w,
                                   samples=64, max_candidates=16, pricing_rounds=2, per_round=64)
        assert info.get("outputs") == outputs
        assert calls[-1]["streamed"] == (outputs == "streamed")
        assert calls[-1]["max_new"] == max(per_round, 8)
        assert info["atom_cap"] == (min(640, max_atoms) if outputs else 20)


def test_streamed_passes_over_the_data_keep_the_callers_blas_threads(relaxed, monkeypatch):
    """The rounds run single-threaded (many small calls), but a streamed master's passes over the
    data (large products) get back the BLAS threads the caller had."""
    import certqnn.limits as limits
    import certqnn.rounding as rounding
    from certqnn.pricing import blas_single_thread, blas_thread_count, blas_threads

    threads = blas_thread_count()
    if threads is None:
        pytest.skip("threadpoolctl does not see a BLAS here")
    with blas_single_thread():
        assert blas_thread_count() == 1
        with blas_threads(threads):
            assert blas_thread_count() == threads
        assert blas_thread_count() == 1
    seen = []

    class Spy(rounding.IncrementalMaster):
        def _append(self, S_new):
            seen.append((self.streamed, self.data_threads))
            super()._append(S_new)

    monkeypatch.setattr(rounding, "IncrementalMaster", Spy)
    problem, Xb, r = relaxed
    monkeypatch.setattr(limits, "ROUNDING_MAX_ENTRIES", 20 * problem.n)
    monkeypatch.setattr(limits, "ROUNDING_STREAMED_ENTRIES", 40 * problem.n)
    round_relaxation(problem, Xb, r.relaxation["Z_plus"], r.relaxation["Z_minus"], r.dual.w, samples=64,
                     max_candidates=16, pricing_rounds=2, per_round=8)
    assert seen and all(s == (True, threads) for s in seen)
