"""Changing runs after the fact: rename, tag, annotate, and delete with undo.

Deleting moves runs to the trash (hidden from every view, points kept);
:func:`restore_runs` undoes it until :func:`empty_trash` removes them for good.
Each call is one short write transaction, so it is safe while other processes log.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from .errors import NbtrackError
from .store import StoreBase, get_store

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["rename_run", "set_tags", "add_tags", "remove_tags", "set_notes",
           "delete_runs", "restore_runs", "trash", "empty_trash"]

#: How old an unreferenced media file must be before :func:`empty_trash` removes it
#: (a younger one may belong to a value another process is about to record).
MEDIA_GRACE_S = 3600.0


def _store(store: Any) -> StoreBase:
    return store if isinstance(store, StoreBase) else get_store(store)


def _refs(runs: Any) -> list[str]:
    """Run ids or names from ids, names, Run objects or a runs() DataFrame."""
    from .query import _run_ids

    refs = _run_ids(runs)
    if not refs:
        raise NbtrackError("no runs given: pass run ids, names, Run objects or a runs() DataFrame")
    return refs


def _mirror(run_id: str, field: str, value: Any) -> None:
    """Show a change on the run object too, if this process owns the run."""
    from ._run import _live_runs

    live = _live_runs.get(run_id)
    if live is not None:
        setattr(live, field, value)


def _set_field(run: Any, field: str, value: Any, store: Any) -> None:
    """Write one field of one run, and mirror it on the run object if this process owns it."""
    (ref,) = _refs(run)
    _mirror(_store(store).set_run_field(ref, field, value), field, value)


def rename_run(run: Any, name: str, *, store: Any = None) -> None:
    """Give a run a new name (ids never change).

    Example
    -------
    >>> nbtrack.rename_run("k3x9a2bq", "baseline-v2")  # doctest: +SKIP
    """
    from ._run import _check_name

    _set_field(run, "name", _check_name(name), store)


def set_tags(run: Any, tags: Sequence[str], *, store: Any = None) -> list[str]:
    """Replace a run's tags; returns them (deduplicated, in order)."""
    from ._run import _check_tags

    clean = _check_tags(tags)
    _set_field(run, "tags", clean, store)
    return clean


def add_tags(run: Any, *tags: str, store: Any = None) -> list[str]:
    """Add tags to a run, keeping the ones it has."""
    from ._run import _check_tags

    (ref,) = _refs(run)
    run_id, now = _store(store).add_run_tags(ref, _check_tags(list(tags)))
    _mirror(run_id, "tags", now)
    return now


def remove_tags(run: Any, *tags: str, store: Any = None) -> list[str]:
    """Remove tags from a run (absent ones are ignored)."""
    (ref,) = _refs(run)
    run_id, now = _store(store).remove_run_tags(ref, list(tags))
    _mirror(run_id, "tags", now)
    return now


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
    return _store(store).trash_runs(_refs(runs))


def restore_runs(runs: Any, *, store: Any = None) -> list[str]:
    """Take runs out of the trash."""
    return _store(store).restore_runs(_refs(runs))


def trash(*, store: Any = None) -> pd.DataFrame:
    """Runs in the trash: ``id, name, project, status, created_at, deleted_at``."""
    return _store(store).trashed_runs()


def empty_trash(*, store: Any = None) -> int:
    """Delete the runs in the trash for good, with their points and media; returns how many.

    Media files no other run refers to are removed too, once they are an hour old: a
    file younger than that may belong to a value another process is about to record.
    Artifact versions and their lineage stay (a version outlives the run that made it).
    """
    return _store(store).empty_trash(media_grace_s=MEDIA_GRACE_S)

