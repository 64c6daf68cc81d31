"""Backend `frank-wolfe`: Frank-Wolfe over the quantized neurons (certqnn.fw, docs/math.md §10),
then an exact alpha refit over the atoms it found; certify() checks the dual point. Any smooth
loss (squared, logistic, squared hinge, Huber); hinge and absolute are refused in supports()."""
from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np

from ..errors import InvalidProblemError
from ..fw.centralized import FWRun, frank_wolfe, smooth_loss_support
from ..fw.finalize import best_dual_point, refit_network
from ..fw.lmo import LMOS
from ..fw.steps import FORMS, FW_STEPS, check_common, parse_tau
from ..network import QuantizedNetwork
from ..problem import QNNProblem
from ..result import DualData, Result, Status
from . import base


def fw_loss_support(problem: QNNProblem, name: str) -> tuple[bool, str]:
    """Frank-Wolfe needs a smooth loss (fw.centralized.smooth_loss_support): hinge and absolute are
    refused, naming the loss and the backends that handle them."""
    return smooth_loss_support(problem.loss, problem.y, name)


def fw_status(run, form: str) -> Status:
    """Optimal only when the gap closed with an exact LMO on the penalized form (it then bounds J - p*_inf)."""
    if run.timed_out:
        return Status.TIME_LIMIT
    return Status.OPTIMAL if run.converged and run.lmo_exact and form == "penalized" else Status.FEASIBLE


def fw_result(name: str, problem: QNNProblem, status: Status, network: QuantizedNetwork, support: int, w, lb, rho,
              report: dict, run, trajectory: dict | None, start: float) -> Result:
    """The Result of a Frank-Wolfe run (shared by frank-wolfe and dqsfw): the refit network with
    `support` atoms before pruning to the width, the dual point w (n,) with its scaling-lemma bound
    lb and exact rho when known (else None), the run's facts in `report`."""
    if rho is not None:
        report["rho"] = float(rho)
    return Result(status=status, backend=name, network=network, lower_bound=lb,
                  upper_bound=problem.objective(network.U, network.alpha), dual=DualData(w=np.asarray(w)),
                  iterations=run.iterations, seconds=time.perf_counter() - start,
                  rho_method=None,      # no PSD certificate of its own: certify() picks by size
                  support=support, report=report, trajectory=trajectory, time_limit_hit=run.timed_out)


@dataclass(frozen=True, kw_only=True)
class FrankWolfeOptions(base.Options):
    """The options both Frank-Wolfe backends (frank-wolfe, dqsfw) share."""

    form: str = base.option("penalized", "problem form: penalized (bounds J - p*) or bounded (|alpha|_1 <= tau)",
                            choices=FORMS, flag="--fw-form")
    tau: float | str | None = base.option(None, "l1 budget: a number, or 'adaptive' (default: adaptive when "
                                                "the LMO is exact -- dqsfw: and the loss quadratic -- else "
                                                "L(0)/beta)", parse=parse_tau)
    lmo: str = base.option("auto", "linear minimization oracle (auto: exact up to 22 binary variables)",
                           choices=LMOS)
    max_iter: int = base.option(1000, "iteration limit")
    tol: float = base.option(1e-6, "stop when the relative Frank-Wolfe gap is at most this")
    seed: int = base.option(0, "random seed (heuristic LMO; dqsfw: also sharding, minibatches, quantization)")
    history: bool = base.option(False, "record the per-iteration trajectory (objective, gap, ...) for plots")

    def check_history(self):
        if not isinstance(self.history, bool):
            raise InvalidProblemError("history", f"must be True or False, got {self.history!r}")


@base.register
class FrankWolfeBackend(base.Backend):
    name = "frank-wolfe"
    exact = False
    description = "Frank-Wolfe over quantized neurons (pricing-oracle LMO), final exact alpha refit"

    @dataclass(frozen=True, kw_only=True)
    class Options(FrankWolfeOptions):
        step: str = base.option("line_search", "step rule", choices=FW_STEPS)
        fully_corrective: bool = base.option(False, "re-optimize the weights over all atoms after each step "
                                                    "(form bounded: quadratic losses only)")

        def validate(self):
            super().validate()
            check_common(self.form, self.tau, self.step, FW_STEPS, self.lmo, self.max_iter, self.tol, self.time_limit,
                         self.seed)
            self.check_history()
            if not isinstance(self.fully_corrective, bool):
                raise InvalidProblemError("fully_corrective", f"must be True or False, got {self.fully_corrective!r}")

    def supports(self, problem: QNNProblem):
        return fw_loss_support(problem, self.name)

    def run(self, problem: QNNProblem, options: Options) -> Result:
        o = options
        start = time.perf_counter()
        run: FWRun = frank_wolfe(problem, form=o.form, tau=o.tau, lmo=o.lmo, step=o.step,
                                 fully_corrective=o.fully_corrective, max_iter=o.max_iter, tol=o.tol,
                                 time_limit=o.time_limit, seed=o.seed, history=o.history)
        refit = refit_network(problem, run.S, np.abs(run.alpha))
        w, lb, rho = best_dual_point(problem, [refit.w, run.best_w])
        report = {"fw_gap": run.gap, "fw_objective": run.objective, "fw_dual_bound": run.dual_bound,
                  "fw_status": run.status, "form": o.form, "step": o.step, "tau": float(run.tau),
                  "adaptive_tau": run.adaptive_tau, "lmo": "exact" if run.lmo_exact else "heuristic",
                  "gap_is_certified": run.lmo_exact, "atoms_found": int(run.S.shape[1])}
        return fw_result(self.name, problem, fw_status(run, o.form), refit.network, refit.support, w, lb, rho,
                         report, run, run.history if o.history else None, start)
