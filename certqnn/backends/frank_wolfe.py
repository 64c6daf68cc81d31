"""Frank–Wolfe over the atoms of math §3 (math §10, centralized): backend `frank-wolfe`.

Two forms of the same convex problem, both over the atoms phi_s = sigma(Xb s), s in {-1,+1}^p
(Xb = problem.binary_design(), shape (n, p)):

* form="penalized" (default): min L(yhat) + beta t  over  (yhat, t) in conv{(0, 0), (+-tau phi_s, tau)}
  = {Phi alpha : |alpha|_1 <= t <= tau}. Whenever tau >= |alpha*|_1 for the minimisers of J (e.g.
  tau = L(0)/beta: beta |alpha*|_1 <= J* <= J(0) = L(0)) the optimum equals p*_inf, so the FW gap
  below bounds  J_t - p*_inf  directly -- the same quantity certify() reports. By default tau starts
  at L(0)/beta and shrinks to a certified bound on |alpha*|_1 (tau_bound; "adaptive"): a loose tau
  makes FW's curvature constant, hence its O(1/t) gap, large (it scales like tau^2).
* form="bounded": min L(yhat) s.t. yhat in tau conv{+-phi_s}, i.e. |alpha|_1 <= tau (no penalty).
  Its gap bounds L(yhat_t) - L*_tau, the optimum of that bounded problem (not of J).

LMO = the pricing oracle: for g = grad L(yhat), the best atom maximises |phi_s^T g| = |s~^T Q(g) s~|.
FW gap  G_t = <grad, x_t - v_t>  >= objective(x_t) - optimum  when the LMO is exact (convexity), and
dual bound = objective - G_t. Every iterate is sum_j alpha_j phi_{s_j}: a quantized network.

The returned network is NOT the last iterate: alpha is refit exactly on J over every atom FW found
(lasso.refit), and w = grad L at that network is the dual point certify() checks.
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field

import numpy as np

from ..errors import InvalidProblemError, UnsupportedProblemError
from ..lasso import refit
from ..lifting import neuron_outputs, q_matrix
from ..losses import SquaredLoss
from ..limits import EXACT_PRICING_MAX_DIM as MAX_EXACT_DIM
from ..pricing import quadratic_extremes, quadratic_value, sign_vectors
from ..problem import QNNProblem
from ..progress import progress
from ..result import DualData, Result, Status
from .base import Backend, register

EXACT_LMO_AUTO_DIM = 22        # lmo="auto": exact pricing up to 2^22 sign vectors per call
SMALL_ENUM_DIM = 12           # ExactLMO enumerates with a cached sign matrix up to here
EXACT_RHO_CERT_DIM = 20        # certify() enumerates rho itself up to here ("rho_certified_by": "exact")
MAX_REFIT_ATOMS = 256          # the final Lasso refit screens FW's atoms down to this many
FORMS = ("penalized", "bounded")
STEPS = ("line_search", "classical")


# -- linear minimisation oracles ---------------------------------------------------------------
try:        # exact pricing: meet in the middle up to p = 24, branch and bound beyond (oracles.py)
    from ..pricing import max_abs_quadratic as _max_abs_quadratic
except ImportError:         # older oracles.py: meet in the middle only
    _max_abs_quadratic = quadratic_extremes


class ExactLMO:
    """argmax_s |s~^T Q s~| by exact enumeration (meet in the middle). One method: __call__.
    For p <= SMALL_ENUM_DIM the 2^p sign vectors are enumerated once and cached: the same exact
    answer without the per-call setup that dominates the many small calls of dqsfw."""

    exact = True

    def __init__(self, even: bool):
        self.even = even
        self._cache: dict[int, np.ndarray] = {}

    def _small(self, Q: np.ndarray) -> tuple[np.ndarray, float]:
        p = Q.shape[0] - 1
        Ut = self._cache.get(p)
        if Ut is None:
            U = sign_vectors(p)
            if self.even and p > 0:
                U = U[:, U[0] > 0]
            Ut = self._cache[p] = np.vstack([U, np.ones((1, U.shape[1]))]).T     # (2^p or 2^(p-1), p+1)
        vals = np.sum((Ut @ Q) * Ut, axis=1)
        j = int(np.argmax(np.abs(vals)))
        return Ut[j, :p].copy(), float(vals[j])

    def __call__(self, Q: np.ndarray, rng: np.random.Generator | None = None) -> tuple[np.ndarray, float]:
        """Q: (p+1, p+1) -> (s (p,) in {-1,+1}^p, value = s~^T Q s~ with the largest |value|)."""
        Q = np.asarray(Q, float)
        if Q.shape[0] - 1 <= SMALL_ENUM_DIM:
            return self._small(Q)
        ext = _max_abs_quadratic(Q, even=self.even)
        if abs(ext.max_value) >= abs(ext.min_value):
            return ext.argmax[:, 0].copy(), float(ext.max_value)
        return ext.argmin[:, 0].copy(), float(ext.min_value)


class HeuristicLMO:
    """Greedy 1-flip ascent of +-s~^T Q s~ from `starts` random sign vectors plus the last `memory`
    atoms it returned (warm starts). Inexact: the FW gap it implies is only an estimate."""

    exact = False

    def __init__(self, even: bool, starts: int = 8, memory: int = 8):
        self.even, self.starts, self.memory = even, starts, memory
        self._recent: list[np.ndarray] = []

    def __call__(self, Q: np.ndarray, rng: np.random.Generator | None = None) -> tuple[np.ndarray, float]:
        from .rounding import one_flip_search

        rng = rng if rng is not None else np.random.default_rng(0)
        p = Q.shape[0] - 1
        S0 = np.where(rng.random((p, self.starts)) < 0.5, -1.0, 1.0)
        if self._recent:
            S0 = np.hstack([S0, np.array(self._recent).T])
        S = np.hstack([one_flip_search(Q, S0, maximize=True), one_flip_search(Q, S0, maximize=False)])
        vals = quadratic_value(Q, S)
        j = int(np.argmax(np.abs(vals)))
        s = canonical(S[:, j], self.even)
        self._recent = (self._recent + [s])[-self.memory:]
        return s, float(vals[j])


def canonical(s: np.ndarray, even: bool) -> np.ndarray:
    """With an even activation s and -s are the same atom: fix s_1 = +1 (as the exact oracle does)."""
    s = np.asarray(s, float)
    return -s if even and s.size and s[0] < 0 else s.copy()


def make_lmo(kind: str, p: int, even: bool):
    """kind: "exact" | "heuristic" | "auto" (exact up to p = EXACT_LMO_AUTO_DIM)."""
    if kind == "auto":
        kind = "exact" if p <= EXACT_LMO_AUTO_DIM else "heuristic"
    if kind == "exact":
        if p > MAX_EXACT_DIM:
            raise UnsupportedProblemError(f"lmo='exact' needs p <= {MAX_EXACT_DIM} binary variables per neuron (got {p}); use lmo='heuristic'")
        return ExactLMO(even)
    if kind == "heuristic":
        return HeuristicLMO(even)
    raise InvalidProblemError("lmo", f"must be 'exact', 'heuristic' or 'auto', got {kind!r}")


# -- the FW vertex and gap, shared with the decentralized backend ------------------------------
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
    """<grad, x - v> with gx = <g, yhat> (= <Q(g), Z> lifted) and the vertex (c, t_v) of `vertex`."""
    b = penalty_weight(beta, form)
    return gx + b * t - (c * value + b * t_v)


def default_tau(problem: QNNProblem) -> float:
    """tau = L(0)/beta: a bound on |alpha*|_1 for every minimiser of J (beta |alpha*|_1 <= J(0))."""
    return problem.loss.value(np.zeros(problem.n), problem.y) / problem.beta


def tau_bound(ub: float, wy: float, ww: float, rho: float, beta: float) -> float:
    """A valid upper bound on |alpha*|_1 for EVERY minimiser alpha* of J (squared loss), given an upper
    bound ub >= p*_inf(beta), any w (n,) through wy = w^T y and ww = |w|^2, and rho = max_u |phi_u^T w|
    certified exactly (exact LMO).

    The value function V(b) = p*_inf(b) is concave with |alpha*(beta)|_1 a supergradient, so for any
    b' < beta: |alpha*|_1 <= (V(beta) - V(b')) / (beta - b'). With b' = s rho, V(b') >= g(s w) =
    -s w^T y - s^2 |w|^2/2 (math §4), hence |alpha*|_1 <= min_{0 <= s < beta/rho} (ub - g(s w)) / (beta - s rho).
    s = 0 gives the classic ub/beta; near the optimum (rho -> beta) the bound tends to |alpha*|_1.
    """
    a, q = float(wy), 0.5 * float(ww)

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


def check_common_options(form, tau, step=None, max_iter=None, tol=None, time_limit=None):
    if form not in FORMS:
        raise InvalidProblemError("form", f"must be one of {', '.join(FORMS)}, got {form!r}")
    if tau == "adaptive":
        if form != "penalized":
            raise InvalidProblemError("tau", "'adaptive' shrinks the budget of the penalized form; the bounded form needs a number")
    elif tau is not None and not (isinstance(tau, (int, float)) and np.isfinite(tau) and tau > 0):
        raise InvalidProblemError("tau", f"must be a positive number (an l1 budget), 'adaptive' or None, got {tau!r}")
    if step is not None and step not in STEPS:
        raise InvalidProblemError("step", f"must be one of {', '.join(STEPS)}, got {step!r}")
    if max_iter is not None and (isinstance(max_iter, bool) or not isinstance(max_iter, (int, np.integer)) or max_iter < 1):
        raise InvalidProblemError("max_iter", f"must be a positive integer, got {max_iter!r}")
    if tol is not None and not (isinstance(tol, (int, float)) and tol >= 0):
        raise InvalidProblemError("tol", f"must be a nonnegative number, got {tol!r}")
    if time_limit is not None and not (isinstance(time_limit, (int, float)) and time_limit > 0):
        raise InvalidProblemError("time_limit", f"must be a positive number of seconds, got {time_limit!r}")


# -- restricted solves (fully corrective step) -------------------------------------------------
def l1_ball_qp(Phi: np.ndarray, y: np.ndarray, beta_t: float, tau: float) -> np.ndarray:
    """min |Phi a - y|^2/2 + beta_t |a|_1  s.t. |a|_1 <= tau (squared loss, CVXOPT QP on a = a+ - a-).
    Phi (n, m), y (n,) -> a (m,)."""
    import cvxopt
    from cvxopt import solvers

    m = Phi.shape[1]
    G = Phi.T @ Phi
    c = Phi.T @ y
    scale = max(float(np.abs(np.diag(G)).max()), 1e-300)
    P = np.block([[G, -G], [-G, G]]) / scale
    q = np.concatenate([beta_t - c, beta_t + c]) / scale
    A = np.vstack([-np.eye(2 * m), np.ones((1, 2 * m))])
    h = np.concatenate([np.zeros(2 * m), [tau]])
    opts = {"show_progress": False, "abstol": 1e-12, "reltol": 1e-12, "feastol": 1e-12, "maxiters": 200}
    x = np.array(solvers.qp(cvxopt.matrix(P), cvxopt.matrix(q), cvxopt.matrix(A), cvxopt.matrix(h), options=opts)["x"]).ravel()
    a = np.clip(x[:m], 0, None) - np.clip(x[m:], 0, None)
    l1 = np.abs(a).sum()
    return a * (tau / l1) if l1 > tau else a       # stay feasible despite the solver's tolerance


def corrective_weights(Phi, y, beta, tau, form, loss, alpha0):
    """Fully corrective step: the best weights on the current atoms within the FW feasible set."""
    if form == "penalized":
        a = refit(Phi, y, beta, loss, alpha0=alpha0).alpha
        if np.abs(a).sum() <= tau:
            return a
        return l1_ball_qp(Phi, y, beta, tau)        # only when the user chose tau < L(0)/beta
    return l1_ball_qp(Phi, y, 0.0, tau)


# -- the algorithm -----------------------------------------------------------------------------
@dataclass
class FWRun:
    """What frank_wolfe() returns. S: (p, m) +-1 atoms met by the LMO; alpha: (m,) weights of the
    last iterate (yhat = Phi alpha); t: epigraph coordinate (>= |alpha|_1, penalized form)."""

    S: np.ndarray
    alpha: np.ndarray
    yhat: np.ndarray
    t: float
    objective: float
    gap: float
    dual_bound: float
    iterations: int
    converged: bool
    timed_out: bool
    lmo_exact: bool
    tau: float                  # the final budget
    adaptive_tau: bool
    best_w: np.ndarray | None   # the iterate gradient with the best scaling-lemma bound (exact LMO only)
    history: dict = field(default_factory=dict)


HISTORY_KEYS = ("objective", "fw_gap", "dual_bound", "lower_bound", "atoms", "tau", "seconds")


def frank_wolfe(problem: QNNProblem, form: str = "penalized", tau: float | str | None = None, lmo="auto",
                step: str = "line_search", fully_corrective: bool = False, max_iter: int = 1000,
                tol: float = 1e-6, time_limit: float | None = None, seed: int = 0,
                history: bool = False) -> FWRun:
    """Frank–Wolfe on the atoms of `problem` (see the module docstring for the two forms).

    tau: the l1 budget. A number: fixed. "adaptive" (penalized form, exact LMO): start at L(0)/beta
    and shrink to tau_bound() every iteration -- a certified bound on |alpha*|_1, so every minimiser
    stays feasible and the gap keeps bounding J - p*_inf. None: "adaptive" when allowed (penalized
    form with the exact LMO), else L(0)/beta.

    step: "classical" (gamma_t = 2/(t+2)) or "line_search" (exact, squared loss: gamma = gap/|d|^2
    clipped to [0, 1]); fully_corrective: after each step re-optimise all weights on the active
    atoms (penalized: lasso.refit; bounded: an l1-ball QP). Stops when gap <= tol * max(|obj|, 1e-12)
    (relative FW gap), after max_iter iterations or time_limit seconds.
    history: keep per-iteration lists HISTORY_KEYS; lower_bound is the scaling-lemma bound on p*_inf
    (math §4) with rho = |LMO value| (valid only for the exact LMO; nan otherwise).
    """
    check_common_options(form, tau, step, max_iter, tol, time_limit)
    loss = problem.loss
    if not isinstance(loss, SquaredLoss) and (step == "line_search" or fully_corrective):
        raise UnsupportedProblemError(f"line search and fully corrective FW support the squared loss only (got {loss.name}); use step='classical'")
    Xb = problem.binary_design()
    act, y, beta = problem.activation, problem.y, problem.beta
    p = Xb.shape[1]
    lmo = make_lmo(lmo, p, act.is_even) if isinstance(lmo, str) else lmo
    adaptive = tau == "adaptive" or (tau is None and form == "penalized" and lmo.exact)
    if adaptive and not lmo.exact:
        raise InvalidProblemError("tau", "'adaptive' needs the exact LMO (it relies on rho being certified)")
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
    converged = timed_out = False
    obj = gap = np.nan
    it = 0
    with progress(total=max_iter, desc=f"frank-wolfe ({form})", unit="it") as bar:
        for it in range(max_iter):
            g = loss.gradient(yhat, y)
            s, value = lmo(q_matrix(Xb, act, g), rng)
            if adaptive:
                ub = min(ub, loss.value(yhat, y) + beta * float(np.abs(alpha).sum()))
                tau = min(tau, tau_bound(ub, float(g @ y), float(g @ g), abs(value), beta))
            c, t_v = vertex(value, tau, beta, form)
            obj = loss.value(yhat, y) + b * t
            gap = fw_gap(float(g @ yhat), t, value, c, t_v, beta, form)
            best_dual = max(best_dual, obj - gap)
            lb = np.nan
            if lmo.exact:
                # the scaling-lemma bound of math §4 at w = g (rho exact): keep the best w for certify()
                rho = abs(value)
                lb = loss.dual_value(loss.best_dual_scale(g, y, beta / rho if rho > 0 else np.inf) * g, y)
                if lb > best_lb:
                    best_lb, best_w = lb, g
            if history:
                for k, v in zip(HISTORY_KEYS, (obj, gap, best_dual, lb, int(np.count_nonzero(alpha)), tau,
                                               time.perf_counter() - start)):
                    hist[k].append(v)
            bar.set_postfix(obj=f"{obj:.6g}", gap=f"{gap:.2e}", refresh=False)
            bar.update()
            if gap <= tol * max(abs(obj), 1e-12):
                converged = True
                break
            if time_limit is not None and time.perf_counter() - start > time_limit:
                timed_out = True
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
            if step == "line_search":
                dd = float(d_y @ d_y)
                gamma = 1.0 if dd == 0.0 else float(np.clip(gap / dd, 0.0, 1.0))
            else:
                gamma = 2.0 / (it + 2.0)
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
    return FWRun(S, alpha, yhat, t, float(obj), float(gap), float(best_dual), it + 1, converged, timed_out,
                 lmo.exact, tau, adaptive, best_w, hist if history else {})


# -- from FW's atoms to the certified network (shared with dqsfw) ------------------------------
def refit_network(problem: QNNProblem, S: np.ndarray, priority: np.ndarray | None = None):
    """alpha refit exactly on J over the atoms S (p, m) (at most MAX_REFIT_ATOMS of them: those with
    the largest `priority`, e.g. |final FW weight|), pruned to problem.width when set.
    Returns (network, w = grad L at the network's prediction, lasso objective)."""
    from .rounding import network_from_atoms

    Xb = problem.binary_design()
    act, y, loss = problem.activation, problem.y, problem.loss
    S = np.asarray(S, float).reshape(Xb.shape[1], -1)
    if S.shape[1] > MAX_REFIT_ATOMS:
        order = np.argsort(-np.asarray(priority), kind="stable")[:MAX_REFIT_ATOMS]
        S = S[:, order]
    sol = refit(neuron_outputs(Xb, act, S), y, problem.beta, loss)
    keep = sol.alpha != 0
    S, alpha = S[:, keep], sol.alpha[keep]
    network = network_from_atoms(problem, S, alpha)
    w = loss.gradient(network.predict(problem.X, act), y)
    return network, w, sol.objective


def exact_lower_bound(problem: QNNProblem, w: np.ndarray) -> tuple[float | None, float | None]:
    """(scaling-lemma lower bound on p*_inf, exact rho(w)) when exact pricing is affordable, else (None, None)."""
    if problem.binary_dim > EXACT_LMO_AUTO_DIM:
        return None, None
    Q = q_matrix(problem.binary_design(), problem.activation, w)
    rho = quadratic_extremes(Q, even=problem.activation.is_even).rho
    loss = problem.loss
    s = loss.best_dual_scale(w, problem.y, problem.beta / rho if rho > 0 else np.inf)
    return loss.dual_value(s * w, problem.y), rho


def best_dual_point(problem: QNNProblem, candidates: list) -> tuple[np.ndarray, float | None, float | None]:
    """Among candidate dual vectors w (n,) (None entries skipped; the first is the default), the one
    whose scaling-lemma bound is largest when exact pricing is affordable. Any w gives a valid
    certificate (math §4); e.g. the refit network's gradient can be worse than an FW iterate's when
    the refit lacks atoms. Returns (w, lower bound or None, rho or None)."""
    cands = [np.asarray(c, float) for c in candidates if c is not None]
    best = (cands[0], *exact_lower_bound(problem, cands[0]))
    if best[1] is None:
        return best
    for w in cands[1:]:
        lb, rho = exact_lower_bound(problem, w)
        if lb > best[1]:
            best = (w, lb, rho)
    return best


def plot_convergence(history: dict, path: str, title: str = "", x: str = "iteration") -> None:
    """Draw objective - best dual bound and the FW gap (log scale) against iterations (or
    x="bits" for dqsfw histories) into `path` (PNG/PDF; needs matplotlib)."""
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        from ..errors import BackendUnavailableError
        raise BackendUnavailableError("plotting needs matplotlib: pip install 'certqnn[plot]'") from None
    import os
    import tempfile

    def positive(v):
        v = np.asarray(v, float)
        return np.where(v > 0, v, np.nan)          # log scale: exact zeros are simply not drawn

    gap = np.asarray(history["fw_gap"], float)
    xs = np.asarray(history[x], float) if x in history else np.arange(1, gap.size + 1)
    fig, ax = plt.subplots(figsize=(6.4, 4.2))
    ax.semilogy(xs, positive(history["objective"]), label="objective J") if "objective" in history else None
    ax.semilogy(xs, positive(gap), label="FW gap")
    if "dual_bound" in history:
        sub = np.asarray(history["objective"], float) - np.asarray(history["dual_bound"], float)
        ax.semilogy(xs, positive(sub), label="objective - best dual bound")
    if "consensus_error" in history:
        ax.semilogy(xs, positive(history["consensus_error"]), label="consensus error")
    ax.set_xlabel("bits sent" if x == "bits" else "iteration")
    ax.set_title(title or "Frank-Wolfe convergence")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend()
    fig.tight_layout()
    directory = os.path.dirname(os.path.abspath(path))
    fd, tmp = tempfile.mkstemp(prefix=".certqnn-plot-", suffix=os.path.splitext(path)[1] or ".png", dir=directory)
    os.close(fd)
    try:
        fig.savefig(tmp)
        os.replace(tmp, path)         # atomic: no half-written figure
    finally:
        plt.close(fig)
        if os.path.exists(tmp):
            os.unlink(tmp)


@register
class FrankWolfeBackend(Backend):
    name = "frank-wolfe"
    exact = False
    description = "Frank-Wolfe over quantized neurons (pricing-oracle LMO), final exact alpha refit"

    def supports(self, problem: QNNProblem):
        if not isinstance(problem.loss, SquaredLoss):
            return False, "the frank-wolfe backend needs the squared loss (for the final exact refit)"
        return True, ""

    def solve(self, problem: QNNProblem, form: str = "penalized", tau: float | str | None = None, lmo: str = "auto",
              step: str = "line_search", fully_corrective: bool = False, max_iter: int = 1000,
              tol: float = 1e-6, time_limit: float | None = None, seed: int = 0, history: bool = False,
              plot: str | None = None, **options) -> Result:
        """Options as frank_wolfe(); plot: a file name for the convergence figure (implies history).
        Unknown options raise InvalidProblemError naming them."""
        if options:
            raise InvalidProblemError(next(iter(options)), "unknown option for the frank-wolfe backend (known: form, tau, lmo, step, fully_corrective, max_iter, tol, time_limit, seed, history, plot)")
        start = time.perf_counter()
        run = frank_wolfe(problem, form, tau, lmo, step, fully_corrective, max_iter, tol, time_limit, seed,
                          history or plot is not None)
        network, w, _ = refit_network(problem, run.S, np.abs(run.alpha))
        w, lb, rho = best_dual_point(problem, [w, run.best_w])
        if plot is not None:
            plot_convergence(run.history, plot, title=f"frank-wolfe ({form}, {step})")
        status = (Status.TIME_LIMIT if run.timed_out else
                  Status.OPTIMAL if run.converged and run.lmo_exact and form == "penalized" else Status.FEASIBLE)
        info = {"fw_gap": run.gap, "fw_objective": run.objective, "fw_dual_bound": run.dual_bound,
                "form": form, "tau": run.tau, "adaptive_tau": run.adaptive_tau,
                "lmo": "exact" if run.lmo_exact else "heuristic", "gap_is_certified": run.lmo_exact,
                "atoms_found": int(run.S.shape[1])}
        return fw_result(self.name, problem, status, network, lb, w, rho, info, run, history or plot is not None, start)


def fw_result(name, problem, status, network, lb, w, rho, info, run, keep_history, start) -> Result:
    """The Result of a Frank-Wolfe run (shared by frank-wolfe and dqsfw): certificate hints in info."""
    if rho is not None:
        info["rho"] = rho
    if problem.binary_dim <= EXACT_RHO_CERT_DIM:
        info["rho_certified_by"] = "exact"
    if keep_history:
        info["history"] = run.history
    return Result(status=status, backend=name, network=network, lower_bound=lb,
                  upper_bound=problem.objective(network.U, network.alpha), dual=DualData(w=np.asarray(w)),
                  iterations=run.iterations, seconds=time.perf_counter() - start, info=info)
