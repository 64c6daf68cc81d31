"""The SDP backend with general losses: each cone model (certqnn/shor/loss_models.py) against an
independent computation, the relaxation below the brute-force optimum, the dual point.

The losses are certqnn's own (tests/loss_standins.py builds them by name); the dual point is
checked in floating point (-L*(s w) with s from the exact rho over all atoms) and, for hinge, end to
end through certify() and the trusted verifier.
"""
from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.optimize import minimize

from certqnn.backends.sdp import SdpBackend
from certqnn.errors import InvalidProblemError, UnsupportedProblemError
from certqnn.losses import Loss
from certqnn.lifting import apply_lifted
from certqnn.problem import QNNProblem
from certqnn.shor import make_engine
from certqnn.shor.loss_models import MODELS, cone_model, dual_point, has_cone_model
from loss_standins import CLASSIFICATION, all_atoms, brute_force_optimum, loss_by_name

scs = pytest.importorskip("scs")
GENERAL = ("logistic", "hinge", "squared_hinge", "huber", "absolute")


def make_problem(name, seed, n=14, d=3, beta=0.3, **loss_kw):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, d))
    if name in CLASSIFICATION:
        y = np.where(X @ rng.normal(size=d) + 0.3 * rng.normal(size=n) > 0, 1.0, -1.0)
    else:
        y = (X @ rng.normal(size=d)) ** 2 - 1.0 + 0.2 * rng.standard_t(2, size=n)
    return QNNProblem(X, y, loss=loss_by_name(name, **loss_kw), beta=beta)


def model_value(loss, r0, y):
    """min of the cone model with r fixed to r0, solved by SCS alone (no SDP around it)."""
    m = cone_model(loss, y)
    n = m.n
    A = sp.vstack([sp.hstack([sp.identity(n), sp.csc_matrix((n, m.n_aux))]), m.A_l, m.A_q, m.A_ep], format="csc")
    b = np.concatenate([r0 - m.offset, m.b_l, m.b_q, m.b_ep])
    sol = scs.SCS({"P": sp.diags(m.P_diag).tocsc(), "A": A, "b": b, "c": m.c},
                  {"z": n, "l": m.n_l, "q": m.q, "ep": m.n_ep}, eps_abs=1e-10, eps_rel=1e-10, verbose=False).solve()
    assert sol["info"]["status_val"] == 1
    return sol["info"]["pobj"] + m.const


def test_scs_exponential_cone_ordering():
    # min z s.t. (x, y, z) = (1, 1, z) in K_exp: z = e exactly when the triple means y e^{x/y} <= z
    A = sp.csc_matrix(np.vstack([np.eye(3)[:2], -np.eye(3)]))
    sol = scs.SCS({"A": A, "b": np.array([1.0, 1.0, 0, 0, 0]), "c": np.array([0, 0, 1.0])},
                  {"z": 2, "ep": 1}, eps_abs=1e-9, eps_rel=1e-9, verbose=False).solve()
    assert sol["x"][2] == pytest.approx(np.e, rel=1e-6)


@pytest.mark.parametrize("name", GENERAL)
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_cone_model_equals_loss_value(name, seed):
    rng = np.random.default_rng(seed)
    y = rng.choice([-1.0, 1.0], 7) if name in CLASSIFICATION else rng.normal(size=7)
    r0 = 2.0 * rng.normal(size=7)
    r0[0] = y[0] if name != "huber" else y[0] + 1.0       # a kink of hinge/absolute/huber
    r0[1] = 1.0 / y[1] if name in CLASSIFICATION else y[1]
    kw = {"delta": 0.7} if name == "huber" else {}
    loss = loss_by_name(name, **kw)
    assert model_value(loss, r0, y) == pytest.approx(loss.value(r0, y), rel=1e-6, abs=1e-7)


def test_every_named_loss_has_a_model_and_others_are_refused():
    assert set(GENERAL) <= set(MODELS)

    class Cubic(Loss):
        name = "cubic"
        value = gradient = conjugate = value_upper_bound = certified_dual_value = lambda *a: 0.0

    problem = QNNProblem(np.ones((3, 2)), np.ones(3), loss=Cubic())
    assert not has_cone_model(Cubic())
    ok, reason = SdpBackend().supports(problem)
    assert not ok and "'cubic'" in reason
    with pytest.raises(UnsupportedProblemError, match="cubic"):
        SdpBackend().run(problem, SdpBackend.Options(rounding=False))


