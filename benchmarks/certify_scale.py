"""Time to a certified global optimum (relative gap <= 1e-6) as d grows: enumeration vs colgen,
and how tight the Shor SDP bound is.

    python benchmarks/certify_scale.py [--quick] [--cap 60] [--dims 8,12,...] [--n 200] [--beta 1]
                                       [--data planted,cli,random] [--out table.txt]

Problems (binary weights, sigma(t) = t^2, squared loss, beta = 1, p*_inf):
  planted  certqnn.datasets.synthetic(n, d, seed=3): X ~ N(0, I)/sqrt(d), y = 3 planted neurons + noise
  cli      the same data standardized as the CLI loads it (`certqnn solve synthetic:n=N,d=D,seed=3`):
           near-interpolation at beta = 1, ~n atoms in the optimum (the hard regime)
  random   X ~ N(0, 1), y ~ N(0, 1) (numpy default_rng(d))
Each run is a separate process, with BLAS limited to one thread (on a shared 2-core machine a
contended BLAS thread pool made the same run vary by 10x), and a hard wall-clock cap (--cap
seconds, default 60; colgen and the SDP also get it as their time limit, enumeration has none and
is killed). Reported:
  enum       solve + certify seconds when the CERTIFICATE's relative gap is <= 1e-6, else the
             outcome: "timeout" (killed at the cap), "gap 1e-01 (10s)" (the backend stopped -- its
             200-round limit -- with that certified gap), "p>24" (not supported)
  colgen     solve seconds to the backend's own certified gap <= 1e-6 (scaling lemma with the rho its
             exact pricing proved), then "+ certify seconds"; vcert = the relative gap that
             certqnn.certify/verify confirm independently (rho enumerated for p <= 30; beyond that
             the verifier can only use the Shor diagonals, so vcert is loose there)
  sdp        Shor SDP (scs, no rounding) solve + certify seconds, and its certified lower bound's
             relative gap to p* = the certified optimum (when one of the exact runs found it)
"""
from __future__ import annotations

import argparse
import math
import multiprocessing as mp
import os
import sys
import time

import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))

TARGET = 1e-6
ENUM_MAX = 24


def make_problem(kind: str, n: int, d: int, beta: float):
    from certqnn import QNNProblem
    from certqnn.datasets import synthetic

    if kind == "planted":
        ds = synthetic(n, d, 3)
        X, y = ds.X, ds.y
    elif kind == "cli":
        from certqnn.datasets import load

        ds = load(f"synthetic:n={n},d={d},seed=3")
        X, y = ds.X, ds.y
    elif kind == "random":
        rng = np.random.default_rng(d)
        X, y = rng.standard_normal((n, d)), rng.standard_normal(n)
    else:
        raise SystemExit(f"unknown data kind {kind!r}: use planted, cli, random")
    return QNNProblem(X, y, beta=beta)


def _worker(kind, n, d, beta, backend, cap, queue):
    from certqnn import certify, solve, verify
    from certqnn.progress import set_enabled

    set_enabled(False)
    problem = make_problem(kind, n, d, beta)
    t0 = time.perf_counter()
    if backend == "sdp":
        result = solve(problem, "sdp", rounding=False, time_limit=cap)
    elif backend == "colgen":
        result = solve(problem, "colgen", time_limit=cap)
    else:
        result = solve(problem, backend)
    t_solve = time.perf_counter() - t0
    cert = certify(problem, result)
    t_cert = time.perf_counter() - t0 - t_solve
    facts = result.report
    queue.put({"status": str(result.status), "solve": t_solve, "certify": t_cert,
               "claimed_gap": facts.get("relative_gap"), "ub": cert.upper_bound, "lb": cert.lower_bound,
               "cert_gap": cert.relative_gap, "verified": verify(cert).ok, "rho_by": cert.rho_certified_by,
               "nodes": facts.get("bnb_nodes"), "exact_s": result.timings.get("exact_pricing")})


