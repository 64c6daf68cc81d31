"""The two numbers every backend reports on the way to a certificate (docs/math.md §4, §8).

These are floating-point *claims* for progress reports and stopping rules; the certificate's
numbers are recomputed rigorously by the trusted core (certqnn.trusted).
"""
from __future__ import annotations

import numpy as np

from .losses import Loss


def relative_gap(upper: float, lower: float) -> float:
    """(upper - lower) / max(|upper|, 1e-12): the gap convention of docs/math.md §8."""
    return (upper - lower) / max(abs(upper), 1e-12)


def dual_lower_bound(loss: Loss, w: np.ndarray, y: np.ndarray, rho: float, beta: float) -> float:
    """Scaling lemma: for any w (n,) and rho >= max_u |phi_u^T w|, s w with s <= min(1, beta/rho)
    is dual feasible, so -L*(s w) <= p*_inf. The loss picks the best such s."""
    smax = np.inf if rho <= 0 else beta / rho
    return loss.dual_value(loss.best_dual_scale(np.asarray(w, float), y, smax) * w, y)
