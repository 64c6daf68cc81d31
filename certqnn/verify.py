"""Solver-independent, rigorous checks (math §8; proofs/rigorous_psd.md, proofs/rounding.md).

Nothing here imports a solver. Every number is recomputed from the data, the network and the
dual point, with error bounds that make each check *sound*: a floating-point error can make a
true certificate fail (then certify() adds margin), never make a false one pass.

Model of arithmetic: IEEE double, unit roundoff u = 2^-53; a computed sum/dot product of k terms
(any order, FMA or not) satisfies |fl(sum) - sum| <= gamma_k sum |terms|, gamma_k = k u/(1-k u)
(Higham, Accuracy and Stability, 2nd ed., Lemma 3.1, §3.5). Error bounds are themselves computed
in floating point; we inflate them by SAFETY (they carry relative errors of order gamma_k, far
below 1e-6) and add TINY per entry to cover underflow.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from fractions import Fraction

import numpy as np

from .activations import Polynomial
from .oracles import MAX_EXACT_DIM, quadratic_extremes
from .triangles import validate as validate_cuts, weighted_sum as triangle_sum

U_ROUND = 2.0 ** -53
SAFETY = 1.0 + 1e-6
TINY = 1e-290
MAX_VERIFY_EXACT_DIM = 32          # 2^31 evaluations (even sigma): ~4 s here, ~8 s otherwise; refuse beyond


def gamma(k: int) -> float:
    return k * U_ROUND / (1.0 - k * U_ROUND)


def up(x: float) -> float:
    return math.nextafter(float(x), math.inf)


def down(x: float) -> float:
    return math.nextafter(float(x), -math.inf)


# -- objective upper bound ------------------------------------------------------------------
def objective_upper_bound(X: np.ndarray, y: np.ndarray, act: Polynomial, U: np.ndarray, alpha: np.ndarray,
                          beta: float, loss=None) -> float:
    """A float >= J(U, alpha) = sum_i (f(x_i) - y_i)^2 / 2 + beta |alpha|_1 (squared loss), exactly.

    X (n, d), y (n,), U (d, m), alpha (m,). Each stage carries an absolute error bound.
    """
    n, d = X.shape
    m = alpha.shape[0]
    a, b, c = act.a, act.b, act.c
    T = X @ U                                                # t_ij = x_i^T u_j
    eT = (gamma(d) * (np.abs(X) @ np.abs(U))) * SAFETY + TINY
    S = (a * T + b) * T + c                                  # sigma(t_hat)
    # |sigma(t) - sigma(t_hat)| <= |t - t_hat| (|a| (2|t_hat| + eT) + |b|), plus 4 roundings in S
    eS = eT * (abs(a) * (2 * np.abs(T) + eT) + abs(b)) + gamma(4) * ((abs(a) * np.abs(T) + abs(b)) * np.abs(T) + abs(c))
    eS = eS * SAFETY + TINY
    f = S @ alpha
    ef = (gamma(m) * (np.abs(S) @ np.abs(alpha)) + eS @ np.abs(alpha)) * SAFETY + TINY
    r = f - y
    er = ef + U_ROUND * np.abs(r) * SAFETY + TINY
    bound_r = np.abs(r) + er                                 # >= |f_i - y_i| up to one rounding
    half_sq = 0.5 * float(bound_r @ bound_r)
    l1 = float(np.abs(alpha).sum())
    total = half_sq * (1 + gamma(n + 3)) + beta * l1 * (1 + gamma(m + 2))
    return up(up(total) * (1 + 4 * U_ROUND))


# -- Q(w) with an elementwise error bound ---------------------------------------------------
def q_matrix_with_error(Xb: np.ndarray, act: Polynomial, w: np.ndarray):
    """(Q_hat, E) with |Q_hat - Q(w)| <= E elementwise; Q(w) = sum_i w_i M(x_i), shape (p+1, p+1)."""
    n, p = Xb.shape
    Xa = np.abs(Xb)
    wa = np.abs(w)
    Q = np.empty((p + 1, p + 1))
    E = np.empty((p + 1, p + 1))
    G = (Xb.T * w) @ Xb
    Q[:p, :p] = act.a * G
    # gamma(n + 5): n-term sums, the products x w and a(.), plus one rounding in each of the two
    # expanded entries x~ = fl(c_l x) (math §2), so non-power-of-two level scales are covered too
    E[:p, :p] = abs(act.a) * (Xa.T * wa) @ Xa * gamma(n + 5)
    v = Xb.T @ w
    Q[:p, p] = Q[p, :p] = 0.5 * act.b * v
    E[:p, p] = E[p, :p] = abs(0.5 * act.b) * (Xa.T @ wa) * gamma(n + 3)
    Q[p, p] = act.c * math.fsum(w)
    E[p, p] = abs(act.c) * float(wa.sum()) * gamma(n + 2)
    Q = 0.5 * (Q + Q.T)   # exact: both triangles were computed identically up to order; keep bound
    E = (E + U_ROUND * np.abs(Q)) * SAFETY + TINY
    return Q, E


# -- rigorous PSD test ----------------------------------------------------------------------
def cholesky_succeeds(A: np.ndarray):
    """Unblocked right-looking Cholesky in floating point. Returns R (upper, A ~ R^T R) or None
    when a pivot is not positive. Each entry is one inner product, so Demmel's bound applies:
    R^T R = A + dA, |dA| <= gamma_{D+1} |R^T| |R| (Higham Thm 10.3)."""
    D = A.shape[0]
    R = np.zeros_like(A)
    for k in range(D):
        pivot = A[k, k] - float(R[:k, k] @ R[:k, k])
        if not (pivot > 0.0) or not math.isfinite(pivot):
            return None
        R[k, k] = math.sqrt(pivot)
        if k + 1 < D:
            R[k, k + 1:] = (A[k, k + 1:] - R[:k, k] @ R[:k, k + 1:]) / R[k, k]
    return R


def psd_margin_needed(M_hat: np.ndarray, E: np.ndarray) -> float:
    """A shift s that suffices for the test below when M_hat is comfortably PSD."""
    D = M_hat.shape[0]
    return 2.0 * (gamma(D + 2) * float(np.abs(np.diag(M_hat)).sum()) + float(np.linalg.norm(E)))


def is_psd_rigorous(M_hat: np.ndarray, E: np.ndarray) -> tuple[bool, str]:
    """True only if every symmetric M with |M - M_hat| <= E (elementwise) is PSD.

    Test: s = psd_margin_needed; if fl-Cholesky of A = fl(M_hat - s I) succeeds with R, then
    M_hat - s I + dA + dS >= 0 (dS: rounding of the shift, |dS| <= u |A_kk| on the diagonal), so
    M >= (s - |dA|_2 - |dS|_2 - |E|_2) I >= 0 whenever s >= gamma_{D+1} |R|_F^2 + u max|A_kk| + |E|_F.
    """
    D = M_hat.shape[0]
    if not np.all(np.isfinite(M_hat)) or not np.all(np.isfinite(E)):
        return False, "matrix is not finite"
    s = psd_margin_needed(M_hat, E)
    A = M_hat - s * np.eye(D)
    R = cholesky_succeeds(A)
    if R is None:
        lam = float(np.linalg.eigvalsh(M_hat)[0])
        return False, f"not PSD with margin {s:.3e} (approximate smallest eigenvalue {lam:.3e})"
    need = (gamma(D + 1) * float(np.sum(R * R)) + U_ROUND * float(np.abs(np.diag(A)).max())
            + float(np.linalg.norm(E))) * SAFETY + TINY
    if s >= need:
        return True, f"PSD (Cholesky with shift {s:.3e} >= error bound {need:.3e})"
    return False, f"shift {s:.3e} below the a-posteriori error bound {need:.3e}"


def shor_side_matrix(Q: np.ndarray, E: np.ndarray, z, sign: float, cuts=None, mu=None):
    """(M_hat, E_M): M = Diag(z) - sum_T mu_T E_T - sign Q(w) in floating point, and an elementwise
    bound |M_hat - M| <= E_M given |Q_hat - Q| <= E (proofs/rigorous_psd.md, triangle_cuts.md)."""
    D = Q.shape[0]
    T = np.zeros((D, D))
    ET = 0.0
    if cuts is not None and len(cuts):
        T = triangle_sum(cuts, mu, D)
        # each entry sums <= len(cuts) exact terms +-mu/2
        ET = gamma(len(cuts) + 1) * 0.5 * float(np.sum(mu)) * SAFETY
    M = np.diag(z) - T - sign * Q
    EM = E + ET + gamma(2) * (np.diag(np.abs(z)) + np.abs(T) + np.abs(Q))
    return M, EM * SAFETY + TINY


def shor_rho_bound(Q: np.ndarray, E: np.ndarray, z_plus, z_minus, cuts_plus=None, mu_plus=None,
                   cuts_minus=None, mu_minus=None) -> tuple[float | None, str]:
    """rho_bar = max(1^T z+ + 1^T mu+, 1^T z- + 1^T mu-) (rounded up) if
    Diag(z+) - sum mu+ E_T - Q >= 0 and Diag(z-) - sum mu- E_T + Q >= 0 (plain Shor: no cuts)."""
    msgs = []
    total = []
    D = Q.shape[0]
    for name, z, sign, cuts, mu in (("z_plus", z_plus, 1.0, cuts_plus, mu_plus),
                                    ("z_minus", z_minus, -1.0, cuts_minus, mu_minus)):
        z = np.asarray(z, float)
        if z.shape != (D,) or not np.all(np.isfinite(z)):
            return None, f"{name} must be a finite vector of length {D}"
        if cuts is not None and len(cuts):
            cuts = np.asarray(cuts)
            mu = np.asarray(mu, float)
            bad = validate_cuts(cuts, D)
            if bad is not None:
                return None, f"cuts for {name}: {bad}"
            if mu.shape != (cuts.shape[0],) or not np.all(np.isfinite(mu)) or np.any(mu < 0):
                return None, f"multipliers for {name} must be {cuts.shape[0]} finite numbers >= 0"
        else:
            cuts, mu = None, np.zeros(0)
        M, EM = shor_side_matrix(Q, E, z, sign, cuts, mu)
        ok, why = is_psd_rigorous(M, EM)
        if not ok:
            return None, f"Diag({name}) {'-' if sign > 0 else '+'} Q(w): {why}"
        msgs.append(f"{name}: {why}" + (f" with {len(mu)} triangle cuts" if len(mu) else ""))
        total.append(up(math.fsum(np.concatenate([z, mu]))))
    return max(total), "; ".join(msgs)


def exact_rho_bound(Q: np.ndarray, E: np.ndarray, even: bool) -> tuple[float | None, str]:
    """rho_bar >= max_u |u~^T Q u~| by enumeration, with the rounding of the evaluation bounded
    by gamma_{D^2+2} sum|Q_hat| and the error of Q_hat itself by sum E."""
    p = Q.shape[0] - 1
    if p > min(MAX_VERIFY_EXACT_DIM, MAX_EXACT_DIM):
        return None, f"exact check refused: 2^{p} sign vectors exceed the verifier's limit p <= {MAX_VERIFY_EXACT_DIM}"
    ext = quadratic_extremes(Q, even=even)
    D = p + 1
    err = (gamma(D * D + 2 * D + 2) * float(np.abs(Q).sum()) + float(E.sum())) * SAFETY + TINY
    return up(ext.rho + err), f"enumerated {ext.evaluated} sign vectors, rounding bound {err:.3e}"


# -- lower bound by the scaling lemma (exact rational arithmetic) ----------------------------
def scaled_dual_lower_bound(loss, w: np.ndarray, y: np.ndarray, rho_bar: float, beta: float, scale: float | None = None):
    """(LB, s): LB <= g(s w) = -s w^T y - s^2 |w|^2 / 2 exactly, with s * rho_bar <= beta exactly
    (so s w is dual feasible, math §4). Squared loss. Computed in rationals, rounded down."""
    w = np.asarray(w, float)
    y = np.asarray(y, float)
    ww = math.fsum(w * w)  # only used to pick s; the bound below is exact
    if scale is None:
        wy = math.fsum(w * y)
        scale = 0.0 if ww == 0 else -wy / ww
    smax = math.inf if rho_bar <= 0 else beta / rho_bar
    s = min(max(float(scale), 0.0), smax)
    F = Fraction
    if rho_bar > 0:
        while F(s) * F(rho_bar) > F(beta):
            s = down(s)
    fs = F(s)
    wy = sum((F(a) * F(b) for a, b in zip(w.tolist(), y.tolist())), F(0))
    wsq = sum((F(a) * F(a) for a in w.tolist()), F(0))
    g = -fs * wy - fs * fs * wsq / 2
    lb = float(g)
    if F(lb) > g:
        lb = down(lb)
    return lb, s


@dataclass
class Check:
    name: str
    passed: bool
    detail: str = ""


@dataclass
class Verdict:
    """The outcome of verification: ok only if every check passed."""

    checks: list[Check] = field(default_factory=list)
    verified_upper_bound: float | None = None
    verified_lower_bound: float | None = None
    rho_bar: float | None = None

    @property
    def ok(self) -> bool:
        return bool(self.checks) and all(c.passed for c in self.checks)

    @property
    def failed(self) -> list[Check]:
        return [c for c in self.checks if not c.passed]

    def add(self, name: str, passed: bool, detail: str = "") -> bool:
        self.checks.append(Check(name, bool(passed), detail))
        return bool(passed)

    def to_dict(self) -> dict:
        return {"ok": self.ok, "verified_upper_bound": self.verified_upper_bound,
                "verified_lower_bound": self.verified_lower_bound, "rho_bar": self.rho_bar,
                "checks": [{"name": c.name, "passed": c.passed, "detail": c.detail} for c in self.checks]}


def verify(certificate, data=None) -> Verdict:
    """Recompute every claim of a Certificate (certqnn.certificate) from its data alone.

    data: optional (X, y) when the certificate stores only the data hash. Never raises on a
    hostile certificate: overflow or any arithmetic failure becomes a failed check.
    """
    try:
        with np.errstate(over="ignore", invalid="ignore"):
            return _verify(certificate, data)
    except (OverflowError, ValueError, ZeroDivisionError, FloatingPointError, ArithmeticError) as exc:
        v = Verdict()
        v.add("arithmetic", False, f"numbers out of range: {exc}")
        return v


def _finite(*xs) -> bool:
    return all(x is not None and math.isfinite(x) for x in xs)


def _verify(certificate, data=None) -> Verdict:
    from .certificate import Certificate  # local: certificate.py imports this module

    cert: Certificate = certificate
    v = Verdict()
    try:
        problem = cert.problem(data)
    except Exception as exc:  # noqa: BLE001 - any failure to rebuild the problem is a failed check
        v.add("problem", False, str(exc))
        return v
    v.add("problem", True, problem.describe())
    if cert.data_sha256 is not None:
        v.add("data_hash", cert.data_sha256 == problem.data_hash(), "SHA-256 of X and y")
    if problem.loss.name != "squared":
        v.add("loss", False, f"the verifier supports the squared loss only (got {problem.loss.name})")
        return v
    U, alpha = cert.U, cert.alpha
    on_grid = U.shape == (problem.d, alpha.shape[0]) and bool(np.all(problem.levels.contains(U)))
    v.add("network_on_grid", on_grid, f"U {U.shape} in {problem.levels.describe()}^d, alpha {alpha.shape}")
    if problem.width is not None:
        v.add("width", alpha.shape[0] <= problem.width, f"{alpha.shape[0]} neurons, limit {problem.width}")
    if not np.all(np.isfinite(alpha)):
        v.add("alpha_finite", False, "alpha has NaN/inf")
        return v
    if on_grid:
        ub = objective_upper_bound(problem.X, problem.y, problem.activation, U, alpha, problem.beta)
        if not _finite(ub):
            v.add("upper_bound", False, "the network's objective overflows")
            return v
        v.verified_upper_bound = ub
        v.add("upper_bound", cert.upper_bound >= ub, f"claimed {cert.upper_bound!r} >= verified {ub!r}")
    # lower bound: certify rho_bar, then the scaling lemma
    if cert.w is None:
        # the squared loss and the l1 term are nonnegative, so J >= 0 is the trivial bound
        v.verified_lower_bound = 0.0
        v.add("lower_bound", cert.lower_bound <= 0.0, "no dual point: only the trivial bound 0 can be claimed")
    else:
        w = cert.w
        if w.shape != (problem.n,) or not np.all(np.isfinite(w)):
            v.add("dual_w", False, f"w must be a finite vector of length n = {problem.n}")
            return v
        Xb = problem.binary_design()
        Q, E = q_matrix_with_error(Xb, problem.activation, w)
        if cert.rho_certified_by == "shor":
            if cert.z_plus is not None and cert.z_minus is not None:
                rho_bar, why = shor_rho_bound(Q, E, cert.z_plus, cert.z_minus, cert.cuts_plus, cert.mu_plus,
                                              cert.cuts_minus, cert.mu_minus)
            else:
                rho_bar, why = None, "z_plus/z_minus missing"
        elif cert.rho_certified_by == "exact":
            rho_bar, why = exact_rho_bound(Q, E, problem.activation.is_even)
        else:
            rho_bar, why = None, f"unknown rho_certified_by {cert.rho_certified_by!r}"
        if rho_bar is not None and not _finite(rho_bar):
            rho_bar, why = None, "rho bound overflows"
        v.add("rho_certified", rho_bar is not None, why)
        if rho_bar is not None:
            v.rho_bar = rho_bar
            lb, s = scaled_dual_lower_bound(None, w, problem.y, rho_bar, problem.beta)
            v.verified_lower_bound = lb
            v.add("lower_bound", cert.lower_bound <= lb, f"claimed {cert.lower_bound!r} <= verified {lb!r} (s = {s!r}, rho_bar = {rho_bar!r})")
    if v.verified_lower_bound is not None and v.verified_upper_bound is not None:
        F = Fraction
        gap = F(v.verified_upper_bound) - F(v.verified_lower_bound)
        v.add("gap", math.isfinite(cert.gap) and F(cert.gap) >= gap, f"claimed {cert.gap!r} >= verified {float(gap)!r}")
        denom = max(abs(F(v.verified_upper_bound)), F(1e-12))
        rel = gap / denom
        v.add("relative_gap", math.isfinite(cert.relative_gap) and F(cert.relative_gap) >= rel,
              f"claimed {cert.relative_gap!r} >= verified {float(rel)!r}")
    return v
