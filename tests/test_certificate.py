"""Certificates (docs/math.md §8): exact JSON round trip, soundness of verify() under tampering, and
defensive reading of hostile files."""
import functools
import hashlib
import json
import math
import os
from fractions import Fraction

import numpy as np
import pytest
from hypothesis import assume, event, given, settings
from hypothesis import strategies as st

from strategies import perturb

from certqnn import (Certificate, CertificateFormatError, CertQNNError, QuantizedNetwork, Result, Status, certify, solve,
                     verify)
from certqnn.pricing import sign_vectors
from certqnn.testing import brute_force_optimum, make_problem
from certqnn.trusted.rho import q_matrix_with_error

# name, make_problem args, backend
BASES = [
    ("binary-exact", (101, 10, 3, (1.0, 0.0, 0.0), "binary"), "enumeration"),
    ("binary-shor", (102, 10, 3, (1.0, 0.5, 0.2), "binary"), "sdp"),
    ("ternary-shor", (103, 9, 2, (1.0, 0.0, 0.5), "ternary"), "sdp"),
    ("kbit2-exact", (104, 9, 2, (0.5, 1.0, -0.25), "kbit:2"), "enumeration"),
    ("binary-shor-odd", (105, 8, 2, (1.0, -1.0, 0.3), "binary"), "sdp"),
]


@functools.lru_cache(maxsize=None)
def base(name):
    args, backend = {b[0]: (b[1], b[2]) for b in BASES}[name]
    problem = make_problem(*args, beta_fraction=0.1)
    result = solve(problem, backend)
    cert = certify(problem, result)
    return problem, result, cert


def doc_of(cert):
    return json.loads(cert.to_json())


def from_doc(doc):
    return Certificate.from_json(json.dumps(doc))


def exact_objective(problem, U, alpha):
    """J(U, alpha) in exact rational arithmetic (squared loss)."""
    F = Fraction
    a, b, c = (F(v) for v in problem.activation.as_list())
    X = [[F(v) for v in row] for row in problem.X.tolist()]
    Uf = [[F(v) for v in row] for row in np.asarray(U, float).tolist()]
    al = [F(v) for v in np.asarray(alpha, float).tolist()]
    d, m = len(Uf), len(al)
    total = F(0)
    for i, x in enumerate(X):
        f = F(0)
        for j in range(m):
            t = sum((x[k] * Uf[k][j] for k in range(d)), F(0))
            f += al[j] * ((a * t + b) * t + c)
        r = f - F(problem.y[i])
        total += r * r / 2
    return total + F(problem.beta) * sum((abs(v) for v in al), F(0))


_BF_CACHE = {}


def brute(problem):
    key = (problem.X.tobytes(), problem.y.tobytes(), tuple(problem.activation.as_list()),
           tuple(problem.levels.values.tolist()), problem.beta)
    if key not in _BF_CACHE:
        _BF_CACHE[key] = brute_force_optimum(problem)
    return _BF_CACHE[key]


def assert_claims_true(cert, verdict):
    """Everything a verified certificate claims must hold for the problem it describes."""
    problem = cert.problem()
    bf = brute(problem)
    tol = 1e-10 * max(1.0, abs(bf.value))
    J = exact_objective(problem, cert.U, cert.alpha)
    assert Fraction(cert.upper_bound) >= J, "claimed upper bound below the network's exact objective"
    assert cert.lower_bound <= bf.value + tol, f"claimed LB {cert.lower_bound!r} above p*_inf <= {bf.value!r}"
    assert cert.upper_bound >= bf.lower_bound - tol
    # the network is within the claimed gap of the optimum
    assert float(J) - cert.gap <= bf.value + tol
    vub = verdict.verified_upper_bound
    assert vub - cert.relative_gap * max(abs(vub), 1e-12) <= bf.value + tol
    assert verdict.verified_lower_bound <= bf.value + tol and Fraction(vub) >= J


