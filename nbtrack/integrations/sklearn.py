"""scikit-learn: ``log_estimator(model, X_test, y_test)`` records an estimator, its test scores,
its evaluation tables (confusion matrix, ROC and PR curves, residuals) and, when asked, the model file."""

from __future__ import annotations

import math
import pickle
import tempfile
from pathlib import Path
from typing import Any

from .. import _run
from ..errors import NbtrackError
from ._common import guarded, plain_params, requires

__all__ = ["log_estimator"]


#: Residual tables keep at most this many test rows (a fixed random sample beyond it).
MAX_RESIDUAL_ROWS = 10_000


def log_estimator(
    estimator: Any, X_test: Any = None, y_test: Any = None, run: Any = None, *,
    plots: bool = True, log_model: bool = False, model_name: str | None = None,
) -> dict[str, float]:
    """Put an estimator's settings in a run's config and, given test data, its scores.

    Config gets ``estimator`` (the class name) and every ``get_params()`` value that is
    a number, text, boolean or None (nested ones as ``step__param``). With test data
    the standard scores are logged once (so they are also the run's summary):
    classifiers ``accuracy``, ``f1_macro`` and, with ``predict_proba``, ``log_loss`` and
    ``roc_auc`` (one-vs-rest, macro-averaged for several classes, as MLflow's autolog);
    regressors ``r2``, ``mae`` and ``rmse``.

    With ``plots`` (default) the evaluation W&B's sklearn plots and MLflow's autolog
    show are logged at the same step, as :class:`nbtrack.Table`:
    classifiers get ``confusion_matrix`` (``actual, predicted, count`` for every
    pair of classes) and, with ``predict_proba`` or ``decision_function``,
    ``roc_curve`` (``class, fpr, tpr, threshold``) and ``pr_curve``
    (``class, recall, precision, threshold``), one-vs-rest per class, the points
    ``sklearn.metrics`` computes; regressors get ``residuals``
    (``actual, predicted, residual``; at most :data:`MAX_RESIDUAL_ROWS` rows).
    When matplotlib is installed each table is also drawn, as MLflow's autolog
    draws it, into an :class:`nbtrack.Image` under ``<table>_plot``.

    With ``log_model=True`` the fitted estimator is pickled (``model.pkl``, as
    MLflow) and logged as a version of the ``"model"`` artifact ``model_name``
    (default ``model-<run id>``), with its class, scikit-learn version and scores
    as metadata.

    The run is ``run``, else the active one (a ``%%track`` cell's, or ``nbtrack.init``'s);
    with neither, a run named after the estimator is started and finished here.

    Returns
    -------
    dict
        The scores logged (empty without test data).

    Example
    -------
    >>> from nbtrack.integrations.sklearn import log_estimator  # doctest: +SKIP
    >>> log_estimator(clf.fit(X_train, y_train), X_test, y_test)  # doctest: +SKIP
    {'accuracy': 0.96, 'f1_macro': 0.95, 'log_loss': 0.11, 'roc_auc': 0.99}
    """
    base = requires("sklearn.base", "scikit-learn", "nbtrack.integrations.sklearn")
    if not hasattr(estimator, "get_params"):
        raise NbtrackError(f"log_estimator needs a scikit-learn estimator; got {type(estimator).__name__}")
    if (X_test is None) != (y_test is None):
        raise NbtrackError("log_estimator needs both X_test and y_test, or neither")
    scores = _scores(base, estimator, X_test, y_test) if X_test is not None else {}
    model_file = _pickled(estimator) if log_model else None  # before a run exists: misuse raises cleanly
    active = _run.active_run()
    own = run is None and (active is None or active._finished)
    target: Any = _run.init(type(estimator).__name__) if own else (run or active)
    try:
        target.config.update({"estimator": type(estimator).__name__, **plain_params(estimator.get_params())})
        if scores:
            tables = (_tables(base, estimator, X_test, y_test) or {}) if plots else {}
            images = (_images(tables) or {}) if tables else {}
            target.log({**scores, **tables, **images})
        if model_file is not None:
            _log_model(target, model_file, type(estimator).__name__, model_name, scores)
    finally:
        if own:
            target.finish()
    return scores


@guarded("sklearn plots")
def _tables(base: Any, estimator: Any, X: Any, y: Any) -> dict[str, Any]:
    import numpy as np

    from ..rich_media import Table

    y = np.asarray(y)
    if not base.is_classifier(estimator):
        predicted = np.asarray(estimator.predict(X), dtype=float)
        rows = np.arange(len(y))
        if len(rows) > MAX_RESIDUAL_ROWS:
            rows = np.sort(np.random.default_rng(0).choice(rows, MAX_RESIDUAL_ROWS, replace=False))
        return {"residuals": Table(columns=["actual", "predicted", "residual"],
                                   data=[[y[i], predicted[i], y[i] - predicted[i]] for i in rows])}
    from sklearn import metrics

    classes = list(estimator.classes_)
    matrix = metrics.confusion_matrix(y, estimator.predict(X), labels=classes)
    tables = {"confusion_matrix": Table(
        columns=["actual", "predicted", "count"],
        data=[[a, p, int(matrix[i, j])] for i, a in enumerate(classes) for j, p in enumerate(classes)])}
    scores = _class_scores(estimator, X, len(classes))
    if scores is not None:
        roc: list[list[Any]] = []
        pr: list[list[Any]] = []
        for i, label in enumerate(classes):
            if not (y == label).any():
                continue  # a class absent from the test set has no curve
            fpr, tpr, roc_thresholds = metrics.roc_curve(y == label, scores[:, i])
            roc += [[label, *point] for point in zip(fpr, tpr, roc_thresholds)]
            precision, recall, pr_thresholds = metrics.precision_recall_curve(y == label, scores[:, i])
            # The last point (recall 0, precision 1) has no threshold.
            pr += [[label, r, p, t] for r, p, t in zip(recall, precision, [*pr_thresholds, None])]
        tables["roc_curve"] = Table(columns=["class", "fpr", "tpr", "threshold"], data=roc)
        tables["pr_curve"] = Table(columns=["class", "recall", "precision", "threshold"], data=pr)
    return tables


