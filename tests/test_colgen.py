"""The colgen backend (docs/math.md §9): same optimum as enumeration, certificates that verify, time limits."""
import math

import numpy as np
import pytest
from hypothesis import given, settings

from certqnn import QNNProblem, Status, certify, solve, verify
from certqnn import column_generation as cg_module
from certqnn.backends import REGISTRY
from certqnn.column_generation import RestrictedMaster
from certqnn.datasets import synthetic
from certqnn.errors import InvalidProblemError, UnknownOptionError
from certqnn.lasso import feature_sign, refit
from certqnn.limits import VERIFY_EXACT_MAX_DIM
from certqnn.lifting import neuron_outputs
from certqnn.pricing import max_abs_quadratic
from certqnn.testing import make_problem
from strategies import problems, width_limited_problems


def test_registered_as_exact():
    be = REGISTRY["colgen"]
    assert be.exact and be.name == "colgen" and be.available()


@settings(max_examples=25, deadline=None)
@given(problems(max_n=24, max_d=5, max_binary_dim=8))
def test_colgen_matches_enumeration(problem):
    enum = solve(problem, "enumeration")
    cg = solve(problem, "colgen")
    assert cg.status == Status.OPTIMAL
    assert cg.rho_method == "exact"
    assert cg.upper_bound == pytest.approx(enum.upper_bound, rel=1e-6, abs=1e-9)
    # the claimed bracket is tight and contains the enumeration optimum
    assert cg.lower_bound <= enum.upper_bound * (1 + 1e-9) + 1e-12
    assert (cg.upper_bound - cg.lower_bound) <= 1e-6 * max(abs(cg.upper_bound), 1e-12)


@settings(max_examples=10, deadline=None)
@given(problems(max_n=20, max_d=4, max_binary_dim=8))
def test_colgen_certificate_verifies(problem):
    result = solve(problem, "colgen")
    cert = certify(problem, result)
    assert verify(cert).ok
    assert cert.rho_certified_by == "exact"
    assert cert.relative_gap <= 1e-6


@pytest.mark.parametrize("d,seed", [(10, 0), (14, 1)])
def test_colgen_certifies_planted_problems(d, seed):
    ds = synthetic(120, d, seed)
    problem = QNNProblem(ds.X, ds.y, beta=0.5)
    result = solve(problem, "colgen", tol=1e-7)
    assert result.status == Status.OPTIMAL and result.report["relative_gap"] <= 1e-7
    enum = solve(problem, "enumeration")
    assert result.upper_bound <= enum.upper_bound * (1 + 1e-7)
    cert = certify(problem, result)
    assert verify(cert).ok and cert.relative_gap <= 1e-6


@settings(max_examples=10, deadline=None)
@given(width_limited_problems)
def test_width_is_respected_and_bound_stays_valid(problem):
    result = solve(problem, "colgen")
    assert result.network.width <= problem.width
    assert result.status in (Status.OPTIMAL, Status.FEASIBLE)
    cert = certify(problem, result)
    assert verify(cert).ok


def test_time_limit_before_any_exact_pricing():
    problem = make_problem(3, 60, 12, beta_fraction=0.05)
    result = solve(problem, "colgen", time_limit=1e-9)
    assert result.status == Status.TIME_LIMIT and result.time_limit_hit
    assert result.lower_bound is None and result.report["rho_upper_bound"] is None
    cert = certify(problem, result)                 # p <= 30: rho is enumerated by certify
    assert verify(cert).ok and cert.rho_certified_by == "exact"
    exact = solve(problem, "enumeration")
    assert cert.lower_bound <= exact.upper_bound + 1e-9


def test_time_limit_inside_exact_pricing_uses_the_certified_rho_bound(monkeypatch):
    """Force every exact pricing call to time out: the Result carries the B&B's certified upper
    bound on rho, its lower bound is valid, and certify still produces a verified certificate."""
    def timed_out(Q, even, method="auto", time_limit=None, **kw):
        return max_abs_quadratic(Q, even, method="bnb", time_limit=0.0, **kw)

    monkeypatch.setattr(cg_module, "max_abs_quadratic", timed_out)
    problem = make_problem(5, 50, 12, beta_fraction=0.05)
    result = solve(problem, "colgen", time_limit=60.0)
    exact = solve(problem, "enumeration")
    assert result.status == Status.TIME_LIMIT and result.time_limit_hit
    rho_ub = result.report["rho_upper_bound"]
    assert math.isfinite(rho_ub) and rho_ub >= problem.beta
    true_rho = max_abs_quadratic(colgen_q(problem, result.dual.w), problem.activation.is_even, method="mitm").rho
    assert rho_ub >= true_rho
    assert result.lower_bound <= exact.upper_bound + 1e-9
    cert = certify(problem, result)
    assert verify(cert).ok


