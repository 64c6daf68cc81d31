"""The backend contract: declared options, strict rejection, CLI flags built from declarations."""
from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from certqnn import QNNProblem, certify, solve, verify
from certqnn.backends import REGISTRY
from certqnn.backends.base import Options, declared_options, get_backend
from certqnn.cli import main
from certqnn.errors import InvalidProblemError, UnknownOptionError


def tiny_problem(n=12, d=3, seed=0):
    rng = np.random.default_rng(seed)
    return QNNProblem(rng.standard_normal((n, d)), rng.standard_normal(n), beta=0.5)


@pytest.mark.parametrize("name", sorted(REGISTRY))
def test_every_backend_rejects_an_unknown_option_by_name(name):
    with pytest.raises(UnknownOptionError) as err:
        solve(tiny_problem(), name, definitely_not_an_option=1)
    assert "definitely_not_an_option" in str(err.value) and err.value.backend == name


@pytest.mark.parametrize("name", sorted(REGISTRY))
def test_every_backend_declares_documented_options(name):
    cls = REGISTRY[name]
    assert issubclass(cls.Options, Options) and cls.Options is not Options or name == ""
    fields = declared_options(cls.Options)
    assert "time_limit" in fields
    for field in fields.values():
        assert field.metadata.get("help"), f"{name}.{field.name} has no help text"
    with pytest.raises(dataclasses.FrozenInstanceError):
        cls.options().time_limit = 1.0


@pytest.mark.parametrize("name", sorted(REGISTRY))
def test_time_limit_must_be_positive(name):
    with pytest.raises(InvalidProblemError, match="time_limit"):
        get_backend(name).options(time_limit=-1)


@pytest.mark.parametrize("engine,option,value", [("picos", "form", "gram"), ("picos", "linear_solver", "qdldl"),
                                                 ("picos", "cuts", "triangle"), ("nonsense", "eps", 1e-6),
                                                 ("scs", "form", "sparse"), ("scs", "samples", 0),
                                                 ("scs", "eps", -1.0), ("scs", "cuts", "square")])
def test_sdp_engines_reject_inapplicable_or_bad_values(engine, option, value):
    with pytest.raises(InvalidProblemError) as err:
        get_backend("sdp").options(engine=engine, **{option: value})
    assert err.value.field in (option, "engine")


def test_options_instance_and_keywords_are_exclusive():
    be = get_backend("sdp")
    with pytest.raises(UnknownOptionError):
        solve(tiny_problem(), be, be.options(samples=4), samples=8)


def test_cli_rejects_a_flag_the_backend_does_not_declare(capsys, tmp_path):
    out = tmp_path / "c.json"
    code = main(["solve", "synthetic:n=20,d=3,seed=1", "--backend", "enumeration", "--samples", "8", "--out", str(out)])
    assert code == 2 and not out.exists()
    err = capsys.readouterr().err
    assert "--samples" in err and "enumeration" in err


def test_cli_passes_declared_flags_and_engine_suffix(tmp_path):
    from argparse import Namespace

    from certqnn.cli import build_parser
    from certqnn.cli_options import backend_options

    args = build_parser().parse_args(["solve", "x.npz", "--backend", "sdp:picos", "--samples", "8", "--time-limit", "5"])
    assert backend_options(args.backend, args) == {"samples": 8, "time_limit": 5.0, "engine": "picos"}
    assert isinstance(args, Namespace)
    args = build_parser().parse_args(["solve", "x.npz", "--backend", "sdp:picos", "--engine", "scs"])
    with pytest.raises(InvalidProblemError, match="engine"):
        backend_options(args.backend, args)


def test_cli_checks_the_output_path_before_any_work(capsys, tmp_path):
    code = main(["solve", "synthetic:n=20,d=3,seed=1", "--backend", "enumeration",
                 "--out", str(tmp_path / "missing-dir" / "c.json")])
    assert code == 2 and "cannot write" in capsys.readouterr().err


def test_compare_accepts_a_flag_that_only_some_backends_declare(capsys):
    code = main(["compare", "synthetic:n=30,d=4,seed=2", "--backends", "enumeration,sdp", "--samples", "8",
                 "--quiet"])
    assert code == 0
    out = capsys.readouterr().out
    assert "enumeration" in out and "sdp" in out


def test_certify_rejects_an_unknown_rho_method():
    problem = tiny_problem()
    result = solve(problem, "enumeration")
    with pytest.raises(InvalidProblemError, match="rho"):
        certify(problem, result, rho="psd")
    assert verify(certify(problem, result)).ok


def test_the_backend_reference_in_docs_is_current():
    """docs/backends.md is generated from the declarations; regenerate it when an option changes:
    python -m certqnn.cli_options > docs/backends.md"""
    from pathlib import Path

    from certqnn.cli_options import options_reference

    path = Path(__file__).resolve().parent.parent / "docs/backends.md"
    assert path.read_text(encoding="utf-8") == options_reference()


def test_a_flag_shared_by_backends_gives_each_backends_meaning():
    """--engine means different things to dqsfw (how agents run) and sdp (the SDP engine): the help
    shows both, each with its backends, instead of the first backend's alone."""
    from certqnn.cli_options import collect_flags

    flags = collect_flags()
    engine = flags["--engine"].help_text()
    assert "dqsfw: how agents run" in engine and "sdp: SDP engine" in engine
    tol = flags["--tol"].help_text()
    assert "frank-wolfe" in tol and "colgen" in tol
    assert flags["--time-limit"].help_text() == flags["--time-limit"].help    # one meaning: said once
