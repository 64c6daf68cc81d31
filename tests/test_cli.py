"""The command line contract of docs/cli.md: commands, files and exit codes."""
import json
import os

import numpy as np
import pytest

from certqnn.cli import main

SMALL = "synthetic:n=30,d=6,seed=1"


def test_solve_enumeration_and_sdp_bracket_the_optimum(workdir, capsys):
    spec = "synthetic:n=40,d=8,seed=1"
    assert main(["solve", spec, "--backend", "enumeration", "--out", "a.json"]) == 0
    assert main(["solve", spec, "--backend", "sdp", "--out", "b.json"]) == 0
    assert main(["verify", "a.json"]) == 0
    assert main(["verify", "b.json"]) == 0
    a = json.load(open("a.json"))
    b = json.load(open("b.json"))
    assert a["rho_certified_by"] == "exact" and b["rho_certified_by"] == "shor"
    assert a["relative_gap"] <= 1e-6
    assert b["lower_bound"] <= a["upper_bound"] + 1e-12
    assert a["lower_bound"] <= b["upper_bound"] + 1e-12
    assert "lower bound" in capsys.readouterr().out


def test_verify_rejects_tampered_bound_with_exit_1(workdir, capsys):
    assert main(["solve", SMALL, "--backend", "enumeration", "--out", "a.json"]) == 0
    doc = json.load(open("a.json"))
    doc["lower_bound"] = doc["upper_bound"] * 1.01 + 1e-3
    json.dump(doc, open("t.json", "w"))
    assert main(["verify", "t.json"]) == 1
    out = capsys.readouterr().out
    assert "FAIL" in out and "lower_bound" in out


def test_verify_json_output(workdir, capsys):
    assert main(["solve", SMALL, "--backend", "enumeration", "--out", "a.json"]) == 0
    capsys.readouterr()
    assert main(["verify", "a.json", "--json"]) == 0
    verdict = json.loads(capsys.readouterr().out)
    assert verdict["ok"] is True and all(c["passed"] for c in verdict["checks"])


@pytest.mark.parametrize("content", ["{", "[]", '{"format": "other"}', "NaN", ""])
def test_verify_malformed_file_exit_2(workdir, content, capsys):
    open("bad.json", "w").write(content)
    assert main(["verify", "bad.json"]) == 2
    assert "error" in capsys.readouterr().err


def test_verify_missing_file_exit_2(workdir):
    assert main(["verify", "nope.json"]) == 2


@pytest.mark.parametrize("argv, field", [
    (["solve", SMALL, "--beta", "0"], "beta"),
    (["solve", SMALL, "--beta", "-1"], "beta"),
    (["solve", SMALL, "--beta", "nan"], "beta"),
    (["solve", SMALL, "--levels", "quaternary"], "levels"),
    (["solve", SMALL, "--loss", "cubic"], "loss"),
    (["solve", SMALL, "--activation", "1,2"], "activation"),
    (["solve", SMALL, "--activation", "0,0,1"], "activation"),
    (["solve", SMALL, "--backend", "magic"], "backend"),
    (["solve", SMALL, "--engine", "gurobi"], "engine"),
    (["solve", "synthetic:n=30,d=6,seed=1,colour=red"], "DATA"),
    (["solve", "nofile.npz"], "DATA"),
    (["solve", "sklearn:mnist"], "DATA"),
    (["solve", "synthetic:n=30,d=30,seed=1", "--backend", "enumeration"], "sdp"),
    (["solve", "sklearn:iris,n=1000"], "n=1000"),
    (["solve", "sklearn:iris,class=orchid"], "virginica"),
    (["solve", "sklearn:breast_cancer,features=4", "--task", "regression"], "task"),
    (["solve", SMALL, "--backend", "frank-wolfe", "--plot", "curve.txt"], ".png"),
])
def test_bad_input_exit_2_and_no_file(workdir, capsys, argv, field):
    assert main(argv + ["--out", "out.json"]) == 2
    err = capsys.readouterr().err
    assert field in err
    assert not os.path.exists("out.json")
    assert not [f for f in os.listdir(".") if f.startswith(".certqnn-")]


