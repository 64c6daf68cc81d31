"""Pricing by branch and bound: the exact maximum of u~^T Q u~ over u in {-1,+1}^p with a
certified upper bound even when stopped early (docs/math.md §6, §9).

Branch and bound for  max_u u~^T Q u~  (the minimum is the maximum of -Q). Variables are fixed
in one static order, so all nodes of a level share their free set F and the bound of a node
needs only O(|F|^2) work on top of one eigendecomposition per level:

  with A = Q_FF - Diag(mu) (any mu), g = Q_{F,fixed} u~_fixed, c = u~_fixed^T Q u~_fixed,
  u^T Q_FF u = u^T A u + sum(mu) on {-1,+1}^F, and for every t > lambda_max(A)
      u^T A u + 2 g^T u <= k t + g^T (t I - A)^{-1} g         (k = |F| = |u|^2)
  (maximise the concave quadratic u^T (A - tI) u + 2 g^T u over all of R^k). The best t solves
  a secular equation (the trust-region subproblem on the sphere |u|^2 = k). mu is a diagonal
  shift close to Shor's optimum for the level; without it the eigenvalue bound is useless
  (|F| lambda_max(Q_FF) is dominated by the diagonal, which is constant on sign vectors).
Each bound is valid for any mu and t, so inexact optimisation only loosens it; a margin covers
floating-point error. The last `leaf_size` variables are enumerated by one matrix product.
"""
from __future__ import annotations

import math
import time
from dataclasses import dataclass

import numpy as np

from .enumerate import blas_single_thread, quadratic_value, sign_vectors
from .local_search import local_search_max

BNB_LEAF = 10             # free variables enumerated at the leaves (2^10 completions per node)
BNB_CHUNK = 2048          # nodes expanded together


@dataclass
class Maximum:
    """Outcome of one branch-and-bound maximisation of u~^T Q u~.

    value: best value found, attained by argmax (p,); upper_bound >= the true maximum (certified
    up to a floating-point margin of ~1e-12 |Q|); finished: the search was not cut by the time
    limit, so the maximum is <= max(value, threshold); exact: finished and value >= threshold, so
    value is the maximum. found: (p, j) further sign vectors with value > threshold met on the way
    (for column generation), best first; found_values (j,). root_bound: the root's Shor bound.
    """

    value: float
    argmax: np.ndarray
    upper_bound: float
    finished: bool
    exact: bool
    nodes: int
    seconds: float
    root_bound: float
    found: np.ndarray
    found_values: np.ndarray


def shor_shift(B: np.ndarray, mu0: np.ndarray | None = None, iters: int = 60) -> tuple[float, np.ndarray]:
    """A diagonal shift mu (D,) with small  D lambda_max(B - Diag(mu)) + sum(mu), which bounds
    max_{v in {-1,+1}^D} v^T B v for EVERY mu; its minimum over mu is Shor's SDP bound. Found by
    L-BFGS on a log-sum-exp smoothing of lambda_max with a decreasing temperature.
    Returns (bound at mu, computed with the exact lambda_max, mu)."""
    from scipy.optimize import minimize

    B = 0.5 * (B + B.T)
    D = B.shape[0]
    mu = np.zeros(D) if mu0 is None else np.array(mu0, float)
    scale = float(np.abs(np.linalg.eigvalsh(B)).max())
    if D == 1 or scale == 0.0:
        return float(D * np.linalg.eigvalsh(B - np.diag(mu))[-1] + mu.sum()), mu

    def exact(m):
        return float(D * np.linalg.eigvalsh(B - np.diag(m))[-1] + m.sum())

    best_val, best_mu = exact(mu), mu
    for rel in (1e-1, 1e-2, 1e-3):
        temp = rel * scale

        def smooth(m):
            lam, V = np.linalg.eigh(B - np.diag(m))
            e = np.exp((lam - lam[-1]) / temp)
            s = e.sum()
            return D * (lam[-1] + temp * np.log(s)) + m.sum(), 1.0 - D * ((V * V) @ (e / s))

        res = minimize(smooth, best_mu, jac=True, method="L-BFGS-B", options={"maxiter": iters})
        val = exact(res.x)
        if val < best_val:
            best_val, best_mu = val, res.x
    return best_val, best_mu


