"""Runs: ``init``, ``log``, ``finish`` and the :class:`Run` object, shaped like W&B's.

The active run lives in a ``ContextVar`` so that threads and sweep trials do not
cross; a process-wide default catches the notebook case where ``init`` in one cell
and ``log`` in the next run in different contexts.
"""

from __future__ import annotations

import atexit
import collections
import contextlib
import os
import secrets
import socket
import string
import sys
import threading
import time
import traceback
from collections import deque
from collections.abc import Callable
from contextvars import ContextVar
from itertools import repeat
from typing import Any

from . import _settings
from .config import Config
from .errors import NbtrackError, StoreError, warn_once
from .store import get_store
from .values import coerce_metrics, coerce_step, dumps, jsonable
from .writer import HEARTBEAT_EVERY, writer_for

__all__ = ["STATUSES", "Run", "activate", "active_run", "finish", "init", "log"]

STATUSES = ("running", "finished", "failed", "interrupted", "crashed", "pruned")
#: Queued points past which the logging thread helps the writer (see Writer.backlog):
#: memory stays flat even when a loop logs faster than the store can take it.
_QUEUE_LIMIT = 200_000
_MIN_STEP, _MAX_STEP = -(2**63), 2**63 - 2  # BIGINT, leaving room for the auto-increment
_ID_ALPHABET = string.ascii_lowercase + string.digits
#: Larger ints take the checked path, which refuses those no float can hold (10**400).
_INT_AS_FLOAT = 2**1023

#: Set by ``nbtrack agent`` for the script it runs (see nbtrack.sweeps.script_trial).
_AGENT_TRIAL_ENV = "NBTRACK_AGENT_TRIAL"
_active: ContextVar[Run | None] = ContextVar("nbtrack_active_run", default=None)
_default: list[Run | None] = [None]  # the process-wide fallback, see module docstring
_live_runs: dict[str, Run] = {}
_live_lock = threading.Lock()
#: The runs this process started, newest last: ``id -> (store address, project, created_at)``.
#: A reader that does not wait for this process's writes to reach the store (a live panel's
#: colour look-up) still knows them.
_made_here: collections.OrderedDict[str, tuple[str, str, float]] = collections.OrderedDict()
MADE_HERE_KEPT = 10_000


def new_run_id() -> str:
    return "".join(secrets.choice(_ID_ALPHABET) for _ in range(8))


class Summary(dict[str, Any]):
    """Last value of each metric (W&B's ``run.summary``); set keys to override."""

    def __init__(self, run: Run) -> None:
        super().__init__()
        self._run = run

    def _absorb(self, latest: dict[str, Any]) -> None:
        dict.update(self, latest)
        self._run._mark("summary")

    def __setitem__(self, key: str, value: Any) -> None:
        dict.__setitem__(self, key, jsonable(value))
        self._run._mark("summary")

    def update(self, *args: Any, **kwargs: Any) -> None:  # run.summary.update({...}), as W&B
        for key, value in dict(*args, **kwargs).items():
            self[key] = value

    def __getitem__(self, key: str) -> Any:
        self._run._sync_summary()
        return dict.__getitem__(self, key)

    def get(self, key: str, default: Any = None) -> Any:
        self._run._sync_summary()
        return dict.get(self, key, default)

    def __repr__(self) -> str:
        self._run._sync_summary()
        return f"Summary({dict.__repr__(self)})"


