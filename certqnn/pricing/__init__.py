"""Pricing: the extremes of u~^T Q u~ over u in {-1,+1}^p, u~ = (u, 1) (docs/math.md §5, §9).

    enumerate.py     meet in the middle over all 2^p sign vectors (built on certqnn.trusted.enumerate)
    bnb.py           branch and bound with certified bounds, also when stopped early
    local_search.py  1-flip local search (heuristic, proves nothing)

max_abs_quadratic is the one entry point for "the pricing problem": it picks the method
(limits.MITM_PREFERRED_MAX_DIM) and always returns certified bounds.
"""
from __future__ import annotations

import math
import time
from dataclasses import dataclass

import numpy as np

from ..limits import MITM_PREFERRED_MAX_DIM
from .bnb import Maximum, bnb_maximize, shor_shift, sphere_bounds
from .enumerate import (Extremes, blas_single_thread, blas_thread_count, blas_threads, quadratic_extremes,
                        quadratic_value, sign_vectors)
from .local_search import local_search_max, one_flip_ascent

__all__ = ["CertifiedExtremes", "Extremes", "Maximum", "blas_single_thread", "blas_thread_count", "blas_threads",
           "bnb_maximize", "local_search_max", "max_abs_quadratic", "one_flip_ascent", "quadratic_extremes",
           "quadratic_value", "shor_shift", "sign_vectors", "sphere_bounds"]


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


def max_abs_quadratic(Q: np.ndarray, even: bool = False, method: str = "auto", time_limit: float | None = None,
                      starts: np.ndarray | None = None, top: int = 1, threshold: float = 0.0) -> CertifiedExtremes:
    """Exact max_u |u~^T Q u~| (the pricing problem) with certified bounds; Q shape (p+1, p+1).

    method: "mitm" (meet in the middle, 2^p work, no time limit), "bnb" (branch and bound), or
    "auto" (mitm up to p = MITM_PREFERRED_MAX_DIM, bnb beyond). time_limit (bnb): on time-out
    `exact` is False and `rho_upper_bound` is a certified upper bound on the true rho, so the
    scaling lemma stays sound. starts: (p, k) sign vectors that seed the incumbents. top: how many
    maximisers / minimisers to return (columns of argmax / argmin; for bnb these are the best found
    above `threshold`). threshold: bnb may stop proving a side once it is below max(threshold, the
    other side's value), so the side of smaller magnitude is then only bounded (rho stays exact).
    """
    start = time.perf_counter()
    Q = 0.5 * (np.asarray(Q, float) + np.asarray(Q, float).T)
    p = Q.shape[0] - 1
    if method == "auto":
        method = "mitm" if p <= MITM_PREFERRED_MAX_DIM else "bnb"
    if method == "mitm":
        ext = quadratic_extremes(Q, even=even, top=top)
        return CertifiedExtremes(ext.max_value, ext.argmax, ext.min_value, ext.argmin, ext.evaluated,
                                 ext.max_value, ext.min_value, True, 0, time.perf_counter() - start, "mitm")
    if method != "bnb":
        raise ValueError(f"method must be 'auto', 'mitm' or 'bnb', got {method!r}")
    with blas_single_thread():
        return _max_abs_bnb(Q, even, time_limit, starts, top, threshold, start)


def _max_abs_bnb(Q, even, time_limit, starts, top, threshold, start) -> CertifiedExtremes:
    """Both sides by branch and bound: max of Q and max of -Q."""
    rng = np.random.default_rng(0)
    hi0, _ = local_search_max(Q, starts, rng=rng)
    lo0, _ = local_search_max(-Q, starts, rng=rng)
    # prove the side with the larger magnitude first: its value then prunes the other side
    sides = [(1.0, "max"), (-1.0, "min")] if hi0 >= lo0 else [(-1.0, "min"), (1.0, "max")]
    out, nodes, finished = {}, 0, True
    level = threshold
    for sign, name in sides:
        remaining = None if time_limit is None else max(0.0, time_limit - (time.perf_counter() - start))
        res = bnb_maximize(sign * Q, even=even, threshold=level, starts=starts, time_limit=remaining,
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
