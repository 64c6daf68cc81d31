"""Backends for the training heuristics (docs/math.md §11): ste, coarse-gradient, bcgd,
binaryrelax, askewsgd, ptq.

Each trains a network of problem.width neurons (DEFAULT_WIDTH = 16 when the problem sets none)
on certqnn's objective J = L + beta |alpha|_1 with the shared loop of certqnn.heuristics.trainer,
and returns the method's own network (Q(W), alpha): upper bound J, no lower bound of its own.
certify() turns the network's residual w = grad L(yhat) into a dual point (scaling lemma,
docs/math.md §4) and certifies rho like for every backend, so each heuristic gets a certified gap.
The report also gives J after an exact alpha refit for the same U (what the heuristic lost in
alpha rather than in U); PTQ's own last step is that refit.

Defaults follow the reference implementations, scaled to certqnn's problems (a few hundred
samples; 300 epochs of minibatches of 32, a few thousand steps instead of ~1e5): Adam with lr 1e-2
decaying exponentially by the factor 3e-3 (BinaryConnect's 1e-3 -> 3e-6, ten times larger because
there are far fewer steps; AskewSGD 3e-2, as its constraint pull needs step budget after the
annealing starts); H = the largest level (1 for binary); BCGD's blend 1e-3 per step (the
reference's 1e-5 per step over ~1e5 steps, rescaled to the step count), momentum 0.95 and weight
decay 1e-4; BinaryRelax's lambda 1 growing by 1.04 per epoch, phase 2 in the last quarter;
AskewSGD's epsilon 1 for the first quarter, then decaying by 0.96 per epoch, alpha 1. All
methods default to Adam: the references' SGD step sizes assume batch-normalised layers, while
here the pre-activations x^T u grow with d and the levels, so no single SGD step size suits both
layers (SGD with momentum stays available: optimizer="sgd").
"""
from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np

from ..checks import check_choice, check_positive
from ..errors import InvalidProblemError
from ..heuristics import AskewSGD, BCGD, BinaryRelax, CoarseGradient, PTQ, STE, TrainingConfig, train
from ..heuristics.coarse_gradient import PROXIES
from ..heuristics.ptq import SCALE_CHOICES, homogeneity_degree
from ..heuristics.refit import refit_alpha
from ..network import QuantizedNetwork
from ..problem import QNNProblem
from ..result import DualData, Result, Status
from .base import Backend, Options, option, register

SCHEDULES = ("exponential", "cosine", "constant")
OPTIMIZERS = ("adam", "sgd")
ROUNDINGS = ("deterministic", "stochastic")


def _check_int(name: str, value, lo: int) -> None:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < lo:
        raise InvalidProblemError(name, f"must be an integer >= {lo}, got {value!r}")


def _check_range(name: str, value, lo: float, hi: float, hi_open: bool = False) -> None:
    ok = not isinstance(value, bool) and isinstance(value, (int, float)) and lo <= value and (
        value < hi if hi_open else value <= hi)
    if not ok:
        raise InvalidProblemError(name, f"must be a number in [{lo:g}, {hi:g}{')' if hi_open else ']'}, got {value!r}")