def sphere_bounds(lam: np.ndarray, V: np.ndarray, G: np.ndarray, const: np.ndarray, steps: int = 8,
                  return_t: bool = False):
    """min over t > lam_max of  k t + g^T (t I - A)^{-1} g + const  for each column g of G (k, N),
    A = V Diag(lam) V^T (lam ascending). Safeguarded Newton on 1/|x(t)| = 1/sqrt(k), x = (tI-A)^{-1} g
    (the sphere's secular equation); every t tried gives a valid bound, the smallest is kept.
    return_t: also return the t (N,) attaining each bound (for the proof trees of bnb_tree)."""
    k, N = G.shape
    if k == 0:
        out = const.astype(float).copy()
        return (out, np.zeros(N)) if return_t else out
    H2 = np.square(V.T @ G)
    l1 = float(lam[-1])
    eps = 1e-13 * max(float(np.abs(lam).max()), 1e-300)
    lo = np.full(N, l1 + eps)
    hi = l1 + np.sqrt(H2.sum(0) / k) + 2 * eps           # the secular function is >= 0 here

    def value(t):
        return k * t + (H2 / (t[None, :] - lam[:, None])).sum(0) + const

    t = hi.copy()
    best = value(t)
    best_t = t.copy()
    inv_sqrt_k = 1.0 / math.sqrt(k)
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        for _ in range(steps):
            dd = t[None, :] - lam[:, None]
            r = H2 / (dd * dd)
            phi = r.sum(0)
            chi = 1.0 / np.sqrt(phi) - inv_sqrt_k             # increasing in t, root = best t
            dchi = (r / dd).sum(0) / (phi * np.sqrt(phi))
            right = chi > 0
            hi = np.where(right, t, hi)
            lo = np.where(right, lo, t)
            tn = t - chi / dchi
            bad = ~np.isfinite(tn) | (tn <= lo) | (tn >= hi)
            t = np.where(bad, 0.5 * (lo + hi), tn)
            vt = value(t)
            vt = np.where(np.isfinite(vt), vt, np.inf)
            better = vt < best
            best = np.where(better, vt, best)
            best_t = np.where(better, t, best_t)
    return (best, best_t) if return_t else best


class _Levels:
    """Per level k (k variables fixed, free set F = order[k:]): eigendecompositions of
    Q_FF - Diag(mu) for a few diagonal shifts mu (the root's Shor shift restricted to F, and a
    shift optimised for the block Q_FF itself)."""

    def __init__(self, Q: np.ndarray, order: np.ndarray, mu_root: np.ndarray, stop: int):
        p = order.size
        self.data: list[list[tuple[np.ndarray, np.ndarray, float]]] = [[] for _ in range(p + 1)]
        self.shifts: list[list[np.ndarray]] = [[] for _ in range(p + 1)]   # the mu of each entry of data
        mu_level = None
        for k in range(1, min(stop, p) + 1):
            F = order[k:]
            QF = Q[np.ix_(F, F)]
            shifts = [mu_root[F]]
            if F.size >= 2:
                Bz = np.zeros((F.size + 1, F.size + 1))
                Bz[:-1, :-1] = QF
                warm = None if mu_level is None else np.append(mu_level[1:-1], mu_level[-1] + mu_level[0])
                _, mu_level = shor_shift(Bz, warm, iters=40)
                shifts.append(mu_level[:-1])
            for mu in shifts:
                lam, V = np.linalg.eigh(QF - np.diag(mu))
                self.data[k].append((lam, V, float(mu.sum())))
                self.shifts[k].append(np.asarray(mu, float))


def _branching_order(Q: np.ndarray) -> np.ndarray:
    """Static variable order: strongest off-diagonal coupling first (fixes the variables that move
    the bound most near the root, where pruning pays most)."""
    p = Q.shape[0] - 1
    A = np.abs(Q[:p, :])
    weight = A.sum(1) - np.diag(A[:, :p])
    return np.argsort(-weight, kind="stable")


def bnb_maximize(Q: np.ndarray, even: bool = False, threshold: float = -math.inf,
                 starts: np.ndarray | None = None, time_limit: float | None = None,
                 leaf_size: int = BNB_LEAF, chunk: int = BNB_CHUNK, collect: int = 0,
                 rng: np.random.Generator | None = None) -> Maximum:
    """Exact max of u~^T Q u~ over u in {-1,+1}^p by branch and bound (Q shape (p+1, p+1)).

    threshold: nodes whose bound is <= max(best found, threshold) are pruned, so when the maximum
    is below the threshold the search only proves `max <= threshold` (use it to certify
    rho <= beta). starts: (p, k) sign vectors to seed the incumbent (e.g. the current atoms).
    time_limit: seconds; on time-out `finished` and `exact` are False and `upper_bound` is still
    certified. collect: also return up to this many sign vectors with value > threshold met at
    the leaves. even=True assumes invariance under u -> -u and fixes the first branched variable.
    """
    with blas_single_thread():
        return _bnb_maximize(Q, even, threshold, starts, time_limit, leaf_size, chunk, collect, rng)


