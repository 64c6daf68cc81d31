"""The multi-level -> binary reduction is exact (docs/math.md §2).

x^T u = x~^T s for u = sum_l c_l s_l, every u in Q^d is reached, and the enumeration backend (which
only ever sees the binary problem) finds the same optimum as brute force over the ORIGINAL Q^d.
"""
import itertools
import zlib

import numpy as np
import pytest
from hypothesis import given, settings

from certqnn import Levels, QNNProblem, certify, solve, verify
from certqnn.pricing import sign_vectors
from certqnn.testing import brute_force_optimum, make_problem
from strategies import problems

LEVEL_SPECS = ["binary", "ternary", "kbit:1", "kbit:2", "kbit:3", [-2.0, 2.0], [-0.5, 0.5], [-0.25, 0.0, 0.25],
               [-6.0, -2.0, 2.0, 6.0], [-1.5, -0.5, 0.5, 1.5]]


@pytest.mark.parametrize("spec", LEVEL_SPECS, ids=str)
def test_inner_product_identity_exact_on_integer_data(spec):
    """With integer X and dyadic coefficients every product and sum is exact: equality, not closeness."""
    lv = Levels.parse(spec)
    rng = np.random.default_rng(7)
    d = 4
    X = rng.integers(-9, 10, size=(11, d)).astype(float)
    S = sign_vectors(d * lv.n_bits)                               # every sign pattern
    U = lv.collapse(S)
    assert U.shape == (d, S.shape[1])
    np.testing.assert_array_equal(X @ U, lv.expand(X) @ S)
    np.testing.assert_array_equal(QNNProblem(X, np.zeros(11), levels=lv).binary_design(), lv.expand(X))


@pytest.mark.parametrize("spec", LEVEL_SPECS, ids=str)
def test_inner_product_identity_on_float_data(spec):
    lv = Levels.parse(spec)
    rng = np.random.default_rng(11)
    X = rng.standard_normal((9, 3))
    S = np.where(rng.random((3 * lv.n_bits, 50)) < 0.5, -1.0, 1.0)
    np.testing.assert_allclose(X @ lv.collapse(S), lv.expand(X) @ S, rtol=1e-13, atol=1e-13)


@pytest.mark.parametrize("spec", LEVEL_SPECS, ids=str)
def test_reduction_reaches_exactly_the_level_set(spec):
    """{collapse(s) : s in {+-1}^{dB}} = Q^d (surjective, and nothing outside Q)."""
    lv = Levels.parse(spec)
    d = 2 if lv.n_bits <= 2 else 1
    U = lv.collapse(sign_vectors(d * lv.n_bits))
    reached = {tuple(col) for col in U.T}
    expected = set(itertools.product(lv.values.tolist(), repeat=d))
    assert reached == expected


def _enumeration_certificate(problem):
    result = solve(problem, "enumeration")
    cert = certify(problem, result)
    assert verify(cert).ok
    return result, cert


def _assert_matches_brute_force(problem, cert, rel=1e-7):
    bf = brute_force_optimum(problem)
    assert bf.gap <= 1e-7 * max(1.0, abs(bf.value)), f"brute force Lasso not converged: {bf}"
    tol = 1e-12 * max(1.0, abs(bf.value))
    # certified bounds bracket the independent optimum ...
    assert cert.lower_bound <= bf.value + tol
    assert cert.upper_bound >= bf.lower_bound - tol
    # ... and the enumeration backend is exact: its network is optimal over Q^d
    assert abs(cert.upper_bound - bf.value) <= rel * max(1.0, abs(bf.value)), (cert.upper_bound, bf.value)
    assert cert.relative_gap <= 1e-6
    return bf


@pytest.mark.parametrize("spec, d, act", [
    ("ternary", 3, (1.0, 0.0, 0.0)),
    ("ternary", 3, (1.0, 0.5, -0.3)),
    ("ternary", 4, (0.5, 1.0, 0.2)),
    ("kbit:2", 2, (1.0, 0.0, 0.0)),
    ("kbit:2", 3, (1.0, -1.0, 0.3)),
    ("kbit:3", 2, (1.0, 0.5, 0.0)),
    ([-2.0, 2.0], 4, (1.0, 0.0, 0.5)),
    ([-0.5, 0.5], 5, (1.0, 0.5, 0.0)),
    ([-0.25, 0.0, 0.25], 3, (1.0, 0.0, 0.0)),
    ([-6.0, -2.0, 2.0, 6.0], 2, (0.5, 1.0, -0.25)),
])
def test_enumeration_optimum_equals_brute_force_over_original_levels(spec, d, act):
    problem = make_problem(seed=zlib.crc32(repr((spec, d, act)).encode()), n=14, d=d, activation=act, levels=spec,
                           beta_fraction=0.1)
    result, cert = _enumeration_certificate(problem)
    bf = _assert_matches_brute_force(problem, cert)
    assert np.all(problem.levels.contains(result.network.U))
    assert result.network.width >= 1 and bf.alpha.size >= 1      # nontrivial solution


@settings(max_examples=40)
@given(problems(max_n=14, max_d=4, levels=("ternary", "kbit:2", [-2.0, 2.0], [-0.5, 0.0, 0.5]), max_binary_dim=8))
def test_reduction_property(problem):
    _, cert = _enumeration_certificate(problem)
    _assert_matches_brute_force(problem, cert)


def test_to_binary_problem_has_the_same_optimum():
    problem = make_problem(5, 12, 3, (1.0, 0.5, 0.0), "kbit:2", beta_fraction=0.15)
    bf = brute_force_optimum(problem)
    _, cert = _enumeration_certificate(problem.to_binary())
    assert cert.lower_bound <= bf.value + 1e-12 * abs(bf.value)
    assert abs(cert.upper_bound - bf.value) <= 1e-7 * abs(bf.value)


def test_binary_brute_force_has_no_reduction_to_check():
    """For binary levels the brute force and the binary enumeration are the same enumeration; the
    atom count documents the u ~ -u identification for even activations (docs/math.md §3)."""
    even = make_problem(1, 10, 4, (1.0, 0.0, 0.5), "binary")
    odd = make_problem(1, 10, 4, (1.0, 0.5, 0.5), "binary")
    assert brute_force_optimum(even).atoms == 2 ** 3
    assert brute_force_optimum(odd).atoms == 2 ** 4
    # ternary with c = 0: u = 0 gives the zero atom, which is dropped; the rest pair up when b = 0
    tern = make_problem(1, 10, 3, (1.0, 0.0, 0.0), "ternary")
    assert brute_force_optimum(tern).atoms == (3 ** 3 - 1) // 2
