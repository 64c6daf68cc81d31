"""Exact column generation (docs/math.md §9): certified global optima beyond full enumeration.

A thin adapter over certqnn.column_generation: the restricted master (the Lasso of docs/math.md
§3 over a working set of atoms, warm started) with two pricers, local search first (it runs as
long as it finds violators) and exact pricing (meet in the middle for small p, branch and bound
beyond) to finish. The stopping test is the certified relative gap: the scaling lemma (docs/math.md
§4) with the rho bound that the exact pricer proved, so the lower bound holds for every network
of any width.
"""
from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np

from ..column_generation import Budget, ExactPricer, LocalSearchPricer, PricingState, column_generation
from ..errors import InvalidProblemError, UnsupportedProblemError
from ..lifting import q_matrix
from ..limits import COLGEN_MAX_DIM, VERIFY_EXACT_MAX_DIM
from ..pricing import shor_shift
from ..problem import QNNProblem
from ..result import DualData, Result
from . import base
from .base import Backend, option, register
from .exact_lasso import check_count, result_from_run, supports_master

PRICING = ("auto", "mitm", "bnb")


@register
class ColumnGenerationBackend(Backend):
    name = "colgen"
    exact = True
    description = "exact: column generation, local-search + exact (meet in the middle / branch and bound) pricing"

    @dataclass(frozen=True, kw_only=True)
    class Options(base.Options):
        tol: float = option(1e-6, "target certified relative gap (scaling lemma with the certified rho)", parse=float)
        max_rounds: int = option(1000, "work budget: restricted-master solves (pricing rounds)")
        per_round: int = option(64, "atoms added per round")
        restarts: int = option(64, "random local-search starts per heuristic pricing call")
        max_atoms: int = option(1500, "working-set cap (unused atoms far from the dual constraint are dropped)")
        pricing: str = option("auto", "exact pricing: meet in the middle, branch and bound, or auto (by size)",
                              choices=PRICING)
        seed: int = option(0, "seed of the local-search starts")

        def validate(self):
            super().validate()
            base.check_positive("tol", self.tol)
            for name in ("max_rounds", "per_round", "restarts", "max_atoms"):
                check_count(name, getattr(self, name))
            base.check_choice("pricing", self.pricing, PRICING)
            if isinstance(self.seed, bool) or not isinstance(self.seed, (int, np.integer)) or self.seed < 0:
                raise InvalidProblemError("seed", f"must be a non-negative integer, got {self.seed!r}")

    def supports(self, problem: QNNProblem):
        p = problem.binary_dim
        if p > COLGEN_MAX_DIM:
            return False, (f"colgen prices exactly over 2^{p} sign vectors, beyond its limit d*bits <= "
                           f"{COLGEN_MAX_DIM}; use --backend sdp")
        return supports_master(problem)

    def run(self, problem: QNNProblem, options: Options) -> Result:
        ok, reason = self.supports(problem)
        if not ok:
            raise UnsupportedProblemError(reason)
        start = time.perf_counter()
        deadline = None if options.time_limit is None else start + options.time_limit
        Xb = problem.binary_design()
        act, loss = problem.activation, problem.loss
        local = LocalSearchPricer(options.restarts, np.random.default_rng(options.seed))
        # first working set: every local optimum of +-Q(grad L(0)) that local search meets
        Q0 = q_matrix(Xb, act, loss.gradient(np.zeros(problem.n), problem.y))
        seeds = local.price(Q0, PricingState(np.zeros((Xb.shape[1], 0)), -np.inf, options.per_round,
                                             act.is_even, deadline)).atoms
        budget = Budget(max_rounds=options.max_rounds, per_round=options.per_round, max_atoms=options.max_atoms,
                        deadline=deadline)
        run = column_generation(problem, [local, ExactPricer(options.pricing)], budget, tol=options.tol,
                                atoms0=seeds, Xb=Xb, desc="colgen")
        dual = DualData(w=run.w)
        if problem.binary_dim > VERIFY_EXACT_MAX_DIM:
            # rho cannot be enumerated by the verifier here: claim good Shor diagonals too,
            # z = mu + lambda_max(+-Q - Diag mu) 1, for a (looser) PSD certificate
            Q = q_matrix(Xb, act, run.w)
            _, mu_p = shor_shift(Q)
            _, mu_m = shor_shift(-Q)
            dual.z_plus = mu_p + np.linalg.eigvalsh(Q - np.diag(mu_p))[-1]
            dual.z_minus = mu_m + np.linalg.eigvalsh(-Q - np.diag(mu_m))[-1]
        return result_from_run(self.name, problem, run, start, dual)