@dataclass(frozen=True, kw_only=True)
class TrainingOptions(Options):
    """The options every heuristic shares (same name, same meaning, one CLI flag each)."""

    epochs: int = option(300, "training epochs (passes over the data)")
    batch_size: int = option(32, "minibatch size (>= n: full batch)")
    lr: float = option(1e-2, "initial learning rate (the optimisers see J/n)")
    lr_final: float | None = option(None, "final learning rate of the schedule (default: lr*3e-3 for "
                                          "exponential, 0 for cosine)", parse=float)
    schedule: str = option("exponential", "learning-rate schedule over the epochs", choices=SCHEDULES)
    optimizer: str = option("adam", "optimizer for both layers: adam | sgd (heavy-ball momentum)",
                            choices=OPTIMIZERS)
    momentum: float = option(0.9, "momentum of the sgd optimizer", parse=float)
    weight_decay: float = option(0.0, "l2 decay of the latent weights W (never of alpha, which would change J)",
                                 parse=float)
    seed: int = option(0, "random seed (heuristics: initialisation, minibatch order, stochastic rounding)")

    def validate(self):
        super().validate()
        _check_int("epochs", self.epochs, 1)
        _check_int("batch_size", self.batch_size, 1)
        _check_int("seed", self.seed, 0)
        check_positive("lr", self.lr)
        check_choice("schedule", self.schedule, SCHEDULES)
        check_choice("optimizer", self.optimizer, OPTIMIZERS)
        if self.lr_final is not None:
            if self.schedule == "constant":
                raise InvalidProblemError("lr_final", "applies to the exponential and cosine schedules, "
                                                      "not to schedule='constant'")
            if self.schedule == "exponential":
                check_positive("lr_final", self.lr_final)
            else:
                _check_range("lr_final", self.lr_final, 0.0, float("inf"))
        _check_range("momentum", self.momentum, 0.0, 1.0, hi_open=True)
        _check_range("weight_decay", self.weight_decay, 0.0, float("inf"))
        if self.weight_decay == float("inf"):
            raise InvalidProblemError("weight_decay", "must be finite")

    def training_config(self, deadline: float | None) -> TrainingConfig:
        return TrainingConfig(epochs=int(self.epochs), batch_size=int(self.batch_size), lr=float(self.lr),
                              lr_final=None if self.lr_final is None else float(self.lr_final),
                              schedule=self.schedule, optimizer=self.optimizer, momentum=float(self.momentum),
                              weight_decay=float(self.weight_decay), seed=int(self.seed), deadline=deadline)


CLIP_HELP = ("H of the hard-tanh straight-through gradient (zero where |W| > H; default: the largest level, "
             "1 for binary)")


def _check_clip(value) -> None:
    check_positive("clip", value, allow_none=True)


class HeuristicBackend(Backend):
    """Shared run(): train, read the network, refit alpha for the report, build the Result."""

    exact = False
    #: True when the method's own network is the refit one (PTQ)
    adopts_refit = False

    def make_method(self, problem: QNNProblem, options):
        raise NotImplementedError

    def run(self, problem: QNNProblem, options) -> Result:
        start = time.perf_counter()
        deadline = None if options.time_limit is None else start + options.time_limit
        method = self.make_method(problem, options)
        fit = train(problem, method, options.training_config(deadline))
        U = np.array(fit.U, float)
        alpha = np.array(fit.alpha, float)
        J_trained = problem.objective(U, alpha)
        refit = refit_alpha(problem, U, alpha)
        assert refit.objective <= J_trained, "the alpha refit raised the objective"
        if self.adopts_refit:
            alpha = refit.alpha
        network = QuantizedNetwork(U, alpha)
        yhat = network.predict(problem.X, problem.activation)
        J = problem.objective(U, alpha)
        report = {
            "width": int(U.shape[1]), "active_neurons": int(np.count_nonzero(alpha)),
            "epochs": int(fit.epochs_run), "steps": int(fit.steps), "optimizer": options.optimizer,
            "objective_before_refit": float(J_trained), "objective_after_refit": float(refit.objective),
            "refit_method": refit.method, "refit_alpha": [float(a) for a in refit.alpha],
            "diverged": bool(fit.diverged),
        }
        report.update(self.extra_report(method, fit))
        return Result(
            status=Status.TIME_LIMIT if fit.time_limit_hit else Status.FEASIBLE,
            backend=self.name, network=network, lower_bound=None, upper_bound=J,
            dual=DualData(w=problem.loss.gradient(yhat, problem.y)), iterations=int(fit.steps),
            seconds=time.perf_counter() - start, rho_method=None, support=None, report=report,
            trajectory={k: list(v) for k, v in fit.trajectory.items()}, time_limit_hit=bool(fit.time_limit_hit))

    def companion_results(self, problem: QNNProblem, result: Result) -> list[Result]:
        """The same U with the exact alpha refit: isolates what the heuristic got wrong in U."""
        return [with_refit(problem, result)] if "refit_alpha" in result.report else []

    def extra_report(self, method, fit) -> dict:
        """Method-specific facts for the report (JSON-safe)."""
        return {}


