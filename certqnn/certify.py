"""certify(problem, result) -> Certificate: turn a backend's claim into verified numbers (docs/math.md §8).

Nothing in the Result is trusted: the upper bound is recomputed from the data with rounding that
can only raise it; the dual point is *repaired* (the diagonal z is shifted until the rigorous PSD
test of verify.py passes) and the lower bound comes from the scaling lemma (docs/math.md §4), so a bad or
early-stopped solver only loosens the bound. The finished certificate is re-verified before it
is returned.
"""
from __future__ import annotations


import numpy as np

from . import __version__, limits
from .errors import CertQNNError, InvalidProblemError, SolverError
from .problem import QNNProblem
from .result import Result
from .trusted.arith import exact_gaps, float_above, up
from .trusted.bounds import objective_upper_bound, scaled_dual_lower_bound
from .trusted.certificate import Certificate
from .trusted.psd import is_psd_rigorous, psd_margin_needed
from .trusted.rho import exact_rho_bound, q_matrix_with_error, shor_rho_bound, shor_side_matrix
from .trusted.tree import tree_rho_bound
from .trusted.verify import verify

# The claimed upper bound carries this relative slack above the rigorous bound computed here, so
# that a verifier whose BLAS sums in another order (a few ulps apart) still accepts it.
UPPER_BOUND_SLACK = 1e-13


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


def certify(problem: QNNProblem, result: Result, rho: str | None = None, embed_data: bool = True,
            exact_value: float | None = None) -> Certificate:
    """Build and verify a Certificate for `result` on `problem`.

    rho: how to certify rho(w): "shor" (repair and use the result's z), "exact" (enumerate),
    "bnb-tree" (the result's branch-and-bound proof tree, or one built here; docs/math.md §5),
    or None (the result's rho_method; by size when the backend leaves it open). A tree that fails
    or cannot be built within limits.TREE_PROVE_MAX_LEAVES falls back to "shor", and the
    certificate's tightness section says why (rho_tree_fallback).
    exact_value: p*_inf when known, for the tightness report.
    """
    if rho not in (None, "shor", "exact", "bnb-tree"):
        raise InvalidProblemError("rho", f"unknown method {rho!r}; use 'shor', 'exact', 'bnb-tree' or None")
    net = result.network
    if net is None:
        raise SolverError(f"backend {result.backend} returned no network")
    U, alpha = net.U, net.alpha
    act, loss, y = problem.activation, problem.loss, problem.y
    ub = objective_upper_bound(loss, problem.X, y, act, U, alpha, problem.beta)
    ub = up(ub * (1 + UPPER_BOUND_SLACK))
    w = result.dual.w if result.dual is not None else None
    if w is None:
        w = loss.gradient(net.predict(problem.X, act), y)
    w = np.asarray(w, float)
    Q, E = q_matrix_with_error(problem.X, act, w, levels=problem.levels)   # expanded block by block
    p = problem.binary_dim
    dual = result.dual
    has_z = dual is not None and dual.z_plus is not None and dual.z_minus is not None
    method = rho or result.rho_method
    if method is None:
        prefer_exact = p <= limits.CERTIFY_PREFER_EXACT_DIM or not has_z
        method = "exact" if prefer_exact and p <= limits.CERTIFY_EXACT_RHO_MAX_DIM else "shor"
    tree = getattr(dual, "tree", None) if dual is not None else None
    if method == "exact" and p > limits.VERIFY_EXACT_MAX_DIM and tree is not None:
        method = "bnb-tree"             # the verifier cannot enumerate this rho; the backend's tree proves it
    tree_note = {}
    if method == "bnb-tree":
        rho_bar, tree, tree_note = _tree_rho(Q, E, act.is_even, tree)
        if rho_bar is None:
            method = "shor"
    zp = zm = None
    cuts = {}
    for side in ("plus", "minus"):
        c = getattr(dual, f"cuts_{side}", None) if has_z else None
        if c is not None and len(c):
            cuts[side] = (np.asarray(c, dtype=np.int64), np.clip(np.asarray(getattr(dual, f"mu_{side}"), float), 0, None))
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
        raise CertQNNError(f"the dual point lies outside the domain of the {loss.name} loss's conjugate")
    gap, rel = exact_gaps(ub, lb)
    tightness = _tightness(problem, result, ub, lb, rho_bar, exact_value)
    tightness.update(tree_note)
    doc = {"activation": act.as_list(), "levels": problem.levels.to_json(), "loss": loss.spec,
           "beta": problem.beta, "width": problem.width}
    if embed_data:
        # the arrays themselves (read-only, validated): Certificate writes them block by block
        doc = {"X": problem.X, "y": problem.y, **doc}
    cert = Certificate(doc, U, alpha, w, zp, zm, method, ub, lb, float_above(gap), float_above(rel), tightness,
                       result.backend, None, __version__, problem.data_hash())
    if method == "shor":
        cert.cuts_plus, cert.mu_plus = cuts.get("plus", (None, None))
        cert.cuts_minus, cert.mu_minus = cuts.get("minus", (None, None))
    if method == "bnb-tree":
        cert.tree = tree
    if not embed_data:
        cert.problem_doc = doc
    verdict = verify(cert, data=None if embed_data else (problem.X, problem.y))
    if not verdict.ok:
        raise CertQNNError("internal error: a freshly built certificate failed verification: "
                           + "; ".join(f"{c.name}: {c.detail}" for c in verdict.failed))
    return cert


def _tree_rho(Q, E, even, tree):
    """(rho_bar | None, tree, note): check the backend's proof tree with the verifier's own test, or
    build one (certqnn.pricing.bnb_tree) when there is none; None with the reason in note otherwise."""
    if tree is not None:
        rho_bar, why = tree_rho_bound(Q, E, tree, even)
        if rho_bar is None:
            return None, None, {"rho_tree_fallback": f"the backend's proof tree failed: {why}"}
        return rho_bar, tree, {"rho_tree_leaves": int(tree.leaves)}
    from .pricing.bnb_tree import TreeTooLarge, prove_rho

    if Q.shape[0] < 2:
        return None, None, {"rho_tree_fallback": "no binary variables"}
    try:
        proof = prove_rho(Q, E, even, max_leaves=limits.TREE_PROVE_MAX_LEAVES)
    except TreeTooLarge as exc:
        return None, None, {"rho_tree_fallback": str(exc)}
    return proof.rho_bar, proof.tree, {"rho_tree_leaves": int(proof.leaves)}


def _tightness(problem, result, ub, lb, rho_bar, exact_value) -> dict:
    """The certificate's tightness section: what certify measured, then the backend's report."""
    report = {"rho_bar_over_beta": rho_bar / problem.beta, "width": int(result.network.width),
              "status": str(result.status)}
    if result.time_limit_hit:
        report["time_limit_hit"] = True
    rel = result.relaxation or {}
    if "value" in rel:
        report["sdp_value"] = rel["value"]
        report["rounding_gap"] = ub - rel["value"]
    if exact_value is not None:
        report["exact_value"] = exact_value
        if "sdp_value" in report:
            report["relaxation_gap"] = exact_value - report["sdp_value"]
    if problem.width is not None:
        report["width_limit"] = problem.width
        if result.support is not None:
            report["unconstrained_support"] = int(result.support)
            # the p*_inf bound is also a bound for width m; when the unconstrained optimum already
            # fits in m neurons, the width-m network is certified optimal by the same gap
            report["width_limit_is_inactive"] = bool(result.support <= problem.width)
    for key, value in result.report.items():
        report.setdefault(key, value)
    return report
