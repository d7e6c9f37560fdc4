"""Comparing runs: the computations behind ``nbtrack.compare()``, as pure functions.

Everything here takes and returns plain data (DataFrames, dicts, lists), so the
widget (:mod:`nbtrack.widgets.compare`) only displays what these return and the
same answers are available without a notebook:

* :func:`filter_runs` - the core's ``where`` language (``config.lr > 0.01``).
* :func:`metric_goals` - min or max per metric, guessed from its name or given.
* :func:`best_per_metric` - the best run per metric with its goal.
* :func:`sort_runs` / :func:`table_page` - a sorted page of the runs table, JSON-safe.

``nbtrack.compare(...)`` (this module, called) opens the widget.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from .errors import NbtrackError
from .formatting import is_missing, json_safe

if TYPE_CHECKING:
    import pandas as pd

    from .widgets.compare import CompareWidget

__all__ = ["ARCHIVED", "best_per_metric", "compare", "filter_runs", "metric_goals",
           "sort_runs", "summary_metrics", "table_page"]

#: The tag that archives a run: hidden from the compare table unless asked for.
ARCHIVED = "archived"
_GOALS = {"min": "minimize", "max": "maximize", "minimize": "minimize", "maximize": "maximize"}


def filter_runs(runs: pd.DataFrame, expression: str | None, *, archived: bool = True) -> pd.DataFrame:
    """Compute: the runs matching a filter expression (blank: all), optionally without archived ones.

    Example
    -------
    >>> import pandas as pd
    >>> df = pd.DataFrame({"id": ["a", "b"], "name": ["a", "b"], "status": ["finished"] * 2,
    ...                    "tags": [[], ["archived"]], "config.lr": [0.1, 0.001]})
    >>> filter_runs(df, "config.lr > 0.01")["id"].tolist(), filter_runs(df, "", archived=False)["id"].tolist()
    (['a'], ['a'])
    """
    from .selection_where import filter_runs as where

    out = runs
    if not archived and len(out):
        out = out[[ARCHIVED not in list(tags or []) for tags in out["tags"]]]
    if expression and expression.strip():
        out = where(out, expression)
    return out


def summary_metrics(runs: pd.DataFrame) -> list[str]:
    """The metric keys of a runs frame's ``summary.*`` columns, machine metrics left out."""
    return [c.removeprefix("summary.") for c in runs.columns
            if c.startswith("summary.") and not c.startswith("summary.system/")]


def metric_goals(keys: Sequence[str],
                 given: Mapping[str, str] | Sequence[str] | None = None) -> dict[str, str]:
    """Compute: ``"minimize"`` or ``"maximize"`` per metric.

    ``given`` overrides the guess (losses and errors go down, accuracies up), as a dict
    ``{"acc": "max"}`` or a list of ``"acc:max"`` texts.

    Example
    -------
    >>> metric_goals(["loss", "acc", "lr"], {"lr": "max"})
    {'loss': 'minimize', 'acc': 'maximize', 'lr': 'maximize'}
    """
    from .report.data import guess_goal, parse_metric

    chosen: dict[str, str] = {}
    if isinstance(given, Mapping):
        for key, goal in given.items():
            if goal not in _GOALS:
                raise NbtrackError(f"the goal of {key!r} must be 'min' or 'max'; got {goal!r}")
            chosen[key] = _GOALS[goal]
    elif given is not None:
        for text in given:
            key, goal, said = parse_metric(text)
            if said:
                chosen[key] = goal
    return {key: chosen.get(key, guess_goal(key)) for key in [*keys, *(k for k in chosen if k not in keys)]}


def best_per_metric(runs: pd.DataFrame, goals: Mapping[str, str]) -> dict[str, dict[str, Any]]:
    """Compute: per metric, the run with the best summary value and the goal used.

    Returns ``{metric: {"run_id", "run", "value", "goal"}}``; a metric no run reports
    (or reports only NaN) is left out.

    Example
    -------
    >>> import pandas as pd
    >>> df = pd.DataFrame({"id": ["a", "b"], "name": ["x", "y"], "summary.loss": [0.5, 0.2],
    ...                    "summary.acc": [0.9, 0.8]})
    >>> {k: v["run_id"] for k, v in best_per_metric(df, {"loss": "minimize", "acc": "maximize"}).items()}
    {'loss': 'b', 'acc': 'a'}
    """
    from .report.data import best_runs

    table = best_runs(runs, list(goals.items()))
    return {row.metric: {"run_id": row.run_id, "run": row.run, "value": row.value, "goal": row.goal}
            for row in table.itertuples() if row.runs}


