"""A loss is a local change: a toy loss registered here runs enumeration -> certify -> verify.

The toy loss is the squared loss scaled by kappa, l(t, y) = kappa/2 (t - y)^2. Its optimum is known
independently: J_kappa(U, a) = kappa * J_1(U, a) with beta replaced by beta / kappa, so
p*_kappa(beta) = kappa * p*_1(beta / kappa).
"""
from __future__ import annotations

from fractions import Fraction

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

from certqnn import QNNProblem, certify, solve, verify
from certqnn.losses import LOSSES, Loss, SquaredLoss, get_loss, register_loss
from certqnn.trusted.arith import exact_dot, float_below, gamma, up

KAPPA = 3.0


class ScaledSquaredLoss(Loss):
    name = "toy_scaled_squared"

    def value(self, yhat, y):
        r = np.asarray(yhat, float) - y
        return 0.5 * KAPPA * float(r @ r)

    def gradient(self, yhat, y):
        return KAPPA * (np.asarray(yhat, float) - y)

    def conjugate(self, w, y):
        w = np.asarray(w, float)
        return float(w @ y + (w @ w) / (2 * KAPPA))

    def best_dual_scale(self, w, y, smax):
        ww = float(w @ w)
        return 0.0 if ww == 0 else float(np.clip(-KAPPA * float(w @ y) / ww, 0.0, smax))

    def quadratic(self, y):
        return KAPPA, np.asarray(y, float)

    def value_upper_bound(self, yhat, err, y):
        return up(up(KAPPA) * SquaredLoss().value_upper_bound(yhat, err, y) * (1 + gamma(2)))

    def certified_dual_value(self, w, y, s):
        fs = Fraction(s)
        w, y = np.asarray(w, float).tolist(), np.asarray(y, float).tolist()
        return float_below(-fs * exact_dot(w, y) - fs * fs * exact_dot(w, w) / (2 * Fraction(KAPPA)))


@pytest.fixture
def toy_loss():
    register_loss(ScaledSquaredLoss)
    yield ScaledSquaredLoss.name
    LOSSES.pop(ScaledSquaredLoss.name, None)


def test_toy_loss_runs_through_enumeration_certify_verify(toy_loss):
    rng = np.random.default_rng(5)
    X, y = rng.standard_normal((25, 4)), rng.standard_normal(25)
    toy = QNNProblem(X, y, loss=toy_loss, beta=0.6)
    cert = certify(toy, solve(toy, "enumeration"))
    assert cert.problem_doc["loss"] == toy_loss
    assert verify(cert).ok and cert.relative_gap <= 1e-6
    # the same optimum, computed through the squared loss with beta / kappa
    ref = QNNProblem(X, y, beta=0.6 / KAPPA)
    ref_cert = certify(ref, solve(ref, "enumeration"))
    assert cert.upper_bound == pytest.approx(KAPPA * ref_cert.upper_bound, rel=1e-7)
    assert cert.lower_bound <= KAPPA * ref_cert.upper_bound * (1 + 1e-9)


def test_toy_loss_runs_through_the_sdp(toy_loss):
    rng = np.random.default_rng(6)
    X, y = rng.standard_normal((30, 4)), rng.standard_normal(30)
    toy = QNNProblem(X, y, loss=toy_loss, beta=0.6)
    exact = certify(toy, solve(toy, "enumeration"))
    relaxed = certify(toy, solve(toy, "sdp", samples=16))
    assert verify(relaxed).ok
    assert relaxed.lower_bound <= exact.upper_bound * (1 + 1e-9) <= relaxed.upper_bound * (1 + 2e-9)


def test_a_tampered_toy_certificate_fails(toy_loss):
    rng = np.random.default_rng(7)
    toy = QNNProblem(rng.standard_normal((20, 3)), rng.standard_normal(20), loss=toy_loss, beta=0.5)
    cert = certify(toy, solve(toy, "enumeration"))
    cert.lower_bound = cert.lower_bound + 1e-3 * abs(cert.lower_bound) + 1e-6
    assert not verify(cert).ok


def test_an_unregistered_loss_is_named_in_the_error():
    with pytest.raises(ValueError, match="loss"):
        get_loss("toy_scaled_squared_missing")


@settings(max_examples=40, deadline=None)
@given(st.lists(st.floats(-5, 5), min_size=1, max_size=8), st.floats(0, 1))
def test_squared_loss_certified_dual_value_never_exceeds_the_true_value(ws, s):
    w = np.array(ws)
    y = np.linspace(-1, 1, len(ws))
    lb = SquaredLoss().certified_dual_value(w, y, s)
    fs = Fraction(s)
    exact = -fs * exact_dot(w.tolist(), y.tolist()) - fs * fs * exact_dot(w.tolist(), w.tolist()) / 2
    assert Fraction(lb) <= exact


@settings(max_examples=40, deadline=None)
@given(st.lists(st.floats(-5, 5), min_size=1, max_size=8), st.floats(0, 1e-3))
def test_squared_loss_value_upper_bound_covers_the_error_box(vs, e):
    yhat = np.array(vs)
    y = np.zeros(len(vs))
    err = np.full(len(vs), e)
    ub = SquaredLoss().value_upper_bound(yhat, err, y)
    worst = sum((Fraction(abs(v)) + Fraction(e)) ** 2 for v in vs) / 2
    assert Fraction(ub) >= worst
