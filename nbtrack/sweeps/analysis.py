"""What a sweep found: its trials as a DataFrame, the best trial, and parameter importance.

Importance is Optuna's: PED-ANOVA by default (numpy only; how much each parameter
decides whether a trial lands in the best 10%), or fANOVA (``method="fanova"``,
needs scikit-learn). Beside it, the Spearman rank correlation between each
parameter's config value and the metric, over finished trials: its sign says
which way to move the parameter. Categorical parameters with numbers as values are
ranked by value; with other values (strings, lists) the correlation is NaN.
"""

from __future__ import annotations

import math
import warnings
from typing import TYPE_CHECKING, Any

from ..errors import NbtrackError
from ..values import finite_float as _float
from .config import SweepSpec
from .space import SearchSpace
from .study import rebuild

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["IMPORTANCE_METHODS", "best_row", "importance", "trials_frame"]

IMPORTANCE_METHODS = ("ped-anova", "fanova")
TRIAL_COLUMNS = ["number", "run_id", "name", "status", "value", "duration", "created_at", "error"]


def trials_frame(rows: list[dict[str, Any]], space: SearchSpace, metric: str | None,
                 queued: set[str]) -> pd.DataFrame:
    """One row per trial in order: number, run, status, metric value, then ``config.<param>``."""
    import pandas as pd

    from ..query import _flatten

    records = []
    for row in rows:
        status = row["status"] or ("queued" if row["run_id"] in queued else "not started")
        config = row["config"] if row["status"] is not None else space.config(row["params"])
        value = row["summary"].get(metric) if metric else None
        record: dict[str, Any] = {"number": row["number"], "run_id": row["run_id"],
                                  "name": row["name"], "status": status, "value": _float(value),
                                  "duration": row["duration"], "created_at": row["created_at"],
                                  "error": row["error"]}
        _flatten("config", config, record)
        records.append(record)
    extra = sorted({k for r in records for k in r if k not in TRIAL_COLUMNS})
    return pd.DataFrame.from_records(records, columns=TRIAL_COLUMNS + extra)


def best_row(trials: pd.DataFrame, goal: str) -> Any:
    """The finished trial with the best value (None when there is none)."""
    done = trials[(trials["status"] == "finished") & trials["value"].notna()]
    if done.empty:
        return None
    index = done["value"].idxmax() if goal == "maximize" else done["value"].idxmin()
    return done.loc[index]


def importance(spec: SweepSpec, space: SearchSpace, rows: list[dict[str, Any]],
               method: str = "ped-anova") -> pd.DataFrame:
    """Columns ``parameter, importance, correlation``, most important first."""
    import pandas as pd

    if method not in IMPORTANCE_METHODS:
        raise NbtrackError(f"importance method must be one of {', '.join(IMPORTANCE_METHODS)}; "
                           f"got {method!r}")
    if spec.metric is None:
        raise NbtrackError("parameter importance needs the sweep's metric; this sweep has none")
    columns = ["parameter", "importance", "correlation"]
    study = rebuild(spec, space, rows, {}, seed=None)
    from optuna.trial import TrialState

    complete = [t for t in study.get_trials(deepcopy=False) if t.state == TrialState.COMPLETE]
    if len(complete) < 2 or not space.dimensions:
        return pd.DataFrame(columns=columns)
    scores = _scores(study, method)
    values = [float(t.value) for t in complete if t.value is not None]
    out = []
    for d in space.dimensions:
        xs = [d.to_value(t.params[d.name]) for t in complete]
        out.append({"parameter": d.name, "importance": float(scores.get(d.name, 0.0)),
                    "correlation": _spearman(xs, values)})
    frame = pd.DataFrame(out, columns=columns)
    return frame.sort_values("importance", ascending=False, kind="stable").reset_index(drop=True)


def _scores(study: Any, method: str) -> dict[str, float]:
    import optuna

    if method == "fanova":
        try:
            import sklearn  # noqa: F401
        except ImportError:
            raise NbtrackError("fANOVA importance needs scikit-learn: pip install scikit-learn") from None
        evaluator: Any = optuna.importance.FanovaImportanceEvaluator(seed=0)
    else:
        evaluator = optuna.importance.PedAnovaImportanceEvaluator()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # "too few trials": the equal split it returns is right
        try:
            return dict(optuna.importance.get_param_importances(study, evaluator=evaluator))
        except (ValueError, RuntimeError):
            return {}


def _spearman(xs: list[Any], ys: list[float]) -> float:
    import pandas as pd

    if not all(isinstance(x, (int, float)) for x in xs) or len(set(xs)) < 2 or len(xs) < 3:
        return math.nan
    # Spearman = Pearson on average ranks (pandas' own spearman needs SciPy).
    ranks = pd.DataFrame({"x": [float(x) for x in xs], "y": ys}).rank()
    value = ranks["x"].corr(ranks["y"])
    return float(value) if value is not None and math.isfinite(value) else math.nan
