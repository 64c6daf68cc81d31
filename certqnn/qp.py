"""The l1-penalized (and optionally l1-bounded) quadratic program, by an interior-point method.

    min_a  a^T G a / 2 - c^T a + penalty |a|_1      [s.t. |a|_1 <= tau]

with G (m, m) PSD. It is the restricted master of docs/math.md §3 (penalty = beta, no budget)
and the fully corrective step of Frank-Wolfe over tau * conv{+-atoms} (docs/math.md §10; penalty
0 or beta, budget tau). Split a = a+ - a-, a+- >= 0: a convex QP in 2m variables (CVXOPT).
Interior-point iterates are never exactly sparse and only accurate to the solver tolerance; the
exact Lasso is certqnn.lasso.feature_sign, which can polish this point.
"""
from __future__ import annotations

import numpy as np


def l1_qp(G: np.ndarray, c: np.ndarray, penalty: float, tau: float | None = None, tol: float = 1e-10) -> np.ndarray:
    """argmin a^T G a / 2 - c^T a + penalty |a|_1 (subject to |a|_1 <= tau when tau is given).

    G: (m, m) PSD, c: (m,), penalty >= 0, tau > 0 or None, tol: CVXOPT's abs/rel/feasibility
    tolerance. Returns a (m,); with a budget the point is scaled back into the ball if the
    solver's tolerance left it slightly outside.
    """
    import cvxopt
    from cvxopt import solvers

    G = np.asarray(G, float)
    c = np.asarray(c, float)
    m = c.shape[0]
    if m == 0:
        return np.zeros(0)
    # scaling by the largest diagonal keeps the solver's absolute tolerances meaningful
    scale = max(float(np.abs(np.diag(G)).max()), 1e-300)
    P = np.block([[G, -G], [-G, G]]) / scale
    q = np.concatenate([penalty - c, penalty + c]) / scale
    A = -np.eye(2 * m)
    h = np.zeros(2 * m)
    if tau is not None:
        A = np.vstack([A, np.ones((1, 2 * m))])
        h = np.append(h, float(tau))
    opts = {"show_progress": False, "abstol": tol, "reltol": tol, "feastol": tol, "maxiters": 200}
    sol = solvers.qp(cvxopt.matrix(P), cvxopt.matrix(q), cvxopt.matrix(A), cvxopt.matrix(h), options=opts)
    x = np.array(sol["x"]).ravel()
    a = np.clip(x[:m], 0, None) - np.clip(x[m:], 0, None)
    if tau is not None:
        l1 = float(np.abs(a).sum())
        if l1 > tau:
            a *= tau / l1
    return a
