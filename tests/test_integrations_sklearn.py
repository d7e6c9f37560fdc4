"""log_estimator with real scikit-learn models: config from get_params, exact test scores."""

from __future__ import annotations

import math

import pytest

import nbtrack

pytest.importorskip("sklearn", reason="scikit-learn is not installed (pip install scikit-learn)")

from sklearn import metrics
from sklearn.cluster import KMeans
from sklearn.datasets import load_diabetes, load_iris
from sklearn.linear_model import LogisticRegression, Ridge
from sklearn.model_selection import train_test_split
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.svm import SVC

from nbtrack.integrations.sklearn import log_estimator


def split(loader):
    X, y = loader(return_X_y=True)
    return train_test_split(X, y, test_size=0.3, random_state=0)


def test_a_classifier_gets_its_params_and_scores_in_its_own_run(store_dir):
    X_train, X_test, y_train, y_test = split(load_iris)
    clf = LogisticRegression(C=0.5, max_iter=200).fit(X_train, y_train)
    scores = log_estimator(clf, X_test, y_test)

    expected = {
        "accuracy": metrics.accuracy_score(y_test, clf.predict(X_test)),
        "f1_macro": metrics.f1_score(y_test, clf.predict(X_test), average="macro"),
        "log_loss": metrics.log_loss(y_test, clf.predict_proba(X_test)),
    }
    assert scores == expected
    (row,) = nbtrack.runs().to_dict("records")
    assert (row["name"], row["status"]) == ("LogisticRegression", "finished")
    assert {k: row[f"summary.{k}"] for k in expected} == expected
    assert (row["config.estimator"], row["config.C"], row["config.max_iter"]) == (
        "LogisticRegression", 0.5, 200)
    config = nbtrack.run_record("LogisticRegression")["config"]
    assert "class_weight" in config and config["class_weight"] is None
    h = nbtrack.history("LogisticRegression")
    assert dict(zip(h["key"], h["value"])) == expected and set(h["step"]) == {0}


def test_a_regressor_in_an_active_run_gets_r2_mae_rmse(store_dir):
    X_train, X_test, y_train, y_test = split(load_diabetes)
    model = Ridge(alpha=0.3).fit(X_train, y_train)
    run = nbtrack.init(name="ridge", config={"dataset": "diabetes"})
    scores = log_estimator(model, X_test, y_test)
    assert not run._finished  # the caller's run stays open
    run.finish()
    predicted = model.predict(X_test)
    assert scores == {"r2": metrics.r2_score(y_test, predicted),
                      "mae": metrics.mean_absolute_error(y_test, predicted),
                      "rmse": math.sqrt(metrics.mean_squared_error(y_test, predicted))}
    record = nbtrack.run_record("ridge")
    assert record["config"]["alpha"] == 0.3 and record["config"]["dataset"] == "diabetes"
    assert record["summary"] == scores


def test_a_pipeline_keeps_plain_nested_params_and_no_objects(store_dir):
    X_train, X_test, y_train, y_test = split(load_iris)
    pipe = make_pipeline(StandardScaler(), SVC(C=2.0)).fit(X_train, y_train)
    run = nbtrack.init(name="pipe")
    scores = log_estimator(pipe, X_test, y_test, run=run)
    run.finish()
    config = nbtrack.run_record("pipe")["config"]
    assert config["svc__C"] == 2.0 and config["standardscaler__with_mean"] is True
    assert "svc" not in config and "steps" not in config  # estimator objects are not config
    assert set(scores) == {"accuracy", "f1_macro"}  # SVC without probability=True has no log loss


def test_params_only_and_misuse(store_dir):
    assert log_estimator(KMeans(n_clusters=3)) == {}
    assert nbtrack.run_record("KMeans")["config"]["n_clusters"] == 3
    X_train, X_test, _, y_test = split(load_iris)
    with pytest.raises(nbtrack.NbtrackError, match="not fitted yet"):
        log_estimator(LogisticRegression(), X_test, y_test)
    with pytest.raises(nbtrack.NbtrackError, match="both X_test and y_test"):
        log_estimator(LogisticRegression(), X_test)
    with pytest.raises(nbtrack.NbtrackError, match="neither"):
        log_estimator(KMeans(n_clusters=3, n_init=1).fit(X_train), X_test, y_test)