def test_an_empty_output_path_is_an_error_not_a_request_for_no_file(workdir, capsys):
    assert main(["solve", SMALL, "--backend", "enumeration", "--out", ""]) == 2
    assert "empty" in capsys.readouterr().err
    open("afile", "w").write("")
    assert main(["solve", SMALL, "--backend", "enumeration", "--out", "afile/x.json"]) == 2
    assert "afile is a file, not a directory" in capsys.readouterr().err


def test_a_write_refused_late_is_exit_2_naming_the_file_and_leaves_nothing(workdir, capsys, monkeypatch):
    """The early check asks for permission only (a file system can still refuse, e.g. /proc): the
    final write's failure is reported with the user's file name, exit 2, no temporary left behind."""
    import certqnn.atomic as atomic

    def refuse(src, dst):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(atomic.os, "replace", refuse)
    assert main(["solve", SMALL, "--backend", "enumeration", "--out", "late.json"]) == 2
    assert "cannot write late.json: No space left on device" in capsys.readouterr().err
    assert os.listdir(".") == []


def test_compare_refuses_a_plot_it_cannot_draw_before_any_work(workdir, capsys, monkeypatch):
    import certqnn.cli as cli

    monkeypatch.setattr(cli, "_build_problem", lambda *a, **k: pytest.fail("the data were loaded"))
    assert main(["compare", SMALL, "--plot", "bounds.txt"]) == 2
    assert ".png" in capsys.readouterr().err


def test_compare_without_any_certificate_says_so(workdir, capsys):
    assert main(["compare", SMALL, "--backends", "frank-wolfe", "--loss", "hinge"]) == 2
    assert "error: no backend gave a certificate" in capsys.readouterr().err


def test_export_refuses_a_name_that_is_not_a_c_identifier(workdir, capsys):
    assert main(["solve", SMALL, "--backend", "enumeration", "--out", "a.json"]) == 0
    for bad in ("1bad", "a b", "x-y"):
        assert main(["export", "a.json", "--format", "c", "--name", bad]) == 2
        assert "not a C identifier" in capsys.readouterr().err
    assert main(["export", "a.json", "--format", "c", "--name", "good_1", "--out", "m.h"]) == 0
    assert "#define GOOD_1_" in open("m.h").read()


def test_sklearn_classes_are_named_by_index_or_name(workdir):
    from certqnn.datasets import load

    by_index, by_name = load("sklearn:iris,class=2"), load("sklearn:iris,class=Virginica")
    np.testing.assert_array_equal(by_index.y, by_name.y)
    assert by_index.preprocessing["label_map"]["1"] == "virginica"


def test_bad_data_files_exit_2(workdir, capsys):
    X = np.ones((5, 3))
    X[2, 1] = np.nan
    np.savez("nan.npz", X=X, y=np.ones(5))
    assert main(["solve", "nan.npz", "--no-standardize", "--out", "o.json"]) == 2
    assert "X" in capsys.readouterr().err
    np.savez("shape.npz", X=np.ones((5, 3)), y=np.ones(4))
    assert main(["solve", "shape.npz", "--out", "o.json"]) == 2
    assert "y" in capsys.readouterr().err
    np.savez("empty.npz", X=np.ones((0, 3)), y=np.ones(0))
    assert main(["solve", "empty.npz", "--out", "o.json"]) == 2
    open("garbage.npz", "w").write("not a zip archive")
    assert main(["solve", "garbage.npz", "--out", "o.json"]) == 2
    assert "not an .npz archive" in capsys.readouterr().err
    np.savez("noy.npz", X=np.ones((5, 3)))
    assert main(["solve", "noy.npz", "--out", "o.json"]) == 2
    assert capsys.readouterr().err.count("DATA:") == 1          # named once, not "DATA: ... DATA: ..."
    open("inf.csv", "w").write("1,2,3\n4,inf,1\n")
    assert main(["solve", "inf.csv", "--no-standardize", "--out", "o.json"]) == 2
    assert not os.path.exists("o.json")


