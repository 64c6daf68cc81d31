"""QNNProblem: the training problem stated once (docs/math.md §1), validated on construction."""
from __future__ import annotations

import hashlib
import math
from dataclasses import dataclass, field

import numpy as np

from . import limits
from .activations import Polynomial
from .errors import InvalidProblemError
from .losses import Loss, get_loss
from .network import network_outputs
from .quantization import Levels

MAX_SAMPLES, MAX_FEATURES = limits.MAX_SAMPLES, limits.MAX_FEATURES


def _as_matrix(X) -> np.ndarray:
    try:
        X = np.array(X, dtype=float)
    except (TypeError, ValueError):
        raise InvalidProblemError("X", "must be a numeric 2-D array of shape (n, d)") from None
    if X.ndim != 2:
        raise InvalidProblemError("X", f"must be 2-D of shape (n, d), got shape {X.shape}")
    if X.shape[0] == 0 or X.shape[1] == 0:
        raise InvalidProblemError("X", f"is empty (shape {X.shape}); need at least one sample and one feature")
    if not np.all(np.isfinite(X)):
        bad = np.argwhere(~np.isfinite(X))[0]
        raise InvalidProblemError("X", f"contains NaN or inf (first at row {bad[0]}, column {bad[1]}, counted from 0); clean or impute the data")
    if X.shape[0] > MAX_SAMPLES or X.shape[1] > MAX_FEATURES:
        raise InvalidProblemError("X", f"shape {X.shape} exceeds the limits n <= {MAX_SAMPLES}, d <= {MAX_FEATURES}")
    return X


def _as_vector(y, n: int) -> np.ndarray:
    try:
        y = np.array(y, dtype=float)
    except (TypeError, ValueError):
        raise InvalidProblemError("y", "must be a numeric 1-D array of length n") from None
    if y.ndim == 2 and 1 in y.shape:
        y = y.ravel()
    if y.ndim != 1:
        raise InvalidProblemError("y", f"must be 1-D of length n = {n}, got shape {y.shape}")
    if y.shape[0] != n:
        raise InvalidProblemError("y", f"has length {y.shape[0]} but X has n = {n} rows")
    if not np.all(np.isfinite(y)):
        raise InvalidProblemError("y", f"contains NaN or inf (first at index {int(np.argmax(~np.isfinite(y)))}, counted from 0)")
    return y


