#!/usr/bin/env python
"""Speed and accuracy of certqnn's Shor SDP (docs/math.md §6) against hand-written CVXPY models.

On the SAME problems in the SAME run this measures

  certqnn-scs      certqnn.solve(problem, "sdp", engine="scs", rounding=False, eps=EPS)
                   + certqnn.certify(problem, result)           (end to end)
  certqnn-picos    the same with engine="picos" (CVXOPT); small sizes only unless --picos-all
  cvxpy-scs        a CVXPY model of the same relaxation as a researcher would write it, solved by
                   SCS with eps_abs = eps_rel = EPS; time = the whole prob.solve()
  cvxpy-clarabel   the same CVXPY model solved by Clarabel (its default tolerances)
  proposal-gram    (diagnostic, NOT certqnn code) the SCS data of certqnn rebuilt in "Gram form"
                   (0.5 v'F'F v - y'F v in the quadratic objective instead of a dense block F in
                   A), + certqnn.certify on a Result assembled from it; skip with --no-proposal

Every objective is recomputed from the returned matrices the same way,
0.5 ||A(Z+ - Z-) - y||^2 + beta (t+ + t-) with certqnn.lifting.apply_lifted, next to the value the
solver reports, together with the feasibility violation of (Z+, Z-).

Problems: certqnn.datasets.synthetic(n, d, seed), beta = 1, Polynomial(1, 0, 0), binary levels.
Thread counts (OMP/MKL/OpenBLAS/...) are fixed once, before numpy is imported, for all methods.

    python benchmarks/sdp_speed.py                          # 200x20 and 1000x50
    python benchmarks/sdp_speed.py --sizes 1000x50 --linear-solver auto,qdldl,cpu_dense,mkl
    python benchmarks/sdp_speed.py --json results.json
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import time

THREAD_VARS = ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS", "BLIS_NUM_THREADS",
               "VECLIB_MAXIMUM_THREADS", "NUMEXPR_NUM_THREADS", "RAYON_NUM_THREADS")
TARGET_RATIO = 5.0           # cvxpy-scs time / certqnn-scs end-to-end time, at TARGET_SIZE
TARGET_SIZE = (1000, 50)
TARGET_REL_OBJ = 1e-4        # |objective - reference| / |reference|
REF = "certqnn-scs"


# --------------------------------------------------------------------------------------------
def parse_args(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sizes", default="200x20,1000x50", help="comma list of NxD (default 200x20,1000x50)")
    ap.add_argument("--seed", type=int, default=0, help="seed of certqnn.datasets.synthetic")
    ap.add_argument("--beta", type=float, default=1.0)
    ap.add_argument("--eps", type=float, default=1e-5,
                    help="SCS eps_abs = eps_rel for certqnn-scs and cvxpy-scs (and certqnn-picos)")
    ap.add_argument("--repeats", type=int, default=3,
                    help="timed runs of the fast methods (certqnn-scs, cvxpy-scs, proposal); "
                         "runs are interleaved across methods; the minimum is reported")
    ap.add_argument("--slow-repeats", type=int, default=1, help="timed runs of certqnn-picos and cvxpy-clarabel")
    ap.add_argument("--linear-solver", default="auto",
                    help="SCS linear solver(s) for certqnn-scs: comma list of auto|qdldl|cpu_dense|mkl|"
                         "cpu_indirect; the FIRST is the reference row, the others are extra rows")
    ap.add_argument("--cvxpy-linear-solver", default=None,
                    help="pass linear_solver=... to cvxpy's SCS (default: SCS's own default, 'auto')")
    ap.add_argument("--threads", type=int, default=os.cpu_count() or 1,
                    help="OMP/MKL/OpenBLAS threads for every method (default: all cores)")
    ap.add_argument("--skip-picos", action="store_true")
    ap.add_argument("--picos-all", action="store_true", help="run certqnn-picos at every size")
    ap.add_argument("--picos-max-n", type=int, default=200,
                    help="without --picos-all, run PICOS only for n <= this and d <= 20")
    ap.add_argument("--picos-eps", type=float, default=None, help="eps for certqnn-picos (default --eps)")
    ap.add_argument("--skip-cvxpy-scs", action="store_true")
    ap.add_argument("--skip-clarabel", action="store_true")
    ap.add_argument("--skip-certqnn", action="store_true",
                    help="skip certqnn-scs (the reference then becomes the first method run)")
    ap.add_argument("--no-proposal", action="store_true", help="skip the Gram-form SCS prototype row")
    ap.add_argument("--proposal-eps", type=float, default=None,
                    help="eps of the Gram-form prototype (default --eps/1000: its gap and dual-residual "
                         "tests are relative to terms of size ||y||^2 and ||F'y||, not to the objective)")
    ap.add_argument("--no-breakdown", action="store_true",
                    help="skip the build/setup/iterate breakdown of certqnn's SCS call")
    ap.add_argument("--json", metavar="FILE", help="also write all results to FILE")
    args = ap.parse_args(argv)
    try:
        args.sizes = [tuple(int(v) for v in s.lower().split("x")) for s in args.sizes.split(",") if s.strip()]
        assert all(len(s) == 2 and s[0] > 0 and s[1] > 0 for s in args.sizes)
    except (ValueError, AssertionError):
        ap.error(f"--sizes must look like 200x20,1000x50 (got {args.sizes!r})")
    args.linear_solvers = [s.strip() for s in args.linear_solver.split(",") if s.strip()] or ["auto"]
    if args.repeats < 1 or args.slow_repeats < 1:
        ap.error("--repeats and --slow-repeats must be >= 1")
    return args


def set_threads(k: int):
    """Fix the BLAS/OpenMP thread count for the whole run (before numpy/scs/cvxpy are imported)."""
    for var in THREAD_VARS:
        os.environ[var] = str(k)
    if "numpy" in sys.modules:  # imported as a module by someone who already loaded numpy
        try:
            from threadpoolctl import threadpool_limits
            threadpool_limits(k)
        except ImportError:
            pass


# --------------------------------------------------------------------------------------------
class Timer:
    def __enter__(self):
        self.w0, self.c0 = time.perf_counter(), time.process_time()
        return self

    def __exit__(self, *exc):
        self.wall = time.perf_counter() - self.w0
        self.cpu = time.process_time() - self.c0


def relaxation_quality(problem, Zp, Zm):
    """Objective recomputed from (Z+, Z-) the same way for all methods, and its infeasibility."""
    import numpy as np
    from certqnn.lifting import apply_lifted

    Zp, Zm = np.asarray(Zp, float), np.asarray(Zm, float)
    Xb, y, beta = problem.binary_design(), problem.y, problem.beta
    yhat = apply_lifted(Xb, problem.activation, Zp - Zm)
    obj = 0.5 * float(np.sum((yhat - y) ** 2)) + beta * (float(Zp[-1, -1]) + float(Zm[-1, -1]))
    viol = 0.0
    for Z in (Zp, Zm):
        viol = max(viol, float(np.max(np.abs(np.diag(Z)[:-1] - Z[-1, -1]))),
                   float(np.max(np.abs(Z - Z.T))), max(0.0, -float(np.linalg.eigvalsh(0.5 * (Z + Z.T))[0])))
    return obj, viol


def run_certqnn(problem, engine, eps, linear_solver=None):
    import certqnn

    kw = {"linear_solver": linear_solver} if linear_solver else {}
    with Timer() as t_all:
        with Timer() as t_solve:
            result = certqnn.solve(problem, "sdp", engine=engine, rounding=False, eps=eps, **kw)
        with Timer() as t_cert:
            cert = certqnn.certify(problem, result)
    rel = result.relaxation
    obj, viol = relaxation_quality(problem, rel["Z_plus"], rel["Z_minus"])
    sdp = float(result.timings.get("sdp", float("nan")))
    return {"seconds": t_all.wall, "cpu": t_all.cpu, "obj": obj, "obj_solver": rel.get("solver_objective"),
            "obj_certqnn": rel.get("value"), "viol": viol, "lb": float(cert.lower_bound),
            "status": str(result.status), "iterations": int(result.iterations),
            "parts": {"sdp": sdp, "solve_other": t_solve.wall - sdp, "certify": t_cert.wall}}


def cvxpy_model(problem):
    """The Shor SDP as a researcher would write it in CVXPY."""
    import cvxpy as cp

    X, y, beta, act = problem.binary_design(), problem.y, problem.beta, problem.activation
    d = X.shape[1]
    Zp = cp.Variable((d + 1, d + 1), PSD=True)
    Zm = cp.Variable((d + 1, d + 1), PSD=True)
    Z = Zp - Zm
    Z11, z12, t = Z[:d, :d], Z[:d, d], Z[d, d]
    yhat = 0
    if act.a:
        yhat = yhat + act.a * cp.sum(cp.multiply(X @ Z11, X), axis=1)      # a x_i' Z11 x_i
    if act.b:
        yhat = yhat + act.b * (X @ z12)                                      # 2 (b/2) x_i' z12
    if act.c:
        yhat = yhat + act.c * t
    constraints = [cp.diag(Zp)[:d] == Zp[d, d], cp.diag(Zm)[:d] == Zm[d, d]]
    objective = 0.5 * cp.sum_squares(yhat - y) + beta * (Zp[d, d] + Zm[d, d])
    return cp.Problem(cp.Minimize(objective), constraints), Zp, Zm


def run_cvxpy(problem, solver, **opts):
    import warnings

    with Timer() as t_model:
        prob, Zp, Zm = cvxpy_model(problem)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with Timer() as t_solve:
            prob.solve(solver=solver, **opts)
    if Zp.value is None:
        raise RuntimeError(f"cvxpy/{solver}: no solution ({prob.status})")
    obj, viol = relaxation_quality(problem, Zp.value, Zm.value)
    st = prob.solver_stats
    compile_s = getattr(prob, "compilation_time", None)
    parts = {"model": t_model.wall, "compile": compile_s, "solver_setup": st.setup_time, "solver_solve": st.solve_time}
    known = sum(v for v in (compile_s, st.setup_time, st.solve_time) if v is not None)
    parts["interface_other"] = t_solve.wall - known
    return {"seconds": t_solve.wall, "cpu": t_solve.cpu, "obj": obj, "obj_solver": float(prob.value), "viol": viol,
            "lb": None, "status": prob.status, "iterations": st.num_iters, "parts": parts}


# -- diagnostics: certqnn's SCS call taken apart, and a Gram-form prototype -------------------
def scs_breakdown(problem, eps, linear_solver):
    """Time certqnn's own ScsEngine.build, SCS setup (normalisation + KKT factorisation) and the
    iterations, with SCS's internal lin-sys / cone timers."""
    import scs
    from certqnn.shor import ScsEngine

    Xb = problem.binary_design()
    form = ScsEngine.choose_form(Xb.shape[0], Xb.shape[1] + 1)   # the formulation certqnn uses
    with Timer() as t_build:
        data, cone, _ = ScsEngine().build(Xb, problem.y, problem.beta, problem.activation, form=form)
    tol = eps * 1e-3 if form == "gram" else eps                   # as ScsEngine.solve does
    settings = dict(eps_abs=tol, eps_rel=tol, verbose=False)
    if linear_solver and linear_solver != "auto":
        settings["linear_solver"] = linear_solver
    with Timer() as t_setup:
        solver = scs.SCS(data, cone, **settings)
    with Timer() as t_iter:
        sol = solver.solve()
    info = sol["info"]
    return {"linear_solver": f"{linear_solver} ({form} form)", "build": t_build.wall, "setup": t_setup.wall, "iterate": t_iter.wall,
            "lin_sys": info["lin_sys_time"] / 1e3, "cones": info["cone_time"] / 1e3,
            "accel": info["accel_time"] / 1e3, "iterations": int(info["iter"]),
            "nnz_A": int(data["A"].nnz), "nnz_P": int(data["P"].nnz), "shape_A": list(data["A"].shape)}


