"""The certificate file (docs/cli.md): a versioned JSON document, never pickle or eval.

Reading is defensive: every field is type-checked and size-limited (certqnn.limits), and a
malformed file raises CertificateFormatError naming the field. Writing is atomic (certqnn.atomic).
"""
from __future__ import annotations

import hashlib
import json
import math
import os
import re
from dataclasses import dataclass, field, replace
from typing import Iterator

import numpy as np

from ..atomic import atomic_path
from ..errors import CertificateFormatError, CertQNNError, InvalidProblemError
from ..limits import EMBED_MAX_VALUES, MAX_CUTS, MAX_FEATURES, MAX_FILE_BYTES, MAX_NEURONS, MAX_SAMPLES
from ..losses import get_loss
from ..problem import QNNProblem
from ..quantization import Levels
from .tree import RhoTree

FORMAT = "certqnn-certificate"
VERSION = 2            # written when the file has a `preprocessing` section
READS = (1, 2, 4)      # version 1: no preprocessing section (still read and verified)
MULTICLASS_VERSION = 3 # one-vs-rest: a `parts` list of version-2 certificates (certqnn.trusted.multiclass)
TREE_VERSION = 4       # rho certified by a branch-and-bound tree (`dual.tree`, rho_certified_by "bnb-tree");
                       # otherwise as version 2, with the preprocessing section optional
RHO_METHODS = ("shor", "exact")          # versions 1 and 2
TREE_METHOD = "bnb-tree"                 # version 4 only
MAX_LABEL_CHARS = 200


class _Literal:
    """A NaN / Infinity / -Infinity literal met while parsing (JSON has none; certqnn never writes them)."""

    def __init__(self, name):
        self.name = name


def _nonfinite_path(obj, path="(root)"):
    """The JSON path of the first NaN/Infinity literal in a parsed document, or None."""
    if isinstance(obj, _Literal):
        return path
    if isinstance(obj, dict):
        items = obj.items()
    elif isinstance(obj, list):
        items = enumerate(obj)
    else:
        return None
    for k, v in items:
        sub = f"{path}[{k}]" if isinstance(k, int) else (k if path == "(root)" else f"{path}.{k}")
        found = _nonfinite_path(v, sub)
        if found:
            return found
    return None


def _preprocessing(doc, d: int) -> dict:
    """Validate the version-2 `preprocessing` section: metadata about units (the certified problem
    is the standardized one; the verifier does not use it)."""
    if not isinstance(doc, dict):
        raise CertificateFormatError("preprocessing", "must be an object")
    out = {}
    for key in ("x_mean", "x_scale"):
        arr = _array(doc.get(key), f"preprocessing.{key}", 1, (MAX_FEATURES,))
        if arr.shape[0] != d:
            raise CertificateFormatError(f"preprocessing.{key}", f"needs one entry per feature ({d}), got {arr.shape[0]}")
        out[key] = arr
    if np.any(out["x_scale"] <= 0):
        raise CertificateFormatError("preprocessing.x_scale", "entries must be > 0")
    if "y_mean" in doc or "y_scale" in doc:
        out["y_mean"] = _number(doc, "y_mean") if "y_mean" in doc else 0.0
        out["y_scale"] = _number(doc, "y_scale") if "y_scale" in doc else 1.0
        if out["y_scale"] <= 0:
            raise CertificateFormatError("preprocessing.y_scale", "must be > 0")
    if doc.get("label_map") is not None:
        lm = doc["label_map"]
        if not isinstance(lm, dict) or set(lm) != {"-1", "1"}:
            raise CertificateFormatError("preprocessing.label_map", 'must be {"-1": label, "1": label}')
        for k, v in lm.items():
            ok = (isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)) or \
                (isinstance(v, str) and len(v) <= MAX_LABEL_CHARS)
            if not ok:
                raise CertificateFormatError(f"preprocessing.label_map.{k}", "must be a number or a short string")
        out["label_map"] = dict(lm)
    if "label_map" in out and "y_mean" in out:
        raise CertificateFormatError("preprocessing", "has both a label_map (classification) and y_mean/y_scale (regression)")
    return out


