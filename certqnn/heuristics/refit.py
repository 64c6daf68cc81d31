"""The exact alpha refit for a trained first layer U (docs/math.md §3, §7).

For fixed neurons the problem in alpha is a Lasso, min_alpha L(Phi alpha) + beta |alpha|_1 with
Phi = sigma(X U): certqnn.lasso.refit solves it exactly. For a loss the Lasso solver does not model,
a monotone proximal-gradient method (FISTA with backtracking, from the trained alpha) is used
instead, needing only the loss's value and gradient. Either way the refit is accepted only when
it does not raise J, so it can never make a network worse.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..lasso import refit as lasso_refit
from ..problem import QNNProblem
from .trainer import soft_threshold

PROXIMAL_MAX_ITERS = 5000


@dataclass
class Refit:
    """alpha: (m,) aligned with the columns of U (duplicate and zero atoms get 0); objective: J(U,
    alpha); method: "lasso", "proximal-gradient", or "none" when the trained alpha was kept
    because the refit did not lower J."""

    alpha: np.ndarray
    objective: float
    method: str


def proximal_lasso(Phi: np.ndarray, y: np.ndarray, beta: float, loss, alpha0: np.ndarray,
                   max_iters: int = PROXIMAL_MAX_ITERS, tol: float = 1e-13) -> np.ndarray:
    """min_a L(Phi a) + beta |a|_1 by FISTA with backtracking and a monotone safeguard (never
    returns a point worse than alpha0). Phi (n, k), alpha0 (k,)."""
    def F(a):
        return loss.value(Phi @ a, y) + beta * float(np.abs(a).sum())

    best = x = z = np.array(alpha0, float)
    f_best = F(x)
    t, L = 1.0, 1.0
    for _ in range(max_iters):
        yz = Phi @ z
        fz = loss.value(yz, y)
        grad = Phi.T @ loss.gradient(yz, y)
        while True:
            x_new = soft_threshold(z - grad / L, beta / L)
            diff = x_new - z
            if loss.value(Phi @ x_new, y) <= fz + grad @ diff + 0.5 * L * (diff @ diff) or L > 1e300:
                break
            L *= 2.0
        f_new = F(x_new)
        if f_new < f_best:
            best, f_best = x_new, f_new
        t_new = 0.5 * (1.0 + np.sqrt(1.0 + 4.0 * t * t))
        # restart the momentum when the objective goes up (monotone FISTA)
        z = x_new + ((t - 1.0) / t_new) * (x_new - x) if f_new <= F(x) else x_new
        if np.linalg.norm(x_new - x) <= tol * max(1.0, np.linalg.norm(x)):
            break
        x, t = x_new, t_new
        L *= 0.9          # let the step grow again
    return best


def refit_alpha(problem: QNNProblem, U: np.ndarray, alpha: np.ndarray) -> Refit:
    """The best alpha for the neurons U (d, m), guarded to be no worse than `alpha` (m,)."""
    m = U.shape[1]
    J0 = problem.objective(U, alpha)
    Phi_all = problem.activation(problem.X @ U)                       # (n, m)
    # one column per distinct nonzero atom (u and -u give the same atom when sigma is even)
    _, first, inverse = np.unique(Phi_all.T, axis=0, return_index=True, return_inverse=True)
    rep = first[inverse.ravel()]                                     # (m,) representative column of each neuron
    cols = np.sort(first)
    cols = cols[np.any(Phi_all[:, cols] != 0.0, axis=0)]
    Phi = Phi_all[:, cols]
    out = np.zeros(m)
    method = "lasso"
    if cols.size:
        if problem.loss.quadratic(problem.y) is not None:
            coef = lasso_refit(Phi, problem.y, problem.beta, problem.loss).alpha
        else:                                # a loss the Lasso master does not model
            merged = np.zeros(m)
            np.add.at(merged, rep, np.asarray(alpha, float))             # same prediction, no larger l1 norm
            coef = proximal_lasso(Phi, problem.y, problem.beta, problem.loss, merged[cols])
            method = "proximal-gradient"
        out[cols] = coef
    J = problem.objective(U, out)
    if not J <= J0:
        return Refit(np.array(alpha, float), J0, "none")
    return Refit(out, J, method)
