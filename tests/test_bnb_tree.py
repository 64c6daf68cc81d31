"""Branch-and-bound proof trees for rho(w) (docs/math.md §5, proofs/bnb_tree.md): the prover
(certqnn.pricing.bnb_tree), the trusted check (certqnn.trusted.tree), the certificate format
(version 4) and the colgen / certify wiring."""
from __future__ import annotations

import copy
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from certqnn import QNNProblem, certify, solve, verify
from certqnn.backends import colgen as colgen_module
from certqnn.errors import CertificateFormatError
from certqnn.pricing.bnb_tree import TreeTooLarge, prove_rho
from certqnn.result import DualData
from certqnn.trusted.certificate import Certificate
from certqnn.trusted.enumerate import enumerate_extremes
from certqnn.trusted.psd import is_psd_rigorous, is_psd_rigorous_batch
from certqnn.trusted.rho import q_matrix_with_error
from certqnn.trusted.tree import RhoTree, partition_error, tree_rho_bound

ROOT = Path(__file__).resolve().parents[1]


def random_q(p: int, seed: int, even: bool) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    B = rng.standard_normal((p + 1, p + 1))
    Q = B + B.T
    Q[np.arange(p), np.arange(p)] += rng.uniform(-3, 3, p)      # diagonals of either sign
    if even:
        Q[:p, p] = Q[p, :p] = 0.0
    return Q, np.full_like(Q, 1e-13)


# -- the bound is sound and tight ------------------------------------------------------------------
@settings(max_examples=25)
@given(p=st.integers(1, 9), seed=st.integers(0, 2 ** 32 - 1), even=st.booleans(), leaf=st.integers(0, 3))
def test_tree_bound_covers_the_exact_rho(p, seed, even, leaf):
    """With a forced tiny enumeration depth most leaves are Shor leaves; the verified bound is
    >= the enumerated rho (soundness) and within a relative 1e-8 of it (the tree prunes at the
    incumbent, so it proves the maximum itself)."""
    Q, E = random_q(p, seed, even)
    proof = prove_rho(Q, E, even, leaf_size=leaf)
    rho = enumerate_extremes(Q).rho
    rho_bar, why = tree_rho_bound(Q, E, proof.tree, even)
    assert rho_bar is not None, why
    assert rho_bar == proof.rho_bar
    assert rho_bar >= rho
    assert rho_bar <= rho + 1e-8 * max(1.0, abs(rho))
    assert proof.best <= rho + 1e-9 * max(1.0, abs(rho))


def test_shor_leaves_appear_and_are_checked():
    """A forced leaf size 0 on p = 12 gives many Shor leaves, and each is load-bearing: raising the
    verifier's view of the error E enough makes the PSD tests fail."""
    Q, E = random_q(12, 5, even=False)
    proof = prove_rho(Q, E, False, leaf_size=0)
    n_shor = len(proof.tree.plus.shor_prefix) + len(proof.tree.minus.shor_prefix)
    assert n_shor >= 4
    assert tree_rho_bound(Q, E, proof.tree, False)[0] is not None
    rho_bar, why = tree_rho_bound(Q, np.full_like(Q, 1e-3), proof.tree, False)
    assert rho_bar is None and "not PSD" in why


def test_threshold_prunes_and_still_bounds():
    """A threshold above rho makes a smaller tree whose bound is about the threshold."""
    Q, E = random_q(14, 2, even=True)
    rho = enumerate_extremes(Q).rho
    exact = prove_rho(Q, E, True, leaf_size=2)
    loose = prove_rho(Q, E, True, leaf_size=2, threshold=1.2 * rho)
    assert loose.leaves < exact.leaves
    assert rho <= loose.rho_bar <= 1.2 * rho * (1 + 1e-9)


def test_leaf_cap_raises():
    Q, E = random_q(12, 9, even=False)
    with pytest.raises(TreeTooLarge):
        prove_rho(Q, E, False, leaf_size=0, max_leaves=3)


# -- the partition check ----------------------------------------------------------------------------
def test_partition_check():
    assert partition_error(["+", "-+", "--"], 3, False) is None
    assert partition_error(["++", "+-"], 4, True) is None
    assert "cover" in partition_error(["+", "-+"], 3, False)                    # a leaf dropped
    assert "overlap" in partition_error(["+", "+-", "-"], 3, False)             # nested leaves
    assert "overlap" in partition_error(["+", "+", "-"], 3, False)              # duplicate
    assert "start with '+'" in partition_error(["+", "-"], 2, True)             # even: the + half only
    assert "longer" in partition_error(["+++"], 2, False)
    # measure alone is not enough: disjointness is checked too (+ and + + - cover "2^p" by count)
    assert partition_error(["++", "++", "-"], 2, False) is not None


