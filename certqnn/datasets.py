"""Data sources named on the command line (docs/cli.md): .npz, .csv, a directory, sklearn:NAME, synthetic:...

    DIR/                                                 X.npy + y.npy, or row shards part-*.npy + y.npy

    sklearn:NAME[,features=K][,n=N][,class=C][,seed=S]   breast_cancer, diabetes, wine, iris, digits
    synthetic:n=N,d=D,seed=S[,planted=K][,noise=E]       planted quadratic network with K neurons
"""
from __future__ import annotations

import math
import os
import zipfile
from dataclasses import dataclass

import numpy as np

from .errors import InvalidProblemError

SKLEARN_SETS = {"breast_cancer": "load_breast_cancer", "diabetes": "load_diabetes", "wine": "load_wine",
                "iris": "load_iris", "digits": "load_digits"}
REGRESSION = {"diabetes"}
MAX_CLASSES = 100      # one-vs-rest trains one network per class


@dataclass
class Dataset:
    X: np.ndarray          # (n, d)
    y: np.ndarray          # (n,)
    name: str
    task: str              # "classification" (y in {-1,+1}), "regression" or "multiclass" (y = class index)
    # how the raw data became X, y (filled by load): x_mean, x_scale (d,), and y_mean, y_scale
    # (regression) or label_map {"-1": raw label, "1": raw label} (classification); see preprocessing()
    preprocessing: dict | None = None
    task_reason: str = ""  # why this task was chosen (printed by the CLI)


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


def _class_option(opts, classes: np.ndarray, names, dataset: str) -> int:
    """The class index of class=C: an index, or one of the data set's class names (any case);
    default the first class of three or more, the second of two."""
    default = classes[0] if len(classes) > 2 else classes[-1]
    raw = str(opts.pop("class", default)).strip()
    known = [str(v) for v in names] if names is not None else []
    lowered = [v.lower() for v in known]
    try:
        cls = int(raw)
    except ValueError:
        cls = lowered.index(raw.lower()) if raw.lower() in lowered else None
    if cls is None or cls not in classes:
        raise InvalidProblemError("DATA", f"class={raw} is not a class of {dataset}: use an index {classes.tolist()}"
                                          + (f" or a name {known}" if known else ""))
    return cls


def synthetic(n: int, d: int, seed: int = 0, planted: int = 3, noise: float = 0.1) -> Dataset:
    """X ~ N(0, I)/sqrt(d); y = sum_j a_j (x^T u_j)^2 + noise with `planted` random binary neurons."""
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, d)) / np.sqrt(d)
    U = np.where(rng.random((d, planted)) < 0.5, -1.0, 1.0)
    a = rng.choice([-1.0, 1.0], planted) * rng.uniform(0.5, 1.5, planted)
    y = (X @ U) ** 2 @ a + noise * rng.standard_normal(n)
    return Dataset(X, y, f"synthetic:n={n},d={d},seed={seed}", "regression")


def _synthetic_labels(data: Dataset) -> Dataset:
    """Two classes from a planted regression target: y = sign(planted output - its median) (ties -> +1)."""
    median = float(np.median(data.y))
    y = np.where(data.y >= median, 1.0, -1.0)
    out = Dataset(data.X, y, data.name, "classification",
                  task_reason="classification (labels: sign of the planted output minus its median)")
    out.preprocessing = {"label_map": {"-1": "below median", "1": "above median"}}
    return out


def load_sklearn(spec: str, multiclass: bool = False) -> Dataset:
    """multiclass: a data set with K > 2 classes and no class= option keeps its K classes (task
    "multiclass", y the class index 0..K-1, preprocessing["classes"] the K labels); otherwise
    one class (class=C, default the first) against the rest."""
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
    elif multiclass and len(np.unique(target)) > 2 and "class" not in opts:
        y, task = target.astype(float), "multiclass"
    else:
        classes = np.unique(target)
        names = getattr(bunch, "target_names", None)
        cls = _class_option(opts, classes, names, name)
        y, task = np.where(target == cls, 1.0, -1.0), "classification"
        pos = names[cls] if names is not None and 0 <= cls < len(names) else cls
        label_map = {"-1": (f"not {pos}" if len(classes) > 2 else
                            (names[classes[0]] if names is not None else int(classes[0]))), "1": pos}
    seed = _int(opts, "seed", 0, "DATA")
    n = _int(opts, "n", X.shape[0], "DATA", lo=1)
    if n > X.shape[0]:
        raise InvalidProblemError("DATA", f"n={n} is more than the {X.shape[0]} rows of {name}: use n <= {X.shape[0]} "
                                          "(a sample of the rows) or leave n out")
    if n < X.shape[0]:
        idx = np.sort(np.random.default_rng(seed).choice(X.shape[0], n, replace=False))
        X, y = X[idx], y[idx]
    k = _int(opts, "features", X.shape[1], "DATA", lo=1)
    if k < X.shape[1]:
        X = X[:, :k]
    if opts:
        raise InvalidProblemError("DATA", f"unknown option(s) {', '.join(opts)} for sklearn:{name}")
    data = Dataset(X, y, f"sklearn:{spec}", task)
    if task == "classification":
        data.preprocessing = {"label_map": {k: _plain(v) for k, v in label_map.items()}}
        data.task_reason = f"classification: {label_map['-1']} -> -1 and {label_map['1']} -> +1"
    elif task == "multiclass":
        names = getattr(bunch, "target_names", None)
        present = np.unique(y)
        labels = [_plain(names[int(c)]) if names is not None else _plain(c) for c in present]
        data = _multiclass(X, y, present, labels, data.name)
    return data


