"""Backend frank-wolfe (docs/math.md §10, centralized): the FW gap bounds the suboptimality of the problem it
refers to, the budget bound is valid, and the final network is certified and verifies."""
import numpy as np
import pytest

from certqnn import InvalidProblemError, QNNProblem, QuantizedNetwork, certify, solve, verify
from certqnn.errors import UnknownOptionError
from certqnn.lasso import refit
from certqnn.fw.centralized import frank_wolfe
from certqnn.fw.lmo import ExactLMO, HeuristicLMO
from certqnn.fw.steps import default_tau, tau_bound
from certqnn.report import plot_convergence
from certqnn.datasets import synthetic
from certqnn.lifting import neuron_outputs, q_matrix
from certqnn.pricing import quadratic_extremes, sign_vectors


@pytest.fixture(scope="module")
def small():
    """A planted problem small enough for enumeration (p = 6)."""
    ds = synthetic(120, 6, seed=3)
    return QNNProblem(ds.X, ds.y, beta=1.0)


@pytest.fixture(scope="module")
def optimum(small):
    """(LB, UB, network) with LB <= p*_inf <= UB, UB - LB <= 1e-10 relative: the exact Lasso over ALL
    2^(p-1) atoms (lasso.refit carries its own duality gap), cross-checked with the enumeration backend."""
    S = all_atoms(small)
    sol = refit(neuron_outputs(small.binary_design(), small.activation, S), small.y, small.beta)
    assert sol.gap <= 1e-10 * sol.objective
    enum = certify(small, solve(small, "enumeration"))
    assert enum.lower_bound <= sol.objective * (1 + 1e-12) and sol.lower_bound <= enum.upper_bound * (1 + 1e-12)
    keep = sol.alpha != 0
    return sol.lower_bound, sol.objective, QuantizedNetwork(S[:, keep], sol.alpha[keep])


def all_atoms(problem):
    """Every distinct atom (even activation: s_1 = +1), shape (p, 2^(p-1))."""
    S = sign_vectors(problem.binary_dim)
    return S[:, S[0] > 0]


def l1_ball_reference(Phi, y, tau, iters=20000):
    """min |Phi a - y|^2/2 s.t. |a|_1 <= tau by FISTA with the exact l1-ball projection (Duchi et al.
    2008): independent of the code under test."""
    def project(v):
        if np.abs(v).sum() <= tau:
            return v
        u = np.sort(np.abs(v))[::-1]
        css = np.cumsum(u)
        k = np.nonzero(u * np.arange(1, u.size + 1) > css - tau)[0][-1]
        theta = (css[k] - tau) / (k + 1)
        return np.sign(v) * np.maximum(np.abs(v) - theta, 0)

    Lip = np.linalg.norm(Phi, 2) ** 2
    a = z = np.zeros(Phi.shape[1])
    t = 1.0
    for _ in range(iters):
        a_new = project(z - Phi.T @ (Phi @ z - y) / Lip)
        t_new = (1 + np.sqrt(1 + 4 * t * t)) / 2
        z = a_new + (t - 1) / t_new * (a_new - a)
        a, t = a_new, t_new
    r = Phi @ a - y
    return 0.5 * r @ r


def test_exact_lmo_matches_the_oracle():
    rng = np.random.default_rng(0)
    for p, even in [(1, False), (5, True), (7, False), (12, True), (13, False)]:
        A = rng.standard_normal((p + 1, p + 1))
        Q = A + A.T
        if even:
            Q[:p, p] = Q[p, :p] = 0.0
        s, value = ExactLMO(even)(Q)
        ext = quadratic_extremes(Q, even=even)
        assert abs(value) == pytest.approx(ext.rho, rel=1e-12)
        st = np.append(s, 1.0)
        assert st @ Q @ st == pytest.approx(value, rel=1e-12)


