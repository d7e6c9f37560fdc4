"""The DuckDB store's read side, below the domain methods: the documented views, liveness,
and a :class:`~nbtrack.selection.Selection` as SQL.

Every read opens the DuckDB file read-only under a shared lock, defines the
documented views as temporary views (so a run whose process died shows as
``crashed`` to every reader, whether or not anyone has written that down yet), runs
its parameterised queries and closes the file again; the views include the pending
segments not folded into the file yet (:func:`nbtrack.store._fold.register_pending`).
:func:`reading` is that session; :func:`create_views` is the one place the views are
defined.

The documented views themselves (``runs``, ``metrics``, ``config``, ``media``,
``artifacts``, ``artifact_lineage``) are described for users in :mod:`nbtrack.query`.
"""

from __future__ import annotations

import contextlib
import os
import socket
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from .. import _settings
from ..errors import NbtrackError
from . import schema
from ._fold import register_pending
from .schema import utcnow

if TYPE_CHECKING:
    from ..selection import Selection

__all__ = ["create_views", "crashed", "empty_views", "reading", "selection_sql", "table"]

_VIEWS = """
CREATE OR REPLACE TEMP VIEW runs AS
SELECT id, name, project,
       CASE WHEN id IN (SELECT id FROM nbtrack_crashed) THEN 'crashed' ELSE status END AS status,
       created_at,
       CASE WHEN id IN (SELECT id FROM nbtrack_crashed) THEN heartbeat_at ELSE ended_at END
           AS ended_at,
       epoch(coalesce(
           CASE WHEN id IN (SELECT id FROM nbtrack_crashed) THEN heartbeat_at ELSE ended_at END,
           CASE WHEN status = 'running' THEN TIMESTAMP '{now}' END, heartbeat_at) - created_at)
           AS duration,
       tags, notes, group_name, kind, config, summary, source, execution_count, notebook_path,
       hostname, git_commit, git_dirty, error, sweep_id, environment, heartbeat_at
FROM main.run_records WHERE deleted_at IS NULL;
CREATE OR REPLACE TEMP VIEW metrics AS
SELECT run_id, step, key, value, time FROM main.metric_points
WHERE run_id IN (SELECT id FROM main.run_records WHERE deleted_at IS NULL);
CREATE OR REPLACE TEMP VIEW config AS
SELECT r.id AS run_id, j.key AS key, j.value AS value
FROM main.run_records r, json_each(r.config) j WHERE r.deleted_at IS NULL;
CREATE OR REPLACE TEMP VIEW media AS
SELECT run_id, key, step, idx, time, kind, digest, path, meta, data FROM main.media_points
WHERE run_id IN (SELECT id FROM main.run_records WHERE deleted_at IS NULL);
CREATE OR REPLACE TEMP VIEW artifacts AS
SELECT name, version, type, digest, size, file_count, metadata, description, aliases, source,
       project, created_at, created_by FROM main.artifact_versions;
CREATE OR REPLACE TEMP VIEW artifact_lineage AS
SELECT run_id, name, version, role, time FROM main.artifact_links;
"""


def create_views(con: Any, schema: str, dead: list[tuple[str, Any]],
                 tables: dict[str, str] | None = None) -> None:
    """Define the documented views on ``con`` over the tables in ``schema`` (``"main."`` or ``""``).

    ``dead``: (run id, last heartbeat) of runs found crashed; the views show them so.
    ``tables``: what to read for each table that has pending segments beside it (see
    :func:`nbtrack.store._fold.register_pending`). This is the one function that
    defines what readers see.
    """
    con.execute("CREATE OR REPLACE TEMP TABLE nbtrack_crashed (id VARCHAR)")
    if dead:
        con.executemany("INSERT INTO nbtrack_crashed VALUES (?)", [[d[0]] for d in dead])
    # DDL takes no parameters; the only values spliced in are our own clock reading
    # and our own relation names.
    views = _VIEWS
    for name, relation in (tables or {}).items():
        views = views.replace(f"main.{name} ", f"{relation} ").replace(f"main.{name}\n", f"{relation}\n")
    con.execute(views.replace("main.", schema).replace("{now}", utcnow().isoformat(sep=" ")))


