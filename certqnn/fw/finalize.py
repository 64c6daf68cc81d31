"""From Frank-Wolfe's atoms to the network and the dual point handed to certify() (docs/math.md §4,
§10), and the restricted solves of the fully corrective step. Shared by both FW backends.

The returned network is never FW's last iterate: alpha is refit exactly on J over the atoms FW
found (lasso.refit), and the dual point is the better of the refit network's gradient and FW's
own candidates (best_dual_point).
"""
from __future__ import annotations

from typing import NamedTuple

import numpy as np

from ..gaps import dual_lower_bound
from ..lasso import refit
from ..losses import quadratic_model
from ..lifting import neuron_outputs, q_matrix
from ..limits import EXACT_LMO_AUTO_MAX_DIM, REFIT_MAX_ATOMS
from ..network import QuantizedNetwork
from ..pricing import quadratic_extremes
from ..problem import QNNProblem
from ..qp import l1_qp


class Refit(NamedTuple):
    """network: the refit network (pruned to problem.width when set); w: (n,) grad L at its
    prediction; objective: the Lasso objective J of the refit; support: the number of atoms with
    a nonzero weight before any pruning to the width."""

    network: QuantizedNetwork
    w: np.ndarray
    objective: float
    support: int


def refit_network(problem: QNNProblem, S: np.ndarray, priority: np.ndarray | None = None) -> Refit:
    """alpha refit exactly on J over the atoms S (p, m) (at most REFIT_MAX_ATOMS of them: those with
    the largest `priority` (m,), e.g. |final FW weight|), pruned to problem.width when set."""
    from ..rounding import network_from_atoms

    Xb = problem.binary_design()
    act, y, loss = problem.activation, problem.y, problem.loss
    S = np.asarray(S, float).reshape(Xb.shape[1], -1)
    if S.shape[1] > REFIT_MAX_ATOMS:
        order = np.argsort(-np.asarray(priority), kind="stable")[:REFIT_MAX_ATOMS]
        S = S[:, order]
    sol = refit(neuron_outputs(Xb, act, S), y, problem.beta, loss)
    keep = sol.alpha != 0
    S, alpha = S[:, keep], sol.alpha[keep]
    network = network_from_atoms(problem, S, alpha)
    w = loss.gradient(network.predict(problem.X, act), y)
    return Refit(network, w, sol.objective, int(np.count_nonzero(keep)))


def exact_lower_bound(problem: QNNProblem, w: np.ndarray) -> tuple[float | None, float | None]:
    """(scaling-lemma lower bound on p*_inf, exact rho(w)) when exact pricing is affordable
    (p <= EXACT_LMO_AUTO_MAX_DIM), else (None, None). w: (n,)."""
    if problem.binary_dim > EXACT_LMO_AUTO_MAX_DIM:
        return None, None
    Q = q_matrix(problem.binary_design(), problem.activation, w)
    rho = quadratic_extremes(Q, even=problem.activation.is_even).rho
    return dual_lower_bound(problem.loss, w, problem.y, rho, problem.beta), rho


def best_dual_point(problem: QNNProblem, candidates: list) -> tuple[np.ndarray, float | None, float | None]:
    """Among candidate dual vectors w (n,) (None entries skipped; the first is the default), the one
    whose scaling-lemma bound is largest when exact pricing is affordable. Any w gives a valid
    certificate (docs/math.md §4); e.g. the refit network's gradient can be worse than an FW
    iterate's when the refit lacks atoms. Returns (w, lower bound or None, rho or None)."""
    cands = [np.asarray(c, float) for c in candidates if c is not None]
    best = (cands[0], *exact_lower_bound(problem, cands[0]))
    if best[1] is None:
        return best
    for w in cands[1:]:
        lb, rho = exact_lower_bound(problem, w)
        if lb > best[1]:
            best = (w, lb, rho)
    return best


# -- restricted solves (fully corrective step) ---------------------------------------------------
def corrective_weights(Phi: np.ndarray, y: np.ndarray, beta: float, tau: float, form: str, loss,
                       alpha0: np.ndarray) -> np.ndarray:
    """Fully corrective step: the best weights a (m,) on the current atoms Phi (n, m) within the FW
    feasible set of `form` (penalized: J, with |a|_1 <= tau; bounded: L alone, |a|_1 <= tau).
    alpha0 (m,): the current feasible weights. Any smooth loss in the penalized form (lasso.refit);
    when the budget binds for a non-quadratic loss, a descent step towards the refit instead of the
    budgeted optimum. The bounded form needs a quadratic loss (the l1-ball QP)."""
    if form == "penalized":
        a = refit(Phi, y, beta, loss, alpha0=alpha0).alpha
        if np.abs(a).sum() <= tau:
            return a
        if loss.quadratic(y) is None:
            # no l1-ball solver for a non-quadratic loss: move from the feasible alpha0 towards the
            # unconstrained refit a up to the budget. J is convex and J(a) <= J(alpha0), so every
            # point of the segment is feasible and no worse than alpha0 (a descent step, not the
            # exact budgeted optimum).
            a0 = np.asarray(alpha0, float)
            return a0 + _segment_to_budget(a0, a - a0, tau) * (a - a0)
    kappa, target, _ = quadratic_model(loss, y, "the l1-ball QP of fully corrective Frank-Wolfe")
    # kappa/2 |Phi a - t|^2 + beta_t |a|_1 = kappa (|Phi a - t|^2/2 + beta_t/kappa |a|_1)
    beta_t = beta if form == "penalized" else 0.0      # penalized: only when the user chose tau < L(0)/beta
    return l1_qp(Phi.T @ Phi, Phi.T @ target, beta_t / kappa, tau=tau, tol=1e-12)


def _segment_to_budget(a0: np.ndarray, d: np.ndarray, tau: float) -> float:
    """The largest lam in [0, 1] with |a0 + lam d|_1 <= tau, given |a0|_1 <= tau (bisection on the
    convex |a0 + lam d|_1; returns the feasible end of the final bracket)."""
    if np.abs(a0 + d).sum() <= tau:
        return 1.0
    if np.abs(a0).sum() > tau:
        return 0.0
    lo, hi = 0.0, 1.0
    for _ in range(60):
        mid = 0.5 * (lo + hi)
        if np.abs(a0 + mid * d).sum() <= tau:
            lo = mid
        else:
            hi = mid
    return lo
