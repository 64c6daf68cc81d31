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


def test_each_separation_round_gets_what_is_left_of_the_time_limit(monkeypatch):
    """--time-limit bounds the whole run: every re-solve of a separation round is given the time
    left before the deadline, not the full limit again."""
    from certqnn.datasets import load
    from certqnn import QNNProblem
    from certqnn.shor.scs_engine import ScsEngine

    d = load("synthetic:n=40,d=8,seed=1")
    problem = QNNProblem(d.X, d.y, beta=1.0)
    real, limits = ScsEngine.solve, []

    def recording(self, *args, **kw):
        limits.append(kw.get("time_limit"))
        return real(self, *args, **kw)

    monkeypatch.setattr(ScsEngine, "solve", recording)
    result = solve(problem, "sdp", cuts="triangle", pricing_rounds=0, time_limit=50.0)
    assert result.report["cut_rounds"] >= 1 and len(limits) == 1 + result.report["cut_rounds"]
    assert limits[0] == 50.0
    assert all(0 < later < earlier for earlier, later in zip(limits, limits[1:]))


def _recording_scs(monkeypatch, after_solve):
    from certqnn.shor.scs_engine import ScsEngine

    real, calls = ScsEngine.solve, []

    def recording(self, *args, **kw):
        out = real(self, *args, **kw)
        calls.append(kw)
        return after_solve(len(calls), out)

    monkeypatch.setattr(ScsEngine, "solve", recording)
    return calls


def _small_problem():
    from certqnn.datasets import load
    from certqnn import QNNProblem

    d = load("synthetic:n=40,d=8,seed=1")
    return QNNProblem(d.X, d.y, beta=1.0)


def test_a_separation_solve_cut_short_by_the_limit_is_dropped(monkeypatch):
    """A re-solve stopped by the time limit may bound worse than the last complete one: it is
    dropped with its cuts, the run says the limit fired, and the certificate still verifies."""
    import dataclasses

    from certqnn.result import Status

    _recording_scs(monkeypatch, lambda call, out: out if call == 1 else dataclasses.replace(out, status=Status.TIME_LIMIT))
    problem = _small_problem()
    result = solve(problem, "sdp", cuts="triangle", pricing_rounds=2, time_limit=100.0)
    assert result.report["cut_rounds"] == 0 and result.report["cuts_added"] == 0
    assert result.report["cut_rounds_stop"] == "time_limit" and result.time_limit_hit
    shor = certify(problem, solve(problem, "sdp", pricing_rounds=2))
    cert = certify(problem, result)
    assert verify(Certificate.from_json(cert.to_json())).ok
    assert cert.lower_bound == pytest.approx(shor.lower_bound, rel=1e-12)


def test_separation_rounds_start_only_in_the_first_quarter_of_the_time_limit(monkeypatch):
    """The rounding needs time too: once a quarter of --time-limit is spent no new separation round
    starts (here the first re-solve is slowed past it), and the network is still rounded."""
    from certqnn.backends.sdp import CUTS_SHARE_OF_TIME_LIMIT

    limit = 8.0
    import time as clock

    def slow_first_resolve(call, out):
        if call == 2:
            clock.sleep(CUTS_SHARE_OF_TIME_LIMIT * limit + 0.2)
        return out

    _recording_scs(monkeypatch, slow_first_resolve)
    problem = _small_problem()
    result = solve(problem, "sdp", cuts="triangle", pricing_rounds=2, time_limit=limit)
    assert result.report["cut_rounds"] == 1 and result.report["cut_rounds_stop"] == "time_limit"
    assert result.time_limit_hit and result.network.width > 0
    assert verify(Certificate.from_json(certify(problem, result).to_json())).ok