@guarded("sklearn plot images")
def _images(tables: dict[str, Any]) -> dict[str, Any]:
    """Each evaluation table drawn as MLflow draws it (nothing without matplotlib)."""
    from importlib.util import find_spec

    if find_spec("matplotlib") is None or find_spec("PIL") is None:
        return {}
    import numpy as np
    from matplotlib.figure import Figure  # no pyplot: the user's backend and figures stay untouched

    from ..rich_media import Image

    images = {}
    for key, table in tables.items():
        figure = Figure(figsize=(5, 4), dpi=80)
        ax = figure.add_subplot()
        rows = table.get_dataframe()
        if key == "confusion_matrix":
            matrix = rows.pivot_table(index="actual", columns="predicted", values="count", sort=False)
            ax.imshow(matrix.to_numpy(), cmap="Blues")
            for (i, j), count in np.ndenumerate(matrix.to_numpy()):
                ax.text(j, i, str(int(count)), ha="center", va="center")
            ax.set_xticks(range(len(matrix.columns)), [str(c) for c in matrix.columns])
            ax.set_yticks(range(len(matrix.index)), [str(c) for c in matrix.index])
            ax.set_xlabel("predicted")
            ax.set_ylabel("actual")
        elif key == "residuals":
            ax.scatter(rows["predicted"], rows["residual"], s=8)
            ax.axhline(0.0, color="grey", linewidth=1)
            ax.set_xlabel("predicted")
            ax.set_ylabel("residual (actual - predicted)")
        else:
            x, y = ("fpr", "tpr") if key == "roc_curve" else ("recall", "precision")
            for label, curve in rows.groupby("class", sort=False):
                ax.plot(curve[x], curve[y], label=str(label))
            ax.set_xlabel(x)
            ax.set_ylabel(y)
            ax.legend(title="class")
        images[f"{key}_plot"] = Image(figure)
    return images


def _class_scores(estimator: Any, X: Any, n_classes: int) -> Any:
    """One score column per class: probabilities, else decision values (None without either)."""
    import numpy as np

    if hasattr(estimator, "predict_proba"):
        return np.asarray(estimator.predict_proba(X))
    if hasattr(estimator, "decision_function"):
        values = np.asarray(estimator.decision_function(X))
        return np.column_stack([-values, values]) if values.ndim == 1 and n_classes == 2 else values
    return None


def _pickled(estimator: Any) -> bytes:
    try:
        return pickle.dumps(estimator)
    except Exception as exc:  # a lambda in a FunctionTransformer, an open file...
        raise NbtrackError(f"log_estimator: this {type(estimator).__name__} cannot be pickled ({exc}); "
                           "pass log_model=False and save it your own way") from None


def _log_model(run: Any, model_file: bytes, kind: str, name: str | None, scores: dict[str, float]) -> None:
    import sklearn

    with tempfile.TemporaryDirectory(prefix="nbtrack-sklearn-") as folder:
        path = Path(folder) / "model.pkl"
        path.write_bytes(model_file)
        run.log_artifact(path, name=name or f"model-{run.id}", type="model",
                         metadata={"estimator": kind, "sklearn_version": sklearn.__version__, **scores})


def _roc_auc(metrics: Any, y: Any, proba: Any, classes: Any) -> dict[str, float]:
    """The ROC AUC, or nothing when the test labels cannot give one (a single class in them)."""
    import numpy as np

    present = set(np.unique(np.asarray(y)).tolist())
    if len(present) < 2 or not set(np.asarray(classes).tolist()) <= present:
        return {}  # a class missing from the test labels: sklearn would warn and give NaN
    try:
        if len(classes) == 2:
            return {"roc_auc": metrics.roc_auc_score(y, proba[:, 1])}
        return {"roc_auc": metrics.roc_auc_score(y, proba, multi_class="ovr", labels=classes)}
    except ValueError:  # test labels the estimator never saw
        return {}


def _scores(base: Any, estimator: Any, X: Any, y: Any) -> dict[str, float]:
    from sklearn import metrics
    from sklearn.exceptions import NotFittedError

    try:
        predicted = estimator.predict(X)
    except NotFittedError:
        raise NbtrackError(
            f"log_estimator: this {type(estimator).__name__} is not fitted yet; call .fit() first"
        ) from None
    if base.is_classifier(estimator):
        scores = {"accuracy": metrics.accuracy_score(y, predicted),
                  "f1_macro": metrics.f1_score(y, predicted, average="macro")}
        if hasattr(estimator, "predict_proba"):
            proba = estimator.predict_proba(X)
            scores["log_loss"] = metrics.log_loss(y, proba, labels=estimator.classes_)
            scores.update(_roc_auc(metrics, y, proba, estimator.classes_))
    elif base.is_regressor(estimator):
        mse = metrics.mean_squared_error(y, predicted)
        scores = {"r2": metrics.r2_score(y, predicted),
                  "mae": metrics.mean_absolute_error(y, predicted), "rmse": math.sqrt(mse)}
    else:
        raise NbtrackError(
            f"log_estimator scores classifiers and regressors; {type(estimator).__name__} is neither "
            "(leave out X_test and y_test to log only its parameters)"
        )
    return {key: float(value) for key, value in scores.items()}
