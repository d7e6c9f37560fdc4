"""Reading the store: ``runs()``, ``history()``, ``sql()`` and display downsampling.

These are the public read functions; they turn their arguments into a
:class:`~nbtrack.selection.Selection` or a list of run ids and ask the store's
domain methods (``nbtrack.store._reads``), which hold the SQL. The documented views
that ``sql()`` queries are described in ``nbtrack.store._views``:

``runs``
    One row per run (deleted runs excluded): ``id, name, project, status,
    created_at, ended_at, duration`` (seconds), ``tags, notes, group_name, kind,
    config, summary`` (JSON text), ``source, execution_count, notebook_path,
    hostname, git_commit, git_dirty, error, sweep_id, environment`` (JSON text).
``metrics``
    One row per logged point: ``run_id, step, key, value, time`` (UTC).
``config``
    Config in long form: ``run_id, key, value`` (JSON text).
``media``
    One row per logged image, histogram, table or text: ``run_id, key, step, idx``
    (position in a list logged at once), ``time, kind, digest, path`` (relative to
    the store folder), ``meta`` (JSON text), ``data`` (histogram bins as JSON, text).
``artifacts``, ``artifact_lineage``
    One row per artifact version (``name, version, type, digest, size, ...``) and
    its lineage: ``run_id, name, version, role`` (``output`` or ``input``).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from .errors import NbtrackError
from .selection import RUN_COLUMNS, Selection, column_order, flat_record  # noqa: F401  (RUN_COLUMNS)
from .store import StoreBase, get_store

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["history", "run_record", "runs", "series", "sql"]


def store_for(store: Any) -> StoreBase:
    """The store a ``store=`` argument names: a store object, a directory, or ``None`` (the default)."""
    return store if isinstance(store, StoreBase) else get_store(store)


_store = store_for  # the name other modules import


def sql(
    query: str, params: Sequence[Any] | dict[str, Any] | None = None, *, store: Any = None
) -> pd.DataFrame:
    """Run a read-only SQL query over the documented views and return a DataFrame.

    Parameters
    ----------
    query
        DuckDB SQL over the views ``runs``, ``metrics``, ``config``, ``media``,
        ``artifacts`` and ``artifact_lineage`` (see the module docstring for their
        columns). Pass values as ``?`` or ``$name`` parameters.
    params
        Values for the query's parameters.

    Example
    -------
    >>> nbtrack.sql("SELECT name, summary->>'$.loss' AS loss FROM runs WHERE project = ?",
    ...             ["mnist"])  # doctest: +SKIP
    """
    return _store(store).query(query, params)


def runs(
    project: str | None = None,
    *,
    status: str | Sequence[str] | None = None,
    tags: str | Sequence[str] | None = None,
    name: str | None = None,
    sweep: str | None = None,
    limit: int | None = None,
    store: Any = None,
) -> pd.DataFrame:
    """All runs as a DataFrame, newest first, one row per run.

    Columns: ``id, name, project, status, created_at, ended_at, duration`` (seconds),
    ``tags, notes``, then ``config.<key>`` per config key (nested keys joined with
    dots) and ``summary.<metric>`` per metric holding its last logged value.

    Parameters
    ----------
    project, status, tags, name, sweep
        Keep only runs in this project, with this status (or any of several), with
        any of these tags, with this exact name, or in this sweep.
    limit
        At most this many (the newest).

    Example
    -------
    >>> df = nbtrack.runs(project="mnist", status="finished")  # doctest: +SKIP
    >>> df.sort_values("summary.loss").head()                 # doctest: +SKIP
    """
    def listed(value: str | Sequence[str] | None) -> tuple[str, ...]:
        return (value,) if isinstance(value, str) else tuple(value or ())

    selection = Selection(project=project, statuses=listed(status), tags=listed(tags), name=name,
                          sweep=sweep, limit=limit)
    return runs_frame(_store(store).select_runs(selection))


def runs_frame(rows: list[dict[str, Any]]) -> pd.DataFrame:
    """Rows from ``store.select_runs`` as the :func:`runs` DataFrame."""
    import pandas as pd

    records = [flat_record(row) for row in rows]
    return pd.DataFrame.from_records(records, columns=column_order(records))


def _run_ids(run_ids: Any) -> list[str]:
    if run_ids is None:
        return []
    if isinstance(run_ids, str) or (hasattr(run_ids, "summary") and hasattr(run_ids, "id")):
        run_ids = [run_ids]
    elif hasattr(run_ids, "columns") and "id" in getattr(run_ids, "columns", ()):
        run_ids = list(run_ids["id"])
    out = []
    for item in run_ids:
        out.append(item if isinstance(item, str) else str(getattr(item, "id", item)))
    return out


def resolve(refs: Sequence[str], store: StoreBase) -> list[str]:
    """Run ids for ids or names (a name: the newest run of that name); raises for an unknown one."""
    with store.snapshot():
        found = store.resolve_runs(refs)
        missing = [ref for ref in refs if ref not in found]
        if missing and store.count_runs(Selection()) == 0:
            raise NbtrackError(f"no run with id or name {missing[0]!r}: the store {store.location} is empty")
    if missing:
        raise NbtrackError(f"no run with id or name {missing[0]!r} in {store.location}")
    return [found[ref] for ref in refs]


def history(
    run_ids: Any,
    keys: str | Sequence[str] | None = None,
    *,
    max_points: int | None = None,
    store: Any = None,
) -> pd.DataFrame:
    """Logged points of some runs as a long DataFrame: ``run_id, step, key, value, time``.

    Parameters
    ----------
    run_ids
        A run id or name, a list of them, a :class:`Run`, or a DataFrame from
        :func:`runs` (its ``id`` column). A name means the newest run of that name.
    keys
        Only these metrics (default: all).
    max_points
        Downsample each (run, metric) series to about this many points for display:
        ``value`` is then the bucket mean, with ``min`` and ``max`` columns beside it.

    Example
    -------
    >>> h = nbtrack.history(nbtrack.runs(project="mnist"), keys="loss")  # doctest: +SKIP
    >>> h.pivot_table(index="step", columns="run_id", values="value")    # doctest: +SKIP
    """
    refs = _run_ids(run_ids)
    key_list = None if keys is None else ([keys] if isinstance(keys, str) else list(keys))
    chosen = _store(store)
    with chosen.snapshot():
        ids = resolve(refs, chosen)
        return chosen.history(ids, key_list, None if max_points is None else int(max_points))


def series(run_id: str, key: str, max_points: int = 2000, *, store: Any = None) -> pd.DataFrame:
    """One metric of one run, downsampled to about ``max_points`` for a chart."""
    return history(run_id, key, max_points=max_points, store=store)


def run_record(ref: str, *, store: Any = None) -> dict[str, Any]:
    """Everything stored about one run (by id, or newest of a name), as a dict."""
    chosen = _store(store)
    with chosen.snapshot():
        run_id = resolve([ref], chosen)[0]
        record = chosen.run_record(run_id)
    if record is None:  # deleted between the two reads: cannot happen inside one snapshot
        raise NbtrackError(f"no run with id or name {ref!r} in {chosen.location}")
    return record
