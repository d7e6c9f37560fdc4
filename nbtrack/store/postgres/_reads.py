"""The PostgreSQL store's SQL for reads: the documented views, run selection, history, media.

A read is one ``REPEATABLE READ, READ ONLY`` transaction, so the reads inside a
:meth:`PgReads.snapshot` see one state and ``nbtrack.sql()`` cannot change anything.
The documented views (``runs``, ``metrics``, ``config``, ``media``, ``artifacts``,
``artifact_lineage``) are temporary views of each connection, over the tables and a
small temporary table of the runs found crashed at the start of the read.
"""

from __future__ import annotations

import contextlib
import io
import re
import threading
from collections import Counter
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

from ... import _settings
from ...errors import NbtrackError
from .._reads import HISTORY_COLUMNS, MEDIA_COLUMNS, SELECTED_FIELDS, _parsed
from .._views import _SORTS as _DUCK_SORTS
from .._views import crashed
from .._views import selection_where as _views_where

if TYPE_CHECKING:
    import pandas as pd

    from ...selection import Selection
    from ..journal import Segment

__all__ = ["PgReads", "translate_params"]

_VIEWS = """
CREATE TEMP TABLE IF NOT EXISTS nbtrack_crashed (id TEXT PRIMARY KEY, heartbeat_at TIMESTAMP);
CREATE OR REPLACE TEMP VIEW nbtrack_runs AS
SELECT r.id, r.name, r.project,
       CASE WHEN c.id IS NOT NULL THEN 'crashed' ELSE r.status END AS status,
       r.created_at,
       CASE WHEN c.id IS NOT NULL THEN r.heartbeat_at ELSE r.ended_at END AS ended_at,
       extract(epoch FROM coalesce(CASE WHEN c.id IS NOT NULL THEN r.heartbeat_at ELSE r.ended_at END,
           CASE WHEN r.status = 'running' THEN (now() AT TIME ZONE 'UTC') END, r.heartbeat_at)
           - r.created_at)::double precision AS duration,
       r.tags, r.notes, r.group_name, r.kind, r.config, r.summary, r.source, r.execution_count,
       r.notebook_path, r.hostname, r.git_commit, r.git_dirty, r.error, r.sweep_id, r.environment,
       r.heartbeat_at, r.config_json, r.summary_json
FROM nbtrack.run_records r LEFT JOIN nbtrack_crashed c ON c.id = r.id WHERE r.deleted_at IS NULL;
CREATE OR REPLACE TEMP VIEW runs AS
SELECT id, name, project, status, created_at, ended_at, duration, tags, notes, group_name, kind,
       config, summary, source, execution_count, notebook_path, hostname, git_commit, git_dirty,
       error, sweep_id, environment, heartbeat_at FROM nbtrack_runs;
CREATE OR REPLACE TEMP VIEW metrics AS
SELECT run_id, step, key, value, time FROM nbtrack.points
WHERE run_id IN (SELECT id FROM nbtrack.run_records WHERE deleted_at IS NULL);
CREATE OR REPLACE TEMP VIEW config AS
SELECT r.id AS run_id, j.key AS key, j.value::text AS value
FROM nbtrack.run_records r, jsonb_each(r.config_json) j
WHERE r.deleted_at IS NULL AND jsonb_typeof(r.config_json) = 'object';
CREATE OR REPLACE TEMP VIEW media AS
SELECT run_id, key, step, idx, time, kind, digest, path, meta, data FROM nbtrack.media_points
WHERE run_id IN (SELECT id FROM nbtrack.run_records WHERE deleted_at IS NULL);
CREATE OR REPLACE TEMP VIEW artifacts AS
SELECT name, version, type, digest, size, file_count, metadata, description, aliases, source,
       project, created_at, created_by FROM nbtrack.artifact_versions;
CREATE OR REPLACE TEMP VIEW artifact_lineage AS
SELECT run_id, name, version, role, time FROM nbtrack.artifact_links;
"""

_SORTS = {**_DUCK_SORTS}
_SEARCHED = (
    "lower(name)",
    "lower(id)",
    "lower(project)",
    "lower(coalesce(notes, ''))",
    "lower(array_to_string(coalesce(tags, '{}'::text[]), ' '))",
)