# -- round trip ---------------------------------------------------------------------------------
@pytest.mark.parametrize("name", [b[0] for b in BASES])
def test_json_round_trip_is_exact(name, tmp_path):
    problem, result, cert = base(name)
    text = cert.to_json()
    back = Certificate.from_json(text)
    for attr in ("U", "alpha", "w", "z_plus", "z_minus"):
        a, b = getattr(cert, attr), getattr(back, attr)
        if a is None:
            assert b is None
        else:
            assert b.dtype == np.float64 and b.shape == np.asarray(a).shape
            assert np.array_equal(np.asarray(a), b), attr          # bit-exact (floats are written by repr)
    for attr in ("upper_bound", "lower_bound", "gap", "relative_gap", "rho_certified_by", "backend",
                 "certqnn_version", "data_sha256"):
        assert getattr(back, attr) == getattr(cert, attr), attr
    assert np.array_equal(np.asarray(back.problem_doc["X"]), problem.X)
    assert np.array_equal(np.asarray(back.problem_doc["y"]), problem.y)
    assert back.problem_doc["beta"] == problem.beta
    assert back.problem().data_hash() == problem.data_hash()
    # a verified certificate still verifies, with bit-identical verified numbers
    v1, v2 = verify(cert), verify(back)
    assert v1.ok and v2.ok
    assert v1.verified_lower_bound == v2.verified_lower_bound
    assert v1.verified_upper_bound == v2.verified_upper_bound
    # files: written atomically, read back identically, no temporary left behind
    path = tmp_path / "cert.json"
    cert.write(path)
    assert path.read_text(encoding="utf-8") == text
    assert os.listdir(tmp_path) == ["cert.json"]
    assert verify(Certificate.read(path)).ok


def test_special_floats_round_trip_exactly():
    problem, result, cert = base("binary-exact")
    doc = doc_of(cert)
    specials = [5e-324, 2.2250738585072014e-308, 0.1, 1 / 3, 1e308, -0.0, 9007199254740993.0]
    doc["tightness"] = {"specials": specials}
    doc["dual"]["w"][: len(specials)] = specials[: len(doc["dual"]["w"])]
    back = from_doc(doc)
    assert [math.copysign(1, v) * abs(v) for v in back.w[: len(specials)]] == specials[: back.w.size]
    assert back.tightness["specials"] == specials


def test_certificate_read_back_can_be_written_again(tmp_path):
    _, _, cert = base("binary-shor")
    back = Certificate.from_json(cert.to_json())
    assert back.to_json() == cert.to_json()
    back.write(tmp_path / "again.json")


def test_certificate_without_embedded_data():
    problem, result, _ = base("binary-shor")
    cert = certify(problem, result, embed_data=False)
    back = Certificate.from_json(cert.to_json())
    assert "X" not in back.problem_doc
    assert not verify(back).ok                                      # nothing to verify against
    assert verify(back).failed[0].name == "problem"
    assert verify(back, data=(problem.X, problem.y)).ok
    y = problem.y.copy()
    y[0] = np.nextafter(y[0], np.inf)
    bad = verify(back, data=(problem.X, y))
    assert not bad.ok and "data_hash" in [c.name for c in bad.failed]


def test_certify_claims_are_consistent():
    for name, _, _ in BASES:
        problem, result, cert = base(name)
        assert cert.lower_bound <= cert.upper_bound
        assert Fraction(cert.gap) >= Fraction(cert.upper_bound) - Fraction(cert.lower_bound)
        assert Fraction(cert.upper_bound) >= exact_objective(problem, cert.U, cert.alpha)
        assert cert.rho_certified_by == ("exact" if result.backend == "enumeration" else "shor")
        assert_claims_true(cert, verify(cert))


@pytest.mark.parametrize("name", [b[0] for b in BASES])
def test_both_rho_methods_certify_and_exact_is_tighter(name):
    """rho by enumeration is exact, so its LB dominates the Shor one (built from z, or from
    eigenvalues when the backend returned no z); both must verify and be true."""
    problem, result, _ = base(name)
    shor = certify(problem, result, rho="shor")
    exact = certify(problem, result, rho="exact")
    assert shor.rho_certified_by == "shor" and shor.z_plus is not None and shor.z_minus is not None
    assert exact.rho_certified_by == "exact"
    for cert in (shor, exact):
        verdict = verify(cert)
        assert verdict.ok
        assert_claims_true(cert, verdict)
    assert exact.lower_bound >= shor.lower_bound - 1e-12 * abs(shor.lower_bound)
    assert exact.upper_bound == shor.upper_bound