def _multiclass(X, y, values, labels, name) -> Dataset:
    """A K-class Dataset: y (n,) becomes the class index 0..K-1 of its value in `values`, and
    preprocessing["classes"] holds the K labels. Fewer than 3 classes left (a subsample) is an error."""
    if len(values) < 3:
        raise InvalidProblemError("DATA", f"{name}: {len(values)} classes present; one-vs-rest needs >= 3 "
                                  "(use class=C for two classes)")
    index = np.searchsorted(np.asarray(values, float), y).astype(float)
    data = Dataset(X, index, name, "multiclass",
                   task_reason=f"multi-class: {len(values)} classes, one-vs-rest ({', '.join(map(str, labels))})")
    data.preprocessing = {"classes": list(labels)}
    return data


def _plain(v):
    """A JSON-friendly label: numpy scalars become Python numbers/strings."""
    if isinstance(v, np.generic):
        v = v.item()
    return v if isinstance(v, (int, float, str)) else str(v)


def _classify_labels(y: np.ndarray, spec: str, task: str | None) -> tuple[np.ndarray, str, dict | None, str]:
    """Decide the task of a file's last column y (n,): two distinct values -> classification with
    the larger value mapped to +1 (unless task says otherwise). Returns (y, task, label_map, reason)."""
    values = np.unique(y[np.isfinite(y)])
    if task not in (None, "auto", "classification", "regression"):
        raise InvalidProblemError("task", f"must be auto, classification or regression, got {task!r}")
    if task == "regression":
        return y, "regression", None, "regression (--task regression)"
    if values.size == 2 or (task == "classification" and values.size <= 2):
        if values.size != 2:
            raise InvalidProblemError("task", f"classification needs exactly two labels in {spec}, found {values.size}")
        neg, pos = values
        mapped = np.where(y == pos, 1.0, -1.0)
        label_map = {"-1": _plain(neg), "1": _plain(pos)}
        return mapped, "classification", label_map, f"classification: two labels, {neg:g} -> -1 and {pos:g} -> +1"
    if task == "classification":
        raise InvalidProblemError("task", f"classification needs exactly two labels in {spec}, found {values.size}")
    return y, "regression", None, f"regression: y has {values.size} distinct values"


def _file_dataset(X, y, spec, task) -> Dataset:
    values = np.unique(y[np.isfinite(y)])
    if task == "multiclass" and values.size > 2:
        if values.size > MAX_CLASSES or not np.all(np.isfinite(y)):
            raise InvalidProblemError("task", f"multiclass needs finite labels and at most {MAX_CLASSES} classes in "
                                      f"{spec}, found {values.size} distinct values")
        # integral labels (0, 1, 2 ...) are recorded as integers, so that `predict` prints them so
        labels = [int(v) if float(v).is_integer() and abs(v) < 2 ** 53 else float(v) for v in values]
        return _multiclass(X, y, values, labels, spec)
    if task == "multiclass":
        task = "classification"
    y, chosen, label_map, reason = _classify_labels(y, spec, task)
    data = Dataset(X, y, spec, chosen, task_reason=reason)
    if label_map is not None:
        data.preprocessing = {"label_map": label_map}
    return data