def _one_bit_sdp_by_scipy(problem):
    """The Shor SDP for p = 1: each 2x2 block with equal diagonal t is PSD iff t >= |x|, so it is
    min L((a x_i^2 + c)(t+ - t-) + b x_i (x+ - x-)) + beta (t+ + t-) s.t. t± >= |x±| (SLSQP)."""
    act, xb = problem.activation, problem.binary_design()[:, 0]
    y, loss, beta = problem.y, problem.loss, problem.beta
    diag, off = act.a * xb ** 2 + act.c, act.b * xb

    def obj(z):
        tp, xp, tm, xm = z
        return loss.value(diag * (tp - tm) + off * (xp - xm), y) + beta * (tp + tm)

    cons = [{"type": "ineq", "fun": (lambda z, i=i, s=s: z[i] - s * z[i + 1])} for i in (0, 2) for s in (1, -1)]
    best = np.inf
    for z0 in ([0.1, 0, 0.1, 0], [1.0, 0.5, 0.0, 0.0], [0.0, 0.0, 1.0, -0.5]):
        res = minimize(obj, np.array(z0), method="SLSQP", constraints=cons, options={"ftol": 1e-14, "maxiter": 2000})
        best = min(best, res.fun)
    return best


@pytest.mark.parametrize("name", ["logistic", "squared_hinge", "huber"])
@pytest.mark.parametrize("seed", [3, 4])
def test_one_bit_sdp_agrees_with_scipy(name, seed):
    problem = make_problem(name, seed, n=10, d=1, beta=0.2)
    sdp = SdpBackend().run(problem, SdpBackend.Options(rounding=False, eps=1e-9))
    assert sdp.lower_bound == pytest.approx(_one_bit_sdp_by_scipy(problem), rel=1e-5)


@pytest.mark.parametrize("name", ["hinge", "squared_hinge", "huber", "absolute"])
def test_scs_and_picos_engines_agree(name):
    pytest.importorskip("picos")
    problem = make_problem(name, 5)
    a = SdpBackend().run(problem, SdpBackend.Options(rounding=False, eps=1e-8))
    b = SdpBackend().run(problem, SdpBackend.Options(rounding=False, engine="picos"))
    assert a.lower_bound == pytest.approx(b.lower_bound, rel=1e-5)
    assert a.report["cone_model"] == b.report["cone_model"] == cone_model(problem.loss, problem.y).description


def test_picos_refuses_logistic_naming_the_loss_and_the_engine_that_can():
    pytest.importorskip("picos")
    with pytest.raises(UnsupportedProblemError, match=r"'logistic'.*--engine scs"):
        SdpBackend().run(make_problem("logistic", 0), SdpBackend.Options(rounding=False, engine="picos"))


def _conjugate(name, w, y, loss):
    """L*(w) for the stand-ins (inf outside the domain), independent of certqnn."""
    if name in ("hinge", "logistic"):
        lam = -y * w
        if np.any(lam < -1e-12) or np.any(lam > 1 + 1e-12):
            return np.inf
        lam = np.clip(lam, 0, 1)
        if name == "hinge":
            return float(-lam.sum())
        with np.errstate(divide="ignore", invalid="ignore"):
            ent = np.where(lam > 0, lam * np.log(lam), 0) + np.where(lam < 1, (1 - lam) * np.log1p(-lam), 0)
        return float(ent.sum())
    if name == "squared_hinge":
        lam = -y * w
        if np.any(lam < -1e-12):
            return np.inf
        return float((-lam + lam ** 2 / 4).sum())
    if name == "huber":
        if np.any(np.abs(w) > loss.delta + 1e-12):
            return np.inf
        return float(w @ y + 0.5 * w @ w)
    if name == "absolute":
        if np.any(np.abs(w) > 1 + 1e-12):
            return np.inf
        return float(w @ y)
    raise KeyError(name)


@pytest.mark.parametrize("name", GENERAL)
@pytest.mark.parametrize("seed", range(3))
def test_sdp_bound_below_brute_force_and_dual_point_attains_it(name, seed):
    problem = make_problem(name, seed)
    res = SdpBackend().run(problem, SdpBackend.Options(rounding=False, eps=1e-8))
    p_star = brute_force_optimum(problem)
    assert res.lower_bound <= p_star * (1 + 1e-6) + 1e-6
    assert res.report["cone_model"] == cone_model(problem.loss, problem.y).description
    # the claimed dual point: -L*(s w) with the exact rho over all atoms is a valid bound (weak
    # duality), and close to the SDP value when w is the right (sub)gradient
    w = res.dual.w
    rho = float(np.abs(all_atoms(problem).T @ w).max())
    s = min(1.0, problem.beta / rho)
    g = -_conjugate(name, s * w, problem.y, problem.loss)
    assert np.isfinite(g)
    assert g <= p_star + 1e-6
    assert g >= res.lower_bound - 2e-3 * max(1.0, abs(res.lower_bound))


@pytest.mark.parametrize("name,engine", [("logistic", "scs"), ("huber", "scs"), ("squared_hinge", "scs"),
                                         ("huber", "picos"), ("squared_hinge", "picos")])
