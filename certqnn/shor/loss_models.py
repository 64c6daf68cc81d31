"""Conic models of the losses, for the SDP engines: one place that knows how each loss becomes
cone constraints (docs/math.md §6 with a general convex loss).

A cone model of L at labels y describes, over the variables [r (n), aux (k)] with r = yhat,

    L(r) = min_aux  1/2 [r; aux]^T diag(P) [r; aux] + c^T [r; aux] + const
           s.t.     [r; aux] satisfies rows in the cones "l" (nonnegative), "q" (second-order)
                    and "ep" (SCS's primal exponential cone)

except for the quadratic losses, whose model keeps today's residual form (r = yhat - t, offset t)
so the rescaling and the gram form of the SCS engine stay as they were.

Cone rows use SCS's convention: the slack s = b - A [r; aux] must lie in the cone. The primal
exponential cone is K_exp = closure{(x, y, z) : y > 0, y exp(x / y) <= z} (SCS 3 docs, "Cones");
tests/test_sdp_losses.py checks the ordering by solving min z s.t. (1, 1, z) in K_exp (= e).

Models are keyed by loss.name (MODELS); a loss without one is refused by the SDP backend.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable

import numpy as np
import scipy.sparse as sp


@dataclass
class ConeModel:
    """The conic epigraph of one loss at labels y, over x = [r (n), aux (n_aux)].

    offset      b of the link rows F v - r = offset (t for quadratic models, 0 otherwise)
    P_diag      (n + n_aux,) diagonal of the quadratic objective (1/2 x^T diag(P) x)
    c           (n + n_aux,) linear objective
    const       constant added to the objective
    A_l, b_l    rows with b_l - A_l x >= 0
    A_q, b_q, q rows with b_q - A_q x in the product of SOCs of sizes q
    A_ep, b_ep  rows with b_ep - A_ep x in K_exp^{len/3}, triples (x, y, z) consecutive
    description what the report prints ("linear", "exponential cone", ...)
    gram_ok     the SCS gram form applies (quadratic models only)
    """

    n: int
    n_aux: int
    offset: np.ndarray
    P_diag: np.ndarray
    c: np.ndarray
    const: float = 0.0
    A_l: sp.csc_matrix | None = None
    b_l: np.ndarray | None = None
    A_q: sp.csc_matrix | None = None
    b_q: np.ndarray | None = None
    q: list = field(default_factory=list)
    A_ep: sp.csc_matrix | None = None
    b_ep: np.ndarray | None = None
    description: str = ""
    gram_ok: bool = False

    def __post_init__(self):
        nx = self.n + self.n_aux
        empty = sp.csc_matrix((0, nx))
        if self.A_l is None:
            self.A_l, self.b_l = empty, np.zeros(0)
        if self.A_q is None:
            self.A_q, self.b_q = empty, np.zeros(0)
        if self.A_ep is None:
            self.A_ep, self.b_ep = empty, np.zeros(0)

    @property
    def n_l(self) -> int:
        return self.A_l.shape[0]

    @property
    def n_q(self) -> int:
        return self.A_q.shape[0]

    @property
    def n_ep(self) -> int:
        return self.A_ep.shape[0] // 3


def _rows(entries, n_rows, nx):
    """Sparse (n_rows, nx) from a list of (row indices, column indices, values) triples."""
    if not entries:
        return sp.csc_matrix((n_rows, nx))
    r = np.concatenate([np.asarray(e[0]) for e in entries])
    c = np.concatenate([np.asarray(e[1]) for e in entries])
    v = np.concatenate([np.broadcast_to(np.asarray(e[2], float), np.shape(e[0])) for e in entries])
    return sp.csc_matrix((v, (r, c)), shape=(n_rows, nx))


def _quadratic(loss, y):
    """kappa/2 |r|^2 + c0 with r = yhat - t (the link rows carry the offset t)."""
    kappa, t = loss.quadratic(y)
    t = np.asarray(t, float)
    n = len(t)
    return ConeModel(n=n, n_aux=0, offset=t, P_diag=np.full(n, float(kappa)), c=np.zeros(n),
                     const=float(loss.value(t, y)), description="quadratic (residual form)", gram_ok=True)


def _margin_slack(y, n, squared):
    """s_i >= 0 and s_i >= 1 - y_i r_i over x = [r, s]: rows b - A x >= 0."""
    i = np.arange(n)
    # s_i >= 0:               0 - (-s_i) >= 0
    # s_i + y_i r_i - 1 >= 0: -1 - (-s_i - y_i r_i) >= 0
    A = _rows([(i, n + i, -1.0), (n + i, n + i, -1.0), (n + i, i, -y)], 2 * n, 2 * n)
    b = np.concatenate([np.zeros(n), -np.ones(n)])
    return A, b


def _hinge(loss, y):
    y = np.asarray(y, float)
    n = len(y)
    A, b = _margin_slack(y, n, False)
    return ConeModel(n=n, n_aux=n, offset=np.zeros(n), P_diag=np.zeros(2 * n),
                     c=np.concatenate([np.zeros(n), np.ones(n)]), A_l=A, b_l=b, description="linear (hinge slacks)")


def _squared_hinge(loss, y):
    # sum s_i^2 with s >= max(0, 1 - y r): SCS takes the square in its quadratic objective
    # (P = 2 on s), which is the rotated-SOC epigraph without the extra cone rows
    y = np.asarray(y, float)
    n = len(y)
    A, b = _margin_slack(y, n, True)
    return ConeModel(n=n, n_aux=n, offset=np.zeros(n), P_diag=np.concatenate([np.zeros(n), np.full(n, 2.0)]),
                     c=np.zeros(2 * n), A_l=A, b_l=b, description="quadratic objective on hinge slacks")


def _absolute(loss, y):
    """s_i >= |r_i - y_i| over x = [r, s]."""
    y = np.asarray(y, float)
    n = len(y)
    i = np.arange(n)
    # s - r + y >= 0:  y - (r - s) >= 0;   s + r - y >= 0:  -y - (-r - s) >= 0
    A = _rows([(i, i, 1.0), (i, n + i, -1.0), (n + i, i, -1.0), (n + i, n + i, -1.0)], 2 * n, 2 * n)
    b = np.concatenate([y, -y])
    return ConeModel(n=n, n_aux=n, offset=np.zeros(n), P_diag=np.zeros(2 * n),
                     c=np.concatenate([np.zeros(n), np.ones(n)]), A_l=A, b_l=b, description="linear (absolute slacks)")


def _huber(loss, y):
    """huber_delta(r - y) = min_{p, s} p^2/2 + delta s  s.t.  s >= |r - y - p|, over x = [r, p, s]
    (the infimal convolution of the square and delta |.|)."""
    y = np.asarray(y, float)
    n = len(y)
    delta = float(loss.delta)
    i = np.arange(n)
    ip, is_ = n + i, 2 * n + i
    # s - r + p + y >= 0:  y - (r - p - s) >= 0;   s + r - p - y >= 0:  -y - (-r + p - s) >= 0
    A = _rows([(i, i, 1.0), (i, ip, -1.0), (i, is_, -1.0),
               (n + i, i, -1.0), (n + i, ip, 1.0), (n + i, is_, -1.0)], 2 * n, 3 * n)
    b = np.concatenate([y, -y])
    return ConeModel(n=n, n_aux=2 * n, offset=np.zeros(n),
                     P_diag=np.concatenate([np.zeros(n), np.ones(n), np.zeros(n)]),
                     c=np.concatenate([np.zeros(2 * n), np.full(n, delta)]), A_l=A, b_l=b,
                     description=f"quadratic + linear split (huber, delta={delta:g})")


def _logistic(loss, y):
    """log(1 + exp(-y_i r_i)) <= u_i  <=>  exp(-y_i r_i - u_i) + exp(-u_i) <= 1, i.e.
    (-y_i r_i - u_i, 1, a_i) in K_exp, (-u_i, 1, b_i) in K_exp, a_i + b_i <= 1; x = [r, u, a, b]."""
    y = np.asarray(y, float)
    n = len(y)
    i = np.arange(n)
    iu, ia, ib = n + i, 2 * n + i, 3 * n + i
    nx = 4 * n
    A_l = _rows([(i, ia, 1.0), (i, ib, 1.0)], n, nx)        # 1 - (a + b) >= 0
    b_l = np.ones(n)
    # triples: slack s = b - A x; cone k = 2i (first) and 2i+1 (second), rows 3k, 3k+1, 3k+2
    r1, r2 = 6 * i, 6 * i + 3
    A_ep = _rows([(r1, i, y), (r1, iu, 1.0),                 # x-slot: -y r - u
                  (r1 + 2, ia, -1.0),                        # z-slot: a   (y-slot: constant 1)
                  (r2, iu, 1.0),                             # x-slot: -u
                  (r2 + 2, ib, -1.0)], 6 * n, nx)            # z-slot: b
    b_ep = np.zeros(6 * n)
    b_ep[r1 + 1] = 1.0
    b_ep[r2 + 1] = 1.0
    return ConeModel(n=n, n_aux=3 * n, offset=np.zeros(n), P_diag=np.zeros(nx),
                     c=np.concatenate([np.zeros(n), np.ones(n), np.zeros(2 * n)]),
                     A_l=A_l, b_l=b_l, A_ep=A_ep, b_ep=b_ep, description="exponential cone (2 per sample)")


MODELS: dict[str, Callable] = {"squared": _quadratic, "hinge": _hinge, "squared_hinge": _squared_hinge,
                               "absolute": _absolute, "huber": _huber, "logistic": _logistic}


def has_cone_model(loss, y=None) -> bool:
    """True when the SCS engine can model `loss` (one named in MODELS, or any quadratic loss)."""
    if loss.name in MODELS:
        return True
    return loss.quadratic(np.zeros(1) if y is None else np.asarray(y, float)) is not None


def cone_model(loss, y) -> ConeModel:
    """The cone model of `loss` at labels y (n,); call has_cone_model first."""
    y = np.asarray(y, float)
    if loss.name in MODELS:
        return MODELS[loss.name](loss, y)
    return _quadratic(loss, y)


# --- the dual point ---------------------------------------------------------------------------
# At a kink of a piecewise-linear loss the gradient is not unique, and the choice matters for the
# bound (in the relaxation many outputs sit exactly at a margin). The multiplier of the link rows
# F v - r = offset is a subgradient there (stationarity in r), so near a kink we take it, clipped
# into the subdifferential; elsewhere the loss's own gradient.

KINK_TOL = 1e-6


def _subgradient_hinge(loss, yhat, y, w_solver):
    w = np.asarray(loss.gradient(yhat, y), float).copy()
    if w_solver is None:
        return w
    m = 1.0 - y * yhat
    kink = np.abs(m) <= KINK_TOL * (1.0 + np.abs(yhat))
    lam = np.clip(-y * w_solver, 0.0, 1.0)                  # w = -y lambda, lambda in [0, 1]
    w[kink] = -y[kink] * lam[kink]
    return w


def _subgradient_absolute(loss, yhat, y, w_solver):
    w = np.asarray(loss.gradient(yhat, y), float).copy()
    if w_solver is None:
        return w
    kink = np.abs(yhat - y) <= KINK_TOL * (1.0 + np.abs(y))
    w[kink] = np.clip(w_solver[kink], -1.0, 1.0)
    return w


SUBGRADIENTS = {"hinge": _subgradient_hinge, "absolute": _subgradient_absolute}


def dual_point(loss, yhat, y, w_solver=None) -> np.ndarray:
    """w in dL(yhat), shape (n,): the gradient for differentiable losses; at kinks of hinge and
    absolute the solver's link-row multiplier w_solver clipped into the subdifferential."""
    yhat, y = np.asarray(yhat, float), np.asarray(y, float)
    rule = SUBGRADIENTS.get(loss.name)
    if rule is None:
        return np.asarray(loss.gradient(yhat, y), float)
    return rule(loss, yhat, y, None if w_solver is None else np.asarray(w_solver, float))