# -- tampering: property ------------------------------------------------------------------------
FIELDS = ["X", "y", "U", "alpha", "w", "z_plus", "z_minus", "upper_bound", "lower_bound", "gap", "relative_gap",
          "beta", "activation", "levels"]


def _slot(doc, field):
    """(container, key) pairs for every number of `field` in the document."""
    prob, net, dual = doc["problem"], doc["network"], doc["dual"]
    if field in ("X", "U"):
        M = prob["X"] if field == "X" else net["U"]
        return [(row, j) for row in M for j in range(len(row))]
    if field in ("y", "activation", "levels"):
        return [(prob[field], i) for i in range(len(prob[field]))]
    if field == "alpha":
        return [(net["alpha"], i) for i in range(len(net["alpha"]))]
    if field in ("w", "z_plus", "z_minus"):
        if dual is None or dual.get(field) is None:
            return []
        return [(dual[field], i) for i in range(len(dual[field]))]
    if field == "beta":
        return [(prob, "beta")]
    return [(doc, field)]


PERTURBATIONS = st.one_of(
    st.tuples(st.just("ulp"), st.sampled_from([-4, -1, 1, 2, 8])),
    st.tuples(st.just("rel"), st.sampled_from([-1.0, -0.5, -1e-3, -1e-6, -1e-9, -1e-12, -1e-15,
                                               1e-15, 1e-12, 1e-9, 1e-6, 1e-3, 0.5, 2.0, 100.0])),
    st.tuples(st.just("abs"), st.sampled_from([-1.0, -1e-2, -1e-6, -1e-12, 1e-12, 1e-6, 1e-2, 1.0])),
    st.tuples(st.just("set"), st.sampled_from([0.0, 1.0, -1.0, 1e-300, 3.0])),
)


@settings(max_examples=500)
@given(name=st.sampled_from([b[0] for b in BASES]), field=st.sampled_from(FIELDS), index=st.integers(0, 10 ** 6),
       how=PERTURBATIONS, rehash=st.sampled_from(["rehash", "drop", "keep"]))
def test_tampered_certificate_is_rejected_or_true(name, field, index, how, rehash):
    _, _, cert = base(name)
    doc = doc_of(cert)
    slots = _slot(doc, field)
    assume(slots)
    container, key = slots[index % len(slots)]
    old = container[key]
    new = perturb(old, how)
    assume(math.isfinite(new) and new != old)
    container[key] = new
    if field in ("X", "y"):
        if rehash == "rehash":
            h = hashlib.sha256()
            h.update(np.ascontiguousarray(doc["problem"]["X"], dtype="<f8").tobytes())
            h.update(np.ascontiguousarray(doc["problem"]["y"], dtype="<f8").tobytes())
            doc["data_sha256"] = h.hexdigest()
        elif rehash == "drop":
            doc["data_sha256"] = None
    tampered = from_doc(doc)
    verdict = verify(tampered)                     # must never raise
    if field in ("X", "y") and rehash == "keep":
        assert not verdict.ok and "data_hash" in [c.name for c in verdict.failed]
    event(f"{'accepted' if verdict.ok else 'rejected'} ({field})")
    if verdict.ok:
        assert_claims_true(tampered, verdict)


