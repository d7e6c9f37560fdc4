"""A sweep's state in the store: ``sweep_records``, ``sweep_trials`` and its trials' runs.

The store is the source of truth: a sweep's search is rebuilt from these rows, so a
sweep survives its kernel. Every function is one short read or write transaction.
"""

from __future__ import annotations

import json
import os
import socket
from collections.abc import Iterable, Sequence
from typing import Any

from ..errors import NbtrackError
from ..store import Store
from ..store.schema import utcnow

__all__ = ["add_trials", "create", "driver_alive", "list_sweeps", "load", "mark_interrupted",
           "metric_points", "new_points", "trial_rows", "update"]

_FIELDS = ("id", "name", "project", "method", "config", "metric", "goal", "status", "seed",
           "created_at", "ended_at", "hostname", "pid", "pid_started", "error")


def create(store: Store, record: dict[str, Any]) -> None:
    """Insert a new sweep (``record`` has the columns of ``sweep_records``)."""
    row = {**record, "created_at": record.get("created_at") or utcnow()}
    row["config"] = json.dumps(row["config"])
    with store.write() as con:
        con.execute(
            f"INSERT INTO sweep_records ({', '.join(_FIELDS)}) VALUES ({', '.join('?' * len(_FIELDS))})",
            [row.get(f) for f in _FIELDS],
        )


def load(store: Store, sweep_id: str) -> dict[str, Any]:
    """The sweep's row as a dict (``config`` parsed), or an error naming what exists."""
    from ..query import reading

    with reading(store) as con:
        row = None
        if con is not None:
            cur = con.execute(f"SELECT {', '.join(_FIELDS)} FROM sweep_records WHERE id = ? OR name = ? "
                              "ORDER BY (id = ?) DESC, created_at DESC LIMIT 1",
                              [sweep_id, sweep_id, sweep_id])
            row = cur.fetchone()
    if row is None:
        raise NbtrackError(f"no sweep with id or name {sweep_id!r} in the store {store.dir}; "
                           "nbtrack.Sweep.list() shows the sweeps there")
    record = dict(zip(_FIELDS, row))
    record["config"] = json.loads(record["config"])
    return record


def update(store: Store, sweep_id: str, **fields: Any) -> None:
    """Change some columns of a sweep's row."""
    if not fields:
        return
    unknown = set(fields) - set(_FIELDS)
    assert not unknown, unknown
    sets = ", ".join(f"{name} = ?" for name in fields)
    with store.write() as con:
        con.execute(f"UPDATE sweep_records SET {sets} WHERE id = ?", [*fields.values(), sweep_id])


def claim(store: Store, sweep_id: str) -> None:
    """Mark the sweep running in this process, unless a live process runs it already.

    One write transaction, so two kernels resuming the same sweep cannot both win.
    """
    import psutil

    fields = ("status", "hostname", "pid", "pid_started", "name")
    with store.write() as con:
        row = con.execute(f"SELECT {', '.join(fields)} FROM sweep_records WHERE id = ?",
                          [sweep_id]).fetchone()
        if row is None:
            raise NbtrackError(f"no sweep {sweep_id!r} in the store {store.dir}")
        record = dict(zip(fields, row))
        ours = record["pid"] == os.getpid() and record["hostname"] == socket.gethostname()
        if record["status"] == "running" and not ours and driver_alive(record):
            raise NbtrackError(f"sweep {record['name']!r} is running in process {record['pid']} on "
                               f"{record['hostname']}; stop it there before running it here")
        con.execute(
            "UPDATE sweep_records SET status = 'running', ended_at = NULL, error = NULL, hostname = ?, "
            "pid = ?, pid_started = ? WHERE id = ?",
            [socket.gethostname(), os.getpid(), psutil.Process().create_time(), sweep_id])


def driver_alive(record: dict[str, Any]) -> bool:
    """Whether the process that marked the sweep running still runs (unknown host: assume so)."""
    if record.get("hostname") != socket.gethostname():
        return True
    from ..run import process_alive

    return process_alive(record.get("pid"), record.get("pid_started"))


