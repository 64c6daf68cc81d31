"""`certqnn` command line (docs/cli.md): demo, solve, verify, compare, predict, export.

Exit codes: 0 success (verify: the certificate holds), 1 the certificate does not hold,
2 bad input or failure (message on stderr, no output file written).
"""
from __future__ import annotations

import argparse
import json
import os
import re
import sys
import time

import numpy as np

from . import __version__
from .activations import Polynomial
from .atomic import check_writable
from .backends.base import declared_options, get_backend
from .certify import certify
from .cli_options import add_backend_flags, backend_options
from .errors import CertificateFormatError, CertQNNError
from .network import network_outputs
from .problem import QNNProblem
from .shor import fo_mpi
from .report import Row, plot_bounds, plot_training_curves, table
from .solve import solve
from .trusted.certificate import Certificate, read_certificate
from .trusted.multiclass import MultiClassCertificate
from .trusted.verify import verify

EXIT_OK, EXIT_FAILED_CHECK, EXIT_BAD_INPUT = 0, 1, 2


class UsageError(CertQNNError):
    pass


def _positive_float(text):
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None
    if not np.isfinite(value) or value <= 0:
        raise argparse.ArgumentTypeError(f"must be a positive number, got {text!r}")
    return value


def _fraction(text):
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None
    if not 0 < value < 1:
        raise argparse.ArgumentTypeError(f"must be strictly between 0 and 1, got {text!r}")
    return value


def _positive_int(text):
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected an integer, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be >= 1, got {text!r}")
    return value


def _add_problem_options(p: argparse.ArgumentParser):
    p.add_argument("--beta", type=str, default="1.0", help="l1 weight beta > 0 (ours = paper's beta*d; default 1.0)")
    p.add_argument("--activation", default="1,0,0", help="polynomial a,b,c of sigma(t)=a t^2+b t+c (default 1,0,0)")
    p.add_argument("--levels", default="binary", help="binary | ternary | kbit:K | v1,v2,... (default binary)")
    p.add_argument("--loss", default="squared", help="loss (default squared)")
    p.add_argument("--width", type=_positive_int, default=None, help="at most M neurons (default: unconstrained)")
    p.add_argument("--standardize", action=argparse.BooleanOptionalAction, default=True,
                   help="standardize X columns (and y for regression); default on")
    p.add_argument("--task", choices=("auto", "classification", "regression", "multiclass"), default="auto",
                   help=".csv/.npz: auto (two distinct labels -> classification, mapped to -1/+1), "
                        "classification, regression or multiclass (> 2 labels: one-vs-rest, `solve` only); "
                        "sklearn:NAME with K > 2 classes under a classification loss is multiclass unless "
                        "class=C is given (default auto)")
    add_backend_flags(p)
    p.add_argument("--quiet", action="store_true", help="no progress bars")


def _build_problem(args, test_fraction: float | None = None, multiclass: bool = False):
    """(data, problem, test) from the command line; test is the standardized held-out Dataset
    (None without test_fraction). Standardization is fitted on the training rows only.
    multiclass: K-class data under a classification loss give data.task "multiclass" and a list of
    K one-vs-rest problems instead of one problem (otherwise one class against the rest)."""
    from .datasets import load, split, standardize_dataset

    from .losses import get_loss

    task = getattr(args, "task", None)
    try:
        classification_loss = get_loss(args.loss).classification
    except CertQNNError:
        classification_loss = False        # QNNProblem names the bad loss below
    if task == "multiclass" and not multiclass:
        raise UsageError("--task multiclass: only `certqnn solve` trains one-vs-rest networks")
    if task == "multiclass" and not classification_loss:
        raise UsageError(f"--task multiclass needs a classification loss (logistic, hinge, squared_hinge), got {args.loss}")
    if classification_loss and task in (None, "auto"):
        # labels +-1, y never standardized; sklearn sets with K > 2 classes keep them under `solve`
        task = "multiclass" if multiclass and str(args.data).startswith("sklearn:") else "classification"
    raw = load(args.data, standardize=False, task=task)
    if classification_loss and raw.task not in ("classification", "multiclass"):
        raise UsageError(f"--loss {args.loss}: a classification loss needs two-class labels; {args.data} is a "
                         "regression data set (use --loss squared, huber or absolute)")
    test = None
    if test_fraction:
        raw, test = split(raw, test_fraction, seed=_split_seed(args))
    data = standardize_dataset(raw, args.standardize)
    if test is not None:
        from .datasets import apply_preprocessing

        test.X = apply_preprocessing(data.preprocessing, test.X) if np.all(np.isfinite(test.X)) else test.X
        test.preprocessing = data.preprocessing
    beta = args.beta
    try:
        beta = float(beta)
    except ValueError:
        pass  # QNNProblem names the field
    if data.task == "multiclass":
        from .one_vs_rest import class_problems

        problems = class_problems(data.X, data.y, len(data.preprocessing["classes"]),
                                  activation=Polynomial.parse(args.activation), levels=args.levels,
                                  loss=args.loss, beta=beta, width=args.width)
        for p in problems:
            _refuse_degenerate(p)
        if _mpi_rank() == 0:
            print(f"task: {data.task_reason}", file=sys.stderr)
        return data, problems, test
    problem = QNNProblem(data.X, data.y, activation=Polynomial.parse(args.activation), levels=args.levels,
                         loss=args.loss, beta=beta, width=args.width)
    _refuse_degenerate(problem)
    if _mpi_rank() == 0:
        print(f"task: {data.task_reason}", file=sys.stderr)
    return data, problem, test


