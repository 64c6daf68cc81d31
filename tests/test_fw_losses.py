"""Frank-Wolfe (frank-wolfe, dqsfw) with the smooth non-quadratic losses: logistic, squared hinge,
Huber. The FW gap bounds the suboptimality with the exact LMO for any smooth convex loss, the
general budget bound is valid, certificates verify, and piecewise-linear losses are refused."""
import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

from certqnn import QNNProblem, certify, solve, verify
from certqnn.backends import get_backend
from certqnn.datasets import synthetic
from certqnn.errors import UnsupportedProblemError
from certqnn.fw.centralized import frank_wolfe
from certqnn.fw.steps import smooth_line_search_step, tau_bound, tau_bound_general
from certqnn.lifting import neuron_outputs, q_matrix
from certqnn.losses import get_loss
from certqnn.pricing import quadratic_extremes

SMOOTH = ("logistic", "squared_hinge", "huber:0.5")


def make_problem(loss: str, n: int = 60, d: int = 6, seed: int = 1) -> QNNProblem:
    """±1 labels sign(planted - median) for the classification losses; the planted target for Huber."""
    ds = synthetic(n, d, seed=seed)
    y = ds.y if loss.startswith("huber") else np.where(ds.y >= np.median(ds.y), 1.0, -1.0)
    return QNNProblem(ds.X, y, loss=loss, beta=1.0)


@pytest.fixture(scope="module", params=SMOOTH)
def case(request):
    """(problem, certified enumeration optimum: lb <= p*_inf <= ub, |alpha*|_1)."""
    problem = make_problem(request.param)
    enum = certify(problem, solve(problem, "enumeration"))
    assert verify(enum).ok and enum.upper_bound - enum.lower_bound <= 1e-9 * enum.upper_bound
    return problem, enum.lower_bound, enum.upper_bound, float(np.abs(enum.network.alpha).sum())


def test_certificate_verifies_and_is_close_to_the_optimum(case):
    problem, lb, ub, l1 = case
    res = solve(problem, "frank-wolfe", history=True)
    cert = certify(problem, res)
    assert verify(cert).ok
    assert cert.upper_bound >= lb * (1 - 1e-9)          # a network: never below the optimum
    assert cert.upper_bound <= ub * 1.03                # within a few percent after the default iterations
    assert cert.lower_bound <= ub * (1 + 1e-9)
    # the budget ended below L(0)/beta and is still a valid bound on |alpha*|_1
    assert res.report["adaptive_tau"] and l1 <= res.report["tau"] < problem.loss.value(0 * problem.y, problem.y)
    # exact LMO: objective - gap <= p*_inf at every iterate (J - p* <= gap)
    h = res.trajectory
    J, gap = np.array(h["objective"]), np.array(h["fw_gap"])
    assert np.all(J - gap <= ub + 1e-9 * np.maximum(np.abs(J), 1.0))
    assert np.all(J >= lb * (1 - 1e-9))                 # each iterate is a network (|alpha|_1 <= t)


def test_fixed_tau_and_classical_step_also_bound_the_suboptimality(case):
    problem, lb, ub, l1 = case
    run = frank_wolfe(problem, tau=1.5 * l1, step="classical", max_iter=200, history=True)
    J, gap = np.array(run.history["objective"]), np.array(run.history["fw_gap"])
    assert np.all(J - gap <= ub + 1e-9 * np.maximum(np.abs(J), 1.0)) and not run.adaptive_tau
    assert gap.min() < 0.2 * gap[0] and J[-1] - ub < 0.5 * (J[0] - ub)     # the classical step is slow, not stuck


def test_fully_corrective_penalized_form(case):
    problem, lb, ub, _ = case
    res = solve(problem, "frank-wolfe", fully_corrective=True, max_iter=30)
    cert = certify(problem, res)
    assert verify(cert).ok and lb * (1 - 1e-9) <= cert.upper_bound <= ub * 1.03


def test_fully_corrective_bounded_form_refused_for_a_non_quadratic_loss():
    problem = make_problem("logistic")
    with pytest.raises(UnsupportedProblemError, match="logistic.*form 'penalized'"):
        frank_wolfe(problem, form="bounded", tau=5.0, fully_corrective=True, max_iter=3)


@settings(max_examples=25, deadline=None)
@given(seed=st.integers(0, 10_000), loss=st.sampled_from(SMOOTH + ("squared",)), dt=st.floats(-3, 3),
       b=st.sampled_from([0.0, 1.0]))