def test_link_multiplier_is_the_gradient_for_smooth_losses(name, engine):
    if engine == "picos":
        pytest.importorskip("picos")
    problem = make_problem(name, 7)
    # the engine itself, to read the multipliers of its link rows r = yhat - offset
    sol = make_engine(engine).solve(problem.binary_design(), problem.y, problem.beta, problem.activation,
                                    eps=1e-9 if engine == "scs" else 1e-8, model=cone_model(problem.loss, problem.y))
    yhat = apply_lifted(problem.binary_design(), problem.activation, sol.Z_plus - sol.Z_minus)
    np.testing.assert_allclose(sol.details["w_link"], problem.loss.gradient(yhat, problem.y), atol=1e-4)
    assert sol.details["cone_model"] == cone_model(problem.loss, problem.y).description


def test_hinge_kink_takes_the_solver_subgradient():
    y = np.array([1.0, -1.0, 1.0])
    yhat = np.array([1.0, -1.0, 0.0])                  # the first two sit on the margin
    w = dual_point(loss_by_name("hinge"), yhat, y, w_solver=np.array([-0.3, 2.0, -1.0]))
    np.testing.assert_allclose(w, [-0.3, 1.0, -1.0])   # clipped into -y [0, 1]; off the kink: gradient


@pytest.mark.parametrize("name", ["hinge", "logistic"])
def test_triangle_cuts_with_general_losses(name):
    problem = make_problem(name, 2, n=16, d=4, beta=0.2)
    res = SdpBackend().run(problem, SdpBackend.Options(rounding=False, cuts="triangle", cut_tol=1e-4, eps=1e-8))
    rep = res.report
    assert rep["strengthened_bound"] >= rep["shor_bound"] - 1e-5 * max(1, abs(rep["shor_bound"]))
    assert rep["strengthened_bound"] <= brute_force_optimum(problem) + 1e-5
    assert res.lower_bound == pytest.approx(rep["strengthened_bound"])


@settings(max_examples=25, deadline=None)
@given(name=st.sampled_from(GENERAL), seed=st.integers(0, 2**16), scale=st.floats(0.1, 5.0),
       delta=st.floats(0.1, 3.0))
def test_cone_model_equals_loss_value_property(name, seed, scale, delta):
    rng = np.random.default_rng(seed)
    y = rng.choice([-1.0, 1.0], 5) if name in CLASSIFICATION else rng.normal(size=5)
    loss = loss_by_name(name, **({"delta": delta} if name == "huber" else {}))
    r0 = scale * rng.normal(size=5)
    assert model_value(loss, r0, y) == pytest.approx(loss.value(r0, y), rel=1e-6, abs=1e-7)


@settings(max_examples=8, deadline=None)
@given(name=st.sampled_from(GENERAL), seed=st.integers(0, 2**16), beta=st.floats(0.05, 2.0))
def test_sdp_bound_below_brute_force_property(name, seed, beta):
    problem = make_problem(name, seed, n=10, d=3, beta=beta)
    res = SdpBackend().run(problem, SdpBackend.Options(rounding=False, eps=1e-8))
    assert res.lower_bound <= brute_force_optimum(problem) * (1 + 1e-6) + 1e-6


def test_gram_form_is_refused_for_a_non_quadratic_loss():
    with pytest.raises(InvalidProblemError, match="gram"):
        SdpBackend().run(make_problem("hinge", 0), SdpBackend.Options(rounding=False, form="gram"))


def test_rounding_with_a_general_loss_gives_a_network_or_says_why_not():
    # the refit uses the Lasso master; until it models general losses the backend keeps the bound,
    # returns the empty network and says so; afterwards a sampled network must bracket the bound
    problem = make_problem("hinge", 1)
    res = SdpBackend().run(problem, SdpBackend.Options(samples=8))
    if "rounding" in res.report:
        assert res.report["rounding"].startswith("skipped:") and "hinge" in res.report["rounding"]
        assert res.network.alpha.size == 0
        assert res.upper_bound == pytest.approx(problem.loss.value(np.zeros(problem.n), problem.y))
    assert res.upper_bound >= res.lower_bound - 1e-6


@pytest.mark.parametrize("rho,cuts,engine", [("shor", "none", "scs"), ("exact", "none", "scs"),
                                             ("shor", "triangle", "scs"), ("exact", "triangle", "scs"),
                                             ("shor", "none", "picos")])
def test_hinge_certified_end_to_end(rho, cuts, engine):
    from certqnn import certify
    from certqnn.trusted.verify import verify

    problem = make_problem("hinge", 3, n=16, d=4, beta=0.3)
    if engine == "picos":
        pytest.importorskip("picos")
    res = SdpBackend().run(problem, SdpBackend.Options(rounding=False, cuts=cuts, engine=engine,
                                                       eps=1e-8 if engine == "scs" else None))
    cert = certify(problem, res, rho=rho)
    assert verify(cert).ok
    p_star = brute_force_optimum(problem)
    assert cert.lower_bound <= p_star + 1e-9
    # the PSD-cone duals and the kink rule give a bound close to the relaxation's value
    assert cert.lower_bound >= res.lower_bound - 1e-3 * abs(res.lower_bound)
