"""Blended coarse gradient descent, BCGD (Yin, Zhang, Lyu, Osher, Qi, Xin 2019; docs/math.md §11).

    W <- (1 - rho) W + rho Q(W) - eta grad_{Q(W)} J

The gradient is evaluated at the quantized weights and applied straight through to W; the blend
pulls W a little toward its own quantization at every step, which is what makes the iteration
converge (pure BinaryConnect can cycle). Reference defaults: SGD with momentum 0.95, lr 0.1,
weight decay 1e-4, rho 1e-5 per step over ~1e5 steps (capped at 0.01 in the analysis).
"""
from __future__ import annotations

from ..problem import QNNProblem
from .trainer import Method


class BCGD(Method):
    """blend: rho, the weight of Q(W) in each blending step (0 <= rho <= 0.01 in the paper's theory)."""

    name = "bcgd"

    def __init__(self, problem: QNNProblem, blend: float = 1e-3):
        super().__init__(problem)
        self.blend = float(blend)

    def forward(self, W, rng):
        return self.quantize(W)

    def before_step(self, W):
        return (1.0 - self.blend) * W + self.blend * self.quantize(W)