class Run:
    """One tracked run: a ``%%track`` cell, an ``init`` … ``finish`` span, or a sweep trial.

    Example
    -------
    >>> import nbtrack
    >>> with nbtrack.init(name="baseline", config={"lr": 0.1}) as run:  # doctest: +SKIP
    ...     for step in range(3):
    ...         run.log({"loss": 1 / (step + 1)})
    """

    def __init__(
        self,
        name: str | None = None,
        *,
        project: str | None = None,
        config: Any = None,
        tags: Any = None,
        notes: str | None = None,
        group: str | None = None,
        kind: str = "script",
        source: str | None = None,
        execution_count: int | None = None,
        notebook_path: str | None = None,
        sweep_id: str | None = None,
        dir: str | os.PathLike[str] | None = None,
        id: str | None = None,
        job_type: str | None = None,
        resume_from: dict[str, Any] | None = None,
    ) -> None:
        self.id = _check_id(id) if id is not None else new_run_id()
        self.name = _check_name(name) if name is not None else f"run-{self.id}"
        self.project = _check_name(project or _settings.current().project, "project")
        self.tags: list[str] = _check_tags(tags)
        self.notes = notes
        self.group = group
        self.kind = kind
        self.source = source
        self.execution_count = execution_count
        self.notebook_path = notebook_path
        self.sweep_id = sweep_id
        #: What `nbtrack rerun` needs (a %%track cell's earlier cells, files, overrides,
        #: ``rerun_of``) and the cell's derived values: saved in the environment record.
        self.reproduce: dict[str, Any] | None = None
        self.derived: dict[str, Any] | None = None
        #: Environment keys a resumed run keeps from its stored record (nbtrack sync's base).
        self._kept_environment: dict[str, Any] = {}
        self.status = "running"
        self.error: str | None = None
        self.created_at = time.time()
        self.ended_at: float | None = None
        # Flat (step, time, metrics) triples; see _push for why not tuples.
        self._queue: deque[Any] = deque()
        self._queued = 0  # points in the queue (approximate: reset by the writer's drain)
        self._media_rows: list[list[Any]] = []  # media_points rows not yet saved
        self._media_taken = 0  # how many of them the write in progress holds
        self._step = 0
        self._open: tuple[int, dict[str, Any]] = (0, {})  # a commit=False step not stored yet
        self._open_media: dict[str, list[list[Any]]] = {}  # its media rows (files written), by key
        self._last_step: int | None = None
        self._finished = False
        self._dirty: set[str] = set()
        self._inserted = False
        self._heartbeat = 0.0
        self._pid = os.getpid()
        self._forked = False  # set in a forked child: its first log starts its own writer
        self._child = False  # logging from a forked child: points only, never the record
        self._listeners: list[Callable[[str, Any], None]] = []
        self.summary = Summary(self)
        self.config = Config(config if config is not None else {}, on_change=lambda: self._mark("config"))
        #: define_metric: the definitions as given (saved in the environment record) and
        #: the summary rule of each metric they name (see nbtrack._wandb).
        self.metric_definitions: dict[str, dict[str, Any]] = {}
        self._summary_rules: dict[str, str] = {}  # name or glob -> "min", "max", ...
        self._rule_state: dict[str, Any] = {}  # metric -> its running aggregate
        self._rules_lock = threading.Lock()  # the two above: define_metric vs the writer's fold
        self.job_type: str | None = None
        if job_type is not None:
            self._set_job_type(job_type)
        self._store = get_store(dir)
        if resume_from is not None:
            from ._wandb import resume_state

            resume_state(self, resume_from)  # reads the store: its media steps, a mean's points
        self._writer = writer_for(self._store)
        # git and the package scan take 0.1-0.7 s: done beside the user's code, written
        # when ready, so the run shows up in the store at once.
        self._environment: dict[str, Any] | None = None
        self._env_thread = threading.Thread(target=self._capture_environment,
                                            name="nbtrack-environment", daemon=True)
        self._env_thread.start()
        if _settings.current().system_metrics:
            from .system import attach

            attach(self)
        with _live_lock:
            _live_runs[self.id] = self
            _made_here[self.id] = (str(getattr(self._store, "address", "")), self.project, self.created_at)
            if len(_made_here) > MADE_HERE_KEPT:
                _made_here.popitem(last=False)
        _install_exit_hooks()
        self._writer.add(self)

    # -- the hot path ---------------------------------------------------------
    def log(self, data: Any = None, step: Any = None, commit: bool = True, **metrics: Any) -> None:
        """Record metrics at a step (explicit ``step=``, else one past the last).

        Only buffers: the background writer stores the points within about a second.
        ``commit=False`` keeps the step open, so the next call logs at the same step.
        """
        if metrics:
            self._push({**data, **metrics} if data else metrics, step, commit)
        elif type(data) is dict:
            self._push(data.copy(), step, commit)  # the caller may reuse and mutate its dict
        elif data is None:
            raise NbtrackError("nbtrack.log() needs metrics, e.g. nbtrack.log({'loss': 0.1})")
        else:
            self._push(coerce_metrics(data), step, commit)

    def _push(self, data: dict[str, Any], step: Any, commit: bool) -> None:
        """Buffer one call's metrics; ``data`` is ours to keep (a fresh dict)."""
        if self._finished:
            raise NbtrackError(
                f"run {self.name!r} is already {self.status}; start a new one with nbtrack.init()"
            )
        if self._forked:
            self._start_in_child()
        if not commit:
            self._open_step(data, step)
            return
        rich: list[tuple[str, Any]] | None = None
        for key, value in data.items():
            if (type(value) is not float and (
                    type(value) is not int or not -_INT_AS_FLOAT <= value <= _INT_AS_FLOAT)
                    ) or type(key) is not str or not key:
                rich = []
                data = coerce_metrics(data, rich=rich)
                break
        if step is None:
            step = self._step
        elif type(step) is not int or not _MIN_STEP <= step <= _MAX_STEP:
            step = coerce_step(step)
        if rich:
            self._store_media(step, time.time(), rich)
            if not data:
                self._step = step + 1 if commit else step
                return
        queue = self._queue
        # Three flat items rather than one tuple: a tuple holding a dict stays tracked
        # by the garbage collector, and full collections over millions of buffered
        # records cost more than the append itself (measured: 2.9 -> ~1.7 us per call).
        queue.extend((step, time.time(), data))
        self._step = step + 1 if commit else step
        self._queued += len(data)
        if self._queued > _QUEUE_LIMIT:
            self._writer.backlog(self)

    # W&B's commit=False: the step stays open and its values merge (a later value of a key
    # wins) until a call commits it or logs at another step; then it is stored as one.
    # While a step is open, ``_push`` is this instance's ``_push_open``, so the usual
    # committed call pays nothing for the feature.
    def _open_step(self, data: dict[str, Any], step: Any) -> None:
        if step is None:
            step = self._step
        elif type(step) is not int or not _MIN_STEP <= step <= _MAX_STEP:
            step = coerce_step(step)
        data, media = self._take_values(data, step)  # a bad value raises here, nothing opened
        self._open = (step, data)
        self._open_media = media
        self._step = step
        self._push = self._push_open  # type: ignore[method-assign]

    def _push_open(self, data: dict[str, Any], step: Any, commit: bool) -> None:
        open_step, open_data = self._open
        if step is not None and (step if type(step) is int else coerce_step(step)) != open_step:
            self._close_step()  # another step: the open one is done
            self._push(data, step, commit)
            return
        data, media = self._take_values(data, open_step)  # raises before the open step changes
        open_media = self._open_media
        for key in data:  # a later value of a key wins, a number over media too
            open_media.pop(key, None)
        for key, rows in media.items():
            open_data.pop(key, None)
            open_media[key] = rows
        open_data.update(data)
        if commit:
            self._close_step()

    def _take_values(self, data: dict[str, Any],
                     step: int) -> tuple[dict[str, Any], dict[str, list[list[Any]]]]:
        """A commit=False call's values, checked and converted as a committed call's are, at
        that call: numbers as floats, media encoded (files written, arrays binned) by key."""
        for key, value in data.items():
            if (type(value) is not float and (
                    type(value) is not int or not -_INT_AS_FLOAT <= value <= _INT_AS_FLOAT)
                    ) or type(key) is not str or not key:
                rich: list[tuple[str, Any]] = []
                data = coerce_metrics(data, rich=rich)
                media: dict[str, list[list[Any]]] = {}
                for row in self._encode_media(step, time.time(), rich):
                    media.setdefault(row[1], []).append(row)
                return data, media
        return data, {}

    def _close_step(self, push: Callable[..., None] | None = None) -> None:
        """Store the open step's values (a ``commit=False`` step), as one call."""
        open_step, open_data = self._open
        rows = [row for key_rows in self._open_media.values() for row in key_rows]
        self.__dict__.pop("_push", None)
        self._open, self._open_media = (0, {}), {}
        if rows:
            self._add_media_rows(rows)
        (push or type(self)._push)(self, open_data, open_step, True)

    def _store_media(self, step: int, now: float, rich: list[tuple[str, Any]]) -> None:
        """Write media files now (in the caller's thread) and queue their rows for the writer."""
        rows = self._encode_media(step, now, rich)
        if rows:
            self._add_media_rows(rows)

    def _encode_media(self, step: int, now: float, rich: list[tuple[str, Any]]) -> list[list[Any]]:
        """Write media files now (in the caller's thread); their ``media_points`` rows.

        A value that cannot be stored (full disk) is reported once and skipped; the
        user's loop goes on.
        """
        rows = []
        for key, value in rich:
            for idx, item in enumerate(value if isinstance(value, list) else [value]):
                try:
                    digest, path, meta, inline = item._encode(self._store)
                except NbtrackError as exc:
                    if not isinstance(exc, StoreError):
                        raise  # the value itself is wrong (a bad image shape): the caller's to fix
                    self._media_skipped(key, step, item.kind, exc)
                    continue
                except Exception as exc:
                    warn_once(f"media-store:{type(exc).__name__}",
                              f"nbtrack could not store the {item.kind} {key!r} at step {step} in "
                              f"{self._store.location} ({type(exc).__name__}: {exc}); it was skipped and "
                              "your code keeps running")
                    continue
                rows.append([self.id, key, step, idx, now, item.kind, digest, path,
                             dumps(meta), inline])
        return rows

    def _media_skipped(self, key: str, step: int, kind: str, exc: BaseException) -> None:
        """A value the store refused (a file too large for a database store without a blob
        folder): said once per cause, the rest of the log call is kept."""
        warn_once(f"media-refused:{str(exc)[:60]}",
                  f"nbtrack skipped the {kind} {key!r} at step {step}: {exc}. The other values of "
                  "this log call were kept; your code keeps running")

    def _add_media_rows(self, rows: list[list[Any]]) -> None:
        # The fold inserts media rows with pandas, whose import (concurrent.futures.thread)
        # registers a threading exit hook: refused once the interpreter's shutdown began,
        # which failed the exit fold of a run that logged media and never finished.
        # Imported here, with the first media; pandas itself stays lazy.
        import concurrent.futures.thread  # noqa: F401

        self._media_rows.extend(rows)
        self._mark("media")
        if self._listeners:
            self._notify("media", rows)

    def log_system(self, data: dict[str, Any]) -> None:
        """Record machine metrics (CPU, RAM, GPU) without moving the run's step.

        Keys get a ``system/`` prefix; each point carries the training step current
        when it was sampled, and its time.
        """
        if self._finished:
            return
        values = coerce_metrics(data)
        prefixed = {k if k.startswith("system/") else f"system/{k}": v for k, v in values.items()}
        self._queue.extend((max(self._step - 1, 0), time.time(), prefixed))

    def subscribe(self, listener: Callable[[str, Any], None]) -> Callable[[], None]:
        """Call ``listener(event, payload)`` as the run progresses; returns an unsubscribe.

        Events: ``"points"`` with ``(keys, steps, values, times)`` lists of the points
        moved out of the hot-path buffer (in the writer thread, about once a second,
        or whenever :meth:`drain` is called), ``"media"`` with the media rows just stored
        (tuples ``run_id, key, step, idx, time, kind, digest, path`` relative to the store
        folder, ``meta`` JSON, inline data; called in the logging thread), and ``"finish"``
        with the final status.
        Used by live views; a listener that raises is dropped with one warning.
        """
        self._listeners.append(listener)

        def unsubscribe() -> None:
            with contextlib.suppress(ValueError):
                self._listeners.remove(listener)

        return unsubscribe

    def drain(self) -> None:
        """Hand buffered points to listeners and the summary now (no I/O)."""
        self._writer.drain(self)

    def _notify(self, event: str, payload: Any) -> None:
        for listener in list(self._listeners):
            try:
                listener(event, payload)
            except Exception as exc:
                self._listeners.remove(listener)
                warn_once(f"listener:{id(listener)}",
                          f"nbtrack: a live view failed ({exc!r}) and was detached")

    @property
    def step(self) -> int:
        """The step the next ``log`` call without ``step=`` will use."""
        return self._step

    # -- lifecycle ------------------------------------------------------------
    def finish(self, status: str = "finished", error: str | None = None, *, exit_code: int | None = None,
               quiet: bool | None = None) -> None:
        """End the run and wait until the store has everything it logged.

        A run ends once: finishing it again with the same status does nothing, with
        another status raises :class:`NbtrackError` (its stored status stays).
        ``exit_code`` (W&B's): 0 ends the run ``finished``, anything else ``failed``;
        ``quiet`` is accepted (nbtrack prints nothing at finish anyway).
        """
        status, error = _exit_status(status, error, exit_code)
        if "_push" in self.__dict__ and not self._finished:
            try:  # a last commit=False step is stored, as W&B does at finish
                self._close_step(Run._push)  # not a trial's _push: a stop must not end the finish
            except NbtrackError as exc:
                warn_once(f"open-step:{self.id}", f"nbtrack: the values logged with commit=False at "
                          f"step {self._step} of run {self.name!r} could not be stored ({exc})")
        if self._finished:
            if status != self.status:
                raise NbtrackError(
                    f"run {self.name!r} already ended as {self.status!r}; it cannot become "
                    f"{status!r}. A run's status is set once: finish it with the status you mean, "
                    "or start a new run with nbtrack.init()")
            return
        if status not in STATUSES:
            raise NbtrackError(f"unknown run status {status!r}; use one of {', '.join(STATUSES)}")
        self.status = status
        self.error = error
        self.ended_at = time.time()
        # Mark before flagging finished: the writer forgets a finished run with nothing
        # dirty, and must not do so before this status is written.
        self._mark("status")
        # Not waiting for the environment scan (git, packages: up to ~0.5 s in a new
        # process): the writer saves it when it is ready, and exit waits for it.
        self._finished = True
        if _default[0] is self:
            _default[0] = None
        if _active.get() is self:
            _active.set(None)
        if os.getpid() == self._pid:
            self._writer.flush()
        with _live_lock:
            _live_runs.pop(self.id, None)
        if self._listeners:
            self._notify("finish", status)

    def __enter__(self) -> Run:
        return self

    def __exit__(self, exc_type: Any, exc: Any, tb: Any) -> None:
        if self._finished:
            return  # finished inside the block: that status stands
        if exc_type is None or (issubclass(exc_type, SystemExit) and getattr(exc, "code", 1) in (0, None)):
            self.finish()
        elif issubclass(exc_type, KeyboardInterrupt):
            self.finish("interrupted")
        else:
            self.finish("failed", "".join(traceback.format_exception(exc_type, exc, tb)))

    def __repr__(self) -> str:
        return f"<nbtrack.Run {self.name!r} id={self.id} project={self.project!r} {self.status}>"

    # -- artifacts -------------------------------------------------------------------
    def log_artifact(self, data: Any, name: str | None = None, type: str | None = None,
                     **options: Any) -> Any:
        """Store a file, folder or in-memory dataset as a new version of ``name``, made by this run.

        See :func:`nbtrack.log_artifact` for the options.
        """
        from .registry import log_artifact

        return log_artifact(data, name, type, run=self, **options)

    def use_artifact(self, ref: Any, **options: Any) -> Any:
        """Fetch an artifact version (``"name:v1"``, ``"name:latest"``) and record this run used it."""
        from .registry import use_artifact

        return use_artifact(ref, run=self, **options)

    # -- W&B's run methods -----------------------------------------------------------
    def define_metric(self, name: str, step_metric: str | None = None, *, summary: str | None = None,
                      goal: str | None = None, **options: Any) -> None:
        """Say how metric ``name`` (or a glob like ``"val/*"``) is summarised and charted.

        ``summary``: ``"min"``, ``"max"``, ``"mean"``, ``"last"`` (default), ``"best"``
        (with ``goal="minimize"`` or ``"maximize"``) or ``"none"``: ``run.summary[name]``
        follows that rule. ``step_metric``: the metric to chart it against, saved with
        the run (``environment.define_metric``).

        Example
        -------
        >>> run.define_metric("val/loss", step_metric="epoch", summary="min")  # doctest: +SKIP
        """
        from ._wandb import define_metric

        define_metric(self, name, step_metric, summary, goal, options)

    def watch(self, models: Any, criterion: Any = None, log: str | None = "gradients",
              log_freq: int = 1000, idx: int | None = None, log_graph: bool = False) -> Any:
        """``run.watch(model)``: :func:`nbtrack.watch` for this run."""
        from ._wandb import watch

        return watch(models, criterion, log, log_freq, idx, log_graph, run=self)

    @property
    def disabled(self) -> bool:
        """True for the stand-in run of ``init(mode="disabled")``, which stores nothing."""
        return False

    def _set_job_type(self, job_type: Any) -> None:
        # Kept as a tag "job_type:<type>": visible and filterable wherever tags are.
        if not isinstance(job_type, str) or not job_type.strip():
            raise NbtrackError(f"job_type must be a non-empty string; got {job_type!r}")
        self.job_type = job_type
        self.tags = [t for t in self.tags if not t.startswith("job_type:")] + [f"job_type:{job_type}"]
        self._mark("tags")

    # -- tags, notes, name: editable while running -----------------------------
    def set_tags(self, tags: Any) -> None:
        self.tags = _check_tags(tags)
        self._mark("tags")

    def set_notes(self, notes: str | None) -> None:
        self.notes = notes
        self._mark("notes")

    # -- used by the writer -----------------------------------------------------
    def _mark(self, field: str) -> None:
        self._dirty.add(field)

    def _sync_summary(self) -> None:
        if self._queue:
            self._writer.drain(self)

    def _start_in_child(self) -> None:
        """The first log of this run in a forked child (a DataLoader worker, a fork pool):
        the child saves its own points under the run; the record stays the parent's."""
        self._forked = False
        self._child = True
        # A fresh store object: the parent's threads may have held its locks at the fork.
        self._store = get_store(self._store.address)
        self._writer = writer_for(self._store, folds=False)
        self._writer.add(self)
        _install_child_exit(self._writer)
        warn_once(f"forked-log:{self.id}",
                  f"nbtrack: run {self.name!r} logs from a forked child process (pid {os.getpid()}); "
                  "its points are stored under the run, saved by this process every "
                  f"{_settings.current().flush_interval:g} s and at its exit (os._exit skips that, and "
                  "loses what the last save did not take); the run's status and summary stay the parent's")

    def _needs_write(self, now: float) -> bool:
        if self._child:
            return False
        if not self._inserted or self._dirty:
            return True
        return not self._finished and now - self._heartbeat >= HEARTBEAT_EVERY

    def _take_dirty(self) -> set[str]:
        """Hand the changed fields to a write; marks made meanwhile go to a fresh set."""
        fields, self._dirty = self._dirty, set()
        return fields

    def _written(self, now: float) -> None:
        self._inserted = True
        self._heartbeat = now

    def _unwritten(self, fields: set[str]) -> None:
        self._dirty |= fields

    def _written_nowhere(self) -> None:
        """The store lost this run's record: the next save sends all of it."""
        self._inserted = False

    # -- the writer's side: snapshots and hand-overs, never SQL ---------------------
    def _take_queue(self) -> list[Any]:
        """The queued (step, time, metrics) triples, flat; the queue keeps what came after."""
        queue = self._queue
        count = len(queue) - len(queue) % 3  # a triple is added in one C call
        if not count:
            return []
        # popleft through map: no Python frame per item (a third of the old cost).
        flat = list(map(deque.popleft, repeat(queue, count)))
        self._queued = 0
        if self._summary_rules:  # define_metric(summary=...): in the writer's thread
            from . import _wandb

            try:
                _wandb.fold_rules(self, flat)
            except Exception as exc:  # the points are taken: a summary rule must not lose them
                warn_once(f"summary-rules:{self.id}",
                          f"nbtrack: the define_metric summary of run {self.name!r} could not be updated "
                          f"({type(exc).__name__}: {exc}); its points are stored, and run.summary may "
                          "show a rule's value that misses some of them")
        return flat

    def _queued_points(self) -> int:
        return sum(len(item) for item in list(self._queue)[2::3])

    def _absorb(self, latest: dict[str, Any], last_step: int) -> None:
        if self._summary_rules:
            from ._wandb import apply_rules

            latest = apply_rules(self, latest)
        self.summary._absorb(latest)
        self._last_step = last_step

    def _snapshot(self, now: float) -> dict[str, Any]:
        """The run's whole record as the store keeps it, and the fields changed since the
        last save (all of them for a run not saved yet). Takes the dirty marks."""
        fields = sorted(self._take_dirty()) if self._inserted else sorted(_SNAPSHOT_FIELDS)
        env = self._environment
        if self.reproduce or self.derived:
            env = {**(env or {}), "reproduce": self.reproduce, "derived": self.derived}
        if self.metric_definitions:  # W&B's define_metric, for charts that honour step_metric
            env = {**(env or {}), "define_metric": self.metric_definitions}
        if self._kept_environment:  # of a resumed run: what its earlier record said (sync's base)
            env = {**(env or {}), **self._kept_environment}
        git = (env or {}).get("git") or {}
        snapshot = {
            "id": self.id, "name": self.name, "project": self.project, "status": self.status,
            "created_at": self.created_at, "ended_at": self.ended_at, "heartbeat_at": now,
            "tags": list(self.tags), "notes": self.notes, "group_name": self.group,
            "kind": self.kind, "config": dumps(self.config.as_dict()),
            "summary": dumps(dict(self.summary)), "source": self.source,
            "execution_count": self.execution_count, "notebook_path": self.notebook_path,
            "hostname": _hostname(), "pid": self._pid, "pid_started": _started[0],
            "environment": dumps(env) if env else None, "git_commit": git.get("commit"),
            "git_dirty": git.get("dirty"), "error": self.error, "sweep_id": self.sweep_id,
            "fields": fields,
        }
        # The large, rarely changing columns only when they change: a run saves ten times
        # a second, and a reader parses every pending snapshot.
        if "environment" not in fields:
            del snapshot["environment"]
        if self._inserted:
            del snapshot["source"]
        return snapshot

    def _take_media(self) -> list[list[Any]]:
        """Media rows not saved yet, for one save (given back by ``_media_unsaved``)."""
        self._media_taken = len(self._media_rows)
        return self._media_rows[:self._media_taken]

    def _media_saved(self) -> None:
        if self._media_taken:
            del self._media_rows[:self._media_taken]
            self._media_taken = 0

    def _media_unsaved(self) -> None:
        self._media_taken = 0
        if len(self._media_rows) > _MEDIA_ROWS_LIMIT:
            # The store has failed for a long while (a full disk): keep memory bounded.
            dropped = len(self._media_rows) - _MEDIA_ROWS_LIMIT
            del self._media_rows[:dropped]
            warn_once("media-dropped", f"nbtrack: the store has been unwritable for a while; dropped "
                      f"the oldest {dropped:,} media records of run {self.name!r} (their files stay)")

    def _done_writing(self) -> bool:
        if self._child:
            # Never while the child lives: it may log again after any save, and a run the
            # writer has let go of is never drained again (its exit hook saves the rest).
            return False
        return (self._finished and self._inserted and not self._dirty and not self._queue
                and not self._media_rows and not self._env_thread.is_alive())

    def _capture_environment(self) -> None:
        # Here, not in the logging thread: psutil's import and git take tens of ms.
        _process_started()  # saved with the environment (pid_started)
        self._environment = _environment_cached()
        self._mark("environment")


