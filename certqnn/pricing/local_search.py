"""Heuristic pricing: 1-flip local search for large values of s~^T Q s~ over s in {-1,+1}^p
(docs/math.md §9). Finds good sign vectors fast and proves nothing; branch and bound (bnb.py)
uses it for its first incumbent, column generation and Frank-Wolfe for cheap columns.
"""
from __future__ import annotations

import numpy as np

from .enumerate import quadratic_value


# one_flip_ascent(single=None): single-precision sweeps from this many +-1 variables on. Measured
# (one BLAS thread, random Q, random starts): p = 100, 4000 starts 0.26 s -> 0.11 s; p = 200, 8000
# starts 1.86 s -> 1.10 s, the same local maxima for 99.95 % of the starts; below, the ascents are
# cheap and stay in double (so their results do not change)
SINGLE_SWEEPS_MIN_DIM = 100


def one_flip_ascent(Q: np.ndarray, S: np.ndarray, max_sweeps: int = 1000, single: bool | None = None) -> np.ndarray:
    """Greedy 1-flip ascent of s~^T Q s~ from each column of S (p, k) with +-1 entries; returns the
    local maxima (p, k). Flipping s_i changes the value by -4 s_i (Q s~)_i + 4 Q_ii.

    Each sweep flips, in every column still moving, the coordinate of largest gain. A column that
    has stopped is left there (its gains no longer change), so the sweeps work on the moving
    columns only: most starts stop after a few flips, a few climb for ~p/2 sweeps. The columns are
    held as rows (k, p+1), so that a flip's update reads one contiguous row of Q^T.

    single: the sweeps in single precision (half the memory traffic); a flip then needs a gain
    above 1e-5 of the scale instead of 1e-12, so that rounding noise never passes for an ascent.
    None: single from p >= SINGLE_SWEEPS_MIN_DIM on. A heuristic either way: the local maxima are
    returned as +-1 columns (float64) and callers evaluate them in double."""
    p = np.shape(S)[0]
    if single is None:
        single = p >= SINGLE_SWEEPS_MIN_DIM
    dtype, tol = (np.float32, 1e-5) if single else (np.float64, 1e-12)
    S = np.asarray(S, dtype)
    if p == 0 or S.shape[1] == 0:
        return S.astype(float)
    Q = np.asarray(Q, dtype)
    Ut = np.vstack([S, np.ones((1, S.shape[1]), dtype)])
    QU = np.ascontiguousarray((Q @ Ut).T)               # row j: Q s~_j
    U = np.ascontiguousarray(Ut.T)
    QT = np.ascontiguousarray(Q.T)
    dQ = np.diag(Q)[:p]
    # the stopping test's scale is the largest |Q s~| over every column, moving or stopped
    scale_stopped = 0.0
    moving = np.arange(S.shape[1])
    U_m, QU_m = U, QU
    half_gain = np.empty((S.shape[1], p), dtype)        # gain / 4 (an exact scaling: same argmax)
    for _ in range(max_sweeps):
        g = half_gain[:moving.size]
        np.multiply(U_m[:, :p], QU_m[:, :p], out=g)
        np.subtract(dQ, g, out=g)
        k = np.argmax(g, axis=1)
        rows = np.arange(moving.size)
        scale = max(scale_stopped, QU_m.max(), -QU_m.min())
        move = 4.0 * g[rows, k] > tol * (1.0 + scale)
        if not move.all():
            stopped = ~move
            U[moving[stopped]] = U_m[stopped]
            scale_stopped = max(scale_stopped, QU_m[stopped].max(), -QU_m[stopped].min())
            if not move.any():
                return U[:, :p].T.astype(float)
            moving, k = moving[move], k[move]
            U_m, QU_m = U_m[move], QU_m[move]
            rows = np.arange(moving.size)
        delta = -2.0 * U_m[rows, k]
        U_m[rows, k] += delta
        step = QT[k]
        step *= delta[:, None]
        QU_m += step
    U[moving] = U_m
    return U[:, :p].T.astype(float)


def local_search_max(Q: np.ndarray, starts: np.ndarray | None = None, restarts: int = 64,
                     rng: np.random.Generator | None = None) -> tuple[float, np.ndarray]:
    """Best 1-flip local maximum of s~^T Q s~ from `starts` (p, k) and `restarts` random points,
    plus the sign of the leading eigenvectors. Returns (value, s (p,))."""
    Q = 0.5 * (np.asarray(Q, float) + np.asarray(Q, float).T)
    p = Q.shape[0] - 1
    if p == 0:
        return float(Q[0, 0]), np.zeros(0)
    rng = rng if rng is not None else np.random.default_rng(0)
    cols = [np.where(rng.random((p, restarts)) < 0.5, -1.0, 1.0)]
    vecs = np.linalg.eigh(Q - np.diag(np.diag(Q)))[1][:, -4:]
    top = np.where(vecs >= 0, 1.0, -1.0)
    cols.append(top[:p] * top[p])          # s = v_{1:p} v_{p+1} so that s~ s~^T = v v^T
    if starts is not None and np.size(starts):
        cols.append(np.asarray(starts, float).reshape(p, -1))
    S = one_flip_ascent(Q, np.hstack(cols))
    vals = quadratic_value(Q, S)
    j = int(np.argmax(vals))
    return float(vals[j]), S[:, j].copy()