@pytest.mark.parametrize("name", [b[0] for b in BASES])
@pytest.mark.parametrize("levels", [[-1.0, 0.0, 1.0], [-3.0, -1.0, 1.0, 3.0], [-1.0, 1.0], [-7.0, -5.0, -3.0, -1.0, 1.0, 3.0, 5.0, 7.0]])
@pytest.mark.parametrize("width", [None, 1, 50])
def test_swapped_level_set_or_width_is_rejected_or_true(name, levels, width):
    """Re-labelling the problem (another level set containing the network, another width) changes
    p*: verify must re-derive every bound for the problem as written in the file."""
    _, _, cert = base(name)
    doc = doc_of(cert)
    doc["problem"]["levels"] = levels
    doc["problem"]["width"] = width
    tampered = from_doc(doc)
    verdict = verify(tampered)
    if verdict.ok:
        assert_claims_true(tampered, verdict)


@pytest.mark.slow
@settings(max_examples=3000)
@given(name=st.sampled_from([b[0] for b in BASES]), field=st.sampled_from(FIELDS), index=st.integers(0, 10 ** 6),
       how=PERTURBATIONS, rehash=st.sampled_from(["rehash", "drop", "keep"]))
def test_tampered_certificate_is_rejected_or_true_long(name, field, index, how, rehash):
    test_tampered_certificate_is_rejected_or_true.hypothesis.inner_test(name, field, index, how, rehash)


# -- tampering: must be rejected ----------------------------------------------------------------
@pytest.mark.parametrize("name", [b[0] for b in BASES])
def test_raised_lower_bound_is_rejected(name):
    problem, _, cert = base(name)
    bf = brute(problem)
    for lb in (bf.value * (1 + 1e-9) + 1e-9, math.nextafter(cert.lower_bound, math.inf),
               cert.upper_bound, bf.value + 1.0):
        doc = doc_of(cert)
        doc["lower_bound"] = lb
        verdict = verify(from_doc(doc))
        assert not verdict.ok
        assert "lower_bound" in [c.name for c in verdict.failed]


@pytest.mark.parametrize("name", [b[0] for b in BASES])
def test_lowered_upper_bound_is_rejected(name):
    problem, _, cert = base(name)
    J = exact_objective(problem, cert.U, cert.alpha)
    below = float(J)
    if Fraction(below) >= J:
        below = math.nextafter(below, -math.inf)
    verified = verify(cert).verified_upper_bound
    # the claim carries a 1e-13 relative slack over the verifier's float bound (other BLAS orders
    # sum a few ulps apart); claims below that bound are decided exactly, so anything below J fails
    assert verified <= cert.upper_bound <= verified * (1 + 1e-12)
    for ub in (below, float(J) * (1 - 1e-9), cert.lower_bound):
        doc = doc_of(cert)
        doc["upper_bound"] = ub
        verdict = verify(from_doc(doc))
        assert not verdict.ok
        assert "upper_bound" in [c.name for c in verdict.failed]


@pytest.mark.parametrize("name", [b[0] for b in BASES])
@pytest.mark.parametrize("delta", [0.5, 1e-6, 1e-13, -0.25])
def test_off_grid_weight_is_rejected(name, delta):
    _, _, cert = base(name)
    assert cert.U.size > 0
    doc = doc_of(cert)
    doc["network"]["U"][0][0] += delta
    verdict = verify(from_doc(doc))
    assert not verdict.ok
    assert "network_on_grid" in [c.name for c in verdict.failed]


@pytest.mark.parametrize("name, which, sign", [("binary-shor", "z_plus", 1.0), ("binary-shor-odd", "z_plus", 1.0),
                                                ("binary-shor", "z_minus", -1.0), ("ternary-shor", "z_minus", -1.0)])
@pytest.mark.parametrize("factor", [0.999, 0.9, 0.5])
def test_scaled_down_z_is_rejected(name, which, sign, factor):
    """Scaling a tight dual diagonal down (z_plus, or z_minus where z_plus has slack) breaks PSD-ness."""
    problem, _, cert = base(name)
    Q, _ = q_matrix_with_error(problem.binary_design(), problem.activation, cert.w)
    z = getattr(cert, which) * factor
    # precondition: the scaled diagonal no longer dominates Q (so the claim "rho <= 1^T z" is unproven)
    assert np.linalg.eigvalsh(np.diag(z) - sign * Q)[0] < -1e-6
    doc = doc_of(cert)
    doc["dual"][which] = z.tolist()
    verdict = verify(from_doc(doc))
    assert not verdict.ok
    assert "rho_certified" in [c.name for c in verdict.failed]


