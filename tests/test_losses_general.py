"""The non-quadratic losses (logistic, hinge, squared hinge, Huber, absolute): conjugates and their
exact domains, the rigorous bounds of the trusted core, the general restricted master, and
certificates end to end (docs/math.md §4; proofs/loss_logistic.md and the other loss pages)."""
from __future__ import annotations

import json
import math
from decimal import Decimal, localcontext
from fractions import Fraction

import numpy as np
import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from certqnn import Certificate, InvalidProblemError, QNNProblem, certify, solve, verify
from certqnn.losses import LOSSES, HuberLoss, get_loss
from certqnn.testing import make_problem
from certqnn.trusted.arith import exp_upper, log_bounds

CLASSIFICATION = ["logistic", "hinge", "squared_hinge"]
REGRESSION = ["huber", "huber:0.3", "absolute"]
NEW = CLASSIFICATION + REGRESSION


def _labels(rng, n):
    return np.where(rng.random(n) < 0.5, -1.0, 1.0)


def _dec(q) -> Decimal:
    q = Fraction(q)
    with localcontext() as ctx:
        ctx.prec = 60
        return Decimal(q.numerator) / Decimal(q.denominator)


def exact_neg_conjugate(loss, w, y) -> Decimal | None:
    """-L*(w) to 50 digits, written independently of certqnn.losses (the table of docs/math.md §4);
    None outside the domain."""
    with localcontext() as ctx:
        ctx.prec = 60
        return _neg_conjugate(loss, w, y)


def _neg_conjugate(loss, w, y):
    total = Decimal(0)
    for wi, yi in zip((Fraction(v) for v in w), (Fraction(v) for v in y)):
        a = yi * wi
        if loss.name == "logistic":
            if a < -1 or a > 0:
                return None
            v = -a
            for t in (v, 1 - v):
                if t > 0:
                    total -= _dec(t) * _dec(t).ln()
        elif loss.name == "hinge":
            if a < -1 or a > 0:
                return None
            total -= _dec(a)
        elif loss.name == "squared_hinge":
            if a > 0:
                return None
            total -= _dec(a + a * a / 4)
        elif loss.name == "huber":
            if abs(wi) > Fraction(loss.delta):
                return None
            total -= _dec(wi * yi + wi * wi / 2)
        elif loss.name == "absolute":
            if abs(wi) > 1:
                return None
            total -= _dec(wi * yi)
    return total


def _point(loss, rng, n, scale=1.0):
    """(y, w): labels or targets and a dual point inside the conjugate's domain."""
    if loss.classification:
        y = _labels(rng, n)
        v = rng.random(n)
        if loss.name == "squared_hinge":
            v = v * 3 * scale
        v[rng.random(n) < 0.2] = 0.0
        if loss.name != "squared_hinge":
            v[rng.random(n) < 0.1] = 1.0
        return y, -y * v
    y = rng.standard_normal(n)
    bound = loss.delta if loss.name == "huber" else 1.0
    w = rng.uniform(-bound, bound, n)
    w[rng.random(n) < 0.1] = bound
    return y, w


@pytest.mark.parametrize("spec", NEW)
@settings(max_examples=40, deadline=None)
@given(seed=st.integers(0, 10_000), n=st.integers(1, 12))
def test_fenchel_young_and_certified_dual_value(spec, seed, n):
    """L(v) + L*(w) >= w^T v on random points; certified_dual_value <= -L*(s w) computed to 50
    digits independently; in_domain agrees with the table; outside the domain the value is None."""
    loss = get_loss(spec)
    rng = np.random.default_rng(seed)
    y, w = _point(loss, rng, n)
    assert loss.in_domain(w, y)
    for _ in range(3):
        v = rng.standard_normal(n) * 3
        assert loss.value(v, y) + loss.conjugate(w, y) >= float(w @ v) - 1e-9 * (1 + abs(float(w @ v)))
    # Fenchel-Young holds with equality at w = grad L(v) (smooth) or any subgradient
    v = rng.standard_normal(n)
    g = loss.gradient(v, y)
    assert loss.in_domain(g, y)
    assert loss.value(v, y) + loss.conjugate(g, y) == pytest.approx(float(g @ v), abs=1e-9 * (1 + loss.value(v, y)))
    for s in (0.0, 0.37, 1.0):
        cert = loss.certified_dual_value(w, y, s)
        exact = exact_neg_conjugate(loss, s * np.asarray(w), y) if s in (0.0, 1.0) else None
        if s in (0.0, 1.0):
            assert cert is not None and Decimal(cert) <= exact
            assert float(exact) - cert <= 1e-12 * (1 + abs(float(exact)))      # and tight
    # outside the domain: None, and conjugate = inf
    bad = np.array(w, float)
    bad[0] = (2.5 if loss.name != "huber" else 2.5 * loss.delta) * (1 if loss.name in REGRESSION + ["huber:0.3"] else y[0])
    if loss.name in ("huber", "absolute"):
        bad[0] = (loss.delta if loss.name == "huber" else 1.0) * 1.0000001
    else:
        bad[0] = 0.5 * y[0]                   # y w > 0: outside for every classification loss
    assert not loss.in_domain(bad, y)
    assert loss.certified_dual_value(bad, y, 1.0) is None
    assert loss.conjugate(bad, y) == math.inf


