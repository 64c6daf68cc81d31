"""Fixed-width certification: certqnn vs SCIP (PySCIPOpt) as a global MINLP solver.

Problem: width m = 2, binary weights, sigma(t) = t^2, squared loss, n = 15 samples, d = 4, 6, 8.
SCIP gets the exact MINLP (u in {-1,1}^{d x m}, alpha in R^m, nonconvex polynomial objective) with
a 120 s limit and reports its own primal/dual bounds. certqnn runs the exact `enumeration`
backend with --width m: the returned network has <= m neurons, its certified lower bound is
p*_inf (valid for every width), and the report says whether the width limit is inactive.

    pip install pyscipopt      # benchmark-only dependency
    python benchmarks/scip_width.py [--dims 4,6,8] [--time-limit 120]
"""
import argparse
import time

import numpy as np

from certqnn import QNNProblem, certify, solve


def scip_solve(X, y, beta, m, time_limit):
    from pyscipopt import Model, quicksum

    n, d = X.shape
    model = Model("qnn-width")
    model.hideOutput()
    model.setParam("limits/time", time_limit)
    b = {(k, j): model.addVar(vtype="B", name=f"b_{k}_{j}") for k in range(d) for j in range(m)}
    alpha = [model.addVar(lb=None, name=f"alpha_{j}") for j in range(m)]
    absa = [model.addVar(lb=0, name=f"abs_{j}") for j in range(m)]
    r = [model.addVar(lb=None, name=f"r_{i}") for i in range(n)]
    for j in range(m):
        model.addCons(absa[j] >= alpha[j])
        model.addCons(absa[j] >= -alpha[j])
        # symmetry breaking: u and -u give the same neuron for an even activation
        model.addCons(b[0, j] == 1)
    for i in range(n):
        pre = [quicksum(float(X[i, k]) * (2 * b[k, j] - 1) for k in range(d)) for j in range(m)]
        model.addCons(r[i] == quicksum(alpha[j] * pre[j] * pre[j] for j in range(m)) - float(y[i]))
    obj = model.addVar(lb=0, name="obj")
    model.addCons(obj >= 0.5 * quicksum(r[i] * r[i] for i in range(n)) + beta * quicksum(absa))
    model.setObjective(obj, "minimize")
    start = time.perf_counter()
    model.optimize()
    seconds = time.perf_counter() - start
    status = model.getStatus()
    primal = model.getPrimalbound() if model.getNSols() else float("inf")
    dual = model.getDualbound()
    return status, primal, dual, seconds


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dims", default="4,6,8")
    parser.add_argument("--n", type=int, default=15)
    parser.add_argument("--width", type=int, default=2)
    parser.add_argument("--beta", type=float, default=0.1)
    parser.add_argument("--time-limit", type=float, default=120.0)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    try:
        import pyscipopt  # noqa: F401
    except ImportError:
        raise SystemExit("this benchmark needs PySCIPOpt: pip install pyscipopt")

    head = f"{'d':>3}  {'method':<28} {'status':<12} {'lower bound':>12} {'upper bound':>12} {'rel. gap':>9} {'seconds':>8}"
    print(head)
    print("-" * len(head))
    for d in [int(v) for v in args.dims.split(",")]:
        rng = np.random.default_rng(args.seed + d)
        X = rng.standard_normal((args.n, d)) / np.sqrt(d)
        U = np.where(rng.random((d, args.width)) < 0.5, -1.0, 1.0)
        y = (X @ U) ** 2 @ np.array([1.0, -0.7][: args.width] + [0.5] * max(0, args.width - 2)) + 0.05 * rng.standard_normal(args.n)
        problem = QNNProblem(X, y, beta=args.beta, width=args.width)
        start = time.perf_counter()
        cert = certify(problem, solve(problem, "enumeration"))
        ours = time.perf_counter() - start
        inactive = cert.tightness.get("width_limit_is_inactive")
        note = "certified optimal" if inactive and cert.relative_gap <= 1e-6 else "LB = p*_inf bound"
        print(f"{d:>3}  {'certqnn enumeration --width':<28} {note:<12.12} {cert.lower_bound:>12.6g} {cert.upper_bound:>12.6g} "
              f"{cert.relative_gap:>9.2e} {ours:>8.2f}")
        status, primal, dual, seconds = scip_solve(X, y, args.beta, args.width, args.time_limit)
        gap = (primal - dual) / max(abs(primal), 1e-12) if np.isfinite(primal) else float("inf")
        print(f"{d:>3}  {'SCIP (PySCIPOpt) MINLP':<28} {status:<12.12} {dual:>12.6g} {primal:>12.6g} {gap:>9.2e} {seconds:>8.2f}")
    print("\nNote: certqnn's lower bound is p*_inf (any width), so for width-limited problems it can be "
          "below p*_m; SCIP's dual bound is for width m itself.")


if __name__ == "__main__":
    main()
