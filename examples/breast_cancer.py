"""Certified binary-weight networks on scikit-learn's breast-cancer data (no download needed).

Trains on a stratified 70 % split (standardized with the training statistics), certifies the
result, and prints the certificate table and the train / test accuracy of each certified network.

    python examples/breast_cancer.py [--beta 20] [--features 12] [--out-dir .]
"""
import argparse
import os
import time

import numpy as np
from sklearn.datasets import load_breast_cancer
from sklearn.model_selection import train_test_split

from certqnn import QNNProblem, certify, solve
from certqnn.report import Row, table


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--beta", type=float, default=20.0, help="l1 weight (default 20: regularizes enough to generalize)")
    parser.add_argument("--features", type=int, default=12, help="features for the exact (enumeration) run")
    parser.add_argument("--out-dir", default=".", help="where to write the certificates")
    args = parser.parse_args()

    data = load_breast_cancer()
    X, y = data.data, np.where(data.target == 1, 1.0, -1.0)
    X_tr, X_te, y_tr, y_te = train_test_split(X, y, test_size=0.3, stratify=y, random_state=0)
    mu, sd = X_tr.mean(axis=0), X_tr.std(axis=0)
    X_tr, X_te = (X_tr - mu) / sd, (X_te - mu) / sd

    runs = [(f"{args.features} features", args.features, "enumeration"),
            (f"{args.features} features", args.features, "sdp"),
            ("30 features", 30, "sdp")]
    rows, accuracy = [], []
    for label, k, backend in runs:
        problem = QNNProblem(X_tr[:, :k], y_tr, activation=(1, 0, 0), levels="binary", beta=args.beta)
        start = time.perf_counter()
        result = solve(problem, backend)
        cert = certify(problem, result)
        seconds = time.perf_counter() - start
        path = os.path.join(args.out_dir, f"breast_cancer_{k}_{backend}.json")
        cert.write(path)
        rows.append(Row(f"{label}: {backend}", cert.lower_bound, cert.upper_bound, cert.gap, cert.relative_gap,
                        result.network.width, seconds))
        net = result.network
        train_acc = np.mean(np.sign(net.predict(X_tr[:, :k], problem.activation)) == y_tr)
        test_acc = np.mean(np.sign(net.predict(X_te[:, :k], problem.activation)) == y_te)
        accuracy.append((f"{label}: {backend}", train_acc, test_acc, path))

    print(f"breast_cancer: {len(y_tr)} training / {len(y_te)} test samples, binary weights, "
          f"sigma(t) = t^2, beta = {args.beta:g}\n")
    print(table(rows))
    print()
    width = max(len(a[0]) for a in accuracy)
    print(f"{'network'.ljust(width)}  train acc.  test acc.  certificate")
    for name, tr, te, path in accuracy:
        print(f"{name.ljust(width)}  {tr:10.1%}  {te:9.1%}  {path}")


if __name__ == "__main__":
    main()