@pytest.mark.parametrize("step", ["line_search", "classical"])
@pytest.mark.parametrize("tau", [None, "fixed"])
def test_penalized_gap_bounds_suboptimality(small, optimum, step, tau):
    """Penalized form: J_t - p*_inf <= FW gap_t at every iterate, and every dual bound <= p*_inf
    (p*_inf from the enumeration certificate). tau: adaptive (default) or fixed L(0)/beta."""
    lb, ub, _ = optimum
    run = frank_wolfe(small, step=step, tau=default_tau(small) if tau == "fixed" else None,
                      max_iter=150, tol=0, history=True)
    h = run.history
    obj, gap, dual = (np.array(h[k]) for k in ("objective", "fw_gap", "dual_bound"))
    assert np.all(obj - lb <= gap + 1e-9 * np.abs(obj))
    assert np.all(dual <= ub + 1e-9 * abs(ub))
    lbs = np.array(h["lower_bound"])
    assert np.all(lbs <= ub + 1e-9 * abs(ub))
    assert np.all(np.array(h["tau"]) >= np.abs(optimum[2].alpha).sum() * (1 - 1e-9))
    if step == "line_search":
        assert obj[-1] <= obj[0]


def test_bounded_gap_bounds_suboptimality(small):
    """Bounded form: L(yhat_t) - L*_tau <= FW gap_t, L*_tau from an independent solver over ALL atoms."""
    Xb = small.binary_design()
    Phi = neuron_outputs(Xb, small.activation, all_atoms(small))
    tau = 1.0
    Lstar = l1_ball_reference(Phi, small.y, tau)
    for step in ("classical", "line_search"):
        run = frank_wolfe(small, form="bounded", tau=tau, step=step, max_iter=400, tol=0, history=True)
        obj, gap = np.array(run.history["objective"]), np.array(run.history["fw_gap"])
        assert np.all(obj - Lstar <= gap + 1e-7 * np.abs(obj))
        assert np.all(np.array(run.history["dual_bound"]) <= Lstar + 1e-7 * Lstar)
        assert obj.min() - Lstar <= 0.05 * Lstar          # and it does get there
        assert np.abs(run.alpha).sum() <= tau * (1 + 1e-12)


def test_iterates_are_quantized_networks(small):
    run = frank_wolfe(small, max_iter=60, tol=0)
    assert set(np.unique(run.S)) <= {-1.0, 1.0}
    Phi = neuron_outputs(small.binary_design(), small.activation, run.S)
    np.testing.assert_allclose(Phi @ run.alpha, run.yhat, rtol=1e-9, atol=1e-9)
    assert np.abs(run.alpha).sum() <= run.t * (1 + 1e-12)


def test_tau_bound_is_a_valid_budget(small, optimum):
    """|alpha*|_1 <= tau_bound(ub, w, rho) for any w (exact rho), and it is tight at the optimum."""
    lb, ub, net = optimum
    a1 = np.abs(net.alpha).sum()
    Xb, y = small.binary_design(), small.y
    wstar = net.predict(small.X, small.activation) - y
    rng = np.random.default_rng(1)
    for w in (-y, wstar, wstar + 0.1 * rng.standard_normal(y.size), rng.standard_normal(y.size)):
        rho = quadratic_extremes(q_matrix(Xb, small.activation, w), even=True).rho
        bound = tau_bound(ub, w @ y, w @ w, rho, small.beta)
        assert bound >= a1 * (1 - 1e-9)
        assert bound <= ub / small.beta * (1 + 1e-9)
    rho = quadratic_extremes(q_matrix(Xb, small.activation, wstar), even=True).rho
    assert tau_bound(ub, wstar @ y, wstar @ wstar, rho, small.beta) <= 1.01 * a1


@pytest.mark.parametrize("opts", [{}, {"fully_corrective": True, "max_iter": 40}, {"lmo": "heuristic", "max_iter": 200},
                                  {"step": "classical", "tau": 4.0, "max_iter": 300}])
