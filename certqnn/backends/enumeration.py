"""Exact backend: p*_inf as the Lasso over all 2^p atoms (docs/math.md §3) with an exact dual bound.

A thin adapter over certqnn.column_generation: the restricted master over a working set of atoms,
and one exact pricer, meet in the middle over u~^T Q(w) u~ (docs/math.md §5), that adds the most
violated atoms until the certified relative gap (scaling lemma with the exact rho) is <= tol.
"""
from __future__ import annotations

import time
from dataclasses import dataclass

from ..checks import check_positive, check_positive_int
from ..column_generation import Budget, ExactPricer, column_generation
from ..errors import UnsupportedProblemError
from ..limits import ENUMERATION_BACKEND_MAX_DIM
from ..problem import QNNProblem
from ..result import Result
from . import base
from .base import Backend, option, register
from .exact_lasso import result_from_run, supports_master


@register
class EnumerationBackend(Backend):
    name = "enumeration"
    exact = True
    description = "exact: Lasso over all atoms, exact pricing by enumeration (small d)"

    @dataclass(frozen=True, kw_only=True)
    class Options(base.Options):
        tol: float = option(1e-8, "target certified relative gap (scaling lemma with the exact rho)", parse=float)
        max_rounds: int = option(200, "work budget: restricted-master solves (pricing rounds)")
        per_round: int = option(8, "atoms added per round (the most violated of each sign)")

        def validate(self):
            super().validate()
            check_positive("tol", self.tol)
            for name in ("max_rounds", "per_round"):
                check_positive_int(name, getattr(self, name))

    def supports(self, problem: QNNProblem):
        p = problem.binary_dim
        if p > ENUMERATION_BACKEND_MAX_DIM:
            return False, (f"enumeration handles d*bits <= {ENUMERATION_BACKEND_MAX_DIM} binary variables per neuron, "
                           f"this problem has {p}; use --backend colgen or sdp")
        return supports_master(problem)

    def run(self, problem: QNNProblem, options: Options) -> Result:
        ok, reason = self.supports(problem)
        if not ok:
            raise UnsupportedProblemError(reason)
        start = time.perf_counter()
        deadline = None if options.time_limit is None else start + options.time_limit
        budget = Budget(max_rounds=options.max_rounds, per_round=options.per_round, deadline=deadline)
        run = column_generation(problem, [ExactPricer("mitm")], budget, tol=options.tol, desc="enumeration")
        return result_from_run(self.name, problem, run, start)

