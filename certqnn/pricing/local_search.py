"""Heuristic pricing: 1-flip local search for large values of s~^T Q s~ over s in {-1,+1}^p
(docs/math.md §9). Finds good sign vectors fast and proves nothing; branch and bound (bnb.py)
uses it for its first incumbent, column generation and Frank-Wolfe for cheap columns.
"""
from __future__ import annotations

import numpy as np

from .enumerate import quadratic_value


def one_flip_ascent(Q: np.ndarray, S: np.ndarray, max_sweeps: int = 1000) -> np.ndarray:
    """Greedy 1-flip ascent of s~^T Q s~ from each column of S (p, k) with +-1 entries; returns the
    local maxima (p, k). Flipping s_i changes the value by -4 s_i (Q s~)_i + 4 Q_ii."""
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
