"""Which runs, in which order: one :class:`Selection` for ``runs()``, the sidebar, reports and the CLI.

A selection is plain data. The store turns it into one query (see
``nbtrack.store._views``), so every view that says "these runs" means the same runs in
the same order. The ``where`` language (:mod:`nbtrack.selection_where`) is evaluated in
Python over the rows the store's query kept, so its meaning does not depend on the engine.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from .errors import NbtrackError

__all__ = ["RUN_COLUMNS", "SORT_FIELDS", "Selection", "flat_record", "flatten"]

#: The fixed leading columns of :func:`nbtrack.runs`, in order.
RUN_COLUMNS = ["id", "name", "project", "status", "created_at", "ended_at", "duration", "tags", "notes"]
#: Fields a selection sorts by, besides ``summary.<metric>`` and ``config.<key>``.
SORT_FIELDS = ("created_at", "name", "status", "duration", "project")
#: Free-text search uses at most this many words.
MAX_TERMS = 10


def _strings(value: str | Iterable[str] | None, what: str) -> tuple[str, ...]:
    if value is None:
        return ()
    if isinstance(value, str):
        return (value,)
    items = tuple(value)
    bad = [v for v in items if not isinstance(v, str)]
    if bad:
        raise NbtrackError(f"{what} must be text; got {bad[0]!r}")
    return items


@dataclass(frozen=True)
class Selection:
    """Which runs (every filter given narrows further), their order and how many.

    Parameters
    ----------
    project, name, sweep
        Only runs of this project, with this exact name, of this sweep (its id).
    statuses
        Only runs with any of these statuses (:data:`nbtrack._run.STATUSES`).
    tags
        Only runs with any of these tags.
    ids
        Only these run ids (``None``: no such filter; ``()``: no run). Names are
        turned into ids first, with ``store.resolve_runs``.
    q
        Free text, as the sidebar's search box: every word must appear in the name,
        id, project, notes or tags (case-insensitive).
    where
        An expression in the ``where`` language, e.g. ``"config.lr > 0.01"``.
    sort
        ``created_at``, ``name``, ``status``, ``duration``, ``project``,
        ``summary.<metric>`` or ``config.<key>``; a leading ``-`` sorts descending.
        Missing values come last either way; ties go newest first.
    limit
        At most this many runs (``None``: all).

    Example
    -------
    >>> Selection(project="mnist", statuses="finished", sort="-summary.acc", limit=5).order
    ('summary.acc', True)
    """

    project: str | None = None
    statuses: tuple[str, ...] = ()
    tags: tuple[str, ...] = ()
    name: str | None = None
    sweep: str | None = None
    ids: tuple[str, ...] | None = None
    q: str | None = None
    where: str | None = None
    sort: str = "-created_at"
    limit: int | None = field(default=None)

    def __post_init__(self) -> None:
        from ._run import STATUSES

        statuses = _strings(self.statuses, "statuses")
        unknown = [s for s in statuses if s not in STATUSES]
        if unknown:
            raise NbtrackError(f"unknown run status {unknown[0]!r}; use one of {', '.join(STATUSES)}")
        object.__setattr__(self, "statuses", statuses)
        object.__setattr__(self, "tags", _strings(self.tags, "tags"))
        if self.ids is not None:
            object.__setattr__(self, "ids", _strings(self.ids, "run ids"))
        if self.where is not None and not self.where.strip():
            object.__setattr__(self, "where", None)
        if self.limit is not None:
            if isinstance(self.limit, bool) or int(self.limit) != self.limit or self.limit < 0:
                raise NbtrackError(f"limit must be a whole number of runs, 0 or more; got {self.limit!r}")
            object.__setattr__(self, "limit", int(self.limit))
        self.order  # noqa: B018  (checks the sort field now, not at the first read)

    @property
    def order(self) -> tuple[str, bool]:
        """The sort field and whether it is descending."""
        text = (self.sort or "-created_at").strip()
        descending = text.startswith("-")
        name = text.lstrip("-+") or "created_at"
        prefix, _, rest = name.partition(".")
        if name not in SORT_FIELDS and not (prefix in ("summary", "config") and rest):
            raise NbtrackError(f"cannot sort by {name!r}; use one of {', '.join(SORT_FIELDS)}, "
                               "summary.<metric> or config.<key> (a leading - for descending)")
        return name, descending

    @property
    def terms(self) -> list[str]:
        """The free-text words, lower case (at most :data:`MAX_TERMS`)."""
        return (self.q or "").lower().split()[:MAX_TERMS]

    def replace(self, **changes: Any) -> Selection:
        """A copy with some fields changed."""
        return replace(self, **changes)

    def describe(self) -> str:
        """The filters in words, for messages: ``project 'mnist' and status 'finished'``."""
        parts = [f"{label} {value!r}" for label, value in (
            ("project", self.project), ("name", self.name), ("sweep", self.sweep),
            ("search", self.q), ("where", self.where)) if value]
        if self.statuses:
            parts.append(f"status {', '.join(self.statuses)}")
        if self.tags:
            parts.append(f"tag {', '.join(self.tags)}")
        if self.ids is not None:
            parts.append(f"runs {', '.join(self.ids)}")
        return " and ".join(parts)


def flatten(prefix: str, value: Any, out: dict[str, Any]) -> None:
    """Nested dicts as dotted keys under ``prefix`` (``config.opt.lr``), into ``out``."""
    if isinstance(value, dict) and value:
        for key, inner in value.items():
            flatten(f"{prefix}.{key}", inner, out)
    else:
        out[prefix] = value


def flat_record(row: dict[str, Any]) -> dict[str, Any]:
    """A run from ``store.select_runs`` as one row of :func:`nbtrack.runs`.

    The :data:`RUN_COLUMNS`, then ``config.<key>`` and ``summary.<metric>``.
    """
    record = {name: row.get(name) for name in RUN_COLUMNS}
    record["tags"] = list(record["tags"] or [])
    for prefix in ("config", "summary"):
        flatten(prefix, row.get(prefix) or {}, record)
    return record


def json_dict(text: Any) -> dict[str, Any]:
    """A JSON object stored as text, as a dict (``{}`` when empty or not an object)."""
    if isinstance(text, dict):
        return text
    if not text:
        return {}
    try:
        value = json.loads(text)
    except (TypeError, ValueError):
        return {}
    return value if isinstance(value, dict) else {}


def column_order(records: Sequence[dict[str, Any]]) -> list[str]:
    """:data:`RUN_COLUMNS`, then the ``config.`` and ``summary.`` columns, each sorted."""
    extra: dict[str, None] = {}
    for record in records:
        for key in record:
            if key not in RUN_COLUMNS:
                extra[key] = None
    config = sorted(k for k in extra if k.startswith("config."))
    summary = sorted(k for k in extra if k.startswith("summary."))
    return RUN_COLUMNS + config + summary


def keep_where(rows: list[dict[str, Any]], where: str | None) -> list[dict[str, Any]]:
    """The rows (from ``store.select_runs``' query) for which the ``where`` expression holds.

    The expression may name every column :func:`nbtrack.runs` would have for these rows.
    """
    if not where or not rows:
        return rows
    from .selection_where import predicate

    flat = [flat_record(row) for row in rows]
    holds = predicate(where, set(column_order(flat)))
    return [row for row, record in zip(rows, flat) if holds(record)]