def gram_form_data(problem):
    """certqnn's SCS data with the dense block moved from A to P: variables x = [v, Z+, Z-],
    objective 0.5 v'(F'F)v - (F'y)'v + beta (t+ + t-) (+ 0.5 y'y), zero cone v - Z+ + Z- = 0 and
    Z^±_kk = t^±, two PSD cones. Same feasible set and optimum as ScsEngine.build."""
    import numpy as np
    import scipy.sparse as sp
    from certqnn.shor.svec import lifted_features, svec_layout

    Xb, y, beta = problem.binary_design(), problem.y, problem.beta
    p = Xb.shape[1]
    D = p + 1
    m = D * (D + 1) // 2
    F = lifted_features(Xb, problem.activation)
    G = F.T @ F
    rows, cols, _ = svec_layout(D)
    diag_pos = np.flatnonzero(rows == cols)
    tpos = diag_pos[-1]
    nv, izp, izm = 3 * m, m, 2 * m
    I_m = sp.identity(m, format="csc")
    Z_mm = sp.csc_matrix((m, m))
    A_link = sp.hstack([I_m, -I_m, I_m])
    k = np.arange(p)
    A_diag = sp.csc_matrix((np.concatenate([np.ones(p), -np.ones(p), np.ones(p), -np.ones(p)]),
                            (np.concatenate([k, k, p + k, p + k]),
                             np.concatenate([izp + diag_pos[:p], np.full(p, izp + tpos),
                                             izm + diag_pos[:p], np.full(p, izm + tpos)]))), shape=(2 * p, nv))
    A_psd = sp.vstack([sp.hstack([Z_mm, -I_m, Z_mm]), sp.hstack([Z_mm, Z_mm, -I_m])])
    A = sp.vstack([A_link, A_diag, A_psd], format="csc")
    c = np.zeros(nv)
    c[:m] = -F.T @ y
    c[izp + tpos] = c[izm + tpos] = beta
    P = sp.block_diag([sp.csc_matrix(np.triu(G)), sp.csc_matrix((2 * m, 2 * m))], format="csc")
    return {"P": P, "A": A, "b": np.zeros(A.shape[0]), "c": c}, {"z": m + 2 * p, "s": [D, D]}, m, D