def _number(doc, key, allow_null=False):
    value = doc.get(key) if isinstance(doc, dict) else None
    if value is None and allow_null:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise CertificateFormatError(key, f"must be a number, got {type(value).__name__}")
    try:
        value = float(value)
    except OverflowError:
        raise CertificateFormatError(key, "is too large for a double") from None
    if not math.isfinite(value):
        raise CertificateFormatError(key, "must be finite")
    return value


def _holds_bool(value: list) -> bool:
    """Whether a JSON array (nested lists) holds true or false anywhere."""
    if value and isinstance(value[0], list):
        return any(_holds_bool(row) for row in value)
    return any(type(v) is bool for v in value)


def _array(value, key, ndim, max_shape):
    if value is None:
        raise CertificateFormatError(key, "is missing")
    if not isinstance(value, list):
        raise CertificateFormatError(key, f"must be a JSON array, got {type(value).__name__}")
    try:
        raw = np.array(value)
    except (TypeError, ValueError, OverflowError):
        raise CertificateFormatError(key, "must contain numbers only (rectangular)") from None
    if raw.size and (raw.dtype.kind not in "iuf" or _holds_bool(value)):
        # strings ("1.5"), booleans, nulls, ragged rows, huge integers (object dtype) are refused;
        # numpy turns a boolean among numbers into 0 or 1 silently, hence the look at the items
        raise CertificateFormatError(key, "must contain numbers only (rectangular, no strings/booleans/null)")
    try:
        arr = raw.astype(float, copy=False)
    except OverflowError:
        raise CertificateFormatError(key, "contains a number too large for a double") from None
    if arr.ndim != ndim and not (ndim == 2 and arr.size == 0):
        raise CertificateFormatError(key, f"must be {ndim}-dimensional, got shape {arr.shape}")
    if ndim == 2 and arr.ndim == 1:
        arr = arr.reshape(0, 0)
    if any(s > m for s, m in zip(arr.shape, max_shape)):
        raise CertificateFormatError(key, f"shape {arr.shape} exceeds the limit {max_shape}")
    if not np.all(np.isfinite(arr)):
        raise CertificateFormatError(key, "contains NaN or inf")
    return arr


