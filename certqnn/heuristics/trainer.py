"""The training loop shared by every heuristic (docs/math.md §11).

Every heuristic keeps a float latent first layer W (d, m) and the output weights alpha (m,) and
minimises certqnn's own objective J(U, alpha) = L(sigma(X U) alpha) + beta |alpha|_1 (docs/math.md §1)
by minibatch first-order steps. The heuristics differ only in which weights the forward pass
uses, how the gradient with respect to those weights becomes a step on W, and how W is pushed
toward the grid: a `Method` says so, this module does the rest.

Scaling: the optimisers see J / n (mean loss), so a learning rate means the same thing for every
n; a minibatch B estimates it by sum_{i in B} grad l_i / |B|. The l1 term is never
differentiated: each step on alpha is a proximal step (soft-thresholding, in the optimiser's own
diagonal metric for Adam), so the fixed points are those of J itself.

Randomness comes from one seeded numpy Generator (initialisation, minibatch order, stochastic
rounding): the same problem, configuration and seed give the same network bit for bit. The
only wall-clock logic is the optional deadline, checked between steps.
"""
from __future__ import annotations

import math
import time
from dataclasses import dataclass, field

import numpy as np

from ..problem import QNNProblem

#: Neurons trained when the problem sets no width (QNNProblem.width is None).
DEFAULT_WIDTH = 16

#: Adam's constants (Kingma and Ba's defaults, as in the reference implementations).
ADAM_BETA1, ADAM_BETA2, ADAM_EPS = 0.9, 0.999, 1e-8

#: A run whose training objective exceeds this multiple of its initial value (or whose network is
#: not finite) has diverged.
DIVERGENCE_FACTOR = 1e3

#: Exponential schedules without an explicit final rate end at lr * this (BinaryConnect: 1e-3 -> 3e-6).
DEFAULT_DECAY_RATIO = 3e-3


@dataclass(frozen=True)
class TrainingConfig:
    """The shared hyper-parameters (validated by the backends' Options).

    schedule: "exponential" (lr -> lr_final geometrically over the epochs), "cosine" (lr -> lr_final
    along a half cosine) or "constant"; lr_final None means lr * DEFAULT_DECAY_RATIO (exponential)
    or 0 (cosine). optimizer: "adam" or "sgd" (heavy-ball momentum). weight_decay acts on the
    latent weights W only (an l2 term on alpha would change J). deadline: perf_counter() value.
    """

    epochs: int
    batch_size: int
    lr: float
    lr_final: float | None = None
    schedule: str = "exponential"
    optimizer: str = "adam"
    momentum: float = 0.9
    weight_decay: float = 0.0
    seed: int = 0
    deadline: float | None = None


def learning_rates(cfg: TrainingConfig) -> np.ndarray:
    """The learning rate of each epoch, shape (epochs,)."""
    E = cfg.epochs
    frac = np.arange(E) / max(E - 1, 1)
    if cfg.schedule == "constant":
        return np.full(E, cfg.lr)
    if cfg.schedule == "cosine":
        end = 0.0 if cfg.lr_final is None else cfg.lr_final
        return end + 0.5 * (cfg.lr - end) * (1.0 + np.cos(np.pi * frac))
    end = cfg.lr * DEFAULT_DECAY_RATIO if cfg.lr_final is None else cfg.lr_final
    return cfg.lr * (end / cfg.lr) ** frac


# -- optimisers ----------------------------------------------------------------------------------
class Adam:
    """Adam on one array. step(g, lr) returns (update, h): the new point is x - update and h (same
    shape) is the per-coordinate step lr / (sqrt(v_hat) + eps), the metric of the proximal step."""

    def __init__(self, shape):
        self.m = np.zeros(shape)
        self.v = np.zeros(shape)
        self.t = 0

    def step(self, g: np.ndarray, lr: float):
        self.t += 1
        self.m = ADAM_BETA1 * self.m + (1 - ADAM_BETA1) * g
        self.v = ADAM_BETA2 * self.v + (1 - ADAM_BETA2) * g * g
        m_hat = self.m / (1 - ADAM_BETA1 ** self.t)
        v_hat = self.v / (1 - ADAM_BETA2 ** self.t)
        h = lr / (np.sqrt(v_hat) + ADAM_EPS)
        return h * m_hat, h


