"""MLflow's tracking calls on nbtrack: ``import nbtrack.mlflow as mlflow`` and keep your script.

::

    import nbtrack.mlflow as mlflow

    mlflow.set_experiment("iris")
    with mlflow.start_run(run_name="baseline"):
        mlflow.log_params({"lr": 0.01, "depth": 3})
        for epoch in range(10):
            mlflow.log_metric("loss", loss, step=epoch)
        with mlflow.start_run(run_name="fold-1", nested=True):
            ...

An experiment is an nbtrack project; a run is an nbtrack run; params are its config
(MLflow shows them as text, nbtrack keeps the value); metrics are its metrics; tags
are its tags as ``key=value``; ``description`` is its notes; a nested run carries the
tag ``mlflow.parentRunId=<parent id>`` and the group of its parent. Where nbtrack
differs on purpose: ``log_metric`` without ``step`` logs at one past that metric's
last step (MLflow logs at step 0 each time, which draws no curve). Calls outside the
supported subset raise one line naming the nbtrack way (see the README, "Coming from
MLflow"). This module never imports the ``mlflow`` package.
"""

from __future__ import annotations

import os
import re
from typing import TYPE_CHECKING, Any

from .. import _run, _settings
from ..errors import NbtrackError
from ._artifacts import log_artifact, log_artifacts, log_dict, log_figure, log_image, log_table, log_text
from ._autolog import autolog
from ._entities import (
    Experiment,
    Run,
    RunData,
    RunInfo,
    filter_frame,
    order_frame,
    param_text,
    run_from_record,
    search_frame,
    tag_dict,
    tag_list,
)
from ._runs import (
    ActiveRun,
    active_run,
    create_experiment,
    end_run,
    get_experiment,
    get_experiment_by_name,
    last_active_run,
    project,
    set_experiment,
    start_run,
    target,
)

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["ActiveRun", "Experiment", "Run", "RunData", "RunInfo", "active_run", "autolog",
           "create_experiment", "end_run", "get_experiment", "get_experiment_by_name", "get_run",
           "get_tracking_uri", "last_active_run", "log_artifact", "log_artifacts", "log_dict", "log_figure",
           "log_image", "log_metric", "log_metrics", "log_param", "log_params", "log_table", "log_text",
           "search_runs", "set_experiment", "set_tag", "set_tags", "set_tracking_uri", "start_run"]

_ACTIVE_ONLY = (1, "ACTIVE_ONLY")


# -- where the store lives -----------------------------------------------------------------

def set_tracking_uri(uri: str | os.PathLike[str]) -> None:
    """Use a local folder (a path or ``file:`` URI) as the nbtrack store; other URIs raise."""
    text = os.fspath(uri)
    if text.startswith("file://"):
        text = text[len("file://"):]
    elif text.startswith("file:"):
        text = text[len("file:"):]
    elif re.match(r"^([a-zA-Z][\w+.\-]+://|(sqlite|databricks|postgresql|mysql)\b)", text):
        raise NbtrackError(
            f"set_tracking_uri({os.fspath(uri)!r}): nbtrack has no tracking server; it keeps runs in a "
            "local folder. Pass a folder path, or set NBTRACK_DIR / nbtrack.settings(dir=...). To copy "
            "runs out of an existing MLflow store, use: nbtrack import mlflow <uri>")
    _settings.settings(dir=text)


def get_tracking_uri() -> str:
    """The nbtrack store folder in force, as a ``file:`` URI."""
    return _settings.store_dir().as_uri()

# -- params, metrics, tags ------------------------------------------------------------

def log_param(key: str, value: Any, synchronous: bool | None = None) -> Any:
    """Record one param (a config key); logging a different value again raises, as in MLflow."""
    log_params({key: value})
    return value


def log_params(params: dict[str, Any], synchronous: bool | None = None, run_id: str | None = None) -> None:
    """Record several params at once."""
    run = target(run_id, "log_params").run
    for key, value in params.items():
        if not isinstance(key, str) or not key:
            raise NbtrackError(f"param names must be non-empty strings; got {key!r}")
        if key in run.config and param_text(run.config[key]) != param_text(value):
            raise NbtrackError(
                f"param {key!r} is already {run.config[key]!r} in run {run.id}; MLflow params are "
                f"logged once. Log {value!r} under another name, or start a new run")
    run.config.update({key: value for key, value in params.items()})


def log_metric(key: str, value: Any, step: int | None = None, timestamp: int | None = None,
               synchronous: bool | None = None, run_id: str | None = None) -> None:
    """Record one metric value at ``step`` (default: one past this metric's last step)."""
    log_metrics({key: value}, step=step, timestamp=timestamp, run_id=run_id)


def log_metrics(metrics: dict[str, Any], step: int | None = None, synchronous: bool | None = None,
                run_id: str | None = None, timestamp: int | None = None) -> None:
    """Record several metric values at one step."""
    if timestamp is not None:
        raise NbtrackError("log_metric(timestamp=...): nbtrack records the time of the call; drop "
                           "timestamp=, or bring timed points in with nbtrack import")
    active = target(run_id, "log_metrics")
    if step is not None:
        active.run.log(dict(metrics), step=step)
        for key in metrics:
            active._next_step[key] = max(active._next_step.get(key, 0), step + 1)
        return
    for key, value in metrics.items():  # each metric counts its own steps
        at = active.next_step(key)
        active.run.log({key: value}, step=at)
        active._next_step[key] = at + 1