@dataclass
class Certificate:
    """Everything needed to re-verify a result from scratch (docs/cli.md)."""

    problem_doc: dict                  # {"X", "y", "activation", "levels", "loss", "beta", "width"}
    U: np.ndarray                      # (d, m)
    alpha: np.ndarray                  # (m,)
    w: np.ndarray | None               # (n,)
    z_plus: np.ndarray | None          # (p+1,)
    z_minus: np.ndarray | None         # (p+1,)
    rho_certified_by: str              # "shor" | "exact" | "bnb-tree" (version 4)
    upper_bound: float
    lower_bound: float
    gap: float
    relative_gap: float
    tightness: dict = field(default_factory=dict)
    backend: str = ""
    seconds: float | None = None       # wall clock of the run; None (null) keeps files reproducible
    certqnn_version: str = ""
    data_sha256: str | None = None
    cuts_plus: np.ndarray | None = None    # (k, 6) int triangle cuts with z_plus (certqnn.triangles)
    mu_plus: np.ndarray | None = None      # (k,) >= 0
    cuts_minus: np.ndarray | None = None
    mu_minus: np.ndarray | None = None
    # how raw data were transformed into the certified X, y (format version 2; None in version 1):
    # {"x_mean": (d,), "x_scale": (d,), and "y_mean", "y_scale" | "label_map": {"-1": l, "1": l}}
    preprocessing: dict | None = None
    # the data file next to the certificate (a plain file name, .npz with X and y as certified),
    # when the data are not embedded; checked against data_sha256 (which it requires)
    data_file: str | None = None
    base_dir: str | None = field(default=None, compare=False)   # where the file was read from; not written
    # rho_certified_by "bnb-tree": the proof tree of both sides (certqnn.trusted.tree.RhoTree)
    tree: RhoTree | None = None

    # -- the network on raw data -----------------------------------------------------------
    @property
    def network(self):
        """The certified QuantizedNetwork (U, alpha), on the standardized features."""
        from ..network import QuantizedNetwork

        return QuantizedNetwork(self.U, self.alpha)

    @property
    def n_features(self) -> int:
        return int(self.U.shape[0])

    @property
    def task(self) -> str:
        pre = self.preprocessing or {}
        if "label_map" in pre:
            return "classification"
        if "y_mean" in pre:
            return "regression"
        return "unknown"

    def decision_function(self, X_raw) -> np.ndarray:
        """f(x) of the certified network on raw features X_raw (n, d): the recorded preprocessing
        (identity for version-1 files) is applied first. Shape (n,)."""
        from ..activations import Polynomial

        X = np.asarray(X_raw, float)
        if X.ndim == 1:
            X = X[None, :]
        if X.ndim != 2 or X.shape[1] != self.n_features:
            raise InvalidProblemError("DATA", f"the network takes {self.n_features} features, the data have "
                                         f"{X.shape[1] if X.ndim == 2 else X.shape}")
        pre = self.preprocessing or {}
        if "x_mean" in pre:
            X = (X - np.asarray(pre["x_mean"], float)) / np.asarray(pre["x_scale"], float)
        return self.network.predict(X, Polynomial(*self.problem_doc["activation"]))

    def predict(self, X_raw) -> np.ndarray:
        """Predictions in the original units (regression) or labels (classification), shape (n,)."""
        f = self.decision_function(X_raw)
        pre = self.preprocessing or {}
        if "label_map" in pre:
            lm = pre["label_map"]
            return np.array([lm["1"] if v > 0 else lm["-1"] for v in f], dtype=object)
        if "y_mean" in pre:
            return f * float(pre["y_scale"]) + float(pre["y_mean"])
        return f

    # -- problem ---------------------------------------------------------------------------
    def problem(self, data=None) -> QNNProblem:
        doc = self.problem_doc
        if data is not None:
            X, y = data
        elif "X" in doc and "y" in doc:
            X, y = doc["X"], doc["y"]
        elif self.data_file is not None:
            X, y = read_data_file(os.path.join(self.base_dir or ".", self.data_file))
        else:
            raise CertificateFormatError("problem.X", "the data are not embedded; pass them with --data")
        levels = Levels.from_values(doc["levels"], exact=True)
        return QNNProblem(X, y, activation=tuple(doc["activation"]), levels=levels, loss=get_loss(doc["loss"]),
                          beta=doc["beta"], width=doc.get("width"))

    @property
    def certified_optimal(self) -> bool:
        return self.relative_gap <= 1e-6

    # -- JSON ------------------------------------------------------------------------------
    def _problem_json(self, data_marks: bool = False) -> dict:
        """The problem section; X and y (if embedded) as nested lists of floats, or, with
        data_marks, as the placeholder strings that write() replaces by streamed arrays."""
        doc = self.problem_doc
        rest = _jsonable({k: v for k, v in doc.items() if k not in ("X", "y")})
        if "X" not in doc:
            return rest
        if data_marks:
            return {"X": _MARK_X, "y": _MARK_Y, **rest}
        # the data were validated finite (QNNProblem, _array): no per-element walk through _jsonable
        return {"X": np.asarray(doc["X"], float).tolist(), "y": np.asarray(doc["y"], float).tolist(), **rest}

    def to_dict(self, _data_marks: bool = False) -> dict:
        def arr(a):
            return None if a is None else np.asarray(a, float).tolist()

        version = VERSION if self.preprocessing is not None else 1
        if self.rho_certified_by == TREE_METHOD:
            version = TREE_VERSION
        out = {
            "format": FORMAT, "version": version,
            "problem": self._problem_json(_data_marks),
            "data_sha256": self.data_sha256,
            **({"data_file": self.data_file} if self.data_file is not None else {}),
            "network": {"U": arr(self.U), "alpha": arr(self.alpha)},
            "dual": None if self.w is None else self._dual_dict(),
            "rho_certified_by": self.rho_certified_by,
            "upper_bound": float(self.upper_bound), "lower_bound": float(self.lower_bound),
            "gap": float(self.gap), "relative_gap": float(self.relative_gap),
            "tightness": _jsonable(self.tightness), "backend": self.backend, "seconds": None if self.seconds is None else float(self.seconds),
            "certqnn_version": self.certqnn_version,
        }
        if self.preprocessing is not None:
            out["preprocessing"] = _jsonable(self.preprocessing)
        return out

    def _dual_dict(self) -> dict:
        def arr(a):
            return None if a is None else np.asarray(a, float).tolist()

        out = {"w": arr(self.w), "z_plus": arr(self.z_plus), "z_minus": arr(self.z_minus)}
        for side in ("plus", "minus"):
            cuts, mu = getattr(self, f"cuts_{side}"), getattr(self, f"mu_{side}")
            if cuts is not None and len(cuts):
                out[f"cuts_{side}"] = np.asarray(cuts, dtype=np.int64).tolist()
                out[f"mu_{side}"] = arr(mu)
        if self.tree is not None:
            out["tree"] = self.tree.to_dict()
        return out

    def json_chunks(self) -> Iterator[str]:
        """The JSON text of to_dict() in pieces: the embedded X and y are encoded a block of rows
        at a time, so that writing never holds the whole text (or X as Python floats) in memory.
        "".join(chunks) == json.dumps(self.to_dict(), allow_nan=False)."""
        if "X" not in self.problem_doc:
            yield json.dumps(self.to_dict(), allow_nan=False)
            return
        text = json.dumps(self.to_dict(_data_marks=True), allow_nan=False)
        head, rest = text.split(json.dumps(_MARK_X), 1)
        middle, tail = rest.split(json.dumps(_MARK_Y), 1)
        yield head
        yield from _array_chunks(np.asarray(self.problem_doc["X"], float))
        yield middle
        yield from _array_chunks(np.asarray(self.problem_doc["y"], float))
        yield tail

    def to_json(self) -> str:
        return "".join(self.json_chunks())

    def write(self, path, data: str = "auto") -> str | None:
        """Write atomically: a partial file never appears under `path`.

        data: where embedded X, y go -- "embed" (in the JSON), "file" (a data file
        `<stem>.data.npz` next to `path`, written first, also atomically; the JSON names it in
        `data_file` and keeps `data_sha256`), or "auto" (embed up to limits.EMBED_MAX_VALUES
        numbers, else a data file). A JSON text beyond the readers' limit MAX_FILE_BYTES is refused
        before it replaces anything. Returns the data file's path when one was written."""
        if data not in ("auto", "embed", "file"):
            raise InvalidProblemError("data", f"must be 'auto', 'embed' or 'file', got {data!r}")
        doc = self.problem_doc
        if "X" in doc and (data == "file" or (data == "auto" and
                                               np.size(doc["X"]) + np.size(doc["y"]) > EMBED_MAX_VALUES)):
            X, y = np.asarray(doc["X"], float), np.asarray(doc["y"], float)
            target = os.fspath(path)
            stem = os.path.basename(target)
            stem = stem[:-5] if stem.lower().endswith(".json") else stem
            name = f"{stem}.data.npz"
            with atomic_path(os.path.join(os.path.dirname(target), name), suffix=".npz") as tmp:
                with open(tmp, "wb") as fh:
                    np.savez(fh, X=np.ascontiguousarray(X, dtype="<f8"), y=np.ascontiguousarray(y, dtype="<f8"))
                    fh.flush()
                    os.fsync(fh.fileno())
            sha = self.data_sha256 or data_sha256(X, y)
            lean = replace(self, problem_doc={k: v for k, v in doc.items() if k not in ("X", "y")},
                           data_file=name, data_sha256=sha)
            write_chunks_atomic(path, lean.json_chunks())
            return os.path.join(os.path.dirname(target), name)
        write_chunks_atomic(path, self.json_chunks())
        return None

    @classmethod
    def from_dict(cls, doc) -> "Certificate":
        if not isinstance(doc, dict):
            raise CertificateFormatError("(root)", "must be a JSON object")
        if doc.get("format") != FORMAT:
            raise CertificateFormatError("format", f"must be {FORMAT!r}")
        if type(doc.get("version")) is int and doc.get("version") == MULTICLASS_VERSION:
            raise CertificateFormatError("version", "3 is a multi-class (one-vs-rest) file with one certificate per "
                                         "class; read it with read_certificate")
        if type(doc.get("version")) is not int or doc.get("version") not in READS:
            raise CertificateFormatError("version", f"unsupported version {doc.get('version')!r} "
                                         f"(this certqnn reads {', '.join(map(str, READS))})")
        if doc["version"] == 1 and "preprocessing" in doc:
            raise CertificateFormatError("preprocessing", "is a version-2 section; this file says version 1")
        if doc["version"] == TREE_VERSION and doc.get("rho_certified_by") != TREE_METHOD:
            raise CertificateFormatError("rho_certified_by", f"version {TREE_VERSION} is for {TREE_METHOD!r} only")
        if doc["version"] != TREE_VERSION and doc.get("rho_certified_by") == TREE_METHOD:
            raise CertificateFormatError("version", f"{TREE_METHOD!r} certificates have version {TREE_VERSION}")
        if doc["version"] == 2 and "preprocessing" not in doc:
            raise CertificateFormatError("version", "2 requires a preprocessing section, which is missing")
        prob = doc.get("problem")
        if not isinstance(prob, dict):
            raise CertificateFormatError("problem", "must be an object")
        pdoc = {}
        if "X" in prob or "y" in prob:
            X = _array(prob.get("X"), "problem.X", 2, (MAX_SAMPLES, MAX_FEATURES))
            pdoc["X"] = X
            pdoc["y"] = _array(prob.get("y"), "problem.y", 1, (MAX_SAMPLES,))
        act = prob.get("activation")
        if not (isinstance(act, list) and len(act) == 3):
            raise CertificateFormatError("problem.activation", "must be [a, b, c]")
        pdoc["activation"] = [_number({"problem.activation": v}, "problem.activation") for v in act]
        levels = prob.get("levels")
        if not isinstance(levels, list) or not 2 <= len(levels) <= 1024:
            raise CertificateFormatError("problem.levels", "must be a list of 2..1024 numbers")
        pdoc["levels"] = [_number({"problem.levels": v}, "problem.levels") for v in levels]
        if not isinstance(prob.get("loss"), str):  # noqa: SIM102
            raise CertificateFormatError("problem.loss", "must be a string")
        pdoc["loss"] = prob["loss"]
        pdoc["beta"] = _number({"problem.beta": prob.get("beta")}, "problem.beta")
        width = prob.get("width")
        if width is not None and (isinstance(width, bool) or not isinstance(width, int)):
            raise CertificateFormatError("problem.width", "must be an integer or null")
        pdoc["width"] = width
        sha = doc.get("data_sha256")
        if sha is not None and not (isinstance(sha, str) and len(sha) == 64):
            raise CertificateFormatError("data_sha256", "must be a 64-character hex string or null")
        data_file = doc.get("data_file")
        if data_file is not None:
            if not (isinstance(data_file, str) and _DATA_FILE_NAME.fullmatch(data_file)):
                raise CertificateFormatError("data_file", "must be a plain file name ending in .npz (no directory), "
                                             "at most 255 characters")
            if sha is None:
                raise CertificateFormatError("data_file", "needs data_sha256, which it is checked against")
            if "X" in pdoc:
                raise CertificateFormatError("data_file", "the data are embedded too; give one or the other")
        net = doc.get("network")
        if not isinstance(net, dict):
            raise CertificateFormatError("network", "must be an object with U and alpha")
        U = _array(net.get("U"), "network.U", 2, (MAX_FEATURES, MAX_NEURONS))
        alpha = _array(net.get("alpha"), "network.alpha", 1, (MAX_NEURONS,))
        dual = doc.get("dual")
        w = zp = zm = None
        if dual is not None:
            if not isinstance(dual, dict):
                raise CertificateFormatError("dual", "must be an object or null")
            w = _array(dual.get("w"), "dual.w", 1, (MAX_SAMPLES,))
            if dual.get("z_plus") is not None:
                zp = _array(dual.get("z_plus"), "dual.z_plus", 1, (MAX_FEATURES * 16 + 1,))
            if dual.get("z_minus") is not None:
                zm = _array(dual.get("z_minus"), "dual.z_minus", 1, (MAX_FEATURES * 16 + 1,))
            cut_data = {}
            for side in ("plus", "minus"):
                if dual.get(f"cuts_{side}") is None:
                    continue
                cuts = _array(dual.get(f"cuts_{side}"), f"dual.cuts_{side}", 2, (MAX_CUTS, 6))
                if cuts.size and (cuts.shape[1] != 6 or not np.all(cuts == np.round(cuts))):
                    raise CertificateFormatError(f"dual.cuts_{side}", "rows must be 6 integers (i, j, k, s_i, s_j, s_k)")
                mu = _array(dual.get(f"mu_{side}"), f"dual.mu_{side}", 1, (MAX_CUTS,))
                if mu.shape[0] != cuts.shape[0]:
                    raise CertificateFormatError(f"dual.mu_{side}", f"needs one multiplier per cut ({cuts.shape[0]})")
                cut_data[side] = (cuts.astype(np.int64).reshape(-1, 6), mu)
        rho_by = doc.get("rho_certified_by")
        if rho_by not in RHO_METHODS + (TREE_METHOD,):
            raise CertificateFormatError("rho_certified_by", "must be 'shor', 'exact' or 'bnb-tree'")
        tree = None
        if rho_by == TREE_METHOD:
            if dual is None or dual.get("tree") is None:
                raise CertificateFormatError("dual.tree", "is missing (rho_certified_by is 'bnb-tree')")
            tree = RhoTree.from_dict(dual["tree"])
        tightness = doc.get("tightness", {})
        if not isinstance(tightness, dict):
            raise CertificateFormatError("tightness", "must be an object")
        backend = doc.get("backend", "")
        version = doc.get("certqnn_version", "")
        if not isinstance(backend, str) or not isinstance(version, str):
            raise CertificateFormatError("backend", "backend and certqnn_version must be strings")
        cert = cls(pdoc, U, alpha, w, zp, zm, rho_by,
                   _number(doc, "upper_bound"), _number(doc, "lower_bound"), _number(doc, "gap"),
                   _number(doc, "relative_gap"), tightness, backend, _number(doc, "seconds", allow_null=True),
                   version, sha)
        cert.data_file = data_file
        if "preprocessing" in doc:
            cert.preprocessing = _preprocessing(doc["preprocessing"], U.shape[0])
        cert.tree = tree
        if dual is not None:
            for side, (cuts, mu) in cut_data.items():
                setattr(cert, f"cuts_{side}", cuts)
                setattr(cert, f"mu_{side}", mu)
        return cert

    @classmethod
    def from_json(cls, text: str) -> "Certificate":
        return cls.from_dict(parse_json(text))

    @classmethod
    def read(cls, path) -> "Certificate":
        """A single-problem (version 1/2) certificate; a multi-class file (version 3) is refused
        with a message: read it with read_certificate, which returns either kind."""
        cert = cls.from_dict(parse_json_file(path))
        cert.base_dir = os.path.dirname(os.fspath(path))
        return cert


