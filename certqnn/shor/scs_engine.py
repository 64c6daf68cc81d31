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
              linear_solver="auto", cuts_plus=None, cuts_minus=None, warm=None, form="auto") -> ShorSolution:
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
