"""The training heuristics as backends: bounds, refit, determinism, options, grids, losses."""
from __future__ import annotations

import numpy as np
import pytest

from certqnn import QNNProblem, solve
from certqnn.backends import REGISTRY
from certqnn.backends.base import get_backend
from certqnn.datasets import synthetic
from certqnn.errors import InvalidProblemError, UnknownOptionError
from certqnn.heuristics import DEFAULT_WIDTH, STE, TrainingConfig, train
from certqnn.heuristics.askewsgd import AskewSGD
from certqnn.heuristics.refit import proximal_lasso, refit_alpha
from certqnn.heuristics.trainer import learning_rates, soft_threshold
from certqnn.losses import Loss
from certqnn.result import Status
from certqnn.testing import brute_force_optimum

HEURISTICS = ("ste", "coarse-gradient", "bcgd", "binaryrelax", "askewsgd", "ptq")
FAST = {"epochs": 25, "batch_size": 8}


def tiny(levels="binary", n=24, d=3, seed=0, beta=0.5, width=None, activation=(1.0, 0.0, 0.0), loss="squared"):
    data = synthetic(n, d, seed=seed, planted=2)
    return QNNProblem(data.X * np.sqrt(d), data.y, activation=activation, levels=levels, beta=beta, width=width,
                      loss=loss)


def test_all_six_are_registered_and_not_exact():
    for name in HEURISTICS:
        assert name in REGISTRY and not REGISTRY[name].exact


@pytest.mark.parametrize("name", HEURISTICS)
@pytest.mark.parametrize("levels,d", [("binary", 3), ("ternary", 2), ("kbit:2", 2)])
def test_objective_is_above_the_brute_force_lower_bound(name, levels, d):
    problem = tiny(levels, d=d)
    best = brute_force_optimum(problem)
    result = solve(problem, name, **FAST)
    J = problem.objective(result.network.U, result.network.alpha)
    assert result.upper_bound == J
    assert J >= best.lower_bound - 1e-9 * max(1.0, abs(best.lower_bound))
    assert result.report["objective_after_refit"] >= best.lower_bound - 1e-9 * max(1.0, abs(best.lower_bound))
    assert result.lower_bound is None and result.rho_method is None and result.support is None
    assert result.status == Status.FEASIBLE and not result.time_limit_hit


@pytest.mark.parametrize("name", HEURISTICS)
def test_result_fields_and_refit_never_raises_the_objective(name):
    problem = tiny(seed=3)
    result = solve(problem, name, **FAST)
    rep = result.report
    assert rep["objective_after_refit"] <= rep["objective_before_refit"]
    U = result.network.U
    assert problem.objective(U, np.array(rep["refit_alpha"])) == rep["objective_after_refit"]
    if name == "ptq":       # PTQ's own last step is the refit
        assert result.upper_bound == rep["objective_after_refit"]
    else:
        assert result.upper_bound == rep["objective_before_refit"]
    yhat = result.network.predict(problem.X, problem.activation)
    np.testing.assert_array_equal(result.dual.w, problem.loss.gradient(yhat, problem.y))
    assert rep["width"] == DEFAULT_WIDTH == result.network.width
    traj = result.trajectory
    assert traj["epoch"] == list(range(FAST["epochs"] + 1))
    assert all(len(v) == len(traj["epoch"]) for v in traj.values())


@pytest.mark.parametrize("name", HEURISTICS)
def test_last_trajectory_point_is_the_trained_network(name):
    problem = tiny(seed=5)
    result = solve(problem, name, **FAST)
    assert result.trajectory["objective"][-1] == result.report["objective_before_refit"]


@pytest.mark.parametrize("name,extra", [(n, {}) for n in HEURISTICS] + [("ste", {"rounding": "stochastic"}),
                                                                      ("coarse-gradient", {"proxy": "relu"}),
                                                                      ("ste", {"optimizer": "sgd", "lr": 1e-3})])
