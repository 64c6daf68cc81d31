"""Frank-Wolfe step rules, the FW vertex and gap, the l1 budget tau, and the checks of these
options (docs/math.md §10). Shared by the centralized and the decentralized algorithm.

The two forms of the same convex problem over the atoms phi_s = sigma(Xb s), s in {-1,+1}^p:

* "penalized": min L(yhat) + beta t over (yhat, t) in conv{(0, 0), (+-tau phi_s, tau)}
  = {Phi alpha : |alpha|_1 <= t <= tau}. When tau >= |alpha*|_1 for the minimisers of J the optimum
  is p*_inf, so the FW gap bounds J_t - p*_inf, the quantity certify() reports.
* "bounded": min L(yhat) s.t. |alpha|_1 <= tau (no penalty); its gap bounds L(yhat_t) - L*_tau.
"""
from __future__ import annotations

import numpy as np

from ..checks import check_choice, check_nonnegative_int, check_positive_int
from ..errors import InvalidProblemError
from ..problem import QNNProblem
from .lmo import LMOS

FORMS = ("penalized", "bounded")
FW_STEPS = ("line_search", "classical")               # centralized frank_wolfe()
DQSFW_STEPS = ("classical", "local_line_search")      # decentralized dqsfw()


# -- step rules ----------------------------------------------------------------------------------
def classical_step(iteration: int) -> float:
    """gamma_t = 2/(t+2), t = 0, 1, ...: the open-loop schedule with the O(1/t) gap guarantee."""
    return 2.0 / (iteration + 2.0)


def line_search_step(gap: float, curvature: float) -> float:
    """Exact line search of a quadratic along d = v - x: F(x + gamma d) = F(x) - gamma gap + gamma^2
    curvature / 2, with curvature = kappa |A d|^2 for the loss kappa/2 |v - t|^2 + const
    (loss.quadratic); the minimiser clipped to [0, 1]."""
    if curvature <= 0.0:
        return 1.0 if gap > 0 else 0.0
    return float(np.clip(gap / curvature, 0.0, 1.0))


def _second_derivative(loss, v: np.ndarray, y: np.ndarray, d: np.ndarray) -> float:
    """d^T diag(l''(v)) d from loss.curvature; a quadratic loss without it gives kappa |d|^2; 0 (then
    the line search bisects) when neither is known."""
    try:
        return float(loss.curvature(v, y) @ (d * d))
    except NotImplementedError:
        model = loss.quadratic(y)
        return float(model[0]) * float(d @ d) if model is not None else 0.0


def smooth_line_search_step(loss, y: np.ndarray, yhat: np.ndarray, d_y: np.ndarray, gap: float, dt: float,
                            b: float, max_iter: int = 100) -> float:
    """Exact line search for any smooth convex loss: the minimiser over [0, 1] of the convex
    phi(gamma) = L(yhat + gamma d_y) + b (t + gamma dt), shapes (n,), found as the root of the
    nondecreasing phi'(gamma) = <grad L(yhat + gamma d_y), d_y> + b dt (phi'(0) = -gap) by Newton
    steps on loss.curvature, safeguarded by bisection of the bracket [lo, hi] (phi'(lo) < 0 <= phi'(hi)).
    Returns the last Newton point or lo, whichever has the smaller phi, so phi(gamma) <= phi(0): the
    step never increases the objective even when the bracket is cut short."""
    if not gap > 0.0:
        return 0.0

    def dphi(g):
        return float(loss.gradient(yhat + g * d_y, y) @ d_y) + b * dt

    if dphi(1.0) <= 0.0:
        return 1.0
    lo, hi, x, fx = 0.0, 1.0, 0.0, -gap
    for _ in range(max_iter):
        if hi - lo <= 1e-12:
            break
        curv = _second_derivative(loss, yhat + x * d_y, y, d_y)
        nxt = x - fx / curv if curv > 0.0 else np.nan
        # a Newton step outside the bracket, or one that does not halve it, becomes bisection
        if not (lo < nxt < hi) or abs(nxt - x) > 0.5 * (hi - lo):
            nxt = 0.5 * (lo + hi)
        x, fx = nxt, dphi(nxt)
        if fx < 0.0:
            lo = x
        elif fx > 0.0:
            hi = x
        else:
            return x
        if abs(fx) <= 1e-13 * gap:
            break
    if x == lo:
        return lo
    # Newton may close in on the root from above (phi'(x) > 0, lo never moves): keep x when it is
    # at least as good as lo, so the step is both near-exact and never worse than gamma = 0
    def phi(g):
        return loss.value(yhat + g * d_y, y) + b * g * dt
    return x if phi(x) <= phi(lo) else lo


