"""Linear minimisation oracles of Frank-Wolfe over the atoms (docs/math.md §10).

For a gradient g (n,) the best atom maximises |phi_s^T g| = |s~^T Q(g) s~| over s in {-1,+1}^p
(s~ = (s, 1), Q(g) (p+1, p+1) from lifting.q_matrix): the LMO is the pricing oracle of
docs/math.md §9. Each oracle is a tiny object with one method, __call__(Q, rng) -> (s, value),
and a flag `exact` saying whether the FW gap it implies is a certified bound.
"""
from __future__ import annotations

import numpy as np

from ..errors import InvalidProblemError, UnsupportedProblemError
from ..limits import EXACT_LMO_AUTO_MAX_DIM, EXACT_PRICING_MAX_DIM, SMALL_SIGN_MATRIX_DIM
from ..pricing import max_abs_quadratic, one_flip_ascent, quadratic_value, sign_vectors

LMOS = ("auto", "exact", "heuristic")


class ExactLMO:
    """argmax_s |s~^T Q s~| by exact pricing (meet in the middle, branch and bound beyond).
    For p <= SMALL_SIGN_MATRIX_DIM the 2^p sign vectors are enumerated once and cached: the same
    exact answer without the per-call setup that dominates the many small calls of dqsfw."""

    exact = True

    def __init__(self, even: bool):
        self.even = even
        self._cache: dict[int, np.ndarray] = {}

    def _small(self, Q: np.ndarray) -> tuple[np.ndarray, float]:
        p = Q.shape[0] - 1
        Ut = self._cache.get(p)
        if Ut is None:
            U = sign_vectors(p)
            if self.even and p > 0:
                U = U[:, U[0] > 0]
            Ut = self._cache[p] = np.vstack([U, np.ones((1, U.shape[1]))]).T     # (2^p or 2^(p-1), p+1)
        vals = np.sum((Ut @ Q) * Ut, axis=1)
        j = int(np.argmax(np.abs(vals)))
        return Ut[j, :p].copy(), float(vals[j])

    def __call__(self, Q: np.ndarray, rng: np.random.Generator | None = None) -> tuple[np.ndarray, float]:
        """Q: (p+1, p+1) -> (s (p,) in {-1,+1}^p, value = s~^T Q s~ with the largest |value|)."""
        Q = np.asarray(Q, float)
        if Q.shape[0] - 1 <= SMALL_SIGN_MATRIX_DIM:
            return self._small(Q)
        ext = max_abs_quadratic(Q, even=self.even)
        if abs(ext.max_value) >= abs(ext.min_value):
            return ext.argmax[:, 0].copy(), float(ext.max_value)
        return ext.argmin[:, 0].copy(), float(ext.min_value)


class HeuristicLMO:
    """Greedy 1-flip ascent of +-s~^T Q s~ from `starts` random sign vectors plus the last `memory`
    atoms it returned (warm starts). Inexact: the FW gap it implies is only an estimate."""

    exact = False

    def __init__(self, even: bool, starts: int = 8, memory: int = 8):
        self.even, self.starts, self.memory = even, starts, memory
        self._recent: list[np.ndarray] = []

    def __call__(self, Q: np.ndarray, rng: np.random.Generator | None = None) -> tuple[np.ndarray, float]:
        rng = rng if rng is not None else np.random.default_rng(0)
        p = Q.shape[0] - 1
        S0 = np.where(rng.random((p, self.starts)) < 0.5, -1.0, 1.0)
        if self._recent:
            S0 = np.hstack([S0, np.array(self._recent).T])
        S = np.hstack([one_flip_ascent(Q, S0), one_flip_ascent(-Q, S0)])     # ascents of +Q and of -Q
        vals = quadratic_value(Q, S)
        j = int(np.argmax(np.abs(vals)))
        s = canonical(S[:, j], self.even)
        self._recent = (self._recent + [s])[-self.memory:]
        return s, float(vals[j])


def canonical(s: np.ndarray, even: bool) -> np.ndarray:
    """With an even activation s and -s are the same atom: fix s_1 = +1 (as the exact oracle does)."""
    s = np.asarray(s, float)
    return -s if even and s.size and s[0] < 0 else s.copy()


def make_lmo(kind: str, p: int, even: bool):
    """kind: "exact" | "heuristic" | "auto" (exact up to p = EXACT_LMO_AUTO_MAX_DIM binary variables)."""
    if kind == "auto":
        kind = "exact" if p <= EXACT_LMO_AUTO_MAX_DIM else "heuristic"
    if kind == "exact":
        if p > EXACT_PRICING_MAX_DIM:
            raise UnsupportedProblemError(f"lmo='exact' needs p <= {EXACT_PRICING_MAX_DIM} binary variables per "
                                          f"neuron (got {p}); use lmo='heuristic'")
        return ExactLMO(even)
    if kind == "heuristic":
        return HeuristicLMO(even)
    raise InvalidProblemError("lmo", f"must be one of {', '.join(LMOS)}, got {kind!r}")