def _unsupported(name: str) -> property:
    def get(self: Run) -> Any:
        from ._wandb import unsupported_run_attribute

        raise unsupported_run_attribute(name)

    return property(get)


# W&B's run attributes nbtrack has no counterpart for: each raises a line naming the
# nbtrack way. Properties, not __getattr__, which would slow every attribute read of a run.
for _name in ("save", "log_code", "alert", "dir", "url", "get_url", "mark_preempting", "log_model",
              "use_model", "link_model", "entity", "sweep"):
    setattr(Run, _name, _unsupported(_name))

_MEDIA_ROWS_LIMIT = 100_000  # media records kept in memory while the store is unwritable
#: Everything a first snapshot carries (the fold inserts the whole record then).
_SNAPSHOT_FIELDS = ("status", "config", "summary", "tags", "environment", "execution_count", "notes")
_host: list[str] = []


def _hostname() -> str:
    if not _host:
        _host.append(socket.gethostname())
    return _host[0]


def _check_id(run_id: Any) -> str:
    if not isinstance(run_id, str) or not 1 <= len(run_id) <= 64 or not all(
        c in _ID_ALPHABET or c in "-_" for c in run_id
    ):
        raise NbtrackError(
            f"a run id must be 1-64 characters of a-z, 0-9, '-' and '_'; got {run_id!r}"
        )
    return run_id


