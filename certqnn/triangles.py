"""Triangle inequalities of the cut polytope on a lifted block (proofs/triangle_cuts.md).

For v in {-1,+1}^D and signs (s_i, s_j, s_k): (s_i v_i + s_j v_j + s_k v_k)^2 >= 1, i.e.
    s_i s_j v_i v_j + s_i s_k v_i v_k + s_j s_k v_j v_k >= -1.
On a lifted block Z = sum |alpha| v v^T with Z_kk = t this reads <E_T, Z> >= -t, where E_T is the
symmetric matrix with (E_T)_ij = s_i s_j / 2 etc. A cut T is stored as the int row
(i, j, k, s_i, s_j, s_k) with i < j < k; the four sign patterns up to a global flip are
(+,+,+), (+,-,-), (-,+,-), (-,-,+).
"""
from __future__ import annotations

import itertools

import numpy as np

SIGN_PATTERNS = np.array([[1, 1, 1], [1, -1, -1], [-1, 1, -1], [-1, -1, 1]])


def all_triples(D: int) -> np.ndarray:
    """All (i, j, k), i < j < k < D: shape (D choose 3, 3)."""
    if D < 3:
        return np.zeros((0, 3), dtype=np.int64)
    return np.array(list(itertools.combinations(range(D), 3)), dtype=np.int64)


def cut_values(cuts: np.ndarray, Z: np.ndarray) -> np.ndarray:
    """<E_T, Z> for each cut row: shape (k,)."""
    cuts = np.asarray(cuts, dtype=np.int64).reshape(-1, 6)
    i, j, k, si, sj, sk = cuts.T
    return si * sj * Z[i, j] + si * sk * Z[i, k] + sj * sk * Z[j, k]


def find_violated(Zh: np.ndarray, tol: float = 1e-4, max_cuts: int = 200, exclude=None) -> np.ndarray:
    """The most violated triangle inequalities <E_T, Zh> >= -1 of a unit-diagonal Zh (D, D),
    violation > tol, at most max_cuts, skipping rows in `exclude`: shape (k, 6) int."""
    D = Zh.shape[0]
    tri = all_triples(D)
    if tri.size == 0:
        return np.zeros((0, 6), dtype=np.int64)
    a, b, c = Zh[tri[:, 0], tri[:, 1]], Zh[tri[:, 0], tri[:, 2]], Zh[tri[:, 1], tri[:, 2]]
    # value of each sign pattern: s_i s_j a + s_i s_k b + s_j s_k c
    vals = np.stack([a + b + c, -a - b + c, -a + b - c, a - b - c], axis=1)
    viol = -1.0 - vals
    flat = np.argsort(-viol, axis=None)
    out = []
    seen = set() if exclude is None else {tuple(r) for r in np.asarray(exclude).reshape(-1, 6).tolist()}
    for idx in flat:
        t, s = divmod(int(idx), 4)
        if viol[t, s] <= tol or len(out) >= max_cuts:
            break
        row = (*tri[t].tolist(), *SIGN_PATTERNS[s].tolist())
        if row not in seen:
            out.append(row)
    return np.array(out, dtype=np.int64).reshape(-1, 6)


def weighted_sum(cuts: np.ndarray, mu: np.ndarray, D: int) -> np.ndarray:
    """sum_T mu_T E_T, shape (D, D) (symmetric, zero diagonal)."""
    cuts = np.asarray(cuts, dtype=np.int64).reshape(-1, 6)
    M = np.zeros((D, D))
    if cuts.shape[0] == 0:
        return M
    i, j, k, si, sj, sk = cuts.T
    half = 0.5 * np.asarray(mu, float)
    for (p, q, sp_, sq) in ((i, j, si, sj), (i, k, si, sk), (j, k, sj, sk)):
        np.add.at(M, (p, q), half * sp_ * sq)
        np.add.at(M, (q, p), half * sp_ * sq)
    return M


def validate(cuts: np.ndarray, D: int) -> str | None:
    """None if every row is a well-formed cut for dimension D, else the reason."""
    cuts = np.asarray(cuts)
    if cuts.ndim != 2 or cuts.shape[1] != 6:
        return "cuts must be rows (i, j, k, s_i, s_j, s_k)"
    if cuts.shape[0] == 0:
        return None
    i, j, k = cuts[:, 0], cuts[:, 1], cuts[:, 2]
    if not (np.all(0 <= i) and np.all(i < j) and np.all(j < k) and np.all(k < D)):
        return f"cut indices must satisfy 0 <= i < j < k < {D}"
    if not np.all(np.abs(cuts[:, 3:]) == 1):
        return "cut signs must be +1 or -1"
    return None
