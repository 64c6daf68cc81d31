"""Exact backend: p*_inf as the Lasso over all 2^p atoms (math §3), with an exact dual certificate.

The Lasso over all atoms is solved by an active set: a restricted Lasso over a working set of
atoms, then exact pricing of every atom (meet-in-the-middle over u~^T Q(w) u~, math §5) adds the
most violated ones, until max_u |phi_u^T w| <= beta (1 + tol). The final rho is computed by
enumeration, so the certificate's rho is exact (`rho_certified_by: "exact"`).
"""
from __future__ import annotations

import time

import numpy as np

from ..errors import UnsupportedProblemError
from ..lasso import refit
from ..lifting import neuron_outputs, q_matrix
from ..network import QuantizedNetwork
from ..pricing import quadratic_extremes
from ..problem import QNNProblem
from ..progress import progress
from ..result import DualData, Result, Status
from .base import Backend, register

MAX_ENUMERATION_DIM = 24     # binary variables per neuron (d * bits); 2^24 atoms per pricing


def working_set_lasso(problem: QNNProblem, Xb: np.ndarray, S0: np.ndarray | None = None, tol: float = 1e-8,
                      max_rounds: int = 200, per_round: int = 8, desc: str = "enumeration",
                      deadline: float | None = None):
    """Solve the Lasso over all atoms by exact pricing until the certified relative gap (scaling
    lemma with the exact rho) is <= tol. Returns (S, alpha, w, rho, rounds, converged).

    S: (p, k) +-1 atoms of the final working set; alpha: (k,); w: (n,) = grad L; rho = max |phi^T w|.
    """
    act, y, beta, loss = problem.activation, problem.y, problem.beta, problem.loss
    p = Xb.shape[1]
    w = loss.gradient(np.zeros(problem.n), y)
    if S0 is None:
        ext = quadratic_extremes(q_matrix(Xb, act, w), act.is_even, top=per_round)
        S = np.hstack([ext.argmax, ext.argmin])
    else:
        S = np.asarray(S0, float).reshape(p, -1)
    S = np.unique(S.T, axis=0).T
    alpha = None
    rho = np.inf
    converged = False
    rounds = 0
    with progress(total=None, desc=desc, unit="round") as bar:
        for rounds in range(1, max_rounds + 1):
            Phi = neuron_outputs(Xb, act, S)
            sol = refit(Phi, y, beta, loss, alpha0=alpha)
            alpha = sol.alpha
            w = loss.gradient(Phi @ alpha, y)
            ext = quadratic_extremes(q_matrix(Xb, act, w), act.is_even, top=per_round)
            rho = ext.rho
            s = loss.best_dual_scale(w, y, beta / rho if rho > 0 else np.inf)
            rel_gap = (sol.objective - loss.dual_value(s * w, y)) / max(abs(sol.objective), 1e-12)
            bar.set_postfix(rel_gap=f"{rel_gap:.2e}", atoms=S.shape[1], refresh=False)
            bar.update()
            if rel_gap <= tol:
                converged = True
                break
            if deadline is not None and time.perf_counter() > deadline:
                break
            candidates = np.hstack([ext.argmax, ext.argmin])
            values = neuron_outputs(Xb, act, candidates).T @ w
            known = {tuple(c) for c in S.T}
            new = [c for c, v in zip(candidates.T, values) if abs(v) > beta * (1 + 0.1 * tol) and tuple(c) not in known]
            if not new:
                break  # every violator is already in the working set: as accurate as it gets
            used = alpha != 0      # drop unused atoms: the working set stays small
            S = np.hstack([S[:, used], np.unique(np.array(new), axis=0).T])
            alpha = np.concatenate([alpha[used], np.zeros(S.shape[1] - int(used.sum()))])
    return S, alpha, w, rho, rounds, converged


@register
class EnumerationBackend(Backend):
    name = "enumeration"
    exact = True
    description = "exact: Lasso over all atoms, exact pricing by enumeration (small d)"

    def supports(self, problem: QNNProblem):
        p = problem.binary_dim
        if p > MAX_ENUMERATION_DIM:
            return False, (f"enumeration handles d*bits <= {MAX_ENUMERATION_DIM} binary variables per neuron, "
                           f"this problem has {p}; use --backend sdp")
        return True, ""

    def solve(self, problem: QNNProblem, tol: float = 1e-8, max_rounds: int = 200, time_limit: float | None = None,
              **options) -> Result:
        ok, reason = self.supports(problem)
        if not ok:
            raise UnsupportedProblemError(reason)
        start = time.perf_counter()
        Xb = problem.binary_design()
        deadline = None if time_limit is None else start + time_limit
        S, alpha, w, rho, rounds, converged = working_set_lasso(problem, Xb, tol=tol, max_rounds=max_rounds,
                                                                deadline=deadline)
        timed_out = not converged and deadline is not None and time.perf_counter() > deadline
        used = alpha != 0
        network = QuantizedNetwork(problem.levels.collapse(S[:, used]), alpha[used])
        unconstrained_support = network.width
        if problem.width is not None and network.width > problem.width:
            from .rounding import prune_to_width
            network = prune_to_width(problem, S[:, used], alpha[used])
        loss = problem.loss
        s = loss.best_dual_scale(w, problem.y, problem.beta / rho if rho > 0 else np.inf)
        lb = loss.dual_value(s * w, problem.y)
        ub = problem.objective(network.U, network.alpha)
        return Result(
            status=Status.OPTIMAL if converged else (Status.TIME_LIMIT if timed_out else Status.OPTIMAL_INACCURATE),
            backend=self.name, network=network, lower_bound=lb, upper_bound=ub,
            dual=DualData(w=w), iterations=rounds, seconds=time.perf_counter() - start,
            info={"rho": rho, "atoms_in_working_set": int(S.shape[1]), "rho_certified_by": "exact",
                  "unconstrained_support": int(unconstrained_support)},
        )
