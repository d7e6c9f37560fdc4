"""The DuckDB store's SQL for folding pending segments into its tables.

A fold applies segments in name order (per process, the order they were saved):
run snapshots as an insert of the whole record, or an update of the fields that
changed; media rows and metric points appended. Readers that cannot wait for a fold
see the same segments through :func:`pending_frames`.
"""

from __future__ import annotations

from datetime import datetime, timezone
from itertools import chain
from typing import Any

from .journal import Segment

__all__ = ["RUN_COLUMNS", "apply_segments", "latest_snapshots", "pending_frames"]

#: ``run_records`` columns a run snapshot carries, in table order (all but deleted_at).
RUN_COLUMNS = (
    "id", "name", "project", "status", "created_at", "ended_at", "heartbeat_at", "tags", "notes",
    "group_name", "kind", "config", "summary", "source", "execution_count", "notebook_path",
    "hostname", "pid", "pid_started", "environment", "git_commit", "git_dirty", "error", "sweep_id",
)
#: Updated at every save: the process saving a run is the one running it now (a run resumed
#: by id in another process, on another host, must not be judged by its first process), and
#: its status is what that process says: a reader on another host that marked the run
#: crashed after a silence (a network outage longer than the heartbeat timeout) is corrected
#: by the run's next save.
ALWAYS_COLUMNS = ("heartbeat_at", "hostname", "pid", "pid_started", "status", "ended_at")
#: The columns each changed field of a run updates (and ALWAYS_COLUMNS).
FIELD_COLUMNS = {
    "status": ("status", "ended_at", "error"),
    "config": ("config",),
    "summary": ("summary",),
    "tags": ("tags",),
    "environment": ("environment", "git_commit", "git_dirty"),
    "execution_count": ("execution_count",),
    "notes": ("notes",),
}
_TIMES = ("created_at", "ended_at", "heartbeat_at")
#: Everything stored of one run, for replacing an imported run.
_FORGET_RUN = ("DELETE FROM metric_points WHERE run_id = ?", "DELETE FROM media_points WHERE run_id = ?",
               "DELETE FROM run_records WHERE id = ?")
MEDIA_COLUMNS = ("run_id", "key", "step", "idx", "time", "kind", "digest", "path", "meta", "data")


def utc(seconds: float | None) -> datetime | None:
    if seconds is None:
        return None
    return datetime.fromtimestamp(seconds, timezone.utc).replace(tzinfo=None)


def unix_seconds(value: datetime | float | None) -> float | None:
    """A stored time (a naive UTC datetime, as :func:`utc` makes it) or seconds since the
    epoch (as a run holds it), as seconds since the epoch."""
    if value is None or not isinstance(value, datetime):
        return None if value is None else float(value)
    return (value if value.tzinfo else value.replace(tzinfo=timezone.utc)).timestamp()


def micro_times(seconds: Any) -> Any:
    """Media times (float seconds) as microseconds, by the rule the writer uses for points
    (``np.rint(t * 1e6)``): a point and a media value logged at one time keep one time.
    pandas' own float-to-nanosecond cast, truncated to microseconds by DuckDB, put about one
    time in eight a microsecond off."""
    import numpy as np

    return np.rint(np.asarray(seconds, dtype=np.float64) * 1e6).astype(np.int64).astype("datetime64[us]")


def _row(snapshot: dict[str, Any]) -> list[Any]:
    # A snapshot leaves out the source and environment when they did not change.
    return [utc(snapshot[c]) if c in _TIMES else snapshot.get(c) for c in RUN_COLUMNS]


def apply_segments(con: Any, segments: list[Segment]) -> None:
    """Write segments' contents with an open connection, inside the caller's transaction."""
    for snapshot in latest_snapshots(segments):
        _upsert_run(con, "run_records", snapshot)
    media = [row for s in segments for row in s.media]
    if media:
        _insert_media(con, media)
    groups = [g for s in segments for g in s.points]
    if groups:
        runs, names, frame = _points_frame(groups)
        con.register("nbtrack_batch", frame)
        try:
            value = _value_sql(frame)
            con.execute(
                "INSERT INTO metric_points SELECT list_extract(?::VARCHAR[], run + 1), "
                f"list_extract(?::VARCHAR[], code + 1), step, {value}, time FROM nbtrack_batch",
                [runs, names])
        finally:
            con.unregister("nbtrack_batch")
    # One statement for all names (executemany runs one per row: ~2 ms each under load).
    con.execute("INSERT OR IGNORE INTO folded_segments SELECT unnest(?::VARCHAR[])",
                [[s.name for s in segments]])


