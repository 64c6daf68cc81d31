"""Using a certified network: preprocessing in the certificate, predict, export, held-out
evaluation, and the newcomer defects (each refused with exit 2 before any solve)."""
import json
import os
import shutil
import subprocess

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import certqnn.cli as cli
from certqnn.cli import main
from certqnn.errors import InvalidProblemError
from certqnn.trusted.certificate import Certificate

SMALL = "synthetic:n=30,d=6,seed=1"


@pytest.fixture
def no_solve(monkeypatch):
    """Fail the test if any solve starts: the error must come first."""
    def boom(*a, **k):
        raise AssertionError("a solve started before the input was refused")
    monkeypatch.setattr(cli, "solve", boom)
    monkeypatch.setattr(cli, "_run", boom)


def _raw_regression_csv(path, n=60, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, 3)) * [2.0, 50.0, 0.1] + [10.0, -300.0, 5.0]
    Z = (X - X.mean(0)) / X.std(0)
    y = 1000.0 + 40.0 * (Z[:, 0] + Z[:, 1] - Z[:, 2]) ** 2 + rng.normal(size=n)
    np.savetxt(path, np.column_stack([X, y]), delimiter=",", header="a,b,c,y", comments="")
    return X, y


def _predictions(capsys):
    return [line for line in capsys.readouterr().out.splitlines() if line]


def test_predict_returns_raw_units_for_a_raw_csv(workdir, capsys):
    X, y = _raw_regression_csv("d.csv")
    assert main(["solve", "d.csv", "--backend", "enumeration", "--beta", "0.01", "--out", "c.json"]) == 0
    assert "regression" in capsys.readouterr().err           # the chosen task is said
    cert = Certificate.read("c.json")
    assert json.load(open("c.json"))["version"] == 2
    pre = cert.preprocessing
    np.testing.assert_allclose(pre["x_mean"], X.mean(0))
    assert pre["y_mean"] == pytest.approx(y.mean()) and pre["y_scale"] == pytest.approx(y.std())
    assert main(["predict", "c.json", "d.csv"]) == 0
    pred = np.array(_predictions(capsys), float)
    assert pred.shape == (60,)
    np.testing.assert_allclose(pred, cert.decision_function(X) * y.std() + y.mean(), rtol=1e-12)
    # in y's units (an offset of 1000): wrong units would give a hugely negative R^2
    assert 1 - np.sum((pred - y) ** 2) / np.sum((y - y.mean()) ** 2) > 0.5
    assert main(["predict", "c.json", "d.csv", "--out", "p.csv"]) == 0
    np.testing.assert_allclose(np.loadtxt("p.csv", skiprows=1), pred)
    assert main(["verify", "c.json"]) == 0


def test_two_label_csv_is_classification_and_predict_gives_the_labels(workdir, capsys):
    rng = np.random.default_rng(1)
    X = rng.normal(size=(50, 3))
    labels = np.where(X[:, 0] * X[:, 1] > 0, 7, 3)
    np.savetxt("c.csv", np.column_stack([X, labels]), delimiter=",")
    assert main(["solve", "c.csv", "--backend", "enumeration", "--beta", "0.1", "--out", "c.json"]) == 0
    err = capsys.readouterr().err
    assert "classification" in err and "3 -> -1" in err and "7 -> +1" in err
    cert = Certificate.read("c.json")
    assert cert.preprocessing["label_map"] == {"-1": 3.0, "1": 7.0}
    assert sorted(set(cert.problem().y.tolist())) == [-1.0, 1.0]          # trained on +-1, not standardized
    assert main(["predict", "c.json", "c.csv"]) == 0
    pred = np.array(_predictions(capsys), int)
    assert set(pred) <= {3, 7} and np.mean(pred == labels) > 0.7


def test_task_flag_overrides_detection(workdir, capsys):
    rng = np.random.default_rng(2)
    np.savetxt("c.csv", np.column_stack([rng.normal(size=(20, 2)), np.arange(20) % 2]), delimiter=",")
    assert main(["solve", "c.csv", "--backend", "enumeration", "--task", "regression", "--out", "r.json"]) == 0
    assert "regression (--task regression)" in capsys.readouterr().err
    assert "y_mean" in Certificate.read("r.json").preprocessing


