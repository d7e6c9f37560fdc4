"""The DuckDB store's SQL for sweep records and trials."""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING, Any

from ._views import reading, table
from .schema import utcnow

if TYPE_CHECKING:
    from contextlib import AbstractContextManager

__all__ = ["SweepQueries"]

#: The columns of a sweep's record: the allow-list for names in the SQL text.
SWEEP_FIELDS = ("id", "name", "project", "method", "config", "metric", "goal", "status", "seed",
                "created_at", "ended_at", "hostname", "pid", "pid_started", "error")
_UPDATABLE = tuple(f for f in SWEEP_FIELDS if f not in ("id", "config"))
#: What says which process drives a sweep, and whether it does.
_DRIVER_FIELDS = ("status", "hostname", "pid", "pid_started", "name")
_TRIAL_JSON = ("params", "config", "summary")


class SweepQueries:
    """Mixed into :class:`nbtrack.store.Store`; uses its ``read()``/``write()`` connections."""

    if TYPE_CHECKING:
        def read(self, timeout: float | None = None) -> AbstractContextManager[Any]: ...
        def write(self, timeout: float | None = None) -> AbstractContextManager[Any]: ...

    def create_sweep(self, record: dict[str, Any]) -> None:
        """Add a sweep; ``record`` holds its fields (``config`` a dict), absent ones empty."""
        row = {**record, "config": json.dumps(record["config"]),
               "created_at": record.get("created_at") or utcnow()}
        with self.write() as con:
            con.execute(
                f"INSERT INTO sweep_records ({', '.join(SWEEP_FIELDS)}) "
                f"VALUES ({', '.join('?' * len(SWEEP_FIELDS))})",
                [row.get(f) for f in SWEEP_FIELDS],
            )

    def find_sweep(self, ref: str) -> dict[str, Any] | None:
        """A sweep's record by id or name (the newest of that name), ``config`` parsed; None if absent."""
        with reading(self) as con:
            row = None if con is None else con.execute(
                f"SELECT {', '.join(SWEEP_FIELDS)} FROM sweep_records WHERE id = ? OR name = ? "
                "ORDER BY (id = ?) DESC, created_at DESC LIMIT 1", [ref, ref, ref]).fetchone()
        if row is None:
            return None
        record = dict(zip(SWEEP_FIELDS, row))
        record["config"] = json.loads(record["config"])
        return record

    def update_sweep(self, sweep_id: str, **fields: Any) -> None:
        """Change some fields of a sweep's record (not ``id`` or ``config``)."""
        if not fields:
            return
        unknown = set(fields) - set(_UPDATABLE)
        if unknown:
            raise ValueError(f"not sweep fields to update: {sorted(unknown)}")
        sets = ", ".join(f"{name} = ?" for name in fields)
        with self.write() as con:
            con.execute(f"UPDATE sweep_records SET {sets} WHERE id = ?", [*fields.values(), sweep_id])

    def sweep_driver(self, sweep_id: str) -> dict[str, Any] | None:
        """Who drives a sweep: ``status, hostname, pid, pid_started, name``; None if no such sweep."""
        with self.read() as con:
            row = None if con is None else con.execute(
                f"SELECT {', '.join(_DRIVER_FIELDS)} FROM sweep_records WHERE id = ?",
                [sweep_id]).fetchone()
        return None if row is None else dict(zip(_DRIVER_FIELDS, row))

    def claim_sweep(self, sweep_id: str, driver: dict[str, Any], *, expected: dict[str, Any]) -> bool:
        """Mark a sweep running under ``driver`` (hostname, pid, pid_started).

        Only if its :meth:`sweep_driver` is still ``expected``: two processes that
        both saw it free cannot both take it. Returns whether this call took it.
        """
        matches = " AND ".join(f"{name} IS NOT DISTINCT FROM ?" for name in _DRIVER_FIELDS)
        with self.write() as con:
            row = con.execute(
                "UPDATE sweep_records SET status = 'running', ended_at = NULL, error = NULL, "
                f"hostname = ?, pid = ?, pid_started = ? WHERE id = ? AND {matches} RETURNING id",
                [driver["hostname"], driver["pid"], driver["pid_started"], sweep_id,
                 *(expected[name] for name in _DRIVER_FIELDS)]).fetchone()
        return row is not None

    def list_sweeps(self, project: str | None = None) -> list[dict[str, Any]]:
        """Every sweep (or a project's), newest first, with its number of trials."""
        where, params = ("WHERE s.project = ?", [project]) if project is not None else ("", [])
        with reading(self) as con:
            if con is None:
                return []
            cur = con.execute(
                "SELECT s.id, s.name, s.project, s.method, s.metric, s.goal, s.status, s.created_at, "
                "s.ended_at, s.hostname, s.pid, s.pid_started, count(t.number) AS trials "
                "FROM sweep_records s LEFT JOIN sweep_trials t ON t.sweep_id = s.id "
                f"{where} GROUP BY ALL ORDER BY s.created_at DESC", params)
            return _dicts(cur)

    def add_sweep_trials(self, sweep_id: str, trials: Iterable[tuple[int, str, dict[str, Any]]]) -> None:
        """Record trials about to start: ``(number, run id, search values)``."""
        now = utcnow()
        rows = [[sweep_id, number, run_id, json.dumps(params), now] for number, run_id, params in trials]
        if not rows:
            return
        with self.write() as con:
            con.executemany("INSERT INTO sweep_trials VALUES (?, ?, ?, ?, ?)", rows)

    def sweep_trials(self, sweep_id: str) -> list[dict[str, Any]]:
        """A sweep's trials in order, with their runs' fields (status None: never started)."""
        with reading(self) as con:
            if con is None:
                return []
            rows = _dicts(con.execute(
                "SELECT t.number, t.run_id, t.params, r.name, r.status, r.config, r.summary, "
                "r.created_at, r.ended_at, r.duration, r.error "
                "FROM sweep_trials t LEFT JOIN runs r ON r.id = t.run_id "
                "WHERE t.sweep_id = ? ORDER BY t.number", [sweep_id]))
        for row in rows:
            for key in _TRIAL_JSON:
                row[key] = json.loads(row[key]) if row[key] else {}
        return rows

    def trial_points(self, run_ids: Sequence[str], key: str) -> dict[str, list[tuple[int, float]]]:
        """Every logged point of metric ``key`` for some runs, ``{run id: [(step, value)]}`` in step order."""
        out: dict[str, list[tuple[int, float]]] = {run_id: [] for run_id in run_ids}
        if not run_ids:
            return out
        with reading(self) as con:
            if con is None:
                return out
            rows = con.execute(
                f"SELECT run_id, step, value FROM {table(self, 'metric_points')} "
                "WHERE key = ? AND list_contains(?, run_id) "
                "AND value IS NOT NULL ORDER BY run_id, step, time", [key, list(run_ids)]).fetchall()
        for run_id, step, value in rows:
            out[run_id].append((step, value))
        return out

    def new_trial_points(self, key: str, after: dict[str, int]) -> list[tuple[str, int, float]]:
        """Points of metric ``key`` past each run's step in ``after``: ``(run id, step, value)``."""
        if not after:
            return []
        # Through reading(): trials' points still in pending segments count too.
        with reading(self) as con:
            if con is None:
                return []
            rows: list[tuple[str, int, float]] = con.execute(
                f"SELECT p.run_id, p.step, p.value FROM {table(self, 'metric_points')} p "
                "JOIN (SELECT unnest(?::VARCHAR[]) AS run_id, unnest(?::BIGINT[]) AS after) c "
                "ON p.run_id = c.run_id WHERE p.key = ? AND p.step > c.after AND p.value IS NOT NULL "
                "ORDER BY p.run_id, p.step, p.time",
                [list(after), list(after.values()), key]).fetchall()
        return rows

    def mark_trials_interrupted(self, run_ids: Sequence[str]) -> None:
        """End trials still marked running (or crashed) as interrupted."""
        if not run_ids:
            return
        with self.write() as con:
            con.execute(
                "UPDATE run_records SET status = 'interrupted', ended_at = ? "
                "WHERE list_contains(?, id) AND status IN ('running', 'crashed')",
                [utcnow(), list(run_ids)])


def _dicts(cur: Any) -> list[dict[str, Any]]:
    names = [d[0] for d in cur.description]
    return [dict(zip(names, row)) for row in cur.fetchall()]
