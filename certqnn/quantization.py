"""Quantization level sets and their exact reduction to binary weights (docs/math.md §2).

Every supported set has the form  Q = { sum_l c_l s_l : s in {-1,+1}^B }:
  binary   {-1, +1}                     c = (1,)
  ternary  {-1, 0, +1}                  c = (1/2, 1/2)
  k-bit    {-(2^K-1), ..., -1, +1, ..., 2^K-1} (odd integers)   c = (1, 2, 4, ..., 2^(K-1))
each optionally multiplied by a scale s > 0 (c -> s c).
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from . import limits
from .errors import InvalidProblemError

MAX_BITS = limits.MAX_BITS


@dataclass(frozen=True)
class Levels:
    """A finite quantization set Q with its binary-expansion coefficients.

    kind: 'binary' | 'ternary' | 'kbit'; bits: K for 'kbit'; scale: s > 0.
    """

    kind: str = "binary"
    bits: int = 1
    scale: float = 1.0
    coefficients: tuple = field(init=False)

    def __post_init__(self):
        if self.kind not in ("binary", "ternary", "kbit"):
            raise InvalidProblemError("levels", f"unknown level set {self.kind!r}; use binary, ternary, kbit:K or a list of values")
        try:
            scale = float(self.scale)
        except (TypeError, ValueError):
            raise InvalidProblemError("levels.scale", f"must be a positive number, got {self.scale!r}") from None
        if not (math.isfinite(scale) and scale > 0):
            raise InvalidProblemError("levels.scale", f"must be a positive finite number, got {self.scale!r}")
        object.__setattr__(self, "scale", scale)
        if self.kind == "kbit":
            if not isinstance(self.bits, (int, np.integer)) or not 1 <= int(self.bits) <= MAX_BITS:
                raise InvalidProblemError("levels", f"kbit:K needs an integer K in 1..{MAX_BITS}, got {self.bits!r}")
            coeffs = tuple(scale * 2.0 ** l for l in range(int(self.bits)))
        elif self.kind == "ternary":
            coeffs = (scale / 2.0, scale / 2.0)
        else:
            coeffs = (scale,)
        object.__setattr__(self, "coefficients", coeffs)

    @property
    def n_bits(self) -> int:
        """B: how many binary variables encode one weight."""
        return len(self.coefficients)

    @property
    def values(self) -> np.ndarray:
        """The sorted set Q, shape (|Q|,), computed with exactly the arithmetic of collapse() so
        that every collapsed weight is (bit for bit) an element of this set."""
        B = len(self.coefficients)
        signs = 1.0 - 2.0 * ((np.arange(1 << B)[None, :] >> np.arange(B)[:, None]) & 1)
        return np.unique(self.collapse(signs.reshape(B, -1)).ravel())

    def expand(self, X: np.ndarray) -> np.ndarray:
        """Expanded design X~ = [c_1 X, ..., c_B X], shape (n, d*B) for X of shape (n, d)."""
        return np.hstack([c * X for c in self.coefficients])

    def collapse(self, S: np.ndarray) -> np.ndarray:
        """Read weights back: S of shape (d*B, m) with +-1 entries -> U = sum_l c_l S_l, shape (d, m)."""
        S = np.asarray(S, dtype=float)
        B = self.n_bits
        d = S.shape[0] // B
        out = self.coefficients[0] * S[:d]
        for l in range(1, B):                 # fixed left-to-right order: values() relies on it
            out = out + self.coefficients[l] * S[l * d:(l + 1) * d]
        return out

    def contains(self, U: np.ndarray, tol: float = 0.0) -> np.ndarray:
        """Elementwise test U in Q (exact when tol = 0)."""
        vals = self.values
        U = np.asarray(U, dtype=float)
        return np.min(np.abs(U[..., None] - vals), axis=-1) <= tol

    def project(self, W: np.ndarray) -> np.ndarray:
        """Nearest level to each entry of W (ties toward the larger level)."""
        vals = self.values
        W = np.asarray(W, dtype=float)
        idx = np.argmin(np.abs(W[..., None] - vals) - 1e-12 * vals, axis=-1)
        return vals[idx]

    def describe(self) -> str:
        base = {"binary": "binary", "ternary": "ternary", "kbit": f"kbit:{self.bits}"}[self.kind]
        return base if self.scale == 1.0 else f"{base}*{self.scale!r}"

    def to_json(self) -> list[float]:
        """The interface file stores the level set as its sorted list of values."""
        return [float(v) for v in self.values]

    @classmethod
    def parse(cls, spec) -> "Levels":
        """Accept 'binary', 'ternary', 'kbit:K', a Levels, or a list/comma string of values."""
        if isinstance(spec, Levels):
            return spec
        if isinstance(spec, str):
            text = spec.strip().lower()
            if text in ("binary", "ternary"):
                return cls(text)
            if text.startswith("kbit:"):
                try:
                    bits = int(text.split(":", 1)[1])
                except ValueError:
                    raise InvalidProblemError("levels", f"kbit:K needs an integer K, got {spec!r}") from None
                return cls("kbit", bits)
            if "," not in text:
                raise InvalidProblemError("levels", f"unknown level set {spec!r}; use binary, ternary, kbit:K or v1,v2,...")
            try:
                spec = [float(v) for v in text.split(",")]
            except ValueError:
                raise InvalidProblemError("levels", f"could not read values from {spec!r}") from None
        try:
            values = np.unique(np.asarray(spec, dtype=float).ravel())
        except (TypeError, ValueError):
            raise InvalidProblemError("levels", f"unsupported level specification {spec!r}") from None
        return cls.from_values(values)

    @classmethod
    def from_values(cls, values, exact: bool = False) -> "Levels":
        """Recognise a list of values as a (scaled) binary, ternary or k-bit set.
        exact=True (certificate files) demands that the list IS the grid bit for bit, so a file
        cannot name one grid and be verified against a neighbouring one."""
        values = np.unique(np.asarray(values, dtype=float))
        if values.size < 2 or not np.all(np.isfinite(values)):
            raise InvalidProblemError("levels", f"need at least two finite values, got {values.tolist()}")
        top = values[-1]
        if top <= 0:
            raise InvalidProblemError("levels", f"level set must be symmetric around 0, got {values.tolist()}")
        candidates = [cls("binary", scale=top), cls("ternary", scale=top)]
        for bits in range(1, MAX_BITS + 1):
            if 2 ** bits == values.size:
                candidates.append(cls("kbit", bits, scale=top / (2 ** bits - 1)))
        for cand in candidates:
            cv = cand.values
            if cv.size == values.size and np.allclose(cv, values, rtol=1e-12, atol=1e-12 * top):
                if exact and not np.array_equal(cv, values):
                    raise InvalidProblemError("levels", f"{values.tolist()} is not bit for bit the grid "
                                              f"{cv.tolist()} of {cand.describe()}")
                return cand
        raise InvalidProblemError(
            "levels",
            f"{values.tolist()} is not a binary, ternary or uniform odd k-bit grid (times a scale); "
            "these are the sets with an exact binary reduction (docs/math.md §2)",
        )
