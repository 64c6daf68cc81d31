"""Helpers for the SDP loss tests and the tightness benchmark: the losses by name and an
independent brute-force optimum over all atoms."""
from __future__ import annotations

import numpy as np

from certqnn.losses import LOSSES, Loss


CLASSIFICATION = ("logistic", "hinge", "squared_hinge")


def loss_by_name(name: str, **kw) -> Loss:
    """The registered loss `name`, built with keyword parameters (e.g. delta for huber)."""
    return LOSSES[name](**kw)


# --- brute force p*_inf, independent of certqnn's solvers ---------------------------------------

def all_atoms(problem) -> np.ndarray:
    """Phi (n, 2^p): sigma(Xb s) for every s in {-1, +1}^p (p = problem.binary_dim <= ~12)."""
    import itertools

    Xb = problem.binary_design()
    p = Xb.shape[1]
    S = np.array(list(itertools.product((-1.0, 1.0), repeat=p))).T
    return problem.activation(Xb @ S)


def brute_force_optimum(problem) -> float:
    """p*_inf = min_alpha L(Phi alpha) + beta |alpha|_1 over all atoms, by scipy: an LP (HiGHS) for
    the piecewise-linear losses, L-BFGS-B on alpha = a+ - a- >= 0 for the C^1 ones. Returns the
    objective of the point found (>= p*, within the solver's accuracy of it)."""
    from scipy.optimize import linprog, minimize

    Phi = all_atoms(problem)
    y = np.asarray(problem.y, float)
    beta, loss = problem.beta, problem.loss
    n, K = Phi.shape
    if loss.name in ("hinge", "absolute"):
        # variables [a+ (K), a- (K), s (n)]; min beta sum(a) + sum(s)
        c = np.concatenate([np.full(2 * K, beta), np.ones(n)])
        I = np.eye(n)
        if loss.name == "hinge":     # s >= 1 - y Phi a  <=>  -y Phi a - s <= -1
            A = np.hstack([-y[:, None] * Phi, y[:, None] * Phi, -I])
            b = -np.ones(n)
        else:                        # s >= +-(Phi a - y)
            A = np.vstack([np.hstack([Phi, -Phi, -I]), np.hstack([-Phi, Phi, -I])])
            b = np.concatenate([y, -y])
        res = linprog(c, A_ub=A, b_ub=b, bounds=[(0, None)] * (2 * K + n), method="highs")
        assert res.status == 0, res.message
        a = res.x[:K] - res.x[K:2 * K]
        return loss.value(Phi @ a, y) + beta * float(np.abs(a).sum())

    def f(z):
        a = z[:K] - z[K:]
        yhat = Phi @ a
        g = Phi.T @ loss.gradient(yhat, y)
        return loss.value(yhat, y) + beta * z.sum(), np.concatenate([g + beta, -g + beta])

    best = np.inf
    for z0 in (np.zeros(2 * K), np.full(2 * K, 0.01)):
        res = minimize(f, z0, jac=True, method="L-BFGS-B", bounds=[(0, None)] * (2 * K),
                       options={"ftol": 1e-15, "gtol": 1e-11, "maxiter": 20000, "maxfun": 40000})
        best = min(best, float(res.fun))
    return best