def _check_name(name: Any, what: str = "run name") -> str:
    if not isinstance(name, str) or not name.strip():
        raise NbtrackError(f"a {what} must be a non-empty string; got {name!r}")
    if len(name) > 4096:
        raise NbtrackError(f"a {what} may be at most 4096 characters; got {len(name)}")
    return name


def _check_tags(tags: Any) -> list[str]:
    if tags is None:
        return []
    if isinstance(tags, str):
        tags = [tags]
    out = []
    for tag in tags:
        if not isinstance(tag, str) or not tag:
            raise NbtrackError(f"tags must be non-empty strings; got {tag!r}")
        if tag not in out:
            out.append(tag)
    return out


_started: list[float | None] = [None]


def _process_started() -> float | None:
    # Stored with the pid so a reader can tell our process from a later one given the same pid.
    if _started[0] is None:
        try:
            import psutil

            _started[0] = psutil.Process().create_time()
        except Exception:
            return None
    return _started[0]


_env_cache: list[Any] = [0.0, None, None]  # (when, cwd, environment)
_env_lock = threading.Lock()


def _environment_cached() -> dict[str, Any]:
    """The environment, reused for a few seconds: sweep trials start many runs a second,
    and git plus the package scan cost about 0.1 s each time."""
    from .capture import environment

    with _env_lock:
        when, cwd, env = _env_cache
        here = os.getcwd()
        if env is not None and cwd == here and time.monotonic() - when < 5.0:
            return dict(env)
        env = environment()
        _env_cache[:] = [time.monotonic(), here, env]
        return dict(env)


