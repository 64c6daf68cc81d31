"""scikit-learn estimators: certified quantized two-layer networks behind fit / predict / score.

    from certqnn.sklearn import QuantizedNetClassifier
    clf = QuantizedNetClassifier(beta=1.0).fit(X, y)      # any labels; K > 2 classes: one-vs-rest
    clf.predict(X), clf.gap_, clf.certificate_            # labels; certified gap; the certificate

fit standardizes X (and y for regression) when `standardize` is on, solves the certified problem
on the standardized data (the one the certificate is about) and keeps the preprocessing so that
predict works in the caller's units and labels. backend="auto" picks by the number p = d * bits
of binary variables per neuron: enumeration when p <= 12, colgen when p <= 32, sdp otherwise.
"""
from __future__ import annotations

import numpy as np
from sklearn.base import BaseEstimator, ClassifierMixin, RegressorMixin
from sklearn.utils.metaestimators import available_if
from sklearn.utils.multiclass import check_classification_targets, type_of_target
from sklearn.utils.validation import check_is_fitted, validate_data

from .activations import Polynomial
from .backends.base import declared_options, get_backend
from .certify import certify
from .problem import QNNProblem
from .quantization import Levels
from .solve import solve

AUTO_ENUMERATION_MAX_DIM = 12
AUTO_COLGEN_MAX_DIM = 32


def auto_backend(binary_dim: int) -> str:
    """The backend backend="auto" uses for p = d * bits binary variables per neuron."""
    if binary_dim <= AUTO_ENUMERATION_MAX_DIM:
        return "enumeration"
    if binary_dim <= AUTO_COLGEN_MAX_DIM:
        return "colgen"
    return "sdp"