def run_proposal(problem, eps, linear_solver):
    """Gram-form SCS + a Result assembled like SdpBackend.solve does + certqnn.certify."""
    import numpy as np
    import scs
    import certqnn
    from certqnn.shor import dual_diagonal
    from certqnn.shor.svec import smat
    from certqnn.lifting import apply_lifted, q_matrix
    from certqnn.network import QuantizedNetwork
    from certqnn.result import DualData, Result, Status

    with Timer() as t_all:
        with Timer() as t_build:
            data, cone, m, D = gram_form_data(problem)
        settings = dict(eps_abs=eps, eps_rel=eps, verbose=False)
        if linear_solver and linear_solver != "auto":
            settings["linear_solver"] = linear_solver
        with Timer() as t_setup:
            solver = scs.SCS(data, cone, **settings)
        with Timer() as t_iter:
            sol = solver.solve()
        with Timer() as t_cert:
            x, yd, info = sol["x"], sol["y"], sol["info"]
            Zp, Zm = smat(x[m:2 * m], D), smat(x[2 * m:3 * m], D)
            off = cone["z"]
            Sp_diag, Sm_diag = np.diag(smat(yd[off:off + m], D)), np.diag(smat(yd[off + m:off + 2 * m], D))
            Xb, act = problem.binary_design(), problem.activation
            w = problem.loss.gradient(apply_lifted(Xb, act, Zp - Zm), problem.y)
            Q = q_matrix(Xb, act, w)
            dual = DualData(w=w, z_plus=dual_diagonal(Q, Sm_diag, +1.0), z_minus=dual_diagonal(Q, Sp_diag, -1.0))
            result = Result(status=Status.OPTIMAL if info["status_val"] == 1 else Status.OPTIMAL_INACCURATE,
                            backend="sdp", network=QuantizedNetwork(np.zeros((problem.d, 0)), np.zeros(0)),
                            dual=dual, relaxation={"Z_plus": Zp, "Z_minus": Zm}, iterations=int(info["iter"]),
                            rho_method="shor")
            cert = certqnn.certify(problem, result)
    obj, viol = relaxation_quality(problem, Zp, Zm)
    return {"seconds": t_all.wall, "cpu": t_all.cpu, "obj": obj, "obj_solver": float(info["pobj"]) + 0.5 * float(problem.y @ problem.y),
            "viol": viol, "lb": float(cert.lower_bound), "status": info["status"], "iterations": int(info["iter"]),
            "parts": {"build": t_build.wall, "setup": t_setup.wall, "iterate": t_iter.wall, "lin_sys": info["lin_sys_time"] / 1e3,
                      "certify": t_cert.wall}}


