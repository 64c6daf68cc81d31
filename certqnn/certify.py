"""certify(problem, result) -> Certificate: turn a backend's claim into verified numbers (math §8).

Nothing in the Result is trusted: the upper bound is recomputed from the data with rounding that
can only raise it; the dual point is *repaired* (the diagonal z is shifted until the rigorous PSD
test of verify.py passes) and the lower bound comes from the scaling lemma (math §4), so a bad or
early-stopped solver only loosens the bound. The finished certificate is re-verified before it
is returned.
"""
from __future__ import annotations

from fractions import Fraction

import numpy as np

from . import __version__
from .errors import CertQNNError, SolverError
from .problem import QNNProblem
from .result import Result
from .trusted.arith import up
from .trusted.bounds import objective_upper_bound, scaled_dual_lower_bound
from .trusted.certificate import Certificate
from .trusted.psd import is_psd_rigorous, psd_margin_needed
from .trusted.rho import exact_rho_bound, q_matrix_with_error, shor_rho_bound, shor_side_matrix
from .trusted.verify import verify

EXACT_RHO_DEFAULT_DIM = 16     # below this, exact enumeration of rho is cheaper than trusting z


def repair_diagonal(Q: np.ndarray, E: np.ndarray, z: np.ndarray | None, sign: float, cuts=None, mu=None) -> np.ndarray:
    """Smallest uniform shift of z (or of a lambda_max-based z when z is None) such that
    Diag(z) - sum mu_T E_T - sign*Q passes the rigorous PSD test of verify.py. Shape (p+1,)."""
    D = Q.shape[0]
    if z is None or not np.all(np.isfinite(z)):
        z = np.full(D, float(np.linalg.eigvalsh(sign * Q)[-1]))
    z = np.asarray(z, float).copy()
    for attempt in range(60):
        M, EM = shor_side_matrix(Q, E, z, sign, cuts, mu)
        ok, _ = is_psd_rigorous(M, EM)
        if ok:
            return z
        lam = float(np.linalg.eigvalsh(M)[0])
        margin = 4.0 * psd_margin_needed(M, EM) * (2.0 ** attempt) + 1e-300
        z = z + max(margin - lam, margin)
    raise CertQNNError("could not repair the dual diagonal (matrix too ill-conditioned)")


def _round_up(fr: Fraction) -> float:
    f = float(fr)
    return f if Fraction(f) >= fr else up(f)


def certify(problem: QNNProblem, result: Result, rho: str | None = None, embed_data: bool = True,
            exact_value: float | None = None) -> Certificate:
    """Build and verify a Certificate for `result` on `problem`.

    rho: "shor" (use and repair the result's z), "exact" (enumerate), or None (the result's own
    method; exact for tiny problems without z). exact_value: p*_inf when known, for the report.
    """
    net = result.network
    if net is None:
        raise SolverError(f"backend {result.backend} returned no network")
    U, alpha = net.U, net.alpha
    Xb = problem.binary_design()
    act, loss, y = problem.activation, problem.loss, problem.y
    ub = objective_upper_bound(loss, problem.X, y, act, U, alpha, problem.beta)
    w = result.dual.w if result.dual is not None else None
    if w is None:
        w = loss.gradient(net.predict(problem.X, act), y)
    w = np.asarray(w, float)
    Q, E = q_matrix_with_error(Xb, act, w)
    method = rho or result.info.get("rho_certified_by")
    has_z = result.dual is not None and result.dual.z_plus is not None and result.dual.z_minus is not None
    if method is None:
        method = "exact" if (problem.binary_dim <= EXACT_RHO_DEFAULT_DIM or not has_z) and problem.binary_dim <= 20 else "shor"
    zp = zm = None
    dual = result.dual
    cuts = {}
    if has_z and dual.cuts_plus is not None and len(dual.cuts_plus):
        cuts["plus"] = (np.asarray(dual.cuts_plus, dtype=np.int64), np.clip(np.asarray(dual.mu_plus, float), 0, None))
    if has_z and dual.cuts_minus is not None and len(dual.cuts_minus):
        cuts["minus"] = (np.asarray(dual.cuts_minus, dtype=np.int64), np.clip(np.asarray(dual.mu_minus, float), 0, None))
    if method == "exact":
        rho_bar, _ = exact_rho_bound(Q, E, act.is_even)
        if rho_bar is None:
            method = "shor"
    if method == "shor":
        cp, mp = cuts.get("plus", (None, None))
        cm, mm = cuts.get("minus", (None, None))
        zp = repair_diagonal(Q, E, dual.z_plus if has_z else None, +1.0, cp, mp)
        zm = repair_diagonal(Q, E, dual.z_minus if has_z else None, -1.0, cm, mm)
        rho_bar, why = shor_rho_bound(Q, E, zp, zm, cp, mp, cm, mm)
        if rho_bar is None:
            raise CertQNNError(f"repaired dual point failed verification: {why}")
    lb, scale = scaled_dual_lower_bound(loss, w, y, rho_bar, problem.beta)
    if lb is None:
        raise CertQNNError(f"the dual point is outside the domain of the {loss.name} loss's conjugate")
    gap = Fraction(ub) - Fraction(lb)
    rel = gap / max(abs(Fraction(ub)), Fraction(1e-12))
    tightness = _tightness(problem, result, ub, lb, rho_bar, exact_value)
    doc = {"activation": act.as_list(), "levels": problem.levels.to_json(), "loss": loss.name,
           "beta": problem.beta, "width": problem.width}
    if embed_data:
        doc = {"X": problem.X.tolist(), "y": problem.y.tolist(), **doc}
    cert = Certificate(doc, U, alpha, w, zp, zm, method, ub, lb, _round_up(gap), _round_up(rel), tightness,
                       result.backend, float(result.seconds), __version__, problem.data_hash())
    if method == "shor":
        cert.cuts_plus, cert.mu_plus = cuts.get("plus", (None, None))
        cert.cuts_minus, cert.mu_minus = cuts.get("minus", (None, None))
    if not embed_data:
        cert.problem_doc = doc
    verdict = verify(cert, data=None if embed_data else (problem.X, problem.y))
    if not verdict.ok:
        raise CertQNNError("internal error: a freshly built certificate failed verification: "
                           + "; ".join(f"{c.name}: {c.detail}" for c in verdict.failed))
    return cert


def _tightness(problem, result, ub, lb, rho_bar, exact_value) -> dict:
    report = {"rho_bar_over_beta": rho_bar / problem.beta, "width": int(result.network.width)}
    rel = result.relaxation or {}
    if "value" in rel:
        report["sdp_value"] = rel["value"]
        report["rounding_gap"] = ub - rel["value"]
    for key in ("block_plus", "block_minus"):
        if key in result.info:
            report[key] = result.info[key]
    if exact_value is not None:
        report["exact_value"] = exact_value
        if "sdp_value" in report:
            report["relaxation_gap"] = exact_value - report["sdp_value"]
    if problem.width is not None:
        report["width_limit"] = problem.width
        support = result.info.get("unconstrained_support")
        if support is not None:
            report["unconstrained_support"] = support
            # the p*_inf bound is also a bound for width m; when the unconstrained optimum already
            # fits in m neurons, the width-m network is certified optimal by the same gap
            report["width_limit_is_inactive"] = bool(support <= problem.width)
    for key in ("solver_status", "engine", "rho", "shor_bound", "strengthened_bound", "cuts_added", "cut_rounds"):
        if key in result.info:
            report[key] = result.info[key]
    return report
