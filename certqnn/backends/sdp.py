"""The Shor SDP relaxation (math §6) with two engines, then Grothendieck rounding (math §7).

    d_SDP = min_{Z+, Z- >= 0}  L(A(Z+ - Z-)) + beta (t+ + t-)   s.t.  Z^±_kk = t^± = Z^±_{DD}

Engines
  scs    SCS through its native API: the sparse conic data are built here (no modelling layer).
  picos  PICOS with CVXOPT (or any other SDP-capable PICOS solver that is installed).

The engines return a *claim*: primal matrices Z^±, the dual vector w = grad L(A(Z+ - Z-)) and
diagonal guesses z^± read from the solver's PSD-cone duals. certify() repairs and verifies them.
"""
from __future__ import annotations

import math
import time
import warnings
from dataclasses import dataclass, field

import numpy as np
import scipy.sparse as sp

from ..errors import BackendUnavailableError, InvalidProblemError, SolverError, UnsupportedProblemError
from ..lifting import apply_lifted, q_matrix
from ..problem import QNNProblem
from ..result import DualData, Result, Status
from .base import Backend, register

SQRT2 = math.sqrt(2.0)
MAX_SDP_DIM = 400            # (p+1) x (p+1) PSD blocks; beyond this the dense solves are hours


# -- scaled lower-triangular column-major vectorisation (SCS's PSD cone convention) ----------
def svec_layout(D: int):
    """Row/column indices and scale factors of svec for D x D matrices; length D(D+1)/2.
    Entry (i, j), i >= j, ordered column by column; off-diagonals scaled by sqrt(2) so that
    <A, B> = svec(A) . svec(B)."""
    cols, rows = np.triu_indices(D)          # (col, row) pairs with row >= col, column-major
    scale = np.where(rows == cols, 1.0, SQRT2)
    return rows, cols, scale


def svec(M: np.ndarray) -> np.ndarray:
    rows, cols, scale = svec_layout(M.shape[0])
    return M[rows, cols] * scale


def smat(v: np.ndarray, D: int) -> np.ndarray:
    rows, cols, scale = svec_layout(D)
    M = np.zeros((D, D))
    M[rows, cols] = v / scale
    M[cols, rows] = v / scale
    return M


def lifted_features(Xb: np.ndarray, act) -> np.ndarray:
    """F with F[i] = svec(M(x_i)), shape (n, D(D+1)/2), D = p+1: A(Z) = F svec(Z)."""
    n, p = Xb.shape
    D = p + 1
    rows, cols, scale = svec_layout(D)
    Xt = np.hstack([Xb, np.ones((n, 1))])
    F = Xt[:, rows] * Xt[:, cols]
    coef = np.where((rows < p) & (cols < p), act.a, np.where((rows == p) & (cols == p), act.c, 0.5 * act.b))
    return F * (coef * scale)


@dataclass
class ShorSolution:
    Z_plus: np.ndarray
    Z_minus: np.ndarray
    S_plus_diag: np.ndarray | None       # diagonal of the dual of the Z+ cone, ~ Diag(z-) + Q(w)
    S_minus_diag: np.ndarray | None      # diagonal of the dual of the Z- cone, ~ Diag(z+) - Q(w)
    status: Status
    iterations: int
    solver_objective: float | None
    info: dict = field(default_factory=dict)


def _psd_part(Z: np.ndarray) -> np.ndarray:
    vals, vecs = np.linalg.eigh(0.5 * (Z + Z.T))
    return (vecs * np.clip(vals, 0, None)) @ vecs.T