# -- the FW vertex and gap -----------------------------------------------------------------------
def vertex(value: float, tau: float, beta: float, form: str) -> tuple[float, float]:
    """The FW vertex for a gradient whose best atom has signed price value = phi_s^T g.

    Returns (c, t_v): the vertex is c * phi_s (lifted: c * s~ s~^T) with epigraph coordinate t_v.
    penalized: <(g, beta), (c phi_s, t_v)> = tau (beta - |value|) for the atom, 0 for the origin.
    """
    sgn = float(np.sign(value))
    if form == "bounded":
        return -tau * sgn, 0.0
    if abs(value) > beta:
        return -tau * sgn, tau
    return 0.0, 0.0


def penalty_weight(beta: float, form: str) -> float:
    """The coefficient of t in the objective: beta (penalized) or 0 (bounded: t is unused)."""
    return beta if form == "penalized" else 0.0


def fw_gap(gx: float, t: float, value: float, c: float, t_v: float, beta: float, form: str) -> float:
    """<grad, x - v> with gx = <g, yhat> (= <Q(g), Z> lifted) and the vertex (c, t_v) of `vertex`.
    With an exact LMO it bounds objective(x) - optimum (convexity)."""
    b = penalty_weight(beta, form)
    return gx + b * t - (c * value + b * t_v)


# -- the l1 budget -------------------------------------------------------------------------------
def default_tau(problem: QNNProblem) -> float:
    """tau = L(0)/beta: a bound on |alpha*|_1 for every minimiser of J (beta |alpha*|_1 <= J(0))."""
    return problem.loss.value(np.zeros(problem.n), problem.y) / problem.beta


def tau_bound(ub: float, wy: float, ww: float, rho: float, beta: float, kappa: float = 1.0,
              c0: float = 0.0) -> float:
    """A valid upper bound on |alpha*|_1 for EVERY minimiser alpha* of J with the quadratic loss
    L(v) = kappa/2 |v - t|^2 + c0 (the squared loss: kappa = 1, t = y, c0 = 0), given an upper bound
    ub >= p*_inf(beta), any w (n,) through wy = w^T t and ww = |w|^2, and rho = max_u |phi_u^T w|
    certified exactly (exact LMO).

    The value function V(b) = p*_inf(b) is concave with |alpha*(beta)|_1 a supergradient, so for any
    b' < beta: |alpha*|_1 <= (V(beta) - V(b')) / (beta - b'). With b' = s rho, V(b') >= g(s w) =
    c0 - s w^T t - s^2 |w|^2/(2 kappa) (docs/math.md §4), hence
    |alpha*|_1 <= min_{0 <= s < beta/rho} (ub - g(s w)) / (beta - s rho).
    s = 0 gives the classic (ub - c0)/beta; near the optimum (rho -> beta) the bound tends to |alpha*|_1.
    """
    a, q = float(wy), 0.5 * float(ww) / kappa
    ub = ub - c0

    def f(s):
        return (ub + s * a + s * s * q) / (beta - s * rho)

    cands = [0.0]
    if rho <= 0.0:
        if q > 0:
            cands.append(max(0.0, -a / (2 * q)))
    else:
        smax = beta / rho * (1.0 - 1e-9)
        disc = (q * beta) ** 2 + q * rho * (a * beta + rho * ub)   # roots of q rho s^2 - 2 q beta s - (a beta + rho ub)
        if q > 0 and disc >= 0:
            for sgn in (1.0, -1.0):
                cands.append(float(np.clip((q * beta + sgn * np.sqrt(disc)) / (q * rho), 0.0, smax)))
    return min(f(s) for s in cands) * (1.0 + 1e-9)      # the margin covers the rounding of f