def process_alive(pid: int | None, started: float | None) -> bool:
    """Whether process ``pid`` on this host still runs and is the one that started at ``started``.

    Zombies count as dead; a live process with another start time means ours died and
    the pid was reused.
    """
    if pid is None:
        return False
    import psutil

    try:
        proc = psutil.Process(pid)
        if proc.status() == psutil.STATUS_ZOMBIE:
            return False
        return started is None or abs(proc.create_time() - started) < 1.0
    except (psutil.NoSuchProcess, psutil.AccessDenied, psutil.ZombieProcess):
        return False


# -- module-level API -----------------------------------------------------------
def active_run() -> Run | None:
    """The run that ``nbtrack.log`` writes to in this context, if any."""
    return _active.get() or _default[0]


def activate(run: Run, *, process_wide: bool = True) -> Callable[[], None]:
    """Make ``run`` the one ``nbtrack.log`` writes to; returns a function that restores
    the previous one (a ``%%track`` cell, a sweep trial).

    ``process_wide``: other threads (data loaders) see it too, not only this context.

    Example
    -------
    >>> restore = nbtrack.activate(run)  # doctest: +SKIP
    >>> try: train()                          # doctest: +SKIP
    ... finally: restore()
    """
    previous_active, previous_default = _active.get(), _default[0]
    _active.set(run)
    if process_wide:
        _default[0] = run

    def restore() -> None:
        if _active.get() is run:
            _active.set(previous_active)
        if process_wide and (_default[0] is run or _default[0] is None):
            _default[0] = previous_default

    return restore


