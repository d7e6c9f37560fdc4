"""The PostgreSQL store's SQL for folding segments: runs upserted, media and points by COPY.

Each segment goes in at most once: its name is claimed in ``folded_segments`` in the
same transaction (``ON CONFLICT DO NOTHING``), so two processes that fold one machine's
folder at once, or a process killed between COMMIT and deleting the files, add nothing
twice. What a snapshot carries and which columns a change updates is the local
store's rule (:mod:`nbtrack.store._fold`).
"""

from __future__ import annotations

import json
import math
from itertools import chain
from typing import Any

from .._fold import (
    _TIMES,
    ALWAYS_COLUMNS,
    FIELD_COLUMNS,
    MEDIA_COLUMNS,
    RUN_COLUMNS,
    _points_frame,
    latest_snapshots,
    micro_times,
    utc,
)
from ..journal import Segment

__all__ = ["apply_segments", "json_copy"]

_FORGET_RUN = (
    "DELETE FROM metric_points WHERE series IN (SELECT id FROM metric_series WHERE run_id = %s)",
    "DELETE FROM media_points WHERE run_id = %s",
    "DELETE FROM run_records WHERE id = %s",
)
_JSON_COPIES = {"config": "config_json", "summary": "summary_json"}


def apply_segments(cur: Any, segments: list[Segment]) -> None:
    """Write the segments not folded before, inside the caller's transaction."""
    names = [s.name for s in segments]
    claimed = {
        n
        for (n,) in cur.execute(
            "INSERT INTO folded_segments (name, folded_at) SELECT unnest(%s::text[]), "
            "now() AT TIME ZONE 'UTC' ON CONFLICT DO NOTHING RETURNING name",
            [names],
        ).fetchall()
    }
    fresh = [s for s in segments if s.name in claimed]
    for snapshot in latest_snapshots(fresh):
        upsert_run(cur, snapshot)
    media = [row for s in fresh for row in s.media]
    if media:
        _copy_media(cur, media)
    groups = [g for s in fresh for g in s.points]
    if groups:
        _copy_points(cur, groups)


def json_copy(text: Any) -> Any:
    """The ``jsonb`` copy of a JSON text field (jsonb has no NaN or inf: see :func:`_finite`)."""
    from psycopg.types.json import Jsonb

    if not text:
        return None
    try:
        value = json.loads(text)
    except (TypeError, ValueError):
        return None
    return Jsonb(_finite(value))