_DOWNSAMPLE = """
WITH b AS (
    SELECT run_id, key, min(step) AS lo, max(step) AS hi, count(*) AS n FROM points
    WHERE run_id = ANY(%(ids)s) AND (%(keys)s::text[] IS NULL OR key = ANY(%(keys)s::text[]))
    GROUP BY run_id, key
)
SELECT m.run_id, m.step, m.key, m.value, m.value AS min, m.value AS max, m.time
FROM points m JOIN b ON m.run_id = b.run_id AND m.key = b.key
WHERE b.n <= %(m)s
UNION ALL
SELECT m.run_id, min(m.step), m.key,
       -- a bucket: the mean, min and max of its finite values, as the local store's;
       -- a bucket of one repeated value keeps it exactly (a mean adds float noise)
       CASE WHEN min(m.value) FILTER (WHERE m.value NOT IN ('NaN', 'Infinity', '-Infinity'))
                 = max(m.value) FILTER (WHERE m.value NOT IN ('NaN', 'Infinity', '-Infinity'))
            THEN min(m.value) FILTER (WHERE m.value NOT IN ('NaN', 'Infinity', '-Infinity'))
            ELSE avg(m.value) FILTER (WHERE m.value NOT IN ('NaN', 'Infinity', '-Infinity')) END,
       min(m.value) FILTER (WHERE m.value NOT IN ('NaN', 'Infinity', '-Infinity')),
       max(m.value) FILTER (WHERE m.value NOT IN ('NaN', 'Infinity', '-Infinity')), max(m.time)
FROM points m JOIN b ON m.run_id = b.run_id AND m.key = b.key
WHERE b.n > %(m)s
GROUP BY m.run_id, m.key, floor((m.step - b.lo)::double precision * %(m)s / (b.hi - b.lo + 1))
ORDER BY 1, 3, 2
"""

_read_session = threading.local()


def _rows(cur: Any) -> list[dict[str, Any]]:
    names = [d.name for d in cur.description]
    return [dict(zip(names, row)) for row in cur.fetchall()]


def _frame(cur: Any, columns: Sequence[str] | None = None) -> pd.DataFrame:
    import pandas as pd

    names = [d.name for d in cur.description] if cur.description else list(columns or [])
    frame = pd.DataFrame(cur.fetchall() if cur.description else [], columns=names)
    return frame.infer_objects()


def _pointers(key: str) -> list[list[str]]:
    """JSON paths for a dotted key: the top-level key as written, then the nested path."""
    return [[key], key.split(".")]


#: The conditions of a selection in PostgreSQL's words (see ``_views.selection_where``).
_TERMS = {"equals": "{column} = %s", "among": "{column} = ANY(%s::text[])", "any_tag": "tags && %s::text[]",
          "contains": "strpos({column}, %s) > 0", "searched": _SEARCHED}


def selection_where(selection: Selection) -> tuple[str, list[Any]]:
    """The SQL condition over ``nbtrack_runs`` for a selection's filters (not ``where``)."""
    return _views_where(selection, _TERMS)


#: Text PostgreSQL's float8 reads (DuckDB's TRY_CAST reads the same: "9", " 1e-3", "NaN", "-inf").
_NUMERIC_TEXT = r"^\s*[-+]?((\d+\.?\d*|\.\d+)(e[-+]?\d+)?|nan|inf|infinity)\s*$"


def selection_order(selection: Selection) -> tuple[str, list[Any]]:
    """ORDER BY for a selection's sort, as the local store sorts: numbers (and text that reads
    as one, NaN the largest) in numeric order, then other text; missing last."""
    name, descending = selection.order
    direction = "DESC" if descending else "ASC"
    ties = "created_at DESC, id"
    prefix, _, key = name.partition(".")
    if prefix in ("summary", "config") and key:
        # One lookup in a subquery: the value found (top-level key as written, else the path).
        found = f"(SELECT coalesce({prefix}_json #> %s::text[], {prefix}_json #> %s::text[]))"
        text = f"({found} #>> '{{}}')"
        number = (
            f"CASE WHEN {text} ~* '{_NUMERIC_TEXT}' AND jsonb_typeof({found}) IN ('number', 'string') "
            f"THEN {text}::double precision END"
        )
        paths = _pointers(key)
        return (
            f"{number} {direction} NULLS LAST, {text} {direction} NULLS LAST, {ties}",
            [*paths, *paths, *paths, *paths],
        )
    return f"{_SORTS[name]} {direction} NULLS LAST, {ties}", []


