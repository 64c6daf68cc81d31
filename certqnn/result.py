"""What a backend returns: a claim, never trusted by the certifier."""
from __future__ import annotations

from dataclasses import dataclass, field
from enum import Enum

import numpy as np

from .network import QuantizedNetwork


class Status(str, Enum):
    OPTIMAL = "optimal"
    OPTIMAL_INACCURATE = "optimal_inaccurate"
    FEASIBLE = "feasible"
    INFEASIBLE = "infeasible"
    ERROR = "error"
    TIME_LIMIT = "time_limit"

    def __str__(self):
        return self.value


@dataclass
class DualData:
    """Dual point for the certificate (docs/math.md §4-5).

    w: (n,) dual vector; z_plus: (p+1,) with Diag(z_plus) - sum mu_plus E_T - Q(w) >= 0 claimed;
    z_minus: (p+1,) with Diag(z_minus) - sum mu_minus E_T + Q(w) >= 0 claimed (None when rho is
    certified exactly). cuts_*: (k, 6) int triangle cuts (certqnn.triangles), mu_*: (k,) >= 0.
    p = d*B is the binary dimension of the problem.
    """

    w: np.ndarray
    z_plus: np.ndarray | None = None
    z_minus: np.ndarray | None = None
    cuts_plus: np.ndarray | None = None
    mu_plus: np.ndarray | None = None
    cuts_minus: np.ndarray | None = None
    mu_minus: np.ndarray | None = None
    # a branch-and-bound proof of rho(w) (certqnn.trusted.tree.RhoTree), built on Q(w) as the
    # verifier forms it (trusted.rho.q_matrix_with_error); certify() checks it, never trusts it
    tree: object | None = None


@dataclass
class Result:
    """A backend's claim about a problem. certify() trusts none of its numbers.

    rho_method: how certify() may bound rho(w) = max_u |phi_u^T w| (docs/math.md §5):
        "exact" (enumerate or search; the backend's own rho was exact) or "shor" (repair and use
        the PSD diagonals in `dual`); None lets certify() choose by size.
    support: the number of neurons of the unconstrained (width-free) solution before any pruning
        to problem.width, when the backend knows it; it tells whether the width limit is active.
    report: free-form facts for the certificate's tightness section (JSON-serializable scalars,
        strings, small lists); certify() copies it as it is.
    trajectory: per-iteration histories (lists of equal length keyed by name) for plots; not
        written into certificates.
    timings: wall-clock facts in seconds (solver setup, pricing, ...); never written into
        certificates, so that the same command and seed give the same file bit for bit.
    """

    status: Status
    backend: str
    network: QuantizedNetwork | None
    lower_bound: float | None = None      # claimed, e.g. the solver's objective
    upper_bound: float | None = None      # claimed
    dual: DualData | None = None
    relaxation: dict | None = None        # e.g. {"Z_plus": ..., "Z_minus": ..., "value": ...}
    iterations: int = 0
    seconds: float = 0.0
    rho_method: str | None = None
    support: int | None = None
    report: dict = field(default_factory=dict)
    trajectory: dict | None = None
    timings: dict = field(default_factory=dict)
    time_limit_hit: bool = False
