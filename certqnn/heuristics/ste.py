"""BinaryConnect / straight-through estimator (Courbariaux, Bengio, David 2015; docs/math.md §11).

The forward pass uses the quantized weights Q(W) (deterministic: the nearest level; stochastic:
a random neighbouring level), the gradient with respect to Q(W) is passed straight through to
the latent W, zeroed where |W| > H (the hard-tanh STE), and W is clipped to [-H, H] after
every step. Reference defaults: Adam, lr 1e-3 decaying exponentially to 3e-6, H = 1.
"""
from __future__ import annotations

import numpy as np

from ..problem import QNNProblem
from .trainer import Method


def stochastic_round(W: np.ndarray, levels: np.ndarray, H: float, rng: np.random.Generator) -> np.ndarray:
    """A random level for each entry of W (d, m), unbiased between the two nearest levels.

    Binary {-v, v}: +v with probability hard_sigmoid(W / H) = clip((W / H + 1) / 2, 0, 1), as in
    BinaryConnect. More levels: W clipped to the grid's range, then the upper of the two levels
    a <= w <= b around it with probability (w - a) / (b - a). The result is bit for bit on the grid."""
    u = rng.random(W.shape)
    if levels.size == 2:
        p = np.clip((W / H + 1.0) / 2.0, 0.0, 1.0)
        return np.where(u < p, levels[1], levels[0])
    w = np.clip(W, levels[0], levels[-1])
    k = np.clip(np.searchsorted(levels, w, side="right") - 1, 0, levels.size - 2)
    a, b = levels[k], levels[k + 1]
    return np.where(u < (w - a) / (b - a), b, a)


class STE(Method):
    """BinaryConnect. H: clip of the latent weights (None: the largest level, H = 1 for binary);
    rounding: "deterministic" or "stochastic"."""

    name = "ste"

    def __init__(self, problem: QNNProblem, H: float | None = None, rounding: str = "deterministic"):
        super().__init__(problem)
        self.H = self.vmax if H is None else float(H)
        self.rounding = rounding

    def initial_weights(self, rng, d, m):
        return np.clip(super().initial_weights(rng, d, m), -self.H, self.H)

    def forward(self, W, rng):
        if self.rounding == "stochastic":
            return stochastic_round(W, self.levels, self.H, rng)
        return self.quantize(W)

    def weight_gradient(self, W, V, G):
        return np.where(np.abs(W) <= self.H, G, 0.0)       # hard-tanh straight-through

    def after_step(self, W):
        return np.clip(W, -self.H, self.H)