def test_certificate_verifies(small, optimum, opts):
    res = solve(small, "frank-wolfe", **opts)
    assert res.rho_method is None          # certify() chooses: exact enumeration at this size
    cert = certify(small, res)
    assert verify(cert).ok and cert.rho_certified_by == "exact"
    assert cert.upper_bound >= optimum[0] * (1 - 1e-9)
    assert res.report["gap_is_certified"] == (opts.get("lmo") != "heuristic")
    assert res.trajectory is None and not res.time_limit_hit and not hasattr(res, "info")
    if opts.get("fully_corrective"):
        assert cert.relative_gap <= 1e-6          # fully corrective FW = column generation: exact


def test_width_limited(small):
    p = QNNProblem(small.X, small.y, beta=1.0, width=3)
    res = solve(p, "frank-wolfe", max_iter=100)
    assert res.network.width <= 3
    assert verify(certify(p, res)).ok


def test_multilevel_atoms_collapse_to_the_grid():
    ds = synthetic(60, 3, seed=5)
    p = QNNProblem(ds.X, ds.y, beta=0.5, levels="kbit:2")
    res = solve(p, "frank-wolfe", max_iter=100)
    assert np.all(p.levels.contains(res.network.U))
    assert verify(certify(p, res)).ok


def test_heuristic_lmo_finds_a_good_atom():
    rng = np.random.default_rng(3)
    A = rng.standard_normal((9, 9))
    Q = A + A.T
    s, value = HeuristicLMO(False)(Q, rng)
    assert abs(value) >= 0.8 * quadratic_extremes(Q).rho
    st = np.append(s, 1.0)
    assert st @ Q @ st == pytest.approx(value)


@pytest.mark.parametrize("opts,field", [({"form": "box"}, "form"), ({"tau": -1.0}, "tau"), ({"step": "armijo"}, "step"),
                                        ({"lmo": "sdp"}, "lmo"), ({"max_iter": 0}, "max_iter"),
                                        ({"form": "bounded", "tau": "adaptive"}, "tau"),
                                        ({"lmo": "heuristic", "tau": "adaptive"}, "tau"), ({"colour": 1}, "colour"),
                                        ({"step": "nope"}, "step"), ({"tol": -1.0}, "tol"), ({"tau": float("inf")}, "tau"),
                                        ({"fully_corrective": "yes"}, "fully_corrective"), ({"time_limit": 0}, "time_limit"),
                                        ({"seed": 1.5}, "seed")])
def test_bad_options_name_the_field(small, opts, field):
    with pytest.raises(InvalidProblemError) as exc:
        solve(small, "frank-wolfe", **opts)
    assert exc.value.field == field
    assert field in str(exc.value)


def test_unknown_option_is_an_error_naming_it(small):
    with pytest.raises(UnknownOptionError) as exc:
        solve(small, "frank-wolfe", bogus=1)
    assert exc.value.unknown == ["bogus"] and "'bogus'" in str(exc.value)
    with pytest.raises(UnknownOptionError):
        solve(small, "frank-wolfe", plot="fw.png")        # plotting is not the backend's job


def test_report_and_time_limit(small):
    res = solve(small, "frank-wolfe", max_iter=20, tol=0, time_limit=1e-9)
    assert res.time_limit_hit and res.status == "time_limit" and res.iterations == 1
    assert res.report["fw_status"] == "time_limit" and res.report["form"] == "penalized"
    assert res.support is not None and res.support >= res.network.width


def test_callback_sees_every_iteration(small):
    seen = []
    run = frank_wolfe(small, max_iter=12, tol=0, history=True, callback=lambda it, rec: seen.append((it, rec)))
    assert [it for it, _ in seen] == list(range(12)) and run.status == "iteration_limit"
    assert [rec["fw_gap"] for _, rec in seen] == run.history["fw_gap"]


def test_history_and_plot(small, tmp_path):
    pytest.importorskip("matplotlib")
    out = tmp_path / "fw.png"
    res = solve(small, "frank-wolfe", max_iter=30, tol=0, history=True)
    h = res.trajectory
    assert len(h["objective"]) == len(h["fw_gap"]) == res.iterations == 30
    plot_convergence(h, str(out), title="frank-wolfe")
    assert out.exists() and out.stat().st_size > 0
    assert [p.name for p in tmp_path.iterdir()] == ["fw.png"]          # no temporary file left behind
