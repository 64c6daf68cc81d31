"""Rigorous floating-point arithmetic: rounding-error constants and directed steps.

Model: IEEE double, unit roundoff u = 2^-53; a computed sum or dot product of k terms (any order,
FMA or not) satisfies |fl(sum) - sum| <= gamma_k sum |terms|, gamma_k = k u / (1 - k u)
(Higham, Accuracy and Stability of Numerical Algorithms, 2nd ed., Lemma 3.1 and §3.5). Error
bounds are themselves computed in floating point; they are inflated by SAFETY (their own relative
error is of order gamma_k, far below 1e-6) and TINY is added per entry to cover underflow.
"""
from __future__ import annotations

import math
from fractions import Fraction

U_ROUND = 2.0 ** -53
SAFETY = 1.0 + 1e-6
TINY = 1e-290


def gamma(k: int) -> float:
    return k * U_ROUND / (1.0 - k * U_ROUND)


def up(x: float) -> float:
    return math.nextafter(float(x), math.inf)


def down(x: float) -> float:
    return math.nextafter(float(x), -math.inf)


def float_below(q: Fraction) -> float:
    """The largest float f with f <= q (up to one step): rounds a rational down."""
    f = float(q)
    return f if Fraction(f) <= q else down(f)


def float_above(q: Fraction) -> float:
    """A float f >= q, at most one step above the nearest."""
    f = float(q)
    return f if Fraction(f) >= q else up(f)


def exact_dot(a, b) -> Fraction:
    """sum_i a_i b_i in exact rational arithmetic; a, b sequences of floats."""
    return sum((Fraction(x) * Fraction(z) for x, z in zip(a, b)), Fraction(0))


def exact_gaps(upper: float, lower: float) -> tuple[Fraction, Fraction]:
    """(gap, relative gap) in exact rationals: upper - lower and gap / max(|upper|, 1e-12)
    (the convention of docs/math.md §8; certqnn.gaps.relative_gap is its float twin)."""
    gap = Fraction(upper) - Fraction(lower)
    return gap, gap / max(abs(Fraction(upper)), Fraction(1e-12))