# --------------------------------------------------------------------------------------------
def summarize(runs):
    """Keep the run with the minimum wall time (its numbers), plus min/median over repeats."""
    ok = [r for r in runs if "error" not in r]
    if not ok:
        return runs[-1]
    best = dict(min(ok, key=lambda r: r["seconds"]))
    best["seconds_all"] = [round(r["seconds"], 4) for r in ok]
    best["seconds_median"] = statistics.median(r["seconds"] for r in ok)
    best["cpu_min"] = min(r["cpu"] for r in ok)
    best["repeats"] = len(ok)
    return best


def guarded(fn, *a, **kw):
    try:
        return fn(*a, **kw)
    except Exception as exc:  # noqa: BLE001 - a failing method is reported, not fatal
        return {"error": f"{type(exc).__name__}: {exc}", "seconds": float("nan"), "cpu": float("nan")}


def fmt(v, spec):
    if v is None or (isinstance(v, float) and v != v):
        return "-"
    return format(v, spec)


def fmt_parts(parts):
    return " ".join(f"{k}={v:.2f}" for k, v in (parts or {}).items() if isinstance(v, (int, float)))


def bench_size(n, d, args, quiet=False):
    import certqnn
    from certqnn.datasets import synthetic

    ds = synthetic(n, d, args.seed)
    problem = certqnn.QNNProblem(ds.X, ds.y, beta=args.beta)
    eps = args.eps
    fast, slow = [], []  # (name, callable)
    if not args.skip_certqnn:
        for k, ls in enumerate(args.linear_solvers):
            name = REF if k == 0 else f"certqnn-scs[{ls}]"
            if k == 0 and ls != "auto":
                name = f"{REF}[{ls}]"
            fast.append((name, lambda ls=ls: run_certqnn(problem, "scs", eps, ls)))
    if not args.skip_cvxpy_scs:
        opts = dict(eps_abs=eps, eps_rel=eps)
        if args.cvxpy_linear_solver:
            opts["linear_solver"] = args.cvxpy_linear_solver
        fast.append(("cvxpy-scs", lambda: run_cvxpy(problem, "SCS", **opts)))
    if not args.no_proposal:
        peps = args.proposal_eps if args.proposal_eps is not None else eps / 1000
        fast.append((f"proposal-gram(eps={peps:g})", lambda: run_proposal(problem, peps, args.linear_solvers[0])))
    picos_here = args.picos_all or (n <= args.picos_max_n and d <= 20)
    if not args.skip_picos and picos_here:
        peps = args.picos_eps if args.picos_eps is not None else eps
        slow.append(("certqnn-picos", lambda: run_certqnn(problem, "picos", peps)))
    if not args.skip_clarabel:
        slow.append(("cvxpy-clarabel", lambda: run_cvxpy(problem, "CLARABEL")))

    runs = {name: [] for name, _ in fast + slow}
    for rep in range(max(args.repeats, args.slow_repeats)):
        for name, fn in fast if rep < args.repeats else []:
            runs[name].append(guarded(fn))
        for name, fn in slow if rep < args.slow_repeats else []:
            runs[name].append(guarded(fn))
        if not quiet:
            print(f"  [{n}x{d}] repeat {rep + 1} done", file=sys.stderr, flush=True)
    results = {name: summarize(r) for name, r in runs.items()}

    ref_name = next((nm for nm in results if nm.startswith(REF) and "error" not in results[nm]), None)
    if ref_name is None:
        ref_name = next((nm for nm in results if "error" not in results[nm]), None)
    ref = results.get(ref_name)
    for r in results.values():
        if "error" in r or ref is None:
            continue
        r["rel_obj_vs_ref"] = (r["obj"] - ref["obj"]) / max(abs(ref["obj"]), 1e-300)
        r["ratio_vs_ref"] = r["seconds"] / ref["seconds"]
    breakdown = None
    if not args.no_breakdown and not args.skip_certqnn:
        breakdown = [guarded(scs_breakdown, problem, eps, ls) for ls in args.linear_solvers]
    return {"n": n, "d": d, "reference": ref_name, "eps": eps, "methods": results, "scs_breakdown": breakdown}


