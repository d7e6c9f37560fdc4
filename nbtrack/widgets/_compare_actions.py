"""What the compare widget's buttons do to the selected runs, through :mod:`nbtrack.manage`.

Each handler takes the widget and the front-end's message and returns the line the
widget shows afterwards. Deleting moves runs to the trash; the widget keeps their ids
in ``undo`` until the next delete, and "Empty trash" needs ``confirm: true``.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any

from .. import manage
from ..comparison import ARCHIVED
from ..errors import NbtrackError

__all__ = ["ACTIONS"]


def _selected(widget: Any) -> list[str]:
    if not widget.selected:
        raise NbtrackError("select runs first (tick their boxes in the table)")
    return list(widget.selected)


def _text(content: dict[str, Any], field: str) -> str:
    value = content.get(field)
    if not isinstance(value, str) or not value.strip():
        raise NbtrackError(f"enter a {field} first")
    return value.strip()


def _tag(widget: Any, content: dict[str, Any]) -> str:
    tag = _text(content, "tag")
    runs = _selected(widget)
    for run in runs:
        manage.add_tags(run, tag, store=widget._store)
    return f"tagged {len(runs)} run(s) {tag!r}"


def _untag(widget: Any, content: dict[str, Any]) -> str:
    tag = _text(content, "tag")
    runs = _selected(widget)
    for run in runs:
        manage.remove_tags(run, tag, store=widget._store)
    return f"removed tag {tag!r} from {len(runs)} run(s)"


def _rename(widget: Any, content: dict[str, Any]) -> str:
    runs = _selected(widget)
    if len(runs) != 1:
        raise NbtrackError(f"rename one run at a time; {len(runs)} are selected")
    name = _text(content, "name")
    manage.rename_run(runs[0], name, store=widget._store)
    return f"renamed run {runs[0]} to {name!r}"


def _notes(widget: Any, content: dict[str, Any]) -> str:
    notes = content.get("notes")
    if notes is not None and not isinstance(notes, str):
        raise NbtrackError("notes must be text")
    runs = _selected(widget)
    for run in runs:
        manage.set_notes(run, notes or None, store=widget._store)
    return f"notes set on {len(runs)} run(s)"


def _archive(widget: Any, content: dict[str, Any]) -> str:
    runs = _selected(widget)
    for run in runs:
        manage.add_tags(run, ARCHIVED, store=widget._store)
    if not widget.show_archived:
        widget.selected = []
    return f"archived {len(runs)} run(s) (tick 'show archived' to see them)"


def _unarchive(widget: Any, content: dict[str, Any]) -> str:
    runs = _selected(widget)
    for run in runs:
        manage.remove_tags(run, ARCHIVED, store=widget._store)
    return f"unarchived {len(runs)} run(s)"


def _delete(widget: Any, content: dict[str, Any]) -> str:
    gone = manage.delete_runs(_selected(widget), store=widget._store)
    widget.undo = gone
    widget.selected = []
    return f"moved {len(gone)} run(s) to the trash"


def _restore(widget: Any, content: dict[str, Any]) -> str:
    if not widget.undo:
        raise NbtrackError("nothing to undo")
    back = manage.restore_runs(list(widget.undo), store=widget._store)
    widget.undo = []
    widget.selected = back
    return f"restored {len(back)} run(s)"


def _empty_trash(widget: Any, content: dict[str, Any]) -> str:
    if content.get("confirm") is not True:
        raise NbtrackError("emptying the trash deletes its runs for good: confirm first")
    count = manage.empty_trash(store=widget._store)
    widget.undo = []
    return f"deleted {count} run(s) for good"


def _export(widget: Any, content: dict[str, Any]) -> str:
    from ..report import export_report

    runs = _selected(widget)
    folder = Path.cwd()  # the notebook's folder: where the user looks, whatever the store is
    stamp = datetime.now().strftime("%Y%m%d-%H%M%S")
    path = export_report(folder / f"nbtrack-compare-{stamp}.html", runs=runs, store=widget._store,
                         progress=False)
    widget.report_path = str(path)
    return f"report written to {path}"


def _refresh(widget: Any, content: dict[str, Any]) -> str:
    return ""


ACTIONS: dict[str, Callable[[Any, dict[str, Any]], str]] = {
    "tag": _tag, "untag": _untag, "rename": _rename, "notes": _notes, "archive": _archive,
    "unarchive": _unarchive, "delete": _delete, "undo": _restore, "empty_trash": _empty_trash,
    "export": _export, "refresh": _refresh,
}
