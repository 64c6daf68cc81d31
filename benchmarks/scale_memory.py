"""Peak memory and time of certify, writing the certificate and `certqnn verify` at scale.

    python benchmarks/scale_memory.py DATA.npz [--width 2] [--out-dir DIR] [--write auto|embed|file]
                                      [--loss squared|logistic|hinge|...]

DATA: an .npz with X (n, d) and y (n,) (benchmarks/make_big.py writes one). The problem is binary
weights, sigma(t) = t^2, --loss (default squared; a classification loss uses the labels
sign(y - median y)), beta = 1; the Result given to certify() is a small random network (--width
neurons, alpha = 0.01) and the dual point w = the loss gradient at f(X) with
z+ = z- = lambda_max(+-Q(w)) 1 (computed beforehand, blockwise). Each stage runs in its own
process and reports its own peak RSS (ru_maxrss, which includes the ~60 MB of the interpreter and
numpy) and wall-clock seconds:

    certify   QNNProblem + certify() (which also re-verifies its certificate in memory)
    write     the same process continues with Certificate.write(FILE, data=--write) (peak covers
              both): "embed" puts X, y in the JSON, "file" in FILE's data file (CERT.data.npz),
              "auto" (the CLI's choice) embeds up to certqnn.limits.EMBED_MAX_VALUES numbers
    verify    a fresh `certqnn verify FILE` process
The machine is shared: seconds are noisy.
"""
from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time

import numpy as np

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")
sys.path.insert(0, ROOT)


def peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def stage_certify(data: str, cert_path: str, width: int, write: str, loss: str = "squared") -> dict:
    from certqnn import QNNProblem, certify
    from certqnn.losses import get_loss
    from certqnn.lifting import q_matrix
    from certqnn.network import QuantizedNetwork
    from certqnn.progress import set_enabled
    from certqnn.result import DualData, Result, Status

    set_enabled(False)
    with np.load(data) as f:
        X, y = np.asarray(f["X"], float), np.asarray(f["y"], float)
    rng = np.random.default_rng(0)
    U = np.where(rng.random((X.shape[1], width)) < 0.5, -1.0, 1.0)
    alpha = np.full(width, 0.01)
    if get_loss(loss).classification:
        y = np.where(y >= np.median(y), 1.0, -1.0)
    t0 = time.perf_counter()
    problem = QNNProblem(X, y, loss=loss)
    del X
    net = QuantizedNetwork(U, alpha)
    w = problem.loss.gradient(net.predict(problem.X, problem.activation), problem.y)
    # z from the spectrum of Q(w), formed block by block (outside the measured certify call)
    Q = np.zeros((problem.d + 1, problem.d + 1))
    for lo in range(0, problem.n, 4096):
        Q += q_matrix(problem.X[lo:lo + 4096], problem.activation, w[lo:lo + 4096])
    lam = np.linalg.eigvalsh(Q)
    zp, zm = np.full(Q.shape[0], lam[-1] * 1.001), np.full(Q.shape[0], -lam[0] * 1.001)
    result = Result(Status.FEASIBLE, "bench", net, dual=DualData(w, zp, zm), rho_method="shor")
    t_setup = time.perf_counter() - t0
    rss_setup = peak_mb()
    t0 = time.perf_counter()
    cert = certify(problem, result)
    t_cert = time.perf_counter() - t0
    rss_cert = peak_mb()
    t0 = time.perf_counter()
    cert.write(cert_path, data=write) if write != "legacy" else cert.write(cert_path)
    t_write = time.perf_counter() - t0
    return {"n": problem.n, "d": problem.d, "width": width, "loss": loss, "setup_s": t_setup, "setup_peak_mb": rss_setup,
            "certify_s": t_cert, "certify_peak_mb": rss_cert, "write_s": t_write, "write_peak_mb": peak_mb(),
            "file_mb": os.path.getsize(cert_path) / 2 ** 20, "write": write, "lower": cert.lower_bound, "upper": cert.upper_bound}


def run_stage(args_list) -> dict:
    out = subprocess.run([sys.executable, __file__, *args_list], capture_output=True, text=True,
                         env={**os.environ, "PYTHONPATH": ROOT})
    if out.returncode != 0:
        raise SystemExit(out.stderr)
    return json.loads(out.stdout.strip().splitlines()[-1])


def stage_verify(cert_path: str) -> dict:
    t0 = time.perf_counter()
    cmd = [sys.executable, "-m", "certqnn.cli", "verify", cert_path, "--json"]
    # /usr/bin/time -v reports the child's peak RSS
    proc = subprocess.run(["/usr/bin/time", "-v", *cmd], capture_output=True, text=True,
                          env={**os.environ, "PYTHONPATH": ROOT})
    secs = time.perf_counter() - t0
    rss = [line for line in proc.stderr.splitlines() if "Maximum resident set size" in line]
    ok = json.loads(proc.stdout)["ok"] if proc.stdout.strip().startswith("{") else None
    return {"verify_s": secs, "verify_peak_mb": int(rss[0].split(":")[1]) / 1024.0 if rss else None,
            "verify_ok": ok, "exit": proc.returncode,
            "stderr": proc.stderr.splitlines()[0] if proc.returncode not in (0, 1) else ""}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("data")
    ap.add_argument("--width", type=int, default=2)
    ap.add_argument("--out-dir", default=".")
    ap.add_argument("--write", choices=("auto", "embed", "file", "legacy"), default="auto",
                    help="where the certificate's X, y go (Certificate.write's data=; legacy: write(path))")
    ap.add_argument("--loss", default="squared")
    ap.add_argument("--stage", choices=("certify",), default=None, help=argparse.SUPPRESS)
    ap.add_argument("--cert", default=None, help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.stage == "certify":
        print(json.dumps(stage_certify(args.data, args.cert, args.width, args.write, args.loss)))
        return 0
    cert_path = os.path.join(args.out_dir, os.path.basename(args.data) + f".{args.write}.{args.loss}.json")
    row = run_stage([args.data, "--stage", "certify", "--cert", cert_path, "--width", str(args.width),
                     "--write", args.write, "--loss", args.loss])
    row.update(stage_verify(cert_path))
    print(json.dumps(row, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
