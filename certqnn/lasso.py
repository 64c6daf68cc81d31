"""Exact alpha refit over a fixed set of neurons: min_alpha L(Phi alpha) + beta |alpha|_1 (math §3, §7).

Atoms sigma(X u) are highly collinear (they live in a lifted space of dimension <= (p+1)(p+2)/2),
which makes coordinate descent crawl. We therefore solve the Lasso as a QP by an interior-point
method (CVXOPT) on the Gram matrix, finish it exactly by feature-sign search (active set with
fixed signs, KKT solves and line searches), and drop atoms without changing the prediction or the l1 norm (Carathéodory
reduction, math §1), so the returned alpha has at most rank + 1 nonzeros. The result carries its
own duality gap computed from the data.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .losses import Loss, SquaredLoss


@dataclass
class LassoSolution:
    alpha: np.ndarray      # (m,)
    objective: float       # L(Phi alpha) + beta |alpha|_1
    lower_bound: float     # g(s w): a lower bound for the restricted problem
    gap: float             # objective - lower_bound


def _objective(Phi, y, beta, loss, alpha):
    return loss.value(Phi @ alpha, y) + beta * float(np.abs(alpha).sum())


def _restricted_bound(Phi, y, beta, loss, alpha):
    w = loss.gradient(Phi @ alpha, y)
    rho = float(np.max(np.abs(Phi.T @ w))) if Phi.shape[1] else 0.0
    smax = np.inf if rho == 0.0 else beta / rho
    return loss.dual_value(loss.best_dual_scale(w, y, smax) * w, y)


def _qp_lasso(G, c, beta, tol):
    """min a^T G a / 2 - c^T a + beta |a|_1 via a = a+ - a-, a+- >= 0 (CVXOPT's QP solver)."""
    import cvxopt
    from cvxopt import solvers

    m = G.shape[0]
    scale = max(float(np.abs(np.diag(G)).max()), 1e-300)
    P = np.block([[G, -G], [-G, G]]) / scale
    q = np.concatenate([beta - c, beta + c]) / scale
    opts = {"show_progress": False, "abstol": tol, "reltol": tol, "feastol": tol, "maxiters": 200}
    sol = solvers.qp(cvxopt.matrix(P), cvxopt.matrix(q), cvxopt.matrix(-np.eye(2 * m)),
                     cvxopt.matrix(np.zeros(2 * m)), options=opts)
    x = np.array(sol["x"]).ravel()
    return np.clip(x[:m], 0, None) - np.clip(x[m:], 0, None)


def _feature_sign(G, c, beta, a0, max_steps=2000):
    """Feature-sign search (Lee, Battle, Raina, Ng 2007) for min a^T G a / 2 - c^T a + beta |a|_1,
    started from a0. Each step solves the KKT system on the active set with fixed signs and line-
    searches to the first sign change, so the objective never increases and it ends at an exact
    optimum (up to the linear solves). G: (m, m) Gram matrix, c: (m,)."""
    a = np.array(a0, float)

    def f(x):
        return 0.5 * x @ G @ x - c @ x + beta * np.abs(x).sum()

    scale = max(1.0, float(np.abs(c).max()), beta)
    tol = 1e-12 * scale
    for _ in range(max_steps):
        grad = G @ a - c
        active = a != 0
        # optimality of the zero coefficients: add the worst violator with the descent sign
        viol = np.where(~active, np.abs(grad) - beta, -np.inf)
        nonzero_ok = np.all(np.abs(grad[active] + beta * np.sign(a[active])) <= 1e-9 * scale)
        if nonzero_ok:
            j = int(np.argmax(viol))
            if viol[j] <= tol:
                return a
            theta = np.sign(a)
            theta[j] = -np.sign(grad[j])
        else:
            theta = np.sign(a)
        A = np.flatnonzero(theta)
        GA = G[np.ix_(A, A)]
        rhs = c[A] - beta * theta[A]
        x, *_ = np.linalg.lstsq(GA, rhs, rcond=1e-14)
        cur = a[A]
        r = rhs - GA @ x
        if r @ r > 1e-18 * max(rhs @ rhs, 1e-300):
            # rhs leaves range(G_AA): along r (a null direction of G_AA) the prediction is fixed and
            # f decreases linearly, -t |r|^2, until the first coefficient reaches zero
            with np.errstate(divide="ignore", invalid="ignore"):
                ts = np.where(cur * r < 0, -cur / r, np.inf)
            t = ts.min() if ts.size else np.inf
            if np.isfinite(t):
                trial = a.copy()
                trial[A] = cur + t * r
                trial[A[int(np.argmin(ts))]] = 0.0
                if f(trial) <= f(a):
                    a = trial
                    continue
        # candidate points: the target and every zero crossing on the segment cur -> x
        with np.errstate(divide="ignore", invalid="ignore"):
            ts = np.where((np.sign(x) != theta[A]) & (x != cur), cur / (cur - x), np.inf)
        ts = np.concatenate([ts[(ts > 0) & (ts < 1)], [1.0]])
        best, best_val = None, f(a)
        for t in np.unique(ts):
            trial = a.copy()
            trial[A] = cur + t * (x - cur)
            trial[A[np.abs(trial[A]) <= 1e-15 * np.abs(trial).max(initial=1.0)]] = 0.0
            # coefficients that crossed zero are clipped to zero (their sign was fixed)
            crossed = np.sign(trial[A]) == -theta[A]
            trial[A[crossed]] = 0.0
            val = f(trial)
            if val < best_val - 1e-16 * abs(best_val):
                best, best_val = trial, val
        if best is None:
            return a
        a = best
    return a


def _householder_null(q: np.ndarray) -> np.ndarray:
    """Orthonormal basis (r, r-1) of {h : q^T h = 0} for q of shape (r,)."""
    r = q.shape[0]
    v = q / np.linalg.norm(q)
    v = v.copy()
    v[0] += 1.0 if v[0] >= 0 else -1.0
    H = np.eye(r) - 2.0 * np.outer(v, v) / (v @ v)     # reflector mapping q to a multiple of e_1
    return H[:, 1:]


def caratheodory_reduce(Phi: np.ndarray, alpha: np.ndarray, tol: float = 1e-7) -> np.ndarray:
    """Remove atoms while keeping Phi alpha and |alpha|_1 fixed: move along v with Phi_S v = 0,
    sign_S^T v = 0 until a coefficient reaches 0 (signs never flip, so the l1 norm is linear).
    One eigendecomposition gives the null space; each removal updates it by a reflector."""
    alpha = alpha.copy()
    S = np.flatnonzero(alpha)
    if S.size <= 1:
        return alpha
    A = np.vstack([Phi[:, S], np.sign(alpha[S])[None, :]])
    # null(A) = null(A^T A); columns are normalised first so the threshold is scale-free
    norms = np.linalg.norm(A, axis=0)
    An = A / np.where(norms > 0, norms, 1.0)
    vals, vecs = np.linalg.eigh(An.T @ An)
    N = vecs[:, vals <= (tol ** 2) * max(vals[-1], 1e-300) * S.size]
    N = N / np.where(norms > 0, norms, 1.0)[:, None]      # back to the original scaling
    if N.shape[1]:
        N, _ = np.linalg.qr(N)
    coef = alpha[S]
    while N.shape[1] > 0 and S.size > 1:
        v = N[:, 0]
        with np.errstate(divide="ignore", invalid="ignore"):
            ratios = np.where(np.abs(v) > 1e-14, -coef / v, np.inf)
        pos = ratios[(ratios > 0) & np.isfinite(ratios)]
        if pos.size == 0:
            break
        coef = coef + pos.min() * v
        j = int(np.argmin(np.abs(coef)))
        q = N[j]
        N = N @ _householder_null(q) if N.shape[1] > 1 and np.linalg.norm(q) > 1e-15 else (N[:, 1:] if np.linalg.norm(q) > 1e-15 else N)
        N = np.delete(N, j, axis=0)
        coef = np.delete(coef, j)
        S = np.delete(S, j)
    out = np.zeros_like(alpha)
    out[S] = coef
    return out


def refit(Phi: np.ndarray, y: np.ndarray, beta: float, loss: Loss | None = None,
          alpha0: np.ndarray | None = None, tol: float = 1e-10, reduce: bool = True) -> LassoSolution:
    """Minimise L(Phi alpha) + beta |alpha|_1 over alpha in R^m; Phi shape (n, m), y shape (n,).
    alpha0 is accepted for API symmetry (the interior-point method does not warm start)."""
    loss = loss or SquaredLoss()
    Phi = np.asarray(Phi, float)
    y = np.asarray(y, float)
    n, m = Phi.shape
    if m == 0:
        obj = loss.value(np.zeros(n), y)
        return LassoSolution(np.zeros(0), obj, obj, 0.0)
    if not isinstance(loss, SquaredLoss):
        raise NotImplementedError(f"the alpha refit supports the squared loss only (got {loss.name})")
    G = Phi.T @ Phi
    c = Phi.T @ y
    alpha = _qp_lasso(G, c, beta, tol)
    # interior-point iterates are never exactly sparse: drop coefficients that carry nothing
    alpha[np.abs(alpha) * np.sqrt(np.diag(G)) <= 1e-12 * max(1.0, float(np.abs(y).sum()))] = 0.0
    def obj(a):
        return _objective(Phi, y, beta, loss, a)

    def reduced(a):
        # the null directions are numerical: accept the reduction only if J does not move
        r = caratheodory_reduce(Phi, a) if reduce else a
        return r if obj(r) <= obj(a) + 1e-13 * max(1.0, abs(obj(a))) else a

    alpha = reduced(alpha)
    alpha = min([alpha, reduced(_feature_sign(G, c, beta, alpha))], key=obj)
    obj = _objective(Phi, y, beta, loss, alpha)
    lb = _restricted_bound(Phi, y, beta, loss, alpha)
    return LassoSolution(alpha, obj, lb, obj - lb)
