"""Exact column generation (docs/math.md §9): certified global optima beyond full enumeration.

A thin adapter over certqnn.column_generation: the restricted master (the Lasso of docs/math.md
§3 over a working set of atoms, warm started) with two pricers, local search first (it runs as
long as it finds violators) and exact pricing (meet in the middle for small p, branch and bound
beyond) to finish. The stopping test is the certified relative gap: the scaling lemma (docs/math.md
§4) with the rho bound that the exact pricer proved, so the lower bound holds for every network
of any width.
"""
from __future__ import annotations

import math
import time
from dataclasses import dataclass

import numpy as np

from ..checks import check_choice, check_nonnegative_int, check_positive, check_positive_int
from ..column_generation import Budget, ExactPricer, LocalSearchPricer, PricingState, column_generation
from ..errors import UnsupportedProblemError
from ..gaps import dual_lower_bound, relative_gap
from ..lifting import q_matrix
from ..limits import COLGEN_MAX_DIM, TREE_ENUM_MAX_FREE, TREE_PROVE_MAX_LEAVES, VERIFY_EXACT_MAX_DIM
from ..pricing import shor_shift
from ..pricing.bnb import BNB_LEAF
from ..pricing.bnb_tree import TreeTooLarge, prove_rho
from ..problem import QNNProblem
from ..result import DualData, Result
from ..trusted.rho import q_matrix_with_error
from . import base
from .base import Backend, option, register
from .exact_lasso import result_from_run, supports_master

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
        tree_leaves: int = option(TREE_PROVE_MAX_LEAVES,
                                  "beyond d*bits = 32: certify rho(w) by a branch-and-bound proof tree of at most "
                                  "this many leaves, built after the run (certification work, not limited by the "
                                  "time limit); 0 or a larger tree: Shor diagonals instead (looser)")

        def validate(self):
            super().validate()
            check_positive("tol", self.tol)
            for name in ("max_rounds", "per_round", "restarts", "max_atoms"):
                check_positive_int(name, getattr(self, name))
            check_nonnegative_int("tree_leaves", self.tree_leaves)
            check_choice("pricing", self.pricing, PRICING)
            check_nonnegative_int("seed", self.seed)

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
        tree_facts, tree_seconds = {}, None
        if problem.binary_dim > VERIFY_EXACT_MAX_DIM:
            # rho cannot be enumerated by the verifier here: prove it by a branch-and-bound tree
            # (docs/math.md §5) on Q(w) formed as the verifier forms it; nodes below beta are
            # pruned (rho_bar = beta already allows the scale s = 1)
            Q, E = q_matrix_with_error(Xb, act, run.w)
            t0 = time.perf_counter()
            try:
                if options.tree_leaves <= 0:
                    raise TreeTooLarge("disabled (tree_leaves = 0)")
                proof = prove_rho(Q, E, act.is_even, threshold=problem.beta, leaf_size=min(BNB_LEAF, TREE_ENUM_MAX_FREE),
                                  max_leaves=options.tree_leaves, starts=run.S)
                dual.tree = proof.tree
                tree_facts = {"rho_tree_leaves": int(proof.leaves), "rho_tree_nodes": int(proof.nodes),
                              "rho_tree_bound": float(proof.rho_bar)}
            except TreeTooLarge as exc:
                tree_facts = {"rho_tree_fallback": f"{exc}; rho certified by Shor diagonals (looser)"}
            tree_seconds = time.perf_counter() - t0
        if dual.tree is None and problem.binary_dim > VERIFY_EXACT_MAX_DIM:
            # claim good Shor diagonals, z = mu + lambda_max(+-Q - Diag mu) 1, for a (looser) PSD certificate
            Q = q_matrix(Xb, act, run.w)
            _, mu_p = shor_shift(Q)
            _, mu_m = shor_shift(-Q)
            dual.z_plus = mu_p + np.linalg.eigvalsh(Q - np.diag(mu_p))[-1]
            dual.z_minus = mu_m + np.linalg.eigvalsh(-Q - np.diag(mu_m))[-1]
        result = result_from_run(self.name, problem, run, start, dual)
        if dual.tree is not None:
            result.rho_method = "bnb-tree"
            # the claim follows the proved rho (certify recomputes it): a run stopped before exact
            # pricing has no lower bound of its own, and `auto` picks dual points by this claim
            lb = dual_lower_bound(loss, run.w, problem.y, tree_facts["rho_tree_bound"], problem.beta)
            if math.isfinite(lb) and (result.lower_bound is None or lb > result.lower_bound):
                result.lower_bound = lb
                result.report["relative_gap"] = float(relative_gap(result.upper_bound, lb))
        result.report.update(tree_facts)
        if tree_seconds is not None:
            result.timings["rho_tree"] = tree_seconds
        return result
