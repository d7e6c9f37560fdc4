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
        "roc_auc": metrics.roc_auc_score(y_test, clf.predict_proba(X_test), multi_class="ovr"),
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


def table(run_name, key):
    rows = nbtrack.media(nbtrack.run_record(run_name)["id"], key)
    assert len(rows) == 1
    return nbtrack.load_media(rows.iloc[0])


def finite(values):
    return [None if not math.isfinite(v) else float(v) for v in values]


def test_a_classifier_gets_confusion_matrix_roc_and_pr_tables_as_sklearn_computes_them(store_dir):
    X_train, X_test, y_train, y_test = split(load_iris)
    clf = LogisticRegression(C=0.05, max_iter=200).fit(X_train, y_train)
    log_estimator(clf, X_test, y_test)

    matrix = metrics.confusion_matrix(y_test, clf.predict(X_test))
    cm = table("LogisticRegression", "confusion_matrix")
    assert list(cm.columns) == ["actual", "predicted", "count"]
    assert cm.values.tolist() == [[a, p, matrix[a, p]] for a in range(3) for p in range(3)]
    assert cm["count"].sum() == len(y_test)

    proba = clf.predict_proba(X_test)
    roc = table("LogisticRegression", "roc_curve")
    pr = table("LogisticRegression", "pr_curve")
    for label in range(3):
        fpr, tpr, thresholds = metrics.roc_curve(y_test == label, proba[:, label])
        mine = roc[roc["class"] == label]
        assert (list(mine["fpr"]), list(mine["tpr"])) == (list(fpr), list(tpr))
        assert [None if t != t else t for t in mine["threshold"]] == finite(thresholds)
        precision, recall, cuts = metrics.precision_recall_curve(y_test == label, proba[:, label])
        mine = pr[pr["class"] == label]
        assert (list(mine["recall"]), list(mine["precision"])) == (list(recall), list(precision))
        assert list(mine["threshold"])[:-1] == list(cuts)
    # Tables sit at the step of the scores.
    assert set(nbtrack.media(nbtrack.run_record("LogisticRegression")["id"])["step"]) == {0}


def test_a_classifier_without_probabilities_uses_its_decision_function(store_dir):
    X_train, X_test, y_train, y_test = split(load_iris)
    binary_train, binary_test = y_train == 0, y_test == 0
    pipe = make_pipeline(StandardScaler(), SVC(C=2.0)).fit(X_train, binary_train)
    run = nbtrack.init(name="svc")
    log_estimator(pipe, X_test, binary_test)
    run.finish()
    decision = pipe.decision_function(X_test)
    roc = table("svc", "roc_curve")
    fpr, tpr, _ = metrics.roc_curve(binary_test, decision)
    positive = roc[roc["class"] == True]  # noqa: E712 (the class labels are booleans here)
    assert (list(positive["fpr"]), list(positive["tpr"])) == (list(fpr), list(tpr))
    fpr, tpr, _ = metrics.roc_curve(~binary_test, -decision)
    negative = roc[roc["class"] == False]  # noqa: E712
    assert (list(negative["fpr"]), list(negative["tpr"])) == (list(fpr), list(tpr))


def test_a_regressor_gets_its_residuals_row_by_row(store_dir):
    X_train, X_test, y_train, y_test = split(load_diabetes)
    model = Ridge(alpha=0.3).fit(X_train, y_train)
    log_estimator(model, X_test, y_test)
    residuals = table("Ridge", "residuals")
    predicted = model.predict(X_test)
    assert residuals.values.tolist() == [[a, p, a - p] for a, p in zip(y_test.tolist(), predicted.tolist())]


def test_large_test_sets_keep_a_sample_of_residuals(store_dir, monkeypatch):
    from nbtrack.integrations import sklearn as integration

    monkeypatch.setattr(integration, "MAX_RESIDUAL_ROWS", 20)
    X_train, X_test, y_train, y_test = split(load_diabetes)
    model = Ridge().fit(X_train, y_train)
    log_estimator(model, X_test, y_test)
    residuals = table("Ridge", "residuals")
    assert len(residuals) == 20 and set(residuals["actual"]) <= set(y_test.tolist())


def test_plots_false_logs_only_the_scores(store_dir):
    X_train, X_test, y_train, y_test = split(load_iris)
    log_estimator(LogisticRegression(max_iter=200).fit(X_train, y_train), X_test, y_test, plots=False)
    assert len(nbtrack.media()) == 0


def test_log_model_stores_the_fitted_estimator_and_it_predicts_the_same(store_dir):
    import pickle

    X_train, X_test, y_train, y_test = split(load_iris)
    clf = LogisticRegression(max_iter=200).fit(X_train, y_train)
    run = nbtrack.init(name="keep-model")
    scores = log_estimator(clf, X_test, y_test, log_model=True, model_name="iris-clf")
    run.finish()
    art = nbtrack.use_artifact("iris-clf:latest")
    assert art.type == "model" and art.files[0]["path"] == "model.pkl"
    assert art.metadata["estimator"] == "LogisticRegression"
    assert {k: art.metadata[k] for k in scores} == scores
    loaded = pickle.loads(art.file().read_bytes())
    assert (loaded.predict_proba(X_test) == clf.predict_proba(X_test)).all()
    assert nbtrack.lineage("iris-clf")["run_id"].tolist() == [run.id]