def _refuse_degenerate(problem: QNNProblem) -> None:
    """Data with nothing to learn fail here, before any solver (whose factorizations would fail)."""
    from .errors import InvalidProblemError

    if problem.n < 2:
        raise InvalidProblemError("DATA", f"has n = {problem.n} sample; a certified fit needs at least 2")
    if not np.any(problem.X):
        raise InvalidProblemError("DATA", "every feature is constant (all of X is 0 after standardization), so every "
                                  "network predicts a constant; give at least one varying feature")


def _split_seed(args) -> int:
    seed = getattr(args, "opt_seed", None)
    return 0 if seed is None else int(seed)


def _check_seed(args) -> None:
    seed = getattr(args, "opt_seed", None)
    if seed is not None and seed < 0:
        raise UsageError(f"--seed: must be a non-negative integer, got {seed}")


def _held_out(cert: Certificate, problem: QNNProblem, test) -> str:
    """'test accuracy 95.6% (114 samples)' or 'test R^2 0.81 (...)' of the certified network."""
    f = cert.network.predict(test.X, problem.activation)
    if test.task == "classification":
        return f"test accuracy {np.mean(np.where(f > 0, 1.0, -1.0) == test.y):.1%} ({test.y.shape[0]} held-out samples)"
    resid = float(np.sum((f - test.y) ** 2))
    total = float(np.sum((test.y - test.y.mean()) ** 2))
    r2 = 1.0 - resid / total if total > 0 else float("nan")
    return f"test R^2 {r2:.4f} ({test.y.shape[0]} held-out samples; standardized y, the same R^2 as in y's units)"


_SOLVE_SECONDS: dict[int, float] = {}
# runs at least this long print where their time went (the table has the total only)
TIME_LINE_SECONDS = 10.0
# solve explains a weak lower bound when the dual point had to be scaled down this much (rho_bar /
# beta) and the certified relative gap is at least WEAK_GAP
WEAK_SCALING, WEAK_GAP = 10.0, 0.1
# beta's share of the objective below which the optimality condition |phi_u^T w| <= beta is finer
# than double precision resolves (the l1 term is lost in the loss's last bits)
UNRESOLVED_BETA_SHARE = 1e-9


def _weak_lower_bound_note(problem: QNNProblem, cert: Certificate) -> str | None:
    """Why the lower bound is weak, when the scaling lemma (docs/math.md §4) had to shrink the dual
    point a lot: a beta too small to resolve, or a dual point far from feasible. None otherwise."""
    ratio = cert.tightness.get("rho_bar_over_beta")
    if ratio is None or not (ratio >= WEAK_SCALING and cert.relative_gap >= WEAK_GAP):
        return None
    note = (f"note: the dual point has rho_bar = {ratio:.3g} x beta, so the lower bound scales it down by that "
            "factor (docs/math.md §4): that is why it is weak. ")
    share = problem.beta * float(np.abs(cert.alpha).sum()) / cert.upper_bound if cert.upper_bound > 0 else 0.0
    if share < UNRESOLVED_BETA_SHARE:
        return note + (f"beta = {problem.beta:g} is {share:.2g} of the objective: its optimality condition "
                       "|phi_u^T w| <= beta is finer than double precision resolves, so no backend can close this "
                       "gap; use a larger --beta")
    return note + ("The backend's dual point is far from feasible: heuristic backends have none of their own (w is "
                   "the loss's gradient at their network); for the others a larger budget may close the gap")