def with_refit(problem: QNNProblem, result: Result) -> Result:
    """The heuristic's network with the exact alpha refit of its report (same U): a Result of its
    own, named "<backend>+refit", for a separate row in comparisons (certify it like any other)."""
    alpha = np.asarray(result.report["refit_alpha"], float)
    network = QuantizedNetwork(result.network.U, alpha)
    yhat = network.predict(problem.X, problem.activation)
    return Result(status=result.status, backend=f"{result.backend}+refit", network=network,
                  upper_bound=problem.objective(network.U, alpha),
                  dual=DualData(w=problem.loss.gradient(yhat, problem.y)), iterations=result.iterations,
                  seconds=result.seconds, report=dict(result.report), time_limit_hit=result.time_limit_hit)


@register
class SteBackend(HeuristicBackend):
    name = "ste"
    description = "heuristic: BinaryConnect / straight-through estimator (hard tanh), no certificate of its own"

    @dataclass(frozen=True, kw_only=True)
    class Options(TrainingOptions):
        clip: float | None = option(None, CLIP_HELP, parse=float)
        rounding: str = option("deterministic", "forward-pass rounding of W: deterministic (nearest level) | "
                                                "stochastic (random neighbouring level)",
                               choices=ROUNDINGS, flag="--weight-rounding")

        def validate(self):
            super().validate()
            _check_clip(self.clip)
            check_choice("rounding", self.rounding, ROUNDINGS)

    def make_method(self, problem, options):
        return STE(problem, H=options.clip, rounding=options.rounding)


@register
class CoarseGradientBackend(HeuristicBackend):
    name = "coarse-gradient"
    description = "heuristic: coarse gradient (proxy derivative of the quantizer), no certificate of its own"

    @dataclass(frozen=True, kw_only=True)
    class Options(TrainingOptions):
        proxy: str = option("clipped", "proxy derivative of the quantizer: identity | clipped (hard tanh at "
                                       "--clip) | relu (one-sided, per quantizer step)", choices=PROXIES)
        clip: float | None = option(None, CLIP_HELP, parse=float)

        def validate(self):
            super().validate()
            check_choice("proxy", self.proxy, PROXIES)
            _check_clip(self.clip)

    def make_method(self, problem, options):
        return CoarseGradient(problem, proxy=options.proxy, H=options.clip)


@register
class BcgdBackend(HeuristicBackend):
    name = "bcgd"
    description = "heuristic: blended coarse gradient descent, no certificate of its own"

    @dataclass(frozen=True, kw_only=True)
    class Options(TrainingOptions):
        blend: float = option(1e-3, "rho: weight of Q(W) in the blend W <- (1-rho) W + rho Q(W) at every step "
                                    "(reference 1e-5 over ~1e5 steps; the theory caps it at 0.01)", parse=float)
        momentum: float = option(0.95, "momentum of the sgd optimizer", parse=float)
        weight_decay: float = option(1e-4, "l2 decay of the latent weights W (never of alpha, which would change J)",
                                     parse=float)

        def validate(self):
            super().validate()
            _check_range("blend", self.blend, 0.0, 1.0)

    def make_method(self, problem, options):
        return BCGD(problem, blend=options.blend)