def test_an_estimator_that_cannot_be_pickled_says_so_and_starts_no_run(store_dir):
    from sklearn.preprocessing import FunctionTransformer

    X_train, X_test, y_train, y_test = split(load_iris)
    pipe = make_pipeline(FunctionTransformer(lambda X: X * 2), LogisticRegression(max_iter=200))
    pipe.fit(X_train, y_train)
    with pytest.raises(nbtrack.NbtrackError, match=r"cannot be pickled.*log_model=False"):
        log_estimator(pipe, X_test, y_test, log_model=True)
    assert len(nbtrack.runs()) == 0


def test_a_plot_that_fails_warns_once_and_the_scores_are_still_logged(store_dir, monkeypatch):
    X_train, X_test, y_train, y_test = split(load_iris)
    clf = LogisticRegression(max_iter=200).fit(X_train, y_train)

    def broken(*args, **kwargs):
        raise MemoryError("no room for the curve")

    monkeypatch.setattr(metrics, "roc_curve", broken)
    with pytest.warns(nbtrack.NbtrackWarning, match="no room for the curve"):
        scores = log_estimator(clf, X_test, y_test)
    record = nbtrack.run_record("LogisticRegression")
    assert record["status"] == "finished" and record["summary"] == scores


def images(run_name):
    import numpy as np

    rows = nbtrack.media(nbtrack.run_record(run_name)["id"], kind="image")
    return {row["key"]: np.asarray(nbtrack.load_media(row)) for _, row in rows.iterrows()}


def test_with_matplotlib_each_table_is_also_drawn(store_dir):
    pytest.importorskip("matplotlib", reason="matplotlib is not installed")
    X_train, X_test, y_train, y_test = split(load_iris)
    log_estimator(LogisticRegression(max_iter=200).fit(X_train, y_train), X_test, y_test)
    X_train, X_test, y_train, y_test = split(load_diabetes)
    log_estimator(Ridge().fit(X_train, y_train), X_test, y_test)

    drawn = images("LogisticRegression")
    assert set(drawn) == {"confusion_matrix_plot", "roc_curve_plot", "pr_curve_plot"}
    assert set(images("Ridge")) == {"residuals_plot"}
    for pixels in drawn.values():
        assert pixels.shape[0] > 100 and pixels.shape[1] > 100
        assert len({tuple(p) for p in pixels.reshape(-1, pixels.shape[-1])[::50]}) > 3  # not blank


def test_without_matplotlib_the_tables_are_logged_and_no_images(store_dir, monkeypatch):
    import importlib.util

    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec",
                        lambda name, *a: None if name == "matplotlib" else real(name, *a))
    X_train, X_test, y_train, y_test = split(load_iris)
    log_estimator(LogisticRegression(max_iter=200).fit(X_train, y_train), X_test, y_test)
    kinds = nbtrack.media(nbtrack.run_record("LogisticRegression")["id"])
    assert sorted(kinds["key"]) == ["confusion_matrix", "pr_curve", "roc_curve"]
    assert set(kinds["kind"]) == {"table"}


def test_a_binary_classifier_gets_the_roc_auc_of_its_positive_class(store_dir):
    X_train, X_test, y_train, y_test = split(load_iris)
    clf = LogisticRegression(C=0.01, max_iter=200).fit(X_train, y_train == 2)
    scores = log_estimator(clf, X_test, y_test == 2, plots=False)
    assert scores["roc_auc"] == metrics.roc_auc_score(y_test == 2, clf.predict_proba(X_test)[:, 1])
    assert 0.5 < scores["roc_auc"] < 1.0


def test_a_test_set_with_one_class_has_no_roc_auc_and_still_its_other_scores(store_dir):
    X_train, X_test, y_train, y_test = split(load_iris)
    clf = LogisticRegression(max_iter=200).fit(X_train, y_train == 2)
    only_positive = y_test == 2
    scores = log_estimator(clf, X_test[only_positive], y_test[only_positive] == 2, plots=False)
    assert set(scores) == {"accuracy", "f1_macro", "log_loss"}


def test_a_multiclass_test_set_missing_a_class_has_no_roc_auc(store_dir):
    X_train, X_test, y_train, y_test = split(load_iris)
    clf = LogisticRegression(max_iter=200).fit(X_train, y_train)
    two_classes = y_test != 1
    scores = log_estimator(clf, X_test[two_classes], y_test[two_classes], plots=False)
    assert set(scores) == {"accuracy", "f1_macro", "log_loss"}
