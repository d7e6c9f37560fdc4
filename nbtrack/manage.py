"""Changing runs after the fact: rename, tag, annotate, and delete with undo.

Deleting moves runs to the trash (hidden from every view, points kept);
:func:`restore_runs` undoes it until :func:`empty_trash` removes them for good.
Each call is one short write transaction, so it is safe while other processes log.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from .errors import NbtrackError
from .store import Store, get_store
from .store.schema import utcnow

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["rename_run", "set_tags", "add_tags", "remove_tags", "set_notes",
           "delete_runs", "restore_runs", "trash", "empty_trash"]


def _store(store: Any) -> Store:
    return store if isinstance(store, Store) else get_store(store)


def _ids(con: Any, runs: Any, *, deleted: bool | None = False) -> list[str]:
    """Run ids for ids, names (newest of that name), Run objects or a runs() DataFrame."""
    from .query import _run_ids

    refs = _run_ids(runs)
    if not refs:
        raise NbtrackError("no runs given: pass run ids, names, Run objects or a runs() DataFrame")
    where = {False: "deleted_at IS NULL", True: "deleted_at IS NOT NULL", None: "TRUE"}[deleted]
    found = []
    for ref in refs:
        row = con.execute(
            f"SELECT id FROM run_records WHERE {where} AND (id = ? OR name = ?) "
            "ORDER BY (id = ?) DESC, created_at DESC LIMIT 1", [ref, ref, ref],
        ).fetchone()
        if row is None:
            place = "in the trash" if deleted else "among the runs"
            raise NbtrackError(f"no run with id or name {ref!r} {place}")
        found.append(row[0])
    return found


def _set_field(run: Any, field: str, value: Any, store: Any) -> None:
    """Write one field of one run, and mirror it on the run object if this process owns it.

    ``field`` (a column of run_records and an attribute of Run) is ours, never user input.
    """
    from .run import _live_runs

    with _store(store).write() as con:
        (run_id,) = _ids(con, run)
        con.execute(f"UPDATE run_records SET {field} = ? WHERE id = ?", [value, run_id])
    live = _live_runs.get(run_id)
    if live is not None:
        setattr(live, field, value)


def rename_run(run: Any, name: str, *, store: Any = None) -> None:
    """Give a run a new name (ids never change).

    Example
    -------
    >>> nbtrack.rename_run("k3x9a2bq", "baseline-v2")  # doctest: +SKIP
    """
    from .run import _check_name

    _set_field(run, "name", _check_name(name), store)


def set_tags(run: Any, tags: Sequence[str], *, store: Any = None) -> list[str]:
    """Replace a run's tags; returns them (deduplicated, in order)."""
    from .run import _check_tags

    clean = _check_tags(tags)
    _set_field(run, "tags", clean, store)
    return clean


def _current_tags(run: Any, store: Any) -> tuple[str, list[str]]:
    with _store(store).read() as con:
        if con is None:
            raise NbtrackError("the store is empty")
        (run_id,) = _ids(con, run)
        tags = con.execute("SELECT tags FROM run_records WHERE id = ?", [run_id]).fetchone()[0]
    return run_id, list(tags or [])


def add_tags(run: Any, *tags: str, store: Any = None) -> list[str]:
    """Add tags to a run, keeping the ones it has."""
    run_id, current = _current_tags(run, store)
    return set_tags(run_id, current + list(tags), store=store)


def remove_tags(run: Any, *tags: str, store: Any = None) -> list[str]:
    """Remove tags from a run (absent ones are ignored)."""
    run_id, current = _current_tags(run, store)
    return set_tags(run_id, [t for t in current if t not in tags], store=store)


def set_notes(run: Any, notes: str | None, *, store: Any = None) -> None:
    """Replace a run's notes."""
    if notes is not None and not isinstance(notes, str):
        raise NbtrackError(f"notes must be text; got {type(notes).__name__}")
    _set_field(run, "notes", notes, store)


def delete_runs(runs: Any, *, store: Any = None) -> list[str]:
    """Move runs to the trash; returns their ids (give them to :func:`restore_runs` to undo).

    Example
    -------
    >>> gone = nbtrack.delete_runs(nbtrack.runs(status="failed"))  # doctest: +SKIP
    >>> nbtrack.restore_runs(gone)                                 # doctest: +SKIP
    """
    with _store(store).write() as con:
        ids = _ids(con, runs)
        con.execute("UPDATE run_records SET deleted_at = ? WHERE list_contains(?, id)", [utcnow(), ids])
    return ids


def restore_runs(runs: Any, *, store: Any = None) -> list[str]:
    """Take runs out of the trash."""
    with _store(store).write() as con:
        ids = _ids(con, runs, deleted=True)
        con.execute("UPDATE run_records SET deleted_at = NULL WHERE list_contains(?, id)", [ids])
    return ids


def trash(*, store: Any = None) -> pd.DataFrame:
    """Runs in the trash: ``id, name, project, status, created_at, deleted_at``."""
    import pandas as pd

    columns = ["id", "name", "project", "status", "created_at", "deleted_at"]
    with _store(store).read() as con:
        if con is None:
            return pd.DataFrame(columns=columns)
        df: pd.DataFrame = con.execute(
            f"SELECT {', '.join(columns)} FROM run_records WHERE deleted_at IS NOT NULL "
            "ORDER BY deleted_at DESC"
        ).df()
    return df


def empty_trash(*, store: Any = None) -> int:
    """Delete the runs in the trash for good, with their points and media; returns how many.

    Media files no other run refers to are removed too, once they are an hour old: a
    file younger than that may belong to a value another process is about to record.
    Artifact versions and their lineage stay (a version outlives the run that made it).
    """
    chosen = _store(store)
    with chosen.write() as con:
        con.execute("BEGIN TRANSACTION")
        ids = [r[0] for r in con.execute(
            "SELECT id FROM run_records WHERE deleted_at IS NOT NULL").fetchall()]
        con.execute("DELETE FROM metric_points WHERE list_contains(?, run_id)", [ids])
        con.execute("DELETE FROM media_points WHERE list_contains(?, run_id)", [ids])
        con.execute("DELETE FROM run_records WHERE list_contains(?, id)", [ids])
        con.execute("COMMIT")
        if ids:
            kept = {r[0] for r in con.execute(
                "SELECT DISTINCT path FROM media_points WHERE path IS NOT NULL").fetchall()}
            _remove_unreferenced_media(chosen.dir, kept)
    return len(ids)


MEDIA_GRACE_S = 3600.0


def _remove_unreferenced_media(store_dir: Any, kept: set[str]) -> None:
    import time

    folder = store_dir / "media"
    if not folder.is_dir():
        return
    cutoff = time.time() - MEDIA_GRACE_S
    for path in folder.glob("*/*"):
        relative = path.relative_to(store_dir).as_posix()
        try:
            if relative not in kept and path.is_file() and path.stat().st_mtime < cutoff:
                path.unlink()
        except OSError:
            continue  # another process may be reading or re-creating it; left for next time
