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

import numpy as np

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


def _int_mantissas(a: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(m, e) int64 arrays with a = m * 2^e exactly, |m| < 2^53: frexp's mantissa in [1/2, 1)
    times 2^53 is an integer (a double has 53 significant bits, subnormals fewer)."""
    mant, exp = np.frexp(a)
    return (mant * 2.0 ** 53).astype(np.int64), exp.astype(np.int64) - 53


def exact_dot(a, b) -> Fraction:
    """sum_i a_i b_i in exact rational arithmetic; a, b sequences of floats (equal length).

    Every double is m 2^e with an integer m, so the sum is one Python integer over 2^-e_min: the
    n products of 53-bit integers are shifted to the common exponent and added exactly. About
    1 us per term (a Fraction per term costs ~30 us). Non-finite entries raise like Fraction(x)."""
    a = np.asarray(a, dtype=float).ravel()
    b = np.asarray(b, dtype=float).ravel()
    if a.shape != b.shape:
        a, b = a[:min(a.size, b.size)], b[:min(a.size, b.size)]      # zip semantics
    if not (np.all(np.isfinite(a)) and np.all(np.isfinite(b))):
        return sum((Fraction(x) * Fraction(z) for x, z in zip(a.tolist(), b.tolist())), Fraction(0))
    keep = (a != 0) & (b != 0)
    if not np.any(keep):
        return Fraction(0)
    ma, ea = _int_mantissas(a[keep])
    mb, eb = _int_mantissas(b[keep])
    e = ea + eb
    e0 = int(e.min())
    total = 0
    for x, z, s in zip(ma.tolist(), mb.tolist(), (e - e0).tolist()):
        total += (x * z) << s
    return Fraction(total, 1 << -e0) if e0 < 0 else Fraction(total << e0)


def exact_gaps(upper: float, lower: float) -> tuple[Fraction, Fraction]:
    """(gap, relative gap) in exact rationals: upper - lower and gap / max(|upper|, 1e-12)
    (the convention of docs/math.md §8; certqnn.gaps.relative_gap is its float twin)."""
    gap = Fraction(upper) - Fraction(lower)
    return gap, gap / max(abs(Fraction(upper)), Fraction(1e-12))


# -- rigorous logarithms (proofs/loss_logistic.md) ---------------------------------------------
# Fixed point with LOG_BITS fractional bits, every operation rounded down (lower pass) or up (upper
# pass): no libm involved, so the enclosures hold whatever the platform's math.log does.
LOG_BITS = 128


def _atanh_fixed(num: int, den: int, upper: bool) -> int:
    """floor (upper=False) or ceil (upper=True) bounds, scaled by 2^LOG_BITS, of
    atanh(x) = sum_k x^(2k+1) / (2k+1) for x = num/den in [0, 1/5]. Every term is >= 0, so
    truncating the series and rounding down gives a lower bound; the upper pass rounds up and adds
    the tail sum_{j>=k} x^(2j+1)/(2j+1) <= x^(2k+1) / (1 - x^2) <= 2 x^(2k+1)."""
    F = LOG_BITS
    if upper:
        p = -((-num << F) // den)                       # ceil(x 2^F)
        x2 = -((-p * p) >> F)                           # >= x^2 2^F
    else:
        p = (num << F) // den
        x2 = (p * p) >> F
    total, k = 0, 0
    while p > 16 and k < 400:
        total += -(-p // (2 * k + 1)) if upper else p // (2 * k + 1)
        p = -((-p * x2) >> F) if upper else (p * x2) >> F
        k += 1
    return total + 2 * p + 1 if upper else total


_LOG2 = (2 * _atanh_fixed(1, 3, False), 2 * _atanh_fixed(1, 3, True))   # log 2 = 2 atanh(1/3)


def log_bounds(q: Fraction) -> tuple[Fraction, Fraction]:
    """(lo, hi) with lo <= log(q) <= hi for a rational q > 0, |hi - lo| <= (|e| + 8) 2^-127 where
    q = m 2^e, m in [1/sqrt 2, sqrt 2]; log m = 2 atanh((m - 1)/(m + 1)) with |(m-1)/(m+1)| < 0.172."""
    q = Fraction(q)
    if q <= 0:
        raise ValueError("log of a non-positive number")
    e = q.numerator.bit_length() - q.denominator.bit_length()
    m = q / (Fraction(2) ** e) if e >= 0 else q * (Fraction(2) ** -e)
    if m * m >= 2:
        m, e = m / 2, e + 1
    elif 2 * m * m < 1:
        m, e = m * 2, e - 1
    x = (m - 1) / (m + 1)
    num, den = abs(x.numerator), x.denominator
    a_lo, a_hi = 2 * _atanh_fixed(num, den, False), 2 * _atanh_fixed(num, den, True)
    if x < 0:
        a_lo, a_hi = -a_hi, -a_lo
    l2_lo, l2_hi = _LOG2
    e_lo, e_hi = (e * l2_lo, e * l2_hi) if e >= 0 else (e * l2_hi, e * l2_lo)
    scale = 1 << LOG_BITS
    return Fraction(e_lo + a_lo, scale), Fraction(e_hi + a_hi, scale)


def exp_upper(t: Fraction) -> Fraction:
    """A rational E >= exp(t) for rational t <= 0 (E <= 1), within about 2^-40 relative when the
    platform's exp is accurate. The float guess is only a guess: it is accepted once log_bounds
    proves log(E) >= t, and raised geometrically until it is (E = 1 always qualifies)."""
    t = Fraction(t)
    if t > 0:
        raise ValueError("exp_upper needs t <= 0")
    try:
        guess = math.exp(float(t))
    except OverflowError:          # pragma: no cover - t <= 0 cannot overflow
        guess = 1.0
    E = Fraction(max(guess, 5e-324))
    for k in range(200):
        if E >= 1:
            return Fraction(1)
        if log_bounds(E)[0] >= t:
            return E
        E = E * (1 + Fraction(1, 1 << max(0, 52 - k)))
    return Fraction(1)
