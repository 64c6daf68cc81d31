"""End-to-end invariants on drawn problems (docs/math.md §3, §4, §6, §8):

    certified LB (sdp)  <=  d_SDP  <=  p*_inf (brute force over Q^d)  <=  J(any returned network)

and every certificate verifies; the two SDP engines agree on d_SDP.
"""
import numpy as np
import pytest
from hypothesis import given, settings

from certqnn import Certificate, QNNProblem, certify, solve, verify
from certqnn.testing import assert_within_certified_gap, brute_force_optimum, make_problem
from strategies import problems, tiny_problems, width_limited_problems


def _rel_tol(x, rel=1e-12):
    return rel * max(1.0, abs(x))


def _check_result(problem, result, bf):
    net = result.network
    assert net.U.shape == (problem.d, net.width)
    assert np.all(problem.levels.contains(net.U)), "network off the level grid"
    if problem.width is not None:
        assert net.width <= problem.width
    J = problem.objective(net.U, net.alpha)
    assert result.upper_bound == pytest.approx(J, rel=1e-12, abs=1e-12)
    # any quantized network costs at least p*_inf >= bf.lower_bound
    assert J >= bf.lower_bound - _rel_tol(bf.value, 1e-9)
    cert = certify(problem, result)
    verdict = verify(cert)
    assert verdict.ok, [(c.name, c.detail) for c in verdict.failed]
    assert cert.lower_bound <= bf.value + _rel_tol(bf.value)
    assert cert.upper_bound >= bf.lower_bound - _rel_tol(bf.value)
    assert cert.upper_bound >= J
    assert cert.lower_bound <= cert.upper_bound
    assert verdict.verified_lower_bound >= cert.lower_bound and verdict.verified_upper_bound <= cert.upper_bound
    return cert


@settings(max_examples=60)
@given(problems(max_n=20))
def test_bounds_sandwich_the_brute_force_optimum(problem):
    bf = brute_force_optimum(problem)
    assert bf.gap <= 1e-7 * max(1.0, bf.value)
    enum = solve(problem, "enumeration")
    cert_e = _check_result(problem, enum, bf)
    # exact backend: optimal to its tolerance
    assert cert_e.upper_bound <= bf.value + 1e-7 * max(1.0, bf.value)
    sdp = solve(problem, "sdp")
    cert_s = _check_result(problem, sdp, bf)
    # the relaxation value is below p*_inf (up to the solver's accuracy) and above the certified LB
    d_sdp = sdp.relaxation["value"]
    assert d_sdp <= bf.value + 1e-4 * max(1.0, bf.value)
    assert cert_s.lower_bound <= d_sdp + 1e-4 * max(1.0, abs(d_sdp))
    # the enumeration certificate is at least as tight as the SDP one (its rho is exact)
    assert cert_e.lower_bound >= cert_s.lower_bound - 1e-7 * max(1.0, bf.value)


@settings(max_examples=20)
@given(width_limited_problems)
def test_width_limited_networks_respect_the_width(problem):
    bf = brute_force_optimum(problem)          # p*_inf <= p*_m: still a valid comparison
    for backend in ("enumeration", "sdp"):
        _check_result(problem, solve(problem, backend), bf)


@settings(max_examples=8)
@given(tiny_problems)
def test_sdp_engines_agree(problem):
    scs = solve(problem, "sdp", engine="scs", eps=1e-8, samples=8, local_search=False)
    pic = solve(problem, "sdp", engine="picos", samples=8, local_search=False)
    a, b = scs.relaxation["value"], pic.relaxation["value"]
    assert a == pytest.approx(b, rel=1e-4, abs=1e-6), (a, b, problem.describe())
    assert pic.report["engine"].startswith("picos") and scs.report["engine"] == "scs"
    for res in (scs, pic):
        assert verify(certify(problem, res)).ok


def test_sdp_is_deterministic_given_a_seed():
    problem = make_problem(2, 15, 4, (1.0, 0.5, 0.0), "binary", beta_fraction=0.05)
    r1 = solve(problem, "sdp", seed=3)
    r2 = solve(problem, "sdp", seed=3)
    np.testing.assert_array_equal(r1.network.U, r2.network.U)
    np.testing.assert_array_equal(r1.network.alpha, r2.network.alpha)


