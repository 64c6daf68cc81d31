"""The matrix-free Shor engine `fo` (certqnn/shor/fo_engine.py) and its inner elliptope solver."""
from __future__ import annotations

import importlib.util
import json
import math
import os
import shutil
import subprocess
import sys

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

from certqnn import QNNProblem, certify, solve
from certqnn.activations import Polynomial
from certqnn.errors import InvalidProblemError, UnsupportedProblemError
from certqnn.shor import make_engine
from certqnn.shor.elliptope import elliptope_bound
from certqnn.rows import RowSource
from certqnn.lifting import apply_lifted, q_matrix
from certqnn.shor.fo_engine import (SINGLE_PRECISION_MIN_WORK, FoEngine, LocalRows, _MatrixWStep, _RowWStep,
                                       feasible_primal, offdiag_trace, search_the_line, single_precision_pays,
                                       w_step_space)
from certqnn.testing import brute_force_optimum, make_problem, problems


def _sign_vectors(D):
    return np.array(np.meshgrid(*[[-1.0, 1.0]] * D, indexing="ij")).reshape(D, -1)


@settings(max_examples=40, deadline=None)
@given(seed=st.integers(0, 10_000), D=st.integers(2, 9))
def test_elliptope_bound_is_feasible_and_above_the_max_cut(seed, D):
    rng = np.random.default_rng(seed)
    B = rng.standard_normal((D, D))
    Q = B + B.T
    z, facts = elliptope_bound(Q)
    np.linalg.cholesky(np.diag(z) - Q)              # strictly feasible: Diag(z) - Q > 0
    U = _sign_vectors(D)
    assert z.sum() >= np.max(np.einsum("ik,ij,jk->k", U, Q, U)) - 1e-9
    assert facts["gap"] <= 1e-8 * max(abs(z.sum()), 1.0)


@settings(max_examples=40, deadline=None)
@given(seed=st.integers(0, 10_000), D=st.integers(1, 40), log_scale=st.integers(-8, 8), rank=st.integers(0, 40))
def test_elliptope_bound_proves_its_own_gap(seed, D, log_scale, rank):
    """The interior-point method's primal X is in the elliptope and its duality gap is what it
    reports: 1^T z - <Q, X> = <Diag(z) - Q, X> <= tol |1^T z|, on any scale and rank of Q (0: Q = 0)."""
    rng = np.random.default_rng(seed)
    B = rng.standard_normal((D, min(rank, D)))
    Q = 10.0 ** log_scale * (B @ B.T - rng.uniform(0, 2) * np.eye(D) * (rank > 0))
    z, facts = elliptope_bound(Q, rel_tol=1e-9)
    X = facts["X"]
    np.linalg.cholesky(np.diag(z) - Q)              # strictly feasible
    assert np.allclose(np.diag(X), 1.0, atol=1e-12) and np.linalg.eigvalsh(X)[0] >= -1e-10
    duality_gap = z.sum() - float(np.vdot(Q, X))
    assert duality_gap >= -1e-9 * max(abs(z.sum()), 10.0 ** log_scale)
    assert duality_gap <= 1e-8 * max(abs(z.sum()), 1e-12 * np.abs(Q).max(initial=0.0)) + 1e-9 * 10.0 ** log_scale


@settings(max_examples=30, deadline=None)
@given(seed=st.integers(0, 10_000), D=st.integers(2, 30))
def test_elliptope_bound_is_tight_on_rank_one_matrices(seed, D):
    """For Q = v v^T the SDP value is (sum |v_i|)^2 (attained by Y = sign(v) sign(v)^T)."""
    v = np.random.default_rng(seed).standard_normal(D)
    z, _ = elliptope_bound(np.outer(v, v))
    assert z.sum() == pytest.approx(np.abs(v).sum() ** 2, rel=1e-7)


