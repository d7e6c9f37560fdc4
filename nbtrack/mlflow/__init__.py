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

import json
import os
import re
import tempfile
import traceback
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .. import _run, _settings
from ..errors import NbtrackError
from ._autolog import autolog
from ._entities import (
    PARENT_TAG,
    Experiment,
    Run,
    RunData,
    RunInfo,
    filter_frame,
    flat_params,
    millis,
    mlflow_status,
    order_frame,
    param_text,
    run_from_record,
    search_frame,
    tag_dict,
    tag_list,
)

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["ActiveRun", "Experiment", "Run", "RunData", "RunInfo", "active_run", "autolog", "end_run",
           "get_experiment_by_name", "get_run", "get_tracking_uri", "last_active_run", "log_artifact",
           "log_artifacts", "log_dict", "log_figure", "log_image", "log_metric", "log_metrics",
           "log_param", "log_params", "log_text", "search_runs", "set_experiment", "set_tag",
           "set_tags", "set_tracking_uri", "start_run"]

#: MLflow's end statuses -> nbtrack's.
STATUS = {"FINISHED": "finished", "FAILED": "failed", "KILLED": "interrupted"}
_ACTIVE_ONLY = (1, "ACTIVE_ONLY")


class ActiveRun:
    """The run ``start_run`` began: a context manager with MLflow's ``info`` and ``data``.

    ``info`` and ``data`` are read from the live run each time (``data.metrics`` holds
    each metric's last value). ``run`` is the :class:`nbtrack.Run` underneath.
    """

    def __init__(self, run: _run.Run, restore: Any, own: bool) -> None:
        self.run = run
        self._restore = restore
        self._own = own
        self._next_step: dict[str, int] = {}

    @property
    def info(self) -> RunInfo:
        run = self.run
        return RunInfo(run_id=run.id, run_name=run.name, experiment_id=run.project,
                       status=mlflow_status(run.status), start_time=millis(run.created_at),
                       end_time=millis(run.ended_at))

    @property
    def data(self) -> RunData:
        run = self.run
        tags = tag_dict(run.tags)
        tags.setdefault("mlflow.runName", run.name)
        if run.notes:
            tags.setdefault("mlflow.note.content", run.notes)
        run.drain()  # the summary takes what the writer has not handed over yet
        metrics = {k: float(v) for k, v in dict(run.summary).items()
                   if isinstance(v, (int, float)) and not isinstance(v, bool)}
        return RunData(flat_params(dict(run.config)), metrics, tags)

    def __enter__(self) -> ActiveRun:
        return self

    def __exit__(self, exc_type: Any, exc: Any, tb: Any) -> None:
        if exc_type is None:
            status, error = "FINISHED", None
        else:
            status = "KILLED" if issubclass(exc_type, KeyboardInterrupt) else "FAILED"
            error = "".join(traceback.format_exception(exc_type, exc, tb))
        _end(self, status, error)

    def __repr__(self) -> str:
        return f"<ActiveRun: run_id={self.run.id!r}, run_name={self.run.name!r}>"


_stack: list[ActiveRun] = []
_last: list[ActiveRun | None] = [None]
_experiment: list[str | None] = [None]


# -- experiments and where the store lives ------------------------------------------

def set_experiment(experiment_name: str | None = None, experiment_id: str | None = None) -> Experiment:
    """Runs started from now on go to the nbtrack project of this name."""
    name = experiment_name if experiment_name is not None else experiment_id
    if not isinstance(name, str) or not name.strip():
        raise NbtrackError(f"set_experiment needs an experiment name; got {name!r}")
    _experiment[0] = name
    return Experiment(name)


def get_experiment_by_name(name: str) -> Experiment | None:
    """The experiment (nbtrack project) of this name, or None when it has no runs."""
    from ..query import runs

    return Experiment(name) if len(runs(project=name, limit=1)) else None


def _project(experiment_id: Any = None) -> str:
    if experiment_id is not None:
        return str(experiment_id)
    return _experiment[0] or os.environ.get("MLFLOW_EXPERIMENT_NAME") or _settings.current().project


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


# -- runs -------------------------------------------------------------------------------