def selection_sql(selection: Selection, columns: str, *, limit: bool = True) -> tuple[str, list[Any]]:
    where, params = selection_where(selection)
    order, order_params = selection_order(selection)
    query = f"SELECT {columns} FROM nbtrack_runs WHERE {where} ORDER BY {order}"
    params = [*params, *order_params]
    if limit and selection.limit is not None:
        query += " LIMIT %s"
        params.append(selection.limit)
    return query, params


#: Quoted text and comments (left alone), then the placeholders: ``?``, ``$1``, ``$name``, ``%``.
_PLACEHOLDER = re.compile(
    r"([eE]'(?:[^'\\]|\\.|'')*'|'(?:[^']|'')*'|\"(?:[^\"]|\"\")*\"|(\$[A-Za-z_]?\w*\$).*?\2|--[^\n]*|/\*.*?\*/)"
    r"|(\?)|\$(\d+)|\$([A-Za-z_]\w*)|(%)",
    re.DOTALL,
)
#: What nbtrack.sql() runs: one statement that reads.
_READING_WORDS = ("select", "with", "values", "table", "show", "explain")


def translate_params(sql: str, params: Any) -> tuple[str, Any]:
    """DuckDB's placeholders (``?``, ``$1``, ``$name``) as psycopg's (``%s``, ``%(name)s``),
    and the parameters to pass with them.

    ``nbtrack.sql()`` takes one placeholder style whatever the engine; quoted text (also
    ``E'...'`` and ``$$...$$``) and comments are left as they are, and a literal ``%`` is
    doubled when parameters are given.
    """
    if not params:
        return sql, None
    ordered: list[Any] = []

    def swap(match: re.Match[str]) -> str:
        quoted, _tag, question, number, name, percent = match.groups()
        if quoted is not None:
            return quoted.replace("%", "%%")
        if question is not None:
            return "%s"
        if number is not None:  # $1 may come twice and in any order: one %s each, params reordered
            ordered.append(params[int(number) - 1])
            return "%s"
        if name is not None:
            return f"%({name})s"
        return "%%" if percent else match.group(0)

    try:
        text = _PLACEHOLDER.sub(swap, sql)
    except (IndexError, KeyError, TypeError):
        raise NbtrackError("nbtrack.sql(): a $N placeholder has no parameter N") from None
    return text, (ordered if ordered else params)


def _first_word(sql: str) -> str:
    """The statement's first keyword, comments and opening parentheses skipped."""
    text = re.sub(r"--[^\n]*|/\*.*?\*/", " ", sql, flags=re.DOTALL).lstrip(" \t\r\n(")
    match = re.match(r"[A-Za-z]+", text)
    return match.group(0).lower() if match else ""