def init(
    name: str | None = None,
    *,
    project: str | None = None,
    config: Any = None,
    tags: Any = None,
    notes: str | None = None,
    group: str | None = None,
    dir: str | os.PathLike[str] | None = None,
    job_type: str | None = None,
    id: str | None = None,
    resume: bool | str | None = None,
    mode: str | None = None,
    reinit: bool | str | None = None,
    **_kw: Any,
) -> Run:
    """Start a run and make it the active one (``wandb.init``'s shape).

    Inside a ``%%track`` cell, returns that cell's run with ``config``, ``tags`` and
    ``notes`` merged in, so code written for ``wandb.init`` works unchanged there; in
    a sweep trial the sweep's values win and ``config`` fills in the keys it does not set.
    A run left active by an earlier ``init`` is finished first, with a warning
    (``reinit=True`` or ``"finish_previous"``: without one; ``"return_previous"`` or
    ``False``: that run is returned; ``"create_new"``: it keeps running).

    ``job_type`` is kept as the tag ``job_type:<type>``. ``id`` with ``resume``
    (``"allow"``/``True``: continue run ``id`` if stored, ``"must"``: it has to be,
    ``"never"``: it must not be) continues that run: its steps go on after its last
    one, its config and summary are kept. ``mode="disabled"`` stores nothing and
    returns a run whose methods do nothing (``run.disabled``); ``"offline"`` is what
    nbtrack always does, and ``"online"`` the same (there is no server).

    Example
    -------
    >>> run = nbtrack.init(name="baseline", project="mnist", config={"lr": 0.01})  # doctest: +SKIP
    """
    _check_init_options(_kw, mode, reinit)
    from ._wandb import init_config

    config = init_config(config)
    current = active_run()
    # Inside a %%track cell or a sweep trial, code written for wandb.init(config=...)
    # joins the run it is already in.
    if current is not None and current.kind in ("cell", "sweep-trial") and not current._finished:
        if mode == "disabled" or resume not in (None, False):
            what = "sweep trial" if current.kind == "sweep-trial" else "%%track cell"
            raise NbtrackError(f"this {what} is already run {current.name!r}, stored as it goes: "
                               f"drop {'mode=' if mode == 'disabled' else 'resume='} from nbtrack.init() "
                               "(or run the code outside it)")
        if project not in (None, current.project) or group not in (None, current.group):
            warn_once("init-join-project", f"nbtrack.init: this run ({current.name!r}) is in project "
                      f"{current.project!r}, group {current.group!r}, as its %%track cell or sweep set; "
                      "the project/group given to nbtrack.init() is not used")
        return _join(current, name, config, tags, notes, job_type, id)
    if current is not None and not current._finished:
        if reinit in (False, "return_previous"):
            return current
        if reinit not in (True, "finish_previous", "create_new"):
            warn_once("init-finishes-previous",
                      f"nbtrack.init: finishing the previous run {current.name!r} first")
        if reinit != "create_new":
            current.finish()
    if mode != "disabled" and os.environ.get(_AGENT_TRIAL_ENV):
        # A script that `nbtrack agent` started: its first init() is the agent's trial.
        from .sweeps.script_trial import join

        trial = join(name, project, config, tags, notes, group, job_type, id, resume)
        if trial is not None:
            return trial
    if mode == "disabled":
        from ._wandb import DisabledRun

        disabled: Any = DisabledRun(name, project, config, tags, notes, group, job_type)
        activate(disabled)
        return disabled  # type: ignore[no-any-return]
    record = None
    if id is not None:
        from ._wandb import resumable

        record = resumable(get_store(dir), _check_id(id), resume)
    elif resume not in (None, False, "never"):
        raise NbtrackError(f"nbtrack.init(resume={resume!r}) needs the id of the run to continue: "
                           "nbtrack.init(id='<run id>', resume='allow')")
    if record is not None:
        name, project = _same_as_stored(record, name, project)
        if group is None:
            group = record.get("group_name")
    run = Run(name, project=project, config=config, tags=tags, notes=notes, group=group, dir=dir,
              id=id, job_type=job_type, resume_from=record)
    activate(run)
    return run