def start_run(run_id: str | None = None, experiment_id: str | None = None, run_name: str | None = None,
              nested: bool = False, parent_run_id: str | None = None, tags: dict[str, Any] | None = None,
              description: str | None = None, log_system_metrics: bool | None = None) -> ActiveRun:
    """Start a run (a context manager); ``nested=True`` starts a child of the active one.

    Example
    -------
    >>> with mlflow.start_run(run_name="baseline") as run:  # doctest: +SKIP
    ...     mlflow.log_param("lr", 0.01)
    """
    if run_id is not None:
        raise NbtrackError(f"start_run(run_id={run_id!r}): nbtrack.mlflow cannot reopen an ended run; "
                           "start a new run, or continue one with nbtrack.init(id=..., resume='must')")
    if _stack and not nested:
        raise NbtrackError(
            f"run {_stack[-1].run.id} is already active: to start a nested run, call "
            "start_run(nested=True); to start a new run, call mlflow.end_run() first")
    tag_map = {str(k): param_text(v) for k, v in (tags or {}).items()}
    notes = description if description is not None else tag_map.pop("mlflow.note.content", None)
    run_name = run_name if run_name is not None else tag_map.pop("mlflow.runName", None)
    parent = _stack[-1].run if _stack else None
    if parent_run_id is not None:
        tag_map[PARENT_TAG] = parent_run_id
    elif parent is not None:
        tag_map[PARENT_TAG] = parent.id
    current = _run.active_run()
    if not _stack and current is not None and current.status == "running":
        # Inside a %%track cell, a sweep trial or an nbtrack.init run: MLflow calls log there.
        if tag_map:
            current.set_tags(current.tags + tag_list(tag_map))
        if notes:
            current.set_notes(notes)
        active = ActiveRun(current, None, own=False)
    else:
        group = (parent.group or parent.name) if parent is not None else None
        run = _run.Run(run_name, project=_project(experiment_id), tags=tag_list(tag_map), notes=notes,
                       group=group)
        active = ActiveRun(run, _run.activate(run), own=True)
    if log_system_metrics:
        from ..system import attach

        attach(active.run)
    _stack.append(active)
    _last[0] = active
    return active


def end_run(status: str = "FINISHED") -> None:
    """End the active run with MLflow's status: ``FINISHED``, ``FAILED`` or ``KILLED``.

    With no active run this does nothing, as in MLflow (scripts call it to be sure).
    """
    if status not in STATUS:
        raise NbtrackError(f"end_run(status={status!r}): use FINISHED, FAILED or KILLED")
    if _stack:
        _end(_stack[-1], status, None)


def _end(active: ActiveRun, status: str, error: str | None) -> None:
    if active not in _stack:
        return  # ended already (end_run inside the with block)
    # Children still open end with their parent, as the with blocks would.
    while _stack and _stack[-1] is not active:
        _end(_stack[-1], status, error)
    _stack.pop()
    if active._restore is not None:
        active._restore()  # before finish: the parent becomes nbtrack's active run again
    if active._own and active.run.status == "running":
        active.run.finish(STATUS[status], error)


def active_run() -> ActiveRun | None:
    """The run MLflow calls log to now, or None."""
    return _stack[-1] if _stack else None


def last_active_run() -> ActiveRun | None:
    """The run started last in this process, active or ended."""
    return _last[0]


def _target(run_id: str | None, call: str) -> ActiveRun:
    if run_id is not None:
        for active in reversed(_stack):
            if active.run.id == run_id:
                return active
        raise NbtrackError(f"{call}(run_id={run_id!r}): nbtrack.mlflow logs only to runs active in this "
                           "process; start_run() it, or log to it with nbtrack.init")
    if _stack:
        return _stack[-1]
    # Like MLflow, a log call with no run starts one.
    return start_run()


# -- params, metrics, tags ------------------------------------------------------------

def log_param(key: str, value: Any, synchronous: bool | None = None) -> Any:
    """Record one param (a config key); logging a different value again raises, as in MLflow."""
    log_params({key: value})
    return value


def log_params(params: dict[str, Any], synchronous: bool | None = None, run_id: str | None = None) -> None:
    """Record several params at once."""
    run = _target(run_id, "log_params").run
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
    active = _target(run_id, "log_metrics")
    if step is not None:
        active.run.log(dict(metrics), step=step)
        for key in metrics:
            active._next_step[key] = max(active._next_step.get(key, 0), step + 1)
        return
    for key, value in metrics.items():  # each metric counts its own steps
        at = active._next_step.get(key, 0)
        active.run.log({key: value}, step=at)
        active._next_step[key] = at + 1


def set_tag(key: str, value: Any, synchronous: bool | None = None) -> None:
    """Set one tag (the nbtrack tag ``key=value``; a new value replaces the old one)."""
    set_tags({key: value})


