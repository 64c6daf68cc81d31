"""AskewSGD (Leconte, Schechtman, Moulines, AISTATS 2023; docs/math.md §11).

Training on the float weights W (infeasible iterates allowed) under the constraint
psi_eps(w) = eps - g(w) >= 0 per weight, where g vanishes exactly on the grid: for the two levels
a < b around w,  g(w) = ((w - a)(w - b) / h^2)^2  with h = (b - a) / 2, which for binary {-1, 1} is
the paper's (w^2 - 1)^2 (the normalisation by h makes eps mean the same on every grid). Inside
the constraint (psi >= 0), or when the gradient already pushes inward fast enough
(psi'(w) v >= -alpha psi(w) for the step v = -grad), the plain gradient is used; otherwise the step
is the projection of -grad onto that half-line, which is K(w) = alpha (eps - g(w)) / g'(w), i.e.
the optimiser is fed -K(w). W is then clamped to [min level, max level]. eps is annealed:
eps0 for the first part of training, then eps0 * decay^(epoch - start); as eps -> 0 the weights
are pinned to the grid, and the final network is Q(W).
Reference defaults (binary notebook): eps = 1 for the first quarter, decay 0.96 per epoch, alpha = 1.
"""
from __future__ import annotations

import numpy as np

from ..problem import QNNProblem
from .trainer import Method


class AskewSGD(Method):
    """epsilon0, epsilon_decay, epsilon_hold (share of epochs at epsilon0), rate (the alpha of K)."""

    name = "askewsgd"

    def __init__(self, problem: QNNProblem, epsilon0: float = 1.0, epsilon_decay: float = 0.96,
                 epsilon_hold: float = 0.25, rate: float = 1.0):
        super().__init__(problem)
        self.epsilon0, self.epsilon_decay = float(epsilon0), float(epsilon_decay)
        self.epsilon_hold, self.rate = float(epsilon_hold), float(rate)
        self.epsilon = self.epsilon0

    def begin_epoch(self, epoch, epochs):
        start = int(round(self.epsilon_hold * epochs))
        self.epsilon = self.epsilon0 * self.epsilon_decay ** max(0, epoch - start)

    def penalty(self, W: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """g(W) and g'(W), elementwise, for W within the grid's range."""
        L = self.levels
        k = np.clip(np.searchsorted(L, W, side="right") - 1, 0, L.size - 2)
        a, b = L[k], L[k + 1]
        h2 = (0.5 * (b - a)) ** 2
        z = (W - a) * (W - b) / h2
        return z * z, 2.0 * z * (2.0 * W - a - b) / h2

    def weight_gradient(self, W, V, G):
        g, dg = self.penalty(W)
        psi = self.epsilon - g
        # psi'(w) v >= -alpha psi(w) with psi' = -g' and v = -G
        plain = (psi >= 0) | (dg * G >= -self.rate * psi)
        with np.errstate(divide="ignore", invalid="ignore"):
            K = np.where(dg != 0, self.rate * psi / dg, 0.0)   # g' = 0 off the grid: the midpoint, no preferred side
        return np.where(plain, G, -K)

    def after_step(self, W):
        return np.clip(W, self.levels[0], self.levels[-1])

    def training_objective(self, W, alpha):
        return self.problem.objective(W, alpha)         # the forward pass uses the float weights

    def epoch_record(self, W, alpha):
        return {"epsilon": self.epsilon}
