"""The PostgreSQL store's SQL for changes after the fact: names, tags, notes, trash, sweeps,
trial stop signals and artifacts. Each is one short transaction; row locks (``FOR UPDATE``)
and advisory locks keep two hosts editing one run, sweep or artifact from losing a change."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from typing import TYPE_CHECKING, Any

from ...errors import NbtrackError
from .._artifacts import _LINEAGE, _LISTING, _VERSION_COLUMNS
from .._manage import _IN_TRASH, _TRASH_COLUMNS, EDITABLE_FIELDS
from .._sweeps import _DRIVER_FIELDS, _TRIAL_JSON, _UPDATABLE, SWEEP_FIELDS
from ..schema import utcnow

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["PgWrites"]

#: Seconds between two reads of the trials' stop requests (see PgWrites.trial_stop_reason).
STOP_POLL = 0.5

def _resolve(cur: Any, refs: Sequence[str], trashed: bool) -> list[str]:
    found = []
    for ref in refs:
        row = cur.execute(
            f"SELECT id FROM run_records WHERE {_IN_TRASH[trashed]} AND (id = %s OR name = %s) "
            "ORDER BY (id = %s) DESC, created_at DESC LIMIT 1",
            [ref, ref, ref],
        ).fetchone()
        if row is None:
            place = "in the trash" if trashed else "among the runs"
            raise NbtrackError(f"no run with id or name {ref!r} {place}")
        found.append(row[0])
    return found


def _dicts(cur: Any) -> list[dict[str, Any]]:
    names = [d.name for d in cur.description]
    return [dict(zip(names, row)) for row in cur.fetchall()]


class PgWrites:
    """Mixed into :class:`~nbtrack.store.postgres.PostgresStore`."""

    _stops_lock: threading.Lock
    _stops_wanted: dict[tuple[str, str], float]
    _stops_seen: dict[tuple[str, str], str]
    _stops_thread: threading.Thread | None

    if TYPE_CHECKING:

        def _cursor(self) -> Any: ...
        def _transaction(self) -> Any: ...
        def _reading(self) -> Any: ...
        def fold(self, wait: float = 0.0) -> bool | None: ...
        def query(self, sql: str, params: Any = None) -> pd.DataFrame: ...
        def _forget_blobs(self, cur: Any, grace_s: float) -> None: ...

    def _edit(self) -> Any:
        """A transaction that starts from everything this machine logged (like the local
        store's writes): an edit of a run still only in pending segments finds it."""
        self.fold(5.0)
        return self._transaction()

    # -- names, tags, notes, trash ---------------------------------------------------------
    def set_run_field(self, ref: str, field: str, value: Any) -> str:
        if field not in EDITABLE_FIELDS:
            raise ValueError(f"not a field a user may change: {field!r}")
        with self._edit() as cur:
            (run_id,) = _resolve(cur, [ref], False)
            cast = "::text[]" if field == "tags" else ""
            cur.execute(f"UPDATE run_records SET {field} = %s{cast} WHERE id = %s", [value, run_id])
        return run_id

    def add_run_tags(self, ref: str, tags: Sequence[str]) -> tuple[str, list[str]]:
        return self._edit_tags(ref, lambda current: list(dict.fromkeys([*current, *tags])))

    def remove_run_tags(self, ref: str, tags: Sequence[str]) -> tuple[str, list[str]]:
        return self._edit_tags(ref, lambda current: [t for t in current if t not in tags])

    def _edit_tags(self, ref: str, change: Callable[[list[str]], list[str]]) -> tuple[str, list[str]]:
        with self._edit() as cur:
            (run_id,) = _resolve(cur, [ref], False)
            row = cur.execute("SELECT tags FROM run_records WHERE id = %s FOR UPDATE", [run_id]).fetchone()
            tags = change(list(row[0] or []))
            cur.execute("UPDATE run_records SET tags = %s::text[] WHERE id = %s", [tags, run_id])
        return run_id, tags

    def trash_runs(self, refs: Sequence[str]) -> list[str]:
        with self._edit() as cur:
            ids = _resolve(cur, refs, False)
            cur.execute("UPDATE run_records SET deleted_at = %s WHERE id = ANY(%s::text[])", [utcnow(), ids])
        return ids

    def restore_runs(self, refs: Sequence[str]) -> list[str]:
        with self._edit() as cur:
            ids = _resolve(cur, refs, True)
            cur.execute("UPDATE run_records SET deleted_at = NULL WHERE id = ANY(%s::text[])", [ids])
        return ids

    def trashed_runs(self) -> pd.DataFrame:
        from ._reads import _frame

        with self._reading() as cur:
            cur.execute(
                f"SELECT {', '.join(_TRASH_COLUMNS)} FROM run_records WHERE deleted_at IS NOT NULL "
                "ORDER BY deleted_at DESC"
            )
            return _frame(cur, _TRASH_COLUMNS)

    def empty_trash(self, *, media_grace_s: float = 3600.0) -> int:
        with self._edit() as cur:
            ids = [
                r[0]
                for r in cur.execute(
                    "SELECT id FROM run_records WHERE deleted_at IS NOT NULL FOR UPDATE"
                ).fetchall()
            ]
            cur.execute(
                "DELETE FROM metric_points WHERE series IN "
                "(SELECT id FROM metric_series WHERE run_id = ANY(%s::text[]))",
                [ids],
            )
            for table, column in (
                ("metric_series", "run_id"),
                ("media_points", "run_id"),
                ("run_records", "id"),
                ("trial_stops", "run_id"),
            ):
                cur.execute(f"DELETE FROM {table} WHERE {column} = ANY(%s::text[])", [ids])
            if ids:
                self._forget_blobs(cur, media_grace_s)
        return len(ids)

    def run_exists(self, run_id: str) -> bool:
        with self._reading() as cur:
            return cur.execute("SELECT 1 FROM run_records WHERE id = %s", [run_id]).fetchone() is not None

    def mark_trials_interrupted(self, run_ids: Sequence[str]) -> None:
        if not run_ids:
            return
        with self._edit() as cur:
            cur.execute(
                "UPDATE run_records SET status = 'interrupted', ended_at = %s "
                "WHERE id = ANY(%s::text[]) AND status IN ('running', 'crashed')",
                [utcnow(), list(run_ids)],
            )

    # -- sweeps ------------------------------------------------------------------------------
    def create_sweep(self, record: dict[str, Any]) -> None:
        row = {
            **record,
            "config": json.dumps(record["config"]),
            "created_at": record.get("created_at") or utcnow(),
        }
        with self._transaction() as cur:
            cur.execute(
                f"INSERT INTO sweep_records ({', '.join(SWEEP_FIELDS)}) "
                f"VALUES ({', '.join(['%s'] * len(SWEEP_FIELDS))})",
                [row.get(f) for f in SWEEP_FIELDS],
            )

    def find_sweep(self, ref: str) -> dict[str, Any] | None:
        with self._reading() as cur:
            row = cur.execute(
                f"SELECT {', '.join(SWEEP_FIELDS)} FROM sweep_records WHERE id = %s OR name = %s "
                "ORDER BY (id = %s) DESC, created_at DESC LIMIT 1",
                [ref, ref, ref],
            ).fetchone()
        if row is None:
            return None
        record = dict(zip(SWEEP_FIELDS, row))
        record["config"] = json.loads(record["config"])
        return record

    def update_sweep(self, sweep_id: str, **fields: Any) -> None:
        if not fields:
            return
        unknown = set(fields) - set(_UPDATABLE)
        if unknown:
            raise ValueError(f"not sweep fields to update: {sorted(unknown)}")
        sets = ", ".join(f"{name} = %s" for name in fields)
        with self._transaction() as cur:
            cur.execute(f"UPDATE sweep_records SET {sets} WHERE id = %s", [*fields.values(), sweep_id])

    def sweep_driver(self, sweep_id: str) -> dict[str, Any] | None:
        with self._reading() as cur:
            row = cur.execute(
                f"SELECT {', '.join(_DRIVER_FIELDS)} FROM sweep_records WHERE id = %s", [sweep_id]
            ).fetchone()
        return None if row is None else dict(zip(_DRIVER_FIELDS, row))

    def claim_sweep(self, sweep_id: str, driver: dict[str, Any], *, expected: dict[str, Any]) -> bool:
        matches = " AND ".join(f"{name} IS NOT DISTINCT FROM %s" for name in _DRIVER_FIELDS)
        with self._transaction() as cur:
            row = cur.execute(
                "UPDATE sweep_records SET status = 'running', ended_at = NULL, error = NULL, "
                f"hostname = %s, pid = %s, pid_started = %s WHERE id = %s AND {matches} RETURNING id",
                [
                    driver["hostname"],
                    driver["pid"],
                    driver["pid_started"],
                    sweep_id,
                    *(expected[name] for name in _DRIVER_FIELDS),
                ],
            ).fetchone()
        return row is not None

    def list_sweeps(self, project: str | None = None) -> list[dict[str, Any]]:
        where, params = ("WHERE s.project = %s", [project]) if project is not None else ("", [])
        with self._reading() as cur:
            cur.execute(
                "SELECT s.id, s.name, s.project, s.method, s.metric, s.goal, s.status, s.created_at, "
                "s.ended_at, s.hostname, s.pid, s.pid_started, count(t.number) AS trials "
                "FROM sweep_records s LEFT JOIN sweep_trials t ON t.sweep_id = s.id "
                f"{where} GROUP BY s.id ORDER BY s.created_at DESC",
                params,
            )
            return _dicts(cur)

    def add_sweep_trials(self, sweep_id: str, trials: Iterable[tuple[int, str, dict[str, Any]]]) -> None:
        now = utcnow()
        rows = [[sweep_id, number, run_id, json.dumps(params), now] for number, run_id, params in trials]
        if rows:
            with self._transaction() as cur:
                cur.executemany("INSERT INTO sweep_trials VALUES (%s, %s, %s, %s, %s)", rows)

    def sweep_trials(self, sweep_id: str) -> list[dict[str, Any]]:
        with self._reading() as cur:
            cur.execute(
                "SELECT t.number, t.run_id, t.params, r.name, r.status, r.config, r.summary, "
                "r.created_at, r.ended_at, r.duration, r.error "
                "FROM sweep_trials t LEFT JOIN runs r ON r.id = t.run_id "
                "WHERE t.sweep_id = %s ORDER BY t.number",
                [sweep_id],
            )
            rows = _dicts(cur)
        for row in rows:
            for key in _TRIAL_JSON:
                row[key] = json.loads(row[key]) if row[key] else {}
        return rows

    def trial_points(self, run_ids: Sequence[str], key: str) -> dict[str, list[tuple[int, float]]]:
        out: dict[str, list[tuple[int, float]]] = {run_id: [] for run_id in run_ids}
        if not run_ids:
            return out
        with self._reading() as cur:
            rows = cur.execute(
                "SELECT run_id, step, value FROM points WHERE key = %s AND run_id = ANY(%s::text[]) "
                "AND value IS NOT NULL ORDER BY run_id, step, time",
                [key, list(run_ids)],
            ).fetchall()
        for run_id, step, value in rows:
            out[run_id].append((step, value))
        return out

    def new_trial_points(self, key: str, after: dict[str, int]) -> list[tuple[str, int, float]]:
        if not after:
            return []
        with self._reading() as cur:
            rows: list[tuple[str, int, float]] = cur.execute(
                "SELECT p.run_id, p.step, p.value FROM points p "
                "JOIN unnest(%s::text[], %s::bigint[]) AS c(run_id, after) ON p.run_id = c.run_id "
                "WHERE p.key = %s AND p.step > c.after AND p.value IS NOT NULL "
                "ORDER BY p.run_id, p.step, p.time",
                [list(after), list(after.values()), key],
            ).fetchall()
        return rows

    # -- trial stop signals ----------------------------------------------------------------
    def request_trial_stop(self, sweep_id: str, run_id: str, reason: str) -> None:
        with self._transaction() as cur:
            cur.execute(
                "INSERT INTO trial_stops VALUES (%s, %s, %s) ON CONFLICT (sweep_id, run_id) "
                "DO UPDATE SET reason = EXCLUDED.reason",
                [sweep_id, run_id, reason],
            )
        with self._stops_lock:
            self._stops_seen[(sweep_id, run_id)] = reason

    def trial_stop_reason(self, sweep_id: str, run_id: str) -> str | None:
        """What the stop poller last saw for this trial: a trial polls between log calls, and
        a database round trip there (or a wait on a database that is down) would stall it."""
        key = (sweep_id, run_id)
        with self._stops_lock:
            self._stops_wanted[key] = time.monotonic()
            reason = self._stops_seen.get(key)
            if self._stops_thread is None or not self._stops_thread.is_alive():
                self._stops_thread = threading.Thread(
                    target=self._poll_stops, name="nbtrack-stops", daemon=True
                )
                self._stops_thread.start()
        return reason

    def _poll_stops(self) -> None:
        """Read the stop requests of the trials asked about in the last minute, twice a second."""
        while True:
            time.sleep(STOP_POLL)
            now = time.monotonic()
            with self._stops_lock:
                wanted = [k for k, at in self._stops_wanted.items() if now - at < 60]
                self._stops_wanted = {k: self._stops_wanted[k] for k in wanted}
            if not wanted:
                with self._stops_lock:
                    if not self._stops_wanted:
                        self._stops_thread = None
                        return
                continue
            try:
                with self._cursor() as cur:
                    rows = cur.execute(
                        "SELECT s.sweep_id, s.run_id, s.reason FROM trial_stops s "
                        "JOIN unnest(%s::text[], %s::text[]) AS w(sweep_id, run_id) "
                        "ON s.sweep_id = w.sweep_id AND s.run_id = w.run_id",
                        [[k[0] for k in wanted], [k[1] for k in wanted]],
                    ).fetchall()
            except NbtrackError:
                continue  # the database is away: the trials go on, asked again next time
            found = {(a, b): reason or "interrupted" for a, b, reason in rows}
            with self._stops_lock:
                for key in wanted:
                    if key in found:
                        self._stops_seen[key] = found[key]
                    else:
                        self._stops_seen.pop(key, None)

    def clear_trial_stop(self, sweep_id: str, run_id: str | None = None) -> None:
        with self._transaction() as cur:
            if run_id is None:
                cur.execute("DELETE FROM trial_stops WHERE sweep_id = %s", [sweep_id])
            else:
                cur.execute("DELETE FROM trial_stops WHERE sweep_id = %s AND run_id = %s", [sweep_id, run_id])
        with self._stops_lock:
            for key in [k for k in self._stops_seen if k[0] == sweep_id and run_id in (None, k[1])]:
                del self._stops_seen[key]

    # -- artifacts ---------------------------------------------------------------------------
    def register_artifact_version(
        self,
        name: str,
        *,
        type: str,
        digest: str,
        files: list[dict[str, Any]],
        metadata: dict[str, Any],
        description: str | None,
        aliases: Sequence[str],
        reference: bool,
        project: str,
        run_id: str | None,
    ) -> tuple[int, bool]:
        with self._edit() as cur:
            # One artifact name at a time across hosts: the next version number is max + 1.
            cur.execute("SELECT pg_advisory_xact_lock(hashtext(%s))", ["artifact:" + name])
            row = cur.execute(
                "SELECT DISTINCT type FROM artifact_versions WHERE name = %s", [name]
            ).fetchone()
            if row is not None and row[0] != type:
                raise NbtrackError(f"artifact {name!r} is a {row[0]!r}, not a {type!r}; use another name")
            row = cur.execute(
                "SELECT version FROM artifact_versions WHERE name = %s AND digest = %s", [name, digest]
            ).fetchone()
            if row is None:
                version = cur.execute(
                    "SELECT coalesce(max(version) + 1, 0) FROM artifact_versions WHERE name = %s", [name]
                ).fetchone()[0]
                cur.execute(
                    "INSERT INTO artifact_versions VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, '{}'::text[], "
                    "%s, %s, %s, %s)",
                    [
                        name,
                        version,
                        type,
                        digest,
                        sum(f["size"] for f in files),
                        len(files),
                        json.dumps(files),
                        json.dumps(metadata, default=str),
                        description,
                        "reference" if reference else "files",
                        project,
                        utcnow(),
                        run_id,
                    ],
                )
            else:
                version = row[0]
            for alias in aliases:
                cur.execute(
                    "UPDATE artifact_versions SET aliases = array_remove(aliases, %s) WHERE name = %s",
                    [alias, name],
                )
                cur.execute(
                    "UPDATE artifact_versions SET aliases = array_append(aliases, %s) "
                    "WHERE name = %s AND version = %s",
                    [alias, name, version],
                )
            if run_id is not None:
                self._link(cur, run_id, name, version, "output")
        return version, row is None

    def _link(self, cur: Any, run_id: str, name: str, version: int, role: str) -> None:
        cur.execute(
            "INSERT INTO artifact_links VALUES (%s, %s, %s, %s, %s) ON CONFLICT DO NOTHING",
            [run_id, name, version, role, utcnow()],
        )

    def find_artifact_version(
        self, name: str, *, version: int | None = None, alias: str | None = None
    ) -> dict[str, Any] | None:
        from .._artifacts import _version_dict

        if version is not None:
            where, params = " WHERE name = %s AND version = %s", [name, version]
        elif alias is not None:
            where, params = " WHERE name = %s AND %s = ANY(aliases)", [name, alias]
        else:
            where, params = " WHERE name = %s ORDER BY version DESC LIMIT 1", [name]
        with self._reading() as cur:
            row = cur.execute(f"SELECT {_VERSION_COLUMNS} FROM artifact_versions" + where, params).fetchone()
        return None if row is None else _version_dict(row)

    def artifact_version_numbers(self, name: str) -> list[int]:
        with self._reading() as cur:
            return [
                v
                for (v,) in cur.execute(
                    "SELECT version FROM artifact_versions WHERE name = %s ORDER BY version", [name]
                ).fetchall()
            ]

    def artifact_exists(self, name: str) -> bool:
        with self._reading() as cur:
            return (
                cur.execute("SELECT 1 FROM artifact_versions WHERE name = %s LIMIT 1", [name]).fetchone()
                is not None
            )

    def link_artifact_use(self, run_id: str, name: str, version: int) -> None:
        with self._edit() as cur:
            self._link(cur, run_id, name, version, "input")

    def artifact_versions(self, name: str | None = None, type: str | None = None) -> pd.DataFrame:
        return self.query(_LISTING, {"name": name, "type": type})

    def artifact_lineage(
        self, name: str | None = None, version: int | None = None, run_id: str | None = None
    ) -> pd.DataFrame:
        return self.query(_LINEAGE, {"name": name, "version": version, "run": run_id})