def _where_the_time_went(result, solve_seconds: float, total_seconds: float) -> str:
    """One line: the stages of the solve (the sdp backend's relaxation and rounding, with the fo
    engine's time in passes; auto's methods, each with its stages; else the backend's time), then
    the certification."""
    t = result.timings or {}

    def sdp_stages(s: dict) -> list[str]:
        parts = [f"relaxation {s['sdp']:.1f} s"]
        if "fo_time_in_passes" in s:
            parts[0] += f" (fo engine {s['fo_solve']:.1f} s = {s['fo_time_in_passes']:.0f} passes' time)"
        if "rounding" in s:
            parts.append(f"rounding {s['rounding']:.1f} s")
        return parts

    if result.backend == "auto":
        parts = []
        for name in result.report.get("methods", []):
            stages = {k.split(".", 1)[1]: v for k, v in t.items() if k.startswith(name + ".")}
            parts.append(f"{name} {t.get(name, float('nan')):.1f} s"
                         + (f" ({', '.join(sdp_stages(stages))})" if "sdp" in stages else ""))
    elif "sdp" in t:
        parts = sdp_stages(t)
    else:
        parts = [f"{result.backend} {solve_seconds:.1f} s"]
    return f"time: {', '.join(parts)}, certify {total_seconds - solve_seconds:.1f} s"


def _run(problem, backend_spec: str, options: dict, exact_value=None):
    """solve + certify one backend spec 'name[:engine]' -> (Row, Certificate, Result)."""
    name = backend_spec.split(":", 1)[0]
    start = time.perf_counter()
    result = solve(problem, name, **options)
    solve_seconds = time.perf_counter() - start
    cert = certify(problem, result, exact_value=exact_value)
    seconds = time.perf_counter() - start
    _SOLVE_SECONDS[id(result)] = solve_seconds     # for the time-limit notice of `solve`
    label = backend_spec if ":" in backend_spec or name != "sdp" else f"sdp:{result.report.get('engine', 'scs')}"
    if name == "auto":              # which method gave which half of the certificate
        label = f"auto (LB {result.report.get('lower_bound_from')}, UB {result.report.get('upper_bound_from')})"
    if result.time_limit_hit:
        label += " (time limit)"
    row = Row(label, cert.lower_bound, cert.upper_bound, cert.gap, cert.relative_gap, int(cert.alpha.shape[0]), seconds)
    return row, cert, result


def _require_matplotlib(flag: str):
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        raise UsageError(f"{flag} needs matplotlib: pip install 'certqnn[plot]'") from None


def _accuracy(cert: Certificate, X, y, activation) -> float:
    yhat = network_outputs(X, activation, cert.U, cert.alpha)
    return float(np.mean(np.sign(yhat) == y))


# -- commands --------------------------------------------------------------------------------
def _mpi_rank() -> int:
    """This process's MPI rank when launched by mpiexec (0 otherwise), without importing mpi4py."""
    for var in ("PMI_RANK", "OMPI_COMM_WORLD_RANK", "PMIX_RANK"):
        if var in os.environ:
            return int(os.environ[var])
    return 0


def _mpi_size() -> int:
    """The number of MPI processes when launched by mpiexec (1 otherwise), without importing mpi4py."""
    for var in ("PMI_SIZE", "OMPI_COMM_WORLD_SIZE", "PMIX_SIZE"):
        if var in os.environ:
            return int(os.environ[var])
    return 1


def _check_outputs(*paths):
    """Fail before any long work when an output file cannot be written (None: not asked for;
    an empty path is an error, not a request for no file)."""
    for path in paths:
        if path is not None:
            try:
                check_writable(path)
            except OSError as exc:
                raise UsageError(f"cannot write {path!r}: {exc}") from None


def _check_plot_format(flag: str, path):
    """Fail before any long work when matplotlib cannot write a plot of path's format."""
    _require_matplotlib(flag)
    if path is None:
        return
    from matplotlib.figure import Figure

    formats = Figure().canvas.get_supported_filetypes()
    ext = os.path.splitext(str(path))[1].lstrip(".").lower()
    if ext not in formats:
        raise UsageError(f"{flag}: cannot draw a {'.' + ext if ext else 'file without an extension'}; "
                         f"name a file ending in one of {', '.join('.' + f for f in sorted(formats))}")


def _trajectory_title(result) -> str:
    r = result.report
    if result.backend == "dqsfw":
        return f"dqsfw: {r.get('agents')} agents, {r.get('graph')}, b={r.get('bits')}"
    if result.backend == "frank-wolfe":
        return f"frank-wolfe ({r.get('form')}, {r.get('step')})"
    return result.backend


def cmd_solve(args) -> int:
    _check_outputs(args.out, args.convergence_plot)
    _check_seed(args)
    if args.convergence_plot is not None:
        _check_plot_format("--plot", args.convergence_plot)
    options = backend_options(args.backend, args)
    if args.convergence_plot:
        if "history" not in declared_options(get_backend(args.backend.split(":", 1)[0]).Options):
            # refused before the solve: the backend records no convergence history to draw
            raise UsageError(f"--plot: backend '{args.backend}' records no convergence history "
                             "(use it with frank-wolfe or dqsfw; `compare --plot` draws any backend's bounds)")
        options["history"] = True
    get_backend(args.backend.split(":", 1)[0]).options(**options)   # bad options fail before loading data
    if _mpi_size() > 1 and fo_mpi.applies(args.data, args.backend.split(":", 1)[0], options.get("engine"),
                                                 args.test_fraction):
        return _solve_with_row_shards(args, options)
    data, problem, test = _build_problem(args, args.test_fraction, multiclass=True)
    if data.task == "multiclass":
        if args.convergence_plot:
            raise UsageError("--plot: not available for multi-class (one-vs-rest) runs")
        return _solve_multiclass(args, data, problem, test, options)
    return _solve_and_report(args, data, problem, test, options)