def test_smooth_line_search_minimises_along_the_segment(seed, loss, dt, b):
    """The step minimises phi(gamma) = L(yhat + gamma d) + b gamma dt over [0, 1] (checked on a grid)."""
    rng = np.random.default_rng(seed)
    n = 12
    y = np.where(rng.random(n) < 0.5, -1.0, 1.0) if loss in ("logistic", "squared_hinge") else rng.normal(size=n)
    L = get_loss(loss)
    yhat, d = rng.normal(size=n) * 2, rng.normal(size=n) * 3
    gap = -(float(L.gradient(yhat, y) @ d) + b * dt)

    def phi(g):
        return L.value(yhat + g * d, y) + b * g * dt

    gamma = smooth_line_search_step(L, y, yhat, d, gap, dt, b)
    assert 0.0 <= gamma <= 1.0 and phi(gamma) <= phi(0.0)
    grid = min(phi(g) for g in np.linspace(0.0, 1.0, 2001))
    assert phi(gamma) <= grid + 1e-9 * max(1.0, abs(grid))


@pytest.mark.parametrize("loss", SMOOTH)
def test_general_tau_bound_is_valid_for_any_network(loss):
    """tau_bound_general(ub, w, rho) >= |alpha*|_1 for the gradient w of random networks, ub their J."""
    problem = make_problem(loss, n=40, d=5)
    enum = certify(problem, solve(problem, "enumeration"))
    l1 = float(np.abs(enum.network.alpha).sum())
    Xb = problem.binary_design()
    rng = np.random.default_rng(0)
    for _ in range(5):
        S = np.where(rng.random((Xb.shape[1], 3)) < 0.5, -1.0, 1.0)
        a = rng.normal(size=3) * rng.uniform(0.1, 3)
        yhat = neuron_outputs(Xb, problem.activation, S) @ a
        w = problem.loss.gradient(yhat, problem.y)
        rho = quadratic_extremes(q_matrix(Xb, problem.activation, w), even=True).rho
        ub = problem.loss.value(yhat, problem.y) + problem.beta * np.abs(a).sum()
        assert tau_bound_general(ub, problem.loss, w, problem.y, rho, problem.beta) >= l1
    # at the optimum's gradient the bound is nearly tight
    w = problem.loss.gradient(enum.network.predict(problem.X, problem.activation), problem.y)
    rho = quadratic_extremes(q_matrix(Xb, problem.activation, w), even=True).rho
    tight = tau_bound_general(enum.upper_bound, problem.loss, w, problem.y, rho, problem.beta)
    assert l1 <= tight <= 1.5 * l1 + 1e-6


def test_general_tau_bound_agrees_with_the_closed_form_for_the_squared_loss():
    ds = synthetic(60, 6, seed=1)
    problem = QNNProblem(ds.X, ds.y, beta=1.0)
    Xb = problem.binary_design()
    w = problem.loss.gradient(np.zeros(problem.n), problem.y) * 0.3
    rho = quadratic_extremes(q_matrix(Xb, problem.activation, w), even=True).rho
    ub = problem.loss.value(np.zeros(problem.n), problem.y)
    closed = tau_bound(ub, float(w @ problem.y), float(w @ w), rho, problem.beta)
    general = tau_bound_general(ub, problem.loss, w, problem.y, rho, problem.beta)
    assert general <= closed * (1 + 1e-6)        # best_dual_scale is at least as good as the fixed-w model


def test_dqsfw_logistic_certificate_verifies():
    problem = make_problem("logistic")
    res = solve(problem, "dqsfw", agents=3, max_iter=300)
    cert = certify(problem, res)
    assert verify(cert).ok and not res.report["adaptive_tau"]
    enum = certify(problem, solve(problem, "enumeration"))
    assert enum.lower_bound * (1 - 1e-9) <= cert.upper_bound <= enum.upper_bound * 1.05


@pytest.mark.parametrize("opts,name", [({"tau": "adaptive"}, "tau='adaptive'"),
                                       ({"step": "local_line_search", "tau": 5.0}, "step='local_line_search'")])
def test_dqsfw_refuses_quadratic_only_options_for_logistic(opts, name):
    problem = make_problem("logistic", n=30, d=4)
    with pytest.raises(UnsupportedProblemError, match=f"{name}.*'logistic'"):
        solve(problem, "dqsfw", agents=2, max_iter=3, **opts)


@pytest.mark.parametrize("backend", ["frank-wolfe", "dqsfw"])
@pytest.mark.parametrize("loss", ["hinge", "absolute"])
def test_piecewise_linear_losses_are_refused_by_name(backend, loss):
    problem = make_problem("logistic", n=30, d=4)
    problem = QNNProblem(problem.X, problem.y, loss=loss, beta=1.0)
    ok, why = get_backend(backend).supports(problem)
    assert not ok and f"'{loss}'" in why and "colgen" in why and "smooth" in why
    with pytest.raises(UnsupportedProblemError, match=loss):
        solve(problem, backend, max_iter=3)
    with pytest.raises(UnsupportedProblemError, match=loss):
        frank_wolfe(problem, max_iter=3)