def test_feasible_primal_has_equal_diagonal_and_stays_psd():
    rng = np.random.default_rng(3)
    B = rng.standard_normal((6, 4))
    Z = feasible_primal(B @ B.T)
    assert np.allclose(np.diag(Z), Z[-1, -1])
    assert np.linalg.eigvalsh(Z)[0] >= -1e-12
    M = rng.standard_normal((5, 5))
    T = offdiag_trace(M)
    assert np.allclose(np.diag(T), np.trace(M) / 5) and np.allclose(T - np.diag(np.diag(T)), M - np.diag(np.diag(M)))


@pytest.mark.parametrize("method", ["bm-admm", "bm", "admm"])
@pytest.mark.parametrize("seed,act", [(0, (1.0, 0.0, 0.0)), (1, (1.0, 0.5, -0.2)), (2, (0.7, 0.0, 0.3))])
def test_fo_matches_scs_and_proves_its_gap(seed, act, method):
    """Every method's bound agrees with SCS's Shor value to 1e-4 relative, never exceeds it by more
    than SCS's own accuracy, and the feasible primal it reports lies above both."""
    problem = make_problem(seed, 60, 6, activation=act, beta_fraction=0.3)
    Xb, y, beta, a = problem.binary_design(), problem.y, problem.beta, problem.activation
    fo = FoEngine(method=method).solve(Xb, y, beta, a, eps=1e-6, max_iters=3000)
    assert fo.details["method"] == method
    scs = make_engine("scs").solve(Xb, y, beta, a, eps=1e-9, max_iters=200_000)
    assert fo.status.value == "optimal"
    assert fo.solver_objective == pytest.approx(scs.solver_objective, rel=1e-4)
    assert fo.solver_objective <= scs.solver_objective * (1 + 1e-6) + 1e-9
    assert fo.details["primal_upper"] >= scs.solver_objective * (1 - 1e-6) - 1e-9
    assert fo.details["primal_upper"] - fo.solver_objective <= 1e-6 * abs(fo.details["primal_upper"]) + 1e-12


@settings(max_examples=20, deadline=None)
@given(seed=st.integers(0, 10_000), n=st.integers(4, 40), d=st.integers(2, 7), mu=st.floats(1e-3, 1e3))
def test_the_w_step_in_rows_solves_the_matrix_system(seed, n, d, mu):
    """Woodbury (docs/math.md §13): u from (mu I + 2 A T A^*) u = A(rhs) is A(V) for the V of
    (mu I + 2 T A^*A T) V = rhs, whichever of n and dim range(T) is larger; w = u - t and
    Q(w) agree to solver accuracy."""
    problem = make_problem(seed, n, d, beta_fraction=0.3)
    rows = LocalRows(RowSource.from_array(problem.binary_design(), activation=problem.activation, block_rows=7))
    D = problem.binary_dim + 1
    rng = np.random.default_rng(seed)
    rhs = offdiag_trace(rng.standard_normal((D, D)) + rng.standard_normal((D, D)).T)
    Qy = rows.q(problem.y)
    w_m, Qw_m, _ = _MatrixWStep(rows, D).solve(rhs, mu, problem.y, Qy, 1e-13, 10_000)
    w_r, Qw_r, _ = _RowWStep(rows, D).solve(rhs, mu, problem.y, Qy, 1e-13, 10_000)
    scale = 1.0 + np.abs(w_m).max()
    assert np.abs(w_r - w_m).max() <= 1e-6 * scale
    assert np.abs(Qw_r - Qw_m).max() <= 1e-6 * (1.0 + np.abs(Qw_m).max())
    # Q(w) is carried along the CG steps, not recomputed: it must be Q of the w returned
    assert np.abs(Qw_r - rows.q(w_r)).max() <= 1e-8 * (1.0 + np.abs(Qw_r).max())