@settings(max_examples=40)
@given(seed=st.integers(0, 2 ** 32 - 1), n=st.integers(1, 4), D=st.integers(1, 6), scale=st.sampled_from([0.0, 1e-12, 1e-3]))
def test_batched_psd_test_agrees_with_the_single_one(seed, n, D, scale):
    rng = np.random.default_rng(seed)
    Ms, Es = [], []
    for _ in range(n):
        B = rng.standard_normal((D, D))
        shift = rng.choice([-0.5, 0.0, 1e-9, 0.5, 2.0])
        M = B @ B.T / D + shift * np.eye(D) - rng.choice([0.0, 1.0]) * np.eye(D) * float(np.linalg.eigvalsh(B @ B.T / D)[0])
        Ms.append(M)
        Es.append(np.abs(rng.standard_normal((D, D))) * scale)
    batch = is_psd_rigorous_batch(np.array(Ms), np.array(Es))
    single = [is_psd_rigorous(M, E)[0] for M, E in zip(Ms, Es)]
    assert batch.tolist() == single


# -- certificates ---------------------------------------------------------------------------------
def _problem(even=True, d=6, n=30, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, d))
    y = rng.standard_normal(n)
    act = (1.0, 0.0, 0.0) if even else (1.0, 0.4, 0.1)
    return QNNProblem(X, y, activation=act, levels="binary", beta=0.5)


def _tree_certificate(even=True):
    """A certificate whose rho is proved by a tree with many Shor leaves (leaf size 0)."""
    problem = _problem(even)
    result = solve(problem, backend="colgen")
    Q, E = q_matrix_with_error(problem.binary_design(), problem.activation, result.dual.w)
    result.dual = DualData(w=result.dual.w, tree=prove_rho(Q, E, even, leaf_size=0).tree)
    cert = certify(problem, result, rho="bnb-tree")
    return problem, cert


@pytest.fixture(scope="module")
def tree_cert():
    return _tree_certificate(even=True)


def test_tree_certificate_round_trip(tree_cert, tmp_path):
    problem, cert = tree_cert
    assert cert.rho_certified_by == "bnb-tree"
    exact = certify(problem, solve(problem, backend="colgen"), rho="exact")
    assert cert.lower_bound == pytest.approx(exact.lower_bound, rel=1e-9)
    path = tmp_path / "c.json"
    cert.write(path)
    doc = json.loads(path.read_text())
    assert doc["version"] == 4 and "tree" in doc["dual"]
    back = Certificate.read(path)
    v = verify(back)
    assert v.ok, [(c.name, c.detail) for c in v.failed]
    assert "branch-and-bound tree" in next(c.detail for c in v.checks if c.name == "rho_certified")


def _tampered(cert, edit):
    doc = copy.deepcopy(cert.to_dict())
    edit(doc["dual"]["tree"])
    return verify(Certificate.from_dict(doc))


def _first_side_with_shor(tree):
    return "plus" if tree["plus"]["shor"]["prefix"] else "minus"


def test_tampered_trees_are_rejected(tree_cert):
    _, cert = tree_cert
    side = _first_side_with_shor(cert.to_dict()["dual"]["tree"])

    def drop_leaf(t):
        for key in ("prefix", "shift", "t", "z_last"):
            t[side]["shor"][key].pop(0)

    def lower_z(t):
        z = t[side]["shor"]["z_last"]
        z[0] -= 1.0 + abs(z[0])

    def lower_t(t):
        t[side]["shor"]["t"][0] -= 1.0

    def lower_shift(t):
        t[side]["shifts"][0][0] -= 10.0

    def flip_prefix(t):
        s = t[side]["shor"]["prefix"][-1]
        t[side]["shor"]["prefix"][-1] = s[:-1] + ("-" if s[-1] == "+" else "+")

    def shorten_prefix(t):
        t[side]["shor"]["prefix"][0] = t[side]["shor"]["prefix"][0][:-1]

    def bad_order(t):
        t["order"][0] = t["order"][1]

    for edit in (drop_leaf, lower_z, lower_t, lower_shift, flip_prefix, shorten_prefix, bad_order):
        v = _tampered(cert, edit)
        assert not v.ok, edit.__name__
        assert [c.name for c in v.failed][0] == "rho_certified", edit.__name__


def test_tree_file_format_is_checked(tree_cert):
    _, cert = tree_cert
    doc = cert.to_dict()
    bad = copy.deepcopy(doc)
    bad["version"] = 2
    bad["preprocessing"] = {"x_mean": [0.0] * 6, "x_scale": [1.0] * 6}
    with pytest.raises(CertificateFormatError, match="version"):
        Certificate.from_dict(bad)
    bad = copy.deepcopy(doc)
    del bad["dual"]["tree"]
    with pytest.raises(CertificateFormatError, match="dual.tree"):
        Certificate.from_dict(bad)
    bad = copy.deepcopy(doc)
    bad["dual"]["tree"]["plus"]["shor"]["prefix"] = ["+x"] * len(bad["dual"]["tree"]["plus"]["shor"]["prefix"])
    with pytest.raises(CertificateFormatError, match="prefix"):
        Certificate.from_dict(bad)
    bad = copy.deepcopy(doc)
    bad["dual"]["tree"]["minus"]["shor"]["shift"] = [10 ** 6] * len(bad["dual"]["tree"]["minus"]["shor"]["shift"])
    if bad["dual"]["tree"]["minus"]["shor"]["shift"]:
        with pytest.raises(CertificateFormatError, match="shift"):
            Certificate.from_dict(bad)
    bad = copy.deepcopy(doc)
    bad["rho_certified_by"] = "shor"
    with pytest.raises(CertificateFormatError, match="rho_certified_by"):
        Certificate.from_dict(bad)