def parse_json(text: str):
    """The parsed JSON document of a certificate; NaN/Infinity literals and deep nesting are
    refused naming the field."""
    seen = []

    def literal(name):
        seen.append(name)
        return _Literal(name)

    try:
        doc = json.loads(text, parse_constant=literal)
    except (ValueError, RecursionError) as exc:
        raise CertificateFormatError("json", f"not valid JSON ({exc})") from None
    if not seen:          # the common case: no literal anywhere, no need to walk a large document
        return doc
    try:
        bad = _nonfinite_path(doc)
    except RecursionError:
        raise CertificateFormatError("json", "nested too deeply") from None
    if bad:
        # name the field: JSON has no NaN/inf, a file that has them was not written by certqnn
        raise CertificateFormatError(bad, "contains a non-finite number (NaN or Infinity is not allowed)")
    return doc


def parse_json_file(path):
    """parse_json of a file's text; the text is released before the caller builds arrays."""
    text = read_text(path)
    return parse_json(text)


def data_sha256(X, y) -> str:
    """SHA-256 of the little-endian float64 bytes of X (row-major) followed by those of y: the
    same digest as QNNProblem.data_hash."""
    h = hashlib.sha256()
    h.update(np.ascontiguousarray(X, dtype="<f8").tobytes())
    h.update(np.ascontiguousarray(y, dtype="<f8").tobytes())
    return h.hexdigest()