class ScsEngine:
    """SCS 3 native API. Variables x = [v, svec Z+, svec Z-, r] with v = svec(Z+ - Z-), so the
    dense data block F appears once: F v - r = y; objective r^T r / 2 + beta (t+ + t-)."""

    name = "scs"
    # SCS status codes -> ours (one table, as in cvxpy)
    STATUS = {1: Status.OPTIMAL, 2: Status.OPTIMAL_INACCURATE, -1: Status.ERROR, -2: Status.INFEASIBLE,
              -6: Status.ERROR, -7: Status.INFEASIBLE, -3: Status.ERROR, -4: Status.ERROR, -5: Status.ERROR,
              0: Status.ERROR}

    @staticmethod
    def available():
        import importlib.util
        return importlib.util.find_spec("scs") is not None

    @staticmethod
    def choose_form(n: int, D: int) -> str:
        """'gram' moves the dense data block into P (F^T F, m x m); 'residual' keeps n residual
        variables r with F v - r = y. Measured (benchmarks/sdp_speed.py): gram pays off when the
        factorisation dominates, i.e. large PSD blocks (m >= 800) with n >= m/2; it needs more
        iterations, so for small blocks the residual form is faster."""
        m = D * (D + 1) // 2
        return "gram" if (m >= 800 and n >= m / 2) else "residual"

    def build(self, Xb, y, beta, act, cuts_plus=None, cuts_minus=None, form="residual"):
        """Sparse conic data (P, A, b, c) and cone dict for the Shor SDP, optionally with triangle
        cuts <E_T, Z^±> + t^± >= 0 (certqnn.triangles) on either block.

        Variables x = [v, svec Z+, svec Z-] (+ r in residual form), v = svec(Z+ - Z-).
        residual form: min r^T r / 2 + beta (t+ + t-)  s.t. F v - r = y
        gram form:     min v^T F^T F v / 2 - (F^T y)^T v + beta (t+ + t-)   (objective - y^T y / 2)
        """
        n, p = Xb.shape
        D = p + 1
        m = D * (D + 1) // 2
        F = lifted_features(Xb, act)
        rows, cols, _ = svec_layout(D)
        diag_pos = np.flatnonzero(rows == cols)           # svec positions of Z_kk, k = 0..D-1
        tpos = diag_pos[-1]
        residual = form == "residual"
        nr = n if residual else 0
        nv = 3 * m + nr
        izp, izm, ir = m, 2 * m, 3 * m
        I_m = sp.identity(m, format="csc")
        blocks = []
        if residual:   # zero cone (1): F v - r = y
            blocks.append(sp.hstack([sp.csc_matrix(F), sp.csc_matrix((n, 2 * m)), -sp.identity(n, format="csc")]))
        # zero cone (2): v - Z+ + Z- = 0; (3): Z^±_kk - t^± = 0
        blocks.append(sp.hstack([I_m, -I_m, I_m, sp.csc_matrix((m, nr))]))
        k = np.arange(p)
        diag_rows = np.concatenate([k, k, p + k, p + k])
        diag_cols = np.concatenate([izp + diag_pos[:p], np.full(p, izp + tpos), izm + diag_pos[:p], np.full(p, izm + tpos)])
        diag_vals = np.concatenate([np.ones(p), -np.ones(p), np.ones(p), -np.ones(p)])
        blocks.append(sp.csc_matrix((diag_vals, (diag_rows, diag_cols)), shape=(2 * p, nv)))
        n_zero = nr + m + 2 * p
        # nonnegative cone: triangle cuts, s = <E_T, Z> + t = b - A x with b = 0
        cut_blocks = [self._cut_rows(cuts_plus, izp, D, nv, tpos), self._cut_rows(cuts_minus, izm, D, nv, tpos)]
        n_cuts = sum(cb.shape[0] for cb in cut_blocks)
        # PSD cones: s = svec Z = b - A x with A = -I on each block, b = 0
        A4 = sp.hstack([sp.csc_matrix((m, m)), -I_m, sp.csc_matrix((m, m + nr))])
        A5 = sp.hstack([sp.csc_matrix((m, 2 * m)), -I_m, sp.csc_matrix((m, nr))])
        A = sp.vstack([*blocks, *cut_blocks, A4, A5], format="csc")
        b = np.concatenate([y if residual else np.zeros(0), np.zeros(m + 2 * p + n_cuts + 2 * m)])
        c = np.zeros(nv)
        c[izp + tpos] = beta
        c[izm + tpos] = beta
        if residual:
            P = sp.csc_matrix((np.ones(n), (ir + np.arange(n), ir + np.arange(n))), shape=(nv, nv))
        else:
            c[:m] = -(F.T @ y)
            P = sp.block_diag([sp.csc_matrix(np.triu(F.T @ F)), sp.csc_matrix((2 * m, 2 * m))], format="csc")
        cone = {"z": n_zero, "l": n_cuts, "s": [D, D]}
        return {"P": P, "A": A, "b": b, "c": c}, cone, (m, D)

    @staticmethod
    def _cut_rows(cuts, offset, D, nv, tpos):
        """Rows -(<E_T, Z> + t) in svec coordinates of the block starting at `offset`."""
        if cuts is None or len(cuts) == 0:
            return sp.csc_matrix((0, nv))
        cuts = np.asarray(cuts, dtype=np.int64)
        i, j, k, si, sj, sk = cuts.T

        def pos(r, c):  # svec index of entry (r, c), r > c (column-major lower triangle)
            return c * D - c * (c - 1) // 2 + (r - c)

        r_idx = np.arange(cuts.shape[0])
        rows_ = np.concatenate([r_idx] * 4)
        cols_ = np.concatenate([offset + pos(j, i), offset + pos(k, i), offset + pos(k, j), np.full(cuts.shape[0], offset + tpos)])
        vals = -np.concatenate([si * sj / SQRT2, si * sk / SQRT2, sj * sk / SQRT2, np.ones(cuts.shape[0])])
        return sp.csc_matrix((vals, (rows_, cols_)), shape=(cuts.shape[0], nv))

    def solve(self, Xb, y, beta, act, eps=1e-6, max_iters=100_000, time_limit=None, verbose=False,
              linear_solver="auto", cuts_plus=None, cuts_minus=None, warm=None, form="auto", **_) -> ShorSolution:
        import scs

        n = Xb.shape[0]
        if form == "auto":
            form = self.choose_form(n, Xb.shape[1] + 1)
        if form not in ("gram", "residual"):
            raise InvalidProblemError("form", f"unknown SCS formulation {form!r}; use auto, gram or residual")
        data, cone, (m, D) = self.build(Xb, y, beta, act, cuts_plus, cuts_minus, form=form)
        # in gram form SCS measures its residuals against terms of size |y|^2/2 (the constant it
        # no longer sees), so the same accuracy needs a tighter tolerance
        tol = eps * 1e-3 if form == "gram" else eps
        settings = dict(eps_abs=tol, eps_rel=tol, max_iters=int(max_iters), verbose=bool(verbose))
        if time_limit:
            settings["time_limit_secs"] = float(time_limit)
        if linear_solver != "auto":
            settings["linear_solver"] = linear_solver
        solver = scs.SCS(data, cone, **settings)
        if warm is not None:
            sol = solver.solve(warm_start=True, **self._warm_vectors(warm, cone, cuts_plus, cuts_minus))
        else:
            sol = solver.solve()
        info = sol["info"]
        status = self.STATUS.get(int(info["status_val"]), Status.ERROR)
        if info["status_val"] == -6 or "time" in str(info.get("status", "")).lower():  # hit a limit
            status = Status.TIME_LIMIT
        x, yd = sol["x"], sol["y"]
        if x is None or not np.all(np.isfinite(x)):
            raise SolverError(f"SCS returned no usable point (status {info.get('status')})")
        izp, izm = m, 2 * m
        Zp = smat(x[izp:izp + m], D)
        Zm = smat(x[izm:izm + m], D)
        nz, nl = cone["z"], cone["l"]
        n_plus = 0 if cuts_plus is None else len(cuts_plus)
        mu_cuts_plus = np.clip(yd[nz:nz + n_plus], 0, None)          # cuts on the Z+ block
        mu_cuts_minus = np.clip(yd[nz + n_plus:nz + nl], 0, None)    # cuts on the Z- block
        off = nz + nl
        Sp = smat(yd[off:off + m], D)           # dual of the Z+ cone: ~ Q(w) + Diag(.) - sum mu E_T
        Sm = smat(yd[off + m:off + 2 * m], D)   # dual of the Z- cone: ~ -Q(w) + Diag(.) - sum mu E_T
        pobj = float(info["pobj"]) + (0.5 * float(y @ y) if form == "gram" else 0.0)
        return ShorSolution(Zp, Zm, np.diag(Sp).copy(), np.diag(Sm).copy(), status, int(info["iter"]),
                            pobj, {"solver_status": info["status"], "dual_diag": True, "form": form,
                                                  "solve_seconds": info.get("solve_time", 0) / 1000.0,
                                                  "setup_seconds": info.get("setup_time", 0) / 1000.0,
                                                  "mu_cuts_on_plus_block": mu_cuts_plus,
                                                  "mu_cuts_on_minus_block": mu_cuts_minus,
                                                  "warm": (sol["x"], sol["y"], sol["s"], n_plus, nl - n_plus)})

    @staticmethod
    def _warm_vectors(warm, cone, cuts_plus, cuts_minus):
        """Previous (x, y, s) extended by zeros for cut rows appended since (rows of each block's
        cuts are old-then-new), so a separation round restarts next to the last solution."""
        x, y, s, old_p, old_m = warm
        nz = cone["z"]
        new_p = (0 if cuts_plus is None else len(cuts_plus)) - old_p
        new_m = (0 if cuts_minus is None else len(cuts_minus)) - old_m

        def extend(v):
            return np.concatenate([v[:nz], v[nz:nz + old_p], np.zeros(new_p),
                                   v[nz + old_p:nz + old_p + old_m], np.zeros(new_m), v[nz + old_p + old_m:]])

        return {"x": x, "y": extend(y), "s": extend(s)}


