"""What the exact Lasso backends (enumeration, colgen) share: the loss test of their restricted
master, integer option checks, and the Result claimed from a column-generation run."""
from __future__ import annotations

import math
import time

from ..column_generation import ColumnGenerationRun
from ..gaps import relative_gap
from ..losses import master_model
from ..problem import QNNProblem
from ..result import DualData, Result, Status
from ..rounding import network_from_atoms


def supports_master(problem: QNNProblem) -> tuple[bool, str]:
    """The restricted master (lasso.l1_fit) models every loss whose model it knows: quadratic,
    smooth and piecewise linear (docs/math.md §3)."""
    if master_model(problem.loss, problem.y) is None:
        return False, (f"the Lasso master models quadratic, smooth and piecewise-linear losses; the "
                       f"{problem.loss.spec!r} loss declares none (loss.model) and is not quadratic")
    return True, ""


def _json_float(x) -> float | None:
    return float(x) if x is not None and math.isfinite(x) else None


def result_from_run(name: str, problem: QNNProblem, run: ColumnGenerationRun, start: float,
                    dual: DualData | None = None) -> Result:
    """The claim of an exact Lasso run: its network (pruned to problem.width by
    rounding.prune_to_width, the one pruning path), the scaling-lemma lower bound with the exact
    (or certified) rho, rho_method "exact", the unconstrained support, and a JSON-safe report.
    dual: the dual point to claim (default: the run's w)."""
    network = network_from_atoms(problem, run.S, run.alpha)
    support = int(run.S.shape[1])
    pruned = problem.width is not None and support > problem.width
    ub = problem.objective(network.U, network.alpha)
    lb = run.lower_bound
    if run.stop == "converged":
        # pruned: the lower bound is p*_inf's, not the width-m optimum's
        status = Status.FEASIBLE if pruned else Status.OPTIMAL
    elif run.stop == "time_limit":
        status = Status.TIME_LIMIT
    else:
        status = Status.OPTIMAL_INACCURATE
    report = {"rho": _json_float(run.rho), "rho_upper_bound": _json_float(run.rho_upper_bound),
              "best_lower_bound": _json_float(run.best_lower_bound),
              "relative_gap": _json_float(relative_gap(ub, lb)) if lb is not None else None,
              "atoms": int(network.width), "atoms_in_working_set": run.working_set, "pruned_to_width": bool(pruned),
              "rounds": run.rounds, "stop": run.stop,
              **{k: int(v) for k, v in run.stats.items() if not k.endswith("_seconds")}}
    timings = {k.removesuffix("_seconds"): float(v) for k, v in run.stats.items() if k.endswith("_seconds")}
    return Result(status=status, backend=name, network=network, lower_bound=lb, upper_bound=ub,
                  dual=dual if dual is not None else DualData(w=run.w), iterations=run.rounds,
                  seconds=time.perf_counter() - start, rho_method="exact", support=support, report=report,
                  timings=timings, time_limit_hit=run.time_limit_hit)