def _check_size(path, field: str) -> None:
    """A CertificateFormatError naming `field` if `path` cannot be read or exceeds MAX_FILE_BYTES."""
    try:
        size = os.path.getsize(path)
    except OSError as exc:
        raise CertificateFormatError(field, f"cannot read {path}: {exc.strerror}") from None
    if size > MAX_FILE_BYTES:
        raise CertificateFormatError(field, f"{size} bytes exceeds the limit {MAX_FILE_BYTES}")


def read_data_file(path) -> tuple[np.ndarray, np.ndarray]:
    """(X, y) from a certificate's data file: an .npz holding exactly the float64 arrays X (n, d)
    and y (n,), no pickles, within the size limits; anything else is a CertificateFormatError."""
    _check_size(path, "data_file")
    try:
        with np.load(path, allow_pickle=False) as f:
            if sorted(f.files) != ["X", "y"]:
                raise CertificateFormatError("data_file", f"{path} must hold exactly the arrays X and y")
            X, y = f["X"], f["y"]
    except (OSError, ValueError, EOFError) as exc:
        raise CertificateFormatError("data_file", f"cannot read {path}: {exc}") from None
    if X.dtype != np.float64 or y.dtype != np.float64 or X.ndim != 2 or y.shape != (X.shape[0],):
        raise CertificateFormatError("data_file", f"{path}: X must be float64 (n, d) and y float64 (n,), got "
                                     f"{X.dtype} {X.shape} and {y.dtype} {y.shape}")
    if X.shape[0] > MAX_SAMPLES or X.shape[1] > MAX_FEATURES:
        raise CertificateFormatError("data_file", f"shape {X.shape} exceeds the limit {(MAX_SAMPLES, MAX_FEATURES)}")
    return X, y


