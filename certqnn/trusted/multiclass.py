"""Multi-class certificates by one-vs-rest (docs/cli.md, "multi-class files").

A K-class problem (K >= 3) is K independent binary problems: part k separates class k (+1) from
the rest (-1). Each part is a complete version-2 certificate of its own binary problem, with its
own bounds, so the file holds if and only if every part holds; nothing is claimed about the sum.

    {"format": "certqnn-certificate", "version": 3, "kind": "one-vs-rest",
     "classes": [label_0, ..., label_{K-1}],          original labels (numbers or short strings)
     "preprocessing": {"x_mean": (d,), "x_scale": (d,)},  shared by every part
     "parts": [certificate_0, ..., certificate_{K-1}],   part k: label_map {"-1": "not <k>", "1": <k>}
     "certqnn_version": "..."}

Predictions take the arg-max of the K part networks' outputs (ties: the first class).
"""
from __future__ import annotations

import json
import math
from dataclasses import dataclass, field

import numpy as np

from ..atomic import write_text_atomic
from ..errors import CertificateFormatError, InvalidProblemError
from .certificate import FORMAT, MAX_LABEL_CHARS, MULTICLASS_VERSION, Certificate, _jsonable, _preprocessing
from .verify import Verdict, verify

KIND = "one-vs-rest"
MAX_CLASSES = 1000


def _label_ok(v) -> bool:
    return (isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)) or \
        (isinstance(v, str) and len(v) <= MAX_LABEL_CHARS)