def empty_views(con: Any) -> None:
    """The documented views over empty tables, on an in-memory connection (a store never written)."""
    from . import schema

    for _, _, step in schema.MIGRATIONS:  # every table exists, empty
        step(con)
    create_views(con, "", [])


def crashed(con: Any, records: str = "main.run_records") -> list[tuple[str, Any]]:
    """Runs marked running whose process is gone (same host) or silent too long (other hosts).

    ``records``: the relation holding run records (ours: the table, or it merged with
    pending snapshots).
    """
    from .._run import _live_runs, process_alive

    rows = con.execute(
        f"SELECT id, hostname, pid, pid_started, heartbeat_at FROM {records} "
        "WHERE status = 'running' AND deleted_at IS NULL"
    ).fetchall()
    if not rows:
        return []
    host, me = socket.gethostname(), os.getpid()
    stale_before = utcnow() - timedelta(seconds=_settings.current().heartbeat_timeout)
    dead = []
    for run_id, hostname, pid, started, heartbeat in rows:
        if hostname == host:
            alive = run_id in _live_runs if pid == me else process_alive(pid, started)
        else:
            alive = heartbeat is not None and heartbeat >= stale_before
        if not alive:
            dead.append((run_id, heartbeat))
    return dead


#: Seconds a pending segment may wait before a reader folds it itself.
READER_FOLDS_AFTER = 3.0

# The reading session this thread is inside, per store: nested reads share it.
_open = threading.local()


@contextmanager
def reading(store: Any, fresh: bool = True) -> Iterator[Any | None]:
    """A read-only connection with the documented views; ``None`` for an empty store.
    ``fresh=False`` skips saving and folding this process's writes first (see
    :meth:`nbtrack.store.Store.snapshot`).

    Nested inside another ``reading`` of the same store (in this thread), the outer
    session's connection is handed out again. Runs found crashed are written down as
    such afterwards, when the lock is free.
    """
    from .._run import flush_all

    sessions: dict[int, Any] = _open.__dict__.setdefault("sessions", {})
    if id(store) in sessions:
        yield sessions[id(store)]
        return
    # A reader in a process that logs sees its own points; when the store lock is
    # free, whatever is pending (of any process) goes into the file first.
    if fresh:
        flush_all()
    if fresh and store.oldest_pending_age() > READER_FOLDS_AFTER:
        # Nobody has folded for a while (no process logs here any more): do it. While
        # processes log, their own threads fold each second and a read only includes
        # what is pending, rather than paying for a write transaction itself.
        with contextlib.suppress(NbtrackError):
            store.fold()  # a damaged file is reported by the read below
    dead: list[tuple[str, Any]] = []
    relations: dict[int, dict[str, str]] = _open.__dict__.setdefault("tables", {})
    with store.read() as con:
        if con is not None:
            tables = register_pending(con, store.pending_for_read(con))
            dead = crashed(con, tables["run_records"])
            create_views(con, "main.", dead, tables)
            relations[id(store)] = tables
        elif store.pending_paths():  # nothing folded yet: pending segments alone
            con, dead = _pending_only(store)
        sessions[id(store)] = con
        try:
            yield con
        finally:
            sessions.pop(id(store), None)
            relations.pop(id(store), None)
    if dead:
        _record_crashed(store, dead)


def table(store: Any, name: str) -> str:
    """What to read for table ``name`` in this thread's reading session of ``store``:
    ``main.<name>``, or a relation that adds the pending segments (see :func:`reading`)."""
    tables = _open.__dict__.get("tables", {}).get(id(store))
    return tables[name] if tables and name in tables else f"main.{name}"


def _pending_only(store: Any) -> tuple[Any, list[tuple[str, Any]]]:
    """An in-memory connection with the documented views over pending segments alone
    (a store whose file was never written: its lock is busy, or it was deleted), and the
    runs in them found crashed."""
    import duckdb

    con = duckdb.connect()
    for _, _, step in schema.MIGRATIONS:
        step(con)
    tables = register_pending(con, [s for p in store.pending_paths()
                                    if (s := store._read_pending(p)) is not None])
    dead = crashed(con, tables["run_records"])
    create_views(con, "main.", dead, tables)
    _open.__dict__.setdefault("tables", {})[id(store)] = tables
    return con, dead