def _solve_with_row_shards(args, options) -> int:
    """fo:mpi on a directory of .npy files: rank 0 loads the data and runs the backend, the other
    ranks read only their own rows and take part in the engine's run (certqnn.shor.fo_mpi)."""
    comm = fo_mpi.comm_world()
    if comm.Get_rank() != 0:
        fo_mpi.serve(comm, args.data)
        return EXIT_OK
    setup = None
    try:
        data, problem, test = _build_problem(args, None, multiclass=False)
        setup = {"preprocessing": data.preprocessing, "levels": problem.levels, "activation": problem.activation}
        fo_mpi.send_setup(comm, setup)
        return _solve_and_report(args, data, problem, test, options)
    finally:
        if setup is None:
            fo_mpi.send_setup(comm, None)
        fo_mpi.finish(comm)


def _solve_and_report(args, data, problem, test, options) -> int:
    root = _mpi_rank() == 0
    if root:
        print(f"problem: {data.name}: {problem.describe()}", file=sys.stderr)
    row, cert, result = _run(problem, args.backend, options)
    if not root:
        return EXIT_OK   # under MPI every rank solves and certifies; rank 0 reports and writes
    cert.preprocessing = data.preprocessing
    if args.out:
        data_file = cert.write(args.out)
        if data_file:
            print(f"data ({problem.n} x {problem.d}) written to {data_file}, which the certificate names "
                  "(keep it next to the certificate)", file=sys.stderr)
    if args.convergence_plot:
        if not result.trajectory:
            raise UsageError(f"--plot: backend '{result.backend}' records no convergence history")
        from .report import plot_convergence

        plot_convergence(result.trajectory, args.convergence_plot, title=_trajectory_title(result),
                         x="bits" if "bits" in result.trajectory else "iteration", certified_gap=cert.gap)
        print(f"convergence plot written to {args.convergence_plot}")
    print(table([row]))
    if result.time_limit_hit:
        solved = _SOLVE_SECONDS.get(id(result))
        after = f" after {solved:.1f} s" if solved is not None else ""
        if solved is not None and (result.timings or {}).get("rho_tree"):
            # colgen builds its proof tree of rho after the stop: certification work, not search
            after += f" (of which {result.timings['rho_tree']:.1f} s built the proof tree of rho after the stop)"
        print(f"the time limit stopped the run{after} (backend '{result.backend}'); certifying took "
              f"{row.seconds - solved if solved is not None else float('nan'):.1f} s more (not limited). "
              "The bounds above are certified; the gap is what was reached before the stop")
    if row.seconds >= TIME_LINE_SECONDS and id(result) in _SOLVE_SECONDS:
        print(_where_the_time_went(result, _SOLVE_SECONDS[id(result)], row.seconds))
    weak = _weak_lower_bound_note(problem, cert)
    if weak:
        print(weak)
    if test is not None:
        print(f"{_held_out(cert, problem, test)}; certified relative gap {cert.relative_gap:.2e} (training objective)")
    t = cert.tightness
    if "cuts_added" in t:
        print(f"Shor bound {t['shor_bound']:.8g} -> strengthened {t['strengthened_bound']:.8g} "
              f"({t['cuts_added']} triangle cuts in {t['cut_rounds']} round{'' if t['cut_rounds'] == 1 else 's'}; solver objectives; the certified bound is the table's lower bound)")
    if args.out:
        print(f"certificate written to {args.out}  (check it with: certqnn verify {args.out})")
    return EXIT_OK


