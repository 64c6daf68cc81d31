"""Pricing oracle: the extremes of u~^T Q u~ over u in {-1,+1}^p, u~ = (u, 1) (math §5, §9).

Two exact methods, and one entry point that picks between them (max_abs_quadratic):

* Meet in the middle (quadratic_extremes): split u = (u_A, u_B); then
      u~^T Q u~ = u_A^T Q_AA u_A + 2 u_A^T Q_AB v_B + v_B^T Q_BB v_B,   v_B = (u_B, 1),
  so every value of a block of u_A's against all u_B's is one matrix product. Memory is bounded
  by processing u_A in blocks. Cost O(2^p * p) flops, memory O(2^(p/2) * p + BLOCK).
* Branch and bound (bnb_maximize): depth first over the variables, a diagonal-shift (Shor) plus
  sphere (trust-region) bound per node, leaves enumerated by one product. Exact, usually far below
  2^p work, and on a time limit it still returns a certified upper bound (see the section below).
"""
from __future__ import annotations

import math
import time
from dataclasses import dataclass

import numpy as np

from .errors import UnsupportedProblemError

MAX_EXACT_DIM = 34          # 2^34 evaluations is hours; refuse beyond
_BLOCK_ENTRIES = 1 << 22     # values per block (32 MiB of float64)


def sign_vectors(k: int) -> np.ndarray:
    """All 2^k vectors of {-1,+1}^k as columns, shape (k, 2^k); column j encodes the bits of j."""
    if k == 0:
        return np.zeros((0, 1))
    j = np.arange(1 << k, dtype=np.int64)
    bits = (j[None, :] >> np.arange(k, dtype=np.int64)[:, None]) & 1
    return 1.0 - 2.0 * bits


def blas_single_thread():
    """Context: one BLAS thread. The branch and bound and the restricted master make many small
    dense calls, which run several times faster without a (contended) thread pool. Libraries
    loaded after entering are not limited, so scipy.linalg is imported first."""
    import scipy.linalg  # noqa: F401
    from threadpoolctl import threadpool_limits

    return threadpool_limits(limits=1, user_api="blas")


@dataclass
class Extremes:
    """max and min of u~^T Q u~ with maximisers / minimisers (columns, shape (p, k))."""

    max_value: float
    argmax: np.ndarray
    min_value: float
    argmin: np.ndarray
    evaluated: int

    @property
    def rho(self) -> float:
        """max_u |u~^T Q u~|."""
        return max(abs(self.max_value), abs(self.min_value))


def _topk(values: np.ndarray, k: int, largest: bool):
    flat = values.ravel()
    k = min(k, flat.size)
    idx = np.argpartition(-flat if largest else flat, k - 1)[:k]
    return idx, flat[idx]


def quadratic_extremes(Q: np.ndarray, even: bool = False, top: int = 1) -> Extremes:
    """Exact max/min of u~^T Q u~ over u in {-1,+1}^p for Q of shape (p+1, p+1).

    even=True assumes the value is invariant under u -> -u (b = 0) and fixes u_1 = +1.
    top: how many best maximisers / minimisers to return (for column generation).
    """
    if np.shape(Q)[0] > 16:               # large products: one BLAS thread is faster on a busy machine
        with blas_single_thread():
            return _quadratic_extremes(Q, even, top)
    return _quadratic_extremes(Q, even, top)