def print_size(res):
    n, d = res["n"], res["d"]
    print(f"\n=== n={n} d={d}  (D={d + 1}, svec dim {(d + 1) * (d + 2) // 2}; eps={res['eps']:g}; "
          f"reference = {res['reference']}) ===")
    head = (f"{'method':<28}{'seconds':>9}{'median':>9}{'cpu':>8}{'x ref':>8}{'objective':>15}"
            f"{'rel.diff':>11}{'solver obj':>15}{'viol':>9}{'certified LB':>15}{'iters':>7}  status")
    print(head)
    print("-" * len(head))
    for name, r in res["methods"].items():
        if "error" in r:
            print(f"{name:<28}  FAILED: {r['error']}")
            continue
        print(f"{name:<28}{r['seconds']:>9.3f}{fmt(r.get('seconds_median'), '.3f'):>9}{fmt(r.get('cpu_min'), '.2f'):>8}"
              f"{fmt(r.get('ratio_vs_ref'), '.2f'):>8}{r['obj']:>15.9f}{fmt(r.get('rel_obj_vs_ref'), '+.2e'):>11}"
              f"{fmt(r.get('obj_solver'), '.9f'):>15}{r['viol']:>9.1e}{fmt(r.get('lb'), '.9f'):>15}"
              f"{fmt(r.get('iterations'), 'd'):>7}  {r['status']}")
    print("time split (seconds, fastest run):")
    for name, r in res["methods"].items():
        if "error" not in r:
            print(f"  {name:<28}{fmt_parts(r.get('parts'))}")
    if res.get("scs_breakdown"):
        print("certqnn SCS call taken apart (ScsEngine.build + scs.SCS(...) + solve(), one run):")
        for b in res["scs_breakdown"]:
            if "error" in b:
                print(f"  FAILED: {b['error']}")
                continue
            print(f"  linear_solver={b['linear_solver']:<10} build={b['build']:.3f}  setup={b['setup']:.3f}  "
                  f"iterate={b['iterate']:.3f} (lin-sys {b['lin_sys']:.3f}, cones {b['cones']:.3f}, "
                  f"accel {b['accel']:.3f})  iters={b['iterations']}  A{tuple(b['shape_A'])} nnz(A)={b['nnz_A']}")