def _finite(value: Any) -> Any:
    """A JSON value jsonb can hold: NaN and inf as the strings "NaN", "Infinity", "-Infinity"
    (they sort as numbers, see _reads.selection_order); NUL characters as U+FFFD."""
    if isinstance(value, float) and not math.isfinite(value):
        return "NaN" if math.isnan(value) else ("Infinity" if value > 0 else "-Infinity")
    if isinstance(value, str):
        return value.replace("\x00", "\ufffd")
    if isinstance(value, dict):
        return {str(k).replace("\x00", "\ufffd"): _finite(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_finite(v) for v in value]
    return value


def upsert_run(cur: Any, snapshot: dict[str, Any]) -> None:
    """Insert a run's whole record, or update the fields that changed."""
    if snapshot.get("replace"):
        for statement in _FORGET_RUN:
            cur.execute(statement, [snapshot["id"]])
    row = [utc(snapshot[c]) if c in _TIMES else snapshot.get(c) for c in RUN_COLUMNS]
    row += [json_copy(snapshot.get(field)) for field in _JSON_COPIES]
    columns = [*RUN_COLUMNS, *_JSON_COPIES.values()]
    changed = list(
        dict.fromkeys(
            [*ALWAYS_COLUMNS, *chain.from_iterable(FIELD_COLUMNS.get(f, ()) for f in snapshot["fields"])]
        )
    )
    changed += [_JSON_COPIES[c] for c in list(changed) if c in _JSON_COPIES]
    # Column names from our own tables above, never input.
    placeholders = ", ".join("%s::text[]" if c == "tags" else "%s" for c in columns)
    cur.execute(
        f"INSERT INTO run_records ({', '.join(columns)}) VALUES ({placeholders}) "
        f"ON CONFLICT (id) DO UPDATE SET {', '.join(f'{c} = EXCLUDED.{c}' for c in changed)}",
        row,
    )


def _copy_media(cur: Any, rows: list[list[Any]]) -> None:
    times = micro_times([row[MEDIA_COLUMNS.index("time")] for row in rows])
    with cur.copy(f"COPY media_points ({', '.join(MEDIA_COLUMNS)}) FROM STDIN") as copy:
        for row, when in zip(rows, times.tolist()):
            copy.write_row([when if c == "time" else v for c, v in zip(MEDIA_COLUMNS, row)])


#: A point as PostgreSQL's binary COPY wants it: a field count, then each field's length and
#: big-endian bytes (series int4, step int8, value float8, time int8 microseconds since 2000).
_PG_EPOCH_US = 946_684_800_000_000
_HEADER = b"PGCOPY\n\xff\r\n\x00" + bytes(8)
_TRAILER = b"\xff\xff"


def _row_type() -> Any:
    import numpy as np

    return np.dtype(
        [
            ("fields", ">i2"),
            ("n1", ">i4"),
            ("series", ">i4"),
            ("n2", ">i4"),
            ("step", ">i8"),
            ("n3", ">i4"),
            ("value", ">f8"),
            ("n4", ">i4"),
            ("time", ">i8"),
        ]
    )


def _series_ids(cur: Any, runs: list[str], names: list[str], pairs: Any) -> Any:
    """The series number of each (run, key) pair in ``pairs`` (codes into runs and names),
    made for pairs seen the first time."""
    import numpy as np

    unique = np.unique(pairs)
    run_of = [runs[int(p) // len(names)] for p in unique]
    key_of = [names[int(p) % len(names)] for p in unique]
    cur.execute(
        "INSERT INTO metric_series (run_id, key) SELECT * FROM unnest(%s::text[], %s::text[]) "
        "ON CONFLICT DO NOTHING",
        [run_of, key_of],
    )
    found = {
        (r, k): i
        for i, r, k in cur.execute(
            "SELECT s.id, s.run_id, s.key FROM metric_series s "
            "JOIN unnest(%s::text[], %s::text[]) AS u(run_id, key) ON s.run_id = u.run_id AND s.key = u.key",
            [run_of, key_of],
        ).fetchall()
    }
    ids = np.array([found[(r, k)] for r, k in zip(run_of, key_of)], dtype=np.int32)
    return ids[np.searchsorted(unique, pairs)]


def _copy_points(cur: Any, groups: list[Any]) -> None:
    """All points in one binary COPY, built by numpy (no Python loop per point)."""
    import numpy as np

    runs, names, frame = _points_frame(groups)
    pairs = frame["run"].astype(np.int64) * len(names) + frame["code"]
    series = _series_ids(cur, runs, names, pairs)
    values = np.asarray(frame["value"], dtype=np.float64)
    missing = np.zeros(len(values), dtype=bool)
    if "special" in frame:  # 1: a logged None (NULL); 2: a logged NaN (kept as NaN)
        missing = frame["special"] == 1
        values = np.where(frame["special"] == 2, np.nan, values)
    times = np.asarray(frame["time"]).astype("datetime64[us]").astype(np.int64) - _PG_EPOCH_US
    steps = np.asarray(frame["step"], dtype=np.int64)
    keep = ~missing
    rows = np.empty(int(keep.sum()), dtype=_row_type())
    rows["fields"], rows["n1"], rows["n2"], rows["n3"], rows["n4"] = 4, 4, 8, 8, 8
    rows["series"], rows["step"], rows["value"], rows["time"] = (
        series[keep],
        steps[keep],
        values[keep],
        times[keep],
    )
    with cur.copy("COPY metric_points (series, step, value, time) FROM STDIN (FORMAT binary)") as copy:
        copy.write(_HEADER)
        copy.write(memoryview(rows.tobytes()))
        copy.write(_TRAILER)
    if missing.any():  # a NULL has no bytes: these few rows go one at a time
        with cur.copy("COPY metric_points (series, step, value, time) FROM STDIN") as copy:
            for s, step, t in zip(
                series[missing].tolist(),
                steps[missing].tolist(),
                np.asarray(frame["time"])[missing].astype("datetime64[us]").tolist(),
            ):
                copy.write_row((s, step, None, t))