def read_text(path) -> str:
    """The text of a certificate file, size-limited and UTF-8."""
    _check_size(path, "file")
    try:
        with open(path, encoding="utf-8") as fh:
            return fh.read()
    except UnicodeDecodeError:
        raise CertificateFormatError("file", "is not UTF-8 text") from None


def certificate_from_json(text: str):
    """A Certificate (version 1/2) or a MultiClassCertificate (version 3), by the file's version."""
    doc = parse_json(text)
    if isinstance(doc, dict) and doc.get("format") == FORMAT and type(doc.get("version")) is int \
            and doc.get("version") == MULTICLASS_VERSION:
        from .multiclass import MultiClassCertificate

        return MultiClassCertificate.from_dict(doc)
    return Certificate.from_dict(doc)


def read_certificate(path):
    """Read any certificate file: a Certificate (version 1/2) or a MultiClassCertificate (version 3)."""
    doc = parse_json_file(path)
    if isinstance(doc, dict) and doc.get("format") == FORMAT and type(doc.get("version")) is int \
            and doc.get("version") == MULTICLASS_VERSION:
        from .multiclass import MultiClassCertificate

        return MultiClassCertificate.from_dict(doc)
    cert = Certificate.from_dict(doc)
    cert.base_dir = os.path.dirname(os.fspath(path))
    return cert