def _quadratic_extremes(Q: np.ndarray, even: bool, top: int) -> Extremes:
    Q = np.asarray(Q, float)
    p = Q.shape[0] - 1
    if p > MAX_EXACT_DIM:
        raise UnsupportedProblemError(f"meet in the middle over 2^{p} sign vectors is out of reach (limit p <= "
                                      f"{MAX_EXACT_DIM}); use max_abs_quadratic(method='bnb'), the colgen "
                                      f"backend or the sdp backend")
    Q = 0.5 * (Q + Q.T)
    kA = p // 2 + (1 if even and p % 2 == 0 and p > 0 else 0) if p > 1 else p
    kA = max(kA, 1) if p >= 1 else 0
    A = np.arange(kA)
    B = np.arange(kA, p + 1)                    # includes the constant coordinate p
    UA = sign_vectors(kA)
    if even and kA > 0:
        UA = UA[:, UA[0] > 0]
    VB = np.vstack([sign_vectors(p - kA), np.ones((1, 1 << (p - kA)))])
    valsA = np.einsum("kj,kl,lj->j", UA, Q[np.ix_(A, A)], UA) if kA else np.zeros(1)
    valsB = np.einsum("kj,kl,lj->j", VB, Q[np.ix_(B, B)], VB)
    T = 2.0 * (UA.T @ Q[np.ix_(A, B)]) if kA else np.zeros((1, B.size))
    nB = VB.shape[1]
    rows = max(1, _BLOCK_ENTRIES // nB)

    def decode(flat_idx):
        ia, ib = flat_idx // nB, flat_idx % nB
        return np.vstack([UA[:, ia], VB[:-1, ib]])

    if top == 1:
        # one product per block with both partial sums folded in: [T, valsA, 1] [VB; 1; valsB];
        # arg-searches only in blocks that improve (max/min reductions are far cheaper)
        TA = np.hstack([T, valsA[:, None], np.ones((T.shape[0], 1))])
        VBa = np.vstack([VB, np.ones((1, nB)), valsB[None, :]])
        hi, lo, ihi, ilo = -np.inf, np.inf, 0, 0
        for start in range(0, UA.shape[1], rows):
            block = TA[start:start + rows] @ VBa
            bmax, bmin = block.max(), block.min()
            if bmax > hi:
                hi, ihi = float(bmax), start * nB + int(block.argmax())
            if bmin < lo:
                lo, ilo = float(bmin), start * nB + int(block.argmin())
        return Extremes(hi, decode(np.array([ihi])), lo, decode(np.array([ilo])), UA.shape[1] * nB)
    best_hi = (np.empty(0), np.empty(0, dtype=np.int64))
    best_lo = (np.empty(0), np.empty(0, dtype=np.int64))
    for start in range(0, UA.shape[1], rows):
        stop = min(start + rows, UA.shape[1])
        block = (T[start:stop] @ VB) + valsA[start:stop, None] + valsB[None, :]
        for largest in (True, False):
            idx, vals = _topk(block, top, largest)
            gidx = (idx // nB + start) * nB + idx % nB
            cur = best_hi if largest else best_lo
            allv = np.concatenate([cur[0], vals])
            alli = np.concatenate([cur[1], gidx])
            order = np.argsort(-allv if largest else allv, kind="stable")[:top]
            if largest:
                best_hi = (allv[order], alli[order])
            else:
                best_lo = (allv[order], alli[order])

    return Extremes(float(best_hi[0][0]), decode(best_hi[1]), float(best_lo[0][0]), decode(best_lo[1]),
                    UA.shape[1] * nB)


def quadratic_value(Q: np.ndarray, S: np.ndarray) -> np.ndarray:
    """u~^T Q u~ for each column of S (p, m): shape (m,)."""
    S = np.asarray(S, float)
    St = np.vstack([S, np.ones((1, S.shape[1]))])
    return np.einsum("kj,kl,lj->j", St, Q, St)


# == certified extremes: meet in the middle or branch and bound ==============================
#
# Branch and bound for  max_u u~^T Q u~  (the minimum is the maximum of -Q). Variables are fixed
# in one static order, so all nodes of a level share their free set F and the bound of a node
# needs only O(|F|^2) work on top of one eigendecomposition per level:
#
#   with A = Q_FF - Diag(mu) (any mu), g = Q_{F,fixed} u~_fixed, c = u~_fixed^T Q u~_fixed,
#   u^T Q_FF u = u^T A u + sum(mu) on {-1,+1}^F, and for every t > lambda_max(A)
#       u^T A u + 2 g^T u <= k t + g^T (t I - A)^{-1} g         (k = |F| = |u|^2)
#   (maximise the concave quadratic u^T (A - tI) u + 2 g^T u over all of R^k). The best t solves
#   a secular equation (the trust-region subproblem on the sphere |u|^2 = k). mu is a diagonal
#   shift close to Shor's optimum for the level; without it the eigenvalue bound is useless
#   (|F| lambda_max(Q_FF) is dominated by the diagonal, which is constant on sign vectors).
# Each bound is valid for any mu and t, so inexact optimisation only loosens it; a margin covers
# floating-point error. The last `leaf_size` variables are enumerated by one matrix product.

_BNB_LEAF = 10            # free variables enumerated at the leaves (2^10 completions per node)
_BNB_CHUNK = 2048         # nodes expanded together
_AUTO_MITM_DIM = 24       # method="auto": meet in the middle up to this p, branch and bound beyond


@dataclass
class CertifiedExtremes(Extremes):
    """Extremes plus certified bounds: max_upper >= max_u u~^T Q u~, min_lower <= min_u u~^T Q u~.

    exact: the search finished, so rho = max(|max_value|, |min_value|) is the exact maximum of
    |u~^T Q u~| (the side of smaller magnitude may then be a value found, not the extreme).
    nodes: branch-and-bound nodes bounded (0 for meet in the middle); method: "mitm" | "bnb".
    """

    max_upper: float = math.inf
    min_lower: float = -math.inf
    exact: bool = True
    nodes: int = 0
    seconds: float = 0.0
    method: str = "mitm"

    @property
    def rho_upper_bound(self) -> float:
        """A certified upper bound on max_u |u~^T Q u~| (= max(max, -min) since min <= max)."""
        return max(self.max_upper, -self.min_lower)


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


def one_flip_ascent(Q: np.ndarray, S: np.ndarray, max_sweeps: int = 1000) -> np.ndarray:
    """Greedy 1-flip ascent of u~^T Q u~ from each column of S (p, k) with +-1 entries; returns the
    local maxima (p, k). Flipping u_i changes the value by -4 u_i (Q u~)_i + 4 Q_ii."""
    S = np.array(S, float)
    p = S.shape[0]
    if p == 0 or S.shape[1] == 0:
        return S
    Ut = np.vstack([S, np.ones((1, S.shape[1]))])
    QU = Q @ Ut
    dQ = np.diag(Q)[:p, None]
    cols_all = np.arange(S.shape[1])
    for _ in range(max_sweeps):
        gain = 4.0 * (dQ - Ut[:p] * QU[:p])
        k = np.argmax(gain, axis=0)
        best = gain[k, cols_all]
        move = best > 1e-12 * (1.0 + np.abs(QU).max())
        if not move.any():
            break
        cols = np.flatnonzero(move)
        ks = k[cols]
        delta = -2.0 * Ut[ks, cols]
        Ut[ks, cols] += delta
        QU[:, cols] += Q[:, ks] * delta
    return Ut[:p]


def local_search_max(Q: np.ndarray, starts: np.ndarray | None = None, restarts: int = 64,
                     rng: np.random.Generator | None = None) -> tuple[float, np.ndarray]:
    """Best 1-flip local maximum of u~^T Q u~ from `starts` (p, k) and `restarts` random points,
    plus the sign of the leading eigenvectors. Returns (value, u (p,))."""
    Q = 0.5 * (np.asarray(Q, float) + np.asarray(Q, float).T)
    p = Q.shape[0] - 1
    if p == 0:
        return float(Q[0, 0]), np.zeros(0)
    rng = rng if rng is not None else np.random.default_rng(0)
    cols = [np.where(rng.random((p, restarts)) < 0.5, -1.0, 1.0)]
    vecs = np.linalg.eigh(Q - np.diag(np.diag(Q)))[1][:, -4:]
    top = np.where(vecs >= 0, 1.0, -1.0)
    cols.append(top[:p] * top[p])          # u = v_{1:p} v_{p+1} so that u~ u~^T = v v^T
    if starts is not None and np.size(starts):
        cols.append(np.asarray(starts, float).reshape(p, -1))
    S = one_flip_ascent(Q, np.hstack(cols))
    vals = quadratic_value(Q, S)
    j = int(np.argmax(vals))
    return float(vals[j]), S[:, j].copy()


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


def _sphere_bounds(lam: np.ndarray, V: np.ndarray, G: np.ndarray, const: np.ndarray, steps: int = 8) -> np.ndarray:
    """min over t > lam_max of  k t + g^T (t I - A)^{-1} g + const  for each column g of G (k, N),
    A = V Diag(lam) V^T (lam ascending). Safeguarded Newton on 1/|x(t)| = 1/sqrt(k), x = (tI-A)^{-1} g
    (the sphere's secular equation); every t tried gives a valid bound, the smallest is kept."""
    k, N = G.shape
    if k == 0:
        return const.astype(float).copy()
    H2 = np.square(V.T @ G)
    l1 = float(lam[-1])
    eps = 1e-13 * max(float(np.abs(lam).max()), 1e-300)
    lo = np.full(N, l1 + eps)
    hi = l1 + np.sqrt(H2.sum(0) / k) + 2 * eps           # the secular function is >= 0 here

    def value(t):
        return k * t + (H2 / (t[None, :] - lam[:, None])).sum(0) + const

    t = hi.copy()
    best = value(t)
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
            best = np.minimum(best, np.where(np.isfinite(vt), vt, np.inf))
    return best


class _Levels:
    """Per level k (k variables fixed, free set F = order[k:]): eigendecompositions of
    Q_FF - Diag(mu) for a few diagonal shifts mu (the root's Shor shift restricted to F, and a
    shift optimised for the block Q_FF itself)."""

    def __init__(self, Q: np.ndarray, order: np.ndarray, mu_root: np.ndarray, stop: int):
        p = order.size
        self.data: list[list[tuple[np.ndarray, np.ndarray, float]]] = [[] for _ in range(p + 1)]
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


def _branching_order(Q: np.ndarray) -> np.ndarray:
    """Static variable order: strongest off-diagonal coupling first (fixes the variables that move
    the bound most near the root, where pruning pays most)."""
    p = Q.shape[0] - 1
    A = np.abs(Q[:p, :])
    weight = A.sum(1) - np.diag(A[:, :p])
    return np.argsort(-weight, kind="stable")


def bnb_maximize(Q: np.ndarray, even: bool = False, threshold: float = -math.inf,
                 starts: np.ndarray | None = None, time_limit: float | None = None,
                 leaf_size: int = _BNB_LEAF, chunk: int = _BNB_CHUNK, collect: int = 0,
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
                 leaf_size: int = _BNB_LEAF, chunk: int = _BNB_CHUNK, collect: int = 0,
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
            bc = np.minimum(bc, _sphere_bounds(lam, V, Gc, cc + smu))
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


def max_abs_quadratic(Q: np.ndarray, even: bool = False, method: str = "auto", time_limit: float | None = None,
                      starts: np.ndarray | None = None, top: int = 1, threshold: float = 0.0) -> CertifiedExtremes:
    """Exact max_u |u~^T Q u~| (the pricing problem) with certified bounds; Q shape (p+1, p+1).

    method: "mitm" (meet in the middle, 2^p work, no time limit), "bnb" (branch and bound), or
    "auto" (mitm for p <= 24, bnb beyond). time_limit (bnb): on time-out `exact` is False and
    `rho_upper_bound` is a certified upper bound on the true rho, so the scaling lemma stays sound.
    starts: (p, k) sign vectors that seed the incumbents. top: how many maximisers / minimisers to
    return (columns of argmax / argmin; for bnb these are the best found above `threshold`).
    threshold: bnb may stop proving a side once it is below max(threshold, the other side's value),
    so the side of smaller magnitude is then only bounded (rho stays exact).
    """
    start = time.perf_counter()
    Q = 0.5 * (np.asarray(Q, float) + np.asarray(Q, float).T)
    p = Q.shape[0] - 1
    if method == "auto":
        method = "mitm" if p <= _AUTO_MITM_DIM else "bnb"
    if method == "mitm":
        ext = quadratic_extremes(Q, even=even, top=top)
        return CertifiedExtremes(ext.max_value, ext.argmax, ext.min_value, ext.argmin, ext.evaluated,
                                 ext.max_value, ext.min_value, True, 0, time.perf_counter() - start, "mitm")
    if method != "bnb":
        raise ValueError(f"method must be 'auto', 'mitm' or 'bnb', got {method!r}")
    with blas_single_thread():
        return _max_abs_bnb(Q, even, time_limit, starts, top, threshold, start)


def _max_abs_bnb(Q, even, time_limit, starts, top, threshold, start) -> CertifiedExtremes:
    rng = np.random.default_rng(0)
    hi0, _ = local_search_max(Q, starts, rng=rng)
    lo0, _ = local_search_max(-Q, starts, rng=rng)
    # prove the side with the larger magnitude first: its value then prunes the other side
    sides = [(1.0, "max"), (-1.0, "min")] if hi0 >= lo0 else [(-1.0, "min"), (1.0, "max")]
    out, nodes, finished = {}, 0, True
    level = threshold
    for sign, name in sides:
        remaining = None if time_limit is None else max(0.0, time_limit - (time.perf_counter() - start))
        res = _bnb_maximize(sign * Q, even=even, threshold=level, starts=starts, time_limit=remaining,
                           collect=max(top - 1, 0), rng=rng)
        nodes += res.nodes
        finished = finished and res.finished
        level = max(level, res.value)
        cols = [res.argmax[:, None]]
        if res.found.size:
            extra = res.found[:, [tuple(c) != tuple(res.argmax) for c in res.found.T]]
            cols.append(extra[:, :max(top - 1, 0)])
        out[name] = (sign * res.value, np.hstack(cols), sign * res.upper_bound)
    (mx, amax, mx_up), (mn, amin, mn_lo) = out["max"], out["min"]
    # both searches finished: rho <= max(threshold, values found), so it is exact once it reaches threshold
    exact = finished and max(mx, -mn) >= threshold
    return CertifiedExtremes(mx, amax, mn, amin, nodes, mx_up, mn_lo, exact, nodes,
                             time.perf_counter() - start, "bnb")
