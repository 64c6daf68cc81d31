"""The Shor SDP (docs/math.md §6) through SCS's native API: sparse conic data built here, no
modelling layer. Optional triangle cuts on either block (certqnn.triangles)."""
from __future__ import annotations

import importlib.util

import numpy as np
import scipy.sparse as sp

from ..errors import InvalidProblemError, SolverError
from ..result import Status
from .solution import ShorSolution
from .svec import SQRT2, lifted_features, smat, svec_layout


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
        return importlib.util.find_spec("scs") is not None

    @staticmethod
    def models(model) -> bool:
        """SCS has every cone a loss model uses (nonnegative, second-order, exponential)."""
        return True

    @staticmethod
    def choose_form(n: int, D: int) -> str:
        """'gram' moves the dense data block into P (F^T F, m x m); 'residual' keeps n residual
        variables r with F v - r = y. Measured (benchmarks/sdp_speed.py): gram pays off when the
        factorisation dominates, i.e. large PSD blocks (m >= 800) with n >= m/2; it needs more
        iterations, so for small blocks the residual form is faster."""
        m = D * (D + 1) // 2
        return "gram" if (m >= 800 and n >= m / 2) else "residual"

    def build(self, Xb, y, beta, act, cuts_plus=None, cuts_minus=None, form="residual", model=None):
        """Sparse conic data (P, A, b, c) and cone dict for the Shor SDP, optionally with triangle
        cuts <E_T, Z^±> + t^± >= 0 (certqnn.triangles) on either block.

        Variables x = [v, svec Z+, svec Z-] (+ r, aux in residual form), v = svec(Z+ - Z-).
        model None (quadratic, as rescaled by the backend):
          residual form: min r^T r / 2 + beta (t+ + t-)  s.t. F v - r = y
          gram form:     min v^T F^T F v / 2 - (F^T y)^T v + beta (t+ + t-)   (objective - y^T y / 2)
        model a ConeModel (certqnn.shor.loss_models, residual form only):
          min model(r, aux) + beta (t+ + t-)  s.t. F v - r = model.offset, model's cone rows
        Rows are ordered as SCS's cones: zero, nonnegative (cuts on Z+, cuts on Z-, the model's),
        second-order (model), PSD (Z+, Z-), primal exponential (model).
        """
        n, p = Xb.shape
        if model is None:
            from .loss_models import ConeModel
            model = ConeModel(n=n, n_aux=0, offset=np.asarray(y, float), P_diag=np.ones(n), c=np.zeros(n),
                              description="quadratic (residual form)", gram_ok=True)
        if form == "gram" and not model.gram_ok:
            raise InvalidProblemError("form", f"the gram form models quadratic losses only, not {model.description}")
        D = p + 1
        m = D * (D + 1) // 2
        F = lifted_features(Xb, act)
        rows, cols, _ = svec_layout(D)
        diag_pos = np.flatnonzero(rows == cols)           # svec positions of Z_kk, k = 0..D-1
        tpos = diag_pos[-1]
        residual = form == "residual"
        nr = n + model.n_aux if residual else 0           # r and the model's auxiliary variables
        nv = 3 * m + nr
        izp, izm, ir = m, 2 * m, 3 * m
        I_m = sp.identity(m, format="csc")
        offset = np.asarray(model.offset, float)
        blocks = []
        if residual:   # zero cone (1): F v - r = offset
            blocks.append(sp.hstack([sp.csc_matrix(F), sp.csc_matrix((n, 2 * m)), -sp.identity(n, format="csc"),
                                     sp.csc_matrix((n, model.n_aux))]))
        # zero cone (2): v - Z+ + Z- = 0; (3): Z^±_kk - t^± = 0
        blocks.append(sp.hstack([I_m, -I_m, I_m, sp.csc_matrix((m, nr))]))
        k = np.arange(p)
        diag_rows = np.concatenate([k, k, p + k, p + k])
        diag_cols = np.concatenate([izp + diag_pos[:p], np.full(p, izp + tpos), izm + diag_pos[:p], np.full(p, izm + tpos)])
        diag_vals = np.concatenate([np.ones(p), -np.ones(p), np.ones(p), -np.ones(p)])
        blocks.append(sp.csc_matrix((diag_vals, (diag_rows, diag_cols)), shape=(2 * p, nv)))
        n_zero = (n if residual else 0) + m + 2 * p
        # nonnegative cone: triangle cuts, s = <E_T, Z> + t = b - A x with b = 0
        cut_blocks = [self._cut_rows(cuts_plus, izp, D, nv, tpos), self._cut_rows(cuts_minus, izm, D, nv, tpos)]
        n_cuts = sum(cb.shape[0] for cb in cut_blocks)

        def on_r(M):   # the model's rows act on [r, aux], the tail of x
            return sp.hstack([sp.csc_matrix((M.shape[0], 3 * m)), M]) if residual else sp.csc_matrix((0, nv))

        # PSD cones: s = svec Z = b - A x with A = -I on each block, b = 0
        A4 = sp.hstack([sp.csc_matrix((m, m)), -I_m, sp.csc_matrix((m, m + nr))])
        A5 = sp.hstack([sp.csc_matrix((m, 2 * m)), -I_m, sp.csc_matrix((m, nr))])
        A = sp.vstack([*blocks, *cut_blocks, on_r(model.A_l), on_r(model.A_q), A4, A5, on_r(model.A_ep)], format="csc")
        b = np.concatenate([offset if residual else np.zeros(0), np.zeros(m + 2 * p + n_cuts),
                            model.b_l if residual else np.zeros(0), model.b_q if residual else np.zeros(0),
                            np.zeros(2 * m), model.b_ep if residual else np.zeros(0)])
        c = np.zeros(nv)
        c[izp + tpos] = beta
        c[izm + tpos] = beta
        if residual:
            c[ir:] = model.c
            P = sp.csc_matrix((model.P_diag, (ir + np.arange(nr), ir + np.arange(nr))), shape=(nv, nv))
            P.eliminate_zeros()
        else:
            c[:m] = -(F.T @ offset)
            P = sp.block_diag([sp.csc_matrix(np.triu(F.T @ F)), sp.csc_matrix((2 * m, 2 * m))], format="csc")
        cone = {"z": n_zero, "l": n_cuts + (model.n_l if residual else 0), "q": list(model.q) if residual else [],
                "s": [D, D], "ep": model.n_ep if residual else 0}
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
              linear_solver="auto", cuts_plus=None, cuts_minus=None, warm=None, form="auto",
              model=None) -> ShorSolution:
        """Solve the Shor SDP; `model` a ConeModel (certqnn.shor.loss_models) for a general loss, or
        None for the quadratic loss 1/2 |yhat - y|^2. details["w_link"] holds the multipliers of the
        link rows F v - r = offset, a (sub)gradient of the loss at yhat (residual form only)."""
        import scs

        n = Xb.shape[0]
        if form == "auto":
            form = self.choose_form(n, Xb.shape[1] + 1) if (model is None or model.gram_ok) else "residual"
        if form not in ("gram", "residual"):
            raise InvalidProblemError("form", f"unknown SCS formulation {form!r}; use auto, gram or residual")
        data, cone, (m, D) = self.build(Xb, y, beta, act, cuts_plus, cuts_minus, form=form, model=model)
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
        n_minus = 0 if cuts_minus is None else len(cuts_minus)       # the model's rows follow the cuts
        mu_cuts_plus = np.clip(yd[nz:nz + n_plus], 0, None)          # cuts on the Z+ block
        mu_cuts_minus = np.clip(yd[nz + n_plus:nz + n_plus + n_minus], 0, None)    # cuts on the Z- block
        off = nz + nl + sum(cone["q"])
        Sp = smat(yd[off:off + m], D)           # dual of the Z+ cone: ~ Q(w) + Diag(.) - sum mu E_T
        Sm = smat(yd[off + m:off + 2 * m], D)   # dual of the Z- cone: ~ -Q(w) + Diag(.) - sum mu E_T
        if form == "gram":
            pobj = float(info["pobj"]) + 0.5 * float(y @ y)
        else:
            pobj = float(info["pobj"]) + (0.0 if model is None else model.const)
        w_link = np.array(yd[:n], float) if form == "residual" else None
        return ShorSolution(Zp, Zm, np.diag(Sp).copy(), np.diag(Sm).copy(), status, int(info["iter"]),
                            pobj, {"solver_status": info["status"], "dual_diag": True, "form": form,
                                                  "solve_seconds": info.get("solve_time", 0) / 1000.0,
                                                  "setup_seconds": info.get("setup_time", 0) / 1000.0,
                                                  "mu_cuts_on_plus_block": mu_cuts_plus,
                                                  "mu_cuts_on_minus_block": mu_cuts_minus,
                                                  "w_link": w_link,
                                                  "cone_model": "quadratic (residual form)" if model is None
                                                  else model.description,
                                                  "warm": (sol["x"], sol["y"], sol["s"], n_plus, n_minus)})

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