_DATA_FILE_NAME = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.\-]{0,250}\.npz")
_MARK_X, _MARK_Y = "\u0000certqnn:X\u0000", "\u0000certqnn:y\u0000"   # never valid data
CHUNK_ROWS = 4096


def _array_chunks(A: np.ndarray, rows: int = CHUNK_ROWS) -> Iterator[str]:
    """json.dumps(A.tolist()) in pieces of `rows` rows (A 1-D or 2-D, finite)."""
    if A.shape[0] == 0:
        yield json.dumps(A.tolist())
        return
    yield "["
    for lo in range(0, A.shape[0], rows):
        piece = json.dumps(A[lo:lo + rows].tolist(), allow_nan=False)[1:-1]
        yield piece if lo == 0 else ", " + piece
    yield "]"


def write_chunks_atomic(path, chunks) -> None:
    """Write the text pieces `chunks` (UTF-8) to `path` atomically, refusing (CertQNNError, nothing
    written) once the file would exceed MAX_FILE_BYTES, the limit every reader enforces."""
    with atomic_path(path) as tmp:
        size = 0
        with open(tmp, "w", encoding="utf-8") as fh:
            for chunk in chunks:
                size += len(chunk.encode("utf-8")) if not chunk.isascii() else len(chunk)
                if size > MAX_FILE_BYTES:
                    raise CertQNNError(f"the certificate exceeds {MAX_FILE_BYTES} bytes, the readers' limit; "
                                       "write it without the embedded data (certify(..., embed_data=False); "
                                       "verify with --data)")
                fh.write(chunk)
            fh.flush()
            os.fsync(fh.fileno())


def _jsonable(obj):
    if isinstance(obj, dict):
        return {str(k): _jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_jsonable(v) for v in obj]
    if isinstance(obj, (np.bool_, bool)):
        return bool(obj)
    if isinstance(obj, (np.integer,)):
        return int(obj)
    if isinstance(obj, (float, np.floating)):
        f = float(obj)
        return f if math.isfinite(f) else None
    if isinstance(obj, np.ndarray):
        return _jsonable(obj.tolist())
    return obj
