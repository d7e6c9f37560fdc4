"""Parameter importance: how much each config parameter decides a metric, and which way.

The one home of importance, shared by sweeps (:meth:`nbtrack.Sweep.importance`, the
launcher) and the HTML report, so every view shows the same numbers. Importance is
Optuna's: PED-ANOVA by default (numpy only; how much each parameter decides whether
a trial lands in the best 10%), or fANOVA (``method="fanova"``, needs scikit-learn).
Beside it, the Spearman rank correlation between each parameter's config value and
the metric: its sign says which way to move the parameter. Values that are not
numbers (strings, lists) have no order, so their correlation is NaN.

Two ways in: :func:`study_importance` for an Optuna study that knows its real search
space (a sweep's, rebuilt from the store), and :func:`runs_importance` for plain runs,
whose search space is inferred from the values they hold.
"""

from __future__ import annotations

import json
import math
import numbers
import warnings
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any, Literal

from .errors import NbtrackError
from .values import finite_float

if TYPE_CHECKING:
    import optuna
    import pandas as pd
    from optuna.distributions import BaseDistribution

__all__ = [
    "COLUMNS",
    "IMPORTANCE_METHODS",
    "check_method",
    "importance_table",
    "runs_importance",
    "spearman",
    "study_importance",
]

IMPORTANCE_METHODS = ("ped-anova", "fanova")
#: The columns of every importance frame, as :func:`nbtrack.charts.importance_bars` reads them.
COLUMNS = ["parameter", "importance", "correlation"]
#: A float parameter spanning more than this ratio (two decades) is searched on a log scale.
LOG_SPAN = 100.0
_MISSING = object()


def spearman(xs: Sequence[Any], ys: Sequence[Any]) -> float:
    """Spearman rank correlation of ``xs`` with ``ys`` (ties share their mean rank).

    Pairs with a missing or non-finite value on either side are left out. NaN when it
    cannot be computed: an ``x`` that is not a number (a string, a list), fewer than
    three pairs, or either side constant. Booleans count as 0 and 1.

    Example
    -------
    >>> spearman([0.1, 0.2, 0.3, 0.4], [4.0, 3.0, 2.5, 1.0])
    -1.0
    >>> spearman(["a", "b", "c"], [1.0, 2.0, 3.0])
    nan
    """
    import pandas as pd

    pairs = []
    for x, y in zip(xs, ys):
        if _absent(x) or finite_float(y) is None:
            continue
        if not isinstance(x, numbers.Real) and not _is_bool(x):
            return math.nan
        number = finite_float(x)
        if number is not None:
            pairs.append((number, float(y)))
    if len(pairs) < 3:
        return math.nan
    # Spearman = Pearson on average ranks (pandas' own spearman needs SciPy).
    ranks = pd.DataFrame(pairs, columns=["x", "y"]).rank()
    value = ranks["x"].corr(ranks["y"])
    return float(value) if value is not None and math.isfinite(value) else math.nan


def check_method(method: str) -> None:
    """Raise :class:`NbtrackError` unless ``method`` is one of :data:`IMPORTANCE_METHODS`."""
    if method not in IMPORTANCE_METHODS:
        raise NbtrackError(
            f"importance method must be one of {', '.join(IMPORTANCE_METHODS)}; got {method!r}"
        )


def study_importance(study: optuna.Study, method: str = "ped-anova") -> dict[str, float]:
    """Compute: each parameter's importance over ``study``'s completed trials (they sum to 1).

    Empty when fewer than two trials completed, or when the evaluator cannot rank them.
    Parameters with a single value get 0.

    Example
    -------
    >>> scores = study_importance(sweep_study)                      # doctest: +SKIP
    >>> max(scores, key=scores.get)                                 # doctest: +SKIP
    'lr'
    """
    import optuna
    from optuna.trial import TrialState

    check_method(method)
    if method == "fanova":
        try:
            import sklearn  # noqa: F401
        except ImportError:
            raise NbtrackError("fANOVA importance needs scikit-learn: pip install scikit-learn") from None
        evaluator: Any = optuna.importance.FanovaImportanceEvaluator(seed=0)
    else:
        evaluator = optuna.importance.PedAnovaImportanceEvaluator()
    if len(study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))) < 2:
        return {}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # "too few trials": the equal split it returns is right
        try:
            return {
                str(k): float(v)
                for k, v in optuna.importance.get_param_importances(study, evaluator=evaluator).items()
            }
        except (ValueError, RuntimeError):
            return {}


def importance_table(
    scores: Mapping[str, float], values: Mapping[str, Sequence[Any]], metric: Sequence[float]
) -> pd.DataFrame:
    """Columns ``parameter, importance, correlation``, most important first.

    ``values`` holds each parameter's config values, trial by trial, in the order of
    ``metric``; a parameter without a score gets importance 0. Ties keep ``values``' order.
    """
    import pandas as pd

    rows = [
        {
            "parameter": name,
            "importance": float(scores.get(name, 0.0)),
            "correlation": spearman(column, metric),
        }
        for name, column in values.items()
    ]
    frame = pd.DataFrame(rows, columns=COLUMNS)
    return frame.sort_values("importance", ascending=False, kind="stable").reset_index(drop=True)