def colgen_q(problem, w):
    from certqnn.lifting import q_matrix
    return q_matrix(problem.binary_design(), problem.activation, w)


def test_time_limit_beyond_the_verifier_proves_rho_by_a_tree_or_falls_back_to_shor():
    """p = 34 > VERIFY_EXACT_MAX_DIM: the verifier cannot enumerate rho, so colgen writes a
    branch-and-bound proof tree (docs/math.md §5); with the tree disabled (tree_leaves = 0) certify
    falls back to the Shor diagonals the backend supplies. Both verify; the tree is not looser."""
    p = VERIFY_EXACT_MAX_DIM + 2
    rng = np.random.default_rng(0)
    X = rng.standard_normal((40, p)) / np.sqrt(p)
    y = rng.standard_normal(40)
    problem = QNNProblem(X, y, beta=0.5)
    result = solve(problem, "colgen", time_limit=0.5)
    assert result.dual.tree is not None and result.rho_method == "bnb-tree"
    cert = certify(problem, result)
    assert cert.rho_certified_by == "bnb-tree"
    assert verify(cert).ok
    assert cert.lower_bound <= cert.upper_bound
    result = solve(problem, "colgen", time_limit=0.5, tree_leaves=0)
    assert result.dual.tree is None
    assert result.dual.z_plus is not None and result.dual.z_minus is not None
    shor = certify(problem, result)
    assert shor.rho_certified_by == "shor"
    assert verify(shor).ok
    # the tree proves rho_bar ~ max(rho(w), beta) (nodes below beta are pruned)
    rho = max_abs_quadratic(colgen_q(problem, cert.w), True, method="bnb").rho
    rho_bar = cert.tightness["rho_bar_over_beta"] * problem.beta
    assert rho * (1 - 1e-9) <= rho_bar <= max(rho, problem.beta) * (1 + 1e-6)


@settings(max_examples=20, deadline=None)
@given(problems(max_n=20, max_d=4, max_binary_dim=8))
def test_feature_sign_matches_the_reference_refit(problem):
    rng = np.random.default_rng(0)
    Xb = problem.binary_design()
    S = np.where(rng.random((Xb.shape[1], 12)) < 0.5, -1.0, 1.0)
    Phi = neuron_outputs(Xb, problem.activation, S)
    ref = refit(Phi, problem.y, problem.beta)
    a = feature_sign(Phi.T @ Phi, Phi.T @ problem.y, problem.beta, np.zeros(S.shape[1]))
    obj = 0.5 * np.sum((Phi @ a - problem.y) ** 2) + problem.beta * np.abs(a).sum()
    assert obj <= ref.objective + 1e-9 * max(1.0, abs(ref.objective))
    assert obj >= ref.lower_bound - 1e-9 * max(1.0, abs(ref.objective))


def test_master_warm_start_and_deduplication():
    problem = make_problem(1, 30, 6, beta_fraction=0.1)
    Xb = problem.binary_design()
    master = RestrictedMaster(Xb, problem)
    rng = np.random.default_rng(2)
    S = np.where(rng.random((6, 10)) < 0.5, -1.0, 1.0)
    assert master.add(np.hstack([S, -S])) == len({tuple(c * c[0]) for c in S.T})   # u ~ -u (even)
    assert master.add(S) == 0
    obj1 = master.solve()
    S2 = np.where(rng.random((6, 10)) < 0.5, -1.0, 1.0)
    master.add(S2)
    obj2 = master.solve()
    assert obj2 <= obj1 + 1e-12
    ref = refit(master.Phi, problem.y, problem.beta)
    assert obj2 == pytest.approx(ref.objective, rel=1e-8, abs=1e-10)


@pytest.mark.parametrize("backend", ["colgen", "enumeration"])
def test_non_quadratic_loss_is_refused_by_name(backend):
    """The master models the loss through loss.quadratic(); a loss without one is refused, named."""
    from certqnn import UnsupportedProblemError
    from certqnn.losses import SquaredLoss

    class Other(SquaredLoss):
        name = "other"

        def quadratic(self, y):
            return None

    base = make_problem(0, 10, 3)
    problem = QNNProblem(base.X, base.y, beta=base.beta, loss=Other())
    ok, reason = REGISTRY[backend]().supports(problem)
    assert not ok and "'other'" in reason and "quadratic" in reason
    with pytest.raises(UnsupportedProblemError, match="other"):
        solve(problem, backend)
    with pytest.raises(UnsupportedProblemError, match="other"):
        REGISTRY[backend]().solve(problem)          # run() checks too, not only certqnn.solve


