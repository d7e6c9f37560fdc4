"""MLflow's run stack over nbtrack runs: ``start_run``, ``end_run``, ``active_run`` and experiments."""

from __future__ import annotations

import os
import threading
import traceback
from typing import Any

from .. import _run, _settings
from ..errors import NbtrackError, StoreError, warn_once
from ._entities import (
    PARENT_TAG,
    Experiment,
    RunData,
    RunInfo,
    flat_params,
    millis,
    mlflow_status,
    param_text,
    tag_dict,
    tag_list,
)

__all__ = ["STATUS", "ActiveRun", "active_run", "create_experiment", "end_run", "get_experiment",
           "get_experiment_by_name", "last_active_run", "project", "set_experiment", "stack", "start_run",
           "target"]

STATUS = {"FINISHED": "finished", "FAILED": "failed", "KILLED": "interrupted"}


class ActiveRun:
    """The run ``start_run`` began: a context manager with MLflow's ``info`` and ``data``.

    ``info`` and ``data`` are read from the live run each time (``data.metrics`` holds
    each metric's last value). ``run`` is the :class:`nbtrack.Run` underneath.
    """

    def __init__(self, run: _run.Run, restore: Any, own: bool, seed: bool = False) -> None:
        self.run = run
        self._restore = restore
        self._own = own
        #: One past each metric's last step, for log_metric without step=; every point the
        #: run stores counts (nbtrack.log's too), as the writer hands them to the listener.
        self._next_step: dict[str, int] = {}
        self._unsubscribe = run.subscribe(self._on_event)
        if seed:  # a run that logged before: its stored metrics count too
            self._seed()

    def _on_event(self, event: str, payload: Any) -> None:
        if event == "points":
            keys, steps = payload[0], payload[1]
            nexts = self._next_step
            for key, step in dict(zip(keys, steps)).items():  # each key's last point of the batch
                if step >= nexts.get(key, 0):
                    nexts[key] = step + 1

    def _seed(self) -> None:
        from ..query import run_record

        run = self.run
        if run.kind == "disabled":
            return  # nbtrack.init(mode="disabled"): nothing stored, nothing to count
        run.drain()  # what is queued reaches the listener
        if os.getpid() == run._pid:
            run._writer.flush()  # what was drained before reaches the store
        try:
            metrics = run_record(run.id, store=run._store)["metrics"]
        except StoreError as exc:
            warn_once(f"mlflow-seed:{run.id}", f"nbtrack.mlflow could not read the metrics run {run.name!r} "
                      f"stored so far ({exc}); log_metric without step= counts only the points logged from "
                      "now on, so pass step= to be sure not to log over earlier points")
            return
        except NbtrackError:
            return  # not in the store yet: nothing logged before
        for metric in metrics:
            if metric.get("last_step") is not None:
                key = metric["key"]
                self._next_step[key] = max(self._next_step.get(key, 0), int(metric["last_step"]) + 1)

    def next_step(self, key: str) -> int:
        """The step ``log_metric(key, value)`` without ``step=`` uses: one past the metric's last."""
        self.run.drain()  # points nbtrack.log queued since count too
        return self._next_step.get(key, 0)

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


class _Stack(threading.local):
    """MLflow's active runs, innermost last: one stack per thread, as MLflow keeps them."""

    def __init__(self) -> None:
        self.runs: list[ActiveRun] = []


_local = _Stack()
_last: list[ActiveRun | None] = [None]
#: Ids of the runs start_run began and has not ended, in any thread: another thread's
#: start_run must not join them (nbtrack's process-wide active run may be one).
_started: set[str] = set()
_experiment: list[str | None] = [None]


def stack() -> list[ActiveRun]:
    """This thread's active MLflow runs, innermost last."""
    return _local.runs


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


def create_experiment(name: str, artifact_location: str | None = None,
                      tags: dict[str, Any] | None = None) -> str:
    """An experiment is an nbtrack project, made by its first run: returns its id (its name)."""
    if not isinstance(name, str) or not name.strip():
        raise NbtrackError(f"create_experiment needs a name; got {name!r}")
    if get_experiment_by_name(name) is not None:
        raise NbtrackError(f"experiment {name!r} already exists (it has runs); use set_experiment({name!r})")
    return name


def get_experiment(experiment_id: str) -> Experiment:
    """The experiment of this id: the nbtrack project of that name."""
    return Experiment(str(experiment_id))


def project(experiment_id: Any = None) -> str:
    """The project a run started now goes to."""
    if experiment_id is not None:
        return str(experiment_id)
    return _experiment[0] or os.environ.get("MLFLOW_EXPERIMENT_NAME") or _settings.current().project

# -- runs -------------------------------------------------------------------------------