@pytest.mark.parametrize("space", ["rows", "matrices"])
@pytest.mark.parametrize("seed,n,d", [(0, 30, 10), (1, 60, 6)])
def test_admm_reaches_the_scs_value_with_the_w_step_in_either_space(monkeypatch, space, seed, n, d):
    monkeypatch.setattr(FoEngine, "W_STEP", space)
    problem = make_problem(seed, n, d, beta_fraction=0.3)
    Xb, y, beta, a = problem.binary_design(), problem.y, problem.beta, problem.activation
    fo = FoEngine(method="admm").solve(Xb, y, beta, a, eps=1e-6, max_iters=3000)
    scs = make_engine("scs").solve(Xb, y, beta, a, eps=1e-9, max_iters=200_000)
    assert fo.details["w_step"] == space and fo.status.value == "optimal"
    assert fo.solver_objective == pytest.approx(scs.solver_objective, rel=1e-4)
    assert fo.solver_objective <= scs.solver_objective * (1 + 1e-6) + 1e-9


@settings(max_examples=20, deadline=None)
@given(seed=st.integers(0, 10_000), n=st.integers(1, 70), d=st.integers(1, 8), block=st.integers(1, 32))
def test_single_precision_passes_are_close_and_exact_passes_are_the_double_ones(seed, n, d, block):
    rng = np.random.default_rng(seed)
    X, w = rng.standard_normal((n, d)), rng.standard_normal(n)
    act = Polynomial(1.0, 0.5, -0.2)
    B = rng.standard_normal((d + 1, d + 1))
    V = B + B.T
    source = RowSource.from_array(X, activation=act, block_rows=block)
    double, single = LocalRows(source), LocalRows(source, single=True)
    Qd, Ad = double.q(w), double.a(V)
    # exact passes of a single-precision LocalRows are the double ones, bit for bit
    assert np.array_equal(single.q(w, exact=True), Qd) and np.array_equal(single.a(V, exact=True), Ad)
    # its other passes differ by the single-precision rounding only (and not by nothing: the copy is used)
    Qs, As = single.q(w), single.a(V)
    assert np.abs(Qs - Qd).max() <= 1e-5 * (1.0 + np.abs(Qd).max())
    assert np.abs(As - Ad).max() <= 1e-5 * (1.0 + np.abs(Ad).max())
    assert single.passes == 4 and single.exact_passes == 2
    assert np.allclose(Qd, q_matrix(X, act, w), rtol=1e-12, atol=1e-10)
    assert np.allclose(Ad, apply_lifted(X, act, V), rtol=1e-12, atol=1e-10)


def test_single_precision_is_not_a_no_op():
    rng = np.random.default_rng(5)
    X, w = rng.standard_normal((200, 9)), rng.standard_normal(200)
    rows = LocalRows(RowSource.from_array(X), single=True)
    assert not np.array_equal(rows.q(w), rows.q(w, exact=True))


def _reported_values_from_the_data(fo, Xb, y, beta, act):
    """(bound, primal value) of the point a run returns, recomputed here in double: the scaling
    lemma's bound of its dual_w (rho_bar from the inner solver) and the objective of its primal."""
    w = fo.details["dual_w"]
    Q = q_matrix(Xb, act, w)
    zp, _ = elliptope_bound(Q)
    zm, _ = elliptope_bound(-Q)
    rho = max(zp.sum(), zm.sum())
    yw, ww = float(y @ w), float(w @ w)
    s = min(max(-yw / ww, 0.0), 1.0 if rho <= beta else beta / rho)
    r = apply_lifted(Xb, act, fo.Z_plus - fo.Z_minus) - y
    return -s * yw - 0.5 * s * s * ww, 0.5 * float(r @ r) + beta * (fo.Z_plus[-1, -1] + fo.Z_minus[-1, -1])


@pytest.mark.parametrize("method,space", [("bm-admm", "rows"), ("bm-admm", "matrices"), ("admm", "rows"),
                                          ("bm", "auto")])
