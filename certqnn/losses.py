"""Losses L(yhat) = sum_i l(yhat_i, y_i): everything any part of certqnn needs to know about one
(docs/math.md §1, §4).

A loss declares
  value, gradient            for training and for the dual point w = grad L(yhat)
  conjugate, in_domain       L*(w) = sum_i l_i*(w_i), +inf outside its domain (checked exactly)
  best_dual_scale            which s in [0, smax] to use in the scaling lemma
  value_upper_bound          (trusted core) a float >= L(v) for every v within a given error of yhat
  certified_dual_value       (trusted core) a float <= -L*(s w), computed in exact arithmetic
  quadratic                  (modelling) (kappa, t) when L(v) = kappa/2 |v - t|^2 + const; None otherwise
  model                      how the restricted master solves it (master_model): "quadratic",
                             "smooth" (needs curvature) or "piecewise_linear" (needs pieces)
  spec, validate_labels      the string written to certificates ("huber:0.5"); labels +-1 for the
                             classification losses (InvalidProblemError naming y)

Losses: squared, logistic, hinge, squared_hinge, huber[:DELTA], absolute (docs/math.md §4; one
proof page each in proofs/, e.g. proofs/loss_logistic.md for the libm-free logarithm bounds).

Adding a loss is a local change: subclass Loss, implement these methods, register it (LOSSES).
A backend that cannot model a loss says so in supports(), naming the loss.
This module imports numpy, math and fractions only: the trusted core uses it.
"""
from __future__ import annotations

import math
from abc import ABC, abstractmethod
from fractions import Fraction

import numpy as np

from .errors import InvalidProblemError
from .trusted.arith import (SAFETY, TINY, U_ROUND, exact_dot, exp_upper, float_above, float_below, gamma,
                            log_bounds, up)