def load(spec: str, standardize: bool = True, task: str | None = None) -> Dataset:
    """Read DATA (see module docstring); standardize: zero-mean unit-variance columns of X (constant
    columns become 0) and, for regression, of y. The transformation is recorded in
    `data.preprocessing` (x_mean, x_scale, and y_mean, y_scale or label_map), so that a network
    trained on the result can be applied to raw data. task: auto (default: files with two distinct
    labels -> classification), classification, regression or multiclass (sklearn sets with K > 2
    classes and no class= option, files with > 2 labels: y the class index 0..K-1 and
    preprocessing["classes"] the K labels; two-class data load as classification); for synthetic
    data, classification (and multiclass) makes labels sign(planted output - median)."""
    spec = str(spec)
    if task not in (None, "auto", "classification", "regression", "multiclass"):
        raise InvalidProblemError("task", f"must be auto, classification, regression or multiclass, got {task!r}")
    if spec.startswith("sklearn:"):
        data = load_sklearn(spec[len("sklearn:"):], multiclass=task == "multiclass")
        if task in ("classification", "regression") and data.task != task:
            # a bundled set's task is fixed by its targets: say so rather than ignore the request
            raise InvalidProblemError("task", f"{spec} is a {data.task} data set; drop --task "
                                              "(it applies to .csv, .npz, directory and synthetic data)")
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
        if task in ("classification", "multiclass"):
            data = _synthetic_labels(data)
    elif spec.lower().endswith(".npz"):
        if not os.path.exists(spec):
            raise InvalidProblemError("DATA", f"file {spec!r} does not exist")
        if not zipfile.is_zipfile(spec):
            raise InvalidProblemError("DATA", f"{spec} is not an .npz archive (numpy.savez writes one, with arrays "
                                              "'X' (n x d) and 'y' (n))")
        try:
            with np.load(spec, allow_pickle=False) as f:
                names = set(f.files)
                X = np.array(f["X"], dtype=float) if "X" in names else None
                y = np.array(f["y"], dtype=float) if "y" in names else None
        except (ValueError, OSError, zipfile.BadZipFile) as exc:
            raise InvalidProblemError("DATA", f"cannot read {spec}: {exc}") from None
        if X is None or y is None:
            raise InvalidProblemError("DATA", f"{spec} must contain arrays 'X' (n x d) and 'y' (n)")
        data = _file_dataset(X, y, spec, task)
    elif os.path.isdir(spec):
        X, y = _read_directory(spec)
        data = _file_dataset(X, y, spec, task)
    elif spec.lower().endswith(".csv"):
        if not os.path.exists(spec):
            raise InvalidProblemError("DATA", f"file {spec!r} does not exist")
        arr = _read_csv(spec)
        if arr.ndim != 2 or arr.shape[1] < 2 or arr.shape[0] == 0:
            raise InvalidProblemError("DATA", f"{spec} must have >= 1 row and >= 2 columns (features..., y)")
        X, y = arr[:, :-1], arr[:, -1]
        data = _file_dataset(X, y, spec, task)
    else:
        raise InvalidProblemError("DATA", f"{spec!r}: use a .npz or .csv file, a directory with X.npy and y.npy, "
                                  "sklearn:NAME or synthetic:n=..,d=..,seed=..")
    return standardize_dataset(data, standardize)


def _read_directory(spec: str) -> tuple[np.ndarray, np.ndarray]:
    """(X, y) float64 from a directory: X.npy (n, d) or row shards part-*.npy (concatenated in
    natural name order), and y.npy (n,). The .npy files are memory-mapped and copied once."""
    from .rows import RowSource

    src = RowSource.from_directory(spec)
    if src._y is None:
        raise InvalidProblemError("DATA", f"{spec} has no y.npy (the n targets)")
    return src.to_array(), src.y()


def standardize_dataset(data: Dataset, standardize: bool = True) -> Dataset:
    """Standardize a raw Dataset in place (see load) and record the transformation in
    data.preprocessing; standardize=False records the identity."""
    if not data.task_reason:
        data.task_reason = data.task
    pre = dict(data.preprocessing or {})
    d = data.X.shape[1] if data.X.ndim == 2 else 0
    pre["x_mean"], pre["x_scale"] = [0.0] * d, [1.0] * d
    if data.task == "regression":
        pre["y_mean"], pre["y_scale"] = 0.0, 1.0
    if standardize and np.all(np.isfinite(data.X)) and data.X.size:
        mu, sd = data.X.mean(axis=0), data.X.std(axis=0)
        scale = np.where(sd > 0, sd, 1.0)
        data.X = (data.X - mu) / scale
        pre["x_mean"], pre["x_scale"] = mu.tolist(), scale.tolist()
        if data.task == "regression" and np.all(np.isfinite(data.y)) and data.y.std() > 0:
            pre["y_mean"], pre["y_scale"] = float(data.y.mean()), float(data.y.std())
            data.y = (data.y - data.y.mean()) / data.y.std()
    data.preprocessing = pre
    return data