def test_single_precision_iterations_reach_the_scs_value_and_report_double_values(monkeypatch, method, space):
    """Forced single precision: the bound still agrees with SCS to 1e-4; and what a run reports,
    stopped early (where single-precision values would differ in the 7th digit), is what double
    arithmetic gives for the point it returns."""
    monkeypatch.setattr(FoEngine, "W_STEP", space)
    problem = make_problem(8, 30 if space == "rows" else 60, 8 if space == "rows" else 6, beta_fraction=0.3)
    Xb, y, beta, a = problem.binary_design(), problem.y, problem.beta, problem.activation
    fo = FoEngine(method=method).solve(Xb, y, beta, a, eps=1e-6, max_iters=3000, precision="single")
    scs = make_engine("scs").solve(Xb, y, beta, a, eps=1e-9, max_iters=200_000)
    assert fo.details["precision"] == "single" and fo.status.value == "optimal"
    assert fo.solver_objective == pytest.approx(scs.solver_objective, rel=1e-4)
    early = FoEngine(method=method).solve(Xb, y, beta, a, eps=1e-12, max_iters=7, precision="single")
    bound, primal = _reported_values_from_the_data(early, Xb, y, beta, a)
    assert early.solver_objective == pytest.approx(bound, rel=1e-10)
    assert early.details["primal_upper"] == pytest.approx(primal, rel=1e-10)


def _standardized_planted_problem(seed, n, d):
    """Standardized Gaussian features, a planted 3-neuron network plus noise, y standardized,
    beta = 1: the kind of problem the fo engine is for (its Shor solution has high rank), small."""
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, d))
    X = (X - X.mean(0)) / X.std(0)
    y = ((X @ np.where(rng.random((d, 3)) < 0.5, -1.0, 1.0)) ** 2 / d) @ rng.uniform(-1.5, 1.5, 3)
    y = y + 0.1 * rng.standard_normal(n)
    return QNNProblem(X, (y - y.mean()) / y.std(), beta=1.0)


def test_single_precision_admm_refines_each_step_to_the_double_bound():
    """In rows, ADMM with single-precision passes and no refinement stalls here (measured: bound
    3.9e-4 low after 300 iterations, not converged); with the exact images of each step's warm
    start it converges like double (both at iteration 180)."""
    problem = _standardized_planted_problem(1, 400, 40)
    Xb, y, beta, a = problem.binary_design(), problem.y, problem.beta, problem.activation
    runs = {precision: FoEngine().solve(Xb, y, beta, a, eps=1e-6, max_iters=300, precision=precision)
            for precision in ("double", "single")}
    assert runs["single"].details["w_step"] == "rows"
    assert runs["double"].status.value == "optimal" and runs["single"].status.value == "optimal"
    assert runs["single"].solver_objective == pytest.approx(runs["double"].solver_objective, rel=1e-6)