class SGD:
    """SGD with heavy-ball momentum (PyTorch's form: buf <- mu buf + g, x <- x - lr buf)."""

    def __init__(self, shape, momentum: float):
        self.buf = np.zeros(shape)
        self.momentum = momentum

    def step(self, g: np.ndarray, lr: float):
        self.buf = self.momentum * self.buf + g
        return lr * self.buf, lr


def make_optimizer(cfg: TrainingConfig, shape):
    return Adam(shape) if cfg.optimizer == "adam" else SGD(shape, cfg.momentum)


def soft_threshold(x: np.ndarray, t) -> np.ndarray:
    """prox of t |.|_1: sign(x) max(|x| - t, 0), elementwise (t scalar or shaped like x)."""
    return np.sign(x) * np.maximum(np.abs(x) - t, 0.0)


# -- the per-method part -------------------------------------------------------------------------
class Method:
    """What distinguishes one heuristic. The defaults are plain gradient descent on W itself.

    Call order in each step: V = forward(W, rng); the gradient G of J/n with respect to V (d, m);
    W <- before_step(W); W <- W - optimiser(weight_gradient(W, V, G) + weight_decay W);
    W <- after_step(W). network(W, alpha) is the quantized network the method stands for.
    """

    name = "method"

    def __init__(self, problem: QNNProblem):
        self.problem = problem
        self.levels = np.asarray(problem.levels.values, float)    # sorted grid, (|Q|,)
        self.vmax = float(np.max(np.abs(self.levels)))

    def quantize(self, W: np.ndarray) -> np.ndarray:
        """Q(W): the nearest level of each entry, bit for bit an element of the level set."""
        return self.problem.levels.project(W)

    def initial_weights(self, rng: np.random.Generator, d: int, m: int) -> np.ndarray:
        """W0 uniform on the grid's range [-vmax, vmax] (every level reachable by rounding)."""
        return rng.uniform(-self.vmax, self.vmax, (d, m))

    def begin_epoch(self, epoch: int, epochs: int) -> None:
        """Annealing hooks (lambda, epsilon, phases)."""

    def forward(self, W: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        return W

    def weight_gradient(self, W: np.ndarray, V: np.ndarray, G: np.ndarray) -> np.ndarray:
        return G

    def before_step(self, W: np.ndarray) -> np.ndarray:
        return W

    def after_step(self, W: np.ndarray) -> np.ndarray:
        return W

    def network(self, W: np.ndarray, alpha: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        return self.quantize(W), alpha

    def training_objective(self, W: np.ndarray, alpha: np.ndarray) -> float:
        """The objective the steps actually descend (divergence is judged on it)."""
        return self.problem.objective(*self.network(W, alpha))

    def epoch_record(self, W: np.ndarray, alpha: np.ndarray) -> dict:
        """Extra per-epoch values for the trajectory (e.g. the current lambda)."""
        return {}


@dataclass
class TrainingRun:
    """The outcome of train(): U (d, m) on the grid and alpha (m,) form the method's network;
    W (d, m) and alpha_latent are the final latent parameters; trajectory holds per-epoch lists
    (epoch 0 is the initial point) with at least "epoch" and "objective" = J(U_e, alpha_e)."""

    U: np.ndarray
    alpha: np.ndarray
    W: np.ndarray
    alpha_latent: np.ndarray
    epochs_run: int
    steps: int
    trajectory: dict = field(default_factory=dict)
    time_limit_hit: bool = False
    diverged: bool = False


def _initial_alpha(problem: QNNProblem, method: Method, W: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Small random output weights, scaled so that the initial prediction is a fraction of y."""
    m = W.shape[1]
    Phi = problem.activation(problem.X @ method.quantize(W))
    rms_phi = float(np.sqrt(np.mean(Phi * Phi)))
    rms_y = float(np.sqrt(np.mean(problem.y * problem.y)))
    scale = rms_y / (rms_phi * m) if rms_phi > 0 and rms_y > 0 else 1.0 / m
    return rng.uniform(-scale, scale, m)


def train(problem: QNNProblem, method: Method, cfg: TrainingConfig, width: int | None = None) -> TrainingRun:
    """Run the minibatch training of `method` on `problem` with `width` neurons (default: the
    problem's width, else DEFAULT_WIDTH). Stops after cfg.epochs or at cfg.deadline."""
    X, y, act, loss, beta = problem.X, problem.y, problem.activation, problem.loss, problem.beta
    n, d = X.shape
    m = int(width or problem.width or DEFAULT_WIDTH)
    rng = np.random.default_rng(cfg.seed)
    W = method.initial_weights(rng, d, m)
    alpha = _initial_alpha(problem, method, W, rng)
    opt_W = make_optimizer(cfg, W.shape)
    opt_a = make_optimizer(cfg, alpha.shape)
    rates = learning_rates(cfg)
    b = min(cfg.batch_size, n)
    l1_weight = beta / n                  # the optimisers see J / n
    slope = 2.0 * act.a                   # sigma'(t) = 2 a t + b

    traj: dict[str, list] = {"epoch": [], "objective": []}

    def record(epoch: int) -> float:
        U, a = method.network(W, alpha)
        J = problem.objective(U, a)
        traj["epoch"].append(epoch)
        traj["objective"].append(J)
        for key, value in method.epoch_record(W, alpha).items():
            traj.setdefault(key, []).append(value)
        return J

    method.begin_epoch(0, cfg.epochs)
    J_start = record(0)
    T_start = method.training_objective(W, alpha)
    steps = 0
    timed_out = diverged = False
    best = (J_start, W.copy(), alpha.copy())
    epochs_run = 0
    # overflow in a diverging run is detected after the epoch (non-finite J) and undone
    with np.errstate(over="ignore", invalid="ignore"):
        for epoch in range(cfg.epochs):
            method.begin_epoch(epoch, cfg.epochs)
            lr = float(rates[epoch])
            order = rng.permutation(n)
            for start in range(0, n, b):
                if cfg.deadline is not None and time.perf_counter() > cfg.deadline:
                    timed_out = True
                    break
                idx = order[start:start + b]
                Xb = X[idx]
                V = method.forward(W, rng)
                T = Xb @ V                                          # (|B|, m) pre-activations
                Phi = act(T)
                g = loss.gradient(Phi @ alpha, y[idx]) / idx.size   # d(J/n)/d(yhat_B), (|B|,)
                grad_alpha = Phi.T @ g
                grad_V = Xb.T @ ((g[:, None] * (slope * T + act.b)) * alpha[None, :])
                grad_W = method.weight_gradient(W, V, grad_V)
                if cfg.weight_decay:
                    grad_W = grad_W + cfg.weight_decay * W
                W = method.before_step(W)
                update, _ = opt_W.step(grad_W, lr)
                W = method.after_step(W - update)
                update, h = opt_a.step(grad_alpha, lr)
                alpha = soft_threshold(alpha - update, h * l1_weight)
                steps += 1
            if timed_out and start == 0:
                break                                               # no step in this epoch
            epochs_run = epoch + 1
            J = record(epochs_run)
            if not (math.isfinite(J) and np.all(np.isfinite(W)) and np.all(np.isfinite(alpha))) \
                    or not method.training_objective(W, alpha) <= DIVERGENCE_FACTOR * max(T_start, 1e-300):
                diverged = True
                for values in traj.values():             # keep the curve finite and plottable
                    values.pop()
                epochs_run -= 1
                break
            if J < best[0]:
                best = (J, W.copy(), alpha.copy())
            if timed_out:
                break
    if diverged:
        # a diverged run stops and returns its best epoch (the report says diverged)
        _, W, alpha = best
    U, a = method.network(W, alpha)
    return TrainingRun(U, a, W, alpha, epochs_run, steps, traj, timed_out, diverged)
