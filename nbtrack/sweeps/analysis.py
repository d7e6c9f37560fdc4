"""What a sweep found: its trials as a DataFrame, the best trial, and parameter importance.

Importance is computed by :mod:`nbtrack.importance` (Optuna's PED-ANOVA or fANOVA,
and the Spearman correlation beside it) over the sweep's study rebuilt from the
store, over finished trials. Categorical parameters with numbers as values are
ranked by value; with other values (strings, lists) the correlation is NaN.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ..errors import NbtrackError
from ..importance import IMPORTANCE_METHODS, check_method, importance_table, study_importance
from ..values import finite_float as _float
from .config import SweepSpec
from .space import SearchSpace
from .study import rebuild

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["IMPORTANCE_METHODS", "best_row", "importance", "trials_frame"]

TRIAL_COLUMNS = ["number", "run_id", "name", "status", "value", "duration", "created_at", "error"]


def trials_frame(rows: list[dict[str, Any]], space: SearchSpace, metric: str | None,
                 queued: set[str]) -> pd.DataFrame:
    """One row per trial in order: number, run, status, metric value, then ``config.<param>``."""
    import pandas as pd

    from ..selection import flatten as _flatten

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
    """Columns ``parameter, importance, correlation``, most important first.

    The study is rebuilt from the sweep's trials, so the evaluator sees the real search
    space; the correlation is over each trial's config value (see :mod:`nbtrack.importance`).
    """
    from optuna.trial import TrialState

    check_method(method)
    if spec.metric is None:
        raise NbtrackError("parameter importance needs the sweep's metric; this sweep has none")
    study = rebuild(spec, space, rows, {}, seed=None)
    scores = study_importance(study, method)
    complete = [t for t in study.get_trials(deepcopy=False) if t.state == TrialState.COMPLETE]
    if len(complete) < 2 or not space.dimensions:
        return importance_table({}, {}, [])
    values = {d.name: [d.to_value(t.params[d.name]) for t in complete] for d in space.dimensions}
    return importance_table(scores, values, [float(t.value) for t in complete if t.value is not None])