def test_precision_auto_goes_single_on_large_passes_only():
    assert not single_precision_pays(SINGLE_PRECISION_MIN_WORK // 100 - 1, 10)
    assert single_precision_pays(SINGLE_PRECISION_MIN_WORK // 100, 10)
    problem = make_problem(0, 60, 6, beta_fraction=0.3)
    fo = FoEngine().solve(problem.binary_design(), problem.y, problem.beta, problem.activation, max_iters=2)
    assert fo.details["precision"] == "double" and fo.details["exact_passes"] == fo.details["passes"]
    with pytest.raises(ValueError, match="precision"):
        FoEngine().solve(problem.binary_design(), problem.y, problem.beta, problem.activation, precision="half")


def test_the_w_step_goes_to_rows_when_they_are_fewer_than_the_matrix_dimension():
    # D = 11: range(T) has 66 - 11 + 1 = 56 dimensions
    assert w_step_space(55, 11) == "rows" and w_step_space(56, 11) == "matrices"
    for n, d, space in ((30, 10, "rows"), (60, 6, "matrices")):
        problem = make_problem(0, n, d, beta_fraction=0.3)
        fo = FoEngine(method="admm").solve(problem.binary_design(), problem.y, problem.beta, problem.activation,
                                           max_iters=2)
        assert fo.details["w_step"] == space


def test_the_line_is_searched_until_it_stops_moving_and_at_the_last_check():
    assert search_the_line(False, True, 0, 3)            # the last search moved theta: search again
    assert not search_the_line(False, False, 0, 3)       # it stayed at 0: the next two checks take 0
    assert not search_the_line(False, False, 1, 3)
    assert search_the_line(False, False, 2, 3)           # then search again
    assert search_the_line(True, False, 0, 3)            # the budget's last check always searches
    assert all(search_the_line(False, False, k, 1) for k in range(3))    # every = 1: always


def test_skipping_the_search_keeps_the_final_bound(monkeypatch):
    """On a problem where the line search matters (without it the bound is lower), skipping it
    while theta stays at 0 -- and always searching at the last check -- loses nothing."""
    import certqnn.shor.fo_engine as fo_engine

    problem = make_problem(2, 30, 10, beta_fraction=0.3)
    args = (problem.binary_design(), problem.y, problem.beta, problem.activation)
    rule = fo_engine.search_the_line
    bounds = {}
    for name, decide in (("rule", rule), ("always", lambda *a: True), ("never", lambda *a: False)):
        monkeypatch.setattr(fo_engine, "search_the_line", decide)
        bounds[name] = FoEngine(method="admm").solve(*args, eps=1e-12, max_iters=20).solver_objective
    assert bounds["never"] < bounds["always"] * (1 - 1e-3)
    assert bounds["rule"] == pytest.approx(bounds["always"], rel=1e-9)


@settings(max_examples=15, deadline=None)
@given(problem=problems(max_n=20, max_d=5, max_binary_dim=6, targets=("planted", "noise")))
def test_fo_certified_bound_is_below_the_exact_optimum(problem):
    """Whatever the budget, the certified bound from the fo engine is <= p* (brute force)."""
    result = solve(problem, "sdp", engine="fo", max_iters=30, rounding=False)
    cert = certify(problem, result)
    exact = brute_force_optimum(problem).value
    assert cert.lower_bound <= exact * (1 + 1e-9) + 1e-9


def test_cli_fo_certificate_verifies(tmp_path):
    from certqnn.cli import main

    out = tmp_path / "fo.json"
    assert main(["solve", "synthetic:n=80,d=6,seed=2", "--backend", "sdp", "--engine", "fo", "--out", str(out)]) == 0
    doc = json.loads(out.read_text())
    assert doc["tightness"]["engine"] == "fo"
    assert not any("second" in key or "time" in key for key in doc["tightness"])   # repeatable bit for bit
    assert main(["verify", str(out)]) == 0
    again = tmp_path / "again.json"
    assert main(["solve", "synthetic:n=80,d=6,seed=2", "--backend", "sdp", "--engine", "fo", "--out", str(again)]) == 0
    assert again.read_bytes() == out.read_bytes()


def test_engine_auto_picks_fo_when_the_conic_data_is_too_big(monkeypatch):
    from certqnn import limits

    problem = make_problem(4, 50, 5, beta_fraction=0.3)
    monkeypatch.setattr(limits, "SDP_CONIC_MAX_ENTRIES", 10)
    result = solve(problem, "sdp", rounding=False, max_iters=50)
    assert result.report["engine"] == "fo" and "exceeds" in result.report["engine_choice"]
    with pytest.raises(InvalidProblemError, match="form"):
        solve(problem, "sdp", rounding=False, form="gram")
    monkeypatch.setattr(limits, "SDP_CONIC_MAX_ENTRIES", 10**9)
    assert solve(problem, "sdp", rounding=False).report["engine"] == "scs"
    # and the fo engine's options, when auto chose scs: an error naming them, not ignored
    for name, value in (("fo_method", "bm"), ("fo_precision", "single")):
        with pytest.raises(InvalidProblemError, match=f"{name}.*auto chose scs"):
            solve(problem, "sdp", rounding=False, **{name: value})


def test_fo_refuses_a_non_quadratic_loss_by_name():
    problem = make_problem(5, 40, 4, target="labels", beta_fraction=0.3)
    problem = QNNProblem(problem.X, problem.y, beta=problem.beta, loss="logistic")
    with pytest.raises(UnsupportedProblemError, match="logistic"):
        solve(problem, "sdp", engine="fo")


def _primal_value(Xb, y, beta, act, Zp, Zm):
    from certqnn.lifting import apply_lifted

    r = apply_lifted(Xb, act, Zp - Zm) - y
    return 0.5 * float(r @ r) + beta * (Zp[-1, -1] + Zm[-1, -1])


@pytest.mark.parametrize("seed", [3, 4])
def test_bm_primal_is_feasible_and_its_value_is_above_its_bound(seed):
    """The Burer-Monteiro iterate is a feasible primal point (PSD, all diagonal entries equal) whose
    objective is the reported upper bound, which lies above the bound and above SCS's value --
    also on a budget far too small to converge."""
    problem = make_problem(seed, 70, 7, beta_fraction=0.2)
    Xb, y, beta, a = problem.binary_design(), problem.y, problem.beta, problem.activation
    scs = make_engine("scs").solve(Xb, y, beta, a, eps=1e-9, max_iters=200_000).solver_objective
    for its in (3, 200):
        fo = FoEngine(method="bm").solve(Xb, y, beta, a, eps=1e-9, max_iters=its)
        for Z in (fo.Z_plus, fo.Z_minus):
            assert np.allclose(np.diag(Z), Z[-1, -1], rtol=1e-12, atol=0)
            assert np.linalg.eigvalsh(Z)[0] >= -1e-12 * max(Z[-1, -1], 1e-300)
        upper = fo.details["primal_upper"]
        assert _primal_value(Xb, y, beta, a, fo.Z_plus, fo.Z_minus) == pytest.approx(upper, rel=1e-10)
        assert upper >= scs * (1 - 1e-6) >= fo.solver_objective * (1 - 2e-6)
        assert fo.details["bm_iterations"] <= its


def test_bm_admm_starts_admm_from_the_bm_point_and_counts_admm_iterations():
    """With a budget of one ADMM iteration the Burer-Monteiro start already gives (a bound and)
    the upper bound of a bm run of the same length; ADMM can only improve both."""
    problem = make_problem(8, 80, 8, beta_fraction=0.2)
    Xb, y, beta, a = problem.binary_design(), problem.y, problem.beta, problem.activation
    eng = FoEngine(method="bm-admm")
    eng.BM_WARM_ITERS = 15
    eng.BM_STALL = 0.0
    hybrid = eng.solve(Xb, y, beta, a, eps=1e-12, max_iters=1)
    bm = FoEngine(method="bm").solve(Xb, y, beta, a, eps=1e-12, max_iters=15)
    assert hybrid.details["bm_iterations"] == 15 and hybrid.iterations == 1
    assert hybrid.details["primal_upper"] <= bm.details["primal_upper"]
    assert hybrid.details["history"][0]["iteration"] == 0      # the bound from the Burer-Monteiro point


@pytest.mark.parametrize("name,good,bad", [("fo_method", "admm", "newton"), ("fo_precision", "single", "half")])
def test_fo_options_are_checked_by_name(name, good, bad):
    problem = make_problem(9, 30, 4, beta_fraction=0.3)
    with pytest.raises(InvalidProblemError, match=name):
        solve(problem, "sdp", engine="scs", **{name: good})            # not an option of scs
    with pytest.raises(InvalidProblemError, match=name):
        solve(problem, "sdp", engine="fo", **{name: bad})
    result = solve(problem, "sdp", engine="fo", max_iters=5, rounding=False, **{name: good})
    assert result.report[name] == good


@pytest.mark.parametrize("method", ["bm-admm", "bm"])
def test_fo_bm_is_deterministic(method):
    problem = make_problem(6, 50, 5, beta_fraction=0.3)
    Xb, y, beta, a = problem.binary_design(), problem.y, problem.beta, problem.activation
    one = FoEngine(method=method).solve(Xb, y, beta, a, eps=1e-12, max_iters=25)
    two = FoEngine(method=method).solve(Xb, y, beta, a, eps=1e-12, max_iters=25)
    assert one.solver_objective == two.solver_objective
    assert np.array_equal(one.details["dual_w"], two.details["dual_w"]) and np.array_equal(one.Z_plus, two.Z_plus)


def test_fo_is_deterministic():
    problem = make_problem(6, 50, 5, beta_fraction=0.3)
    a = solve(problem, "sdp", engine="fo", max_iters=40, rounding=False)
    b = solve(problem, "sdp", engine="fo", max_iters=40, rounding=False)
    assert np.array_equal(a.dual.w, b.dual.w) and np.array_equal(a.dual.z_plus, b.dual.z_plus)


MPI_RUNS = [("bm-admm", "auto", "double"), ("bm", "auto", "double"), ("admm", "auto", "double"),
            ("admm", "rows", "double"), ("bm-admm", "rows", "single")]
MPI_SCRIPT = "RUNS = " + repr(MPI_RUNS) + r"""
import json, numpy as np
from mpi4py import MPI
from certqnn.shor.fo_engine import FoEngine
from certqnn.testing import make_problem
from certqnn.rows import RowSource
p = make_problem(7, 90, 6, beta_fraction=0.3)
rows = RowSource.from_array(p.binary_design(), activation=p.activation, block_rows=16)
out = {}
for method, space, precision in RUNS:
    engine = FoEngine(comm=MPI.COMM_WORLD, method=method)
    engine.W_STEP = space
    sol = engine.solve(rows, p.y, p.beta, p.activation, eps=1e-7, max_iters=200, precision=precision)
    out[method + "/" + space + "/" + precision] = {"lb": sol.solver_objective, "w": sol.details["dual_w"].tolist(), "ranks": sol.details["ranks"],
                   "upper": sol.details["primal_upper"]}
if MPI.COMM_WORLD.Get_rank() == 0:
    print(json.dumps(out))
"""


def _mpiexec():
    here = os.path.join(os.path.dirname(sys.executable), "mpiexec")
    return here if os.path.exists(here) else shutil.which("mpiexec")


@pytest.mark.skipif(importlib.util.find_spec("mpi4py") is None, reason="mpi4py is not installed (pip install 'certqnn[mpi]')")
@pytest.mark.skipif(_mpiexec() is None, reason="no mpiexec found (the mpich wheel provides one next to python)")
def test_fo_mpi_gives_the_single_process_bound_bit_for_bit(tmp_path):
    script = tmp_path / "fo_mpi.py"
    script.write_text(MPI_SCRIPT)
    proc = subprocess.run([_mpiexec(), "-n", "3", sys.executable, str(script)], capture_output=True, text=True,
                          timeout=240, env={**os.environ, "CERTQNN_PROGRESS": "0"})
    assert proc.returncode == 0, proc.stderr[-2000:]
    runs = json.loads([ln for ln in proc.stdout.splitlines() if ln.startswith("{")][0])
    from certqnn.rows import RowSource

    p = make_problem(7, 90, 6, beta_fraction=0.3)
    rows = RowSource.from_array(p.binary_design(), activation=p.activation, block_rows=16)
    assert len(runs) == len(MPI_RUNS)
    for run, mpi in runs.items():
        assert mpi["ranks"] == 3
        method, space, precision = run.split("/")
        engine = FoEngine(method=method)
        engine.W_STEP = space
        one = engine.solve(rows, p.y, p.beta, p.activation, eps=1e-7, max_iters=200, precision=precision)
        # blocks summed in global order and exactly rounded dot products: bit for bit, not just close
        assert mpi["lb"] == one.solver_objective and mpi["upper"] == one.details["primal_upper"], run
        assert np.array_equal(np.array(mpi["w"]), one.details["dual_w"]), run


def test_fo_bm_admm_stops_at_the_time_limit_with_a_bound():
    problem = make_problem(10, 80, 8, beta_fraction=0.2)
    Xb, y, beta, a = problem.binary_design(), problem.y, problem.beta, problem.activation
    sol = FoEngine(method="bm-admm").solve(Xb, y, beta, a, eps=1e-12, max_iters=10_000, time_limit=0.0)
    assert sol.status.value == "time_limit" and sol.iterations == 0
    assert sol.details["bm_iterations"] == 1 and math.isfinite(sol.solver_objective)