def _solve_multiclass(args, data, problems, test, options) -> int:
    """`solve` on K-class data: K one-vs-rest parts, one table row per class plus the total."""
    from .one_vs_rest import train_one_vs_rest

    root = _mpi_rank() == 0
    classes = data.preprocessing["classes"]
    K = len(classes)
    if root:
        print(f"problem: {data.name}: {K} one-vs-rest parts of {problems[0].describe()}", file=sys.stderr)
    rows = []

    def run(problem):
        row, cert, result = _run(problem, args.backend, options)
        return (row, result), cert

    def on_part(k, label, out, cert):
        row, result = out
        row.backend = f"class {label}" + (" (time limit)" if result.time_limit_hit else "")
        rows.append(row)
        if root:
            print(f"  class {k + 1}/{K} ({label}) vs rest: UB {cert.upper_bound:.8g}, LB {cert.lower_bound:.8g}, "
                  f"rel. gap {cert.relative_gap:.2e} ({row.seconds:.1f} s)", file=sys.stderr)

    mc, _ = train_one_vs_rest(problems, classes, data.preprocessing, run, on_part)
    if not root:
        return EXIT_OK
    if args.out:
        mc.write(args.out)
    ub, lb = mc.upper_bound, mc.lower_bound
    total = Row("total (sum)", lb, ub, ub - lb, (ub - lb) / ub if ub > 0 else float("nan"),
                sum(r.width for r in rows), sum(r.seconds for r in rows))
    print(table(rows + [total]))
    print("each class's row is certified on its own binary problem (class vs rest); the file holds only if every part does")
    if test is not None:
        scores = np.column_stack([c.network.predict(test.X, p.activation) for c, p in zip(mc.parts, problems)])
        acc = float(np.mean(np.argmax(scores, axis=1) == test.y))
        print(f"test accuracy {acc:.1%} ({test.y.shape[0]} held-out samples, arg-max of the {K} part networks)")
    if args.out:
        print(f"certificate written to {args.out}  (check it with: certqnn verify {args.out})")
    return EXIT_OK


def _verify_multiclass(args, mc) -> int:
    """verify every part of a multi-class file: one line per class; exit 1 if any part fails."""
    from .trusted.multiclass import verify_multiclass

    data = None
    if args.data:
        from .datasets import load

        ds = load(args.data, standardize=args.standardize, task="multiclass")
        if ds.task != "multiclass":
            raise UsageError(f"--data {args.data}: the certificate has {len(mc.classes)} classes, the data are {ds.task}")
        labels = ds.preprocessing["classes"]
        data = (ds.X, np.array([labels[int(i)] for i in ds.y], dtype=object))
    verdict = verify_multiclass(mc, data=data)
    if args.json:
        print(json.dumps(verdict.to_dict(), indent=2))
        return EXIT_OK if verdict.ok else EXIT_FAILED_CHECK
    for label, part, v in zip(mc.classes, mc.parts, verdict.verdicts):
        if v.ok:
            print(f"[ok] class {label}: {part.lower_bound!r} <= p* <= {part.upper_bound!r} "
                  f"(rel gap {part.relative_gap:.3e}, rho certified by {part.rho_certified_by})")
        else:
            print(f"[FAIL] class {label}: failed {', '.join(f'{c.name} ({c.detail})' for c in v.failed)}")
    if verdict.ok:
        print(f"certificate holds: all {len(mc.classes)} one-vs-rest parts verified")
    else:
        print(f"certificate does NOT hold: class{'es' if len(verdict.failed_classes) > 1 else ''} "
              f"{', '.join(map(str, verdict.failed_classes))} failed")
    return EXIT_OK if verdict.ok else EXIT_FAILED_CHECK


def cmd_verify(args) -> int:
    try:
        if os.path.isdir(args.file):
            raise UsageError(f"{args.file} is a directory; give a certificate file")
        cert = read_certificate(args.file)
        if isinstance(cert, MultiClassCertificate):
            return _verify_multiclass(args, cert)
        data = None
        if args.data:
            from .datasets import load

            ds = load(args.data, standardize=args.standardize)
            data = (ds.X, ds.y)
        elif not ("X" in cert.problem_doc and "y" in cert.problem_doc):
            # missing input, not a failed check: the verdict needs the data
            if cert.data_file is None:
                raise UsageError(f"{args.file} does not embed its data: pass them with --data DATA")
            path = os.path.join(cert.base_dir or ".", cert.data_file)
            if not os.path.exists(path):
                raise UsageError(f"the data file {path}, which {args.file} names, does not exist: keep it next to "
                                 "the certificate or pass the data with --data DATA")
    except (CertQNNError, CertificateFormatError) as exc:
        if args.json:   # a caller parsing stdout gets JSON in every case
            print(json.dumps({"ok": False, "error": str(exc), "field": getattr(exc, "field", None)}, indent=2))
        raise
    verdict = verify(cert, data=data)
    if args.json:
        print(json.dumps(verdict.to_dict(), indent=2))
    else:
        for c in verdict.checks:
            print(f"[{'ok' if c.passed else 'FAIL'}] {c.name}: {c.detail}")
        if verdict.ok:
            print(f"certificate holds: {cert.lower_bound!r} <= p* <= J(network) <= {cert.upper_bound!r} "
                  f"(relative gap {cert.relative_gap:.3e}, rho certified by {cert.rho_certified_by})")
        else:
            print(f"certificate does NOT hold: failed {', '.join(c.name for c in verdict.failed)}")
    return EXIT_OK if verdict.ok else EXIT_FAILED_CHECK


def _read_certificate(path):
    """A Certificate, or a MultiClassCertificate for a version-3 (one-vs-rest) file."""
    if os.path.isdir(path):
        raise UsageError(f"{path} is a directory; give a certificate file")
    return read_certificate(path)