def start_run(run_id: str | None = None, experiment_id: str | None = None, run_name: str | None = None,
              nested: bool = False, parent_run_id: str | None = None, tags: dict[str, Any] | None = None,
              description: str | None = None, log_system_metrics: bool | None = None) -> ActiveRun:
    """Start a run (a context manager); ``nested=True`` starts a child of the active one,
    ``run_id=`` continues a stored run (its metrics go on after their last steps); while an
    nbtrack run is active, ``run_id=`` of that run joins it and another id raises, since
    continuing it would finish the active one.

    Example
    -------
    >>> with mlflow.start_run(run_name="baseline") as run:  # doctest: +SKIP
    ...     mlflow.log_param("lr", 0.01)
    """
    if run_id is not None:
        return _resume(run_id, tags, description)
    if stack() and not nested:
        raise NbtrackError(
            f"run {stack()[-1].run.id} is already active: to start a nested run, call "
            "start_run(nested=True); to start a new run, call mlflow.end_run() first")
    tag_map = {str(k): param_text(v) for k, v in (tags or {}).items()}
    notes = description if description is not None else tag_map.pop("mlflow.note.content", None)
    run_name = run_name if run_name is not None else tag_map.pop("mlflow.runName", None)
    parent = stack()[-1].run if stack() else None
    if parent_run_id is not None:
        tag_map[PARENT_TAG] = parent_run_id
    elif parent is not None:
        tag_map[PARENT_TAG] = parent.id
    current = _run.active_run()
    if not stack() and current is not None and current.status == "running" and current.id not in _started:
        # Inside a %%track cell, a sweep trial or an nbtrack.init run: MLflow calls log there.
        active = _join(current, tag_map, notes)
    else:
        group = (parent.group or parent.name) if parent is not None else None
        run = _run.Run(run_name, project=project(experiment_id), tags=tag_list(tag_map), notes=notes,
                       group=group)
        # Other threads (data loaders) see the main thread's run; a worker thread's stays its own.
        main = threading.current_thread() is threading.main_thread()
        active = ActiveRun(run, _run.activate(run, process_wide=main), own=True)
        _started.add(run.id)
    if log_system_metrics:
        from ..system import attach

        attach(active.run)
    stack().append(active)
    _last[0] = active
    return active


def _join(current: _run.Run, tag_map: dict[str, str], notes: str | None) -> ActiveRun:
    """An ActiveRun over the nbtrack run already active; its owner finishes it."""
    if tag_map:
        current.set_tags(current.tags + tag_list(tag_map))
    if notes:
        current.set_notes(notes)
    return ActiveRun(current, None, own=False, seed=True)


def _resume(run_id: str, tags: dict[str, Any] | None, description: str | None) -> ActiveRun:
    if stack():
        raise NbtrackError(f"start_run(run_id={run_id!r}) continues a run at the top level; end the active "
                           f"run {stack()[-1].run.id} first with mlflow.end_run()")
    current = _run.active_run()
    if current is not None and not current._finished:
        # An nbtrack run is active here (nbtrack.init, a %%track cell, a sweep trial): continuing
        # another run would finish it. Its own id joins it, as start_run() does.
        if current.id == run_id and current.id not in _started:
            tag_map = {str(k): param_text(v) for k, v in (tags or {}).items()}
            active = _join(current, tag_map, description)
            stack().append(active)
            _last[0] = active
            return active
        raise NbtrackError(
            f"start_run(run_id={run_id!r}): nbtrack run {current.name!r} ({current.id}) is active here, and "
            "continuing another run would finish it. Log to it with start_run() (no run_id), or end it "
            "first with nbtrack.finish() and then continue the other run")
    run = _run.init(id=run_id, resume="must")  # raises, naming the store, for an unknown id
    if tags:
        stored = tag_dict(run.tags)
        stored.update({str(k): param_text(v) for k, v in tags.items()})
        run.set_tags(tag_list(stored))
    if description is not None:
        run.set_notes(description)
    active = ActiveRun(run, None, own=True, seed=True)
    _started.add(run.id)
    stack().append(active)
    _last[0] = active
    return active


def end_run(status: str = "FINISHED") -> None:
    """End the active run with MLflow's status: ``FINISHED``, ``FAILED`` or ``KILLED``.

    With no active run this does nothing, as in MLflow (scripts call it to be sure).
    """
    if status not in STATUS:
        raise NbtrackError(f"end_run(status={status!r}): use FINISHED, FAILED or KILLED")
    if stack():
        _end(stack()[-1], status, None)


def _end(active: ActiveRun, status: str, error: str | None) -> None:
    if active not in stack():
        return  # ended already (end_run inside the with block)
    # Children still open end with their parent, as the with blocks would.
    while stack() and stack()[-1] is not active:
        _end(stack()[-1], status, error)
    stack().pop()
    _started.discard(active.run.id)
    active._unsubscribe()
    if active._restore is not None:
        active._restore()  # before finish: the parent becomes nbtrack's active run again
    if active._own and active.run.status == "running":
        active.run.finish(STATUS[status], error)


def active_run() -> ActiveRun | None:
    """The run MLflow calls log to now, or None."""
    return stack()[-1] if stack() else None


def last_active_run() -> ActiveRun | None:
    """The run started last in this process, active or ended."""
    return _last[0]


def target(run_id: str | None, call: str) -> ActiveRun:
    if run_id is not None:
        for active in reversed(stack()):
            if active.run.id == run_id:
                return active
        raise NbtrackError(f"{call}(run_id={run_id!r}): nbtrack.mlflow logs only to runs active in this "
                           "process; start_run() it, or log to it with nbtrack.init")
    if stack():
        return stack()[-1]
    # Like MLflow, a log call with no run starts one.
    return start_run()

