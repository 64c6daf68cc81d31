"""Strengthened SDP (triangle cuts): Shor <= strengthened <= p*, and its certificates verify."""
import itertools

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

from certqnn import Certificate, certify, solve, verify
from certqnn.testing import brute_force_optimum, problems
from certqnn.triangles import SIGN_PATTERNS, all_triples, cut_values, find_violated, weighted_sum


def test_triangle_inequalities_hold_on_every_sign_vector():
    D = 5
    cuts = np.array([(*t, *s) for t in all_triples(D) for s in SIGN_PATTERNS])
    for v in itertools.product([-1.0, 1.0], repeat=D):
        v = np.array(v)
        assert np.all(cut_values(cuts, np.outer(v, v)) >= -1 - 1e-12)
        # <E_T, v v^T> computed through weighted_sum agrees with cut_values
        mu = np.ones(len(cuts))
        assert np.isclose(np.sum(weighted_sum(cuts, mu, D) * np.outer(v, v)), cut_values(cuts, np.outer(v, v)).sum())


def test_separation_finds_a_violated_cut():
    E = np.full((3, 3), -0.45)
    np.fill_diagonal(E, 1.0)
    cuts = find_violated(E, tol=1e-6)
    assert len(cuts) == 1 and cut_values(cuts, E)[0] < -1


@given(problems(max_d=5, max_n=20))
@settings(max_examples=12, deadline=None)
def test_shor_le_strengthened_le_optimum(problem):
    opt = brute_force_optimum(problem).value
    shor = certify(problem, solve(problem, "sdp", rounding=False, eps=1e-7))
    result = solve(problem, "sdp", cuts="triangle", pricing_rounds=5, eps=1e-7, cut_tol=1e-5)
    strong = certify(problem, result)
    tol = 1e-6 * max(1.0, abs(opt))
    assert strong.lower_bound <= opt + tol
    assert strong.upper_bound >= opt - tol
    # a stronger relaxation can only help (up to the solver's accuracy)
    assert strong.lower_bound >= shor.lower_bound - 1e-4 * max(1.0, abs(opt))
    assert verify(Certificate.from_json(strong.to_json())).ok


def _cert_with_cuts():
    from certqnn.datasets import load
    from certqnn import QNNProblem

    d = load("synthetic:n=40,d=8,seed=1")
    problem = QNNProblem(d.X, d.y, beta=1.0)
    cert = certify(problem, solve(problem, "sdp", cuts="triangle", pricing_rounds=5))
    assert cert.cuts_plus is not None or cert.cuts_minus is not None
    return cert


def test_cut_certificate_round_trip_and_tampering():
    cert = _cert_with_cuts()
    doc = Certificate.from_json(cert.to_json())
    assert verify(doc).ok
    side = "plus" if cert.cuts_plus is not None and len(cert.cuts_plus) else "minus"
    # a negative multiplier is not a valid certificate
    bad = Certificate.from_json(cert.to_json())
    mu = getattr(bad, f"mu_{side}").copy()
    mu[np.argmax(mu)] = -1.0
    setattr(bad, f"mu_{side}", mu)
    assert not verify(bad).ok
    # dropping the multipliers breaks the PSD certificate or loosens rho: the claimed LB must fail
    bad = Certificate.from_json(cert.to_json())
    setattr(bad, f"mu_{side}", np.zeros_like(getattr(bad, f"mu_{side}")))
    verdict = verify(bad)
    assert not verdict.ok
    # malformed cut rows are rejected by name
    bad = Certificate.from_json(cert.to_json())
    cuts = getattr(bad, f"cuts_{side}").copy()
    cuts[0, 0], cuts[0, 1] = cuts[0, 1], cuts[0, 0]   # i > j
    setattr(bad, f"cuts_{side}", cuts)
    verdict = verify(bad)
    assert not verdict.ok and any("cut" in c.detail for c in verdict.failed)


def test_cuts_need_scs_engine():
    from certqnn import InvalidProblemError, QNNProblem

    rng = np.random.default_rng(0)
    problem = QNNProblem(rng.normal(size=(10, 3)), rng.normal(size=10))
    with pytest.raises(InvalidProblemError, match="cuts"):
        solve(problem, "sdp", engine="picos", cuts="triangle")
    with pytest.raises(InvalidProblemError, match="cuts"):
        solve(problem, "sdp", cuts="hexagon")