class PicosEngine:
    """PICOS front end (CVXOPT by default, or another installed SDP-capable PICOS solver)."""

    name = "picos"
    SDP_SOLVERS = ("cvxopt", "mosek", "smcp", "qics")

    def __init__(self, solver: str | None = None):
        self.solver = solver

    @classmethod
    def installed_solvers(cls) -> list[str]:
        import importlib.util
        if importlib.util.find_spec("picos") is None:
            return []
        import picos
        return [s for s in cls.SDP_SOLVERS if s in picos.available_solvers()]

    @staticmethod
    def available():
        return bool(PicosEngine.installed_solvers())

    def solve(self, Xb, y, beta, act, eps=1e-7, max_iters=500, time_limit=None, verbose=False, **_) -> ShorSolution:
        import picos

        solvers = self.installed_solvers()
        solver = self.solver or (solvers[0] if solvers else None)
        if solver not in solvers:
            raise BackendUnavailableError(f"PICOS solver {solver!r} is not installed; installed SDP solvers: {solvers or 'none'} (pip install cvxopt)")
        n, p = Xb.shape
        D = p + 1
        Xt = np.hstack([Xb, np.ones((n, 1))])
        coef = np.full((D, D), 0.5 * act.b)
        coef[:p, :p] = act.a
        coef[p, p] = act.c
        # row i of Fvec is vec(M(x_i)) (M symmetric, so column-major = row-major): A(Z) = Fvec vec(Z)
        Fvec = (Xt[:, :, None] * Xt[:, None, :] * coef).reshape(n, D * D)
        Zp = picos.SymmetricVariable("Zp", D)
        Zm = picos.SymmetricVariable("Zm", D)
        Fc = picos.Constant("F", Fvec)
        yc = picos.Constant("y", y)
        yhat = Fc * (Zp - Zm).vec
        prob = picos.Problem()
        # epigraph form: |yhat - y|^2 <= 2 s is a rotated cone for CVXOPT; writing the objective as
        # 0.5*abs(.)**2 makes PICOS expand F^T F and costs accuracy (measured: 3e-5 off, loose duals)
        s_epi = picos.RealVariable("s")
        prob.add_constraint(abs(yhat - yc) ** 2 <= 2 * s_epi)
        prob.set_objective("min", s_epi + beta * (Zp[D - 1, D - 1] + Zm[D - 1, D - 1]))
        cp_ = prob.add_constraint(Zp >> 0)
        cm_ = prob.add_constraint(Zm >> 0)
        for Z in (Zp, Zm):
            prob.add_list_of_constraints([Z[k, k] == Z[D - 1, D - 1] for k in range(p)])
        options = dict(solver=solver, verbosity=1 if verbose else 0, abs_prim_fsb_tol=eps, abs_dual_fsb_tol=eps,
                       rel_ipm_opt_tol=eps, max_iterations=int(max_iters), primals=True, duals=None)
        if time_limit:
            options["timelimit"] = float(time_limit)
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                sol = prob.solve(**options)
        except picos.SolutionFailure as exc:  # no primal at all
            raise SolverError(f"PICOS/{solver} failed: {exc}") from exc
        except Exception as exc:  # noqa: BLE001 - CVXOPT raises ArithmeticError/ValueError on hard instances
            raise SolverError(f"PICOS/{solver} failed: {exc}") from exc
        if Zp.value is None:
            raise SolverError(f"PICOS/{solver} returned no primal point ({sol.claimedStatus})")
        Zp_val = np.array(Zp.value, dtype=float)
        Zm_val = np.array(Zm.value, dtype=float)
        status = Status.OPTIMAL if sol.claimedStatus == "optimal" and sol.problemStatus == "feasible" else Status.OPTIMAL_INACCURATE
        Sp_diag = Sm_diag = None
        try:
            Sp_diag = np.diag(np.array(cp_.dual, dtype=float)).copy()
            Sm_diag = np.diag(np.array(cm_.dual, dtype=float)).copy()
        except Exception:  # noqa: BLE001 - duals are optional; certify() falls back to eigenvalues
            pass
        return ShorSolution(Zp_val, Zm_val, Sp_diag, Sm_diag, status, 0, sol.value,
                            {"solver_status": f"{sol.claimedStatus}/{sol.problemStatus}", "picos_solver": solver,
                             "dual_diag": True})


