"""Per loss: the Shor and the triangle-strengthened SDP gaps against the exact optimum p*_inf.

For every loss in --losses, d in --dims and seed in --seeds (synthetic planted data, n = --n;
classification losses take labels sign(y - median y)): p*_inf by brute force (all 2^d atoms, the
convex Lasso with the general loss solved by scipy: HiGHS LP for hinge/absolute, L-BFGS-B for the
smooth ones; independent of certqnn's solvers), then the lower bounds of `sdp` and
`sdp --cuts triangle`. The bounds are certified by certify() when the loss has its rigorous parts,
else the solver's claimed values (column "kind": cert | claim). Relative gap = (p* - LB) / p*.

    python benchmarks/loss_tightness.py [--losses squared,logistic,...] [--dims 4,5,6,7,8] [--seeds 0,1]
"""
import argparse
import pathlib
import sys
import time

import numpy as np

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[1] / "tests"))

from certqnn import QNNProblem, certify, solve  # noqa: E402
from certqnn.datasets import load  # noqa: E402
from loss_standins import CLASSIFICATION, brute_force_optimum, loss_by_name  # noqa: E402


def bound(problem, result):
    """(lower bound, 'cert' | 'claim'): certified when the loss supports it."""
    try:
        return certify(problem, result).lower_bound, "cert"
    except NotImplementedError:     # a stand-in loss without the rigorous parts
        return result.lower_bound, "claim"


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--losses", default="squared,logistic,hinge,squared_hinge,huber,absolute")
    parser.add_argument("--dims", default="4,5,6,7,8")
    parser.add_argument("--seeds", default="0,1")
    parser.add_argument("--n", type=int, default=40)
    parser.add_argument("--beta", type=float, default=0.5)
    args = parser.parse_args()
    print(f"{'loss':<14} {'d':>2} {'seed':>4}  {'p*':>11}  {'Shor gap':>10}  {'triangle gap':>12}  {'cuts':>5}  kind   {'sec':>6}")
    summary = {}
    for name in args.losses.split(","):
        gaps = []
        for d in [int(v) for v in args.dims.split(",")]:
            for seed in [int(v) for v in args.seeds.split(",")]:
                data = load(f"synthetic:n={args.n},d={d},seed={seed}")
                y = np.asarray(data.y, float)
                if name in CLASSIFICATION:
                    y = np.where(y > np.median(y), 1.0, -1.0)
                loss = "squared" if name == "squared" else loss_by_name(name)
                problem = QNNProblem(data.X, y, loss=loss, beta=args.beta)
                start = time.perf_counter()
                p_star = brute_force_optimum(problem)
                shor, kind = bound(problem, solve(problem, "sdp", rounding=False, eps=1e-8))
                tri_res = solve(problem, "sdp", rounding=False, cuts="triangle", eps=1e-8)
                tri, _ = bound(problem, tri_res)
                g_shor, g_tri = (p_star - shor) / p_star, (p_star - tri) / p_star
                gaps.append((g_shor, g_tri))
                print(f"{name:<14} {d:>2} {seed:>4}  {p_star:>11.5f}  {g_shor:>10.2e}  {g_tri:>12.2e}  "
                      f"{tri_res.report.get('cuts_added', 0):>5}  {kind:<5}  {time.perf_counter() - start:>6.1f}", flush=True)
        g = np.array(gaps)
        summary[name] = (len(g), np.median(g[:, 0]), g[:, 0].max(), np.median(g[:, 1]), g[:, 1].max())
    print()
    print(f"{'loss':<14} {'problems':>8}  {'Shor median':>11}  {'Shor max':>9}  {'tri median':>10}  {'tri max':>9}")
    for name, (k, sm, sx, tm, tx) in summary.items():
        print(f"{name:<14} {k:>8}  {sm:>11.2e}  {sx:>9.2e}  {tm:>10.2e}  {tx:>9.2e}")


if __name__ == "__main__":
    main()