@dataclass(frozen=True, eq=False)
class QNNProblem:
    """min over U in Q^{d x m}, alpha in R^m of  sum_i l(f(x_i), y_i) + beta |alpha|_1,
    f(x) = sum_j alpha_j sigma(x^T u_j).

    X: (n, d) data; y: (n,) targets; activation: Polynomial; levels: Levels or its spec
    ('binary', 'ternary', 'kbit:K', list of values); loss: name or Loss; beta > 0 (ours = paper's
    beta * d for binary weights); width: m or None (unconstrained, p*_inf).
    """

    X: np.ndarray
    y: np.ndarray
    activation: Polynomial = field(default_factory=Polynomial)
    levels: Levels = field(default_factory=Levels)
    loss: Loss = "squared"
    beta: float = 1.0
    width: int | None = None

    def __post_init__(self):
        X = _as_matrix(self.X)
        y = _as_vector(self.y, X.shape[0])
        X.setflags(write=False)
        y.setflags(write=False)
        object.__setattr__(self, "X", X)
        object.__setattr__(self, "y", y)
        act = self.activation
        if not isinstance(act, Polynomial):
            if isinstance(act, str):
                act = Polynomial.parse(act)
            else:
                try:
                    if len(act) != 3:
                        raise TypeError
                    act = Polynomial(*act)
                except TypeError:
                    raise InvalidProblemError("activation", f"expected Polynomial(a, b, c) or (a, b, c), got {act!r}") from None
        object.__setattr__(self, "activation", act)
        object.__setattr__(self, "levels", Levels.parse(self.levels))
        object.__setattr__(self, "loss", get_loss(self.loss))
        self.loss.validate_labels(y)
        self._check_scale()
        if isinstance(self.beta, (bool, np.bool_)):
            raise InvalidProblemError("beta", f"must be a positive number, got {self.beta!r}")
        try:
            beta = float(self.beta)
        except (TypeError, ValueError):
            raise InvalidProblemError("beta", f"must be a positive number, got {self.beta!r}") from None
        if not (math.isfinite(beta) and beta > 0):
            raise InvalidProblemError("beta", f"must be a positive finite number (the l1 weight), got {self.beta!r}")
        object.__setattr__(self, "beta", beta)
        if self.width is not None:
            if isinstance(self.width, bool) or not isinstance(self.width, (int, np.integer)) or int(self.width) < 1:
                raise InvalidProblemError("width", f"must be a positive integer or None, got {self.width!r}")
            object.__setattr__(self, "width", int(self.width))

    # neuron outputs and targets beyond this leave the certificate's floating-point error bounds
    # (products of such numbers, summed over the rows) no room below the largest double
    MAX_MAGNITUDE = 1e100

    def _check_scale(self):
        """Refuse data, levels and activation whose neuron outputs could overflow the certificate's
        arithmetic: |sigma(x^T u)| <= |a| R^2 + |b| R + |c| with R = max_i sum_j |x_ij| max|level|."""
        level = float(np.max(np.abs(self.levels.values)))
        with np.errstate(over="ignore", invalid="ignore"):
            # by row blocks: no n x d temporary at every problem built
            rows = max((float(np.abs(self.X[lo:lo + 8192]).sum(axis=1).max()) for lo in range(0, self.n, 8192)),
                       default=0.0)
            R = rows * level
            act = self.activation
            bound = abs(act.a) * R * R + abs(act.b) * R + abs(act.c)
        bound = bound if math.isfinite(bound) else math.inf     # 0 * inf: no finite bound either
        if not bound <= self.MAX_MAGNITUDE:
            field = ("levels" if level > 1e30 else "activation" if max(abs(act.a), abs(act.b), abs(act.c)) > 1e30
                     else "X")
            raise InvalidProblemError(field, f"neuron outputs could reach {bound:.3g} (max_i sum_j |x_ij| times "
                                             f"the largest |level| is {R:.3g}), beyond {self.MAX_MAGNITUDE:g}, where the "
                                             "certificate's error bounds would overflow; rescale the data, the "
                                             "levels or the activation")
        if self.y.size and float(np.max(np.abs(self.y))) > self.MAX_MAGNITUDE:
            raise InvalidProblemError("y", f"targets up to {float(np.max(np.abs(self.y))):.3g} are beyond "
                                           f"{self.MAX_MAGNITUDE:g}; rescale them")

    # -- shapes -------------------------------------------------------------------------------
    @property
    def n(self) -> int:
        return self.X.shape[0]

    @property
    def d(self) -> int:
        return self.X.shape[1]

    # -- docs/math.md §2: the exact binary reduction -----------------------------------------
    @property
    def binary_dim(self) -> int:
        """d*B: the number of +-1 variables per neuron after the reduction."""
        return self.d * self.levels.n_bits

    def binary_design(self) -> np.ndarray:
        """X~ = [c_1 X, ..., c_B X], shape (n, d*B): x^T u = x~^T s with u = sum_l c_l s_l."""
        return self.levels.expand(self.X)

    def to_binary(self) -> "QNNProblem":
        """The equivalent binary-weight problem on the expanded design (docs/math.md §2)."""
        return QNNProblem(self.binary_design(), self.y, self.activation, Levels("binary"), self.loss, self.beta, self.width)

    # -- objective ---------------------------------------------------------------------------
    def objective(self, U: np.ndarray, alpha: np.ndarray) -> float:
        """J(U, alpha) recomputed from the data; U shape (d, m), alpha shape (m,)."""
        U = np.asarray(U, float).reshape(self.d, -1)
        alpha = np.asarray(alpha, float).ravel()
        yhat = network_outputs(self.X, self.activation, U, alpha)
        return self.loss.value(yhat, self.y) + self.beta * float(np.abs(alpha).sum())

    def data_hash(self) -> str:
        """SHA-256 of the float64 bytes of X (C order) followed by y."""
        h = hashlib.sha256()
        h.update(np.ascontiguousarray(self.X, dtype="<f8").tobytes())
        h.update(np.ascontiguousarray(self.y, dtype="<f8").tobytes())
        return h.hexdigest()

    def describe(self) -> str:
        a = self.activation
        return (f"n={self.n}, d={self.d}, levels={self.levels.describe()}, sigma(t)={a.a:g}t^2+{a.b:g}t+{a.c:g}, "
                f"loss={self.loss.spec}, beta={self.beta:g}, width={self.width if self.width else 'inf'}")
