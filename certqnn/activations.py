"""Polynomial activations sigma(t) = a t^2 + b t + c (docs/math.md §1)."""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from .errors import InvalidProblemError


@dataclass(frozen=True)
class Polynomial:
    """sigma(t) = a t^2 + b t + c. The classic quadratic activation is Polynomial(1, 0, 0)."""

    a: float = 1.0
    b: float = 0.0
    c: float = 0.0

    def __post_init__(self):
        for name in ("a", "b", "c"):
            value = getattr(self, name)
            try:
                value = float(value)
            except (TypeError, ValueError):
                raise InvalidProblemError(f"activation.{name}", f"must be a number, got {value!r}") from None
            if not math.isfinite(value):
                raise InvalidProblemError(f"activation.{name}", f"must be finite, got {value!r}")
            object.__setattr__(self, name, value)
        if self.a == 0.0 and self.b == 0.0:
            raise InvalidProblemError("activation", "a and b cannot both be 0 (the network would be constant)")

    def __call__(self, t: np.ndarray, overwrite: bool = False) -> np.ndarray:
        """sigma(t) elementwise. overwrite: t is a float64 array the caller gives up; the result is
        written into it with one temporary instead of four (the same roundings: a product of two
        floats is commutative), which matters on the rounding's (rows, atoms) blocks."""
        if not (overwrite and isinstance(t, np.ndarray) and t.dtype == np.float64):
            t = np.asarray(t, dtype=float)
            return (self.a * t + self.b) * t + self.c
        if self.b == 0.0 and math.copysign(1.0, self.c) > 0:
            # (a t + 0) t + c: adding b = 0 can only turn a -0 into +0, and + c (not -0) makes that
            # sign of zero irrelevant; with a = 1 the product a t is t itself
            if self.a == 1.0:
                t *= t
            else:
                t *= self.a * t
        else:
            u = self.a * t
            u += self.b
            t *= u
            del u
        t += self.c
        return t

    @property
    def is_even(self) -> bool:
        """True when sigma(t) = sigma(-t), so neurons u and -u are the same atom (docs/math.md §3)."""
        return self.b == 0.0

    def as_list(self) -> list[float]:
        return [self.a, self.b, self.c]

    @classmethod
    def parse(cls, text: str) -> "Polynomial":
        """Parse 'a,b,c' (CLI form)."""
        parts = [p.strip() for p in str(text).split(",")]
        if len(parts) != 3:
            raise InvalidProblemError("activation", f"expected three numbers 'a,b,c', got {text!r}")
        try:
            values = [float(p) for p in parts]
        except ValueError:
            raise InvalidProblemError("activation", f"expected three numbers 'a,b,c', got {text!r}") from None
        return cls(*values)       # its own checks name the real problem (e.g. a = b = 0)
