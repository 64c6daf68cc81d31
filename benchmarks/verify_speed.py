"""How long does `certqnn verify FILE` take on a realistic certificate? (target: <= 5 s)

Generates a Shor certificate for synthetic data with n = 1000, d = 50 (binary weights, quadratic
activation, beta = 1), writes it, then times reading + verifying it

* in process: `Certificate.read(path)` followed by `certqnn.verify(cert)`, and `cli.main(["verify", path])`;
* as a subprocess: the installed `certqnn verify FILE` console script (interpreter start-up and
  imports included — what a user waits for).

    python benchmarks/verify_speed.py [--n 1000] [--d 50] [--repeats 5] [--out DIR] [--keep]

Prints every timing and a summary; exits 1 if the median subprocess time exceeds --target.
"""
from __future__ import annotations

import argparse
import contextlib
import io
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

import certqnn
from certqnn import Certificate, QNNProblem, certify, solve, verify
from certqnn.cli import main as cli_main
from certqnn.datasets import load


def console_script() -> str | None:
    path = os.pathsep.join([os.path.dirname(sys.executable), os.environ.get("PATH", "")])
    return shutil.which("certqnn", path=path)


def fmt(ts):
    return (f"min {min(ts):.3f} s, median {statistics.median(ts):.3f} s, max {max(ts):.3f} s "
            f"({', '.join(f'{t:.3f}' for t in ts)})")


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=1000)
    parser.add_argument("--d", type=int, default=50)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--beta", type=float, default=1.0)
    parser.add_argument("--pricing-rounds", type=int, default=20, help="rounds of local-search pricing in the SDP rounding (default 20)")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--target", type=float, default=5.0, help="seconds allowed for the median subprocess run (default 5)")
    parser.add_argument("--out", default=None, help="directory for the certificate (default: a temporary one)")
    parser.add_argument("--keep", action="store_true", help="keep the certificate file")
    args = parser.parse_args(argv)
    os.environ.setdefault("CERTQNN_PROGRESS", "0")

    out_dir = args.out or tempfile.mkdtemp(prefix="certqnn-verify-speed-")
    os.makedirs(out_dir, exist_ok=True)
    path = os.path.join(out_dir, f"synthetic_n{args.n}_d{args.d}.json")
    spec = f"synthetic:n={args.n},d={args.d},seed={args.seed}"
    print(f"certqnn {certqnn.__version__}, Python {sys.version.split()[0]}, {os.cpu_count()} CPUs")
    print(f"generating: {spec}, binary weights, beta={args.beta:g}, backend sdp (pricing_rounds={args.pricing_rounds})")
    data = load(spec)
    problem = QNNProblem(data.X, data.y, beta=args.beta)
    t0 = time.perf_counter()
    result = solve(problem, "sdp", pricing_rounds=args.pricing_rounds)
    t1 = time.perf_counter()
    cert = certify(problem, result)
    t2 = time.perf_counter()
    cert.write(path)
    size = os.path.getsize(path)
    print(f"  solve {t1 - t0:.1f} s, certify {t2 - t1:.2f} s; certificate {path} ({size / 1e6:.2f} MB): "
          f"LB {cert.lower_bound:.8g}, UB {cert.upper_bound:.8g}, rel. gap {cert.relative_gap:.2e}, "
          f"width {cert.alpha.shape[0]}, rho by {cert.rho_certified_by}")

    read_t, verify_t, total_t, cli_t, sub_t = [], [], [], [], []
    for _ in range(args.repeats):
        a = time.perf_counter()
        c = Certificate.read(path)
        b = time.perf_counter()
        verdict = verify(c)
        e = time.perf_counter()
        assert verdict.ok, [(x.name, x.detail) for x in verdict.failed]
        read_t.append(b - a)
        verify_t.append(e - b)
        total_t.append(e - a)
        with contextlib.redirect_stdout(io.StringIO()):
            a = time.perf_counter()
            code = cli_main(["verify", path])
            cli_t.append(time.perf_counter() - a)
        assert code == 0
    print(f"in process, Certificate.read:       {fmt(read_t)}")
    print(f"in process, verify():               {fmt(verify_t)}")
    print(f"in process, read + verify:          {fmt(total_t)}")
    print(f"in process, cli.main(['verify', …]): {fmt(cli_t)}")
    script = console_script()
    if script is None:
        print("subprocess: the certqnn console script is not installed; skipped")
        worst = statistics.median(cli_t)
    else:
        for _ in range(args.repeats):
            a = time.perf_counter()
            proc = subprocess.run([script, "verify", path], capture_output=True, text=True)
            sub_t.append(time.perf_counter() - a)
            assert proc.returncode == 0, proc.stdout + proc.stderr
        print(f"subprocess `certqnn verify FILE`:   {fmt(sub_t)}")
        worst = statistics.median(sub_t)
    ok = worst <= args.target
    print(f"target <= {args.target:g} s: {'met' if ok else 'NOT met'} (median {worst:.3f} s)")
    if not args.keep and args.out is None:
        shutil.rmtree(out_dir, ignore_errors=True)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