def run(kind, n, d, beta, backend, cap, grace=60.0):
    """One (problem, backend) in its own process; None on hard time-out (the process is ended)."""
    ctx = mp.get_context("spawn")
    queue = ctx.Queue()
    proc = ctx.Process(target=_worker, args=(kind, n, d, beta, backend, cap, queue), daemon=True)
    start = time.perf_counter()
    proc.start()
    hard = cap + (grace if backend != "enumeration" else 0.0)
    out = None
    try:
        out = queue.get(timeout=hard)
    except Exception:  # noqa: BLE001 - queue.Empty or a dead worker: both mean "no result"
        out = None
    queue.close()
    proc.join(timeout=5)
    if proc.is_alive():
        proc.terminate()            # our own child, by handle
        proc.join()
    if out is None and time.perf_counter() - start < hard - 1:
        out = {"error": f"worker exited with code {proc.exitcode}"}
    return out


def fmt_enum(r, p):
    if p > ENUM_MAX:
        return "p>24"
    if r is None:
        return "timeout"
    if "error" in r:
        return "error"
    total = r["solve"] + r["certify"]
    return f"{total:.1f}" if r["cert_gap"] <= TARGET else f"gap {r['cert_gap']:.0e} ({total:.0f}s)"


def fmt_colgen(r):
    if r is None:
        return "timeout", "-"
    if "error" in r:
        return "error", "-"
    gap = r["claimed_gap"]
    if gap is not None and gap <= TARGET:
        txt = f"{r['solve']:.1f} +{r['certify']:.1f}"
    else:
        txt = f"{r['status']} gap {gap:.0e}" if gap is not None and math.isfinite(gap) else f"{r['status']}"
    return txt, f"{r['cert_gap']:.1e}"


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="d = 8, 16, 24 on cli data, cap 30 s")
    ap.add_argument("--cap", type=float, default=60.0, help="seconds per run (default 60)")
    ap.add_argument("--dims", default="8,12,16,20,24,28,32")
    ap.add_argument("--n", type=int, default=200)
    ap.add_argument("--beta", type=float, default=1.0)
    ap.add_argument("--data", default="planted,cli,random")
    ap.add_argument("--no-sdp", action="store_true")
    ap.add_argument("--out", default=None, help="also write the table to this file")
    args = ap.parse_args(argv)
    for var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ[var] = "1"                     # inherited by the spawned workers
    dims = [int(x) for x in args.dims.split(",")]
    kinds = [k.strip() for k in args.data.split(",") if k.strip()]
    cap = args.cap
    if args.quick:
        dims, kinds, cap = [8, 16, 24], ["cli"], min(cap, 30.0)
    header = (f"{'data':8} {'d':>3} {'p*':>12} {'enum s':>16} {'colgen s (+certify)':>20} {'vcert':>8} "
              f"{'B&B nodes':>10} {'sdp s':>7} {'sdp gap':>9}")
    lines = [f"n={args.n}, beta={args.beta:g}, cap={cap:g}s per run, target relative gap {TARGET:g}; "
             f"{os.cpu_count()} cores", header, "-" * len(header)]
    print("\n".join(lines), flush=True)
    for kind in kinds:
        for d in dims:
            enum = run(kind, args.n, d, args.beta, "enumeration", cap) if d <= ENUM_MAX else None
            cg = run(kind, args.n, d, args.beta, "colgen", cap)
            sdp = None if args.no_sdp else run(kind, args.n, d, args.beta, "sdp", cap)
            pstar = None
            for r in (cg, enum):
                if r and "error" not in r and r.get("claimed_gap") is not None and r["claimed_gap"] <= TARGET:
                    pstar = r["ub"]
                    break
                if r and "error" not in r and r["cert_gap"] <= TARGET:
                    pstar = r["ub"]
                    break
            cg_txt, vcert = fmt_colgen(cg)
            if sdp is None or "error" in (sdp or {}):
                sdp_s, sdp_gap = ("-" if args.no_sdp else "timeout"), "-"
            else:
                sdp_s = f"{sdp['solve'] + sdp['certify']:.1f}"
                sdp_gap = f"{(pstar - sdp['lb']) / abs(pstar):.2e}" if pstar else f"LB {sdp['lb']:.4g}"
            nodes = cg.get("nodes") if cg and "error" not in cg else None
            line = (f"{kind:8} {d:>3} {pstar if pstar is not None else float('nan'):>12.8g} "
                    f"{fmt_enum(enum, d):>16} {cg_txt:>20} {vcert:>8} {nodes if nodes is not None else '-':>10} "
                    f"{sdp_s:>7} {sdp_gap:>9}")
            print(line, flush=True)
            lines.append(line)
    if args.out:
        with open(args.out, "w") as f:
            f.write("\n".join(lines) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
