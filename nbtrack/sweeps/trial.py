"""One trial, wherever it runs: the kernel, a worker process or a Dask worker.

:func:`run_trial` creates the trial's run (id chosen by the sweep), makes it the
active run so ``nbtrack.log`` and ``nbtrack.config`` work unchanged, calls the user's
function, and ends the run with the outcome. The sweep stops a trial through its
executor (a worker process's pipe: :func:`stop_here`; Dask: a Variable) or else by
asking the store (``request_trial_stop``), which the trial's ``log`` reads at most every
0.2 s; either way ``log`` raises :class:`TrialStopped`, which ends the run as
``pruned`` or ``interrupted`` with everything it logged. Inline trials
also get an ``on_metric`` callback that asks the pruner directly.

A trial past its ``trial_timeout`` stops at its next ``log`` (and, in a worker
process, at once: the executor sends it SIGTERM, then SIGKILL); it ends ``failed``
with "stopped after N s: trial_timeout". A trial whose process died is written down
by the sweep's process with :func:`record_lost_trial`.
"""

from __future__ import annotations

import inspect
import math
import os
import threading
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from .. import _run, _settings
from ..errors import NbtrackError, warn_once
from ..store import get_store

__all__ = ["TIMEOUT", "TrialOutcome", "TrialRun", "TrialStopped", "TrialTask", "record_lost_trial",
           "run_trial", "stop_here", "timeout_error"]

STOP_CHECK_EVERY = 0.2
#: The stop reason of a trial past its ``trial_timeout``.
TIMEOUT = "trial_timeout"
OnMetric = Callable[[int, Any], bool]


class TrialStopped(BaseException):
    """Raised inside a trial's ``log`` when the sweep stops it.

    A ``BaseException`` (like ``KeyboardInterrupt``) so that ``except Exception`` in
    the user's training code does not swallow it.
    """

    def __init__(self, reason: str) -> None:
        super().__init__(f"the sweep stopped this trial ({reason})")
        self.reason = reason


@dataclass
class TrialTask:
    """Everything a worker needs to run one trial (pickled to worker processes)."""

    sweep_id: str
    number: int
    run_id: str
    name: str
    project: str
    config: dict[str, Any]
    function: Callable[..., Any]
    store: str  # where the store is: what get_store takes
    metric: str | None
    parent_pid: int
    #: seconds the trial may run (``trial_timeout``), or None
    timeout: float | None = None


@dataclass
class TrialOutcome:
    """How a trial ended, sent back to the sweep."""

    run_id: str
    number: int
    status: str
    value: float | None = None
    error: str | None = None


