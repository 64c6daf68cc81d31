"""Backend `auto`: the plan by size, and one claim combining the best network and the best dual point."""
from __future__ import annotations

import numpy as np
import pytest

from certqnn import QNNProblem, certify, solve, verify
from certqnn.backends import auto as auto_module
from certqnn.datasets import load


def problem_of(spec, **kw):
    data = load(spec)
    return QNNProblem(data.X, data.y, **kw)


def test_small_problems_are_solved_exactly_by_enumeration():
    problem = problem_of("synthetic:n=60,d=6,seed=1")
    result = solve(problem, "auto")
    cert = certify(problem, result)
    assert result.report["methods"] == ["enumeration"] and result.report["upper_bound_from"] == "enumeration"
    exact = certify(problem, solve(problem, "enumeration"))
    assert verify(cert).ok and cert.relative_gap <= 1e-6
    assert cert.upper_bound == pytest.approx(exact.upper_bound, rel=1e-9)


def test_the_plan_follows_the_size_limits():
    assert auto_module.plan(problem_of("synthetic:n=30,d=10,seed=0"), None)[0] == "enumeration"
    assert auto_module.plan(problem_of("synthetic:n=30,d=24,seed=0"), None)[0] == "colgen"
    assert auto_module.plan(problem_of("synthetic:n=30,d=40,seed=0"), None) == ["sdp"]
    assert auto_module.plan(problem_of("synthetic:n=30,d=40,seed=0"), 5.0) == ["sdp", "colgen"]


def test_the_halves_come_from_the_best_method_and_each_verifies(monkeypatch):
    problem = problem_of("synthetic:n=80,d=7,seed=3")
    monkeypatch.setattr(auto_module, "plan", lambda problem, time_limit: ["ste", "sdp"])
    parts = {name: solve(problem, name) for name in ("ste", "sdp")}
    result = solve(problem, "auto")
    cert = certify(problem, result)
    assert verify(cert).ok
    assert result.report["methods"] == ["ste", "sdp"]
    best_ub = min(problem.objective(r.network.U, r.network.alpha) for r in parts.values())
    assert result.upper_bound == pytest.approx(best_ub, rel=1e-12)
    assert result.report["lower_bound_from"] == "sdp"
    sdp_cert = certify(problem, parts["sdp"])
    assert cert.lower_bound >= sdp_cert.lower_bound * (1 - 1e-9) - 1e-12
    assert cert.upper_bound <= min(certify(problem, r).upper_bound for r in parts.values()) * (1 + 1e-12)


def test_auto_is_deterministic_and_rejects_unknown_options():
    problem = problem_of("synthetic:n=40,d=5,seed=2")
    a, b = solve(problem, "auto"), solve(problem, "auto")
    assert np.array_equal(a.network.alpha, b.network.alpha) and a.lower_bound == b.lower_bound
    from certqnn.errors import InvalidProblemError, UnknownOptionError
    with pytest.raises(UnknownOptionError):
        solve(problem, "auto", samples=4)
    with pytest.raises(InvalidProblemError, match="seed"):
        solve(problem, "auto", seed=-1)


def test_auto_is_the_default_backend_of_solve(tmp_path, capsys):
    from certqnn.cli import build_parser, main

    assert build_parser().parse_args(["solve", "x.npz"]).backend == "auto"
    out = tmp_path / "c.json"
    assert main(["solve", "synthetic:n=40,d=6,seed=1", "--quiet", "--out", str(out)]) == 0
    assert "auto (LB enumeration, UB enumeration)" in capsys.readouterr().out   # which method gave which half
    assert main(["verify", str(out)]) == 0


def test_for_large_p_auto_asks_the_sdp_backend_and_falls_back(monkeypatch):
    problem = problem_of("synthetic:n=30,d=80,seed=0")
    assert auto_module.plan(problem, None) == ["sdp"]
    assert auto_module.plan(problem, 5.0) == ["sdp"]               # p > 64: no exact pricing to add
    sdp = auto_module.get_backend("sdp")
    monkeypatch.setattr(type(sdp), "supports", lambda self, problem: (False, "too large"))
    assert auto_module.plan(problem, None) == ["frank-wolfe"]


def test_under_a_time_limit_the_sdp_rounding_is_not_counted_in_rounds_and_the_bound_gets_cuts(monkeypatch):
    """With --time-limit the sdp rounding's pricing rounds run until the limit (or until no better
    atom is found) instead of stopping at the default work budget, and triangle cuts strengthen the
    bound while the conic data fits the scs engine; without a limit neither."""
    problem = problem_of("synthetic:n=120,d=36,seed=0")
    sdp = auto_module.get_backend("sdp")
    real, seen = type(sdp).solve, {}

    def recording(self, problem, **kw):
        seen[self.name] = kw
        return real(self, problem, **kw)

    monkeypatch.setattr(type(sdp), "solve", recording)
    monkeypatch.setattr(auto_module, "plan", lambda problem, time_limit: ["sdp"])
    limited = solve(problem, "auto", time_limit=300)
    assert seen["sdp"]["pricing_rounds"] == auto_module.TIME_LIMITED_PRICING_ROUNDS
    assert seen["sdp"]["cuts"] == "triangle" and limited.report["cut_rounds"] >= 1
    assert limited.report["pricing_stop"] != "budget"
    counted = solve(problem, "auto")
    # without a limit the sdp backend's own round budget applies (on this small problem its 200
    # rounds find every violator the local search can: pricing_stop "no_violator")
    assert "pricing_rounds" not in seen["sdp"] and "cuts" not in seen["sdp"]
    assert counted.report["pricing_stop"] in ("budget", "no_violator")
    # both runs can end with no violator left, from different relaxation points (the cuts move it):
    # two local optima of the same search, so the limited one is as good up to their spread
    assert limited.upper_bound <= counted.upper_bound * (1 + 1e-4)
    assert verify(certify(problem, limited)).ok
    assert certify(problem, limited).lower_bound > certify(problem, counted).lower_bound

    class Seen(Exception):
        pass

    def capture(self, problem, **kw):
        seen[self.name] = kw
        raise Seen

    monkeypatch.setattr(type(sdp), "solve", capture)
    monkeypatch.setattr(auto_module.limits, "SDP_CONIC_MAX_ENTRIES", 1000)   # as if the conic data did not fit
    with pytest.raises(Seen):
        solve(problem, "auto", time_limit=300)
    assert "cuts" not in seen["sdp"] and seen["sdp"]["pricing_rounds"] == auto_module.TIME_LIMITED_PRICING_ROUNDS