def test_odd_activation_needs_both_halves():
    """Without the u -> -u symmetry the tree covers all of {-1,+1}^p; it verifies, and treating the
    problem as even (a half tree) is refused for the odd one."""
    problem, cert = _tree_certificate(even=False)
    assert verify(cert).ok
    tree = cert.tree.to_dict()
    assert any(s.startswith("-") for s in tree["plus"]["shor"]["prefix"] + tree["plus"]["enum"])
    Q, E = q_matrix_with_error(problem.binary_design(), problem.activation, cert.w)
    assert tree_rho_bound(Q, E, RhoTree.from_dict(tree), even=True)[0] is None


# -- colgen and certify ---------------------------------------------------------------------------
def test_colgen_builds_a_tree_beyond_the_enumeration_limit(monkeypatch):
    """colgen proves rho by a tree when the verifier cannot enumerate (the limit lowered to 4 here)."""
    monkeypatch.setattr(colgen_module, "VERIFY_EXACT_MAX_DIM", 4)
    problem = _problem(even=True, d=8)
    result = solve(problem, backend="colgen")
    assert result.rho_method == "bnb-tree" and result.dual.tree is not None
    assert result.report["rho_tree_leaves"] == result.dual.tree.leaves
    cert = certify(problem, result)
    assert cert.rho_certified_by == "bnb-tree" and verify(cert).ok
    assert result.lower_bound == pytest.approx(cert.lower_bound, rel=1e-6)     # the claim follows the tree
    exact = certify(problem, result, rho="exact")
    assert cert.lower_bound == pytest.approx(exact.lower_bound, rel=1e-9)
    # the cap: no tree, the Shor diagonals, and the report says why
    capped = solve(problem, backend="colgen", tree_leaves=0)
    assert capped.dual.tree is None and capped.dual.z_plus is not None
    assert "Shor" in capped.report["rho_tree_fallback"]
    c2 = certify(problem, capped)
    assert c2.rho_certified_by in ("shor", "exact") and verify(c2).ok


def test_certify_builds_a_tree_and_falls_back_on_a_bad_one():
    problem = _problem(even=False, d=5)
    result = solve(problem, backend="colgen")
    cert = certify(problem, result, rho="bnb-tree")
    assert cert.rho_certified_by == "bnb-tree" and verify(cert).ok
    broken = copy.deepcopy(cert.tree)
    assert broken.plus.enum_prefix                  # p = 5 <= the enumeration depth: the root's children
    broken.plus.enum_prefix = broken.plus.enum_prefix[1:]
    result.dual.tree = broken
    fallback = certify(problem, result, rho="bnb-tree")
    assert fallback.rho_certified_by == "shor" and verify(fallback).ok
    assert "failed" in fallback.tightness["rho_tree_fallback"]


def test_verifying_a_tree_certificate_loads_nothing_heavy(tree_cert, tmp_path):
    _, cert = tree_cert
    path = tmp_path / "c.json"
    cert.write(path)
    code = ("import json, sys\nfrom certqnn.trusted.certificate import Certificate\n"
            "from certqnn.trusted.verify import verify\n"
            f"assert verify(Certificate.read({str(path)!r})).ok\nprint(json.dumps(sorted(sys.modules)))")
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")])}
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=120)
    assert proc.returncode == 0, proc.stderr
    modules = json.loads(proc.stdout.strip().splitlines()[-1])
    forbidden = ("scipy", "scs", "picos", "sklearn", "certqnn.pricing", "certqnn.backends", "certqnn.certify")
    assert [m for m in modules if m.split(".")[0] in forbidden or m.startswith(forbidden)] == []


def test_tree_survives_a_recomputed_q_hat():
    """The verifier recomputes Q_hat, possibly summing in another order: any Q_hat' within the
    error bound E of the one the tree was built on still verifies (the prover's margin covers it)."""
    rng = np.random.default_rng(11)
    Q, _ = random_q(14, 4, even=False)
    E = np.abs(Q) * 1e-12 + 1e-15
    proof = prove_rho(Q, E, False, leaf_size=1)
    for _ in range(3):
        D = rng.uniform(-1, 1, Q.shape) * E
        Q2 = Q + (D + D.T) / 2
        rho_bar, why = tree_rho_bound(Q2, E, proof.tree, False)
        assert rho_bar is not None, why
        assert rho_bar >= enumerate_extremes(Q2).rho