def split(data: Dataset, test_fraction: float, seed: int = 0) -> tuple[Dataset, Dataset]:
    """Random train/test split of a raw Dataset (rows drawn with numpy's default_rng(seed)); both
    parts are non-empty. Standardize the train part afterwards and apply its preprocessing to test."""
    n = data.X.shape[0]
    if not 0 < test_fraction < 1:
        raise InvalidProblemError("--test-fraction", f"must be strictly between 0 and 1, got {test_fraction!r}")
    n_test = int(round(test_fraction * n))
    if n_test < 1 or n - n_test < 2:
        raise InvalidProblemError("--test-fraction", f"{test_fraction:g} of n = {n} samples leaves {n_test} test and "
                                  f"{n - n_test} training samples; need >= 1 and >= 2")
    perm = np.random.default_rng(seed).permutation(n)
    test_idx, train_idx = np.sort(perm[:n_test]), np.sort(perm[n_test:])

    def part(idx, tag):
        return Dataset(data.X[idx], data.y[idx], f"{data.name} [{tag}]", data.task,
                       dict(data.preprocessing) if data.preprocessing else None, data.task_reason)

    return part(train_idx, f"train {n - n_test}"), part(test_idx, f"test {n_test}")


def apply_preprocessing(pre: dict, X: np.ndarray) -> np.ndarray:
    """Raw features (n, d) -> the standardized features a network trained with `pre` expects."""
    return (np.asarray(X, float) - np.asarray(pre["x_mean"], float)) / np.asarray(pre["x_scale"], float)


def read_features(spec: str, d: int) -> np.ndarray:
    """Raw features (n, d) for prediction: a .csv/.npz with d columns (features only) or d + 1
    (features then the label/target, which is ignored), or any DATA spec load() accepts."""
    spec = str(spec)
    if spec.lower().endswith(".csv"):
        arr = _read_csv(spec)
    elif spec.lower().endswith(".npz"):
        if not os.path.exists(spec):
            raise InvalidProblemError("DATA", f"file {spec!r} does not exist")
        try:
            with np.load(spec, allow_pickle=False) as f:
                if "X" not in f:
                    raise InvalidProblemError("DATA", f"{spec} must contain an array 'X' (n x d)")
                arr = np.array(f["X"], dtype=float)
        except (ValueError, OSError) as exc:
            raise InvalidProblemError("DATA", f"cannot read {spec}: {exc}") from None
    else:
        arr = load(spec, standardize=False).X
    if arr.ndim == 1:
        arr = arr[None, :]
    if arr.shape[1] == d + 1 and not spec.lower().endswith(".npz"):
        arr = arr[:, :d]
    if arr.shape[1] != d:
        raise InvalidProblemError("DATA", f"{spec} has {arr.shape[1]} columns; the network takes {d} features "
                                  f"(give {d} feature columns, optionally followed by the label column)")
    if not np.all(np.isfinite(arr)):
        r, c = np.argwhere(~np.isfinite(arr))[0]
        raise InvalidProblemError("DATA", f"{spec}: NaN or inf at data row {r + 1}, column {c + 1} (counted from 1)")
    return arr


def _read_csv(spec: str) -> np.ndarray:
    """A numeric CSV as an (n, k) array; a first row without numbers is a header, blank lines are
    skipped. A cell that is not a finite number (text, empty, NaN, inf) is an error naming its line
    in the file and its column (counted from 1)."""
    import csv

    if not os.path.exists(spec):
        raise InvalidProblemError("DATA", f"file {spec!r} does not exist")
    try:
        with open(spec, newline="", encoding="utf-8") as fh:
            reader = csv.reader(fh)
            # (line of the file where the row ends, cells): blank lines do not shift the numbering
            numbered = [(reader.line_num, r) for r in reader if any(c.strip() for c in r)]
    except (OSError, UnicodeDecodeError, csv.Error) as exc:
        raise InvalidProblemError("DATA", f"cannot read {spec}: {exc}") from None

    def number(text):
        try:
            return float(text)
        except ValueError:
            return None

    start = 1 if numbered and all(number(c) is None for c in numbered[0][1]) else 0
    out = []
    for i, row in numbered[start:]:
        values = []
        for j, cell in enumerate(row, start=1):
            v = number(cell.strip())
            if v is None:
                what = "an empty cell" if not cell.strip() else f"{cell.strip()[:40]!r} is not a number"
                raise InvalidProblemError("DATA", f"{spec}, line {i}, column {j} (counted from 1): {what}")
            if not math.isfinite(v):
                raise InvalidProblemError("DATA", f"{spec}, line {i}, column {j} (counted from 1): {cell.strip()!r} "
                                                  "is not finite; clean or impute the data")
            values.append(v)
        if out and len(values) != len(out[0]):
            raise InvalidProblemError("DATA", f"{spec}, line {i}: {len(values)} columns, the rows above have {len(out[0])}")
        out.append(values)
    if not out:
        raise InvalidProblemError("DATA", f"{spec} has no data rows")
    return np.array(out, dtype=float)
