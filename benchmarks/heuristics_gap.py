"""How far are the usual quantized-training heuristics from the certified optimum?

On problems small enough for the exact backend (planted and random synthetic data, the bundled
scikit-learn sets; binary, ternary and 2-bit levels), p* (the optimum over networks of any width)
comes from `enumeration` + certify (certified to ~1e-10). Every heuristic backend then trains
with its defaults and its default width, and we report its relative excess (J - p*) / |p*|
(median and worst over the problems), the same after the exact alpha refit for its U, its time
and the width it used. At matched width M, the heuristics at width M are compared with certqnn's
width-M network (the exact optimum pruned to M neurons by the enumeration backend).

    python benchmarks/heuristics_gap.py            # 14 problems, a few minutes on 2 cores
    python benchmarks/heuristics_gap.py --quick    # 2 problems, smoke run
"""
from __future__ import annotations

import argparse
import time

import numpy as np

from certqnn import QNNProblem, certify, solve
from certqnn.datasets import load

HEURISTICS = ("ste", "coarse-gradient", "bcgd", "binaryrelax", "askewsgd", "ptq")

# (name, DATA spec or "random:n=..,d=..,seed=..", levels); p = d * bits <= 20 keeps enumeration fast
PROBLEMS = [
    ("synthetic:n=200,d=10,seed=4", "binary"),
    ("synthetic:n=200,d=8,seed=1", "binary"),
    ("synthetic:n=200,d=7,seed=2", "ternary"),
    ("synthetic:n=200,d=6,seed=3", "kbit:2"),
    ("synthetic:n=200,d=9,seed=5,planted=5,noise=0.5", "binary"),
    ("random:n=200,d=10,seed=0", "binary"),
    ("random:n=200,d=6,seed=1", "ternary"),
    ("random:n=200,d=5,seed=2", "kbit:2"),
    ("sklearn:breast_cancer,features=8", "binary"),
    ("sklearn:breast_cancer,features=8", "ternary"),
    ("sklearn:diabetes", "binary"),
    ("sklearn:diabetes,features=8", "kbit:2"),
    ("sklearn:wine,features=8", "binary"),
    ("sklearn:iris", "kbit:2"),
]
QUICK = [PROBLEMS[0], PROBLEMS[9]]


def make_problem(spec: str, levels: str, beta: float, width: int | None = None) -> QNNProblem:
    if spec.startswith("random:"):
        opts = dict(kv.split("=") for kv in spec[len("random:"):].split(","))
        rng = np.random.default_rng(1000 + int(opts["seed"]))
        n, d = int(opts["n"]), int(opts["d"])
        X, y = rng.standard_normal((n, d)), rng.standard_normal(n)
    else:
        data = load(spec)
        X, y = data.X, data.y
    return QNNProblem(X, y, levels=levels, beta=beta, width=width)


def excess(value: float, pstar: float) -> float:
    return (value - pstar) / max(abs(pstar), 1e-12)


def summary(values) -> str:
    v = np.asarray(values, float)
    return f"{np.median(v):>9.3f} {np.max(v):>9.3f}"


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="two problems only (smoke run)")
    parser.add_argument("--width", type=int, default=4, help="M for the matched-width comparison (default 4)")
    parser.add_argument("--beta", type=float, default=1.0)
    parser.add_argument("--seed", type=int, default=0, help="seed of every heuristic")
    parser.add_argument("--backends", default=",".join(HEURISTICS), help="heuristics to run (comma-separated)")
    args = parser.parse_args()
    names = [b.strip() for b in args.backends.split(",") if b.strip()]
    problems = QUICK if args.quick else PROBLEMS
    M = args.width

    rows = {b: {"ex": [], "refit": [], "sec": [], "width": [], "active": [], "exM": [], "vs_pruned": [],
                "diverged": 0} for b in names}
    pruned_ex = []
    print(f"{'problem':<44} {'levels':<8} {'p*':>11} {'support':>7} {'pruned M':>9}  "
          + " ".join(f"{b[:11]:>11}" for b in names))
    for spec, levels in problems:
        problem = make_problem(spec, levels, args.beta)
        start = time.perf_counter()
        exact = certify(problem, solve(problem, "enumeration"))
        pstar, support = exact.upper_bound, int(exact.alpha.shape[0])
        assert exact.relative_gap <= 1e-6, f"{spec}: the exact backend did not converge ({exact.relative_gap:.2e})"
        pruned = solve(make_problem(spec, levels, args.beta, width=M), "enumeration")
        pruned_ex.append(excess(pruned.upper_bound, pstar))
        cells = []
        for b in names:
            r = solve(problem, b, seed=args.seed)
            assert r.upper_bound >= exact.lower_bound, f"{b} below the certified lower bound on {spec}"
            rm = solve(make_problem(spec, levels, args.beta, width=M), b, seed=args.seed)
            rec = rows[b]
            rec["ex"].append(excess(r.upper_bound, pstar))
            rec["refit"].append(excess(r.report["objective_after_refit"], pstar))
            rec["sec"].append(r.seconds)
            rec["width"].append(r.network.width)
            rec["active"].append(r.report["active_neurons"])
            rec["exM"].append(excess(rm.upper_bound, pstar))
            rec["vs_pruned"].append(rm.upper_bound - pruned.upper_bound)
            rec["diverged"] += int(r.report["diverged"]) + int(rm.report["diverged"])
            cells.append(f"{rec['ex'][-1]:>11.3f}")
        print(f"{spec:<44} {levels:<8} {pstar:>11.5g} {support:>7d} {pruned_ex[-1]:>9.3f}  " + " ".join(cells)
              + f"   ({time.perf_counter() - start:.1f}s)", flush=True)

    k = len(problems)
    print(f"\nrelative excess (J - p*)/|p*| over {k} problems (p* certified by enumeration; median, worst)")
    print(f"{'backend':<16} {'width':>5} {'active':>6} {'excess med':>10} {'worst':>9} {'refit med':>10} {'worst':>9} "
          f"{'sec mean':>8}   {'at M=' + str(M) + ' med':>10} {'worst':>9} {'beats pruned':>12}")
    for b in names:
        rec = rows[b]
        wins = sum(v < 0 for v in rec["vs_pruned"])
        print(f"{b:<16} {int(np.median(rec['width'])):>5d} {np.median(rec['active']):>6.0f} {summary(rec['ex']):>20} "
              f"{summary(rec['refit']):>20} {np.mean(rec['sec']):>8.2f}   {summary(rec['exM']):>20} {wins:>7d}/{k}")
    for b in names:
        if rows[b]["diverged"]:
            print(f"  note: {b} diverged in {rows[b]['diverged']} run(s) (it returned its best epoch)")
    print(f"{'certqnn pruned':<16} {M:>5d} {'':>6} {'':>20} {'':>20} {'':>8}   {summary(pruned_ex):>20}")
    print("\nwidth: neurons trained (problem width, default 16); active: nonzero alpha; 'beats pruned': problems where "
          f"the heuristic at width {M} has a lower J than certqnn's optimum pruned to {M} neurons.")


if __name__ == "__main__":
    main()