def _bnb_maximize(Q: np.ndarray, even: bool = False, threshold: float = -math.inf,
                 starts: np.ndarray | None = None, time_limit: float | None = None,
                 leaf_size: int = BNB_LEAF, chunk: int = BNB_CHUNK, collect: int = 0,
                 rng: np.random.Generator | None = None) -> Maximum:
    start = time.perf_counter()
    Q = 0.5 * (np.asarray(Q, float) + np.asarray(Q, float).T)
    p = Q.shape[0] - 1
    rng = rng if rng is not None else np.random.default_rng(0)
    best, best_u = local_search_max(Q, starts, rng=rng)
    found: dict[tuple, float] = {}

    def remember(vals, U):
        if collect <= 0 or vals.size == 0:
            return
        for v, u in zip(vals, U.T):
            found[tuple(u)] = float(v)
        if len(found) > 4 * collect:
            keep = sorted(found.items(), key=lambda kv: -kv[1])[:collect]
            found.clear()
            found.update(keep)

    if starts is not None and np.size(starts) and collect:
        S0 = np.asarray(starts, float).reshape(p, -1)
        v0 = quadratic_value(Q, S0)
        remember(v0[v0 > threshold], S0[:, v0 > threshold])
    if p == 0:
        return Maximum(float(Q[0, 0]), np.zeros(0), float(Q[0, 0]), True, True, 1, time.perf_counter() - start,
                       float(Q[0, 0]), np.zeros((0, 0)), np.zeros(0))
    # margin for floating-point error in eigendecompositions and accumulated g, c
    margin = 1e-12 * (p + 1) * (float(np.linalg.norm(Q)) + 1e-300)
    order = _branching_order(Q)
    root_bound, mu_root = shor_shift(Q)
    root_bound += margin
    leaf_size = max(0, min(leaf_size, p - 1))
    levels = _Levels(Q, order, mu_root, p - leaf_size)
    tables: dict[int, tuple[np.ndarray, np.ndarray]] = {}

    def table(F):
        # leaves are always evaluated at the same level, so one table serves the whole search
        if F.size not in tables:
            T = sign_vectors(F.size)
            tables[F.size] = (T, np.einsum("kj,kl,lj->j", T, Q[np.ix_(F, F)], T) if F.size else np.zeros(1))
        return tables[F.size]

    nodes = 0
    # a stack entry: (k, U (k, N) fixed values in branching order, G (p-k, N), c (N,), bound (N,))
    stack = [(0, np.zeros((0, 1)), Q[order, p][:, None].copy(), np.array([Q[p, p]]), np.array([root_bound]))]
    timed_out = False
    open_bound = -math.inf
    while stack:
        if time_limit is not None and time.perf_counter() - start > time_limit:
            timed_out = True
            open_bound = max(float(entry[4].max()) for entry in stack)
            break
        k, U, G, c, bound = stack.pop()
        level = max(best, threshold)
        keep = bound > level
        if not keep.any():
            continue
        U, G, c = U[:, keep], G[:, keep], c[keep]
        # children: fix variable order[k] (row 0 of G) to +1 and, unless it is the even root, -1
        v = order[k]
        signs = (1.0,) if (even and k == 0) else (1.0, -1.0)
        Uc = np.hstack([np.vstack([U, np.full((1, U.shape[1]), s)]) for s in signs])
        Gc = np.hstack([G[1:] + s * Q[order[k + 1:], v][:, None] for s in signs])
        cc = np.concatenate([c + 2.0 * s * G[0] + Q[v, v] for s in signs])
        kk = k + 1
        if p - kk <= leaf_size:
            F = order[kk:]
            T, qT = table(F)
            vals = (2.0 * T.T) @ Gc + qT[:, None] + cc[None, :] if F.size else cc[None, :]
            nodes += Uc.shape[1]
            j = np.argmax(vals, axis=0)
            top = vals[j, np.arange(vals.shape[1])]
            i = int(np.argmax(top))
            if top[i] > best:
                u = np.empty(p)
                u[order[:kk]] = Uc[:, i]
                u[F] = T[:, j[i]]
                best, best_u = float(quadratic_value(Q, u[:, None])[0]), u
            if collect:
                rows, cols = np.nonzero(vals > threshold)
                if rows.size > collect:
                    sel = np.argpartition(-vals[rows, cols], collect - 1)[:collect]
                    rows, cols = rows[sel], cols[sel]
                if rows.size:
                    Uf = np.empty((p, rows.size))
                    Uf[order[:kk]] = Uc[:, cols]
                    Uf[F] = T[:, rows]
                    remember(vals[rows, cols], Uf)
            continue
        bc = np.full(Uc.shape[1], np.inf)
        for lam, V, smu in levels.data[kk]:
            bc = np.minimum(bc, sphere_bounds(lam, V, Gc, cc + smu))
        bc = bc + margin
        nodes += Uc.shape[1]
        keep = bc > max(best, threshold)
        if not keep.any():
            continue
        idx = np.flatnonzero(keep)
        idx = idx[np.argsort(bc[idx], kind="stable")]       # ascending: the best chunk is popped first
        for s in range(0, idx.size, chunk):
            part = idx[s:s + chunk]
            stack.append((kk, Uc[:, part], Gc[:, part], cc[part], bc[part]))
    level = max(best, threshold)
    upper = max(level, open_bound)
    if collect:
        items = sorted(found.items(), key=lambda kv: -kv[1])[:collect]
        F_arr = np.array([kv[0] for kv in items], float).T.reshape(p, -1)
        F_val = np.array([kv[1] for kv in items])
    else:
        F_arr, F_val = np.zeros((p, 0)), np.zeros(0)
    return Maximum(best, best_u, upper, not timed_out, (not timed_out) and best >= threshold, nodes,
                   time.perf_counter() - start, root_bound, F_arr, F_val)