@pytest.mark.parametrize("name", ["binary-shor", "ternary-shor", "binary-shor-odd"])
@pytest.mark.parametrize("which, sign", [("z_plus", 1.0), ("z_minus", -1.0)])
def test_z_shifted_just_below_psd_is_rejected(name, which, sign):
    """Shift z down by just more than the smallest eigenvalue of Diag(z) -/+ Q: no longer PSD."""
    problem, _, cert = base(name)
    Q, _ = q_matrix_with_error(problem.binary_design(), problem.activation, cert.w)
    z = getattr(cert, which)
    lam = np.linalg.eigvalsh(np.diag(z) - sign * Q)[0]
    z_bad = z - (lam + 1e-7 * max(1.0, float(np.abs(z).max())))
    doc = doc_of(cert)
    doc["dual"][which] = z_bad.tolist()
    verdict = verify(from_doc(doc))
    assert not verdict.ok and "rho_certified" in [c.name for c in verdict.failed]


def test_missing_z_for_shor_and_unknown_method_are_rejected():
    _, _, cert = base("binary-shor")
    doc = doc_of(cert)
    doc["dual"]["z_minus"] = None
    assert not verify(from_doc(doc)).ok
    doc = doc_of(cert)
    doc["dual"]["z_plus"] = doc["dual"]["z_plus"][:-1]              # wrong length
    assert "rho_certified" in [c.name for c in verify(from_doc(doc)).failed]


def test_no_dual_point_allows_only_the_trivial_bound():
    _, _, cert = base("binary-exact")
    doc = doc_of(cert)
    doc["dual"] = None
    assert not verify(from_doc(doc)).ok                             # claimed LB > 0
    doc["lower_bound"] = 0.0
    v = verify(from_doc(doc))
    assert [c.name for c in v.failed] == ["gap", "relative_gap"]    # the gap claims are now too small
    doc["gap"] = doc["upper_bound"]
    doc["relative_gap"] = 1.0
    v = verify(from_doc(doc))
    assert v.ok and v.verified_lower_bound == 0.0


def test_width_violation_is_rejected():
    problem, _, cert = base("binary-shor")
    assert cert.alpha.size >= 2
    doc = doc_of(cert)
    doc["problem"]["width"] = 1
    v = verify(from_doc(doc))
    assert not v.ok and "width" in [c.name for c in v.failed]


def test_wrong_shapes_fail_verification_without_raising():
    _, _, cert = base("binary-shor")
    doc = doc_of(cert)
    doc["network"]["alpha"] = doc["network"]["alpha"] + [0.0]
    assert "network_on_grid" in [c.name for c in verify(from_doc(doc)).failed]
    doc = doc_of(cert)
    doc["dual"]["w"] = doc["dual"]["w"][:-1]
    assert "dual_w" in [c.name for c in verify(from_doc(doc)).failed]
    doc = doc_of(cert)
    doc["problem"]["beta"] = -1.0
    assert [c.name for c in verify(from_doc(doc)).failed] == ["problem"]
    doc = doc_of(cert)
    doc["problem"]["loss"] = "hinge"
    assert [c.name for c in verify(from_doc(doc)).failed] == ["problem"]


@pytest.mark.filterwarnings("ignore::RuntimeWarning")
@pytest.mark.parametrize("field, value", [("alpha", 1e300), ("X", 1e200), ("w", 1e308)])
def test_verify_never_raises_on_huge_finite_values(field, value):
    _, _, cert = base("binary-exact")
    doc = doc_of(cert)
    container, key = _slot(doc, field)[0]
    container[key] = value
    doc["data_sha256"] = None
    verdict = verify(from_doc(doc))
    assert not verdict.ok