def _value_sql(columns: Any) -> str:
    """The stored value: DuckDB reads a NaN in a numpy column as NULL, so the ``special``
    marker tells a logged None (missing, NULL) from a logged NaN (a diverged value)."""
    if "special" in columns:
        return "CASE special WHEN 1 THEN NULL WHEN 2 THEN 'NaN'::DOUBLE ELSE value END"
    return "value"


def _upsert_run(con: Any, table: str, snapshot: dict[str, Any]) -> None:
    """Insert a run's whole record, or update the fields that changed (``table`` is ours)."""
    if snapshot.get("replace") and table == "run_records":
        # A re-import: the earlier import of this run goes in the same transaction.
        for statement in _FORGET_RUN:
            con.execute(statement, [snapshot["id"]])
    exists = con.execute(f"SELECT 1 FROM {table} WHERE id = ?", [snapshot["id"]]).fetchone()
    if exists is None:  # a new run, or one whose store was deleted under it: the whole record
        con.execute(f"INSERT INTO {table} ({', '.join(RUN_COLUMNS)}) "
                    f"VALUES ({', '.join('?' * len(RUN_COLUMNS))})", _row(snapshot))
        return
    # Column names from our own table above, never input.
    columns = list(dict.fromkeys(
        [*ALWAYS_COLUMNS, *chain.from_iterable(FIELD_COLUMNS.get(f, ()) for f in snapshot["fields"])]))
    values = [utc(snapshot[c]) if c in _TIMES else snapshot[c] for c in columns]
    con.execute(f"UPDATE {table} SET {', '.join(f'{c} = ?' for c in columns)} WHERE id = ?",
                [*values, snapshot["id"]])


def _insert_media(con: Any, rows: list[list[Any]]) -> None:
    import pandas as pd

    frame = pd.DataFrame.from_records(rows, columns=list(MEDIA_COLUMNS))
    frame["time"] = micro_times(frame["time"])
    con.register("nbtrack_media_batch", frame)
    try:
        columns = ", ".join(MEDIA_COLUMNS)
        con.execute(f"INSERT INTO media_points ({columns}) SELECT {columns} FROM nbtrack_media_batch")
    finally:
        con.unregister("nbtrack_media_batch")


def _points_frame(groups: list[Any]) -> tuple[list[str], list[str], dict[str, Any]]:
    """Point groups as one set of columns: run and key as codes into two name lists."""
    import numpy as np

    runs = list(dict.fromkeys(g.run_id for g in groups))
    run_index = {r: i for i, r in enumerate(runs)}
    names = list(dict.fromkeys(chain.from_iterable(g.names for g in groups)))
    index = {n: i for i, n in enumerate(names)}
    codes = []
    for g in groups:
        if g.names == names[:len(g.names)]:
            codes.append(g.codes)  # the same leading names: codes hold as they are
        else:
            codes.append(np.array([index[n] for n in g.names], dtype=np.int32)[g.codes])
    frame: dict[str, Any] = {
        "run": np.repeat(np.array([run_index[g.run_id] for g in groups], dtype=np.int32),
                         [len(g) for g in groups]),
        "code": _cat(codes),
        "step": _cat([g.steps for g in groups]),
        "value": _cat([g.values for g in groups]),
        "time": _cat([g.times for g in groups]).view("datetime64[us]"),
    }
    if any(g.special is not None for g in groups):
        frame["special"] = _cat([g.special if g.special is not None else np.zeros(len(g), np.int8)
                                 for g in groups])
    return runs, names, frame


def _cat(arrays: list[Any]) -> Any:
    import numpy as np

    return arrays[0] if len(arrays) == 1 else np.concatenate(arrays)


