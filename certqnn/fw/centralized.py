"""Frank-Wolfe over the atoms of docs/math.md §3, centralized (docs/math.md §10).

Minimises the penalized or the bounded form (fw/steps.py) over the atoms phi_s = sigma(Xb s),
s in {-1,+1}^p (Xb = problem.binary_design(), shape (n, p)). LMO = the pricing oracle (fw/lmo.py).
The FW gap G_t = <grad, x_t - v_t> >= objective(x_t) - optimum when the LMO is exact, and
objective - G_t is a dual bound. Every iterate is sum_j alpha_j phi_{s_j}: a quantized network.

By default the penalized form's budget tau starts at L(0)/beta and shrinks to a certified bound on
|alpha*|_1 (steps.tau_bound, or steps.tau_bound_general for a non-quadratic loss; "adaptive"): a loose tau makes FW's curvature constant, hence its
O(1/t) gap, large (it scales like tau^2).
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Callable

import numpy as np

from ..errors import InvalidProblemError, UnsupportedProblemError
from ..gaps import dual_lower_bound, relative_gap
from ..losses import master_model, quadratic_model
from ..lifting import neuron_outputs, q_matrix
from ..problem import QNNProblem
from ..progress import progress
from .finalize import corrective_weights
from .lmo import make_lmo
from .steps import (FW_STEPS, RunOutcome, check_common, classical_step, default_tau, fw_gap, line_search_step,
                    penalty_weight, smooth_line_search_step, tau_bound, tau_bound_general, vertex)

HISTORY_KEYS = ("objective", "fw_gap", "dual_bound", "lower_bound", "atoms", "tau", "seconds")
STATUSES = ("converged", "iteration_limit", "time_limit")


def smooth_loss_support(loss, y: np.ndarray, name: str) -> tuple[bool, str]:
    """Frank-Wolfe needs a differentiable loss (its gradient defines the LMO and the gap): quadratic
    or "smooth" models (losses.master_model). Piecewise-linear losses (hinge, absolute) are refused."""
    model = master_model(loss, np.asarray(y, float))
    if model in ("quadratic", "smooth"):
        return True, ""
    return False, (f"the {name} backend needs a smooth (differentiable) loss; the {loss.spec!r} loss is "
                   f"{'piecewise linear' if model == 'piecewise_linear' else 'not modelled as smooth'} "
                   f"-- use the colgen, enumeration or sdp backend")


def require_smooth_loss(loss, y: np.ndarray, name: str) -> None:
    """smooth_loss_support, raising UnsupportedProblemError with its reason."""
    ok, why = smooth_loss_support(loss, y, name)
    if not ok:
        raise UnsupportedProblemError(why)


@dataclass
class FWRun(RunOutcome):
    """What frank_wolfe() returns. status: "converged" (relative FW gap <= tol), "iteration_limit"
    or "time_limit". S: (p, m) +-1 atoms met by the LMO; alpha: (m,) weights of the last iterate
    (yhat = Phi alpha, (n,)); t: epigraph coordinate (>= |alpha|_1, penalized form)."""

    status: str
    S: np.ndarray
    alpha: np.ndarray
    yhat: np.ndarray
    t: float
    objective: float
    gap: float
    dual_bound: float           # the best objective - gap seen (a bound on the optimum with an exact LMO)
    iterations: int
    lmo_exact: bool
    tau: float                  # the final budget
    adaptive_tau: bool
    best_w: np.ndarray | None   # the iterate gradient with the best scaling-lemma bound (exact LMO only)
    history: dict = field(default_factory=dict)   # HISTORY_KEYS -> per-iteration lists (history=True)


def frank_wolfe(problem: QNNProblem, form: str = "penalized", tau: float | str | None = None, lmo="auto",
                step: str = "line_search", fully_corrective: bool = False, max_iter: int = 1000,
                tol: float = 1e-6, time_limit: float | None = None, seed: int = 0, history: bool = False,
                callback: Callable[[int, dict], None] | None = None) -> FWRun:
    """Frank-Wolfe on the atoms of `problem` in the given form ("penalized" | "bounded", fw/steps.py).

    tau: the l1 budget. A number: fixed. "adaptive" (penalized form, exact LMO): start at L(0)/beta
    and shrink to steps.tau_bound() every iteration -- a certified bound on |alpha*|_1, so every
    minimiser stays feasible and the gap keeps bounding J - p*_inf (steps.tau_bound_general for a
    non-quadratic loss). None: "adaptive" when allowed (penalized form, exact LMO), else L(0)/beta.
    The loss must be smooth (quadratic or model "smooth"); hinge and absolute raise
    UnsupportedProblemError naming the loss.
    lmo: "exact" | "heuristic" | "auto" or an oracle object (fw/lmo.py).
    step: "classical" (gamma_t = 2/(t+2)) or "line_search" (exact: closed form for a quadratic loss,
    steps.smooth_line_search_step otherwise); fully_corrective: after each step re-optimise all
    weights on the active atoms (penalized: lasso.refit, any smooth loss; bounded: an l1-ball QP,
    quadratic losses only). Stops when the relative FW gap (gaps.relative_gap of the
    objective and objective - gap) is <= tol, after max_iter iterations or time_limit seconds.
    history: keep per-iteration lists HISTORY_KEYS in FWRun.history; lower_bound is the scaling-lemma
    bound on p*_inf (docs/math.md §4) with rho = |LMO value| (valid only for the exact LMO; nan otherwise).
    callback(iteration, record): called after each gap evaluation with a dict of HISTORY_KEYS.
    """
    check_common(form, tau, step, FW_STEPS, lmo, max_iter, tol, time_limit, seed)
    loss = problem.loss
    Xb = problem.binary_design()
    act, y, beta = problem.activation, problem.y, problem.beta
    p = Xb.shape[1]
    lmo = make_lmo(lmo, p, act.is_even) if isinstance(lmo, str) else lmo
    require_smooth_loss(loss, y, "frank-wolfe")
    quadratic = loss.quadratic(y) is not None
    adaptive = tau == "adaptive" or (tau is None and form == "penalized" and lmo.exact)
    if adaptive and not lmo.exact:
        raise InvalidProblemError("tau", "'adaptive' needs the exact LMO (it relies on rho being certified)")
    if fully_corrective and form == "bounded" and not quadratic:
        raise UnsupportedProblemError(f"fully_corrective with form 'bounded' solves an l1-ball QP, which needs a "
                                      f"quadratic loss; the {loss.name!r} loss is not (use form 'penalized', or "
                                      f"fully_corrective=False)")
    kappa, target, c0 = 1.0, y, 0.0
    if quadratic:      # closed forms: exact quadratic line search, tau_bound
        kappa, target, c0 = quadratic_model(loss, y, "frank-wolfe")
    tau = default_tau(problem) if tau is None or adaptive else float(tau)
    ub = np.inf
    rng = np.random.default_rng(seed)
    b = penalty_weight(beta, form)
    atoms: dict[tuple, int] = {}
    S_cols, Phi_cols = [], []
    alpha = np.zeros(0)
    yhat = np.zeros(problem.n)
    t = 0.0
    hist = {k: [] for k in HISTORY_KEYS}
    best_dual = best_lb = -np.inf
    best_w = None
    start = time.perf_counter()
    status = "iteration_limit"
    obj = gap = np.nan
    it = 0
    with progress(total=max_iter, desc=f"frank-wolfe ({form})", unit="it") as bar:
        for it in range(max_iter):
            g = loss.gradient(yhat, y)
            s, value = lmo(q_matrix(Xb, act, g), rng)
            if adaptive:
                ub = min(ub, loss.value(yhat, y) + beta * float(np.abs(alpha).sum()))
                tb = (tau_bound(ub, float(g @ target), float(g @ g), abs(value), beta, kappa, c0) if quadratic
                      else tau_bound_general(ub, loss, g, y, abs(value), beta))
                tau = min(tau, tb)
            c, t_v = vertex(value, tau, beta, form)
            obj = loss.value(yhat, y) + b * t
            gap = fw_gap(float(g @ yhat), t, value, c, t_v, beta, form)
            best_dual = max(best_dual, obj - gap)
            lb = np.nan
            if lmo.exact:
                # the scaling-lemma bound of docs/math.md §4 at w = g (rho exact): keep the best w for certify()
                lb = dual_lower_bound(loss, g, y, abs(value), beta)
                if lb > best_lb:
                    best_lb, best_w = lb, g
            if history or callback is not None:
                record = dict(zip(HISTORY_KEYS, (obj, gap, best_dual, lb, int(np.count_nonzero(alpha)), tau,
                                                 time.perf_counter() - start)))
                if history:
                    for k, v in record.items():
                        hist[k].append(v)
                if callback is not None:
                    callback(it, record)
            bar.set_postfix(obj=f"{obj:.6g}", gap=f"{gap:.2e}", refresh=False)
            bar.update()
            if relative_gap(obj, obj - gap) <= tol:
                status = "converged"
                break
            if time_limit is not None and time.perf_counter() - start > time_limit:
                status = "time_limit"
                break
            phi = np.zeros(problem.n)
            if c != 0.0:
                key = tuple(s)
                if key not in atoms:
                    atoms[key] = len(S_cols)
                    S_cols.append(s)
                    Phi_cols.append(neuron_outputs(Xb, act, s[:, None]).ravel())
                    alpha = np.append(alpha, 0.0)
                phi = Phi_cols[atoms[key]]
            d_y = c * phi - yhat
            if step == "line_search" and quadratic:
                gamma = line_search_step(gap, kappa * float(d_y @ d_y))
            elif step == "line_search":
                gamma = smooth_line_search_step(loss, y, yhat, d_y, gap, t_v - t, b)
            else:
                gamma = classical_step(it)
            alpha *= 1.0 - gamma
            if c != 0.0:
                alpha[atoms[key]] += gamma * c
            yhat = (1.0 - gamma) * yhat + gamma * c * phi
            t = (1.0 - gamma) * t + gamma * t_v
            if fully_corrective and alpha.size:
                Phi = np.array(Phi_cols).T
                alpha = corrective_weights(Phi, y, beta, tau, form, loss, alpha)
                yhat = Phi @ alpha
                t = float(np.abs(alpha).sum())
    S = np.array(S_cols).T if S_cols else np.zeros((p, 0))
    return FWRun(status, S, alpha, yhat, t, float(obj), float(gap), float(best_dual), it + 1, lmo.exact, tau,
                 adaptive, best_w, hist if history else {})
