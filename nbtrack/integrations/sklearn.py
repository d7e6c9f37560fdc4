"""scikit-learn: ``log_estimator(model, X_test, y_test)`` records an estimator and its test scores."""

from __future__ import annotations

import math
from typing import Any

from .. import _run
from ..errors import NbtrackError
from ._common import plain_params, requires

__all__ = ["log_estimator"]


def log_estimator(
    estimator: Any, X_test: Any = None, y_test: Any = None, run: Any = None
) -> dict[str, float]:
    """Put an estimator's settings in a run's config and, given test data, its scores.

    Config gets ``estimator`` (the class name) and every ``get_params()`` value that is
    a number, text, boolean or None (nested ones as ``step__param``). With test data
    the standard scores are logged once (so they are also the run's summary):
    classifiers ``accuracy``, ``f1_macro`` and, with ``predict_proba``, ``log_loss``;
    regressors ``r2``, ``mae`` and ``rmse``.

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
    {'accuracy': 0.96, 'f1_macro': 0.95, 'log_loss': 0.11}
    """
    base = requires("sklearn.base", "scikit-learn", "nbtrack.integrations.sklearn")
    if not hasattr(estimator, "get_params"):
        raise NbtrackError(f"log_estimator needs a scikit-learn estimator; got {type(estimator).__name__}")
    if (X_test is None) != (y_test is None):
        raise NbtrackError("log_estimator needs both X_test and y_test, or neither")
    scores = _scores(base, estimator, X_test, y_test) if X_test is not None else {}
    active = _run.active_run()
    own = run is None and (active is None or active._finished)
    target: Any = _run.init(type(estimator).__name__) if own else (run or active)
    target.config.update({"estimator": type(estimator).__name__, **plain_params(estimator.get_params())})
    if scores:
        target.log(scores)
    if own:
        target.finish()
    return scores


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
            scores["log_loss"] = metrics.log_loss(y, estimator.predict_proba(X), labels=estimator.classes_)
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