@dataclass
class MultiClassCertificate:
    """K one-vs-rest certificates of one data set; part k certifies class k against the rest."""

    parts: list[Certificate]
    classes: list                          # (K,) original labels, numbers or strings
    preprocessing: dict = field(default_factory=dict)   # {"x_mean": (d,), "x_scale": (d,)}
    certqnn_version: str = ""

    @property
    def n_features(self) -> int:
        return self.parts[0].n_features

    @property
    def task(self) -> str:
        return "multiclass"

    @property
    def upper_bound(self) -> float:
        """Sum of the parts' upper bounds (the one-vs-rest objective is the sum of K objectives)."""
        return float(sum(p.upper_bound for p in self.parts))

    @property
    def lower_bound(self) -> float:
        return float(sum(p.lower_bound for p in self.parts))

    def decision_function(self, X_raw) -> np.ndarray:
        """The K part networks' outputs on raw features X_raw (n, d): shape (n, K)."""
        return np.column_stack([p.decision_function(X_raw) for p in self.parts])

    def predict(self, X_raw) -> np.ndarray:
        """The class whose part network outputs the most (arg-max; ties go to the first), shape (n,)."""
        idx = np.argmax(self.decision_function(X_raw), axis=1)
        return np.array([self.classes[i] for i in idx], dtype=object)

    # -- JSON ------------------------------------------------------------------------------
    def to_dict(self) -> dict:
        return {"format": FORMAT, "version": MULTICLASS_VERSION, "kind": KIND,
                "classes": _jsonable(list(self.classes)),
                "preprocessing": _jsonable({k: self.preprocessing[k] for k in ("x_mean", "x_scale")}),
                "parts": [p.to_dict() for p in self.parts],
                "certqnn_version": self.certqnn_version}

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), allow_nan=False)

    def write(self, path) -> None:
        """Write atomically: a partial file never appears under `path`."""
        write_text_atomic(path, self.to_json())

    @classmethod
    def from_dict(cls, doc) -> "MultiClassCertificate":
        if not isinstance(doc, dict):
            raise CertificateFormatError("(root)", "must be a JSON object")
        if doc.get("format") != FORMAT:
            raise CertificateFormatError("format", f"must be {FORMAT!r}")
        if type(doc.get("version")) is not int or doc["version"] != MULTICLASS_VERSION:
            raise CertificateFormatError("version", f"a multi-class file has version {MULTICLASS_VERSION}")
        if doc.get("kind") != KIND:
            raise CertificateFormatError("kind", f"must be {KIND!r}")
        classes = doc.get("classes")
        if not isinstance(classes, list) or not 3 <= len(classes) <= MAX_CLASSES:
            raise CertificateFormatError("classes", f"must be a list of 3..{MAX_CLASSES} labels")
        for i, c in enumerate(classes):
            if not _label_ok(c):
                raise CertificateFormatError(f"classes[{i}]", "must be a number or a short string")
        # by value: 1 and 1.0 are the same label (a prediction could not tell them apart)
        if len({(isinstance(c, str), c) for c in classes}) != len(classes):
            raise CertificateFormatError("classes", "labels must be distinct")
        parts_doc = doc.get("parts")
        if not isinstance(parts_doc, list) or len(parts_doc) != len(classes):
            raise CertificateFormatError("parts", f"must be a list of one certificate per class ({len(classes)})")
        parts = []
        for k, pdoc in enumerate(parts_doc):
            try:
                part = Certificate.from_dict(pdoc)
            except CertificateFormatError as exc:
                # name the part: "parts[1].lower_bound"
                raise CertificateFormatError(f"parts[{k}].{exc.field}", str(exc).split(": ", 1)[-1]) from None
            if part.preprocessing is None or "label_map" not in part.preprocessing:
                raise CertificateFormatError(f"parts[{k}].preprocessing", "a part needs a label_map (version 2)")
            if part.preprocessing["label_map"]["1"] != classes[k]:
                raise CertificateFormatError(f"parts[{k}].preprocessing.label_map.1",
                                             f"must be the part's class {classes[k]!r}")
            parts.append(part)
        d = parts[0].n_features
        pre = _preprocessing(doc.get("preprocessing"), d)
        if set(pre) != {"x_mean", "x_scale"}:
            raise CertificateFormatError("preprocessing", "a multi-class file shares x_mean and x_scale only")
        for k, part in enumerate(parts):
            if part.n_features != d:
                raise CertificateFormatError(f"parts[{k}].network.U", f"has {part.n_features} features, part 0 has {d}")
            for key in ("x_mean", "x_scale"):
                if not np.array_equal(np.asarray(part.preprocessing[key], float), pre[key]):
                    raise CertificateFormatError(f"parts[{k}].preprocessing.{key}", "differs from the shared preprocessing")
            if "X" in part.problem_doc and "X" in parts[0].problem_doc and \
                    not np.array_equal(part.problem_doc["X"], parts[0].problem_doc["X"]):
                raise CertificateFormatError(f"parts[{k}].problem.X", "differs from part 0's features (one data set)")
        version = doc.get("certqnn_version", "")
        if not isinstance(version, str):
            raise CertificateFormatError("certqnn_version", "must be a string")
        return cls(parts, list(classes), pre, version)


@dataclass
class MultiClassVerdict:
    """One Verdict per class; the file holds only if every part holds."""

    classes: list
    verdicts: list[Verdict]

    @property
    def ok(self) -> bool:
        return bool(self.verdicts) and all(v.ok for v in self.verdicts)

    @property
    def failed_classes(self) -> list:
        return [c for c, v in zip(self.classes, self.verdicts) if not v.ok]

    def to_dict(self) -> dict:
        return {"ok": self.ok, "kind": KIND,
                "parts": [{"class": _jsonable(c), **v.to_dict()} for c, v in zip(self.classes, self.verdicts)]}


def verify_multiclass(certificate: MultiClassCertificate, data=None) -> MultiClassVerdict:
    """verify() every part. data: optional (X (n, d), labels (n,)) with the ORIGINAL class labels,
    when the parts do not embed X and y; part k then gets y = +1 where labels == classes[k], else -1."""
    verdicts = []
    for k, (label, part) in enumerate(zip(certificate.classes, certificate.parts)):
        part_data = None
        if data is not None:
            X, labels = data
            labels = np.asarray(labels, dtype=object)
            if labels.shape != (np.asarray(X).shape[0],):
                raise InvalidProblemError("DATA", "needs one label per row of X")
            part_data = (X, np.where(labels == label, 1.0, -1.0))
        verdicts.append(verify(part, data=part_data))
    return MultiClassVerdict(list(certificate.classes), verdicts)