def sort_runs(runs: pd.DataFrame, column: str | None, descending: bool = False) -> pd.DataFrame:
    """Compute: runs sorted by a column, missing values last either way; ties keep their order.

    Numbers sort as numbers, anything else (text, tag lists) by its text.
    """
    if not column or column not in runs.columns or runs.empty:
        return runs
    import pandas as pd

    values = runs[column]
    numeric = pd.to_numeric(values, errors="coerce")
    present = values.map(lambda v: not is_missing(v) and str(v) != "nan")
    if numeric[present].notna().all():
        key = numeric
    else:
        key = values.map(lambda v: ", ".join(map(str, v)) if isinstance(v, list) else str(v))
    filled = [i for i in range(len(runs)) if present.iloc[i]]
    filled.sort(key=lambda i: key.iloc[i], reverse=descending)  # stable: ties keep their order
    missing = [i for i in range(len(runs)) if not present.iloc[i]]
    return runs.iloc[filled + missing]


def json_value(value: Any) -> Any:
    """A runs-frame cell as JSON: NaN, which pandas uses for an absent cell, is ``None``; the
    rest by :func:`nbtrack.formatting.json_safe` (times as UTC ISO text, inf as ``"Infinity"``)."""
    if isinstance(value, float) and math.isnan(value):
        return None
    return json_safe(value)


def table_page(runs: pd.DataFrame, columns: Sequence[str], *, page: int = 0, page_size: int = 100,
               best: Mapping[str, Mapping[str, Any]] | None = None) -> list[dict[str, Any]]:
    """Compute: one page of the (already sorted) runs table as JSON-safe rows.

    Each row holds ``id`` and the given columns, plus ``best``: the metrics for which
    this run is the best one (from :func:`best_per_metric`).
    """
    best = best or {}
    start = max(int(page), 0) * page_size
    part = runs.iloc[start:start + page_size]
    rows = []
    for record in part.to_dict("records"):
        row = {"id": record["id"], **{c: json_value(record.get(c)) for c in columns}}
        row["best"] = sorted(k for k, b in best.items() if b["run_id"] == record["id"])
        rows.append(row)
    return rows


def compare(runs: Any = None, metrics: Mapping[str, str] | Sequence[str] | None = None,
            project: str | None = None, *, store: Any = None, **options: Any) -> CompareWidget:
    """Compare runs in the notebook: a table to filter, sort and select, and their charts.

    The runs table shows each run's colour (the colour of its curves in every view); the
    charts come in sections by metric prefix (``train/``, ``val/``..., the machine's last,
    against time), against the step, relative or wall time or any logged metric, with
    smoothing and a log scale. Under the widget, a still picture of the table and charts
    (kept current) is what the notebook shows without the kernel: reopened, untrusted, in
    ``jupyter nbconvert`` or on GitHub.

    Parameters
    ----------
    runs
        Only these runs (ids, names, Runs or a ``nbtrack.runs()`` frame); default all.
    metrics
        Which way is better per metric, e.g. ``{"acc": "max", "loss": "min"}``
        (default: guessed from the name: losses and errors go down, accuracies up).
    project
        Only runs of this project.

    Example
    -------
    >>> nbtrack.compare(project="mnist", metrics={"val_acc": "max"})  # doctest: +SKIP
    """
    try:
        from .widgets.compare import CompareWidget
    except ImportError as exc:
        raise NbtrackError(
            f"nbtrack.compare() needs anywidget and ipywidgets ({exc}): "
            "pip install 'anywidget>=0.9' 'ipywidgets>=8'"
        ) from None
    return CompareWidget(runs=runs, metrics=metrics, project=project, store=store, **options)