def _scales(X: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Column means (d,) and scales (d,): the standard deviation, 1 for a constant column."""
    mean = X.mean(axis=0)
    sd = X.std(axis=0)
    return mean, np.where(sd > 0, sd, 1.0)


class _QuantizedNetBase(BaseEstimator):
    """Shared parameters; see the module docstring.

    backend: "auto" | a backend name (certqnn.backends); beta: l1 weight > 0; activation: (a, b, c)
    of sigma(t) = a t^2 + b t + c or "a,b,c"; levels: "binary" | "ternary" | "kbit:K" | values;
    loss: a registered loss name; width: at most this many neurons (None: unconstrained);
    seed: passed to the backend when it declares a seed; standardize: scale X (and y for
    regression) to zero mean, unit variance; backend_options: dict of the backend's declared options.
    """

    def __init__(self, backend="auto", beta=1.0, activation=(1.0, 0.0, 0.0), levels="binary", loss="squared",
                 width=None, seed=0, standardize=True, backend_options=None):
        self.backend = backend
        self.beta = beta
        self.activation = activation
        self.levels = levels
        self.loss = loss
        self.width = width
        self.seed = seed
        self.standardize = standardize
        self.backend_options = backend_options

    # -- shared fitting -------------------------------------------------------------------
    def _activation(self) -> Polynomial:
        act = self.activation
        if isinstance(act, Polynomial):
            return act
        if isinstance(act, str):
            return Polynomial.parse(act)
        return Polynomial(*act)

    def _preprocessing(self) -> dict:
        return {"x_mean": self.x_mean_.tolist(), "x_scale": self.x_scale_.tolist()}

    def _fit_standardized(self, X: np.ndarray, t: np.ndarray) -> None:
        """Solve and certify on standardized X (n, d) and target t (n,); sets the fitted attributes."""
        Xs = self._standardize_fit(X)
        self.problem_, self.network_, cert = self._solve_one(Xs, t)
        self.certificate_ = cert
        if cert is None:
            self.lower_bound_ = self.upper_bound_ = self.gap_ = None
            return
        cert.preprocessing = self._preprocessing()      # so certificate_.predict works on raw data
        self.lower_bound_ = float(cert.lower_bound)
        self.upper_bound_ = float(cert.upper_bound)
        self.gap_ = float(cert.gap)

    def _standardize_fit(self, X: np.ndarray) -> np.ndarray:
        """Fit x_mean_, x_scale_ and return the standardized X (n, d)."""
        if X.shape[0] < 2:
            raise ValueError(f"X: n_samples = {X.shape[0]}; a certified fit needs at least 2 samples")
        if self.standardize:
            self.x_mean_, self.x_scale_ = _scales(X)
        else:
            self.x_mean_, self.x_scale_ = np.zeros(X.shape[1]), np.ones(X.shape[1])
        return (X - self.x_mean_) / self.x_scale_

    def _solve_one(self, Xs: np.ndarray, t: np.ndarray):
        """(problem, network, certificate) of one certified problem on standardized Xs (n, d), t (n,);
        network and certificate are None when every feature is constant."""
        levels = Levels.parse(self.levels)
        problem = QNNProblem(Xs, t, activation=self._activation(), levels=levels, loss=self.loss,
                             beta=self.beta, width=self.width)
        name = auto_backend(problem.binary_dim) if self.backend == "auto" else self.backend
        be = get_backend(name)
        options = dict(self.backend_options or {})
        if "seed" in declared_options(be.Options) and "seed" not in options:
            options["seed"] = self.seed
        self.backend_used_ = be.name
        if not np.any(Xs):
            # every feature is constant, so every network is the constant c * sum(alpha) and the
            # solvers' factorizations break down on the all-zero design: return the zero network
            # (prediction: y's mean / classes_[0]), uncertified; optimal when c = 0, not otherwise
            return problem, None, None
        result = solve(problem, be, **options)
        return problem, result.network, certify(problem, result, embed_data=False)

    def _raw_decision(self, X) -> np.ndarray:
        check_is_fitted(self, "x_mean_")
        X = validate_data(self, X, reset=False)
        if self.network_ is None:
            return np.zeros(X.shape[0])
        Xs = (X - self.x_mean_) / self.x_scale_
        return self.network_.predict(Xs, self.problem_.activation)


class QuantizedNetRegressor(RegressorMixin, _QuantizedNetBase):
    """Certified quantized network regressor. Fitted: network_, certificate_, lower_bound_,
    upper_bound_, gap_ (of the standardized problem), y_mean_, y_scale_, backend_used_."""

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        # the default activation t^2 is even, so it cannot represent a linear trend: sklearn's
        # score thresholds for linear toy data do not apply
        tags.regressor_tags.poor_score = True
        return tags

    def fit(self, X, y):
        X, y = validate_data(self, X, y, y_numeric=True, dtype=np.float64)
        y = np.asarray(y, float)
        if self.standardize:
            self.y_mean_ = float(y.mean())
            sd = float(y.std())
            self.y_scale_ = sd if sd > 0 else 1.0
        else:
            self.y_mean_, self.y_scale_ = 0.0, 1.0
        self._fit_standardized(X, (y - self.y_mean_) / self.y_scale_)
        return self

    def _preprocessing(self) -> dict:
        return {**super()._preprocessing(), "y_mean": self.y_mean_, "y_scale": self.y_scale_}

    def predict(self, X) -> np.ndarray:
        """Predictions in y's units, shape (n,)."""
        return self._raw_decision(X) * self.y_scale_ + self.y_mean_


class QuantizedNetClassifier(ClassifierMixin, _QuantizedNetBase):
    """Certified quantized network classifier. Two classes: classes_[1] -> +1, classes_[0] -> -1.

    K > 2 classes: one-vs-rest, K certified networks (part k: classes_[k] -> +1, the rest -> -1);
    networks_ and certificate_ (a MultiClassCertificate with one part per class) hold them,
    lower_bound_/upper_bound_/gap_ are the sums over the parts, decision_function has shape (n, K)
    and predict takes its arg-max. predict_proba exists only for loss="logistic" (the logistic
    link of the decision function; K > 2: each class's link normalized to sum 1)."""

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        # the default activation t^2 is even, so it cannot represent a linear trend: sklearn's
        # score thresholds for linear toy data do not apply
        tags.classifier_tags.poor_score = True
        tags.classifier_tags.multi_class = True
        return tags

    def fit(self, X, y):
        X, y = validate_data(self, X, y, dtype=np.float64)
        check_classification_targets(y)
        y_type = type_of_target(y, input_name="y", raise_unknown=True)
        classes = np.unique(y)
        if classes.shape[0] == 1:
            raise ValueError(f"y: only 1 class ({classes[0]!r}) in the data; a classifier needs two")
        if y_type not in ("binary", "multiclass"):
            raise ValueError(f"y: the target type is {y_type}; only binary and multi-class targets are supported")
        self.classes_ = classes
        if classes.shape[0] == 2:
            self.networks_ = None
            self._fit_standardized(X, np.where(y == self.classes_[1], 1.0, -1.0))
            return self
        return self._fit_one_vs_rest(X, y)

    def _fit_one_vs_rest(self, X, y):
        from .trusted.multiclass import MultiClassCertificate

        Xs = self._standardize_fit(X)
        x_pre = super()._preprocessing()
        labels = [_plain(c) for c in self.classes_]
        networks, certs = [], []
        for label, c in zip(labels, self.classes_):
            self.problem_, network, cert = self._solve_one(Xs, np.where(y == c, 1.0, -1.0))
            networks.append(network)
            if cert is not None:
                cert.preprocessing = {**x_pre, "label_map": {"-1": f"not {label}", "1": label}}
            certs.append(cert)
        self.network_ = None
        self.networks_ = networks
        if any(c is None for c in certs):
            self.certificate_ = None
            self.lower_bound_ = self.upper_bound_ = self.gap_ = None
            return self
        from . import __version__

        self.certificate_ = MultiClassCertificate(certs, labels, x_pre, __version__)
        self.lower_bound_ = float(sum(c.lower_bound for c in certs))
        self.upper_bound_ = float(sum(c.upper_bound for c in certs))
        self.gap_ = float(sum(c.gap for c in certs))
        return self

    def _preprocessing(self) -> dict:
        return {**super()._preprocessing(), "label_map": {"-1": _plain(self.classes_[0]), "1": _plain(self.classes_[1])}}

    def decision_function(self, X) -> np.ndarray:
        """f(x) of the certified network, shape (n,); > 0 means classes_[1]. K > 2 classes: the
        K part networks' outputs, shape (n, K)."""
        check_is_fitted(self, "x_mean_")
        if getattr(self, "networks_", None) is None:
            return self._raw_decision(X)
        X = validate_data(self, X, reset=False)
        Xs = (X - self.x_mean_) / self.x_scale_
        act = self.problem_.activation
        return np.column_stack([np.zeros(X.shape[0]) if net is None else net.predict(Xs, act)
                                for net in self.networks_])

    def predict(self, X) -> np.ndarray:
        f = self.decision_function(X)      # checks that the model is fitted first
        if f.ndim == 2:
            return self.classes_[np.argmax(f, axis=1)]
        return self.classes_[(f > 0).astype(int)]

    def _is_logistic(self):
        return str(getattr(self.loss, "name", self.loss)).lower() == "logistic"

    @available_if(_is_logistic)
    def predict_proba(self, X) -> np.ndarray:
        """(n, K) probabilities of classes_ from the logistic link 1 / (1 + exp(-f(x))); for
        K > 2 each class's link divided by their sum (one-vs-rest)."""
        f = self.decision_function(X)
        p1 = 0.5 * (1.0 + np.tanh(0.5 * f))      # = 1/(1+exp(-f)) without overflow
        if f.ndim == 2:
            total = p1.sum(axis=1, keepdims=True)
            return np.where(total > 0, p1 / np.where(total > 0, total, 1.0), 1.0 / f.shape[1])
        return np.column_stack([1.0 - p1, p1])


def _plain(v):
    """A JSON-friendly label: numpy scalars become Python numbers; anything else its str()."""
    v = v.item() if isinstance(v, np.generic) else v
    return v if isinstance(v, (int, float, str)) and not isinstance(v, bool) else str(v)