def summary(all_res, args):
    print("\n=== summary ===")
    lines, verdicts = [], []
    for res in all_res:
        m = res["methods"]
        ref = m.get(res["reference"])
        cvx = m.get("cvxpy-scs")
        if ref is None or cvx is None or "error" in ref or "error" in cvx or not res["reference"].startswith(REF):
            lines.append(f"{res['n']}x{res['d']}: n/a")
            continue
        ratio = cvx["seconds"] / ref["seconds"]
        rel = abs(cvx["obj"] - ref["obj"]) / abs(ref["obj"])
        clar = m.get("cvxpy-clarabel")
        rel_cl = abs(ref["obj"] - clar["obj"]) / abs(clar["obj"]) if clar and "error" not in clar else None
        s = (f"{res['n']}x{res['d']}: CVXPY+SCS time / certqnn SCS end-to-end time = {ratio:.2f}x "
             f"({cvx['seconds']:.2f}s / {ref['seconds']:.2f}s, cpu {cvx['cpu_min']:.2f}s / {ref['cpu_min']:.2f}s); "
             f"|obj diff| = {rel:.1e} rel" + (f"; certqnn vs Clarabel {rel_cl:.1e} rel" if rel_cl is not None else ""))
        lines.append(s)
        prop = next((v for k, v in m.items() if k.startswith("proposal-gram") and "error" not in v), None)
        if prop is not None:
            lines.append(f"    (diagnostic) CVXPY+SCS time / Gram-form prototype end-to-end time = "
                         f"{cvx['seconds'] / prop['seconds']:.2f}x (cpu {cvx['cpu_min'] / prop['cpu_min']:.2f}x); "
                         f"prototype obj vs certqnn {abs(prop['obj'] - ref['obj']) / abs(ref['obj']):.1e} rel, "
                         f"certified LB {prop['lb']:.9f} vs certqnn {ref['lb']:.9f}")
        if (res["n"], res["d"]) == TARGET_SIZE:
            ok_obj = rel <= TARGET_REL_OBJ and (rel_cl is None or rel_cl <= TARGET_REL_OBJ)
            verdicts.append((ratio >= TARGET_RATIO, ok_obj, ratio, rel))
    for s in lines:
        print(s)
    if verdicts:
        speed_ok, obj_ok, ratio, rel = verdicts[0]
        print(f"TARGET (>= {TARGET_RATIO:g}x at {TARGET_SIZE[0]}x{TARGET_SIZE[1]}, objectives within "
              f"{TARGET_REL_OBJ:g} relative): speed {'MET' if speed_ok else 'NOT MET'} ({ratio:.2f}x), "
              f"objective {'MET' if obj_ok else 'NOT MET'} ({rel:.1e}) -> {'MET' if speed_ok and obj_ok else 'NOT MET'}")
    else:
        print(f"TARGET: not evaluated ({TARGET_SIZE[0]}x{TARGET_SIZE[1]} with certqnn-scs and cvxpy-scs not run)")


