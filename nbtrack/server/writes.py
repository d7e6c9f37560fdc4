"""What the sidebar changes: names, tags, notes, the trash, and exported reports.

Each change is one call into :mod:`nbtrack.manage` (one short write transaction under
the store's lock, safe while kernels log) or :func:`nbtrack.report.export_report`.
Blocking: the handlers run these in a thread.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from .. import manage
from ..store import get_store
from .paths import Root

__all__ = ["delete", "export", "rename", "restore", "set_notes", "set_tags"]


def rename(store: Path, run_id: str, name: str) -> dict[str, Any]:
    manage.rename_run(run_id, name, store=get_store(store))
    return {"id": run_id, "name": name}


def set_tags(store: Path, run_id: str, tags: Sequence[str]) -> dict[str, Any]:
    return {"id": run_id, "tags": manage.set_tags(run_id, list(tags), store=get_store(store))}


def set_notes(store: Path, run_id: str, notes: str | None) -> dict[str, Any]:
    manage.set_notes(run_id, notes, store=get_store(store))
    return {"id": run_id, "notes": notes}


def delete(store: Path, run_ids: Sequence[str]) -> dict[str, Any]:
    """Move runs to the trash; the answer's ids undo it through :func:`restore`."""
    return {"ids": manage.delete_runs(list(run_ids), store=get_store(store))}


def restore(store: Path, run_ids: Sequence[str]) -> dict[str, Any]:
    return {"ids": manage.restore_runs(list(run_ids), store=get_store(store))}


def export(store: Path, root: Root, *, run_ids: Sequence[str] | None, project: str | None,
           title: str | None) -> dict[str, Any]:
    """Write an HTML report next to the store (in its parent folder; for a team store in a
    database, at the Jupyter root); return its path under the root."""
    from ..report import export_report

    stamp = datetime.now(timezone.utc).strftime("%Y%m%d-%H%M%S")
    folder = store.parent if isinstance(store, Path) else root.path
    target = folder / f"nbtrack-report-{stamp}.html"
    written = export_report(target, runs=list(run_ids) if run_ids else None, project=project,
                            title=title, store=get_store(store), progress=False)
    return {"path": root.relative(written), "runs": len(run_ids) if run_ids else None}
