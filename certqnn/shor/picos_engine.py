"""The Shor SDP (docs/math.md §6) through PICOS: CVXOPT by default, or another installed
SDP-capable PICOS solver."""
from __future__ import annotations

import importlib.util
import warnings

import numpy as np

from ..errors import BackendUnavailableError, SolverError
from ..result import Status
from .solution import ShorSolution


class PicosEngine:
    """PICOS front end (CVXOPT by default, or another installed SDP-capable PICOS solver)."""

    name = "picos"
    SDP_SOLVERS = ("cvxopt", "mosek", "smcp", "qics")

    def __init__(self, solver: str | None = None):
        self.solver = solver

    @classmethod
    def installed_solvers(cls) -> list[str]:
        if importlib.util.find_spec("picos") is None:
            return []
        import picos
        return [s for s in cls.SDP_SOLVERS if s in picos.available_solvers()]

    @staticmethod
    def available():
        return bool(PicosEngine.installed_solvers())

    LINK_SIGN = 1.0

    def models(self, model) -> bool:
        """True when this engine can pose `model` (certqnn.shor.loss_models.ConeModel): every model
        without exponential cones. (CVXOPT's conelp has none; PICOS's ExponentialCone orders its
        triple differently from SCS and no installed solver here could test a translation.)"""
        return model is None or model.n_ep == 0

    def solve(self, Xb, y, beta, act, eps=1e-7, max_iters=500, time_limit=None, verbose=False,
              model=None) -> ShorSolution:
        """The Shor SDP for 1/2 |yhat - y|^2 (model None) or for a ConeModel of a general loss."""
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
        yhat = Fc * (Zp - Zm).vec
        prob = picos.Problem()
        if model is None:
            yc = picos.Constant("y", y)
            # epigraph form: |yhat - y|^2 <= 2 s is a rotated cone for CVXOPT; writing the objective as
            # 0.5*abs(.)**2 makes PICOS expand F^T F and costs accuracy (measured: 3e-5 off, loose duals)
            s_epi = picos.RealVariable("s")
            prob.add_constraint(abs(yhat - yc) ** 2 <= 2 * s_epi)
            loss_term = s_epi
            link = None
        else:
            loss_term, link = self._pose_model(picos, prob, model, yhat)
        prob.set_objective("min", loss_term + beta * (Zp[D - 1, D - 1] + Zm[D - 1, D - 1]))
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
        Sp_diag = Sm_diag = w_link = None
        if link is not None and link.dual is not None:
            # PICOS's multiplier of r == yhat - offset; LINK_SIGN makes it grad L (tests check it
            # against the gradient of a smooth loss)
            w_link = self.LINK_SIGN * np.array(link.dual, dtype=float).ravel()
        try:
            Sp_diag = np.diag(np.array(cp_.dual, dtype=float)).copy()
            Sm_diag = np.diag(np.array(cm_.dual, dtype=float)).copy()
        except Exception:  # noqa: BLE001 - duals are optional; certify() falls back to eigenvalues
            pass
        return ShorSolution(Zp_val, Zm_val, Sp_diag, Sm_diag, status, 0, sol.value,
                            {"solver_status": f"{sol.claimedStatus}/{sol.problemStatus}", "picos_solver": solver,
                             "dual_diag": True, "w_link": w_link,
                             "cone_model": "quadratic (residual form)" if model is None else model.description})

    @staticmethod
    def _pose_model(picos, prob, model, yhat):
        """Add the rows of a ConeModel over x = [r, aux] with r = yhat - offset; return the loss
        expression. The quadratic part 1/2 sum P_i x_i^2 goes through one rotated-cone epigraph
        (as the quadratic loss does, for accuracy)."""
        n, nx = model.n, model.n + model.n_aux
        x = picos.RealVariable("x", nx)
        link = prob.add_constraint(x[:n] == yhat - picos.Constant("offset", model.offset))
        term = picos.Constant(model.const) + picos.Constant("c", model.c).T * x
        quad = np.flatnonzero(model.P_diag)
        if len(quad):
            scale = picos.Constant("sqrtP", np.sqrt(model.P_diag[quad]))
            s_epi = picos.RealVariable("s")
            xs = picos.Constant("Sel", np.eye(nx)[quad]) * x
            prob.add_constraint(abs(scale ^ xs) ** 2 <= 2 * s_epi)
            term = term + s_epi
        if model.n_l:
            prob.add_constraint(picos.Constant("Al", model.A_l.toarray()) * x <= picos.Constant("bl", model.b_l))
        start = 0
        Aq = model.A_q.toarray()
        for size in model.q:   # (b - A x)[0] >= |(b - A x)[1:]|
            rows = slice(start, start + size)
            s_vec = picos.Constant(model.b_q[rows]) - picos.Constant(Aq[rows]) * x
            prob.add_constraint(abs(s_vec[1:]) <= s_vec[0])
            start += size
        if model.n_ep:
            raise SolverError("the picos engine poses no exponential cones (see models())")
        return term, link
