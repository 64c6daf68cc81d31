"""Coarse gradient (Yin et al. ICLR 2019; Long, Yin, Xin 2021; docs/math.md §11).

The same training as BinaryConnect (forward with Q(W), latent W), but the a.e.-zero derivative of
the quantizer is replaced by a proxy derivative chosen by the `proxy` parameter, and the latent
weights are not clipped (the proxy alone decides where gradient flows):

  identity   Q'(w) := 1 everywhere (the plain straight-through estimator);
  clipped    Q'(w) := 1 for |w| <= H, 0 outside (the clipped-ReLU proxy made odd: the hard tanh);
  relu       the ReLU proxy of the papers, applied literally to each step of the quantizer's
             staircase Q(w) = min Q + sum_k Delta_k 1[w > t_k] (t_k the midpoints between
             consecutive levels): 1[w > t_k] is replaced by a ReLU, so Q'(w) := the fraction of
             thresholds below w. Like the ReLU proxy for a 0/1 activation it is one-sided: a
             weight below the lowest threshold (w < 0 for binary) receives no gradient.

The papers analyse quantized *activations*; on certqnn's problem the quantizer acts on the
weights, and these are the three proxies transcribed to it.
"""
from __future__ import annotations

import numpy as np

from ..problem import QNNProblem
from .trainer import Method

PROXIES = ("identity", "clipped", "relu")


class CoarseGradient(Method):
    """proxy: one of PROXIES; H: the clip of the "clipped" proxy (None: the largest level)."""

    name = "coarse-gradient"

    def __init__(self, problem: QNNProblem, proxy: str = "clipped", H: float | None = None):
        super().__init__(problem)
        self.proxy = proxy
        self.H = self.vmax if H is None else float(H)
        self.thresholds = 0.5 * (self.levels[1:] + self.levels[:-1])     # (|Q| - 1,)

    def forward(self, W, rng):
        return self.quantize(W)

    def proxy_derivative(self, W: np.ndarray) -> np.ndarray:
        """The proxy for dQ/dW, elementwise, shape of W."""
        if self.proxy == "identity":
            return np.ones_like(W)
        if self.proxy == "clipped":
            return (np.abs(W) <= self.H).astype(float)
        # relu: fraction of staircase thresholds strictly below w
        return np.searchsorted(self.thresholds, W, side="left") / self.thresholds.size

    def weight_gradient(self, W, V, G):
        return G * self.proxy_derivative(W)
