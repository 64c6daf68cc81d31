"""Losses L(yhat) = sum_i l(yhat_i, y_i): everything any part of certqnn needs to know about one
(docs/math.md §1, §4).

A loss declares
  value, gradient            for training and for the dual point w = grad L(yhat)
  conjugate, in_domain       L*(w) = sum_i l_i*(w_i), +inf outside its domain (checked exactly)
  best_dual_scale            which s in [0, smax] to use in the scaling lemma
  value_upper_bound          (trusted core) a float >= L(v) for every v within a given error of yhat
  certified_dual_value       (trusted core) a float <= -L*(s w), computed in exact arithmetic
  quadratic                  (modelling) (kappa, t) when L(v) = kappa/2 |v - t|^2 + const, which is
                             what the Lasso master and the SDP engines can model today; None otherwise

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
from .trusted.arith import SAFETY, TINY, U_ROUND, exact_dot, float_below, gamma, up


class Loss(ABC):
    name: str = ""

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


LOSSES: dict[str, type[Loss]] = {cls.name: cls for cls in (SquaredLoss,)}


def register_loss(cls: type[Loss]) -> type[Loss]:
    """Make a Loss subclass available by name (problem, CLI, certificate files)."""
    LOSSES[cls.name] = cls
    return cls


def get_loss(name) -> Loss:
    if isinstance(name, Loss):
        return name
    try:
        return LOSSES[str(name).lower()]()
    except KeyError:
        raise InvalidProblemError("loss", f"unknown loss {name!r}; available: {', '.join(sorted(LOSSES))}") from None