class PgReads:
    """Mixed into :class:`~nbtrack.store.postgres.PostgresStore`."""

    if TYPE_CHECKING:
        _local: threading.local
        _shown: str

        def _cursor(self) -> Any: ...
        def fold(self, wait: float = 0.0) -> bool | None: ...
        def _con(self) -> Any: ...

    @contextmanager
    def _reading(self, fresh: bool = True) -> Iterator[Any]:
        """A cursor in one read-only snapshot with the documented views (nested: shared)."""
        import psycopg

        from ..._run import flush_all

        sessions: dict[int, Any] = _read_session.__dict__.setdefault("sessions", {})
        if id(self) in sessions:
            yield sessions[id(self)]
            return
        if fresh:
            # A reader in a process that logs sees its own points: they go in first.
            flush_all()
            # Waits for a fold under way in the writer's thread too: a read right after logging
            # must include what was logged (a fold sends a long backlog in several steps).
            with contextlib.suppress(NbtrackError):  # the read below says what is wrong
                self.fold(_settings.current().lock_timeout)
        dead: list[tuple[str, Any]] = []
        with self._cursor() as cur:
            if not getattr(self._local, "views", False):
                cur.execute(_VIEWS)
                self._local.views = True
            try:
                # Rolled back at the end: a SET in a user's query does not outlive the read.
                with cur.connection.transaction(force_rollback=True):
                    cur.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
                    dead = crashed(cur.connection, "nbtrack.run_records")
                    cur.execute("DELETE FROM nbtrack_crashed")
                    if dead:
                        cur.executemany("INSERT INTO nbtrack_crashed VALUES (%s, %s)", dead)
                    sessions[id(self)] = cur
                    try:
                        yield cur
                    finally:
                        sessions.pop(id(self), None)
            except psycopg.errors.ReadOnlySqlTransaction:
                raise NbtrackError(
                    "nbtrack.sql() is read-only: change runs through the Python API "
                    "(run.set_tags, nbtrack.delete_run, ...)"
                ) from None
        if dead:
            self._record_crashed(dead)

    def _record_crashed(self, dead: list[tuple[str, Any]]) -> None:
        try:
            with self._cursor() as cur:
                cur.executemany(
                    "UPDATE run_records SET status = 'crashed', ended_at = %s "
                    "WHERE id = %s AND status = 'running'",
                    [[heartbeat, run_id] for run_id, heartbeat in dead],
                )
        except NbtrackError:
            pass  # every reader shows them crashed anyway; a later one will record it

    @contextmanager
    def snapshot(self, fresh: bool = True) -> Iterator[None]:
        with self._reading(fresh):
            yield

    # -- runs ---------------------------------------------------------------------------
    def select_runs(self, selection: Selection) -> list[dict[str, Any]]:
        from ...selection import keep_where

        query, params = selection_sql(selection, ", ".join(SELECTED_FIELDS), limit=not selection.where)
        with self._reading() as cur:
            rows = [_parsed(row) for row in _rows(cur.execute(query, params))]
        for row in rows:
            row["tags"] = list(row["tags"] or [])
        if selection.where:
            rows = keep_where(rows, selection.where)[: selection.limit]
        return rows

    def count_runs(self, selection: Selection) -> int:
        if selection.where:
            return len(self.select_runs(selection.replace(limit=None)))
        where, params = selection_where(selection)
        with self._reading() as cur:
            return int(cur.execute(f"SELECT count(*) FROM nbtrack_runs WHERE {where}", params).fetchone()[0])

    def summary_keys(self, selection: Selection, limit: int = 200) -> list[str]:
        if selection.where:
            counts = Counter(k for r in self.select_runs(selection.replace(limit=None)) for k in r["summary"])
            return [k for k, _ in sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))][:limit]
        where, params = selection_where(selection)
        with self._reading() as cur:
            rows = cur.execute(
                "SELECT k, count(*) AS n FROM (SELECT jsonb_object_keys(summary_json) AS k FROM nbtrack_runs "
                f"WHERE {where} AND jsonb_typeof(summary_json) = 'object') s GROUP BY k "
                "ORDER BY n DESC, k LIMIT %s",
                [*params, int(limit)],
            ).fetchall()
        return [str(k) for k, _ in rows]

    def resolve_runs(self, refs: Sequence[str], within: Selection | None = None) -> dict[str, str]:
        if not refs:
            return {}
        where, params = selection_where(within) if within is not None else ("TRUE", [])
        found: dict[str, str] = {}
        with self._reading() as cur:
            for ref in dict.fromkeys(refs):
                row = cur.execute(
                    f"(SELECT id, 0 AS o, created_at FROM nbtrack_runs WHERE {where} AND id = %s) UNION ALL "
                    f"(SELECT id, 1, created_at FROM nbtrack_runs WHERE {where} AND name = %s) "
                    "ORDER BY o, created_at DESC, id LIMIT 1",
                    [*params, ref, *params, ref],
                ).fetchone()
                if row is not None:
                    found[ref] = row[0]
        return found

    def run_records(self, ids: Sequence[str]) -> list[dict[str, Any]]:
        if not ids:
            return []
        with self._reading() as cur:
            rows = _rows(cur.execute("SELECT * FROM runs WHERE id = ANY(%s::text[])", [list(ids)]))
        by_id = {row["id"]: _parsed(row) for row in rows}
        return [by_id[i] for i in dict.fromkeys(ids) if i in by_id]

    def run_record(self, run_id: str) -> dict[str, Any] | None:
        with self._reading():
            found = self.run_records([run_id])
            if not found:
                return None
            keys = self.metric_stats(run_id)
        record = found[0]
        record["metrics"] = keys
        return record

    def metric_stats(self, run_id: str) -> list[dict[str, Any]]:
        with self._reading() as cur:
            rows = cur.execute(
                "SELECT key, count(*), min(step), max(step) FROM points "
                "WHERE run_id = %s GROUP BY key ORDER BY key",
                [run_id],
            ).fetchall()
        return [{"key": k, "points": n, "first_step": lo, "last_step": hi} for k, n, lo, hi in rows]

    def projects(self) -> list[dict[str, Any]]:
        with self._reading() as cur:
            rows = cur.execute(
                "SELECT project, count(*), count(*) FILTER (WHERE status = 'running'), max(created_at) "
                "FROM runs GROUP BY project ORDER BY max(created_at) DESC, project"
            ).fetchall()
        return [{"name": p, "runs": int(n), "running": int(r), "last_run": t} for p, n, r, t in rows]

    def crashed_runs(self) -> list[str]:
        with self._reading() as cur:
            return [run_id for (run_id,) in cur.execute("SELECT id FROM nbtrack_crashed").fetchall()]

    # -- metrics and media ---------------------------------------------------------------
    def metric_keys(self, ids: Sequence[str]) -> list[str]:
        if not ids:
            return []
        with self._reading() as cur:
            rows = cur.execute(
                "SELECT DISTINCT key FROM metric_series WHERE run_id = ANY(%s::text[]) ORDER BY key",
                [list(ids)],
            ).fetchall()
        return [str(k) for (k,) in rows]

    def history(
        self, ids: Sequence[str], keys: Sequence[str] | None = None, max_points: int | None = None
    ) -> pd.DataFrame:
        import pandas as pd

        if not ids:
            return pd.DataFrame(columns=HISTORY_COLUMNS)
        key_list = None if keys is None else list(keys)
        if max_points is not None:
            m = int(max_points)
            if m < 2:
                raise NbtrackError(f"max_points must be at least 2; got {m}")
            with self._reading() as cur:
                cur.execute(_DOWNSAMPLE, {"ids": list(ids), "keys": key_list, "m": m})
                frame = _frame(cur)
            return _typed_points(frame)
        query = "SELECT run_id, step, key, value, time FROM points WHERE run_id = ANY(%s::text[])"
        params: list[Any] = [list(ids)]
        if key_list is not None:
            query += " AND key = ANY(%s::text[])"
            params.append(key_list)
        with self._reading() as cur:
            return _copy_frame(cur, query + " ORDER BY run_id, key, step, time", params)

    def media_rows(
        self, ids: Sequence[str] | None = None, key: str | None = None, kind: str | None = None
    ) -> pd.DataFrame:
        query = f"SELECT {', '.join(MEDIA_COLUMNS)} FROM media WHERE true"
        params: list[Any] = []
        for clause, value in (
            ("run_id = ANY(%s::text[])", None if ids is None else list(ids)),
            ("key = %s", key),
            ("kind = %s", kind),
        ):
            if value is not None:
                query += f" AND {clause}"
                params.append(value)
        with self._reading() as cur:
            cur.execute(query + " ORDER BY run_id, key, step, idx, time", params)
            frame = _frame(cur, MEDIA_COLUMNS)
        return _typed_points(frame)

    def export_run(self, run_id: str) -> Segment:
        from .._export import run_segment
        from .._fold import MEDIA_COLUMNS, RUN_COLUMNS

        with self._reading() as cur:
            row = cur.execute(
                f"SELECT {', '.join(RUN_COLUMNS)} FROM run_records WHERE id = %s", [run_id]
            ).fetchone()
            if row is None:
                raise NbtrackError(f"no run with id {run_id!r} in {self._shown}")
            cur.execute(
                "SELECT key, step, value, value IS NULL AS missing, "
                "(extract(epoch FROM time) * 1000000)::bigint AS time_us "
                "FROM points WHERE run_id = %s ORDER BY time, step",
                [run_id],
            )
            points = _frame(cur, ["key", "step", "value", "missing", "time_us"])
            columns = ", ".join(
                "extract(epoch FROM time)::double precision" if c == "time" else c for c in MEDIA_COLUMNS
            )
            media = [
                list(r)
                for r in cur.execute(
                    f"SELECT {columns} FROM media_points WHERE run_id = %s ORDER BY time, key, step, idx",
                    [run_id],
                ).fetchall()
            ]
        return run_segment(dict(zip(RUN_COLUMNS, row)), points, media)

    def run_sizes(self, ids: Sequence[str]) -> dict[str, tuple[int, int]]:
        sizes: dict[str, list[int]] = {}
        if not ids:
            return {}
        with self._reading() as cur:
            for slot, query in (
                (
                    0,
                    "SELECT s.run_id, count(*) FROM metric_points p JOIN metric_series s ON s.id = p.series "
                    "WHERE s.run_id = ANY(%s::text[]) GROUP BY s.run_id",
                ),
                (
                    1,
                    "SELECT run_id, count(*) FROM media_points WHERE run_id = ANY(%s::text[]) "
                    "GROUP BY run_id",
                ),
            ):
                for run_id, n in cur.execute(query, [list(ids)]).fetchall():
                    sizes.setdefault(run_id, [0, 0])[slot] = int(n)
        return {run_id: (points, media) for run_id, (points, media) in sizes.items()}

    # -- the escape hatch ----------------------------------------------------------------
    def query(self, sql: str, params: Sequence[Any] | dict[str, Any] | None = None) -> pd.DataFrame:
        """A read-only query over the documented views, in PostgreSQL's dialect; ``?`` and
        ``$name`` placeholders as with the local store."""
        import psycopg

        if _first_word(sql) not in _READING_WORDS:
            raise NbtrackError(
                "nbtrack.sql() is read-only: one SELECT (or WITH, VALUES, TABLE, SHOW, EXPLAIN) "
                "statement at a time; change runs through the Python API (run.set_tags, "
                "nbtrack.delete_runs, ...)"
            )
        text, bound = translate_params(sql, params)
        with self._reading() as cur:
            try:
                with cur.connection.transaction():  # a savepoint: a bad query ends only itself
                    # Prepared: one statement only (a "; COMMIT; UPDATE ..." is refused whole).
                    cur.execute(text, bound, prepare=True)
                    return _frame(cur)
            except psycopg.errors.ReadOnlySqlTransaction:
                raise NbtrackError(
                    "nbtrack.sql() is read-only: change runs through the Python API "
                    "(run.set_tags, nbtrack.delete_run, ...)"
                ) from None
            except psycopg.Error as exc:
                text = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
                raise NbtrackError(f"nbtrack.sql(): {text}") from None


