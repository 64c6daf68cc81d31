"""Scale benchmark: the matrix-free Shor bound (sdp engine fo) against CVXPY + SCS, and the default
run's certified gap on the problems people bring.

    python benchmarks/scale.py                       # the full grid (hours on 2 cores)
    python benchmarks/scale.py --quick               # 1000x50 and 2000x80 only, plus the gaps table
    python benchmarks/scale.py --sizes 10000x200 --max-iters 100 --no-gaps

Part 1, for each size n x d (random standardized features, a planted binary network plus noise,
y standardized, beta = 1, sigma(t) = t^2): the fo engine's certified lower bound (certify() re-proves
it), its proven SDP gap (a feasible primal point's value), passes over the data, seconds, the
seconds of one pass timed in the same run and the time expressed in passes, and peak RSS; next to
it CVXPY + SCS on the same problem where its conic data fits (n * m <= --cvxpy-max-entries), with
the relative difference of the two values. Every run is a separate process, so the peak RSS is
that run's own.

Part 2: `certqnn solve DATA --out ...` with the default backend and options on
synthetic:n=1000,d=50, sklearn:breast_cancer (d = 30) and sklearn:digits (d = 64): certified lower
and upper bound, relative gap and wall-clock seconds (from the certificate written).
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
FULL_GRID = [(n, d) for n in (1000, 10_000, 100_000) for d in (50, 100, 200)]
QUICK_GRID = [(1000, 50), (2000, 80)]
GAP_PROBLEMS = ["synthetic:n=1000,d=50,seed=0", "sklearn:breast_cancer", "sklearn:digits"]


def _problem(n: int, d: int, seed: int):
    import numpy as np

    sys.path.insert(0, HERE)
    from make_big import make
    from certqnn import QNNProblem

    X, y = make(n, d, seed)
    y = (y - y.mean()) / y.std()
    return QNNProblem(X, y, beta=1.0)


def _peak_mb() -> float:
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def child_fo(n, d, seed, max_iters, eps, time_limit, precision):
    from certqnn import certify, solve

    problem = _problem(n, d, seed)
    start = time.perf_counter()
    result = solve(problem, "sdp", engine="fo", rounding=False, max_iters=max_iters, eps=eps, time_limit=time_limit,
                   fo_precision=precision)
    solve_s = time.perf_counter() - start
    cert = certify(problem, result)
    r = result.report
    return {"lb": cert.lower_bound, "sdp_upper": r["fo_sdp_upper"], "passes": r["fo_passes"], "precision": r["fo_precision"],
            "iterations": r["fo_iterations"], "pass_s": result.timings["fo_pass"], "seconds": solve_s,
            "certify_s": time.perf_counter() - start - solve_s, "in_passes": solve_s / result.timings["fo_pass"],
            "status": str(result.status), "rss_mb": _peak_mb()}


def child_cvxpy(n, d, seed):
    import warnings

    import cvxpy as cp

    problem = _problem(n, d, seed)
    X, y, beta = problem.binary_design(), problem.y, problem.beta
    p = X.shape[1]
    start = time.perf_counter()
    Zp = cp.Variable((p + 1, p + 1), PSD=True)
    Zm = cp.Variable((p + 1, p + 1), PSD=True)
    Z11 = (Zp - Zm)[:p, :p]
    yhat = cp.sum(cp.multiply(X @ Z11, X), axis=1)
    prob = cp.Problem(cp.Minimize(0.5 * cp.sum_squares(yhat - y) + beta * (Zp[p, p] + Zm[p, p])),
                      [cp.diag(Zp)[:p] == Zp[p, p], cp.diag(Zm)[:p] == Zm[p, p]])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        prob.solve(solver="SCS", eps=1e-6, max_iters=100_000)
    return {"value": float(prob.value), "seconds": time.perf_counter() - start, "status": prob.status,
            "rss_mb": _peak_mb()}


def run_child(kind, **kw):
    cmd = [sys.executable, os.path.abspath(__file__), "--child", json.dumps({"kind": kind, **kw})]
    env = {**os.environ, "CERTQNN_PROGRESS": "0"}
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env)
    if proc.returncode != 0:
        return {"error": (proc.stderr.strip().splitlines() or ["failed"])[-1][:120]}
    return json.loads(proc.stdout.strip().splitlines()[-1])


def default_gap(spec: str) -> dict:
    with tempfile.TemporaryDirectory() as tmp:
        out = os.path.join(tmp, "c.json")
        start = time.perf_counter()
        proc = subprocess.run([sys.executable, "-m", "certqnn.cli", "solve", spec, "--out", out],
                              capture_output=True, text=True,
                              env={**os.environ, "CERTQNN_PROGRESS": "0"})
        seconds = time.perf_counter() - start
        if proc.returncode != 0 or not os.path.exists(out):
            return {"error": (proc.stderr.strip().splitlines() or ["failed"])[-1][:120], "seconds": seconds}
        doc = json.load(open(out))
    parts = doc.get("parts")
    if parts:   # one-vs-rest: one part per class
        lb = sum(p["lower_bound"] for p in parts)
        ub = sum(p["upper_bound"] for p in parts)
        backend = parts[0].get("backend")
    else:
        lb, ub, backend = doc["lower_bound"], doc["upper_bound"], doc.get("backend")
    return {"backend": backend, "lb": lb, "ub": ub, "rel_gap": (ub - lb) / max(abs(ub), 1e-12), "seconds": seconds}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sizes", help="comma-separated NxD list (default: the full grid, or --quick)")
    ap.add_argument("--quick", action="store_true", help="sizes 1000x50 and 2000x80")
    ap.add_argument("--max-iters", type=int, default=300, help="fo engine iteration budget (default 300)")
    ap.add_argument("--eps", type=float, default=1e-4, help="fo engine target relative SDP gap")
    ap.add_argument("--time-limit", type=float, default=None, help="wall-clock limit per fo run (seconds)")
    ap.add_argument("--fo-precision", choices=("auto", "single", "double"), default="auto",
                    help="arithmetic of the fo engine's passes (default auto: single from n (d+1)^2 >= 1e8 on)")
    ap.add_argument("--cvxpy-max-entries", type=float, default=2e7, help="run CVXPY+SCS when n*m is at most this")
    ap.add_argument("--no-gaps", action="store_true", help="skip the default-run gaps table")
    ap.add_argument("--gaps-only", action="store_true", help="only the default-run gaps table")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--child", help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.child:
        spec = json.loads(args.child)
        kind = spec.pop("kind")
        out = child_fo(**spec) if kind == "fo" else child_cvxpy(**spec)
        print(json.dumps(out))
        return 0
    if args.sizes:
        try:
            grid = [tuple(int(v) for v in s.lower().split("x")) for s in args.sizes.split(",")]
        except ValueError:
            ap.error("--sizes takes a list like 1000x50,10000x200")
    else:
        grid = QUICK_GRID if args.quick else FULL_GRID
    if args.gaps_only:
        grid = []
    print("# fo engine vs CVXPY + SCS  (beta = 1, sigma = t^2, standardized random data)")
    print(f"{'n x d':>12} {'fo bound':>12} {'sdp gap':>9} {'passes':>7} {'prec':>6} {'pass s':>7} {'in passes':>9} "
          f"{'fo s':>8} {'fo MB':>7} {'cvxpy value':>12} {'cvxpy s':>8} {'cvxpy MB':>8} {'rel diff':>9}", flush=True)
    for n, d in grid:
        fo = run_child("fo", n=n, d=d, seed=args.seed, max_iters=args.max_iters, eps=args.eps,
                       time_limit=args.time_limit, precision=args.fo_precision)
        m = (d + 1) * (d + 2) // 2
        cv = run_child("cvxpy", n=n, d=d, seed=args.seed) if n * m <= args.cvxpy_max_entries else None
        if "error" in fo:
            print(f"{n:>6}x{d:<5} fo failed: {fo['error']}", flush=True)
            continue
        gap = (fo["sdp_upper"] - fo["lb"]) / max(abs(fo["sdp_upper"]), 1e-12)
        row = (f"{n:>6}x{d:<5} {fo['lb']:>12.6g} {gap:>9.2e} {fo['passes']:>7} {fo['precision']:>6} {fo['pass_s']:>7.3f} "
               f"{fo['in_passes']:>9.0f} {fo['seconds']:>8.1f} {fo['rss_mb']:>7.0f}")
        if cv is None:
            row += f" {'(does not fit)':>12}"
        elif "error" in cv:
            row += f" {'failed':>12}"
        else:
            diff = (cv["value"] - fo["lb"]) / max(abs(cv["value"]), 1e-12)
            row += f" {cv['value']:>12.6g} {cv['seconds']:>8.1f} {cv['rss_mb']:>8.0f} {diff:>9.1e}"
        print(row, flush=True)
    if not args.no_gaps:
        print("\n# default `certqnn solve DATA` (default backend and options)")
        print(f"{'problem':>30} {'backend':>10} {'lower':>11} {'upper':>11} {'rel gap':>9} {'seconds':>8}")
        for spec in GAP_PROBLEMS:
            g = default_gap(spec)
            if "error" in g:
                print(f"{spec:>30} failed after {g['seconds']:.0f} s: {g['error']}")
            else:
                print(f"{spec:>30} {g['backend']:>10} {g['lb']:>11.6g} {g['ub']:>11.6g} {g['rel_gap']:>9.2e} "
                      f"{g['seconds']:>8.1f}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