def test_a_quadratic_loss_other_than_squared_is_modelled():
    """kappa/2 |v - t|^2: the master goes through loss.quadratic, not through the loss's name."""
    from certqnn.losses import SquaredLoss

    class Scaled(SquaredLoss):
        name = "scaled"

        def value(self, yhat, y):
            return 3.0 * super().value(yhat, y)

        def gradient(self, yhat, y):
            return 3.0 * super().gradient(yhat, y)

        def conjugate(self, w, y):
            return 3.0 * super().conjugate(np.asarray(w) / 3.0, y)

        def best_dual_scale(self, w, y, smax):
            return super().best_dual_scale(np.asarray(w) / 3.0, y, smax)     # g(s w) = 3 g_sq(s w / 3)

        def quadratic(self, y):
            return 3.0, np.asarray(y, float)

    base = make_problem(4, 30, 5, beta_fraction=0.1)
    scaled = QNNProblem(base.X, base.y, beta=3.0 * base.beta, loss=Scaled())
    for backend in ("enumeration", "colgen"):
        res = solve(scaled, backend)
        plain = solve(base, backend)
        # J_scaled(U, alpha) = 3 J(U, alpha) for the same network: same optimum, 3x the value
        assert res.status == Status.OPTIMAL
        assert res.upper_bound == pytest.approx(3.0 * plain.upper_bound, rel=1e-9)
        assert res.lower_bound <= res.upper_bound * (1 + 1e-12)
        assert res.report["relative_gap"] <= 1e-6


@pytest.mark.parametrize("backend", ["colgen", "enumeration"])
def test_unknown_option_is_an_error_naming_it(backend):
    problem = make_problem(0, 10, 3)
    with pytest.raises(UnknownOptionError, match="rounding_time") as info:
        solve(problem, backend, rounding_time=5.0)
    assert info.value.unknown == ["rounding_time"]


@pytest.mark.parametrize("backend, bad", [
    ("colgen", {"pricing": "exhaustive"}), ("colgen", {"restarts": 0}), ("colgen", {"max_atoms": 2.5}),
    ("colgen", {"tol": -1.0}), ("enumeration", {"per_round": 0}), ("enumeration", {"time_limit": 0.0}),
])
def test_invalid_option_values_name_the_option(backend, bad):
    problem = make_problem(0, 10, 3)
    (name,) = bad
    with pytest.raises(InvalidProblemError, match=name):
        solve(problem, backend, **bad)


def test_declared_options_have_help_and_pricing_choices():
    import dataclasses

    for backend in ("colgen", "enumeration"):
        for f in dataclasses.fields(REGISTRY[backend].Options):
            assert f.metadata["help"], f"{backend}.{f.name} has no help"
    pricing = {f.name: f for f in dataclasses.fields(REGISTRY["colgen"].Options)}["pricing"]
    assert pricing.metadata["choices"] == ("auto", "mitm", "bnb")


@pytest.mark.slow
def test_colgen_certifies_d24_from_the_cli(tmp_path):
    """certqnn solve synthetic:n=200,d=24,seed=3 --backend colgen: certified global optimum."""
    from certqnn.cli import main

    out = tmp_path / "c.json"
    assert main(["solve", "synthetic:n=200,d=24,seed=3", "--backend", "colgen", "--out", str(out), "--quiet"]) == 0
    assert main(["verify", str(out)]) == 0
    from certqnn import Certificate
    cert = Certificate.read(str(out))
    assert cert.relative_gap <= 1e-6 and cert.rho_certified_by == "exact"


@pytest.mark.slow
@pytest.mark.parametrize("d", [28, 32])
def test_colgen_beyond_enumeration(d):
    from certqnn.datasets import load
    ds = load(f"synthetic:n=200,d={d},seed=3")
    problem = QNNProblem(ds.X, ds.y, beta=1.0)
    result = solve(problem, "colgen", time_limit=300)
    assert result.status == Status.OPTIMAL and result.report["relative_gap"] <= 1e-6
    cert = certify(problem, result)
    assert verify(cert).ok
    if d <= 30:
        assert cert.relative_gap <= 1e-6
