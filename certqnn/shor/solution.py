"""What an SDP engine returns (a claim), and reading z guesses from its PSD-cone duals."""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from ..result import Status


@dataclass
class ShorSolution:
    Z_plus: np.ndarray
    Z_minus: np.ndarray
    S_plus_diag: np.ndarray | None       # diagonal of the dual of the Z+ cone, ~ Diag(z-) + Q(w)
    S_minus_diag: np.ndarray | None      # diagonal of the dual of the Z- cone, ~ Diag(z+) - Q(w)
    status: Status
    iterations: int
    solver_objective: float | None
    details: dict = field(default_factory=dict)   # engine facts: solver status, form, timings, warm start


def dual_diagonal(Q: np.ndarray, S_diag: np.ndarray | None, sign: float) -> np.ndarray | None:
    """z guess with Diag(z) - sign*Q >= 0, read from a PSD-cone dual S ~ Diag(z) - sign*Q."""
    if S_diag is None:
        return None
    return np.asarray(S_diag, float) + sign * np.diag(Q)