@pytest.mark.parametrize("levels", [[-1 / 3, 1 / 3], [-0.3, -0.1, 0.1, 0.3], [-3.3, -1.1, 1.1, 3.3]])
def test_certify_on_non_dyadic_scaled_grid(levels):
    """A network using every level of the set (as read back by Levels.collapse) must certify."""
    problem = make_problem(7, 10, 1, (1.0, 0.0, 0.0), levels, beta_fraction=0.1)
    S = sign_vectors(problem.binary_dim)
    network = QuantizedNetwork(problem.levels.collapse(S), np.full(S.shape[1], 0.01))
    cert = certify(problem, Result(Status.FEASIBLE, "handmade", network))
    assert verify(cert).ok


# -- hostile files ------------------------------------------------------------------------------
def _field_error(text):
    with pytest.raises(CertificateFormatError) as e:
        Certificate.from_json(text)
    return e.value.field


@pytest.mark.parametrize("path", [("network", "U", 0, 0), ("network", "alpha", 0), ("dual", "w", 0),
                                  ("problem", "X", 0, 0), ("problem", "y", 0)])
@pytest.mark.parametrize("value", [True, False])
def test_a_boolean_among_numbers_is_malformed(path, value):
    """JSON true/false in a number array: numpy would read it as 1 or 0 (so U entries of true would
    even sit on the ±1 grid); the format allows numbers only."""
    doc = doc_of(base("binary-shor")[2])
    node = doc
    for key in path[:-1]:
        node = node[key]
    node[path[-1]] = value
    assert _field_error(json.dumps(doc)) == ".".join(k for k in path if isinstance(k, str))


@pytest.mark.parametrize("frac", [0.0, 0.01, 0.25, 0.5, 0.75, 0.99])
def test_truncated_json(frac):
    text = base("binary-shor")[2].to_json()
    cut = text[: int(len(text) * frac)]
    assert _field_error(cut) == "json"


@settings(max_examples=40)
@given(st.integers(0, 10 ** 9))
def test_truncated_json_anywhere(pos):
    text = base("binary-exact")[2].to_json()
    assert _field_error(text[: pos % len(text)]) == "json"


@pytest.mark.parametrize("literal", ["NaN", "Infinity", "-Infinity"])
@pytest.mark.parametrize("where, field", [('"upper_bound": ', "upper_bound"), ('"beta": ', "problem.beta"),
                                          ('"w": [', "dual.w[0]"), ('"alpha": [', "network.alpha[0]")])
def test_nan_and_infinity_literals(literal, where, field):
    """A NaN/inf is refused naming the field it sits in (not a vague 'json')."""
    text = base("binary-shor")[2].to_json()
    assert where in text
    hostile = text.replace(where, where + literal + ("," if where.endswith("[") else ", \"_x\": "), 1)
    assert _field_error(hostile) == field


@pytest.mark.parametrize("path, value, field", [
    (("upper_bound",), "1.0", "upper_bound"),
    (("lower_bound",), None, "lower_bound"),
    (("gap",), [1.0], "gap"),
    (("relative_gap",), True, "relative_gap"),
    (("upper_bound",), "__RAW__1e400", "upper_bound"),     # the literal 1e400 parses as inf
    (("problem", "beta"), "0.5", "problem.beta"),
    (("problem", "activation"), ["1", 0, 0], "problem.activation"),
    (("problem", "activation"), [1, 0], "problem.activation"),
    (("problem", "levels"), ["-1", 1], "problem.levels"),
    (("problem", "levels"), [1], "problem.levels"),
    (("problem", "levels"), "binary", "problem.levels"),
    (("problem", "loss"), 3, "problem.loss"),
    (("problem", "width"), 2.5, "problem.width"),
    (("problem", "width"), True, "problem.width"),
    (("problem", "X"), [["a", 1.0, 2.0]], "problem.X"),
    (("problem", "X"), [1.0, 2.0], "problem.X"),
    (("problem", "X"), [[1.0, 2.0], [3.0]], "problem.X"),
    (("problem", "X"), "[[1.0]]", "problem.X"),
    (("problem", "y"), [[1.0]], "problem.y"),
    (("problem", "y"), ["__RAW__-1e400"], "problem.y"),
    (("network", "U"), [[[1.0]]], "network.U"),
    (("network", "U"), None, "network.U"),
    (("network", "alpha"), {"0": 1.0}, "network.alpha"),
    (("dual", "w"), ["x"], "dual.w"),
    (("dual", "z_plus"), [[1.0]], "dual.z_plus"),
    (("dual", "z_minus"), 1.0, "dual.z_minus"),
    (("dual",), [1.0], "dual"),
    (("network",), None, "network"),
    (("problem",), [], "problem"),
    (("rho_certified_by",), "trust-me", "rho_certified_by"),
    (("data_sha256",), "abc", "data_sha256"),
    (("tightness",), [], "tightness"),
    (("backend",), 7, "backend"),
    (("format",), "certqnn-certificat", "format"),
    (("version",), 2, "version"),
    (("version",), "1", "version"),
    (("version",), None, "version"),
])
def test_bad_field_is_named(path, value, field):
    doc = doc_of(base("binary-shor")[2])
    target = doc
    for key in path[:-1]:
        target = target[key]
    target[path[-1]] = value
    text = json.dumps(doc)
    for raw in ("1e400", "-1e400"):
        text = text.replace(f'"__RAW__{raw}"', raw)
    assert _field_error(text) == field