def tau_bound_general(ub: float, loss, w: np.ndarray, y: np.ndarray, rho: float, beta: float,
                      grid: int = 32) -> float:
    """A valid upper bound on |alpha*|_1 for EVERY minimiser alpha* of J, for ANY convex loss, from an
    upper bound ub >= p*_inf(beta), any w (n,) and rho = max_u |phi_u^T w| certified exactly (exact LMO).

    Same argument as tau_bound without the closed form: V(b) = p*_inf(b) is concave (an infimum of
    functions affine in b) and V(b') <= V(beta) + (b' - beta) |alpha*|_1, so for every b' in [0, beta)
    |alpha*|_1 <= (ub - V(b')) / (beta - b'), and V(b') >= gaps.dual_lower_bound(loss, w, y, rho, b')
    (the scaling lemma at b'). The minimum over b' is searched on a grid (denser near beta, where the
    bound is tightest near the optimum) and refined by golden section; every b' tried is valid.
    Returns +inf when no b' gives a finite bound."""
    from ..gaps import dual_lower_bound

    w = np.asarray(w, float)

    def f(bp):
        lb = dual_lower_bound(loss, w, y, rho, bp)
        val = (ub - lb) / (beta - bp)
        return val if np.isfinite(val) else np.inf

    fr = np.concatenate([np.linspace(0.0, 1.0, grid // 2, endpoint=False), 1.0 - 0.5 ** np.arange(1, grid // 2 + 1)])
    pts = np.unique(beta * fr)
    vals = [f(bp) for bp in pts]
    i = int(np.argmin(vals))
    best = vals[i]
    lo, hi = pts[max(i - 1, 0)], pts[min(i + 1, len(pts) - 1)]
    r = 0.5 * (np.sqrt(5.0) - 1.0)
    a, c = hi - r * (hi - lo), lo + r * (hi - lo)
    fa, fc = f(a), f(c)
    for _ in range(30):                    # the bound is quasiconvex in b': golden section
        if fa <= fc:
            hi, c, fc = c, a, fa
            a = hi - r * (hi - lo)
            fa = f(a)
        else:
            lo, a, fa = a, c, fc
            c = lo + r * (hi - lo)
            fc = f(c)
    best = min(best, fa, fc)
    return best * (1.0 + 1e-9)          # the margin covers the rounding of f


# -- option checks (each raises InvalidProblemError naming the option) ---------------------------
def check_tau(tau, form: str, lmo: str | None = None) -> None:
    """tau: a positive number (the l1 budget), "adaptive" (penalized form, exact LMO) or None."""
    if tau == "adaptive":
        if form != "penalized":
            raise InvalidProblemError("tau", "'adaptive' shrinks the budget of the penalized form; the bounded form needs a number")
        if lmo == "heuristic":
            raise InvalidProblemError("tau", "'adaptive' needs the exact LMO (it relies on rho being certified)")
    elif tau is not None and (isinstance(tau, bool) or not isinstance(tau, (int, float))
                              or not (np.isfinite(tau) and tau > 0)):
        raise InvalidProblemError("tau", f"must be a positive number (an l1 budget), 'adaptive' or None, got {tau!r}")


def check_loop(max_iter, tol, time_limit) -> None:
    """The stopping rules shared by every FW loop."""
    check_positive_int("max_iter", max_iter)
    if isinstance(tol, bool) or not (isinstance(tol, (int, float)) and tol >= 0):
        raise InvalidProblemError("tol", f"must be a nonnegative number, got {tol!r}")
    if time_limit is not None and (isinstance(time_limit, bool) or not isinstance(time_limit, (int, float))
                                   or not time_limit > 0):
        raise InvalidProblemError("time_limit", f"must be a positive number of seconds, got {time_limit!r}")


def check_common(form: str, tau, step: str, steps: tuple[str, ...], lmo, max_iter, tol, time_limit,
                 seed=0) -> None:
    """Every option the two FW loops share; lmo may be an oracle object (then not checked)."""
    check_choice("form", form, FORMS)
    if isinstance(lmo, str):
        check_choice("lmo", lmo, LMOS)
    check_tau(tau, form, lmo if isinstance(lmo, str) else None)
    check_choice("step", step, steps)
    check_loop(max_iter, tol, time_limit)
    check_nonnegative_int("seed", seed)


def parse_tau(text: str) -> float | str:
    """Command-line tau: a number or 'adaptive'."""
    if text == "adaptive":
        return text
    try:
        return float(text)
    except ValueError:
        raise InvalidProblemError("tau", f"expected a number or 'adaptive', got {text!r}") from None


class RunOutcome:
    """How a Frank-Wolfe run ended, from its `status` ("converged" | "iteration_limit" | "time_limit")."""

    status: str

    @property
    def converged(self) -> bool:
        return self.status == "converged"

    @property
    def timed_out(self) -> bool:
        return self.status == "time_limit"