def cmd_predict(args) -> int:
    """Apply a certified network to raw data: predictions in the original units or labels."""
    from .atomic import write_text_atomic
    from .datasets import read_features

    _check_outputs(args.out)
    cert = _read_certificate(args.cert)
    X = read_features(args.data, cert.n_features)
    if cert.preprocessing is None:
        print("note: version-1 certificate without preprocessing: DATA must be in the certified "
              "(standardized) units", file=sys.stderr)
    pred = cert.predict(X)
    lines = [_cell(v) for v in pred]
    if args.out:
        write_text_atomic(args.out, "prediction\n" + "".join(line + "\n" for line in lines))
        print(f"{len(lines)} predictions ({cert.task}) written to {args.out}", file=sys.stderr)
    else:
        print("\n".join(lines))
    return EXIT_OK


def _cell(v) -> str:
    """One CSV cell: strings quoted when needed; integral numbers (labels such as 0/1) as integers."""
    if isinstance(v, str):
        return v if not any(ch in v for ch in ',"\n') else '"' + v.replace('"', '""') + '"'
    v = float(v)
    return str(int(v)) if v.is_integer() and abs(v) < 1e15 else repr(v)


def cmd_export(args) -> int:
    """Write the certified network as npz, json or a C header."""
    from . import export
    from .atomic import atomic_path, write_text_atomic

    _check_outputs(args.out)
    if args.format == "c" and not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", args.name):
        raise UsageError(f"--name: {args.name!r} is not a C identifier (letters, digits and _, not starting "
                         "with a digit)")
    cert = _read_certificate(args.cert)
    if isinstance(cert, MultiClassCertificate):
        raise UsageError(f"{args.cert} is a multi-class (one-vs-rest) certificate; export handles single "
                         "networks only (not yet implemented for multi-class files)")
    if args.format == "npz":
        if not args.out:
            raise UsageError("--format npz: give --out FILE.npz (binary output)")
        payload = export.to_npz_bytes(cert)
        with atomic_path(args.out) as tmp:
            with open(tmp, "wb") as fh:
                fh.write(payload)
    else:
        text = export.to_json(cert) if args.format == "json" else export.to_c_header(cert, args.name)
        if not args.out:
            print(text, end="" if text.endswith("\n") else "\n")
            return EXIT_OK
        write_text_atomic(args.out, text)
    print(f"{args.format} export written to {args.out}", file=sys.stderr)
    return EXIT_OK


def cmd_compare(args) -> int:
    specs = [s.strip() for s in args.backends.split(",") if s.strip()]
    if not specs:
        raise UsageError("--backends: give at least one backend, e.g. --backends enumeration,sdp")
    from .backends.base import REGISTRY
    _check_outputs(args.plot)
    _check_seed(args)
    if args.plot is not None:
        _check_plot_format("--plot", args.plot)
    options = {spec: backend_options(spec, args, specs) for spec in specs}
    for spec in specs:
        get_backend(spec.split(":", 1)[0]).options(**options[spec])
    data, problem, _ = _build_problem(args)
    print(f"problem: {data.name}: {problem.describe()}", file=sys.stderr)
    rows, certs, trajectories = [], [], {}
    exact = None
    # exact backends first so their optimum can be reported in every other certificate
    ordered = sorted(specs, key=lambda s: not REGISTRY[s.split(":", 1)[0]].exact)
    for spec in ordered:
        be = get_backend(spec.split(":", 1)[0])
        ok, reason = be.supports(problem)
        if not ok or not be.available():
            rows.append(Row(spec, note=f"skipped: {reason or 'not installed: ' + ', '.join(be.missing_modules())}"))
            continue
        try:
            row, cert, result = _run(problem, spec, options[spec], exact_value=exact)
            rows.append(row)
            certs.append(cert)
            for extra in be.companion_results(problem, result):
                extra_cert = certify(problem, extra, exact_value=exact)
                rows.append(Row(extra.backend, extra_cert.lower_bound, extra_cert.upper_bound, extra_cert.gap,
                                extra_cert.relative_gap, int(np.count_nonzero(extra_cert.alpha)), None))
        except CertQNNError as exc:
            rows.append(Row(spec, note=f"failed: {exc}"))
            continue
        if be.exact and cert.relative_gap <= 1e-6:
            exact = cert.upper_bound
        if result.trajectory and "epoch" in result.trajectory:
            trajectories[spec] = result.trajectory
    best_lb = max((r.lower_bound for r in rows if r.lower_bound is not None), default=None)
    print(table(rows, best_lower_bound=best_lb))
    print("rel. gap: each backend's own certificate; gap to best LB: its objective against the best lower bound "
          "of this run")
    if exact is not None:
        print(f"exact optimum p* = {exact:.10g} (certified by an exact backend)")
    if args.plot:
        title = f"{data.name}  (beta={problem.beta:g}, {problem.levels.describe()})"
        if trajectories:
            plot_training_curves(trajectories, best_lb, args.plot, title=title)
        else:
            plot_bounds(rows, args.plot, title=title)
        print(f"plot written to {args.plot}")
    if not certs:
        print(f"certqnn compare: error: no backend gave a certificate for {data.name} (see the rows above)",
              file=sys.stderr)
        return EXIT_BAD_INPUT
    return EXIT_OK