def pending_frames(segments: list[Segment]) -> dict[str, Any]:
    """Pending segments as relations a reader registers beside the tables.

    ``points`` (run_id, key, step, value, time) as columns of numpy arrays (DuckDB reads
    them as a table; no pandas, whose import holds the GIL for half a second in a kernel
    whose first live cell reads the store), ``media`` as a DataFrame; ``runs``: the latest
    snapshot of each run with the fields that changed since the file had it, for
    :func:`merge_runs`.
    """
    import numpy as np

    out: dict[str, Any] = {}
    groups = [g for s in segments for g in s.points]
    if groups:
        runs, names, frame = _points_frame(groups)
        points = {
            "run_id": np.array(runs, dtype=object)[frame["run"]],
            "key": np.array(names, dtype=object)[frame["code"]],
            "step": frame["step"], "value": frame["value"], "time": frame["time"],
        }
        if "special" in frame:
            points["special"] = frame["special"]
        out["points"] = points
    media = [row for s in segments for row in s.media]
    if media:
        import pandas as pd

        frame = pd.DataFrame.from_records(media, columns=list(MEDIA_COLUMNS))
        frame["time"] = micro_times(frame["time"])
        out["media"] = frame
    latest = latest_snapshots(segments)
    if latest:
        out["runs"] = latest
    return out


def latest_snapshots(segments: list[Segment]) -> list[dict[str, Any]]:
    """One snapshot per run: its newest (every snapshot holds the whole record), with the
    fields changed by any of them. A run saving ten times a second is one update a fold."""
    latest: dict[str, dict[str, Any]] = {}
    for segment in segments:
        for snapshot in segment.runs:
            before = latest.get(snapshot["id"], {})
            fields = set(before.get("fields", ())) | set(snapshot["fields"])
            # ``before`` first: columns a newer snapshot leaves out (source, environment) stay.
            latest[snapshot["id"]] = {**before, **snapshot, "fields": sorted(fields),
                                      "replace": bool(before.get("replace") or snapshot.get("replace"))}
    return list(latest.values())


def merge_runs(con: Any, snapshots: list[dict[str, Any]]) -> None:
    """A temp view ``nbtrack_run_records``: the file's run records with pending snapshots applied.

    Only the runs with pending snapshots are copied (into a small temp table, so their
    column types stay the file's); the view reads every other run from the file.
    """
    ids = [snapshot["id"] for snapshot in snapshots]
    con.execute("CREATE OR REPLACE TEMP TABLE nbtrack_pending_runs AS "
                "SELECT * FROM main.run_records WHERE list_contains(?, id)", [ids])
    for snapshot in snapshots:
        _upsert_run(con, "nbtrack_pending_runs", snapshot)
    con.execute("CREATE OR REPLACE TEMP VIEW nbtrack_run_records AS "
                "SELECT * FROM main.run_records WHERE id NOT IN (SELECT id FROM nbtrack_pending_runs) "
                "UNION ALL SELECT * FROM nbtrack_pending_runs")


#: The tables a reader reads, and what stands for each when segments are pending.
PENDING_TABLES = {"run_records": "nbtrack_run_records", "metric_points": "nbtrack_metric_points",
                  "media_points": "nbtrack_media_points"}


def register_pending(con: Any, segments: list[Segment]) -> dict[str, str]:
    """Make the file's tables plus pending segments readable on ``con``; return the
    relation to read for each table name (``main.<table>`` when nothing is pending)."""
    tables = {name: f"main.{name}" for name in PENDING_TABLES}
    if not segments:
        return tables
    frames = pending_frames(segments)
    if "runs" in frames:
        merge_runs(con, frames["runs"])
        tables["run_records"] = PENDING_TABLES["run_records"]
    if "points" in frames:
        points = frames["points"]
        con.register("nbtrack_pending_points", points)
        con.execute(
            "CREATE OR REPLACE TEMP VIEW nbtrack_metric_points AS "
            "SELECT run_id, key, step, value, time FROM main.metric_points UNION ALL "
            f"SELECT run_id, key, step, {_value_sql(points)}, time FROM nbtrack_pending_points")
        tables["metric_points"] = PENDING_TABLES["metric_points"]
    if "media" in frames:
        con.register("nbtrack_pending_media", frames["media"])
        columns = ", ".join(MEDIA_COLUMNS)
        con.execute(
            f"CREATE OR REPLACE TEMP VIEW nbtrack_media_points AS SELECT {columns} FROM "
            f"main.media_points UNION ALL SELECT {columns} FROM nbtrack_pending_media")
        tables["media_points"] = PENDING_TABLES["media_points"]
    return tables