def make_engine(engine: str):
    """'scs' | 'picos' | 'picos:SOLVER'."""
    engine = (engine or "scs").lower()
    if engine == "scs":
        if not ScsEngine.available():
            raise BackendUnavailableError("engine 'scs' needs the scs package: pip install 'certqnn[scs]'")
        return ScsEngine()
    if engine == "picos" or engine.startswith("picos:"):
        solver = engine.split(":", 1)[1] if ":" in engine else None
        if not PicosEngine.available():
            raise BackendUnavailableError("engine 'picos' needs picos and cvxopt: pip install picos cvxopt")
        return PicosEngine(solver)
    raise InvalidProblemError("engine", f"unknown SDP engine {engine!r}; use scs, picos or picos:SOLVER")


def dual_diagonal(Q: np.ndarray, S_diag: np.ndarray | None, sign: float) -> np.ndarray | None:
    """z guess with Diag(z) - sign*Q >= 0, read from a PSD-cone dual S ~ Diag(z) - sign*Q."""
    if S_diag is None:
        return None
    return np.asarray(S_diag, float) + sign * np.diag(Q)


@register
class SdpBackend(Backend):
    name = "sdp"
    requires = ("scs",)
    extra = "scs"
    description = "Shor SDP relaxation + Grothendieck rounding (engines: scs native, picos)"

    def supports(self, problem: QNNProblem):
        if problem.loss.name != "squared":
            return False, f"the SDP engines model the squared loss only (got {problem.loss.name})"
        if problem.binary_dim + 1 > MAX_SDP_DIM:
            return False, f"PSD blocks of size {problem.binary_dim + 1} exceed the limit {MAX_SDP_DIM}"
        return True, ""

    def solve(self, problem: QNNProblem, engine: str = "scs", eps: float | None = None, max_iters: int | None = None,
              time_limit: float | None = None, samples: int = 64, local_search: bool = True, seed: int = 0,
              verbose: bool = False, rounding: bool = True, rounding_time: float = 30.0, cuts: str | None = None,
              cut_rounds: int = 10, cuts_per_round: int = 100, cut_tol: float = 1e-3, **options) -> Result:
        """Solve the Shor SDP with `engine`, then (rounding=True) sample and refit a network.
        rounding=False returns the empty network (only the certified lower bound is of interest)."""
        ok, reason = self.supports(problem)
        if not ok:
            raise UnsupportedProblemError(reason)
        eng = make_engine(engine)
        start = time.perf_counter()
        Xb = problem.binary_design()
        kwargs = {"time_limit": time_limit, "verbose": verbose}
        if eps is not None:
            kwargs["eps"] = eps
        if max_iters is not None:
            kwargs["max_iters"] = max_iters
        kwargs.update({k: v for k, v in options.items() if k in ("linear_solver", "form")})
        if cuts not in (None, "none", "triangle"):
            raise InvalidProblemError("cuts", f"unknown cut family {cuts!r}; use 'triangle' or none")
        if cuts == "triangle" and eng.name != "scs":
            raise InvalidProblemError("cuts", "triangle cuts are implemented for the scs engine only")
        sdp = eng.solve(Xb, problem.y, problem.beta, problem.activation, **kwargs)
        act, loss = problem.activation, problem.loss
        cut_info = {}
        cuts_on_plus = cuts_on_minus = np.zeros((0, 6), dtype=np.int64)
        if cuts == "triangle":
            from ..triangles import find_violated
            from ..rounding import unit_diagonal
            shor_value = sdp.solver_objective
            rounds = 0
            for rounds in range(1, cut_rounds + 1):
                new = []
                for Z, have in ((sdp.Z_plus, cuts_on_plus), (sdp.Z_minus, cuts_on_minus)):
                    Zh = unit_diagonal(Z) if Z[-1, -1] > 1e-9 * max(1.0, np.abs(Z).max()) else None
                    new.append(np.zeros((0, 6), dtype=np.int64) if Zh is None else
                               find_violated(Zh, cut_tol, cuts_per_round, exclude=have))
                if not (len(new[0]) or len(new[1])):
                    rounds -= 1
                    break
                cuts_on_plus = np.vstack([cuts_on_plus, new[0]])
                cuts_on_minus = np.vstack([cuts_on_minus, new[1]])
                if time_limit is not None and time.perf_counter() - start > time_limit:
                    break
                sdp = eng.solve(Xb, problem.y, problem.beta, act, cuts_plus=cuts_on_plus, cuts_minus=cuts_on_minus,
                                warm=sdp.info.get("warm"), **kwargs)
            cut_info = {"shor_bound": shor_value, "strengthened_bound": sdp.solver_objective,
                        "cuts_added": int(len(cuts_on_plus) + len(cuts_on_minus)), "cut_rounds": rounds}
        solve_seconds = time.perf_counter() - start
        yhat = apply_lifted(Xb, act, sdp.Z_plus - sdp.Z_minus)
        w = loss.gradient(yhat, problem.y)
        Q = q_matrix(Xb, act, w)
        z_plus = dual_diagonal(Q, sdp.S_minus_diag, +1.0)
        z_minus = dual_diagonal(Q, sdp.S_plus_diag, -1.0)
        sdp_value = loss.value(yhat, problem.y) + problem.beta * (sdp.Z_plus[-1, -1] + sdp.Z_minus[-1, -1])
        from ..rounding import round_relaxation

        if rounding:
            budget = rounding_time if time_limit is None else max(0.0, min(rounding_time, time_limit - solve_seconds))
            network, rounding_info = round_relaxation(problem, Xb, sdp.Z_plus, sdp.Z_minus, w, samples=samples,
                                                      local_search=local_search, seed=seed, time_budget=budget)
        else:
            from ..network import QuantizedNetwork
            network, rounding_info = QuantizedNetwork(np.zeros((problem.d, 0)), np.zeros(0)), {}
        ub = problem.objective(network.U, network.alpha)
        lb_claim = sdp.solver_objective
        return Result(
            status=sdp.status, backend=self.name, network=network, lower_bound=lb_claim, upper_bound=ub,
            # cuts on the Z- block pair with z_plus (they certify max u~^T Q u~), and vice versa
            dual=DualData(w=w, z_plus=z_plus, z_minus=z_minus,
                          cuts_plus=cuts_on_minus, mu_plus=sdp.info.get("mu_cuts_on_minus_block"),
                          cuts_minus=cuts_on_plus, mu_minus=sdp.info.get("mu_cuts_on_plus_block")),
            relaxation={"Z_plus": sdp.Z_plus, "Z_minus": sdp.Z_minus, "value": float(sdp_value),
                        "solver_objective": sdp.solver_objective},
            iterations=sdp.iterations, seconds=time.perf_counter() - start,
            info={"engine": eng.name + (f":{sdp.info['picos_solver']}" if "picos_solver" in sdp.info else ""),
                  "solver_status": sdp.info.get("solver_status"), "sdp_seconds": solve_seconds,
                  "scs_form": sdp.info.get("form"), "scs_setup_seconds": sdp.info.get("setup_seconds"),
                  "scs_solve_seconds": sdp.info.get("solve_seconds"),
                  "rho_certified_by": "shor", **cut_info, **rounding_info},
        )
