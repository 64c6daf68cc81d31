"""The trusted core (certqnn.trusted) imports no solver, no pricing heuristic and no branch and
bound: `verify` is small enough to audit. Checked in a fresh interpreter, so modules imported by
other tests cannot hide a dependency."""
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from certqnn import QNNProblem, certify, solve, verify
from certqnn.losses import LOSSES, SquaredLoss
from certqnn.pricing import quadratic_extremes
from certqnn.trusted.certificate import Certificate
from certqnn.trusted.enumerate import enumerate_extremes

ROOT = Path(__file__).resolve().parents[1]

FORBIDDEN = ["scs", "picos", "cvxopt", "scipy", "mpi4py", "sklearn", "networkx",
             "certqnn.pricing", "certqnn.backends", "certqnn.lasso", "certqnn.solve", "certqnn.certify"]


def imported_by(statement: str) -> list[str]:
    """The modules in sys.modules after running `statement` in a fresh interpreter."""
    code = f"import json, sys\n{statement}\nprint(json.dumps(sorted(sys.modules)))"
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")])}
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=120)
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout.strip().splitlines()[-1])


def heavy(modules: list[str]) -> list[str]:
    return [m for m in modules if any(m == f or m.startswith(f + ".") for f in FORBIDDEN)]


@pytest.mark.parametrize("statement", [
    "import certqnn.trusted.verify",
    "from certqnn.trusted.verify import verify; from certqnn.trusted.certificate import Certificate",
    "from certqnn import Certificate, Verdict, verify",
    "from certqnn.trusted.multiclass import MultiClassCertificate, verify_multiclass; import certqnn.trusted.verify",
])
def test_trusted_core_imports_no_solver_and_no_heuristic(statement):
    modules = imported_by(statement)
    assert "certqnn.trusted.verify" in modules
    assert heavy(modules) == []


def test_verifying_a_certificate_loads_nothing_heavy(tmp_path):
    """Reading and verifying a certificate (exact rho: the enumeration runs) stays in the core."""
    problem = QNNProblem([[1.0, 0.5], [-0.3, 2.0], [0.7, -1.1]], [1.0, -0.5, 0.2], levels="binary", beta=0.5)
    cert = certify(problem, solve(problem, backend="enumeration"), rho="exact")
    path = tmp_path / "cert.json"
    cert.write(path)
    modules = imported_by("from certqnn.trusted.certificate import Certificate\n"
                          "from certqnn.trusted.verify import verify\n"
                          f"assert verify(Certificate.read({str(path)!r})).ok")
    assert heavy(modules) == []


def test_public_api_still_resolves_lazily():
    """solve and certify are loaded on first use and stay functions even when their submodules
    are imported first (e.g. by the CLI)."""
    code = ("import certqnn.cli, certqnn\n"
            "from certqnn import solve, certify, QNNProblem, available_backends\n"
            "assert callable(solve) and callable(certify) and 'sdp' in available_backends()\n"
            "assert certqnn.solve is solve and certqnn.certify is certify")
    imported_by(code)


# -- verify goes through the loss ---------------------------------------------------------------
class _PessimisticLoss(SquaredLoss):
    """The squared loss, but its certified upper bound is 1 too high: verify must use it."""

    name = "pessimistic"

    def value_upper_bound(self, yhat, err, y):
        return super().value_upper_bound(yhat, err, y) + 1.0

    def exact_value(self, yhat, y):
        return super().exact_value(yhat, y) + 1       # the exact fallback must go through the loss too


class _NoDomainLoss(SquaredLoss):
    """The squared loss, but every dual point lies outside its conjugate's domain."""

    name = "nodomain"

    def certified_dual_value(self, w, y, s):
        return None


def _certificate_with_loss(name):
    problem = QNNProblem([[1.0, 0.5], [-0.3, 2.0], [0.7, -1.1]], [1.0, -0.5, 0.2], levels="binary", beta=0.5)
    cert = certify(problem, solve(problem, backend="enumeration"), rho="exact")
    doc = cert.to_dict()
    doc["problem"]["loss"] = name
    return Certificate.from_dict(doc)


def test_upper_bound_comes_from_the_loss(monkeypatch):
    monkeypatch.setitem(LOSSES, "pessimistic", _PessimisticLoss)
    honest = verify(_certificate_with_loss("squared"))
    assert honest.ok
    v = verify(_certificate_with_loss("pessimistic"))
    assert [c.name for c in v.failed] == ["upper_bound", "gap", "relative_gap"]
    assert v.verified_upper_bound >= honest.verified_upper_bound + 1.0 - 1e-12


def test_dual_point_outside_the_conjugate_domain_fails(monkeypatch):
    monkeypatch.setitem(LOSSES, "nodomain", _NoDomainLoss)
    v = verify(_certificate_with_loss("nodomain"))
    assert not v.ok
    assert [c.name for c in v.failed] == ["lower_bound"]
    assert "domain" in v.failed[0].detail and v.verified_lower_bound is None


# -- the one enumeration routine ----------------------------------------------------------------
def test_pricing_reuses_the_trusted_enumeration():
    rng = np.random.default_rng(3)
    for p in (0, 1, 2, 7, 12):
        A = rng.standard_normal((p + 1, p + 1))
        a, b = enumerate_extremes(A), quadratic_extremes(A, top=3)
        assert a.max_value == b.max_value and a.min_value == b.min_value
        assert a.evaluated == b.evaluated == 2 ** p


def test_enumeration_overflow_makes_no_claim():
    """inf - inf in a block must not be skipped silently: the result is NaN, which the verifier refuses."""
    Q = np.full((4, 4), 1e308)
    Q[0, 1] = Q[1, 0] = -1e308
    with np.errstate(all="ignore"):
        assert np.isnan(enumerate_extremes(Q).rho)
