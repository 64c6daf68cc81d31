"""Multi-class by one-vs-rest (docs/cli.md, multi-class files): K certified binary parts in one
version-3 file; verify accepts it only if every part holds; predictions are the arg-max."""
import json

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from certqnn import Certificate, MultiClassCertificate, read_certificate, verify, verify_multiclass
from certqnn.cli import main
from certqnn.datasets import load
from certqnn.errors import CertificateFormatError, InvalidProblemError
from certqnn.one_vs_rest import class_labels, fit_one_vs_rest
from certqnn.trusted.certificate import certificate_from_json

IRIS_CLASSES = ["setosa", "versicolor", "virginica"]


@pytest.fixture
def workdir(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("CERTQNN_PROGRESS", "0")
    return tmp_path


@pytest.fixture(scope="module")
def iris_file(tmp_path_factory):
    """The done criterion's command: solve sklearn:iris --loss logistic --backend colgen."""
    path = tmp_path_factory.mktemp("iris") / "m.json"
    assert main(["solve", "sklearn:iris", "--loss", "logistic", "--backend", "colgen", "--quiet",
                 "--out", str(path)]) == 0
    return path


def _write(doc, path):
    path.write_text(json.dumps(doc))
    return str(path)


def test_iris_three_class_certificate_verifies(iris_file, capsys):
    doc = json.loads(iris_file.read_text())
    assert doc["version"] == 3 and doc["kind"] == "one-vs-rest" and doc["classes"] == IRIS_CLASSES
    assert len(doc["parts"]) == 3
    for label, part in zip(IRIS_CLASSES, doc["parts"]):
        # every part is a complete certificate of its own binary problem
        assert part["version"] == 2 and part["preprocessing"]["label_map"] == {"-1": f"not {label}", "1": label}
        assert part["relative_gap"] <= 1e-6      # colgen certifies each part optimal
        y = np.array(part["problem"]["y"])
        assert set(y.tolist()) == {-1.0, 1.0} and int(np.sum(y > 0)) == 50
        assert verify(Certificate.from_dict(part)).ok
    capsys.readouterr()
    assert main(["verify", str(iris_file)]) == 0
    out = capsys.readouterr().out.splitlines()
    for label in IRIS_CLASSES:
        assert any(line.startswith(f"[ok] class {label}: ") and "<= p* <=" in line and "rel gap" in line
                   for line in out), out
    assert "certificate holds" in out[-1]


def test_solve_prints_one_row_per_class_and_the_total(workdir, capsys):
    assert main(["solve", "sklearn:iris", "--loss", "logistic", "--backend", "colgen", "--quiet"]) == 0
    captured = capsys.readouterr()
    rows = [line for line in captured.out.splitlines() if line.startswith(("class ", "total"))]
    assert [r.split()[1] for r in rows[:3]] == IRIS_CLASSES and rows[3].startswith("total (sum)")
    assert "class 2/3 (versicolor) vs rest" in captured.err


def test_tampered_part_fails_naming_its_class(iris_file, workdir, capsys):
    doc = json.loads(iris_file.read_text())
    part = doc["parts"][1]
    part["lower_bound"] = part["upper_bound"] * 1.01 + 1e-3
    path = _write(doc, workdir / "t.json")
    capsys.readouterr()
    assert main(["verify", path]) == 1
    out = capsys.readouterr().out
    assert "[FAIL] class versicolor: failed lower_bound" in out
    assert "[ok] class setosa" in out and "[ok] class virginica" in out
    assert "does NOT hold: class versicolor failed" in out
    verdict = verify_multiclass(read_certificate(path))
    assert not verdict.ok and verdict.failed_classes == ["versicolor"]
    assert main(["verify", path, "--json"]) == 1
    js = json.loads(capsys.readouterr().out)
    assert js["ok"] is False and [p["ok"] for p in js["parts"]] == [True, False, True]


def test_swapped_part_networks_fail(iris_file, workdir, capsys):
    """A part's network and bounds belong to its own labels: moving class 0's network into class 2's
    part (bounds kept) breaks that part's upper bound."""
    doc = json.loads(iris_file.read_text())
    doc["parts"][2]["network"] = doc["parts"][0]["network"]
    assert main(["verify", _write(doc, workdir / "s.json")]) == 1
    assert "[FAIL] class virginica" in capsys.readouterr().out


@pytest.mark.parametrize("mutate, field", [
    (lambda d: d["parts"][2]["network"].__setitem__("U", "x"), "parts[2].network.U"),
    (lambda d: d["parts"][0].pop("lower_bound"), "parts[0].lower_bound"),
    (lambda d: d["parts"].pop(), "parts"),
    (lambda d: d.__setitem__("classes", ["a", "a", "b"]), "classes"),
    (lambda d: d.__setitem__("classes", [1, 1.0, 2]), "classes"),
    (lambda d: d["classes"].__setitem__(1, True), "classes[1]"),
    (lambda d: d["parts"][1]["preprocessing"]["label_map"].__setitem__("1", "setosa"), "parts[1].preprocessing.label_map.1"),
    (lambda d: d["preprocessing"]["x_mean"].__setitem__(0, 99.0), "parts[0].preprocessing.x_mean"),
    (lambda d: d["parts"][1]["problem"]["X"][0].__setitem__(0, 5.0), "parts[1].problem.X"),
    (lambda d: d.__setitem__("kind", "all-pairs"), "kind"),
    (lambda d: d["parts"][0].__setitem__("version", 3), "parts[0].version"),
])
def test_malformed_file_exit_2_naming_the_field(iris_file, workdir, capsys, mutate, field):
    doc = json.loads(iris_file.read_text())
    mutate(doc)
    path = _write(doc, workdir / "bad.json")
    with pytest.raises(CertificateFormatError) as info:
        read_certificate(path)
    assert info.value.field == field
    assert main(["verify", path]) == 2
    assert f"'{field}'" in capsys.readouterr().err


def test_single_problem_reader_refuses_a_multiclass_file_with_a_pointer(iris_file):
    with pytest.raises(CertificateFormatError, match="read_certificate"):
        Certificate.read(str(iris_file))


def test_argmax_prediction_agrees_with_the_part_networks(iris_file, workdir, capsys):
    mc = read_certificate(str(iris_file))
    raw = load("sklearn:iris", standardize=False, task="multiclass")
    # independent recomputation: standardize with the file's numbers, sigma(t) = t^2, one column per part
    Xs = (raw.X - np.array(mc.preprocessing["x_mean"])) / np.array(mc.preprocessing["x_scale"])
    scores = np.column_stack([(Xs @ p.U) ** 2 @ p.alpha for p in mc.parts])
    expected = [IRIS_CLASSES[i] for i in np.argmax(scores, axis=1)]
    assert mc.predict(raw.X).tolist() == expected
    np.testing.assert_allclose(mc.decision_function(raw.X), scores, rtol=1e-12, atol=1e-12)
    # each part's own prediction (its label_map) says "class k" exactly where its output is > 0
    for k, part in enumerate(mc.parts):
        own = part.predict(raw.X)
        assert set(own[scores[:, k] > 0]) <= {IRIS_CLASSES[k]}
    assert np.mean(np.array(expected) == np.array([IRIS_CLASSES[int(i)] for i in raw.y])) > 0.5
    capsys.readouterr()
    assert main(["predict", str(iris_file), "sklearn:iris"]) == 0
    assert capsys.readouterr().out.split() == expected


@settings(max_examples=25, deadline=None)
@given(st.lists(st.lists(st.floats(-5, 5), min_size=4, max_size=4), min_size=1, max_size=8))
def test_predicted_class_has_the_largest_part_output(iris_file, rows):
    mc = read_certificate(str(iris_file))
    X = np.array(rows)
    f = mc.decision_function(X)
    for label, row in zip(mc.predict(X), f):
        assert row[mc.classes.index(label)] == row.max()


def test_library_fit_matches_and_round_trips():
    data = load("sklearn:iris,n=60,seed=2", task="multiclass")
    mc = fit_one_vs_rest(data.X, data.y, data.preprocessing["classes"], backend="enumeration",
                         preprocessing=data.preprocessing, loss="hinge", beta=2.0)
    again = certificate_from_json(mc.to_json())
    assert isinstance(again, MultiClassCertificate) and again.classes == mc.classes
    verdict = verify_multiclass(again)
    assert verdict.ok and len(verdict.verdicts) == 3
    for k, part in enumerate(again.parts):
        np.testing.assert_array_equal(part.problem().y, class_labels(data.y, k))
    # verify with the labels supplied separately (parts without embedded data): same verdict
    X = again.parts[0].problem_doc["X"]
    labels = np.array([mc.classes[int(i)] for i in data.y], dtype=object)
    for part in again.parts:
        part.problem_doc.pop("X"), part.problem_doc.pop("y")
    assert verify_multiclass(again, data=(X, labels)).ok
    wrong = labels.copy()
    wrong[labels == mc.classes[0]] = mc.classes[2]     # every setosa row relabelled virginica
    bad = verify_multiclass(again, data=(X, wrong))
    assert not bad.ok and bad.failed_classes == ["setosa", "virginica"]   # the data hash differs


def test_one_vs_rest_needs_a_classification_loss():
    data = load("sklearn:iris", task="multiclass")
    with pytest.raises(InvalidProblemError, match="classification loss"):
        fit_one_vs_rest(data.X, data.y, data.preprocessing["classes"], loss="squared")


def test_multiclass_loading():
    iris = load("sklearn:iris", task="multiclass")
    assert iris.task == "multiclass" and iris.preprocessing["classes"] == IRIS_CLASSES
    assert np.bincount(iris.y.astype(int)).tolist() == [50, 50, 50]
    assert load("sklearn:wine", task="multiclass").preprocessing["classes"] == ["class_0", "class_1", "class_2"]
    assert load("sklearn:digits,n=200", task="multiclass").preprocessing["classes"] == list(range(10))
    # class= keeps one class against the rest; two-class sets stay binary
    one = load("sklearn:iris,class=1", task="multiclass")
    assert one.task == "classification" and one.preprocessing["label_map"]["1"] == "versicolor"
    assert load("sklearn:breast_cancer", task="multiclass").task == "classification"
    assert load("sklearn:iris", task="classification").task == "classification"


def test_csv_with_three_labels_under_task_multiclass(workdir, capsys):
    rng = np.random.default_rng(0)
    X = rng.standard_normal((45, 3))
    y = np.repeat([2.0, 5.0, 7.0], 15)
    np.savetxt("d.csv", np.column_stack([X, y]), delimiter=",")
    assert main(["solve", "d.csv", "--loss", "logistic", "--task", "multiclass", "--backend", "enumeration",
                 "--out", "m.json", "--quiet"]) == 0
    assert read_certificate("m.json").classes == [2, 5, 7]
    assert main(["verify", "m.json"]) == 0
    assert "[ok] class 5:" in capsys.readouterr().out
    # without --task multiclass a file with three labels is not silently binarized
    assert main(["solve", "d.csv", "--loss", "logistic", "--backend", "enumeration", "--quiet"]) == 2


def test_multiclass_refusals(iris_file, workdir, capsys):
    assert main(["export", str(iris_file), "--format", "json"]) == 2
    assert "multi-class" in capsys.readouterr().err
    assert main(["solve", "sklearn:iris", "--loss", "squared", "--task", "multiclass", "--quiet"]) == 2
    assert main(["compare", "sklearn:iris", "--loss", "logistic", "--task", "multiclass", "--quiet"]) == 2


def test_test_fraction_reports_argmax_accuracy(workdir, capsys):
    assert main(["solve", "sklearn:iris", "--loss", "logistic", "--backend", "colgen", "--test-fraction", "0.2",
                 "--quiet"]) == 0
    assert "arg-max of the 3 part networks" in capsys.readouterr().out


def test_verify_with_data_flag(iris_file, workdir, capsys):
    """--data gives the K-class data: the same verdict; other data (a subsample) fail every part."""
    assert main(["verify", str(iris_file), "--data", "sklearn:iris"]) == 0
    assert main(["verify", str(iris_file), "--data", "sklearn:iris,n=120"]) == 1
    out = capsys.readouterr().out
    assert out.count("[FAIL] class") == 3
    assert main(["verify", str(iris_file), "--data", "sklearn:breast_cancer"]) == 2