def set_tags(tags: dict[str, Any], synchronous: bool | None = None) -> None:
    """Set several tags; ``mlflow.note.content`` sets the run's notes."""
    if not isinstance(tags, dict):
        raise NbtrackError(f"set_tags takes a dict of tag names to values; got {type(tags).__name__}")
    run = _target(None, "set_tags").run
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


# -- artifacts ----------------------------------------------------------------------------

def _artifact_name(path: Path) -> str:
    return re.sub(r"[^\w.\-]", "-", path.name)[:128] or "artifact"


def log_artifact(local_path: str | os.PathLike[str], artifact_path: str | None = None,
                 run_id: str | None = None) -> Any:
    """Store a file as a version of the nbtrack artifact named after it, made by the active run."""
    from ..registry import log_artifact as store_artifact

    path = Path(local_path)
    if not path.is_file():
        raise NbtrackError(f"log_artifact: {path} is not a file; for a folder use log_artifacts")
    run = _target(run_id, "log_artifact").run
    meta = {"artifact_path": artifact_path} if artifact_path else None
    return store_artifact(path, _artifact_name(path), "file", metadata=meta, run=run)


def log_artifacts(local_dir: str | os.PathLike[str], artifact_path: str | None = None,
                  run_id: str | None = None) -> Any:
    """Store a folder's files as one version of the artifact named after ``artifact_path`` or the folder."""
    from ..registry import log_artifact as store_artifact

    path = Path(local_dir)
    if not path.is_dir():
        raise NbtrackError(f"log_artifacts: {path} is not a folder; for a file use log_artifact")
    run = _target(run_id, "log_artifacts").run
    name = _artifact_name(Path(artifact_path)) if artifact_path else _artifact_name(path.resolve())
    return store_artifact(path, name, "folder", run=run)


def _log_written(artifact_file: str, write: Any) -> Any:
    target = Path(artifact_file)
    with tempfile.TemporaryDirectory(prefix="nbtrack-mlflow-") as folder:
        path = Path(folder) / target.name
        write(path)
        parent = target.parent.as_posix()
        return log_artifact(path, None if parent in ("", ".") else parent)


def log_dict(dictionary: Any, artifact_file: str, run_id: str | None = None) -> Any:
    """Store a dict as a JSON file (YAML for ``.yaml``/``.yml``) artifact named ``artifact_file``."""
    _target(run_id, "log_dict")

    def write(path: Path) -> None:
        if path.suffix in (".yaml", ".yml"):
            try:
                import yaml
            except ImportError:
                raise NbtrackError("log_dict to a .yaml file needs PyYAML: pip install pyyaml") from None
            path.write_text(yaml.safe_dump(dictionary, sort_keys=False))
        else:
            path.write_text(json.dumps(dictionary, indent=2))

    return _log_written(artifact_file, write)


def log_text(text: str, artifact_file: str, run_id: str | None = None) -> Any:
    """Store text as a file artifact named ``artifact_file``."""
    _target(run_id, "log_text")
    return _log_written(artifact_file, lambda path: path.write_text(text))


def log_figure(figure: Any, artifact_file: str, *, save_kwargs: dict[str, Any] | None = None) -> Any:
    """Store a matplotlib figure as an image file artifact, and as an image in the run's media."""
    run = _target(None, "log_figure").run
    from ..rich_media import Image

    run.log({artifact_file: Image(figure)}, step=0)
    return _log_written(artifact_file, lambda path: figure.savefig(path, **(save_kwargs or {})))


def log_image(image: Any, artifact_file: str | None = None, key: str | None = None,
              step: int | None = None, timestamp: int | None = None) -> Any:
    """An image (array, PIL image) as a run media value at ``key``/``step``, or a file artifact."""
    if (artifact_file is None) == (key is None):
        raise NbtrackError("log_image needs exactly one of artifact_file= or key=")
    run = _target(None, "log_image").run
    from ..rich_media import Image

    picture = Image(image)
    if key is not None:
        run.log({key: picture}, step=step if step is not None else 0)
        return None
    assert artifact_file is not None
    run.log({artifact_file: picture}, step=0)
    return _log_written(artifact_file, lambda path: path.write_bytes(picture._bytes))


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
        projects = [str(p) for p in dict.fromkeys(chosen)] or [_project()]
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
    "create_experiment": "call mlflow.set_experiment(name); an experiment is an nbtrack project",
    "get_experiment": "an experiment is an nbtrack project: mlflow.get_experiment_by_name(name)",
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
