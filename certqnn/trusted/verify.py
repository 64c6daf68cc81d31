"""verify(certificate) -> Verdict: recompute every claim of a certificate from its data alone
(docs/math.md §8; proofs/rigorous_psd.md).

Nothing here imports a solver, a pricing heuristic or branch and bound: the checks use the trusted
core only (arith, psd, rho, enumerate, bounds, certificate) and the problem's own definition
(problem, losses, quantization, activations). Each check is *sound*: a floating-point error can
make a true certificate fail (then certify() adds margin), never make a false one pass.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from fractions import Fraction

import numpy as np

from .. import limits
from .arith import exact_gaps, float_above
from .bounds import exact_objective, objective_upper_bound, scaled_dual_lower_bound
from .certificate import Certificate
from .rho import exact_rho_bound, q_matrix_with_error, shor_rho_bound
from .tree import tree_rho_bound


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
    """Recompute every claim of a Certificate from its data alone.

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
    U, alpha = cert.U, cert.alpha
    on_grid = U.shape == (problem.d, alpha.shape[0]) and bool(np.all(problem.levels.contains(U)))
    v.add("network_on_grid", on_grid, f"U {U.shape} in {problem.levels.describe()}^d, alpha {alpha.shape}")
    if problem.width is not None:
        v.add("width", alpha.shape[0] <= problem.width, f"{alpha.shape[0]} neurons, limit {problem.width}")
    if not np.all(np.isfinite(alpha)):
        v.add("alpha_finite", False, "alpha has NaN/inf")
        return v
    if on_grid:
        ub = objective_upper_bound(problem.loss, problem.X, problem.y, problem.activation, U, alpha, problem.beta)
        if not _finite(ub):
            v.add("upper_bound", False, "the network's objective overflows")
            return v
        detail = f"claimed {cert.upper_bound!r} >= verified {ub!r}"
        if cert.upper_bound < ub and problem.n * problem.d * alpha.shape[0] <= limits.EXACT_OBJECTIVE_MAX_WORK:
            # the floating-point bound is a few ulps loose (and BLAS-dependent): decide exactly
            J = exact_objective(problem.loss, problem.X, problem.y, problem.activation, U, alpha, problem.beta)
            if J is not None and Fraction(cert.upper_bound) >= J:
                ub = float_above(J)
                detail = f"claimed {cert.upper_bound!r} >= J = {float(J)!r} (exact rational arithmetic)"
        v.verified_upper_bound = ub
        v.add("upper_bound", cert.upper_bound >= ub, detail)
    # lower bound: certify rho_bar, then the scaling lemma
    if cert.w is None:
        # the dual point 0 is always feasible: -L*(0) = inf_v L(v) is the trivial bound (0 for squared)
        lb = problem.loss.certified_dual_value(np.zeros(problem.n), problem.y, 0.0)
        if lb is None:
            v.add("lower_bound", False, "no dual point, and 0 is outside the domain of the loss's conjugate")
            return v
        v.verified_lower_bound = lb
        v.add("lower_bound", cert.lower_bound <= lb, f"no dual point: only the trivial bound {lb!r} can be claimed")
    else:
        w = cert.w
        if w.shape != (problem.n,) or not np.all(np.isfinite(w)):
            v.add("dual_w", False, f"w must be a finite vector of length n = {problem.n}")
            return v
        Q, E = q_matrix_with_error(problem.X, problem.activation, w, levels=problem.levels)
        if cert.rho_certified_by == "shor":
            if cert.z_plus is not None and cert.z_minus is not None:
                rho_bar, why = shor_rho_bound(Q, E, cert.z_plus, cert.z_minus, cert.cuts_plus, cert.mu_plus,
                                              cert.cuts_minus, cert.mu_minus)
            else:
                rho_bar, why = None, "z_plus/z_minus missing"
        elif cert.rho_certified_by == "exact":
            rho_bar, why = exact_rho_bound(Q, E, problem.activation.is_even)
        elif cert.rho_certified_by == "bnb-tree":
            if cert.tree is not None:
                rho_bar, why = tree_rho_bound(Q, E, cert.tree, problem.activation.is_even)
            else:
                rho_bar, why = None, "the branch-and-bound tree is missing"
        else:
            rho_bar, why = None, f"unknown rho_certified_by {cert.rho_certified_by!r}"
        if rho_bar is not None and not _finite(rho_bar):
            rho_bar, why = None, "rho bound overflows"
        v.add("rho_certified", rho_bar is not None, why)
        if rho_bar is not None:
            v.rho_bar = rho_bar
            lb, s = scaled_dual_lower_bound(problem.loss, w, problem.y, rho_bar, problem.beta)
            if lb is None:
                v.add("lower_bound", False, f"s w (s = {s!r}) is outside the domain of the {problem.loss.name} "
                                            "loss's conjugate: no bound from this dual point")
                return v
            v.verified_lower_bound = lb
            v.add("lower_bound", cert.lower_bound <= lb, f"claimed {cert.lower_bound!r} <= verified {lb!r} (s = {s!r}, rho_bar = {rho_bar!r})")
    if v.verified_lower_bound is not None and v.verified_upper_bound is not None:
        F = Fraction
        gap, rel = exact_gaps(v.verified_upper_bound, v.verified_lower_bound)
        v.add("gap", math.isfinite(cert.gap) and F(cert.gap) >= gap, f"claimed {cert.gap!r} >= verified {float(gap)!r}")
        v.add("relative_gap", math.isfinite(cert.relative_gap) and F(cert.relative_gap) >= rel,
              f"claimed {cert.relative_gap!r} >= verified {float(rel)!r}")
    return v
