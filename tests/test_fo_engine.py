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
from certqnn.shor.fo_engine import (FoEngine, LocalRows, _MatrixWStep, _RowWStep, feasible_primal,
                                       offdiag_trace, search_the_line, w_step_space)
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


def test_fo_method_is_checked_by_name():
    problem = make_problem(9, 30, 4, beta_fraction=0.3)
    with pytest.raises(InvalidProblemError, match="fo_method"):
        solve(problem, "sdp", engine="scs", fo_method="bm")
    with pytest.raises(InvalidProblemError, match="fo_method"):
        solve(problem, "sdp", engine="fo", fo_method="newton")
    result = solve(problem, "sdp", engine="fo", fo_method="admm", max_iters=5, rounding=False)
    assert result.report["fo_method"] == "admm"


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


MPI_SCRIPT = r"""
import json, numpy as np
from mpi4py import MPI
from certqnn.shor.fo_engine import FoEngine
from certqnn.testing import make_problem
from certqnn.rows import RowSource
p = make_problem(7, 90, 6, beta_fraction=0.3)
rows = RowSource.from_array(p.binary_design(), activation=p.activation, block_rows=16)
out = {}
for method, space in (("bm-admm", "auto"), ("bm", "auto"), ("admm", "auto"), ("admm", "rows")):
    engine = FoEngine(comm=MPI.COMM_WORLD, method=method)
    engine.W_STEP = space
    sol = engine.solve(rows, p.y, p.beta, p.activation, eps=1e-7, max_iters=200)
    out[method + "/" + space] = {"lb": sol.solver_objective, "w": sol.details["dual_w"].tolist(), "ranks": sol.details["ranks"],
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
    assert len(runs) == 4
    for run, mpi in runs.items():
        assert mpi["ranks"] == 3
        method, space = run.split("/")
        engine = FoEngine(method=method)
        engine.W_STEP = space
        one = engine.solve(rows, p.y, p.beta, p.activation, eps=1e-7, max_iters=200)
        # blocks summed in global order and exactly rounded dot products: bit for bit, not just close
        assert mpi["lb"] == one.solver_objective and mpi["upper"] == one.details["primal_upper"], run
        assert np.array_equal(np.array(mpi["w"]), one.details["dual_w"]), run


def test_fo_bm_admm_stops_at_the_time_limit_with_a_bound():
    problem = make_problem(10, 80, 8, beta_fraction=0.2)
    Xb, y, beta, a = problem.binary_design(), problem.y, problem.beta, problem.activation
    sol = FoEngine(method="bm-admm").solve(Xb, y, beta, a, eps=1e-12, max_iters=10_000, time_limit=0.0)
    assert sol.status.value == "time_limit" and sol.iterations == 0
    assert sol.details["bm_iterations"] == 1 and math.isfinite(sol.solver_objective)