def test_relaxation_is_tight_for_a_single_planted_neuron():
    """y = sigma(X u*) exactly, tiny beta: the optimum is (nearly) one neuron and the SDP finds it."""
    rng = np.random.default_rng(0)
    X = rng.standard_normal((25, 4))
    u = np.array([1.0, -1.0, 1.0, 1.0])
    y = (X @ u) ** 2
    problem = QNNProblem(X, y, beta=1e-3)
    sdp = solve(problem, "sdp")
    cert = certify(problem, sdp)
    bf = brute_force_optimum(problem)
    assert cert.relative_gap <= 1e-3
    assert abs(cert.upper_bound - bf.value) <= 1e-7 * bf.value
    assert any(np.array_equal(np.abs(col), np.abs(u)) and np.array_equal(col * col[0], u * u[0])
               for col in sdp.network.U.T)


def test_assert_within_certified_gap_helper():
    problem = make_problem(4, 12, 3, (1.0, 0.0, 0.5), "ternary", beta_fraction=0.1)
    bf = brute_force_optimum(problem)
    rel = assert_within_certified_gap((bf.U, bf.alpha), problem, rel=1e-6)
    assert 0.0 <= rel <= 1e-6 or abs(rel) <= 1e-9
    sdp = solve(problem, "sdp")
    assert_within_certified_gap(sdp, problem, rel=1e-6)          # certified by enumeration ('auto')
    cert = certify(problem, sdp)
    if cert.relative_gap > 1e-6:                                  # the SDP's own bound is looser
        with pytest.raises(AssertionError, match="backend 'sdp'"):
            assert_within_certified_gap(sdp, problem, rel=1e-6, backend="sdp")
    # the zero network is far from optimal: the message explains the miss
    with pytest.raises(AssertionError, match="relative gap"):
        assert_within_certified_gap((np.zeros((3, 0)), np.zeros(0)), problem, rel=1e-3)
    # a given lower bound is used as is
    with pytest.raises(AssertionError, match="given"):
        assert_within_certified_gap((bf.U, bf.alpha), problem, rel=1e-6, lower_bound=bf.value * 0.9)
    # a "lower bound" above the network's objective cannot be valid
    with pytest.raises(AssertionError, match="exceeds the network objective"):
        assert_within_certified_gap((bf.U, bf.alpha), problem, rel=1e-6, lower_bound=bf.value * 1.01)
    # off-grid and over-width networks are rejected
    with pytest.raises(AssertionError, match="level set"):
        assert_within_certified_gap((bf.U + 0.25, bf.alpha), problem, rel=1.0)
    narrow = QNNProblem(problem.X, problem.y, levels="ternary", activation=(1.0, 0.0, 0.5), beta=problem.beta, width=1)
    if bf.alpha.size > 1:
        with pytest.raises(AssertionError, match="width"):
            assert_within_certified_gap((bf.U, bf.alpha), narrow, rel=1.0)


@pytest.mark.slow
@settings(max_examples=40)
@given(problems(max_n=30, max_d=6, max_binary_dim=10))
def test_bounds_sandwich_larger(problem):
    bf = brute_force_optimum(problem)
    for backend in ("enumeration", "sdp"):
        _check_result(problem, solve(problem, backend), bf)


@pytest.mark.parametrize("levels, d", [("binary", 16), ("ternary", 8), ("kbit:2", 8), ("binary", 12)])
@pytest.mark.parametrize("act", [(1.0, 0.0, 0.0), (1.0, 0.5, 0.2)])
def test_backends_cross_check_beyond_brute_force(levels, d, act):
    """Where Q^d is too large to brute force, the exact backend and the SDP must still bracket each
    other: LB_sdp <= UB_enum and LB_enum <= UB_sdp, with the exact backend's gap closed."""
    problem = make_problem(d, 40, d, act, levels, beta_fraction=0.05)
    enum, sdp = solve(problem, "enumeration"), solve(problem, "sdp")
    ce, cs = certify(problem, enum), certify(problem, sdp)
    assert verify(ce).ok and verify(cs).ok
    assert ce.relative_gap <= 1e-6
    assert cs.lower_bound <= ce.upper_bound                  # the SDP bound is below the exact optimum
    assert ce.lower_bound <= cs.upper_bound                  # no network beats the certified optimum
    assert sdp.relaxation["value"] <= ce.upper_bound * (1 + 1e-4)


@pytest.mark.slow
@pytest.mark.parametrize("levels, d", [("binary", 22), ("kbit:2", 11)])
def test_exact_certificate_at_the_enumeration_limit(levels, d):
    problem = make_problem(1, 60, d, (1.0, 0.5, 0.2), levels, beta_fraction=0.05)
    cert = certify(problem, solve(problem, "enumeration"))
    assert cert.rho_certified_by == "exact" and cert.relative_gap <= 1e-6
    assert verify(Certificate.from_json(cert.to_json())).ok
