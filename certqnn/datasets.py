"""Data sources named on the command line (docs/cli.md): .npz, .csv, sklearn:NAME, synthetic:...

    sklearn:NAME[,features=K][,n=N][,class=C][,seed=S]   breast_cancer, diabetes, wine, iris, digits
    synthetic:n=N,d=D,seed=S[,planted=K][,noise=E]       planted quadratic network with K neurons
"""
from __future__ import annotations

import os
from dataclasses import dataclass

import numpy as np

from .errors import InvalidProblemError

SKLEARN_SETS = {"breast_cancer": "load_breast_cancer", "diabetes": "load_diabetes", "wine": "load_wine",
                "iris": "load_iris", "digits": "load_digits"}
REGRESSION = {"diabetes"}


@dataclass
class Dataset:
    X: np.ndarray          # (n, d)
    y: np.ndarray          # (n,)
    name: str
    task: str              # "classification" (y in {-1,+1}) or "regression"


def _options(text: str, field: str) -> dict:
    opts = {}
    for part in filter(None, (p.strip() for p in text.split(","))):
        if "=" not in part:
            raise InvalidProblemError(field, f"expected key=value, got {part!r}")
        k, v = part.split("=", 1)
        opts[k.strip().lower()] = v.strip()
    return opts


def _int(opts, key, default, field, lo=0):
    try:
        value = int(opts.pop(key, default))
    except ValueError:
        raise InvalidProblemError(field, f"{key} must be an integer") from None
    if value < lo:
        raise InvalidProblemError(field, f"{key} must be >= {lo}")
    return value


def synthetic(n: int, d: int, seed: int = 0, planted: int = 3, noise: float = 0.1) -> Dataset:
    """X ~ N(0, I)/sqrt(d); y = sum_j a_j (x^T u_j)^2 + noise with `planted` random binary neurons."""
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, d)) / np.sqrt(d)
    U = np.where(rng.random((d, planted)) < 0.5, -1.0, 1.0)
    a = rng.choice([-1.0, 1.0], planted) * rng.uniform(0.5, 1.5, planted)
    y = (X @ U) ** 2 @ a + noise * rng.standard_normal(n)
    return Dataset(X, y, f"synthetic:n={n},d={d},seed={seed}", "regression")


def load_sklearn(spec: str) -> Dataset:
    name, _, rest = spec.partition(",")
    name = name.strip().lower()
    if name not in SKLEARN_SETS:
        raise InvalidProblemError("DATA", f"unknown scikit-learn dataset {name!r}; use one of {', '.join(SKLEARN_SETS)}")
    opts = _options(rest, "DATA")
    import sklearn.datasets as skd

    bunch = getattr(skd, SKLEARN_SETS[name])()
    X, target = np.asarray(bunch.data, float), np.asarray(bunch.target)
    if name in REGRESSION:
        y, task = target.astype(float), "regression"
    else:
        classes = np.unique(target)
        cls = _int(opts, "class", classes[0] if len(classes) > 2 else classes[-1], "DATA")
        if cls not in classes:
            raise InvalidProblemError("DATA", f"class={cls} is not a class of {name} ({classes.tolist()})")
        y, task = np.where(target == cls, 1.0, -1.0), "classification"
    seed = _int(opts, "seed", 0, "DATA")
    n = _int(opts, "n", X.shape[0], "DATA", lo=1)
    if n < X.shape[0]:
        idx = np.sort(np.random.default_rng(seed).choice(X.shape[0], n, replace=False))
        X, y = X[idx], y[idx]
    k = _int(opts, "features", X.shape[1], "DATA", lo=1)
    if k < X.shape[1]:
        X = X[:, :k]
    if opts:
        raise InvalidProblemError("DATA", f"unknown option(s) {', '.join(opts)} for sklearn:{name}")
    return Dataset(X, y, f"sklearn:{spec}", task)


def load(spec: str, standardize: bool = True) -> Dataset:
    """Read DATA (see module docstring); standardize: zero-mean unit-variance columns of X (constant
    columns become 0) and, for regression, of y."""
    spec = str(spec)
    if spec.startswith("sklearn:"):
        data = load_sklearn(spec[len("sklearn:"):])
    elif spec.startswith("synthetic:"):
        opts = _options(spec[len("synthetic:"):], "DATA")
        n = _int(opts, "n", 100, "DATA", lo=1)
        d = _int(opts, "d", 8, "DATA", lo=1)
        seed = _int(opts, "seed", 0, "DATA")
        planted = _int(opts, "planted", 3, "DATA", lo=1)
        try:
            noise = float(opts.pop("noise", 0.1))
        except ValueError:
            raise InvalidProblemError("DATA", "noise must be a number") from None
        if opts:
            raise InvalidProblemError("DATA", f"unknown option(s) {', '.join(opts)} for synthetic data (use n, d, seed, planted, noise)")
        data = synthetic(n, d, seed, planted, noise)
    elif spec.lower().endswith(".npz"):
        if not os.path.exists(spec):
            raise InvalidProblemError("DATA", f"file {spec!r} does not exist")
        try:
            with np.load(spec, allow_pickle=False) as f:
                if "X" not in f or "y" not in f:
                    raise InvalidProblemError("DATA", f"{spec} must contain arrays 'X' (n x d) and 'y' (n)")
                X, y = np.array(f["X"], dtype=float), np.array(f["y"], dtype=float)
        except (ValueError, OSError) as exc:
            raise InvalidProblemError("DATA", f"cannot read {spec}: {exc}") from None
        data = Dataset(X, y, spec, "classification" if set(np.unique(y)) <= {-1.0, 1.0} else "regression")
    elif spec.lower().endswith(".csv"):
        if not os.path.exists(spec):
            raise InvalidProblemError("DATA", f"file {spec!r} does not exist")
        try:
            arr = np.genfromtxt(spec, delimiter=",", dtype=float)
        except ValueError as exc:
            raise InvalidProblemError("DATA", f"cannot parse {spec} as numeric CSV: {exc}") from None
        if arr.ndim == 2 and arr.shape[0] > 0 and np.all(np.isnan(arr[0])):
            arr = arr[1:]  # header row
        if arr.ndim != 2 or arr.shape[1] < 2 or arr.shape[0] == 0:
            raise InvalidProblemError("DATA", f"{spec} must have >= 1 row and >= 2 columns (features..., y)")
        X, y = arr[:, :-1], arr[:, -1]
        data = Dataset(X, y, spec, "classification" if set(np.unique(y)) <= {-1.0, 1.0} else "regression")
    else:
        raise InvalidProblemError("DATA", f"{spec!r}: use a .npz or .csv file, sklearn:NAME or synthetic:n=..,d=..,seed=..")
    if standardize and np.all(np.isfinite(data.X)) and data.X.size:
        mu, sd = data.X.mean(axis=0), data.X.std(axis=0)
        data.X = (data.X - mu) / np.where(sd > 0, sd, 1.0)
        if data.task == "regression" and np.all(np.isfinite(data.y)) and data.y.std() > 0:
            data.y = (data.y - data.y.mean()) / data.y.std()
    return data
