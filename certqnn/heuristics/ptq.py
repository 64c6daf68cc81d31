"""Post-training quantization, PTQ (docs/math.md §11).

Train the float network (U real, the same activation, loss and beta) with the shared loop, then
quantize once, U <- Q(U), and refit alpha exactly for the quantized neurons (certqnn.lasso).

Per-neuron scale: when the activation is homogeneous, sigma(s t) = s^k sigma(t) for all t (c = 0
and only one of a, b nonzero; k = 2 for a t^2, k = 1 for b t), a neuron u may be quantized as
s Q(u / s) with its scale s moved into alpha (alpha s^k), so the grid is effectively scale-free
and s is chosen per neuron (max-abs calibration: s = max_i |u_i| / max level). Otherwise the
scale would change the function and U is projected as it is.
"""
from __future__ import annotations

import numpy as np

from ..problem import QNNProblem
from .trainer import Method

SCALE_CHOICES = ("auto", "on", "off")


def homogeneity_degree(problem: QNNProblem) -> int | None:
    """k with sigma(s t) = s^k sigma(t) for all s > 0, t; None when sigma is not homogeneous."""
    a, b, c = problem.activation.a, problem.activation.b, problem.activation.c
    if c != 0.0:
        return None
    if b == 0.0:
        return 2
    if a == 0.0:
        return 1
    return None


class PTQ(Method):
    """neuron_scale: "auto" (per-neuron scale when sigma is homogeneous), "on" (demand it), "off"."""

    name = "ptq"

    def __init__(self, problem: QNNProblem, neuron_scale: str = "auto"):
        super().__init__(problem)
        self.degree = homogeneity_degree(problem)
        self.scaled = neuron_scale == "on" or (neuron_scale == "auto" and self.degree is not None)

    def neuron_scales(self, W: np.ndarray) -> np.ndarray:
        """Per-neuron scales s (m,), all 1 when scaling is off."""
        if not self.scaled:
            return np.ones(W.shape[1])
        s = np.max(np.abs(W), axis=0) / self.vmax
        return np.where(s > 0, s, 1.0)

    def network(self, W, alpha):
        s = self.neuron_scales(W)
        if not self.scaled:
            return self.quantize(W), alpha
        return self.quantize(W / s), alpha * s ** self.degree

    def training_objective(self, W, alpha):
        return self.problem.objective(W, alpha)         # the forward pass uses the float weights

    def epoch_record(self, W, alpha):
        return {"float_objective": self.problem.objective(W, alpha)}
