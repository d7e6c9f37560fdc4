"""The DuckDB store's SQL for run management: names, tags, notes, trash."""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..errors import NbtrackError
from .schema import utcnow

if TYPE_CHECKING:
    from contextlib import AbstractContextManager

    import pandas as pd

__all__ = ["ManageQueries"]

#: Fields of a run a user may change after the fact: run_records columns, so the
#: allow-list is what lets a field name into the SQL text.
EDITABLE_FIELDS = ("name", "tags", "notes")
_TRASH_COLUMNS = ("id", "name", "project", "status", "created_at", "deleted_at")
# Which runs a reference may name: those outside the trash, or those in it.
_IN_TRASH = {False: "deleted_at IS NULL", True: "deleted_at IS NOT NULL"}


class ManageQueries:
    """Mixed into :class:`nbtrack.store.Store`; uses its ``read()``/``write()`` connections."""

    dir: Path

    if TYPE_CHECKING:
        def read(self, timeout: float | None = None) -> AbstractContextManager[Any]: ...
        def write(self, timeout: float | None = None) -> AbstractContextManager[Any]: ...
        def exists(self) -> bool: ...

    def set_run_field(self, ref: str, field: str, value: Any) -> str:
        """Set a run's ``name``, ``tags`` or ``notes``; returns the run's id."""
        if field not in EDITABLE_FIELDS:
            raise ValueError(f"not a field a user may change: {field!r}")
        with self.write() as con:
            (run_id,) = _resolve(con, [ref], False)
            con.execute(f"UPDATE run_records SET {field} = ? WHERE id = ?", [value, run_id])
        return run_id

    def add_run_tags(self, ref: str, tags: Sequence[str]) -> tuple[str, list[str]]:
        """Add tags to a run, keeping its own first; returns its id and tags now."""
        return self._edit_tags(ref, lambda current: list(dict.fromkeys([*current, *tags])))

    def remove_run_tags(self, ref: str, tags: Sequence[str]) -> tuple[str, list[str]]:
        """Remove tags from a run (absent ones are ignored); returns its id and tags now."""
        return self._edit_tags(ref, lambda current: [t for t in current if t not in tags])

    def _edit_tags(self, ref: str, change: Callable[[list[str]], list[str]]) -> tuple[str, list[str]]:
        # One write, so two processes tagging the same run at once both keep their tag.
        if not self.exists():
            raise NbtrackError("the store is empty")
        with self.write() as con:
            (run_id,) = _resolve(con, [ref], False)
            row = con.execute("SELECT tags FROM run_records WHERE id = ?", [run_id]).fetchone()
            tags = change(list(row[0] or []))
            con.execute("UPDATE run_records SET tags = ? WHERE id = ?", [tags, run_id])
        return run_id, tags

    def trash_runs(self, refs: Sequence[str]) -> list[str]:
        """Move runs to the trash (hidden everywhere, points kept); returns their ids."""
        with self.write() as con:
            ids = _resolve(con, refs, False)
            con.execute("UPDATE run_records SET deleted_at = ? WHERE list_contains(?, id)", [utcnow(), ids])
        return ids

    def restore_runs(self, refs: Sequence[str]) -> list[str]:
        """Take runs out of the trash; returns their ids."""
        with self.write() as con:
            ids = _resolve(con, refs, True)
            con.execute("UPDATE run_records SET deleted_at = NULL WHERE list_contains(?, id)", [ids])
        return ids

    def trashed_runs(self) -> pd.DataFrame:
        """Runs in the trash, last trashed first: ``id, name, project, status, created_at, deleted_at``."""
        import pandas as pd

        with self.read() as con:
            if con is None:
                return pd.DataFrame(columns=list(_TRASH_COLUMNS))
            df: pd.DataFrame = con.execute(
                f"SELECT {', '.join(_TRASH_COLUMNS)} FROM run_records WHERE deleted_at IS NOT NULL "
                "ORDER BY deleted_at DESC"
            ).df()
        return df

    def empty_trash(self, *, media_grace_s: float = 3600.0) -> int:
        """Delete trashed runs for good, with their points and media; returns how many.

        Media files no remaining run refers to go too, once ``media_grace_s`` old.
        """
        with self.write() as con:
            con.execute("BEGIN TRANSACTION")
            try:
                ids = [r[0] for r in con.execute(
                    "SELECT id FROM run_records WHERE deleted_at IS NOT NULL").fetchall()]
                con.execute("DELETE FROM metric_points WHERE list_contains(?, run_id)", [ids])
                con.execute("DELETE FROM media_points WHERE list_contains(?, run_id)", [ids])
                con.execute("DELETE FROM run_records WHERE list_contains(?, id)", [ids])
                con.execute("COMMIT")
            except BaseException:
                con.execute("ROLLBACK")
                raise
            if ids:
                kept = {r[0] for r in con.execute(
                    "SELECT DISTINCT path FROM media_points WHERE path IS NOT NULL").fetchall()}
                _remove_unreferenced_media(self.dir, kept, media_grace_s)
        return len(ids)


def _resolve(con: Any, refs: Sequence[str], trashed: bool) -> list[str]:
    """Ids for run ids or names (a name: the newest run of that name); raises for one not found."""
    found = []
    for ref in refs:
        row = con.execute(
            f"SELECT id FROM run_records WHERE {_IN_TRASH[trashed]} AND (id = ? OR name = ?) "
            "ORDER BY (id = ?) DESC, created_at DESC LIMIT 1", [ref, ref, ref],
        ).fetchone()
        if row is None:
            place = "in the trash" if trashed else "among the runs"
            raise NbtrackError(f"no run with id or name {ref!r} {place}")
        found.append(row[0])
    return found


def _remove_unreferenced_media(store_dir: Path, kept: set[str], grace_s: float) -> None:
    # A file younger than the grace may belong to a value another process is about
    # to record (it writes the file, then the row); recording touches the file.
    folder = store_dir / "media"
    if not folder.is_dir():
        return
    cutoff = time.time() - grace_s
    for path in folder.glob("*/*"):
        relative = path.relative_to(store_dir).as_posix()
        try:
            if relative not in kept and path.is_file() and path.stat().st_mtime < cutoff:
                path.unlink()
        except OSError:
            continue  # another process may be reading or re-creating it; left for next time