def runs_importance(
    runs: pd.DataFrame,
    params: Sequence[str],
    metric: str,
    goal: str = "minimize",
    *,
    method: str = "ped-anova",
) -> pd.DataFrame:
    """Compute: importance of config parameters for a metric over plain runs.

    ``runs`` has ``config.<param>`` and ``summary.<metric>`` columns (as from
    :func:`nbtrack.runs`). An Optuna study is built from the runs, each parameter's
    distribution inferred from its values: floats are a float range (log scale when
    all positive and spanning more than two decades), whole numbers an int range,
    anything else (strings, booleans, lists) categorical. Runs missing the metric or
    one of the parameters are left out, and so are parameters with a single value.
    Returns the columns of :func:`importance_table`; empty with fewer than two usable runs.

    Example
    -------
    >>> import pandas as pd
    >>> df = pd.DataFrame({"config.lr": [0.001, 0.01, 0.1, 1.0], "config.act": ["relu", "gelu"] * 2,
    ...                    "summary.loss": [4.0, 3.0, 2.5, 1.0]})
    >>> runs_importance(df, ["lr", "act"], "loss")["parameter"].tolist()
    ['lr', 'act']
    """
    import optuna

    from .sweeps.study import quiet

    check_method(method)
    if goal not in ("minimize", "maximize"):
        raise NbtrackError(f"goal must be 'minimize' or 'maximize'; got {goal!r}")
    direction: Literal["minimize", "maximize"] = "maximize" if goal == "maximize" else "minimize"
    rows, names = _usable(runs, params, metric)
    if len(rows) < 2 or not names:
        return importance_table({}, {}, [])
    distributions = {name: _distribution([config[name] for config, _ in rows]) for name in names}
    trials = [
        optuna.trial.create_trial(
            params={n: _search_value(config[n], distributions[n]) for n in names},
            distributions=distributions,
            value=value,
        )
        for config, value in rows
    ]
    with quiet():
        study = optuna.create_study(direction=direction, sampler=optuna.samplers.RandomSampler(0))
        study.add_trials(trials)
    columns = {name: [config[name] for config, _ in rows] for name in names}
    return importance_table(study_importance(study, method), columns, [value for _, value in rows])


def _usable(
    runs: pd.DataFrame, params: Sequence[str], metric: str
) -> tuple[list[tuple[dict[str, Any], float]], list[str]]:
    """The runs with the metric and every parameter, and the parameters that vary among them."""
    column = f"summary.{metric}"
    names = [p for p in dict.fromkeys(params) if f"config.{p}" in runs.columns]
    if column not in runs.columns or not names:
        return [], []
    rows = []
    for record in runs[[column, *(f"config.{n}" for n in names)]].to_dict("records"):
        value = finite_float(record[column])
        config = {n: _plain(record[f"config.{n}"]) for n in names}
        if value is not None and not any(v is _MISSING for v in config.values()):
            rows.append((config, value))
    varied = [n for n in names if len({_key(config[n]) for config, _ in rows}) > 1]
    return rows, varied


def _distribution(values: list[Any]) -> BaseDistribution:
    from optuna.distributions import CategoricalDistribution, FloatDistribution, IntDistribution

    if all(isinstance(v, int) and not isinstance(v, bool) for v in values):
        return IntDistribution(min(values), max(values))
    if all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in values):
        low, high = float(min(values)), float(max(values))
        return FloatDistribution(low, high, log=low > 0 and high / low > LOG_SPAN)
    return CategoricalDistribution(sorted({_key(v) for v in values}, key=repr))


def _search_value(value: Any, distribution: BaseDistribution) -> Any:
    from optuna.distributions import CategoricalDistribution, FloatDistribution

    if isinstance(distribution, CategoricalDistribution):
        return _key(value)
    return float(value) if isinstance(distribution, FloatDistribution) else value


def _key(value: Any) -> Any:
    """A categorical choice Optuna accepts: strings, booleans and numbers as they are, else JSON text."""
    if isinstance(value, (str, bool, int, float)):
        return value
    return json.dumps(value, sort_keys=True, default=str)


def _plain(value: Any) -> Any:
    """A config value as plain Python (numpy scalars and arrays unwrapped); _MISSING when absent."""
    if hasattr(value, "tolist") and not isinstance(value, str):
        value = value.tolist()
    return _MISSING if _absent(value) else value


def _absent(value: Any) -> bool:
    if value is None or value is _MISSING or type(value).__name__ in ("NAType", "NaTType"):
        return True
    return isinstance(value, numbers.Real) and not math.isfinite(float(value))


def _is_bool(value: Any) -> bool:
    return isinstance(value, bool) or type(value).__name__ == "bool_"