@pytest.mark.parametrize("spec", NEW)
@settings(max_examples=40, deadline=None)
@given(seed=st.integers(0, 10_000), n=st.integers(1, 12), e=st.sampled_from([0.0, 1e-12, 1e-3, 0.5]))
def test_value_upper_bound_dominates_the_exact_value(spec, seed, n, e):
    """value_upper_bound(yhat, err) >= L(v) for v at the corners and the centre of the box, with L
    evaluated to 50 digits (logistic) or exactly (the others)."""
    loss = get_loss(spec)
    rng = np.random.default_rng(seed)
    y = _labels(rng, n) if loss.classification else rng.standard_normal(n)
    yhat = rng.standard_normal(n) * 2
    err = np.full(n, e)
    ub = loss.value_upper_bound(yhat, err, y)
    for sign in (-1.0, 0.0, 1.0):
        v = [Fraction(t) + Fraction(sign) * Fraction(e) for t in yhat.tolist()]
        if loss.name == "logistic":
            with localcontext() as ctx:
                ctx.prec = 50
                exact = sum(((1 + (-_dec(Fraction(yi) * vi)).exp()).ln() for vi, yi in zip(v, y.tolist())), Decimal(0))
        else:
            exact = _dec(loss.exact_value(v, y))
        assert Decimal(ub) >= exact
        if sign == 0.0 and e == 0.0:
            assert ub - float(exact) <= 1e-12 * (1 + float(exact))


def test_log_and_exp_enclosures():
    """log_bounds encloses log to ~1e-35 (compared with 60-digit Decimal), exp_upper >= exp."""
    with localcontext() as ctx:
        ctx.prec = 60
        for q in [Fraction(1, 3), Fraction(2), Fraction(10) ** -300, Fraction(7, 5), Fraction(1),
                  Fraction(5e-324), Fraction(123456789, 1000), Fraction(1) - Fraction(1, 2 ** 60)]:
            lo, hi = log_bounds(q)
            assert _dec(lo) <= _dec(q).ln() <= _dec(hi)
            assert hi - lo < Fraction(1, 10 ** 30)
        for t in [Fraction(0), Fraction(-1), Fraction(-1, 10 ** 9), Fraction(-700), Fraction(-800)]:
            E = exp_upper(t)
            assert _dec(E) >= _dec(t).exp()
            assert float(E) <= math.exp(float(t)) * (1 + 1e-9) + 5e-324
    with pytest.raises(ValueError):
        log_bounds(Fraction(0))


def test_labels_and_specs():
    """Classification losses need labels +-1 (InvalidProblemError naming y); huber:DELTA parses
    and round-trips through spec; bad specs name the field loss."""
    X = np.eye(3)
    for name in CLASSIFICATION:
        with pytest.raises(InvalidProblemError) as exc:
            QNNProblem(X, [1.0, 0.5, -1.0], loss=name)
        assert exc.value.field == "y"
        QNNProblem(X, [1.0, -1.0, -1.0], loss=name)
    assert get_loss("huber").delta == 1.0
    h = get_loss("huber:0.5")
    assert isinstance(h, HuberLoss) and h.delta == 0.5 and h.name == "huber" and h.spec == "huber:0.5"
    assert get_loss(h.spec).delta == 0.5
    for bad in ("huber:0", "huber:-1", "huber:nan", "huber:x", "hinge:2", "nope"):
        with pytest.raises(InvalidProblemError) as exc:
            get_loss(bad)
        assert exc.value.field == "loss"
    assert set(NEW) - {"huber:0.3"} <= set(LOSSES)
    for name in NEW:
        assert get_loss(name).quadratic(np.zeros(2)) is None