def test_same_seed_same_network_bit_for_bit(name, extra):
    problem = tiny("ternary", seed=2)
    a = solve(problem, name, seed=7, **FAST, **extra)
    b = solve(problem, name, seed=7, **FAST, **extra)
    assert np.array_equal(a.network.U, b.network.U) and np.array_equal(a.network.alpha, b.network.alpha)
    assert a.trajectory == b.trajectory and a.report == b.report
    c = solve(problem, name, seed=8, **FAST, **extra)
    assert not (np.array_equal(a.network.U, c.network.U) and np.array_equal(a.network.alpha, c.network.alpha))


@pytest.mark.parametrize("name", HEURISTICS)
def test_training_decreases_the_objective_on_a_planted_problem(name):
    data = synthetic(120, 6, seed=1, planted=3)
    problem = QNNProblem(data.X, data.y, beta=1.0)
    traj = solve(problem, name, epochs=60).trajectory
    assert traj["objective"][-1] < 0.5 * traj["objective"][0]


@pytest.mark.parametrize("name", HEURISTICS)
@pytest.mark.parametrize("levels", ["ternary", "kbit:2", [-0.5, 0.5]])
def test_multilevel_networks_land_on_the_grid(name, levels):
    problem = tiny(levels, d=3, seed=4)
    result = solve(problem, name, **FAST)
    assert np.all(problem.levels.contains(result.network.U))       # exact membership (tol 0)
    assert set(np.unique(result.network.U)) <= set(problem.levels.values)


def test_width_follows_the_problem():
    problem = tiny(width=3)
    for name in HEURISTICS:
        result = solve(problem, name, epochs=5)
        assert result.network.width == 3 and result.report["width"] == 3


@pytest.mark.parametrize("name", HEURISTICS)
def test_unknown_option_is_an_error(name):
    with pytest.raises(UnknownOptionError) as err:
        solve(tiny(), name, learning_rate=0.1)
    assert "learning_rate" in str(err.value)


BAD = [("ste", "epochs", 0), ("ste", "epochs", 2.5), ("ste", "batch_size", 0), ("ste", "lr", -1.0), ("ste", "lr", 0.0),
       ("ste", "seed", -1), ("ste", "schedule", "linear"), ("ste", "optimizer", "rmsprop"),
       ("ste", "momentum", 1.0), ("ste", "weight_decay", -1e-3), ("ste", "clip", 0.0), ("ste", "rounding", "random"),
       ("ste", "lr_final", -1.0), ("coarse-gradient", "proxy", "tanh"), ("bcgd", "blend", 1.5),
       ("binaryrelax", "lambda0", 0.0), ("binaryrelax", "lambda_growth", 0.9),
       ("binaryrelax", "phase2_fraction", 1.2), ("askewsgd", "epsilon0", 0.0), ("askewsgd", "epsilon_decay", 0.0),
       ("askewsgd", "epsilon_decay", 1.5), ("askewsgd", "epsilon_hold", -0.1), ("askewsgd", "askew_rate", -1.0),
       ("ptq", "neuron_scale", "always")]


@pytest.mark.parametrize("name,option,value", BAD)
def test_bad_values_name_the_option(name, option, value):
    with pytest.raises(InvalidProblemError) as err:
        get_backend(name).options(**{option: value})
    assert err.value.field == option


def test_lr_final_does_not_apply_to_a_constant_schedule():
    with pytest.raises(InvalidProblemError) as err:
        get_backend("ste").options(schedule="constant", lr_final=1e-4)
    assert err.value.field == "lr_final"


def test_ptq_refuses_a_neuron_scale_that_would_change_the_network():
    problem = tiny(activation=(1.0, 0.5, 0.0))
    with pytest.raises(InvalidProblemError) as err:
        solve(problem, "ptq", neuron_scale="on", epochs=2)
    assert err.value.field == "neuron_scale"
    assert solve(problem, "ptq", epochs=2).report["neuron_scale"] is False
    assert solve(tiny(), "ptq", epochs=2).report["neuron_scale"] is True


def test_time_limit_stops_with_a_valid_network():
    problem = tiny()
    result = solve(problem, "ste", epochs=10_000, time_limit=0.05)
    assert result.status == Status.TIME_LIMIT and result.time_limit_hit
    assert result.report["epochs"] < 10_000
    assert np.all(problem.levels.contains(result.network.U))
    assert np.isfinite(result.upper_bound)