def _record_crashed(store: Any, dead: list[tuple[str, Any]]) -> None:
    try:
        # A run killed before its process folded has its record only in pending segments
        # that nobody else will fold soon: fold them, or the update finds no row.
        store.fold(0.5)
        with store.write(timeout=0.5) as con:
            con.executemany(
                "UPDATE run_records SET status = 'crashed', ended_at = ? "
                "WHERE id = ? AND status = 'running'",
                [[heartbeat, run_id] for run_id, heartbeat in dead],
            )
    except Exception:
        pass  # every reader shows them crashed anyway; a later one will record it


# -- a Selection as SQL over the runs view --------------------------------------------
#: Sort fields as SQL over the ``runs`` view (identifiers from this allow-list only).
_SORTS = {
    "created_at": "created_at",
    "name": "lower(name)",
    "status": "status",
    "duration": "duration",
    "project": "lower(project)",
}
_SEARCHED = ("lower(name)", "lower(id)", "lower(project)", "lower(coalesce(notes, ''))",
             "lower(array_to_string(coalesce(tags, []::VARCHAR[]), ' '))")


def _pointers(key: str) -> list[str]:
    """JSON Pointers for a dotted key: the top-level key as written, then the nested path."""
    def escape(part: str) -> str:
        return part.replace("~", "~0").replace("/", "~1")

    return ["/" + escape(key), "/" + "/".join(escape(p) for p in key.split("."))]


#: How each engine writes the conditions of a selection (``?``: the value's placeholder).
DUCKDB_TERMS = {"equals": "{column} = ?", "among": "list_contains(?, {column})",
                "any_tag": "list_has_any(tags, ?)", "contains": "contains({column}, ?)",
                "searched": _SEARCHED}


def selection_where(selection: Selection, terms: dict[str, Any] = DUCKDB_TERMS) -> tuple[str, list[Any]]:
    """The SQL condition over the ``runs`` view for a selection's filters (not ``where``),
    in an engine's ``terms`` (the local store's by default)."""
    clauses: list[str] = ["TRUE"]
    params: list[Any] = []
    for column, value in (("project", selection.project), ("name", selection.name),
                          ("sweep_id", selection.sweep)):
        if value is not None:
            clauses.append(terms["equals"].format(column=column))
            params.append(value)
    for column, values in (("status", selection.statuses), ("id", selection.ids)):
        if values or (column == "id" and values is not None):
            clauses.append(terms["among"].format(column=column))
            params.append(list(values))
    if selection.tags:
        clauses.append(terms["any_tag"])
        params.append(list(selection.tags))
    for term in selection.terms:
        searched = terms["searched"]
        clauses.append("(" + " OR ".join(terms["contains"].format(column=c) for c in searched) + ")")
        params.extend([term] * len(searched))
    return " AND ".join(clauses), params


def selection_order(selection: Selection) -> tuple[str, list[Any]]:
    """The SQL ORDER BY for a selection's sort: missing values last, ties newest first."""
    name, descending = selection.order
    direction = "DESC" if descending else "ASC"
    ties = "created_at DESC, id"
    prefix, _, key = name.partition(".")
    if prefix in ("summary", "config") and key:
        found = f"coalesce(json_extract(nullif({prefix}, ''), ?), json_extract(nullif({prefix}, ''), ?))"
        number = f"TRY_CAST(json_extract_string({found}, '$') AS DOUBLE)"
        text = f"json_extract_string({found}, '$')"
        # Numbers in numeric order; text values after them, in text order.
        return (f"{number} {direction} NULLS LAST, {text} {direction} NULLS LAST, {ties}",
                [*_pointers(key), *_pointers(key)])
    return f"{_SORTS[name]} {direction} NULLS LAST, {ties}", []


def selection_sql(selection: Selection, columns: str, *, limit: bool = True) -> tuple[str, list[Any]]:
    """``SELECT columns FROM runs`` for a selection's filters, sort and (with ``limit``) limit."""
    where, params = selection_where(selection)
    order, order_params = selection_order(selection)
    query = f"SELECT {columns} FROM runs WHERE {where} ORDER BY {order}"
    params = [*params, *order_params]
    if limit and selection.limit is not None:
        query += " LIMIT ?"
        params.append(selection.limit)
    return query, params