def test_predict_wrong_number_of_features_exit_2(workdir, capsys):
    _raw_regression_csv("d.csv")
    assert main(["solve", "d.csv", "--backend", "enumeration", "--out", "c.json"]) == 0
    np.savetxt("five.csv", np.ones((4, 5)), delimiter=",")
    capsys.readouterr()
    assert main(["predict", "c.json", "five.csv"]) == 2
    err = capsys.readouterr().err
    assert "5 columns" in err and "3 features" in err and "Traceback" not in err


def test_version_1_certificates_are_still_read_and_verified(workdir, capsys):
    assert main(["solve", SMALL, "--backend", "enumeration", "--out", "c.json"]) == 0
    doc = json.load(open("c.json"))
    del doc["preprocessing"]
    doc["version"] = 1
    json.dump(doc, open("v1.json", "w"))
    assert main(["verify", "v1.json"]) == 0
    assert Certificate.read("v1.json").preprocessing is None
    doc["preprocessing"] = {"x_mean": [0.0] * 6, "x_scale": [1.0] * 6}
    json.dump(doc, open("v1p.json", "w"))
    assert main(["verify", "v1p.json"]) == 2            # a version-2 section in a version-1 file


@pytest.mark.parametrize("mutate, field", [
    (lambda p: p.update(x_scale=[0.0] * 6), "preprocessing.x_scale"),
    (lambda p: p.update(x_mean=[0.0] * 5), "preprocessing.x_mean"),
    (lambda p: p.update(y_scale=-1.0), "preprocessing.y_scale"),
    (lambda p: p.update(label_map={"0": 1}), "preprocessing.label_map"),
])
def test_bad_preprocessing_is_refused_naming_the_field(workdir, capsys, mutate, field):
    assert main(["solve", SMALL, "--backend", "enumeration", "--out", "c.json"]) == 0
    doc = json.load(open("c.json"))
    mutate(doc["preprocessing"])
    json.dump(doc, open("bad.json", "w"))
    capsys.readouterr()
    assert main(["verify", "bad.json"]) == 2
    assert field in capsys.readouterr().err


def test_preprocessing_is_metadata_the_verifier_ignores(workdir):
    assert main(["solve", SMALL, "--backend", "enumeration", "--out", "c.json"]) == 0
    doc = json.load(open("c.json"))
    doc["preprocessing"]["x_mean"] = [123.0] * 6
    json.dump(doc, open("m.json", "w"))
    assert main(["verify", "m.json"]) == 0


def _export_predict(model, X):
    """The documented formula of certqnn.export, independently of certqnn."""
    xs = (X - np.asarray(model["x_mean"])) / np.asarray(model["x_scale"])
    t = float(model["step"]) * (xs @ np.asarray(model["codes"], float))
    a, b, c = model["activation"]
    f = ((a * t + b) * t + c) @ np.asarray(model["alpha"], float)
    return f * float(model["y_scale"]) + float(model["y_mean"])


def test_export_npz_and_json_reproduce_predict(workdir, capsys):
    _raw_regression_csv("d.csv")
    assert main(["solve", "d.csv", "--backend", "enumeration", "--levels", "kbit:2", "--out", "c.json"]) == 0
    capsys.readouterr()
    assert main(["predict", "c.json", "d.csv"]) == 0
    pred = np.array(_predictions(capsys), float)
    X = np.loadtxt("d.csv", delimiter=",", skiprows=1)[:, :3]
    assert main(["export", "c.json", "--format", "json", "--out", "m.json"]) == 0
    model = json.load(open("m.json"))
    codes = np.array(model["codes"])
    assert codes.dtype.kind == "i" and set(np.unique(codes)) <= {-3, -1, 1, 3}
    np.testing.assert_allclose(_export_predict(model, X), pred, rtol=1e-10)
    assert main(["export", "c.json", "--format", "npz", "--out", "m.npz"]) == 0
    with np.load("m.npz", allow_pickle=False) as f:
        npz = {k: f[k] for k in f.files}
    assert npz["codes"].dtype == np.int8
    npz["activation"] = npz["activation"].tolist()
    np.testing.assert_allclose(_export_predict(npz, X), pred, rtol=1e-10)


