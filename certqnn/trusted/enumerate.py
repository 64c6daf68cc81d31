"""Exact extremes of s~^T Q s~ over s in {-1,+1}^p, s~ = (s, 1), by enumeration (docs/math.md §5).

Meet in the middle: split s = (s_A, s_B); then
    s~^T Q s~ = s_A^T Q_AA s_A + 2 s_A^T Q_AB v_B + v_B^T Q_BB v_B,   v_B = (s_B, 1),
so the values of a block of s_A's against all s_B's are one matrix product. Memory is bounded by
processing s_A in blocks of BLOCK_ENTRIES values: O(2^(p/2) p + BLOCK_ENTRIES), work O(2^p p).

This is the one enumeration routine: the verifier's exact rho (trusted.rho) uses `enumerate_extremes`,
the pricing package builds its top-k search on `split_halves`.
"""
from __future__ import annotations

import contextlib
from dataclasses import dataclass

import numpy as np

from ..errors import UnsupportedProblemError
from ..limits import EXACT_PRICING_MAX_DIM

BLOCK_ENTRIES = 1 << 22            # values per block (32 MiB of float64)
SINGLE_THREAD_MIN_SIZE = 17        # Q of this size or more: products large enough to prefer one BLAS thread


def sign_vectors(k: int) -> np.ndarray:
    """All 2^k vectors of {-1,+1}^k as columns, shape (k, 2^k); column j encodes the bits of j."""
    if k == 0:
        return np.zeros((0, 1))
    j = np.arange(1 << k, dtype=np.int64)
    bits = (j[None, :] >> np.arange(k, dtype=np.int64)[:, None]) & 1
    return 1.0 - 2.0 * bits


def one_blas_thread():
    """Context: numpy's BLAS limited to one thread. The enumeration's many large products run
    faster without a (contended) thread pool. Speed only: without threadpoolctl nothing changes."""
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:
        return contextlib.nullcontext()
    return threadpool_limits(limits=1, user_api="blas")


@dataclass
class Extremes:
    """max and min of s~^T Q s~ with maximisers / minimisers (columns, shape (p, k))."""

    max_value: float
    argmax: np.ndarray
    min_value: float
    argmin: np.ndarray
    evaluated: int

    @property
    def rho(self) -> float:
        """max_s |s~^T Q s~|."""
        return max(abs(self.max_value), abs(self.min_value))


@dataclass
class Halves:
    """The meet-in-the-middle split of s~^T Q s~ for a symmetric Q (p+1, p+1).

    UA (kA, nA): first-half sign vectors; VB (p-kA+1, nB): second-half sign vectors with the
    constant 1 as last row; valsA (nA,), valsB (nB,): values of the two diagonal blocks;
    T (nA, p-kA+1) = 2 UA^T Q_AB. The value of pair (a, b), flat index a * nB + b, is
    T[a] @ VB[:, b] + valsA[a] + valsB[b].
    """

    UA: np.ndarray
    VB: np.ndarray
    valsA: np.ndarray
    valsB: np.ndarray
    T: np.ndarray

    @property
    def nB(self) -> int:
        return self.VB.shape[1]

    @property
    def evaluated(self) -> int:
        return self.UA.shape[1] * self.nB

    @property
    def rows(self) -> int:
        """Rows of UA per block, so that a block holds about BLOCK_ENTRIES values."""
        return max(1, BLOCK_ENTRIES // self.nB)

    def decode(self, flat_idx: np.ndarray) -> np.ndarray:
        """Sign vectors (p, k) of the flat indices (k,)."""
        ia, ib = flat_idx // self.nB, flat_idx % self.nB
        return np.vstack([self.UA[:, ia], self.VB[:-1, ib]])


def split_halves(Q: np.ndarray, even: bool = False) -> Halves:
    """The split of s~^T Q s~ (Q is symmetrised first). even=True assumes the value is invariant
    under s -> -s (b = 0) and fixes s_1 = +1, halving the work."""
    Q = np.asarray(Q, float)
    Q = 0.5 * (Q + Q.T)
    p = Q.shape[0] - 1
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
    return Halves(UA, VB, valsA, valsB, T)


def enumerate_extremes(Q: np.ndarray, even: bool = False) -> Extremes:
    """Exact max and min of s~^T Q s~ over s in {-1,+1}^p for Q of shape (p+1, p+1), with one
    maximiser and one minimiser. even: see split_halves. Refuses p > EXACT_PRICING_MAX_DIM."""
    p = np.shape(Q)[0] - 1
    if p > EXACT_PRICING_MAX_DIM:
        raise UnsupportedProblemError(f"enumerating 2^{p} sign vectors is out of reach "
                                      f"(limit p <= {EXACT_PRICING_MAX_DIM})")
    if p + 1 >= SINGLE_THREAD_MIN_SIZE:
        with one_blas_thread():
            return _max_min(split_halves(Q, even))
    return _max_min(split_halves(Q, even))


def _max_min(h: Halves) -> Extremes:
    # one product per block with both partial sums folded in: [T, valsA, 1] [VB; 1; valsB];
    # arg-searches only in blocks that improve (max/min reductions are far cheaper)
    TA = np.hstack([h.T, h.valsA[:, None], np.ones((h.T.shape[0], 1))])
    VBa = np.vstack([h.VB, np.ones((1, h.nB)), h.valsB[None, :]])
    hi, lo, ihi, ilo = -np.inf, np.inf, 0, 0
    rows = h.rows
    for start in range(0, h.UA.shape[1], rows):
        block = TA[start:start + rows] @ VBa
        bmax, bmin = block.max(), block.min()
        if np.isnan(bmax) or np.isnan(bmin):     # overflow (inf - inf): no claim, never a skipped block
            return Extremes(np.nan, h.decode(np.array([0])), np.nan, h.decode(np.array([0])), h.evaluated)
        if bmax > hi:
            hi, ihi = float(bmax), start * h.nB + int(block.argmax())
        if bmin < lo:
            lo, ilo = float(bmin), start * h.nB + int(block.argmin())
    return Extremes(hi, h.decode(np.array([ihi])), lo, h.decode(np.array([ilo])), h.evaluated)
