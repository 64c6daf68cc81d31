"""Pricing oracle: the extremes of u~^T Q u~ over u in {-1,+1}^p, u~ = (u, 1) (math §5, §9).

Exact by vectorised meet-in-the-middle: split u = (u_A, u_B); then
    u~^T Q u~ = u_A^T Q_AA u_A + 2 u_A^T Q_AB v_B + v_B^T Q_BB v_B,   v_B = (u_B, 1),
so every value of a block of u_A's against all u_B's is one matrix product. Memory is bounded by
processing u_A in blocks. Cost O(2^p * p) flops, memory O(2^(p/2) * p + BLOCK).
"""
from __future__ import annotations

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
    Q = np.asarray(Q, float)
    p = Q.shape[0] - 1
    if p > MAX_EXACT_DIM:
        raise UnsupportedProblemError(f"exact pricing over 2^{p} sign vectors is out of reach (limit p <= {MAX_EXACT_DIM}); use the sdp backend")
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

    def decode(flat_idx):
        ia, ib = flat_idx // nB, flat_idx % nB
        return np.vstack([UA[:, ia], VB[:-1, ib]])

    return Extremes(float(best_hi[0][0]), decode(best_hi[1]), float(best_lo[0][0]), decode(best_lo[1]),
                    UA.shape[1] * nB)


def quadratic_value(Q: np.ndarray, S: np.ndarray) -> np.ndarray:
    """u~^T Q u~ for each column of S (p, m): shape (m,)."""
    S = np.asarray(S, float)
    St = np.vstack([S, np.ones((1, S.shape[1]))])
    return np.einsum("kj,kl,lj->j", St, Q, St)