def _typed_points(frame: pd.DataFrame) -> pd.DataFrame:
    """Points' columns in the local store's dtypes (int64 steps, float64 values, datetime64)."""
    import pandas as pd

    for column, dtype in (
        ("step", "int64"),
        ("idx", "int64"),
        ("value", "float64"),
        ("min", "float64"),
        ("max", "float64"),
    ):
        if column in frame and len(frame):
            frame[column] = frame[column].astype(dtype)
    if "time" in frame:
        frame["time"] = pd.to_datetime(frame["time"]).astype("datetime64[us]")
    return frame


def _copy_frame(cur: Any, query: str, params: list[Any]) -> pd.DataFrame:
    """A large result through ``COPY ... TO STDOUT`` as CSV, parsed by Arrow."""
    import pyarrow as pa
    import pyarrow.csv as pacsv

    buffer = io.BytesIO()
    with cur.copy(f"COPY ({query}) TO STDOUT (FORMAT csv)", params) as copy:
        for chunk in copy:
            buffer.write(chunk)
    types = {
        "run_id": pa.string(),
        "step": pa.int64(),
        "key": pa.string(),
        "value": pa.float64(),
        "time": pa.timestamp("us"),
    }
    if not buffer.tell():
        import pandas as pd

        return _typed_points(pd.DataFrame(columns=HISTORY_COLUMNS))
    buffer.seek(0)
    table = pacsv.read_csv(
        buffer,
        read_options=pacsv.ReadOptions(column_names=HISTORY_COLUMNS),
        convert_options=pacsv.ConvertOptions(
            column_types=types, strings_can_be_null=False, quoted_strings_can_be_null=False
        ),
    )
    return table.to_pandas()
