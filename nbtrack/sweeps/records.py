"""A sweep's state in the store: its record, its trials and its trials' runs.

The store is the source of truth: a sweep's search is rebuilt from these rows, so a
sweep survives its kernel. Every function is one short read or write of the store.
"""

from __future__ import annotations

import os
import socket
from collections.abc import Iterable, Sequence
from typing import Any

from ..errors import NbtrackError
from ..store import StoreBase

__all__ = ["add_trials", "create", "driver_alive", "list_sweeps", "load", "mark_interrupted",
           "metric_points", "new_points", "trial_rows", "update"]

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


def claim(store: StoreBase, sweep_id: str) -> None:
    """Mark the sweep running in this process, unless a live process runs it already.

    The store takes the sweep only if nobody changed its driver since we looked, so
    two kernels resuming the same sweep cannot both win.
    """
    import psutil

    me = {"hostname": socket.gethostname(), "pid": os.getpid(),
          "pid_started": psutil.Process().create_time()}
    for _ in range(_CLAIM_TRIES):
        record = store.sweep_driver(sweep_id)
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