class LogCosh(Loss):
    """A non-quadratic test loss known only by its value and gradient: sum log cosh(yhat - y)."""

    name = "logcosh-test"

    def value(self, yhat, y):
        r = np.asarray(yhat, float) - np.asarray(y, float)
        return float(np.sum(np.logaddexp(r, -r) - np.log(2.0)))

    def gradient(self, yhat, y):
        return np.tanh(np.asarray(yhat, float) - np.asarray(y, float))

    def conjugate(self, w, y):
        raise NotImplementedError

    def value_upper_bound(self, yhat, err, y):
        raise NotImplementedError

    def certified_dual_value(self, w, y, s):
        raise NotImplementedError


@pytest.mark.parametrize("name", HEURISTICS)
def test_a_loss_with_value_and_gradient_only(name):
    problem = tiny(loss=LogCosh(), seed=6)
    result = solve(problem, name, **FAST)
    U, alpha = result.network.U, result.network.alpha
    assert result.upper_bound == problem.objective(U, alpha)
    rep = result.report
    assert rep["refit_method"] in ("proximal-gradient", "none")
    assert rep["objective_after_refit"] <= rep["objective_before_refit"]
    yhat = result.network.predict(problem.X, problem.activation)
    np.testing.assert_array_equal(result.dual.w, np.tanh(yhat - problem.y))
    assert np.all(np.isfinite(result.trajectory["objective"]))


def test_proximal_refit_matches_the_exact_lasso_on_the_squared_loss():
    rng = np.random.default_rng(0)
    Phi, y = rng.standard_normal((30, 5)), rng.standard_normal(30)
    from certqnn.lasso import refit
    from certqnn.losses import SquaredLoss

    exact = refit(Phi, y, 2.0, SquaredLoss())
    prox = proximal_lasso(Phi, y, 2.0, SquaredLoss(), np.zeros(5))
    F = SquaredLoss().value(Phi @ prox, y) + 2.0 * np.abs(prox).sum()
    assert F <= exact.objective * (1 + 1e-9)


def test_refit_merges_duplicate_atoms_and_keeps_a_better_alpha():
    problem = tiny(seed=1)
    U = np.array([[1.0, -1.0, 1.0], [1.0, -1.0, -1.0], [-1.0, 1.0, 1.0]])     # columns 0 and 1 are u and -u
    alpha = np.array([0.3, 0.2, -0.1])
    fit = refit_alpha(problem, U, alpha)
    assert fit.objective <= problem.objective(U, alpha)
    assert fit.alpha[1] == 0.0 or fit.alpha[0] == 0.0          # one coefficient per distinct atom (sigma even)


def test_schedules_and_soft_threshold():
    cfg = TrainingConfig(epochs=5, batch_size=4, lr=1e-2)
    r = learning_rates(cfg)
    assert r[0] == 1e-2 and np.isclose(r[-1], 3e-5) and np.all(np.diff(r) < 0)
    r = learning_rates(TrainingConfig(epochs=5, batch_size=4, lr=1e-2, schedule="cosine"))
    assert r[0] == 1e-2 and r[-1] == 0.0
    assert np.all(learning_rates(TrainingConfig(epochs=3, batch_size=4, lr=0.5, schedule="constant")) == 0.5)
    np.testing.assert_array_equal(soft_threshold(np.array([-2.0, -0.5, 0.5, 3.0]), 1.0), [-1.0, 0.0, 0.0, 2.0])


def test_askewsgd_pull_is_the_projection_onto_the_constraint():
    problem = tiny()
    m = AskewSGD(problem, epsilon0=0.01, epsilon_hold=1.0)
    m.begin_epoch(0, 10)
    W = np.array([[0.5, -0.9999, 0.0]])
    G = np.array([[0.0, 0.0, 1.0]])
    out = m.weight_gradient(W, W, G)
    g, dg = m.penalty(W)
    assert g[0, 1] < 0.01 and out[0, 1] == 0.0                      # feasible: the plain gradient
    assert out[0, 0] == -(0.01 - g[0, 0]) / dg[0, 0]                  # infeasible: -K(w)
    assert out[0, 0] < 0                                              # ... which moves w = 0.5 up toward 1
    assert out[0, 2] == 0.0                                           # the midpoint: no preferred side
    np.testing.assert_allclose(g[0, 0], (0.5 ** 2 - 1) ** 2)          # binary: g = (w^2 - 1)^2


