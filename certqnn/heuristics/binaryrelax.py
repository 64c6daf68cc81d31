"""BinaryRelax (Yin, Zhang, Qi, Xin, SIAM J. Imaging Sci. 2018; docs/math.md §11).

Phase 1 (relaxed quantization): the forward pass uses G = (W + lambda Q(W)) / (1 + lambda), the
proximal point of the relaxed penalty lambda/2 dist(W, Q)^2; the gradient taken at G is applied to
W, and lambda grows geometrically every epoch (continuation), so G slides from W toward Q(W).
Phase 2 (exact quantization, the last fraction of the epochs): BinaryConnect, the gradient at Q(W)
passed straight through (hard tanh at H) and W clipped to [-H, H].
Reference defaults: lambda starts at 1, grows by 1.02-1.05 per epoch; phase 2 for the last
quarter of training (from epoch 150 of 200).
"""
from __future__ import annotations

import numpy as np

from ..problem import QNNProblem
from .trainer import Method


class BinaryRelax(Method):
    """lambda0: initial lambda; lambda_growth: factor per epoch; phase2_fraction: share of the
    epochs spent in phase 2; H: latent clip in phase 2 (None: the largest level)."""

    name = "binaryrelax"

    def __init__(self, problem: QNNProblem, lambda0: float = 1.0, lambda_growth: float = 1.04,
                 phase2_fraction: float = 0.25, H: float | None = None):
        super().__init__(problem)
        self.lambda0, self.lambda_growth = float(lambda0), float(lambda_growth)
        self.phase2_fraction = float(phase2_fraction)
        self.H = self.vmax if H is None else float(H)
        self.lam = self.lambda0
        self.phase = 1

    def begin_epoch(self, epoch, epochs):
        phase2_start = epochs - int(round(self.phase2_fraction * epochs))
        self.phase = 2 if epoch >= phase2_start else 1
        # lambda keeps the value it had when phase 1 ended (it is not used in phase 2)
        self.lam = self.lambda0 * self.lambda_growth ** min(epoch, max(phase2_start - 1, 0))

    def forward(self, W, rng):
        Q = self.quantize(W)
        if self.phase == 2:
            return Q
        return (W + self.lam * Q) / (1.0 + self.lam)

    def weight_gradient(self, W, V, G):
        if self.phase == 2:
            return np.where(np.abs(W) <= self.H, G, 0.0)
        return G

    def after_step(self, W):
        return np.clip(W, -self.H, self.H) if self.phase == 2 else W

    def epoch_record(self, W, alpha):
        return {"lambda": self.lam, "phase": self.phase}
