"""The scikit-learn estimators: sklearn's own estimator checks, pipelines, grid search, units."""
import numpy as np
import pytest
from sklearn.model_selection import GridSearchCV, cross_val_score
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import MinMaxScaler
from sklearn.utils.estimator_checks import parametrize_with_checks

from certqnn.sklearn import QuantizedNetClassifier, QuantizedNetRegressor, auto_backend


@parametrize_with_checks([QuantizedNetRegressor(), QuantizedNetClassifier()])
def test_sklearn_estimator_checks(estimator, check):
    check(estimator)


def _two_class(n=60, d=3, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, d)) * 5 + 10
    # x0 * x1 = ((x0 + x1)^2 - (x0 - x1)^2) / 4: two binary neurons represent this rule
    y = np.where((X[:, 0] - 10) * (X[:, 1] - 10) > 0, "yes", "no")
    return X, y


def test_classifier_maps_any_two_labels_and_certifies():
    X, y = _two_class()
    clf = QuantizedNetClassifier().fit(X, y)
    assert list(clf.classes_) == ["no", "yes"]
    assert set(clf.predict(X)) <= {"no", "yes"}
    assert clf.score(X, y) > 0.9        # a quadratic network separates this quadratic rule
    assert clf.lower_bound_ <= clf.upper_bound_
    assert clf.gap_ == pytest.approx(clf.upper_bound_ - clf.lower_bound_, rel=1e-9, abs=1e-12)
    assert clf.certificate_.lower_bound == clf.lower_bound_
    assert clf.backend_used_ == "enumeration"
    # the certificate carries the preprocessing: it predicts the same labels on raw data
    assert list(clf.certificate_.predict(X)) == list(clf.predict(X))


def test_classifier_three_classes_one_vs_rest_certified():
    """K > 2 classes: K certified one-vs-rest networks, arg-max prediction, a verifying multi-class
    certificate; the bounds are the sums over the parts."""
    from sklearn.datasets import load_iris

    from certqnn import MultiClassCertificate, verify_multiclass
    from certqnn.trusted.certificate import certificate_from_json

    X, y = load_iris(return_X_y=True)
    names = np.array(["setosa", "versicolor", "virginica"])[y]
    clf = QuantizedNetClassifier(loss="logistic").fit(X, names)
    assert list(clf.classes_) == ["setosa", "versicolor", "virginica"]
    f = clf.decision_function(X)
    assert f.shape == (150, 3)
    assert list(clf.predict(X)) == list(clf.classes_[np.argmax(f, axis=1)])
    cert = clf.certificate_
    assert isinstance(cert, MultiClassCertificate) and cert.classes == list(clf.classes_)
    assert clf.lower_bound_ == pytest.approx(sum(p.lower_bound for p in cert.parts), rel=1e-15)
    assert clf.lower_bound_ <= clf.upper_bound_
    # the certificate (data not embedded) verifies with the data, and predicts what the estimator does
    again = certificate_from_json(cert.to_json())
    Xs = (X - clf.x_mean_) / clf.x_scale_
    assert verify_multiclass(again, data=(Xs, names.astype(object))).ok
    assert list(again.predict(X)) == list(clf.predict(X))
    proba = clf.predict_proba(X)
    np.testing.assert_allclose(proba.sum(axis=1), 1.0)
    assert list(clf.classes_[np.argmax(proba, axis=1)]) == list(clf.predict(X))
    assert clf.score(X, names) > 0.5


def test_predict_proba_exists_only_for_the_logistic_loss():
    assert not hasattr(QuantizedNetClassifier(), "predict_proba")
    assert hasattr(QuantizedNetClassifier(loss="logistic"), "predict_proba")


def test_regressor_predicts_in_the_units_of_y():
    rng = np.random.default_rng(1)
    X = rng.standard_normal((80, 3))
    y = 1000.0 + 50.0 * ((X[:, 0] + X[:, 1] - X[:, 2]) ** 2)
    reg = QuantizedNetRegressor(beta=0.01).fit(X, y)
    assert reg.y_mean_ == pytest.approx(y.mean()) and reg.y_scale_ == pytest.approx(y.std())
    Xs = (X - X.mean(axis=0)) / X.std(axis=0)
    f = reg.network_.predict(Xs, reg.problem_.activation)       # the certified network, standardized units
    np.testing.assert_allclose(reg.predict(X), f * y.std() + y.mean(), rtol=1e-12)
    assert reg.score(X, y) > 0.5
    np.testing.assert_allclose(reg.certificate_.predict(X), reg.predict(X), rtol=1e-12)


def test_auto_backend_by_size():
    assert auto_backend(12) == "enumeration"
    assert auto_backend(13) == "colgen"
    assert auto_backend(32) == "colgen"
    assert auto_backend(33) == "sdp"


def test_constant_features_give_the_trivial_network():
    X = np.ones((10, 3))
    y = np.linspace(0, 1, 10)
    reg = QuantizedNetRegressor().fit(X, y)
    assert reg.network_ is None and reg.certificate_ is None
    np.testing.assert_allclose(reg.predict(X), y.mean())


def test_pipeline_gridsearch_and_cross_val_score():
    X, y = _two_class(n=60, d=2)
    pipe = make_pipeline(MinMaxScaler(), QuantizedNetClassifier())
    pipe.fit(X, y)
    assert pipe.score(X, y) > 0.8
    grid = GridSearchCV(QuantizedNetClassifier(), {"beta": [0.1, 10.0]}, cv=3).fit(X, y)
    assert grid.best_params_["beta"] in (0.1, 10.0)
    scores = cross_val_score(QuantizedNetClassifier(), X, y, cv=3)
    assert scores.shape == (3,) and np.all(scores > 0.6)
