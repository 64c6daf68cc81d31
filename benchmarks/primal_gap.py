"""How good is the default run's network (the primal side of `sdp`, which `auto` runs for p > 32)
against the best network any backend finds with a long wall-clock budget?

For each problem this runs
  default      certqnn.solve(problem, "sdp") with its default work budget: the Shor bound (LB) and
               the network from the relaxation (UB); times: the SDP solve and the whole run
  auto         the plan `auto` would run (printed; it is "sdp" here, so the numbers are the same run)
  reference    the best UB found by: colgen --time-limit R, sdp with an unbounded pricing budget
               and --time-limit R (default rough masters, which stop at the working-set cap, and
               exact masters), and ste (default width) followed by the exact alpha refit
and reports the default UB's excess over the reference, (UB - UB_ref) / UB_ref, next to the
certified relative gap (UB - LB) / UB.

Problems (binary weights, sigma(t) = t^2, squared loss, beta = 1):
  synthetic   `certqnn solve synthetic:n=1000,d=50,seed=0` (standardized as the CLI loads it;
              near-interpolation: the optimum has ~n neurons)
  random      X ~ N(0, I)/sqrt(d), y ~ N(0, 1) (numpy default_rng(0)), not standardized: the
              regime of a 30-50 % Shor gap

    python benchmarks/primal_gap.py                         # R = 600 s per reference method
    python benchmarks/primal_gap.py --reference-seconds 0   # the default run only
    python benchmarks/primal_gap.py --problems random --reference-seconds 120

Timings are wall clock on whatever else the machine is running; on a shared 2-core machine they
vary by 2x between runs.
"""
from __future__ import annotations

import argparse
import math
import os
import sys
import time

import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))

PROBLEMS = ("synthetic", "random")


def make_problem(kind: str, n: int, d: int):
    from certqnn import QNNProblem
    from certqnn.datasets import load

    if kind == "synthetic":
        data = load(f"synthetic:n={n},d={d},seed=0")
        return QNNProblem(data.X, data.y)
    if kind == "random":
        rng = np.random.default_rng(0)
        return QNNProblem(rng.standard_normal((n, d)) / np.sqrt(d), rng.standard_normal(n))
    raise SystemExit(f"unknown problem {kind!r}: use {', '.join(PROBLEMS)}")


def ub_of(problem, result) -> float:
    net = result.network
    return problem.objective(net.U, net.alpha) if net is not None and net.width else math.inf


def reference_runs(problem, seconds: float):
    """(name, UB, seconds) of the long runs."""
    from certqnn import solve
    from certqnn.heuristics.refit import refit_alpha

    out = []
    for name, backend, opts in (("colgen", "colgen", {"time_limit": seconds}),
                                ("sdp long", "sdp", {"time_limit": seconds, "pricing_rounds": 100_000}),
                                ("sdp long, exact masters", "sdp", {"time_limit": seconds, "pricing_rounds": 100_000,
                                                                   "master_steps": 0})):
        t0 = time.perf_counter()
        r = solve(problem, backend, **opts)
        out.append((f"{name} ({seconds:g} s)", ub_of(problem, r), time.perf_counter() - t0))
    t0 = time.perf_counter()
    r = solve(problem, "ste", time_limit=seconds)
    fit = refit_alpha(problem, r.network.U, r.network.alpha)
    out.append(("ste + refit", fit.objective, time.perf_counter() - t0))
    return out


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--problems", default=",".join(PROBLEMS))
    ap.add_argument("--n", type=int, default=1000)
    ap.add_argument("--d", type=int, default=50)
    ap.add_argument("--reference-seconds", type=float, default=600.0, help="0: no reference runs")
    args = ap.parse_args(argv)
    from certqnn import solve
    from certqnn.backends.auto import plan
    from certqnn.progress import set_enabled

    set_enabled(False)
    print(f"n={args.n}, d={args.d}, beta=1, binary, sigma=t^2, squared loss; {os.cpu_count()} cores")
    for kind in args.problems.split(","):
        problem = make_problem(kind, args.n, args.d)
        t0 = time.perf_counter()
        r = solve(problem, "sdp")
        total = time.perf_counter() - t0
        ub, lb = ub_of(problem, r), r.lower_bound
        print(f"\n{kind}: auto's plan {plan(problem, None)}")
        print(f"  default sdp: LB {lb:.6g}  UB {ub:.6g}  rel. gap {(ub - lb) / ub:.3f}  width {r.network.width}  "
              f"SDP {r.timings['sdp']:.1f} s, total {total:.1f} s  (pricing stop: {r.report.get('pricing_stop')})")
        if args.reference_seconds > 0:
            refs = reference_runs(problem, args.reference_seconds)
            for name, value, seconds in refs:
                print(f"  reference {name:<32} UB {value:.6g}  ({seconds:.0f} s)")
            best = min(min(v for _, v, _ in refs), ub)
            print(f"  best UB {best:.6g}; default UB excess over it {(ub - best) / best:.2%} "
                  f"(target <= 1 %); best bracket rel. gap {(best - lb) / best:.3f}")


if __name__ == "__main__":
    main()