def _problem(spec, seed, n=12, d=3, levels="binary", act=(1.0, 0.5, 0.2)):
    loss = get_loss(spec)
    base = make_problem(seed, n, d, act, levels, beta_fraction=0.15,
                        target="labels" if loss.classification else "planted")
    return QNNProblem(base.X, base.y, base.activation, base.levels, loss, base.beta)


def independent_optimum(problem) -> float:
    """p*_inf over ALL atoms by a generic solver, independent of certqnn.lasso: CVXOPT's LP for the
    piecewise-linear losses, L-BFGS-B on a = a+ - a- >= 0 for the smooth ones."""
    import itertools

    from scipy.optimize import minimize

    vals = problem.levels.values
    U = np.array(list(itertools.product(vals, repeat=problem.d)), float).T
    Phi = problem.activation(problem.X @ U)
    n, m = Phi.shape
    y, beta, loss = problem.y, problem.beta, problem.loss
    if loss.name in ("hinge", "absolute"):
        from cvxopt import matrix, solvers
        # variables (a (m), xi (n)): min beta 1^T |a| + 1^T xi via a = p - q
        S, B = loss.pieces(y)
        rows, rhs = [], []
        for i in range(n):
            for k in range(S.shape[1]):
                r = np.zeros(2 * m + n)
                r[:m], r[m:2 * m], r[2 * m + i] = S[i, k] * Phi[i], -S[i, k] * Phi[i], -1.0
                rows.append(r)
                rhs.append(-B[i, k])
        for j in range(2 * m):
            r = np.zeros(2 * m + n)
            r[j] = -1.0
            rows.append(r)
            rhs.append(0.0)
        c = np.concatenate([np.full(2 * m, beta), np.ones(n)])
        solvers.options.update({"show_progress": False, "abstol": 1e-10, "reltol": 1e-10, "feastol": 1e-10})
        sol = solvers.lp(matrix(c), matrix(np.array(rows)), matrix(np.array(rhs)))
        # an interior-point LP can stop short of its tolerances on degenerate instances (absolute
        # loss, ternary seed 49: 2.8e-7 relative above the optimum): HiGHS's simplex solves the same
        # LP too, and the better of the two feasible points is taken (each objective is recomputed
        # from its a, so either is >= p*_inf)
        from scipy.optimize import linprog

        highs = linprog(c, A_ub=np.array(rows), b_ub=np.array(rhs), bounds=(None, None), method="highs")
        values = []
        for x in (np.array(sol["x"]).ravel(), highs.x):
            if x is not None:
                a = x[:m] - x[m:2 * m]
                values.append(loss.value(Phi @ a, y) + beta * float(np.abs(a).sum()))
        return min(values)

    def f(z):
        a = z[:m] - z[m:]
        g = Phi.T @ loss.gradient(Phi @ a, y)
        return loss.value(Phi @ a, y) + beta * z.sum(), np.concatenate([g + beta, -g + beta])

    best = math.inf
    for start in (np.zeros(2 * m), np.full(2 * m, 0.1)):
        res = minimize(f, start, jac=True, method="L-BFGS-B", bounds=[(0, None)] * (2 * m),
                       options={"maxiter": 20000, "ftol": 1e-15, "gtol": 1e-12})
        best = min(best, float(res.fun))
    return best