class Loss(ABC):
    name: str = ""
    # how the restricted master models the loss (certqnn.lasso.l1_fit): "quadratic" (feature-sign
    # Lasso on loss.quadratic), "smooth" (proximal Newton with loss.curvature), or
    # "piecewise_linear" (a linear program on loss.pieces); None: "quadratic" when loss.quadratic
    # gives a model, else none (see master_model)
    model: str | None = None
    # classification losses take labels in {-1, +1} and never standardize y
    classification: bool = False

    @property
    def spec(self) -> str:
        """The string get_loss parses back into this loss, parameters included (certificate files)."""
        return self.name

    def validate_labels(self, y: np.ndarray) -> None:
        """InvalidProblemError naming field y when y is not a valid label vector for this loss."""
        if self.classification:
            y = np.asarray(y, float)
            bad = ~((y == 1.0) | (y == -1.0))
            if bad.any():
                i = int(np.flatnonzero(bad)[0])
                raise InvalidProblemError("y", f"the {self.name} loss needs labels in {{-1, +1}}; y[{i}] = {float(y[i])!r}")

    def curvature(self, yhat: np.ndarray, y: np.ndarray) -> np.ndarray:
        """A generalized second derivative l''(yhat_i) >= 0, shape (n,) (model "smooth")."""
        raise NotImplementedError

    def pieces(self, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(slopes, intercepts), each (n, K): l_i(t) = max_k slopes_ik t + intercepts_ik
        (model "piecewise_linear"). Every dual point is a convex combination of the slopes."""
        raise NotImplementedError

    @abstractmethod
    def value(self, yhat: np.ndarray, y: np.ndarray) -> float:
        """L(yhat) = sum_i l(yhat_i, y_i); yhat, y shape (n,)."""

    @abstractmethod
    def gradient(self, yhat: np.ndarray, y: np.ndarray) -> np.ndarray:
        """grad L(yhat), shape (n,)."""

    @abstractmethod
    def conjugate(self, w: np.ndarray, y: np.ndarray) -> float:
        """L*(w) = sup_v w^T v - L(v); +inf outside its domain."""

    def in_domain(self, w: np.ndarray, y: np.ndarray) -> bool:
        """True when w lies in the domain of L* (exactly, no tolerance). Default: all of R^n."""
        return bool(np.all(np.isfinite(w)))

    def dual_value(self, w: np.ndarray, y: np.ndarray) -> float:
        """g(w) = -L*(w): a lower bound on p*_inf whenever max_u |phi_u^T w| <= beta (docs/math.md §4)."""
        return -self.conjugate(w, y)

    def best_dual_scale(self, w: np.ndarray, y: np.ndarray, smax: float) -> float:
        """A scale s in [0, smax] with large g(s w). Any s in that range gives a valid bound
        (s w is dual feasible when s * rho_bar <= beta); the default is the scaling lemma's."""
        return min(1.0, smax)

    def quadratic(self, y: np.ndarray) -> tuple[float, np.ndarray] | None:
        """(kappa, t) with L(v) = kappa/2 |v - t|^2 + const for all v, or None when L is not quadratic."""
        return None

    @abstractmethod
    def value_upper_bound(self, yhat: np.ndarray, err: np.ndarray, y: np.ndarray) -> float:
        """A float >= L(v) for every v with |v_i - yhat_i| <= err_i, including this routine's own
        rounding errors. yhat, err, y: (n,)."""

    def exact_value(self, yhat: list[Fraction], y: np.ndarray) -> Fraction | None:
        """L(yhat) in exact rational arithmetic for rational outputs yhat (n,), or None when the loss
        has no rational closed form (the verifier then relies on value_upper_bound alone)."""
        return None

    @abstractmethod
    def certified_dual_value(self, w: np.ndarray, y: np.ndarray, s: float) -> float | None:
        """A float <= -L*(s w) computed in exact rational arithmetic (then rounded down), or None
        when s w is outside the domain of L*."""


class SquaredLoss(Loss):
    """l(yhat, y) = (yhat - y)^2 / 2;  l*(w) = w y + w^2 / 2 on all of R."""

    name = "squared"
    model = "quadratic"

    def value(self, yhat, y):
        r = np.asarray(yhat, float) - np.asarray(y, float)
        return 0.5 * float(r @ r)

    def gradient(self, yhat, y):
        return np.asarray(yhat, float) - np.asarray(y, float)

    def conjugate(self, w, y):
        w = np.asarray(w, float)
        return float(w @ np.asarray(y, float) + 0.5 * (w @ w))

    def best_dual_scale(self, w, y, smax):
        # g(s w) = -s w^T y - s^2 |w|^2 / 2 is concave in s; its maximiser is -w^T y / |w|^2.
        w = np.asarray(w, float)
        ww = math.fsum(w * w)
        if ww == 0.0:
            return 0.0
        return float(np.clip(-math.fsum(w * np.asarray(y, float)) / ww, 0.0, smax))

    def quadratic(self, y):
        return 1.0, np.asarray(y, float)

    def value_upper_bound(self, yhat, err, y):
        yhat, err, y = (np.asarray(a, float) for a in (yhat, err, y))
        r = yhat - y
        er = err + U_ROUND * np.abs(r) * SAFETY + TINY        # one rounding in the subtraction
        bound_r = np.abs(r) + er                               # >= |v_i - y_i|
        half_sq = 0.5 * float(bound_r @ bound_r)
        return up(half_sq * (1 + gamma(len(r) + 3)))

    def exact_value(self, yhat, y):
        return sum(((v - Fraction(t)) ** 2 for v, t in zip(yhat, np.asarray(y, float).tolist())), Fraction(0)) / 2

    def certified_dual_value(self, w, y, s):
        fs = Fraction(s)
        w, y = np.asarray(w, float).tolist(), np.asarray(y, float).tolist()
        g = -fs * exact_dot(w, y) - fs * fs * exact_dot(w, w) / 2
        return float_below(g)


def _fractions(a) -> list[Fraction]:
    return [Fraction(x) for x in np.asarray(a, float).tolist()]


def _largest_scale(limit: Fraction, size: Fraction, smax: float) -> float:
    """The largest float s <= smax with s * size <= limit exactly (size > 0): the end of the
    interval of scales that keep s w inside the conjugate's domain."""
    s = min(float(limit / size), smax)
    while Fraction(s) * size > limit:
        s = math.nextafter(s, -math.inf)
    return max(s, 0.0)


def _finite_inputs(*arrays) -> bool:
    return all(bool(np.all(np.isfinite(np.asarray(a, float)))) for a in arrays)


class LogisticLoss(Loss):
    """l(t, y) = log(1 + e^{-y t}), y in {-1, +1};  with v = -y w:
    l*(w) = v log v + (1 - v) log(1 - v) on y w in [-1, 0] (0 log 0 = 0), +inf elsewhere."""

    name = "logistic"
    model = "smooth"
    classification = True

    def value(self, yhat, y):
        return float(np.logaddexp(0.0, -np.asarray(y, float) * np.asarray(yhat, float)).sum())

    def _sigma(self, yhat, y):
        # sigma(-y t) = 1 / (1 + e^{y t}) in [0, 1] (exp overflow gives exactly 0)
        with np.errstate(over="ignore"):
            return 1.0 / (1.0 + np.exp(np.asarray(y, float) * np.asarray(yhat, float)))

    def gradient(self, yhat, y):
        return -np.asarray(y, float) * self._sigma(yhat, y)

    def curvature(self, yhat, y):
        v = self._sigma(yhat, y)
        return v * (1.0 - v)

    def in_domain(self, w, y):
        a = np.asarray(y, float) * np.asarray(w, float)          # exact: y = +-1
        return bool(np.all((a >= -1.0) & (a <= 0.0)))

    def conjugate(self, w, y):
        if not self.in_domain(w, y):
            return math.inf
        v = -np.asarray(y, float) * np.asarray(w, float)
        with np.errstate(divide="ignore", invalid="ignore"):
            ent = np.where(v > 0, v * np.log(np.where(v > 0, v, 1.0)), 0.0)
            ent += np.where(v < 1, (1 - v) * np.log(np.where(v < 1, 1 - v, 1.0)), 0.0)
        return float(ent.sum())

    def best_dual_scale(self, w, y, smax):
        # g(s w) = sum_i H(s v_i), H the binary entropy: concave in s, derivative
        # sum_i v_i log((1 - s v_i) / (s v_i)) decreasing from +inf; bisect it on [0, cap]
        v = -np.asarray(y, float) * np.asarray(w, float)
        if np.any(v < 0) or not np.all(np.isfinite(v)):
            return 0.0
        vmax = float(v.max(initial=0.0))
        if vmax == 0.0:
            return min(1.0, smax)
        cap = _largest_scale(Fraction(1), Fraction(vmax), smax)
        pos = v[v > 0]

        def slope(s):
            sv = s * pos
            with np.errstate(divide="ignore"):
                return float(np.sum(pos * (np.log1p(-np.minimum(sv, 1.0)) - np.log(sv))))

        if cap <= 0.0 or slope(cap) >= 0:
            return cap
        lo, hi = 0.0, cap
        for _ in range(100):
            mid = 0.5 * (lo + hi)
            if mid <= lo or mid >= hi:
                break
            lo, hi = (mid, hi) if slope(mid) > 0 else (lo, mid)
        return lo

    def value_upper_bound(self, yhat, err, y):
        # l(v) = softplus(-y v) is increasing in -y v <= z = -y yhat + err; softplus(z) =
        # max(z, 0) + log(1 + e^{-|z|}), with e^{-|z|} and the log enclosed rigorously (arith)
        if not _finite_inputs(yhat, err):
            return math.inf
        total = Fraction(0)
        for t, e, lab in zip(_fractions(yhat), _fractions(err), _fractions(y)):
            z = -lab * t + abs(e)
            total += max(z, Fraction(0)) + log_bounds(1 + exp_upper(-abs(z)))[1]
        return float_above(total)

    def certified_dual_value(self, w, y, s):
        # -l*(s w) = -v log v - (1 - v) log(1 - v) >= -v hi(log v) - (1 - v) hi(log(1 - v)), v in [0, 1]
        fs = Fraction(s)
        total = Fraction(0)
        for wi, lab in zip(_fractions(w), _fractions(y)):
            v = -lab * fs * wi
            if v < 0 or v > 1:
                return None
            if 0 < v < 1:
                total -= v * log_bounds(v)[1] + (1 - v) * log_bounds(1 - v)[1]
        return float_below(total)


class HingeLoss(Loss):
    """l(t, y) = max(0, 1 - y t), y in {-1, +1};  l*(w) = y w on y w in [-1, 0], +inf elsewhere."""

    name = "hinge"
    model = "piecewise_linear"
    classification = True

    def value(self, yhat, y):
        return float(np.maximum(0.0, 1.0 - np.asarray(y, float) * np.asarray(yhat, float)).sum())

    def gradient(self, yhat, y):
        y = np.asarray(y, float)
        return np.where(y * np.asarray(yhat, float) < 1.0, -y, 0.0)

    def pieces(self, y):
        y = np.asarray(y, float)
        return np.stack([np.zeros_like(y), -y], 1), np.stack([np.zeros_like(y), np.ones_like(y)], 1)

    def in_domain(self, w, y):
        a = np.asarray(y, float) * np.asarray(w, float)
        return bool(np.all((a >= -1.0) & (a <= 0.0)))

    def conjugate(self, w, y):
        if not self.in_domain(w, y):
            return math.inf
        return float(np.sum(np.asarray(y, float) * np.asarray(w, float)))

    def best_dual_scale(self, w, y, smax):
        # g(s w) = -s sum y w is linear in s: the largest s keeping s y w >= -1 when it increases
        a = np.asarray(y, float) * np.asarray(w, float)
        if np.any(a > 0) or not np.all(np.isfinite(a)) or not a.sum() < 0:
            return 0.0
        return _largest_scale(Fraction(1), Fraction(float(-a.min())), smax)

    def value_upper_bound(self, yhat, err, y):
        if not _finite_inputs(yhat, err):
            return math.inf
        return float_above(sum((max(Fraction(0), 1 - lab * t + abs(e)) for t, e, lab in
                                zip(_fractions(yhat), _fractions(err), _fractions(y))), Fraction(0)))

    def exact_value(self, yhat, y):
        return sum((max(Fraction(0), 1 - lab * v) for v, lab in zip(yhat, _fractions(y))), Fraction(0))

    def certified_dual_value(self, w, y, s):
        fs = Fraction(s)
        total = Fraction(0)
        for wi, lab in zip(_fractions(w), _fractions(y)):
            a = fs * lab * wi
            if a < -1 or a > 0:
                return None
            total -= a
        return float_below(total)


class SquaredHingeLoss(Loss):
    """l(t, y) = max(0, 1 - y t)^2, y in {-1, +1};  l*(w) = y w + w^2 / 4 on y w <= 0, +inf elsewhere."""

    name = "squared_hinge"
    model = "smooth"
    classification = True

    def value(self, yhat, y):
        r = np.maximum(0.0, 1.0 - np.asarray(y, float) * np.asarray(yhat, float))
        return float(r @ r)

    def gradient(self, yhat, y):
        y = np.asarray(y, float)
        return -2.0 * y * np.maximum(0.0, 1.0 - y * np.asarray(yhat, float))

    def curvature(self, yhat, y):
        return np.where(np.asarray(y, float) * np.asarray(yhat, float) < 1.0, 2.0, 0.0)

    def in_domain(self, w, y):
        a = np.asarray(y, float) * np.asarray(w, float)
        return bool(np.all(np.isfinite(a) & (a <= 0.0)))

    def conjugate(self, w, y):
        if not self.in_domain(w, y):
            return math.inf
        a = np.asarray(y, float) * np.asarray(w, float)
        return float(a.sum() + 0.25 * (a @ a))

    def best_dual_scale(self, w, y, smax):
        # g(s w) = -s sum a - s^2 |a|^2 / 4 (a = y w <= 0): maximiser -2 sum a / |a|^2
        a = np.asarray(y, float) * np.asarray(w, float)
        if np.any(a > 0) or not np.all(np.isfinite(a)):
            return 0.0
        aa = math.fsum(a * a)
        if aa == 0.0:
            return 0.0
        return float(np.clip(-2.0 * math.fsum(a) / aa, 0.0, smax))

    def value_upper_bound(self, yhat, err, y):
        if not _finite_inputs(yhat, err):
            return math.inf
        return float_above(sum((max(Fraction(0), 1 - lab * t + abs(e)) ** 2 for t, e, lab in
                                zip(_fractions(yhat), _fractions(err), _fractions(y))), Fraction(0)))

    def exact_value(self, yhat, y):
        return sum((max(Fraction(0), 1 - lab * v) ** 2 for v, lab in zip(yhat, _fractions(y))), Fraction(0))

    def certified_dual_value(self, w, y, s):
        fs = Fraction(s)
        total = Fraction(0)
        for wi, lab in zip(_fractions(w), _fractions(y)):
            a = fs * lab * wi
            if a > 0:
                return None
            total -= a + a * a / 4
        return float_below(total)


class HuberLoss(Loss):
    """l(t, y) = h(t - y) with h(r) = r^2/2 for |r| <= delta, delta (|r| - delta/2) otherwise;
    l*(w) = w y + w^2 / 2 on |w| <= delta, +inf elsewhere. Spec "huber:DELTA" (default 1)."""

    name = "huber"
    model = "smooth"

    def __init__(self, delta: float = 1.0):
        try:
            delta = float(delta)
        except (TypeError, ValueError):
            raise InvalidProblemError("loss", f"huber's delta must be a positive number, got {delta!r}") from None
        if not (math.isfinite(delta) and delta > 0):
            raise InvalidProblemError("loss", f"huber's delta must be a positive finite number, got {delta!r}")
        self.delta = delta

    @property
    def spec(self) -> str:
        return f"huber:{self.delta!r}"

    def __repr__(self):
        return f"HuberLoss(delta={self.delta!r})"

    def value(self, yhat, y):
        r = np.abs(np.asarray(yhat, float) - np.asarray(y, float))
        d = self.delta
        return float(np.where(r <= d, 0.5 * r * r, d * (r - 0.5 * d)).sum())

    def gradient(self, yhat, y):
        return np.clip(np.asarray(yhat, float) - np.asarray(y, float), -self.delta, self.delta)

    def curvature(self, yhat, y):
        return np.where(np.abs(np.asarray(yhat, float) - np.asarray(y, float)) <= self.delta, 1.0, 0.0)

    def in_domain(self, w, y):
        return bool(np.all(np.abs(np.asarray(w, float)) <= self.delta))

    def conjugate(self, w, y):
        if not self.in_domain(w, y):
            return math.inf
        w = np.asarray(w, float)
        return float(w @ np.asarray(y, float) + 0.5 * (w @ w))

    def best_dual_scale(self, w, y, smax):
        # as for the squared loss, capped so that |s w_i| <= delta
        w = np.asarray(w, float)
        if not np.all(np.isfinite(w)):
            return 0.0
        ww = math.fsum(w * w)
        if ww == 0.0:
            return 0.0
        cap = _largest_scale(Fraction(self.delta), Fraction(float(np.abs(w).max())), smax)
        return float(np.clip(-math.fsum(w * np.asarray(y, float)) / ww, 0.0, cap))

    def _h(self, r: Fraction) -> Fraction:
        d = Fraction(self.delta)
        r = abs(r)
        return r * r / 2 if r <= d else d * (r - d / 2)

    def value_upper_bound(self, yhat, err, y):
        # h is increasing in |r| and |v - y| <= |yhat - y| + err
        if not _finite_inputs(yhat, err):
            return math.inf
        return float_above(sum((self._h(abs(t - lab) + abs(e)) for t, e, lab in
                                zip(_fractions(yhat), _fractions(err), _fractions(y))), Fraction(0)))

    def exact_value(self, yhat, y):
        return sum((self._h(v - lab) for v, lab in zip(yhat, _fractions(y))), Fraction(0))

    def certified_dual_value(self, w, y, s):
        fs, d = Fraction(s), Fraction(self.delta)
        total = Fraction(0)
        for wi, lab in zip(_fractions(w), _fractions(y)):
            a = fs * wi
            if abs(a) > d:
                return None
            total -= a * lab + a * a / 2
        return float_below(total)


class AbsoluteLoss(Loss):
    """l(t, y) = |t - y|;  l*(w) = w y on |w| <= 1, +inf elsewhere."""

    name = "absolute"
    model = "piecewise_linear"

    def value(self, yhat, y):
        return float(np.abs(np.asarray(yhat, float) - np.asarray(y, float)).sum())

    def gradient(self, yhat, y):
        return np.sign(np.asarray(yhat, float) - np.asarray(y, float))

    def pieces(self, y):
        y = np.asarray(y, float)
        return np.stack([np.ones_like(y), -np.ones_like(y)], 1), np.stack([-y, y], 1)

    def in_domain(self, w, y):
        return bool(np.all(np.abs(np.asarray(w, float)) <= 1.0))

    def conjugate(self, w, y):
        if not self.in_domain(w, y):
            return math.inf
        return float(np.asarray(w, float) @ np.asarray(y, float))

    def best_dual_scale(self, w, y, smax):
        w = np.asarray(w, float)
        if not np.all(np.isfinite(w)) or not math.fsum(w * np.asarray(y, float)) < 0:
            return 0.0
        return _largest_scale(Fraction(1), Fraction(float(np.abs(w).max())), smax)

    def value_upper_bound(self, yhat, err, y):
        if not _finite_inputs(yhat, err):
            return math.inf
        return float_above(sum((abs(t - lab) + abs(e) for t, e, lab in
                                zip(_fractions(yhat), _fractions(err), _fractions(y))), Fraction(0)))

    def exact_value(self, yhat, y):
        return sum((abs(v - lab) for v, lab in zip(yhat, _fractions(y))), Fraction(0))

    def certified_dual_value(self, w, y, s):
        fs = Fraction(s)
        total = Fraction(0)
        for wi, lab in zip(_fractions(w), _fractions(y)):
            a = fs * wi
            if abs(a) > 1:
                return None
            total -= a * lab
        return float_below(total)


def master_model(loss: Loss, y: np.ndarray) -> str | None:
    """How the restricted master models `loss` for targets y: its declared model, else "quadratic"
    when loss.quadratic(y) gives one; None when the master cannot model it."""
    if loss.model == "quadratic" or loss.model is None:
        return "quadratic" if loss.quadratic(np.asarray(y, float)) is not None else None
    return loss.model if loss.model in ("smooth", "piecewise_linear") else None


def quadratic_model(loss: Loss, y: np.ndarray, needed_for: str) -> tuple[float, np.ndarray, float]:
    """(kappa, t, c0) with L(v) = kappa/2 |v - t|^2 + c0 (loss.quadratic), for the parts that can
    only model a quadratic loss; UnsupportedProblemError naming the loss and `needed_for` otherwise."""
    from .errors import UnsupportedProblemError

    y = np.asarray(y, float)
    model = loss.quadratic(y)
    if model is None:
        raise UnsupportedProblemError(f"{needed_for} needs a quadratic loss; the {loss.name!r} loss is not")
    kappa, t = model
    t = np.asarray(t, float)
    return float(kappa), t, float(loss.value(t, y))


LOSSES: dict[str, type[Loss]] = {cls.name: cls for cls in (SquaredLoss, LogisticLoss, HingeLoss, SquaredHingeLoss,
                                                             HuberLoss, AbsoluteLoss)}


def register_loss(cls: type[Loss]) -> type[Loss]:
    """Make a Loss subclass available by name (problem, CLI, certificate files)."""
    LOSSES[cls.name] = cls
    return cls


def get_loss(name) -> Loss:
    """The loss for a spec "name" or "name:PARAM" (huber:DELTA), or a Loss itself."""
    if isinstance(name, Loss):
        return name
    key, sep, param = str(name).strip().lower().partition(":")
    try:
        cls = LOSSES[key]
    except KeyError:
        raise InvalidProblemError("loss", f"unknown loss {name!r}; available: {', '.join(sorted(LOSSES))} "
                                          "(huber takes a parameter: huber:DELTA)") from None
    if not sep:
        return cls()
    if cls is not HuberLoss:
        raise InvalidProblemError("loss", f"the {key} loss takes no parameter, got {name!r}")
    try:
        delta = float(param)
    except ValueError:
        raise InvalidProblemError("loss", f"huber's delta must be a number, got {param!r}") from None
    return HuberLoss(delta)