def _check_init_options(options: dict[str, Any], mode: Any, reinit: Any) -> None:
    """Refuse what nbtrack.init cannot honour, naming what to do; warn once for W&B-only
    options that change nothing here (``entity``)."""
    if "settings" in options:
        raise NbtrackError("nbtrack.init(settings=...) is W&B's; use nbtrack.settings(dir=..., project=..., "
                           "system_metrics=...) before nbtrack.init()")
    if options.get("entity") is not None:
        warn_once("init-entity", f"nbtrack.init: entity={options['entity']!r} is not used: nbtrack has no "
                  "teams or accounts; runs are grouped by project=")
    options = {k: v for k, v in options.items() if k not in ("entity", "allow_val_change")}
    if options:
        raise NbtrackError(f"nbtrack.init() got unknown argument(s): {', '.join(sorted(options))}")
    if mode not in (None, "online", "offline", "disabled"):
        raise NbtrackError(f"nbtrack.init: mode must be 'online', 'offline' or 'disabled'; got {mode!r}")
    if mode == "online":
        warn_once("init-mode-online", "nbtrack.init(mode='online'): nbtrack has no server; the run is "
                  f"stored locally in {_settings.store_dir()}, as with mode='offline'")
    if reinit not in (None, True, False, "default", "finish_previous", "return_previous", "create_new"):
        raise NbtrackError("nbtrack.init: reinit must be True, False, 'finish_previous', "
                           f"'return_previous' or 'create_new'; got {reinit!r}")


def _join(current: Run, name: str | None, config: Any, tags: Any, notes: str | None,
          job_type: str | None, run_id: str | None) -> Run:
    """init() inside a %%track cell or a sweep trial: that run, with what init adds."""
    what = "sweep trial" if current.kind == "sweep-trial" else "%%track cell"
    if name is not None and name != current.name:
        where = ("nbtrack.init()" if current.kind == "sweep-trial"
                 else "nbtrack.init() or the one on the %%track line")
        raise NbtrackError(f"this {what} is already run {current.name!r}; drop the name from {where}")
    if run_id is not None and run_id != current.id:
        raise NbtrackError(f"this {what} is already run {current.id!r}; drop id= from nbtrack.init()")
    if config is not None:
        if current.kind == "sweep-trial":
            current.config.fill(config)  # W&B: the sweep's values win over init's defaults
        else:
            current.config.update(config)
    if tags:
        current.set_tags(current.tags + _check_tags(tags))
    if notes:
        current.set_notes(notes)
    if job_type is not None:
        current._set_job_type(job_type)
    return current


def _same_as_stored(record: dict[str, Any], name: str | None, project: str | None) -> tuple[str, str]:
    """A resumed run keeps its name and project; a different one asked for is an error."""
    for what, asked, stored in (("name", name, record["name"]), ("project", project, record["project"])):
        if asked is not None and asked != stored:
            raise NbtrackError(f"run {record['id']!r} has {what} {stored!r}, not {asked!r}: resume it "
                               f"without {what}= (or rename it afterwards with nbtrack.rename_run)")
    return record["name"], record["project"]


def log(data: Any = None, step: Any = None, commit: bool = True, **metrics: Any) -> None:
    """Log metrics to the active run: ``nbtrack.log({"loss": l}, step=s)`` or ``nbtrack.log(loss=l)``."""
    run = _active.get() or _default[0]
    if run is None:
        raise NbtrackError(
            "nbtrack.log() has no active run: call nbtrack.init() first, or run the code "
            "in a %%track cell (after %load_ext nbtrack)"
        )
    if metrics:
        run._push({**data, **metrics} if data else metrics, step, commit)
    elif type(data) is dict:
        run._push(data.copy(), step, commit)
    else:
        run.log(data, step, commit)


