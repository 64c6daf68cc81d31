"""Losses: value, gradient and convex conjugate of L(yhat) = sum_i l(yhat_i, y_i) (math §1, §4).

Adding a loss is a local change: subclass Loss, implement the four methods, register it in LOSSES.
Backends that need more (the SDP engines build conic models) look up the loss by name and raise
UnsupportedProblemError if they do not know it.
"""
from __future__ import annotations

from abc import ABC, abstractmethod

import numpy as np

from .errors import InvalidProblemError


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

    def dual_value(self, w: np.ndarray, y: np.ndarray) -> float:
        """g(w) = -L*(w): a lower bound on p*_inf whenever max_u |phi_u^T w| <= beta (math §4)."""
        return -self.conjugate(w, y)

    def best_dual_scale(self, w: np.ndarray, y: np.ndarray, smax: float) -> float:
        """A scale s in [0, smax] with large g(s w). Any s in that range gives a valid bound
        (s w is dual feasible when s * rho_bar <= beta); the default is the scaling lemma's."""
        return min(1.0, smax)


class SquaredLoss(Loss):
    """l(yhat, y) = (yhat - y)^2 / 2."""

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
        ww = float(w @ w)
        if ww == 0.0:
            return 0.0
        return float(np.clip(-float(w @ y) / ww, 0.0, smax))


LOSSES: dict[str, type[Loss]] = {cls.name: cls for cls in (SquaredLoss,)}


def get_loss(name) -> Loss:
    if isinstance(name, Loss):
        return name
    try:
        return LOSSES[str(name).lower()]()
    except KeyError:
        raise InvalidProblemError("loss", f"unknown loss {name!r}; available: {', '.join(sorted(LOSSES))}") from None
