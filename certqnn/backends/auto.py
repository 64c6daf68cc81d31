"""Backend `auto`: picks the methods by problem size and returns one claim with the best network
and the best dual point of the methods it ran (each half is checked on its own by certify/verify:
the upper bound from the network, the lower bound from the dual point).

Plan (p = d * bits binary variables per neuron, certqnn.limits):
  p <= CERTIFY_PREFER_EXACT_DIM       enumeration (exact, milliseconds to seconds)
  p <= VERIFY_EXACT_MAX_DIM           colgen (exact pricing is affordable and verify enumerates rho)
  otherwise                           sdp (the Shor bound, then the network from the relaxation:
                                      Grothendieck samples and heuristic column generation, a work
                                      budget, certqnn.rounding), then colgen (exact pricing by branch
                                      and bound) only when p <= COLGEN_MAX_DIM and a time limit bounds
                                      it; frank-wolfe when the sdp backend does not support the problem
Under a time limit the sdp backend also strengthens its bound by triangle cuts when its conic data
fits the scs engine (separation rounds start in the first quarter of the limit only), and its
rounding's pricing rounds are not counted (TIME_LIMITED_PRICING_ROUNDS): they go on until the limit
or until they stop finding better atoms, and colgen gets what is left. Measured with
--time-limit 600 (docs/math.md §7): more rounds improve the network more than colgen does in the
same time (digits: 2.363 against 2.420), and the cuts raise the bound (synthetic 1000 x 50: 0.04653
against 0.04569).
A method that does not support the problem (its loss or size) is skipped and named in the report.
"""
from __future__ import annotations

import math
import time
from dataclasses import dataclass

from .. import limits
from ..checks import check_nonnegative_int, check_positive
from ..errors import UnsupportedProblemError
from ..problem import QNNProblem
from ..result import Result, Status
from . import base
from .base import get_backend, option, register
from .sdp import conic_data_fits


# the sdp rounding's pricing rounds under a time limit: a budget the limit always ends first
TIME_LIMITED_PRICING_ROUNDS = 1_000_000


def plan(problem: QNNProblem, time_limit: float | None) -> list[str]:
    """The backends auto runs on this problem, in order."""
    p = problem.binary_dim
    if p <= limits.CERTIFY_PREFER_EXACT_DIM:
        return ["enumeration", "colgen"]
    if p <= limits.VERIFY_EXACT_MAX_DIM:
        return ["colgen", "sdp"]
    # the sdp backend decides what it can solve (and picks its engine by size): ask it, not a limit here
    methods = ["sdp"] if get_backend("sdp").supports(problem)[0] else ["frank-wolfe"]
    if p <= limits.COLGEN_MAX_DIM and time_limit is not None:
        methods.append("colgen")
    return methods


@register
class AutoBackend(base.Backend):
    name = "auto"
    exact = False
    description = ("picks by size (enumeration, colgen, sdp) and keeps the best network and the best dual "
                   "point of the methods it ran")

    @dataclass(frozen=True, kw_only=True)
    class Options(base.Options):
        seed: int = option(0, "random seed of the methods that sample (sdp, colgen's local search)")
        tol: float = option(1e-6, "target certified relative gap of the exact methods", parse=float)

        def validate(self):
            super().validate()
            check_positive("tol", self.tol)
            check_nonnegative_int("seed", self.seed)

    def supports(self, problem: QNNProblem):
        methods = [m for m in plan(problem, None) if get_backend(m).supports(problem)[0]]
        if not methods:
            return False, f"none of {', '.join(plan(problem, None))} supports this problem"
        return True, ""

    def run(self, problem: QNNProblem, options: Options) -> Result:
        start = time.perf_counter()
        deadline = None if options.time_limit is None else start + options.time_limit
        results, skipped = [], {}
        for name in plan(problem, options.time_limit):
            be = get_backend(name)
            ok, reason = be.supports(problem)
            if not ok:
                skipped[name] = reason
                continue
            given = {"seed": options.seed, "tol": options.tol}
            declared = base.declared_options(be.Options)
            kwargs = {k: v for k, v in given.items() if k in declared}
            if deadline is not None:
                left = deadline - time.perf_counter()
                if left <= 0:
                    skipped[name] = "the time limit was spent by the methods before it"
                    continue
                kwargs["time_limit"] = left
                if name == "sdp":
                    kwargs["pricing_rounds"] = TIME_LIMITED_PRICING_ROUNDS
                    if conic_data_fits(problem):
                        kwargs["cuts"] = "triangle"
            result = be.solve(problem, **kwargs)
            results.append(result)
            if be.exact and result.status == Status.OPTIMAL:
                break                 # certified optimal: nothing left for another method to improve
        if not results:
            raise UnsupportedProblemError("auto: " + "; ".join(f"{k}: {v}" for k, v in skipped.items()))
        with_network = [r for r in results if r.network is not None and r.network.width > 0] or results
        best_network = min(with_network, key=lambda r: problem.objective(r.network.U, r.network.alpha))
        with_bound = [r for r in results if r.lower_bound is not None and math.isfinite(r.lower_bound)]
        best_dual = max(with_bound, key=lambda r: r.lower_bound) if with_bound else best_network
        report = {"methods": [r.backend for r in results], "skipped": skipped,
                  "upper_bound_from": best_network.backend, "lower_bound_from": best_dual.backend,
                  **{f"{r.backend}_status": str(r.status) for r in results}}
        report.update({k: v for k, v in best_dual.report.items() if k not in report})
        return Result(
            status=best_dual.status if best_dual is best_network else Status.FEASIBLE,
            backend=self.name, network=best_network.network, lower_bound=best_dual.lower_bound,
            upper_bound=problem.objective(best_network.network.U, best_network.network.alpha),
            dual=best_dual.dual, relaxation=best_dual.relaxation, iterations=sum(r.iterations for r in results),
            seconds=time.perf_counter() - start, rho_method=best_dual.rho_method,
            support=best_network.support, report=report,
            # each method's total, and its own stages as "method.stage" (the CLI's time line)
            timings={**{r.backend: r.seconds for r in results},
                     **{f"{r.backend}.{k}": v for r in results for k, v in (r.timings or {}).items()}},
            time_limit_hit=any(r.time_limit_hit for r in results))
