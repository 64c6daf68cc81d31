"""Pricing by enumeration: the extremes of s~^T Q s~ over all s in {-1,+1}^p, with the top-k
maximisers / minimisers column generation asks for (docs/math.md §5, §9).

Built on the trusted meet-in-the-middle routine (certqnn.trusted.enumerate): the single best
maximiser and minimiser come from it directly, the top-k search reuses its split of the sign
vectors into two halves.
"""
from __future__ import annotations

import contextlib

import numpy as np

from ..errors import UnsupportedProblemError
from ..limits import EXACT_PRICING_MAX_DIM
from ..trusted.enumerate import (SINGLE_THREAD_MIN_SIZE, Extremes, Halves, enumerate_extremes, one_blas_thread,
                                 sign_vectors, split_halves)

__all__ = ["Extremes", "blas_single_thread", "blas_thread_count", "blas_threads", "quadratic_extremes",
           "quadratic_value", "sign_vectors"]


def blas_single_thread():
    """Context: one BLAS thread for numpy and scipy. The branch and bound and the restricted master
    make many small dense calls, which run several times faster without a (contended) thread pool.
    Libraries loaded after entering are not limited, so scipy.linalg is imported first."""
    import scipy.linalg  # noqa: F401

    return one_blas_thread()


def blas_thread_count() -> int | None:
    """The threads numpy's and scipy's BLAS use now (the most over the loaded libraries); None
    without threadpoolctl."""
    import scipy.linalg  # noqa: F401

    try:
        from threadpoolctl import threadpool_info
    except ImportError:
        return None
    counts = [info["num_threads"] for info in threadpool_info() if info.get("user_api") == "blas"]
    return max(counts) if counts else None


def blas_threads(count: int | None):
    """Context: BLAS with `count` threads, e.g. the large products of a pass over the data inside a
    blas_single_thread() region (None: as it is)."""
    if count is None:
        return contextlib.nullcontext()
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:
        return contextlib.nullcontext()
    return threadpool_limits(limits=count, user_api="blas")


def quadratic_extremes(Q: np.ndarray, even: bool = False, top: int = 1) -> Extremes:
    """Exact max/min of s~^T Q s~ over s in {-1,+1}^p for Q of shape (p+1, p+1).

    even=True assumes the value is invariant under s -> -s (b = 0) and fixes s_1 = +1.
    top: how many best maximisers / minimisers to return (columns of argmax / argmin).
    """
    p = np.shape(Q)[0] - 1
    if p > EXACT_PRICING_MAX_DIM:
        raise UnsupportedProblemError(f"meet in the middle over 2^{p} sign vectors is out of reach (limit p <= "
                                      f"{EXACT_PRICING_MAX_DIM}); use max_abs_quadratic(method='bnb'), the colgen "
                                      f"backend or the sdp backend")
    if top == 1:
        return enumerate_extremes(Q, even)
    threads = blas_single_thread() if p + 1 >= SINGLE_THREAD_MIN_SIZE else contextlib.nullcontext()
    with threads:
        return _top_extremes(split_halves(Q, even), top)


def _topk(values: np.ndarray, k: int, largest: bool):
    flat = values.ravel()
    k = min(k, flat.size)
    idx = np.argpartition(-flat if largest else flat, k - 1)[:k]
    return idx, flat[idx]


def _top_extremes(h: Halves, top: int) -> Extremes:
    """The `top` largest and smallest values with their sign vectors: a running top-k merge over
    the blocks of the split."""
    nB, rows = h.nB, h.rows
    best = {True: (np.empty(0), np.empty(0, dtype=np.int64)), False: (np.empty(0), np.empty(0, dtype=np.int64))}
    for start in range(0, h.UA.shape[1], rows):
        stop = min(start + rows, h.UA.shape[1])
        block = (h.T[start:stop] @ h.VB) + h.valsA[start:stop, None] + h.valsB[None, :]
        for largest in (True, False):
            idx, vals = _topk(block, top, largest)
            gidx = (idx // nB + start) * nB + idx % nB
            allv = np.concatenate([best[largest][0], vals])
            alli = np.concatenate([best[largest][1], gidx])
            order = np.argsort(-allv if largest else allv, kind="stable")[:top]
            best[largest] = (allv[order], alli[order])
    (hv, hi), (lv, li) = best[True], best[False]
    return Extremes(float(hv[0]), h.decode(hi), float(lv[0]), h.decode(li), h.evaluated)


def quadratic_value(Q: np.ndarray, S: np.ndarray) -> np.ndarray:
    """s~^T Q s~ for each column of S (p, m): shape (m,)."""
    S = np.asarray(S, float)
    St = np.vstack([S, np.ones((1, S.shape[1]))])
    # Q @ St by BLAS, then the column dots: a three-operand einsum would loop in plain C
    return np.einsum("kj,kj->j", St, Q @ St)
