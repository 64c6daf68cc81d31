"""Write a large synthetic regression data set for the scale benchmarks.

    python benchmarks/make_big.py --n 10000 --d 200 --out big.npz [--seed 0] [--planted 3] [--noise 0.1]
    python benchmarks/make_big.py --n 100000 --d 100 --out bigdir   # a directory: X.npy, y.npy

Features are standardized Gaussians (each column zero mean, unit variance, as `certqnn solve`
would standardize them); y = sum_j a_j (x^T u_j)^2 / d + noise with `planted` random binary neurons,
the planted network of certqnn.datasets.synthetic. Rows are generated in blocks of 8192, so the
peak memory is about one copy of X. An --out ending in .npz writes one file with arrays X and y;
any other --out is a directory holding X.npy and y.npy (which certqnn loads memory-mapped).
"""
from __future__ import annotations

import argparse
import os
import sys

import numpy as np

BLOCK = 8192


def make(n: int, d: int, seed: int = 0, planted: int = 3, noise: float = 0.1) -> tuple[np.ndarray, np.ndarray]:
    """(X, y): X (n, d) standardized columns, y (n,) from a planted binary network."""
    rng = np.random.default_rng(seed)
    U = np.where(rng.random((d, planted)) < 0.5, -1.0, 1.0)
    a = rng.choice([-1.0, 1.0], planted) * rng.uniform(0.5, 1.5, planted)
    X = np.empty((n, d))
    for lo in range(0, n, BLOCK):
        X[lo:lo + BLOCK] = rng.standard_normal((min(BLOCK, n - lo), d))
    X -= X.mean(axis=0)
    X /= np.where(X.std(axis=0) > 0, X.std(axis=0), 1.0)
    y = np.empty(n)
    for lo in range(0, n, BLOCK):
        y[lo:lo + BLOCK] = ((X[lo:lo + BLOCK] @ U) ** 2 / d) @ a
    y += noise * rng.standard_normal(n)
    return X, y


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--n", type=int, default=10000)
    ap.add_argument("--d", type=int, default=200)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--planted", type=int, default=3)
    ap.add_argument("--noise", type=float, default=0.1)
    ap.add_argument("--out", required=True, help="FILE.npz, or a directory for X.npy + y.npy")
    args = ap.parse_args(argv)
    if args.n < 2 or args.d < 1 or args.planted < 1:
        ap.error("need --n >= 2, --d >= 1, --planted >= 1")
    X, y = make(args.n, args.d, args.seed, args.planted, args.noise)
    if args.out.lower().endswith(".npz"):
        np.savez(args.out, X=X, y=y)
    else:
        os.makedirs(args.out, exist_ok=True)
        np.save(os.path.join(args.out, "X.npy"), X)
        np.save(os.path.join(args.out, "y.npy"), y)
    print(f"wrote {args.out}: X {X.shape}, y {y.shape}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