class TrialRun(_run.Run):
    """A sweep trial's run: a normal run whose id the sweep chose and whose ``log`` can stop it."""

    def __init__(self, task: TrialTask, on_metric: OnMetric | None = None, relay: Any = None) -> None:
        #: On a Dask worker that cannot see the notebook's store: where the run writes instead
        #: (its segments, blobs and stop signals travel through Dask; see executors/dask.py).
        self._relay = relay
        self._metric = task.metric
        self._on_metric = on_metric
        self._sweep = task.sweep_id
        self._next_check = 0.0
        self._deadline = time.monotonic() + task.timeout if task.timeout is not None else math.inf
        with _here_lock:  # a stop may come before the run exists, or while it runs
            self.stop_reason: str | None = _early_stops.pop(task.run_id, None)
            _running_here[task.run_id] = self
        self._in_trial = True
        # The id is the one the sweep recorded for this trial before launching it.
        super().__init__(task.name, project=task.project, config=task.config, kind="sweep-trial",
                         sweep_id=task.sweep_id, dir=task.store, id=task.run_id)
        # W&B's semantics: the sweep's values stay; init(config=defaults) only fills in
        # the other keys, and a later write of a sweep key warns and is ignored.
        self.config._lock(task.config)
        self._asked_status: tuple[str, str | None] | None = None

    #: see __init__ (a class default too: subclasses made without TrialRun.__init__ have none)
    _relay: Any = None

    @property
    def _store(self) -> Any:
        return self.__dict__["_store"]

    @_store.setter
    def _store(self, store: Any) -> None:
        # Run.__init__ sets the store from ``dir``; a relayed trial's run writes to its relay.
        self.__dict__["_store"] = self._relay if self._relay is not None else store

    #: The trial's code called finish(): the run ends there for it (W&B refuses later logs),
    #: though the sweep ends the stored run only when the function returns.
    _finish_asked = False
    #: Who runs the trial's code and who ends the stored run, for the refusal below.
    _CODE, _ENDS = "the trial's code", "the sweep ends the trial's run when the function returns"

    def _refuse_after_finish(self) -> None:
        if self._finish_asked:
            raise NbtrackError(
                f"run {self.name!r} was finished by {self._CODE} (finish()); nothing can be logged "
                f"to it after that: log before finishing, or drop the finish() ({self._ENDS})")

    def _push(self, data: dict[str, Any], step: Any, commit: bool) -> None:
        # Every log call (run.log and nbtrack.log) ends here, after the points are queued.
        self._refuse_after_finish()
        super()._push(data, step, commit)
        if not commit:
            return  # a W&B commit=False step: the checks come when it is committed
        if self.stop_reason is not None:
            raise TrialStopped(self.stop_reason)
        if self._on_metric is not None and self._metric is not None and self._metric in data:
            used = self._step - 1 if commit else self._step
            if self._on_metric(used, data[self._metric]):
                self._stop("pruned")
        now = time.monotonic()
        if now >= self._deadline:
            self._stop(TIMEOUT)
        if now >= self._next_check:
            self._next_check = now + STOP_CHECK_EVERY
            reason = self._store.trial_stop_reason(self._sweep, self.id)
            if reason is not None:
                self._stop(reason if reason in ("pruned", "interrupted") else "interrupted")

    def _stop(self, reason: str) -> None:
        self.stop_reason = reason
        raise TrialStopped(reason)

    def finish(self, status: str = "finished", error: str | None = None, *, exit_code: int | None = None,
               quiet: bool | None = None) -> None:
        # The sweep ends the run when the function returns; a finish() or a ``with``
        # block inside the function (W&B code does both) must not end it early, but
        # the status it asks for (finish(exit_code=1): failed) is the one the run gets.
        if self._in_trial:
            self._asked_status = _run._exit_status(status, error, exit_code)
            if "_push" in self.__dict__:  # a last commit=False step is stored, as W&B does at finish
                try:
                    self._close_step(_run.Run._push)  # not the trial's: a finish does not stop it
                except NbtrackError as exc:
                    warn_once(f"open-step:{self.id}", f"nbtrack: the values logged with commit=False "
                              f"at step {self._step} of run {self.name!r} could not be stored ({exc})")
            self._finish_asked = True
            return
        super().finish(status, error)

    def __exit__(self, exc_type: Any, exc: Any, tb: Any) -> None:
        if not self._in_trial:
            super().__exit__(exc_type, exc, tb)

    def end(self, status: str, error: str | None = None) -> None:
        """End the trial's run (the sweep's own finish)."""
        with _here_lock:
            _running_here.pop(self.id, None)
        self._in_trial = False
        super().finish(status, error)


_here_lock = threading.Lock()
_running_here: dict[str, TrialRun] = {}
_early_stops: dict[str, str] = {}


def stop_here(run_id: str, reason: str) -> None:
    """Stop the trial ``run_id`` running in this process at its next ``log`` (from any thread:
    a worker process gets the sweep's stops through its pipe, not through the store)."""
    with _here_lock:
        run = _running_here.get(run_id)
        if run is None:
            if len(_early_stops) < 1000:  # a stop for a trial that has not begun here yet
                _early_stops[run_id] = reason
            return
        if run.stop_reason is None:
            run.stop_reason = reason


def wants_config(function: Callable[..., Any]) -> bool:
    """Whether ``function`` takes a positional argument (then it is called with the config)."""
    try:
        parameters = inspect.signature(function).parameters.values()
    except (TypeError, ValueError):
        return False
    kinds = (inspect.Parameter.POSITIONAL_ONLY, inspect.Parameter.POSITIONAL_OR_KEYWORD,
             inspect.Parameter.VAR_POSITIONAL)
    return any(p.kind in kinds for p in parameters)