def test_non_object_root():
    assert _field_error("[]") == "(root)"
    assert _field_error("3") == "(root)"


def test_deeply_nested_json():
    assert _field_error("[" * 100_000 + "]" * 100_000) in ("json", "(root)")


@pytest.mark.parametrize("path, value, field", [
    (("network", "U"), [[1.0] * 100_001], "network.U"),
    (("network", "alpha"), [0.0] * 100_001, "network.alpha"),
    (("problem", "X"), [[0.0]] * 200_001, "problem.X"),
    (("problem", "X"), [[0.0] * 4097], "problem.X"),
    (("problem", "y"), [0.0] * 200_001, "problem.y"),
    (("dual", "z_plus"), [0.0] * 65_538, "dual.z_plus"),
])
def test_huge_arrays_are_refused(path, value, field):
    doc = doc_of(base("binary-shor")[2])
    target = doc
    for key in path[:-1]:
        target = target[key]
    target[path[-1]] = value
    assert _field_error(json.dumps(doc)) == field


@pytest.mark.parametrize("path", [("network", "alpha"), ("dual", "w")])
def test_numeric_strings_in_arrays_are_rejected(path):
    doc = doc_of(base("binary-shor")[2])
    arr = doc[path[0]][path[1]]
    arr[0] = repr(arr[0])
    assert _field_error(json.dumps(doc)) == ".".join(path)


@pytest.mark.parametrize("where, field", [('"upper_bound": ', "upper_bound"), ('"alpha": [', "network.alpha")])
def test_huge_integer_literals(where, field):
    text = base("binary-shor")[2].to_json()
    hostile = text.replace(where, where + "1" + "0" * 400 + ("," if where.endswith("[") else ", \"_x\": "), 1)
    if where.endswith("["):   # keep alpha's length unchanged: drop its last entry
        doc = json.loads(hostile)
        doc["network"]["alpha"].pop()
        hostile = json.dumps(doc)
    assert _field_error(hostile) == field


def test_read_errors_name_the_file(tmp_path):
    with pytest.raises(CertificateFormatError) as e:
        Certificate.read(tmp_path / "missing.json")
    assert e.value.field == "file"
    bad = tmp_path / "latin1.json"
    bad.write_bytes(b'{"format": "\xff"}')
    with pytest.raises(CertificateFormatError) as e:
        Certificate.read(bad)
    assert e.value.field == "file"
    trunc = tmp_path / "trunc.json"
    trunc.write_text(base("binary-exact")[2].to_json()[:100])
    with pytest.raises(CertificateFormatError) as e:
        Certificate.read(trunc)
    assert e.value.field == "json"


def test_errors_are_value_errors_with_the_field_in_the_message():
    with pytest.raises(ValueError, match="certificate field 'json'"):
        Certificate.from_json("{")
    assert issubclass(CertificateFormatError, CertQNNError)