def test_csv_and_npz_data(workdir):
    rng = np.random.default_rng(0)
    X = rng.normal(size=(20, 4))
    y = rng.normal(size=20)
    np.savez("d.npz", X=X, y=y)
    np.savetxt("d.csv", np.column_stack([X, y]), delimiter=",")
    assert main(["solve", "d.npz", "--backend", "enumeration", "--out", "n.json"]) == 0
    assert main(["solve", "d.csv", "--backend", "enumeration", "--out", "c.json"]) == 0
    n, c = json.load(open("n.json")), json.load(open("c.json"))
    assert n["upper_bound"] == pytest.approx(c["upper_bound"], rel=1e-9)


def test_compare_table_and_plot(workdir, capsys):
    pytest.importorskip("matplotlib")
    assert main(["compare", SMALL, "--backends", "enumeration,sdp,sdp:picos", "--plot", "cmp.png"]) == 0
    out = capsys.readouterr().out
    for name in ("enumeration", "sdp:scs", "sdp:picos", "exact optimum"):
        assert name in out
    assert os.path.getsize("cmp.png") > 1000


def test_compare_skips_unsupported_backend(workdir, capsys):
    assert main(["compare", "synthetic:n=30,d=26,seed=0", "--backends", "enumeration,sdp", "--samples", "8"]) == 0
    out = capsys.readouterr().out
    assert "skipped" in out and "sdp:scs" in out


def test_solve_levels_and_width(workdir):
    assert main(["solve", SMALL, "--backend", "enumeration", "--levels", "ternary", "--width", "3", "--out", "t.json"]) == 0
    doc = json.load(open("t.json"))
    U = np.array(doc["network"]["U"])
    assert U.shape[1] <= 3 and set(np.unique(U)) <= {-1.0, 0.0, 1.0}
    assert main(["verify", "t.json"]) == 0


@pytest.mark.slow
def test_demo_runs_and_writes_certificate(workdir, capsys):
    assert main(["demo"]) == 0
    assert main(["verify", "certificate.json"]) == 0


@pytest.mark.parametrize("backend", ["sdp", "sdp:picos", "ste", "colgen", "enumeration", "frank-wolfe", "dqsfw",
                                     "coarse-gradient", "bcgd", "binaryrelax", "askewsgd", "ptq"])
def test_the_same_command_writes_the_same_certificate_bit_for_bit(backend, tmp_path):
    paths = [tmp_path / f"{backend}-{k}.json" for k in range(2)]
    for path in paths:
        assert main(["solve", "synthetic:n=60,d=5,seed=3", "--backend", backend, "--out", str(path), "--quiet"]) == 0
    assert paths[0].read_bytes() == paths[1].read_bytes()


@pytest.mark.parametrize("loss", ["logistic", "hinge", "squared_hinge", "huber:0.5", "absolute"])
def test_every_loss_is_certified_from_the_command_line_by_enumeration_and_bracketed_by_the_sdp(loss, tmp_path):
    from certqnn import Certificate

    spec = "synthetic:n=60,d=6,seed=1"
    e, s = tmp_path / "e.json", tmp_path / "s.json"
    assert main(["solve", spec, "--loss", loss, "--backend", "enumeration", "--out", str(e), "--quiet"]) == 0
    assert main(["solve", spec, "--loss", loss, "--backend", "sdp", "--out", str(s), "--quiet"]) == 0
    assert main(["verify", str(e)]) == 0 and main(["verify", str(s)]) == 0
    exact, relaxed = Certificate.read(str(e)), Certificate.read(str(s))
    assert exact.relative_gap <= 1e-6
    assert relaxed.lower_bound <= exact.upper_bound <= relaxed.upper_bound * (1 + 1e-9)
    if loss in ("logistic", "hinge", "squared_hinge"):
        assert set(np.unique(exact.problem().y)) <= {-1.0, 1.0}


def test_a_classification_loss_on_regression_data_is_refused_up_front(capsys):
    assert main(["solve", "sklearn:diabetes", "--loss", "logistic", "--backend", "enumeration"]) == 2
    assert "two-class" in capsys.readouterr().err


