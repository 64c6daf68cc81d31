"""Multi-class training by one-vs-rest: K certified binary problems (docs/cli.md, multi-class files).

Part k trains and certifies class k (+1) against the rest (-1) on the same standardized features,
with the same loss, levels, activation, beta and width; the parts are independent problems, so
each carries its own bounds and the file holds only if every part does.
"""
from __future__ import annotations

from collections.abc import Callable

import numpy as np

from .certify import certify
from .errors import InvalidProblemError
from .problem import QNNProblem
from .solve import solve
from .trusted.multiclass import MultiClassCertificate


def class_labels(y_index: np.ndarray, k: int) -> np.ndarray:
    """Labels of part k: +1 where the class index y_index (n,) is k, else -1. Shape (n,)."""
    return np.where(np.asarray(y_index) == k, 1.0, -1.0)


def class_problems(X: np.ndarray, y_index: np.ndarray, n_classes: int, **problem_kwargs) -> list[QNNProblem]:
    """The K binary problems of a multi-class data set: X (n, d) standardized, y_index (n,) in 0..K-1.
    problem_kwargs go to QNNProblem (loss must be a classification loss)."""
    problems = [QNNProblem(X, class_labels(y_index, k), **problem_kwargs) for k in range(n_classes)]
    if not problems[0].loss.classification:
        raise InvalidProblemError("loss", f"one-vs-rest needs a classification loss, got {problems[0].loss.name}")
    for k, p in enumerate(problems):
        if not np.any(p.y > 0):
            raise InvalidProblemError("DATA", f"class {k} has no sample")
    return problems


def train_one_vs_rest(problems: list[QNNProblem], classes: list, preprocessing: dict, run: Callable,
                      on_part: Callable | None = None) -> tuple[MultiClassCertificate, list]:
    """Solve and certify each part: run(problem) -> (anything, Certificate) for one binary problem;
    on_part(k, label, returned, certificate) is called after each part (progress, table rows).
    Returns (MultiClassCertificate, [what run returned for each part])."""
    parts, outs = [], []
    x_pre = {key: list(preprocessing[key]) for key in ("x_mean", "x_scale")}
    for k, (label, problem) in enumerate(zip(classes, problems)):
        out, cert = run(problem)
        cert.preprocessing = {**x_pre, "label_map": {"-1": f"not {label}", "1": label}}
        parts.append(cert)
        outs.append(out)
        if on_part is not None:
            on_part(k, label, out, cert)
    from . import __version__

    return MultiClassCertificate(parts, list(classes), x_pre, __version__), outs


def fit_one_vs_rest(X: np.ndarray, y_index: np.ndarray, classes: list, backend: str = "colgen",
                    preprocessing: dict | None = None, options: dict | None = None,
                    **problem_kwargs) -> MultiClassCertificate:
    """Library entry: K certified one-vs-rest networks on standardized X (n, d) with class indices
    y_index (n,) in 0..K-1 and labels `classes` (K,). preprocessing: the x_mean/x_scale that made X
    (identity by default)."""
    d = np.asarray(X).shape[1]
    pre = preprocessing or {"x_mean": [0.0] * d, "x_scale": [1.0] * d}
    problems = class_problems(X, y_index, len(classes), **problem_kwargs)

    def run(problem):
        result = solve(problem, backend, **(options or {}))
        return result, certify(problem, result)

    mc, _ = train_one_vs_rest(problems, classes, pre, run)
    return mc