def set_tag(key: str, value: Any, synchronous: bool | None = None) -> None:
    """Set one tag (the nbtrack tag ``key=value``; a new value replaces the old one)."""
    set_tags({key: value})


def set_tags(tags: dict[str, Any], synchronous: bool | None = None) -> None:
    """Set several tags; ``mlflow.note.content`` sets the run's notes."""
    if not isinstance(tags, dict):
        raise NbtrackError(f"set_tags takes a dict of tag names to values; got {type(tags).__name__}")
    run = target(None, "set_tags").run
    current = tag_dict(run.tags)
    for key, value in tags.items():
        if key == "mlflow.note.content":
            run.set_notes(param_text(value))
        elif key == "mlflow.runName":
            raise NbtrackError("set_tag('mlflow.runName', ...): name the run with "
                               "start_run(run_name=...), or rename it with nbtrack.rename_run(run_id, name)")
        elif not isinstance(key, str) or not key or "=" in key:
            raise NbtrackError(f"tag names must be non-empty strings without '='; got {key!r}")
        else:
            current[key] = param_text(value)
    run.set_tags(tag_list(current))

# -- reading ----------------------------------------------------------------------------

def get_run(run_id: str) -> Run:
    """A run by id, with MLflow's ``info`` and ``data`` (params as text, last metric values)."""
    from ..query import run_record

    _run.flush_all()
    return run_from_record(run_record(run_id))


def search_runs(experiment_ids: Any = None, filter_string: str = "", run_view_type: Any = 1,
                max_results: int = 100_000, order_by: Any = None, output_format: str = "pandas",
                search_all_experiments: bool = False, experiment_names: Any = None) -> Any:
    """Runs as MLflow's DataFrame: ``run_id, experiment_id, status, start_time, end_time``, then
    ``metrics.*``, ``params.*`` and ``tags.*`` (``tags.mlflow.parentRunId`` for nested runs).

    Example
    -------
    >>> mlflow.search_runs(filter_string="metrics.rmse < 1", order_by=["metrics.rmse ASC"])  # doctest: +SKIP
    """
    if run_view_type not in _ACTIVE_ONLY:
        raise NbtrackError(f"search_runs(run_view_type={run_view_type!r}): nbtrack.mlflow lists active "
                           "runs only; deleted runs are in nbtrack.trash()")
    if output_format not in ("pandas", "list"):
        raise NbtrackError(f"search_runs(output_format={output_format!r}): use 'pandas' or 'list'")
    frame = _search(experiment_ids, experiment_names, search_all_experiments)
    if filter_string and filter_string.strip():
        frame = filter_frame(frame, filter_string)
    frame = order_frame(frame, order_by).head(max_results).reset_index(drop=True)
    if output_format == "list":
        return [get_run(run_id) for run_id in frame["run_id"]]
    return frame


def _search(ids: Any, names: Any, everywhere: bool) -> pd.DataFrame:
    from ..selection import Selection
    from ..store import get_store

    _run.flush_all()
    if everywhere:
        projects: list[str | None] = [None]
    else:
        chosen = [*([ids] if isinstance(ids, str) else list(ids or [])),
                  *([names] if isinstance(names, str) else list(names or []))]
        projects = [str(p) for p in dict.fromkeys(chosen)] or [project()]
    store = get_store()
    records = [row for p in projects for row in store.select_runs(Selection(project=p))]
    return search_frame(records)


# -- what is not here -----------------------------------------------------------------------

_INSTEAD = {
    "log_model": "store the model file with mlflow.log_artifact(path) or "
                 "nbtrack.log_artifact(path, type='model')",
    "register_model": "version it with nbtrack.log_artifact(path, type='model', aliases=['production'])",
    "load_model": "fetch it with nbtrack.use_artifact('name:latest').file()",
    "log_input": "record data lineage with nbtrack.log_artifact(df, name=...) and nbtrack.use_artifact",
    "delete_run": "use nbtrack.delete_runs(run_id)",
    "MlflowClient": "read runs with nbtrack.runs(), nbtrack.history() and nbtrack.sql()",
    "evaluate": "log your scores with mlflow.log_metrics",
}
_FLAVOURS = ("sklearn", "pytorch", "keras", "tensorflow", "transformers", "lightning", "xgboost",
             "lightgbm", "pyfunc", "models", "onnx", "spark", "statsmodels", "catboost")


class UnsupportedCall(NbtrackError, AttributeError):
    """An MLflow name nbtrack.mlflow does not provide (an AttributeError, so ``hasattr`` says False)."""


def __getattr__(name: str) -> Any:
    if name.startswith("__"):
        raise AttributeError(name)
    if name in _FLAVOURS:
        hint = ("use mlflow.autolog() to switch on nbtrack's integrations, and mlflow.log_artifact(path) "
                "or nbtrack.log_artifact(path, type='model') for model files")
    else:
        hint = _INSTEAD.get(name, "see the README section 'Coming from MLflow' for the supported subset")
    raise UnsupportedCall(f"nbtrack.mlflow has no {name!r}: {hint}")