def test_stochastic_rounding_is_on_the_grid_and_unbiased():
    problem = tiny("kbit:2")
    m = STE(problem, rounding="stochastic")
    rng = np.random.default_rng(0)
    W = np.full((200, 50), 0.5)
    V = m.forward(W, rng)
    assert set(np.unique(V)) <= {-1.0, 1.0}
    assert abs(V.mean() - 0.5) < 0.02


def test_trainer_default_width_and_epoch_zero():
    problem = tiny()
    run = train(problem, STE(problem), TrainingConfig(epochs=3, batch_size=8, lr=1e-2))
    assert run.U.shape == (problem.d, DEFAULT_WIDTH) and run.epochs_run == 3
    assert run.trajectory["epoch"] == [0, 1, 2, 3]


def test_plot_training_curves(tmp_path):
    pytest.importorskip("matplotlib")
    from certqnn.report import plot_training_curves

    problem = tiny()
    trajectories = {name: solve(problem, name, epochs=5).trajectory for name in ("ste", "ptq")}
    out = tmp_path / "curves.png"
    plot_training_curves(trajectories, 0.5, str(out), title="t")
    assert out.exists() and out.stat().st_size > 1000
    assert [p.name for p in tmp_path.iterdir()] == ["curves.png"]     # atomic: no temporary left behind


def test_cli_solve_with_heuristic_flags(tmp_path):
    from certqnn.cli import main

    out = tmp_path / "h.json"
    code = main(["solve", "synthetic:n=30,d=3,seed=1", "--backend", "ste", "--epochs", "5", "--weight-rounding",
                 "stochastic", "--lr", "0.02", "--quiet", "--out", str(out)])
    assert code == 0 and out.exists()
    code = main(["solve", "synthetic:n=30,d=3,seed=1", "--backend", "ste", "--proxy", "relu", "--quiet"])
    assert code == 2


# -- checks through certify() and the exact backend ------------------------------------------------


@pytest.mark.parametrize("name", HEURISTICS)
def test_certified_heuristic_bound_holds_and_verifies(name):
    from certqnn import certify, verify

    problem = tiny(seed=2)
    result = solve(problem, name, **FAST)
    cert = certify(problem, result)
    assert verify(cert).ok
    assert cert.lower_bound <= cert.upper_bound
    assert cert.upper_bound >= result.upper_bound
    from certqnn.backends.heuristics import with_refit

    assert verify(certify(problem, with_refit(problem, result))).ok


@pytest.mark.parametrize("name", HEURISTICS)
def test_heuristic_is_above_the_exact_certified_bound(name):
    from certqnn import certify

    problem = tiny("ternary", seed=3)
    exact = certify(problem, solve(problem, "enumeration"))
    result = solve(problem, name, **FAST)
    assert result.upper_bound >= exact.lower_bound
    assert result.report["objective_after_refit"] >= exact.lower_bound


def test_a_diverging_run_stops_and_returns_its_best_epoch():
    problem = tiny("kbit:2", seed=1)
    result = solve(problem, "bcgd", optimizer="sgd", lr=10.0, epochs=50)
    assert result.report["diverged"] is True and result.report["epochs"] < 50
    assert np.isfinite(result.upper_bound)
    assert result.upper_bound <= min(result.trajectory["objective"]) * (1 + 1e-12)
    assert np.all(np.isfinite(result.trajectory["objective"]))


def test_with_refit_gives_the_refit_network_as_a_result():
    from certqnn.backends.heuristics import with_refit

    problem = tiny(seed=4)
    result = solve(problem, "ste", **FAST)
    refit = with_refit(problem, result)
    assert refit.backend == "ste+refit"
    assert np.array_equal(refit.network.U, result.network.U)
    assert refit.upper_bound == result.report["objective_after_refit"] <= result.upper_bound