def test_export_c_header_compiles_and_matches_predict(workdir, capsys):
    cc = shutil.which("cc") or shutil.which("gcc")
    if cc is None:
        pytest.skip("no C compiler")
    rng = np.random.default_rng(1)
    X = rng.normal(size=(40, 3)) * 3 + 2
    labels = np.where(X[:, 0] * X[:, 1] > 4, 1, 0)
    np.savetxt("c.csv", np.column_stack([X, labels]), delimiter=",")
    assert main(["solve", "c.csv", "--backend", "enumeration", "--beta", "0.1", "--out", "c.json"]) == 0
    assert main(["export", "c.json", "--format", "c", "--out", "model.h"]) == 0
    assert "static const int8_t certqnn_codes" in open("model.h").read()
    assert subprocess.run([cc, "-std=c99", "-Wall", "-Werror", "-fsyntax-only", "model.h"]).returncode == 0
    rows = ",\n".join("{" + ", ".join(f"{v:.17g}f" for v in row) + "}" for row in X)
    open("main.c", "w").write('#include <stdio.h>\n#include "model.h"\n'
                              f"static const float X[{len(X)}][3] = {{{rows}}};\n"
                              "int main(void) { int i; for (i = 0; i < %d; ++i) printf(\"%%.9g\\n\", certqnn_predict(X[i])); return 0; }\n"
                              % len(X))
    if subprocess.run([cc, "-std=c99", "-O1", "main.c", "-o", "main"]).returncode != 0:
        pytest.skip("the compiler cannot link a program here")
    out = subprocess.run(["./main"], capture_output=True, text=True, check=True).stdout.split()
    f_c = np.array(out, float)
    f_py = Certificate.read("c.json").decision_function(X)
    np.testing.assert_allclose(f_c, f_py, rtol=1e-4, atol=1e-4 * np.abs(f_py).max())


def test_solve_test_fraction_reports_held_out_accuracy(workdir, capsys):
    assert main(["solve", "sklearn:breast_cancer,features=6", "--backend", "enumeration", "--test-fraction", "0.25"]) == 0
    out = capsys.readouterr().out
    assert "test accuracy" in out and "142 held-out samples" in out and "certified relative gap" in out
    assert main(["solve", "sklearn:diabetes,features=5", "--backend", "enumeration", "--test-fraction", "0.2"]) == 0
    assert "test R^2" in capsys.readouterr().out


def test_test_fraction_out_of_range_exit_2(workdir, no_solve, capsys):
    with pytest.raises(SystemExit) as e:
        main(["solve", SMALL, "--test-fraction", "1.5"])
    assert e.value.code == 2
    assert main(["solve", "synthetic:n=3,d=2,seed=0", "--test-fraction", "0.1"]) == 2


# -- the defect list: each exits 2 before any solve ----------------------------------------------
def test_all_constant_features_refused_before_solve(workdir, no_solve, capsys):
    np.savetxt("const.csv", np.column_stack([np.ones((10, 3)), np.arange(10.0)]), delimiter=",")
    for backend in ("sdp", "enumeration"):
        assert main(["solve", "const.csv", "--backend", backend]) == 2
        err = capsys.readouterr().err
        assert "DATA" in err and "constant" in err and "Traceback" not in err


def test_one_sample_refused_before_solve(workdir, no_solve, capsys):
    open("one.csv", "w").write("1,2,3\n")
    for extra in ([], ["--no-standardize"]):
        assert main(["solve", "one.csv", "--backend", "sdp"] + extra) == 2
        assert "n = 1" in capsys.readouterr().err


@pytest.mark.parametrize("backend", ["sdp", "colgen", "enumeration", "frank-wolfe", "ste"])
def test_negative_seed_refused_up_front(workdir, no_solve, capsys, backend):
    assert main(["solve", SMALL, "--backend", backend, "--seed", "-1"]) == 2
    assert "--seed" in capsys.readouterr().err or "seed" in capsys.readouterr().err