DEMO_TEST_FRACTION = 0.2


def cmd_demo(args) -> int:
    """The main job: certify quantized networks on the breast-cancer data bundled with scikit-learn."""
    from .datasets import Dataset, apply_preprocessing, load, split, standardize_dataset

    _check_outputs(args.out)
    raw = load("sklearn:breast_cancer", standardize=False)
    train_raw, test_raw = split(raw, DEMO_TEST_FRACTION, seed=0)
    n_train, n_test = train_raw.y.shape[0], test_raw.y.shape[0]
    print("certqnn demo: binary-weight networks with sigma(t) = t^2 on scikit-learn's breast_cancer data\n"
          f"({raw.y.shape[0]} samples: {n_train} to train on, {n_test} held out (seed 0); standardized with the training\n"
          "rows' means and scales, labels +-1, beta = 1). Every bound below is certified on the training rows: the\n"
          "lower bound holds for EVERY binary network of any width; the upper bound is the returned network's objective.\n")

    def prepared(k, loss="squared"):
        """(problem, standardized test Dataset) on the first k features."""
        train = standardize_dataset(Dataset(train_raw.X[:, :k], train_raw.y, f"breast_cancer[{k}]", "classification",
                                            dict(train_raw.preprocessing or {})))
        test = Dataset(apply_preprocessing(train.preprocessing, test_raw.X[:, :k]), test_raw.y, "test", "classification")
        return QNNProblem(train.X, train.y, beta=1.0, loss=loss), test, train.preprocessing

    small, small_test, _ = prepared(12)
    small_logistic, _, _ = prepared(12, "logistic")
    full, full_test, full_pre = prepared(30)
    runs = [("12 features: enumeration (exact)", small, "enumeration", {}),
            ("12 features, logistic loss: enumeration", small_logistic, "enumeration", {}),
            ("12 features: sdp (Shor + rounding)", small, "sdp", {}),
            ("12 features: sdp + triangle cuts", small, "sdp", {"cuts": "triangle"}),
            ("30 features: sdp (Shor + rounding)", full, "sdp", {}),
            ("30 features: colgen (exact)", full, "colgen", {"time_limit": 120.0})]
    rows, certs = [], []
    for label, problem, backend, opts in runs:
        start = time.perf_counter()
        result = solve(problem, backend, **opts)
        cert = certify(problem, result)
        seconds = time.perf_counter() - start
        if result.time_limit_hit:
            label += " (time limit)"
        rows.append(Row(label, cert.lower_bound, cert.upper_bound, cert.gap, cert.relative_gap, int(cert.alpha.shape[0]), seconds))
        certs.append(cert)
        print(f"  done: {label} ({seconds:.1f} s)", file=sys.stderr)
    print(table(rows))
    exact12, logistic12, shor12, cut12, sdp30, best = certs
    best.preprocessing = full_pre
    acc = _accuracy(best, full.X, full.y, full.activation)
    test_acc = _accuracy(best, full_test.X, full_test.y, full.activation)
    test12 = _accuracy(exact12, small_test.X, small_test.y, small.activation)
    train12 = _accuracy(exact12, small.X, small.y, small.activation)
    test_logistic = _accuracy(logistic12, small_test.X, small_test.y, small.activation)
    train_logistic = _accuracy(logistic12, small.X, small.y, small.activation)
    print(f"\n12 features: the exact optimum is {exact12.upper_bound:.8g}. The Shor SDP bound is "
          f"{(exact12.upper_bound - shor12.lower_bound) / exact12.upper_bound:.2%} below it; with triangle cuts "
          f"{(exact12.upper_bound - cut12.lower_bound) / exact12.upper_bound:.1e}.")
    print(f"30 features (2^29 distinct neurons): column generation certifies a {best.alpha.shape[0]}-neuron network "
          f"as globally optimal to relative gap {best.relative_gap:.1e};\n"
          f"the SDP network alone is within {sdp30.relative_gap:.1%} of its own certified bound.")
    print(f"accuracy, training / held-out ({n_test} test samples): 30-feature optimum {acc:.1%} / {test_acc:.1%}; "
          f"12 features, squared loss {train12:.1%} / {test12:.1%}, logistic loss {train_logistic:.1%} / "
          f"{test_logistic:.1%} (each certified globally optimal for its own loss).")
    best.write(args.out)
    print(f"\ncertificate of the 30-feature optimum written to {args.out}  "
          f"(re-check it from scratch with: certqnn verify {args.out};\n"
          f" apply it to raw data with: certqnn predict {args.out} DATA)")
    return EXIT_OK


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="certqnn", description="Certified training of quantized two-layer networks.")
    parser.add_argument("--version", action="version", version=f"certqnn {__version__}")
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("demo", help="run the main job on a bundled dataset and write certificate.json")
    p.add_argument("--out", default="certificate.json", help="certificate file (default certificate.json)")
    p.add_argument("--quiet", action="store_true", help="no progress bars")
    p.set_defaults(func=cmd_demo)
    p = sub.add_parser("solve", help="solve one problem, certify it, write the certificate")
    p.add_argument("data", metavar="DATA", help="file.npz | file.csv | DIR (X.npy or part-*.npy, and y.npy) | sklearn:NAME | "
                                                     "synthetic:n=..,d=..,seed=..")
    p.add_argument("--backend", default="auto", help="backend name[:engine] (default auto: picks by size)")
    p.add_argument("--out", default=None, help="certificate file to write (JSON)")
    p.add_argument("--plot", dest="convergence_plot", default=None, metavar="FILE.png",
                   help="frank-wolfe/dqsfw: objective, gap (and consensus error vs bits) figure")
    p.add_argument("--test-fraction", type=_fraction, default=None, metavar="F",
                   help="hold out this fraction of the rows (drawn with --seed, default 0) and report the "
                        "certified network's test accuracy (classification) or R^2 (regression)")
    _add_problem_options(p)
    p.set_defaults(func=cmd_solve)
    p = sub.add_parser("verify", help="re-verify a certificate from scratch (exit 0 holds, 1 does not, 2 bad file)")
    p.add_argument("file", metavar="FILE.json")
    p.add_argument("--data", default=None, help="DATA, when the certificate does not embed X and y")
    p.add_argument("--json", action="store_true", help="print the verdict as JSON")
    p.add_argument("--standardize", action=argparse.BooleanOptionalAction, default=True,
                   help="with --data: standardize the data as `solve` does (default on; use --no-standardize "
                        "for a certificate made with --no-standardize)")
    p.set_defaults(func=cmd_verify)
    p = sub.add_parser("compare", help="run several backends on the same problem and tabulate certified bounds")
    p.add_argument("data", metavar="DATA")
    p.add_argument("--backends", default="enumeration,sdp", help="comma-separated backend[:engine] list")
    p.add_argument("--plot", default=None, metavar="FILE.png", help="draw the bounds (needs matplotlib)")
    _add_problem_options(p)
    p.set_defaults(func=cmd_compare)
    p = sub.add_parser("predict", help="apply a certified network to raw data (original units or labels)")
    p.add_argument("cert", metavar="CERT.json")
    p.add_argument("data", metavar="DATA", help=".csv/.npz with the network's d feature columns (a trailing label "
                                                 "column is ignored) or any DATA spec")
    p.add_argument("--out", default=None, metavar="FILE.csv", help="write the predictions here (default: print)")
    p.set_defaults(func=cmd_predict)
    p = sub.add_parser("export", help="write the certified network as npz, json or a C header")
    p.add_argument("cert", metavar="CERT.json")
    p.add_argument("--format", choices=("npz", "json", "c"), required=True)
    p.add_argument("--out", default=None, metavar="FILE", help="output file (default: print; npz needs --out)")
    p.add_argument("--name", default="certqnn", help="C identifier prefix (default certqnn)")
    p.set_defaults(func=cmd_export)
    parser.commands = sub.choices          # name -> the command's parser (main reports with it)
    return parser


def main(argv=None) -> int:
    parser = build_parser()
    args, unknown = parser.parse_known_args(argv)
    if unknown:
        # reported by the command's own parser: its usage line and `certqnn COMMAND: error:`
        parser.commands[args.command].error(f"unrecognized arguments: {' '.join(unknown)}")
    if getattr(args, "quiet", False):
        from .progress import set_enabled
        set_enabled(False)
    try:
        return args.func(args)
    except (CertQNNError, CertificateFormatError) as exc:
        print(f"certqnn {args.command}: error: {exc}", file=sys.stderr)
        return EXIT_BAD_INPUT
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return EXIT_BAD_INPUT
    except BrokenPipeError:          # e.g. `certqnn predict ... | head`: the reader left, not an error
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return EXIT_OK
    except OSError as exc:
        # a file refused late (the early checks ask for permission only): atomic writes leave
        # nothing half-written, and the message names the file
        print(f"certqnn {args.command}: error: {exc.strerror or exc}", file=sys.stderr)
        return EXIT_BAD_INPUT


if __name__ == "__main__":
    sys.exit(main())