def list_sweeps(store: Store, project: str | None = None) -> list[dict[str, Any]]:
    """Every sweep in the store, newest first, with trial counts."""
    from ..query import reading

    with reading(store) as con:
        if con is None:
            return []
        where, params = ("WHERE s.project = ?", [project]) if project is not None else ("", [])
        cur = con.execute(
            f"SELECT s.id, s.name, s.project, s.method, s.metric, s.goal, s.status, s.created_at, "
            "s.ended_at, s.hostname, s.pid, s.pid_started, count(t.number) AS trials "
            "FROM sweep_records s LEFT JOIN sweep_trials t ON t.sweep_id = s.id "
            f"{where} GROUP BY ALL ORDER BY s.created_at DESC", params)
        names = [d[0] for d in cur.description]
        return [dict(zip(names, row)) for row in cur.fetchall()]


def add_trials(store: Store, sweep_id: str, trials: Iterable[tuple[int, str, dict[str, Any]]]) -> None:
    """Record trials about to start: (number, run id, search values)."""
    now = utcnow()
    rows = [[sweep_id, number, run_id, json.dumps(params), now] for number, run_id, params in trials]
    if not rows:
        return
    with store.write() as con:
        con.executemany("INSERT INTO sweep_trials VALUES (?, ?, ?, ?, ?)", rows)


def trial_rows(store: Store, sweep_id: str) -> list[dict[str, Any]]:
    """The sweep's trials in order, joined with their runs (status ``None``: never started)."""
    from ..query import reading

    with reading(store) as con:
        if con is None:
            return []
        cur = con.execute(
            "SELECT t.number, t.run_id, t.params, r.name, r.status, r.config, r.summary, "
            "r.created_at, r.ended_at, r.duration, r.error "
            "FROM sweep_trials t LEFT JOIN runs r ON r.id = t.run_id "
            "WHERE t.sweep_id = ? ORDER BY t.number", [sweep_id])
        names = [d[0] for d in cur.description]
        rows = [dict(zip(names, row)) for row in cur.fetchall()]
    for row in rows:
        for key in ("params", "config", "summary"):
            row[key] = json.loads(row[key]) if row[key] else {}
    return rows


def metric_points(store: Store, run_ids: Sequence[str], key: str) -> dict[str, list[tuple[int, float]]]:
    """Every logged point of one metric for some runs, in step order."""
    out: dict[str, list[tuple[int, float]]] = {run_id: [] for run_id in run_ids}
    if not run_ids:
        return out
    with store.read() as con:
        if con is None:
            return out
        rows = con.execute(
            "SELECT run_id, step, value FROM metric_points WHERE key = ? AND list_contains(?, run_id) "
            "AND value IS NOT NULL ORDER BY run_id, step, time", [key, list(run_ids)]).fetchall()
    for run_id, step, value in rows:
        out[run_id].append((step, value))
    return out


def new_points(store: Store, key: str, cursors: dict[str, int]) -> list[tuple[str, int, float]]:
    """Points of metric ``key`` logged after each run's cursor step, in step order."""
    if not cursors:
        return []
    with store.read(timeout=5.0) as con:
        if con is None:
            return []
        rows: list[tuple[str, int, float]] = con.execute(
            "SELECT p.run_id, p.step, p.value FROM metric_points p "
            "JOIN (SELECT unnest(?::VARCHAR[]) AS run_id, unnest(?::BIGINT[]) AS after) c "
            "ON p.run_id = c.run_id WHERE p.key = ? AND p.step > c.after AND p.value IS NOT NULL "
            "ORDER BY p.run_id, p.step, p.time",
            [list(cursors), list(cursors.values()), key]).fetchall()
    return rows


def mark_interrupted(store: Store, run_ids: Sequence[str]) -> None:
    """End trials whose process was stopped or killed before it could say so."""
    if not run_ids:
        return
    with store.write() as con:
        con.execute(
            "UPDATE run_records SET status = 'interrupted', ended_at = ? "
            "WHERE list_contains(?, id) AND status IN ('running', 'crashed')",
            [utcnow(), list(run_ids)])