def test_colgen_options_refuse_a_negative_seed():
    from certqnn.backends.base import get_backend

    with pytest.raises(InvalidProblemError, match="seed"):
        get_backend("colgen").options(seed=-1)


def test_verify_on_a_directory_exit_2(workdir, capsys):
    os.mkdir("d")
    assert main(["verify", "d"]) == 2
    assert "directory" in capsys.readouterr().err


@pytest.mark.parametrize("content", ["{", '{"format": "other"}', ""])
def test_verify_json_on_a_bad_file_prints_a_json_error(workdir, capsys, content):
    open("bad.json", "w").write(content)
    assert main(["verify", "bad.json", "--json"]) == 2
    out = json.loads(capsys.readouterr().out)
    assert out["ok"] is False and out["error"] and out["field"]


def test_activation_zero_message_names_the_real_reason(workdir, no_solve, capsys):
    assert main(["solve", SMALL, "--activation", "0,0,0"]) == 2
    err = capsys.readouterr().err
    assert "cannot both be 0" in err and "three numbers" not in err


def test_text_cell_in_csv_is_named_with_its_position(workdir, no_solve, capsys):
    open("t.csv", "w").write("a,b,y\n1,2,0.5\n3,hello,1.5\n4,5,2\n")
    assert main(["solve", "t.csv"]) == 2
    err = capsys.readouterr().err
    assert "line 3, column 2 (counted from 1)" in err and "'hello' is not a number" in err
    assert "NaN" not in err and err.count("DATA:") == 1


@pytest.mark.parametrize("cell", ["nan", "NaN", "inf", "-Infinity"])
def test_a_non_finite_csv_cell_is_named_by_its_line_in_the_file(workdir, no_solve, capsys, cell):
    """NaN/inf cells are refused where the file has them (the line counts blank lines too), as text is."""
    open("t.csv", "w").write(f"a,b,y\n1,2,0.5\n\n3,{cell},1.5\n4,5,2\n")
    assert main(["solve", "t.csv"]) == 2
    err = capsys.readouterr().err
    assert f"line 4, column 2 (counted from 1): '{cell}' is not finite" in err and err.count("DATA:") == 1
    assert not os.path.exists("t.json")


def test_nan_in_data_position_says_how_it_is_counted(workdir, no_solve, capsys):
    X = np.ones((5, 3))
    X[2, 1] = np.nan
    np.savez("nan.npz", X=X, y=np.arange(5.0))
    assert main(["solve", "nan.npz", "--no-standardize"]) == 2
    assert "counted from 0" in capsys.readouterr().err


def test_time_limit_stop_is_reported(workdir, capsys):
    assert main(["solve", "synthetic:n=200,d=24,seed=0", "--backend", "colgen", "--time-limit", "0.001"]) == 0
    out = capsys.readouterr().out
    assert "(time limit)" in out and "the time limit stopped the run" in out


def test_convergence_plot_labels_what_each_curve_is(workdir, monkeypatch):
    pytest.importorskip("matplotlib")
    import certqnn.report as report

    seen = {}

    def capture(plt, fig, path, dpi=None):
        seen["labels"] = [t.get_text() for t in fig.axes[0].get_legend().get_texts()]
        plt.close(fig)
    monkeypatch.setattr(report, "_save", capture)
    traj = {"objective": [3.0, 2.0, 1.5], "fw_gap": [30.0, 20.0, 10.0]}
    report.plot_convergence(traj, "x.png", certified_gap=4e-11)
    labels = " | ".join(seen["labels"])
    assert "not the certified gap" in labels and "certified gap (upper - lower bound, as in the table): 4.00e-11" in labels


def _readme_blocks():
    import re

    text = open(os.path.join(os.path.dirname(__file__), os.pardir, "README.md"), encoding="utf-8").read()
    return re.findall(r"```python\n(.*?)```", text, flags=re.S)


def test_readme_python_examples_run_as_written(workdir):
    blocks = _readme_blocks()
    assert len(blocks) >= 3
    for code in blocks:
        scope = {"__name__": "readme_example"}
        exec(compile(code, "README.md", "exec"), scope)
        for name, obj in list(scope.items()):
            if name.startswith("test_") and callable(obj):
                obj()                   # the certqnn.testing example: hypothesis runs its examples
    assert os.path.exists("cert.json")


