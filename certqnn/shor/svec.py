"""SCS's PSD-cone vectorisation and the lifted data matrix of the Shor SDP (docs/math.md §5-6)."""
from __future__ import annotations

import math

import numpy as np

SQRT2 = math.sqrt(2.0)


def svec_layout(D: int):
    """Row/column indices and scale factors of svec for D x D matrices; length D(D+1)/2.
    Entry (i, j), i >= j, ordered column by column; off-diagonals scaled by sqrt(2) so that
    <A, B> = svec(A) . svec(B)."""
    cols, rows = np.triu_indices(D)          # (col, row) pairs with row >= col, column-major
    scale = np.where(rows == cols, 1.0, SQRT2)
    return rows, cols, scale


def svec(M: np.ndarray) -> np.ndarray:
    rows, cols, scale = svec_layout(M.shape[0])
    return M[rows, cols] * scale


def smat(v: np.ndarray, D: int) -> np.ndarray:
    rows, cols, scale = svec_layout(D)
    M = np.zeros((D, D))
    M[rows, cols] = v / scale
    M[cols, rows] = v / scale
    return M


def lifted_features(Xb: np.ndarray, act) -> np.ndarray:
    """F with F[i] = svec(M(x_i)), shape (n, D(D+1)/2), D = p+1: A(Z) = F svec(Z)."""
    n, p = Xb.shape
    D = p + 1
    rows, cols, scale = svec_layout(D)
    Xt = np.hstack([Xb, np.ones((n, 1))])
    F = Xt[:, rows] * Xt[:, cols]
    coef = np.where((rows < p) & (cols < p), act.a, np.where((rows == p) & (cols == p), act.c, 0.5 * act.b))
    return F * (coef * scale)