def test_a_long_run_says_where_its_time_went(workdir, capsys, monkeypatch):
    """Past TIME_LINE_SECONDS `solve` prints the stages: the sdp backend's relaxation and rounding
    (their seconds add up to no more than the table's), auto's methods with their stages."""
    import re

    import certqnn.cli as cli

    monkeypatch.setattr(cli, "TIME_LINE_SECONDS", 0.0)
    assert main(["solve", "synthetic:n=60,d=6,seed=0", "--backend", "sdp"]) == 0
    out = capsys.readouterr().out
    line = next(s for s in out.splitlines() if s.startswith("time: "))
    relaxation, rounding, certify = (float(x) for x in re.fullmatch(
        r"time: relaxation ([\d.]+) s, rounding ([\d.]+) s, certify ([\d.]+) s", line).groups())
    total = float(next(s for s in out.splitlines() if s.startswith("sdp:")).split()[-1])
    assert relaxation + rounding + certify <= total + 0.2
    assert main(["solve", "synthetic:n=60,d=6,seed=0"]) == 0
    line = next(s for s in capsys.readouterr().out.splitlines() if s.startswith("time: "))
    assert re.match(r"time: \w+ [\d.]+ s", line) and line.endswith(" s") and "certify" in line
    monkeypatch.setattr(cli, "TIME_LINE_SECONDS", 1e9)
    assert main(["solve", "synthetic:n=60,d=6,seed=0", "--backend", "sdp"]) == 0
    assert "time: " not in capsys.readouterr().out


def test_auto_lists_each_method_with_the_sdp_stages():
    from types import SimpleNamespace

    from certqnn.cli import _where_the_time_went

    auto = SimpleNamespace(backend="auto", report={"methods": ["sdp", "colgen"]},
                           timings={"sdp": 30.0, "sdp.sdp": 5.0, "sdp.rounding": 24.5, "sdp.fo_solve": 4.0,
                                    "sdp.fo_pass": 0.1, "sdp.fo_time_in_passes": 40.0, "colgen": 12.0})
    assert _where_the_time_went(auto, 42.0, 43.5) == ("time: sdp 30.0 s (relaxation 5.0 s (fo engine 4.0 s = 40 "
                                                      "passes' time), rounding 24.5 s), colgen 12.0 s, certify 1.5 s")
    other = SimpleNamespace(backend="colgen", report={}, timings={"master": 3.0})
    assert _where_the_time_went(other, 7.25, 8.0) == "time: colgen 7.2 s, certify 0.8 s"


def test_verify_without_its_data_is_missing_input_exit_2(workdir, capsys):
    assert main(["solve", SMALL, "--backend", "enumeration", "--out", "a.json"]) == 0
    doc = json.load(open("a.json"))
    del doc["problem"]["X"], doc["problem"]["y"]
    json.dump(doc, open("bare.json", "w"))
    assert main(["verify", "bare.json"]) == 2
    assert "does not embed its data: pass them with --data" in capsys.readouterr().err
    assert main(["verify", "bare.json", "--data", SMALL]) == 0     # the same data, given


@pytest.mark.parametrize("flag, field", [("--levels=-1e308,1e308", "levels"), ("--activation=1e200,0,0", "activation")])
def test_outputs_beyond_what_the_certificate_can_bound_are_refused_up_front(workdir, capsys, flag, field):
    """Neuron outputs that could overflow the verifier's error bounds: a message naming the field,
    not an internal error after the solve."""
    assert main(["solve", SMALL, flag, "--backend", "enumeration", "--out", "o.json"]) == 2
    err = capsys.readouterr().err
    assert f"error: {field}: neuron outputs could reach" in err and "internal error" not in err
    assert not os.path.exists("o.json")


def test_an_unknown_option_is_reported_by_its_command(workdir, capsys):
    with pytest.raises(SystemExit) as e:
        main(["compare", SMALL, "--out", "x.json"])
    assert e.value.code == 2
    assert "certqnn compare: error: unrecognized arguments: --out x.json" in capsys.readouterr().err


def test_a_sklearn_task_line_says_which_class_is_plus_one(workdir, capsys):
    assert main(["solve", "sklearn:iris,class=virginica,features=3", "--backend", "enumeration", "--out", "a.json"]) == 0
    assert "task: classification: not virginica -> -1 and virginica -> +1" in capsys.readouterr().err