@register
class BinaryRelaxBackend(HeuristicBackend):
    name = "binaryrelax"
    description = "heuristic: BinaryRelax (relaxed then exact quantization), no certificate of its own"

    @dataclass(frozen=True, kw_only=True)
    class Options(TrainingOptions):
        lambda0: float = option(1.0, "initial lambda of the relaxed quantization G = (W + lambda Q(W))/(1 + lambda)",
                                parse=float)
        lambda_growth: float = option(1.04, "factor on lambda after every epoch of phase 1 (continuation)",
                                      parse=float)
        phase2_fraction: float = option(0.25, "share of the epochs spent in phase 2 (exact quantization)",
                                        parse=float)
        clip: float | None = option(None, CLIP_HELP, parse=float)

        def validate(self):
            super().validate()
            check_positive("lambda0", self.lambda0)
            if isinstance(self.lambda_growth, bool) or not isinstance(self.lambda_growth, (int, float)) \
                    or not 1.0 <= self.lambda_growth < float("inf"):
                raise InvalidProblemError("lambda_growth", f"must be a finite number >= 1, got {self.lambda_growth!r}")
            _check_range("phase2_fraction", self.phase2_fraction, 0.0, 1.0)
            _check_clip(self.clip)

    def make_method(self, problem, options):
        return BinaryRelax(problem, lambda0=options.lambda0, lambda_growth=options.lambda_growth,
                           phase2_fraction=options.phase2_fraction, H=options.clip)


@register
class AskewSgdBackend(HeuristicBackend):
    name = "askewsgd"
    description = "heuristic: AskewSGD (annealed constraint towards the grid), no certificate of its own"

    @dataclass(frozen=True, kw_only=True)
    class Options(TrainingOptions):
        lr: float = option(3e-2, "initial learning rate (the optimisers see J/n)")
        epsilon0: float = option(1.0, "initial epsilon of the constraint g(w) <= epsilon (g = (w^2-1)^2 for binary)",
                                 parse=float)
        epsilon_decay: float = option(0.96, "epsilon <- epsilon0 * decay^(epoch - start) after the hold", parse=float)
        epsilon_hold: float = option(0.25, "share of the epochs at epsilon0 before the decay starts", parse=float)
        askew_rate: float = option(1.0, "alpha of AskewSGD: the pull K = alpha (eps - g(w)) / g'(w) on a weight "
                                        "outside the constraint", parse=float)

        def validate(self):
            super().validate()
            check_positive("epsilon0", self.epsilon0)
            _check_range("epsilon_decay", self.epsilon_decay, 0.0, 1.0)
            if self.epsilon_decay == 0.0:
                raise InvalidProblemError("epsilon_decay", "must be > 0 (epsilon must stay positive)")
            _check_range("epsilon_hold", self.epsilon_hold, 0.0, 1.0)
            check_positive("askew_rate", self.askew_rate)

    def make_method(self, problem, options):
        return AskewSGD(problem, epsilon0=options.epsilon0, epsilon_decay=options.epsilon_decay,
                        epsilon_hold=options.epsilon_hold, rate=options.askew_rate)


@register
class PtqBackend(HeuristicBackend):
    name = "ptq"
    description = "heuristic: post-training quantization of a float network + exact alpha refit"
    adopts_refit = True

    @dataclass(frozen=True, kw_only=True)
    class Options(TrainingOptions):
        neuron_scale: str = option("auto", "quantize each float neuron as s Q(u/s) with s moved into alpha: auto "
                                           "(when sigma is homogeneous) | on | off", choices=SCALE_CHOICES)

        def validate(self):
            super().validate()
            check_choice("neuron_scale", self.neuron_scale, SCALE_CHOICES)

    def make_method(self, problem, options):
        if options.neuron_scale == "on" and homogeneity_degree(problem) is None:
            a = problem.activation
            raise InvalidProblemError("neuron_scale", f"a per-neuron scale changes the network unless sigma is "
                                                      f"homogeneous (c = 0 and a = 0 or b = 0); got sigma = "
                                                      f"{a.a:g}t^2+{a.b:g}t+{a.c:g}: use auto or off")
        return PTQ(problem, neuron_scale=options.neuron_scale)

    def extra_report(self, method, fit):
        return {"float_objective": float(fit.trajectory["float_objective"][-1]), "neuron_scale": bool(method.scaled)}