def finish(status: str = "finished", *, exit_code: int | None = None, quiet: bool | None = None) -> None:
    """Finish the active run (no-op when there is none); ``exit_code`` as in :meth:`Run.finish`."""
    run = active_run()
    if run is not None:
        run.finish(status, exit_code=exit_code, quiet=quiet)


def _exit_status(status: Any, error: str | None, exit_code: Any) -> tuple[str, str | None]:
    """The status for ``finish``: W&B passes the exit code (``wandb.finish(1)`` too)."""
    if isinstance(status, int) and not isinstance(status, bool) and exit_code is None:
        status, exit_code = "finished", status
    if exit_code is None:
        return status, error
    if isinstance(exit_code, bool) or not isinstance(exit_code, int):
        raise NbtrackError(f"finish: exit_code must be an integer (0: finished, else failed); "
                           f"got {exit_code!r}")
    if exit_code == 0:
        return "finished", error
    return "failed", error or f"exit code {exit_code}"


def flush_all(fold_wait: float = 0.0) -> None:
    """Save everything this process has buffered, then fold what is pending if the store
    lock is free within ``fold_wait`` s (before reading, and at exit)."""
    from .writer import all_writers

    for writer in all_writers():
        for run in list(writer._runs.values()):
            if run._finished:  # finish() does not wait for its environment scan; a read does
                run._env_thread.join(timeout=10)
        if writer.active() or writer.pending_points():
            writer.flush()
        writer.fold(fold_wait)


# -- process exit and fork ------------------------------------------------------
_hooks_installed = [False]
_uncaught: list[BaseException | None] = [None]


def _install_exit_hooks() -> None:
    if _hooks_installed[0]:
        return
    _hooks_installed[0] = True

    previous = sys.excepthook

    def excepthook(etype: Any, value: Any, tb: Any) -> None:
        _uncaught[0] = value
        _uncaught_tb[0] = "".join(traceback.format_exception(etype, value, tb))
        previous(etype, value, tb)

    sys.excepthook = excepthook
    atexit.register(_at_exit)


_uncaught_tb: list[str | None] = [None]


def _at_exit() -> None:
    with _live_lock:
        runs = [r for r in _live_runs.values() if not r._finished and r._pid == os.getpid()]
    exc = _uncaught[0]
    for run in runs:
        try:
            if exc is None:
                run.finish()
            elif isinstance(exc, KeyboardInterrupt):
                run.finish("interrupted")
            else:
                run.finish("failed", _uncaught_tb[0])
        except Exception as err:  # exiting anyway; say what was lost
            print(f"nbtrack: could not finish run {run.name!r} at exit: {err}", file=sys.stderr)
    from .writer import all_writers

    for writer in all_writers():
        for run in list(writer._runs.values()):
            run._env_thread.join(timeout=2.0)  # record the environment of a short script
    try:
        flush_all(fold_wait=2.0)
    except Exception as err:
        print(f"nbtrack: could not write the last points at exit: {err}", file=sys.stderr)
    for writer in all_writers():
        _report_unsaved(writer)
        _report_waiting(writer)


def _report_waiting(writer: Any) -> None:
    """At exit: points saved on this machine that a database store did not take yet (it was
    down): where they wait, and that they are not lost."""
    store = writer.store
    if store.pending_visible:
        return  # a folder store: every reader already sees its pending segments
    waiting = store.pending_paths()
    if waiting:
        print(f"nbtrack: the store {store.location} could not take everything before exit; "
              f"{len(waiting)} saved batch(es) of points wait in {waiting[0].parent} and go in with "
              "the next nbtrack process on this machine that uses this store (nothing is lost)",
              file=sys.stderr)


def _report_unsaved(writer: Any) -> None:
    """At exit: keep what could not be saved where a later fold finds it, and say so in one line."""
    unsaved = writer.unsaved_by_run()
    if not unsaved:
        return
    total = sum(unsaved.values())
    runs = ", ".join(f"{n:,} of run {name}" for name, n in unsaved.items())
    cause = f"{type(writer.last_error).__name__}: {writer.last_error}" if writer.last_error else "?"
    writer._save = writer.store.save_elsewhere  # a full or read-only store folder
    if writer.flush():
        print(f"nbtrack: {total:,} points ({runs}) could not be saved in {writer.store.location} ({cause}); "
              f"they are kept in {writer.store.fallback_dir} and go into the store at its next "
              "write by nbtrack", file=sys.stderr)
    else:
        print(f"nbtrack: {total:,} points ({runs}) could not be saved in {writer.store.location} nor in "
              f"{writer.store.fallback_dir} ({cause}); they are lost", file=sys.stderr)


def _install_child_exit(writer: Any) -> None:
    """Save a forked child's points when it exits: atexit for a plain fork, and
    multiprocessing's finalizers, which its workers run instead (they end in os._exit)."""

    def save() -> None:
        writer.flush()  # saved segments only: the parent, or any later reader, folds them

    atexit.register(save)
    mp_util = sys.modules.get("multiprocessing.util")
    if mp_util is not None:
        mp_util.Finalize(None, save, exitpriority=100)


def _after_fork_in_child() -> None:
    from . import store, writer

    global _live_lock
    _live_lock = threading.Lock()  # the parent's writer thread may have held it at fork
    for run in list(_live_runs.values()):
        # The parent's unsaved points are the parent's to save, once; a log here
        # starts this child's own writer (Run._start_in_child).
        run._queue, run._queued, run._media_rows, run._media_taken = deque(), 0, [], 0
        run.__dict__.pop("_push", None)  # a commit=False step open in the parent is the parent's
        run._open, run._open_media = (0, {}), {}
        run._rules_lock = threading.Lock()  # the parent's writer may have held it at fork
        run._forked = not run._finished
    _live_runs.clear()
    _default[0] = None
    _active.set(None)
    writer._forget_after_fork()
    store._stores.clear()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_after_fork_in_child)