def warm_up(args):
    """Run every method once on a tiny problem so imports and first-call costs time nothing."""
    saved = (args.repeats, args.slow_repeats, args.no_breakdown, args.picos_all)
    args.repeats = args.slow_repeats = 1
    args.no_breakdown, args.picos_all = True, True
    try:
        res = bench_size(30, 4, args, quiet=True)
    finally:
        args.repeats, args.slow_repeats, args.no_breakdown, args.picos_all = saved
    bad = {k: v["error"] for k, v in res["methods"].items() if "error" in v}
    if bad:
        print(f"warm-up failures: {bad}")


def environment(args):
    import numpy as np
    env = {"python": platform.python_version(), "machine": platform.machine(), "cpu_count": os.cpu_count(),
           "threads": args.threads, "numpy": np.__version__}
    for mod in ("scipy", "scs", "cvxpy", "clarabel", "picos", "cvxopt", "certqnn"):
        try:
            env[mod] = getattr(__import__(mod), "__version__", "?")
        except ImportError:
            env[mod] = None
    try:
        from threadpoolctl import threadpool_info
        env["threadpools"] = [{"lib": os.path.basename(os.path.dirname(i.get("filepath", ""))),
                               "internal_api": i.get("internal_api"), "num_threads": i.get("num_threads")}
                              for i in threadpool_info()]
    except ImportError:
        pass
    return env


def main(argv=None):
    args = parse_args(argv)
    set_threads(args.threads)
    t0 = time.perf_counter()
    load_start = os.getloadavg() if hasattr(os, "getloadavg") else None
    warm_up(args)     # also loads every solver library, so the thread-pool listing is complete
    env = environment(args)
    env["loadavg_start"] = load_start
    print("environment: " + ", ".join(f"{k}={v}" for k, v in env.items() if k != "threadpools"))
    if "threadpools" in env:
        print("thread pools (threadpoolctl; SCS's MKL PARDISO is linked statically and not listed): "
              + ", ".join(f"{p['lib']}:{p['internal_api']}:{p['num_threads']}" for p in env["threadpools"]))
    print(f"settings: eps={args.eps:g} repeats={args.repeats} slow_repeats={args.slow_repeats} "
          f"certqnn linear_solver={args.linear_solvers} seed={args.seed} beta={args.beta:g}")
    all_res = []
    for n, d in args.sizes:
        res = bench_size(n, d, args)
        print_size(res)
        all_res.append(res)
        sys.stdout.flush()
    summary(all_res, args)
    try:
        env["loadavg_end"] = os.getloadavg()
    except OSError:
        pass
    print(f"total benchmark time {time.perf_counter() - t0:.1f}s; load average at start/end "
          f"{env.get('loadavg_start')} / {env.get('loadavg_end')} (other processes on the machine inflate wall times)")
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"environment": env, "args": {k: v for k, v in vars(args).items()}, "results": all_res},
                      f, indent=1, default=lambda o: o.item() if hasattr(o, "item") else str(o))
        print(f"results written to {args.json}")


if __name__ == "__main__":
    main()