def run_trial(task: TrialTask, on_metric: OnMetric | None = None, *,
              reraise_interrupt: bool = False, relay: Any = None) -> TrialOutcome:
    """Run one trial in this process and say how it ended.

    ``reraise_interrupt``: re-raise Ctrl-C after ending the run (in the kernel, so the
    sweep stops); in a worker, Ctrl-C only ends this trial. ``relay``: the run writes
    there instead of the store (a Dask worker without the notebook's store).
    """
    own_process = os.getpid() != task.parent_pid
    if own_process and relay is None:
        _settings.settings(dir=task.store)  # nbtrack.runs() etc. inside the trial read its store
        if not get_store(task.store).exists():
            raise NbtrackError(
                f"the store {task.store} is not reachable from this worker "
                f"(pid {os.getpid()}); put it on a filesystem every worker sees"
            )
    run = TrialRun(task, on_metric, relay)
    # In the main thread, other threads (data loaders) see the trial's run too.
    restore = _run.activate(run, process_wide=threading.current_thread() is threading.main_thread())
    status, error, interrupted = "finished", None, False
    try:
        if wants_config(task.function):
            task.function(run.config)
        else:
            task.function()
        if run.stop_reason is not None:  # the function caught TrialStopped itself
            status = run.stop_reason
        elif run._asked_status is not None:
            status, error = run._asked_status
    except TrialStopped as stop:
        status = stop.reason
    except KeyboardInterrupt:
        status, interrupted = "interrupted", True
    except BaseException as exc:  # SystemExit too: the trial failed, the sweep goes on
        status = run.stop_reason or "failed"
        if status == "failed":
            error = "".join(traceback.format_exception(type(exc), exc, exc.__traceback__))
    finally:
        restore()
    if status == TIMEOUT:
        status, error = "failed", timeout_error(task.timeout)
    run.end(status, error)
    if own_process:
        # A worker lives on after its trial: the run's environment record (scanned in the
        # background, not waited for by finish) goes in before the sweep hears the trial
        # ended, not later into a store the notebook may have moved on from.
        run._env_thread.join(timeout=10)
        run._writer.flush()
    value = _metric_value(run, task.metric)
    if interrupted and reraise_interrupt:
        raise KeyboardInterrupt
    return TrialOutcome(task.run_id, task.number, status, value, error)


def _metric_value(run: TrialRun, metric: str | None) -> float | None:
    if metric is None:
        return None
    value = run.summary.get(metric)
    try:
        return None if value is None else float(value)
    except (TypeError, ValueError):
        return None


def timeout_error(timeout: float | None, killed: bool = False) -> str:
    """The error of a trial stopped at its ``trial_timeout``."""
    text = f"stopped after {timeout:g} s: trial_timeout" if timeout is not None else "stopped: trial_timeout"
    if killed:
        text += " (killed: it did not stop when asked)"
    return text


def record_lost_trial(task: TrialTask, status: str, error: str, pid: int | None) -> None:
    """Write down how a trial whose process died ended (from the sweep's process).

    The trial's run is in the store once its process saved it (then only its status,
    end and error change); a process that died before its first save left nothing, so
    the whole record is written, with the config it was given.
    """
    from ..store.journal import Segment
    from ..values import dumps

    store = get_store(task.store)
    now = time.time()
    record: dict[str, Any] = {"id": task.run_id, "status": status, "error": error, "ended_at": now,
                              "heartbeat_at": now, "hostname": _run._hostname(), "pid": pid,
                              "pid_started": None, "fields": ["status"]}
    if not store.run_exists(task.run_id):
        record.update({"name": task.name, "project": task.project, "created_at": now, "tags": [],
                       "notes": None, "group_name": None, "kind": "sweep-trial",
                       "config": dumps(task.config), "summary": dumps({}), "source": None,
                       "execution_count": None, "notebook_path": None, "environment": None,
                       "git_commit": None, "git_dirty": None, "sweep_id": task.sweep_id,
                       "fields": list(_run._SNAPSHOT_FIELDS)})
    store.save(Segment(runs=[record]))