@pytest.mark.parametrize("spec", NEW)
@settings(max_examples=6, deadline=None)
@given(seed=st.integers(0, 1000), levels=st.sampled_from(["binary", "ternary"]))
@example(seed=49, levels="ternary")       # CVXOPT's LP alone stopped 2.8e-7 above p* here (absolute)
def test_bounds_sandwich_an_independent_optimum(spec, seed, levels):
    """LB <= p*_inf (independent generic solver over all atoms) <= UB, and enumeration's certified
    relative gap is tiny for every loss."""
    problem = _problem(spec, seed, n=10, d=3, levels=levels)
    cert = certify(problem, solve(problem, "enumeration"))
    assert verify(cert).ok
    p_star = independent_optimum(problem)
    scale = 1e-7 * max(1.0, abs(p_star))
    assert cert.lower_bound <= p_star + scale          # the generic solver is only accurate to ~1e-8
    assert p_star <= cert.upper_bound + scale
    assert cert.relative_gap <= 1e-6


@pytest.mark.parametrize("spec", NEW)
def test_tampered_certificates_are_rejected(spec):
    """Per loss: the certificate verifies, names its loss spec, and raising LB by a relative 1e-9,
    lowering UB, moving w out of the conjugate's domain or swapping the loss makes verify fail."""
    problem = _problem(spec, 3)
    cert = certify(problem, solve(problem, "colgen"))
    doc = json.loads(cert.to_json())
    assert doc["problem"]["loss"] == problem.loss.spec
    assert verify(Certificate.from_json(cert.to_json())).ok

    def rejected(edit):
        bad = json.loads(cert.to_json())
        edit(bad)
        try:
            return not verify(Certificate.from_json(json.dumps(bad))).ok
        except Exception:                   # noqa: BLE001 - a refused file is a rejection
            return True

    lb, ub = cert.lower_bound, cert.upper_bound
    assert rejected(lambda d: d.__setitem__("lower_bound", lb + 1e-9 * abs(lb) + 1e-12))
    assert rejected(lambda d: d.__setitem__("upper_bound", ub - 1e-9 * abs(ub) - 1e-12))

    def out_of_domain(d):
        w = d["dual"]["w"]
        i = int(np.argmax(np.abs(w)))
        w[i] = 1e6 * (w[i] if w[i] != 0 else 1.0)
    assert rejected(out_of_domain)
    # (huber with a large delta may equal the squared loss on these residuals: a valid swap)
    other = {"hinge": "logistic", "absolute": "squared"}.get(problem.loss.name,
                                                            "hinge" if problem.loss.classification else "absolute")
    assert rejected(lambda d: d["problem"].__setitem__("loss", other))


def test_synthetic_done_criterion_every_loss():
    """synthetic:n=60,d=6,seed=1 (labels sign(y - median) for classification): enumeration and
    colgen certify every loss to a relative gap <= 1e-6."""
    from certqnn.datasets import load

    data = load("synthetic:n=60,d=6,seed=1")
    ycls = np.where(data.y - np.median(data.y) > 0, 1.0, -1.0)
    for spec in NEW:
        y = ycls if get_loss(spec).classification else data.y
        problem = QNNProblem(data.X, y, loss=spec, beta=1.0)
        for backend in ("enumeration", "colgen"):
            cert = certify(problem, solve(problem, backend))
            assert verify(cert).ok and cert.relative_gap <= 1e-6, (spec, backend, cert.relative_gap)


@pytest.mark.parametrize("spec", NEW)
def test_refit_closes_its_own_gap_with_a_dual_point_in_the_domain(spec):
    """lasso.refit for every loss model: the returned w lies in the conjugate's domain exactly, the
    restricted gap is at rounding level, and a warm start does not change the optimum."""
    from certqnn.lasso import refit
    from certqnn.lifting import neuron_outputs

    problem = _problem(spec, 11, n=30, d=4)
    rng = np.random.default_rng(0)
    S = np.where(rng.random((problem.binary_dim, 12)) < 0.5, -1.0, 1.0)
    Phi = neuron_outputs(problem.binary_design(), problem.activation, S)
    sol = refit(Phi, problem.y, problem.beta, problem.loss)
    assert sol.w is not None and problem.loss.in_domain(sol.w, problem.y)
    assert sol.gap <= 1e-9 * max(1.0, abs(sol.objective))
    warm = refit(Phi, problem.y, problem.beta, problem.loss, alpha0=rng.standard_normal(12))
    assert warm.objective == pytest.approx(sol.objective, rel=1e-9, abs=1e-12)
