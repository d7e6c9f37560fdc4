"""A sweep's state in the store: its record, its trials and its trials' runs.

The store is the source of truth: a sweep's search is rebuilt from these rows, so a
sweep survives its kernel. Every function is one short read or write of the store.
"""

from __future__ import annotations

import os
import socket
import threading
from collections.abc import Iterable, Sequence
from typing import Any

from ..errors import NbtrackError, warn_once
from ..store import StoreBase

__all__ = ["TrialRecorder", "add_trials", "create", "driver_alive", "list_sweeps", "load",
           "mark_interrupted", "metric_points", "new_points", "trial_rows", "update"]

#: Claims lost to another process before giving up: each loss means the sweep's
#: driver changed in between, so the next look decides.
_CLAIM_TRIES = 5


def create(store: StoreBase, record: dict[str, Any]) -> None:
    """Insert a new sweep (``record`` has the columns of ``sweep_records``)."""
    store.create_sweep(record)


def load(store: StoreBase, sweep_id: str) -> dict[str, Any]:
    """The sweep's row as a dict (``config`` parsed), or an error naming what exists."""
    record = store.find_sweep(sweep_id)
    if record is None:
        raise NbtrackError(f"no sweep with id or name {sweep_id!r} in the store {store.location}; "
                           "nbtrack.Sweep.list() shows the sweeps there")
    return record


def update(store: StoreBase, sweep_id: str, **fields: Any) -> None:
    """Change some columns of a sweep's row."""
    store.update_sweep(sweep_id, **fields)


def claim(store: StoreBase, sweep_id: str, known: dict[str, Any] | None = None) -> None:
    """Mark the sweep running in this process, unless a live process runs it already.

    The store takes the sweep only if nobody changed its driver since we looked, so
    two kernels resuming the same sweep cannot both win. ``known``: its driver fields as
    this process created them (a read saved; if they changed, the claim reads them).
    """
    import psutil

    me = {"hostname": socket.gethostname(), "pid": os.getpid(),
          "pid_started": psutil.Process().create_time()}
    for attempt in range(_CLAIM_TRIES):
        record = known if attempt == 0 and known is not None else store.sweep_driver(sweep_id)
        if record is None:
            raise NbtrackError(f"no sweep {sweep_id!r} in the store {store.location}")
        ours = record["pid"] == me["pid"] and record["hostname"] == me["hostname"]
        if record["status"] == "running" and not ours and driver_alive(record):
            raise NbtrackError(f"sweep {record['name']!r} is running in process {record['pid']} on "
                               f"{record['hostname']}; stop it there before running it here")
        if store.claim_sweep(sweep_id, me, expected=record):
            return
    raise NbtrackError(f"sweep {sweep_id!r} kept changing hands while this process tried to run it; "
                       "check who runs it (nbtrack.Sweep.list()) and try again")


def driver_alive(record: dict[str, Any]) -> bool:
    """Whether the process that marked the sweep running still runs (unknown host: assume so)."""
    if record.get("hostname") != socket.gethostname():
        return True
    from .._run import process_alive

    return process_alive(record.get("pid"), record.get("pid_started"))


def list_sweeps(store: StoreBase, project: str | None = None) -> list[dict[str, Any]]:
    """Every sweep in the store, newest first, with trial counts."""
    return store.list_sweeps(project)


def add_trials(store: StoreBase, sweep_id: str, trials: Iterable[tuple[int, str, dict[str, Any]]]) -> None:
    """Record trials about to start: (number, run id, search values)."""
    store.add_sweep_trials(sweep_id, trials)


def trial_rows(store: StoreBase, sweep_id: str) -> list[dict[str, Any]]:
    """The sweep's trials in order, joined with their runs (status ``None``: never started)."""
    return store.sweep_trials(sweep_id)


def metric_points(store: StoreBase, run_ids: Sequence[str], key: str) -> dict[str, list[tuple[int, float]]]:
    """Every logged point of one metric for some runs, in step order."""
    return store.trial_points(run_ids, key)


def new_points(store: StoreBase, key: str, cursors: dict[str, int]) -> list[tuple[str, int, float]]:
    """Points of metric ``key`` logged after each run's cursor step, in step order."""
    return store.new_trial_points(key, cursors)


def mark_interrupted(store: StoreBase, run_ids: Sequence[str]) -> None:
    """End trials whose process was stopped or killed before it could say so."""
    store.mark_trials_interrupted(run_ids)


class TrialRecorder:
    """Writes a sweep's new trial rows from a background thread, many in one write.

    A write to the store costs 20-100 ms (open, fold what is pending, commit): one per
    trial was most of a sweep's overhead (benchmarks/RESULTS-sweep.md). Launching never
    waits for it now; rows that come while a write runs go together in the next one, so a
    row reaches the store within about one write of its trial's launch, as a logged point
    does. A failed write is retried; :meth:`close` writes what is left or raises.
    """

    RETRY_AFTER = 1.0

    def __init__(self, store: StoreBase, sweep_id: str) -> None:
        self.store, self.sweep_id = store, sweep_id
        self._rows: list[tuple[int, str, dict[str, Any]]] = []
        self._writing = 0  # rows taken by the write in progress
        self._changed = threading.Condition()
        self._closed = False
        self._thread: threading.Thread | None = None

    def add(self, rows: Iterable[tuple[int, str, dict[str, Any]]]) -> None:
        with self._changed:
            self._rows.extend(rows)
            if self._thread is None:
                self._thread = threading.Thread(target=self._work, name=f"nbtrack-sweep-rows-{self.sweep_id}",
                                                daemon=True)
                self._thread.start()
            self._changed.notify_all()

    def flush(self, timeout: float = 30.0) -> bool:
        """Wait until every row added so far is in the store (False: not within ``timeout``)."""
        with self._changed:
            return self._changed.wait_for(lambda: not self._rows and not self._writing, timeout)

    def close(self) -> None:
        """Write what is left, in this thread if the writer is stuck; raises if that fails too."""
        with self._changed:
            self._closed = True
            self._changed.notify_all()
        if self._thread is not None:
            self._thread.join(30.0)
        with self._changed:
            rows, self._rows = self._rows, []
        if rows:
            add_trials(self.store, self.sweep_id, rows)

    def _work(self) -> None:
        while True:
            with self._changed:
                self._changed.wait_for(lambda: self._rows or self._closed)
                if not self._rows:
                    return
                rows, self._rows = self._rows, []
                self._writing = len(rows)
            try:
                add_trials(self.store, self.sweep_id, rows)
            except Exception as exc:
                warn_once(f"sweep-rows:{self.sweep_id}", f"nbtrack: could not record trials of sweep "
                          f"{self.sweep_id} yet ({exc}); trying again")
                with self._changed:
                    self._rows[:0] = rows
                    self._writing = 0
                    if self._closed:
                        return  # close() tries once more in its own thread
                    self._changed.wait(self.RETRY_AFTER)
                continue
            with self._changed:
                self._writing = 0
                self._changed.notify_all()