def test_benchmarks_are_all_listed_in_the_readme():
    root = os.path.join(os.path.dirname(__file__), os.pardir)
    readme = open(os.path.join(root, "README.md"), encoding="utf-8").read()
    for name in sorted(os.listdir(os.path.join(root, "benchmarks"))):
        if name.endswith(".py"):
            assert f"benchmarks/{name}" in readme, name


def test_plot_with_a_backend_without_history_is_refused_before_solve(workdir, no_solve, capsys):
    pytest.importorskip("matplotlib")
    assert main(["solve", SMALL, "--backend", "sdp", "--plot", "p.png"]) == 2
    assert "--plot" in capsys.readouterr().err
    assert not os.path.exists("p.png")


# -- invariants of the preprocessing section ------------------------------------------------------

_finite = st.floats(-1e3, 1e3, allow_nan=False)
_scale = st.floats(1e-3, 1e3, allow_nan=False)


@pytest.fixture(scope="module")
def small_cert():
    from certqnn import QNNProblem, certify, solve

    rng = np.random.default_rng(5)
    X = rng.normal(size=(25, 3))
    problem = QNNProblem(X, (X[:, 0] * X[:, 1]), beta=0.5)
    return certify(problem, solve(problem, "enumeration"))


@settings(max_examples=40, deadline=None)
@given(mean=st.lists(_finite, min_size=3, max_size=3), scale=st.lists(_scale, min_size=3, max_size=3),
       y_mean=_finite, y_scale=_scale, rows=st.lists(st.lists(_finite, min_size=3, max_size=3), min_size=1, max_size=5))
def test_preprocessing_round_trips_and_predict_is_the_affine_map(small_cert, mean, scale, y_mean, y_scale, rows):
    cert = Certificate.from_json(small_cert.to_json())
    cert.preprocessing = {"x_mean": mean, "x_scale": scale, "y_mean": y_mean, "y_scale": y_scale}
    again = Certificate.from_json(cert.to_json())
    assert json.loads(again.to_json()) == json.loads(cert.to_json())       # bit-for-bit round trip
    X = np.array(rows)
    expected = small_cert.network.predict((X - np.array(mean)) / np.array(scale),
                                          small_cert.problem().activation) * y_scale + y_mean
    np.testing.assert_array_equal(again.predict(X), expected)
    from certqnn.trusted.verify import verify
    assert verify(again).ok                                                 # metadata: the bounds still hold


def test_export_of_an_empty_network(workdir, capsys):
    """beta large enough that alpha = 0: the exports stay valid (C has no zero-length arrays)."""
    assert main(["solve", "synthetic:n=30,d=4,seed=0", "--backend", "enumeration", "--beta", "1e6", "--out", "z.json"]) == 0
    assert Certificate.read("z.json").U.shape == (4, 0)
    assert main(["export", "z.json", "--format", "json", "--out", "z.model.json"]) == 0
    assert json.load(open("z.model.json"))["width"] == 0
    assert main(["export", "z.json", "--format", "c", "--out", "z.h"]) == 0
    cc = shutil.which("cc") or shutil.which("gcc")
    if cc is not None:
        assert subprocess.run([cc, "-std=c99", "-Wall", "-Werror", "-fsyntax-only", "z.h"]).returncode == 0


@pytest.mark.parametrize("args, why", [
    (["--beta=1e-300"], "use a larger --beta"),               # beta below what the optimality condition resolves
    (["--backend", "ste"], "far from feasible"),              # a heuristic's gradient as its dual point
    ([], None),                                               # exact: no note
])
def test_solve_explains_a_weak_lower_bound(workdir, capsys, args, why):
    """When the scaling lemma had to shrink the dual point (rho_bar >> beta) and the gap stays large,
    solve says so and why; a tight certificate gets no such line."""
    assert main(["solve", "synthetic:n=200,d=8,seed=0", *args]) == 0
    out = capsys.readouterr().out
    if why is None:
        assert "note: the dual point" not in out
    else:
        assert "note: the dual point has rho_bar = " in out and why in out
