"""What the sidebar reads, as JSON-ready dicts: runs, projects, one run, charts, config diff.

Each function is blocking (the handlers run it in a thread) and asks the store's read
methods, several of them inside one ``store.snapshot()`` (one open, one state). Which
runs the list shows is a :class:`nbtrack.selection.Selection`, as for ``nbtrack.runs()``.
Charts come from :mod:`nbtrack.charts`, the one chart module, as Vega-Lite dicts with
their data inline.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .._run import STATUSES
from ..errors import NbtrackError
from ..formatting import json_safe
from ..selection import SORT_FIELDS, Selection
from ..store import get_store
from .paths import Root

__all__ = ["STATUSES", "RunQuery", "charts", "diff", "list_projects", "list_runs",
           "run_detail"]

#: Sort fields the list accepts besides ``summary.<metric>`` and ``config.<key>``.
SORTS = SORT_FIELDS
#: Summary metrics shown per run when the panel names none: the most common ones.
DEFAULT_METRICS = 3
MAX_CHART_KEYS = 8
#: The fields of a run in the list.
_LIST_FIELDS = ("id", "name", "project", "status", "created_at", "ended_at", "duration", "tags", "notes",
                "summary", "execution_count", "notebook_path", "sweep_id", "group_name")


@dataclass
class RunQuery:
    """Which runs the list shows, in which order, with which summary metrics."""

    project: str | None = None
    q: str | None = None
    statuses: Sequence[str] = ()
    sort: str = "-created_at"
    limit: int = 200
    metrics: Sequence[str] | None = None

    def selection(self) -> Selection:
        """The list's runs as the core's selection (raises for an unknown sort field or status)."""
        return Selection(project=self.project or None, q=self.q or None, statuses=tuple(self.statuses),
                         sort=self.sort or "-created_at", limit=self.limit)


def _run_row(row: dict[str, Any], metrics: Sequence[str], root: Root) -> dict[str, Any]:
    summary = row.pop("summary")
    row["metrics"] = {key: summary.get(key) for key in metrics}
    row["tags"] = list(row["tags"] or [])
    row["notebook"] = root.relative(row.pop("notebook_path"))
    row["group"] = row.pop("group_name")
    return {key: json_safe(value) for key, value in row.items()}


def _default_metrics(keys: list[str], sort: str) -> list[str]:
    """The most common summary metrics, led by the one the list is sorted by."""
    field = sort.lstrip("-+")
    first = [field[8:]] if field.startswith("summary.") else []
    return (first + [k for k in keys if k not in first])[:DEFAULT_METRICS]


def list_runs(store: Path, root: Root, query: RunQuery) -> dict[str, Any]:
    """The runs a query selects (at most ``limit``), with counts and the summary metrics known.

    ``statuses`` in the answer lists every run status, for the status filter.
    """
    selection = query.selection()
    chosen = get_store(store)
    empty = {"runs": [], "total": 0, "running": 0, "metrics": [], "summary_keys": [],
             "statuses": list(STATUSES)}
    with chosen.snapshot():
        if not chosen.exists():
            return {**empty, "exists": False}
        rows = chosen.select_runs(selection)
        total = chosen.count_runs(selection)
        running = chosen.count_runs(Selection(statuses=("running",)))
        keys = chosen.summary_keys(selection)
    metrics = list(query.metrics) if query.metrics else _default_metrics(keys, query.sort)
    return {
        **empty,
        "runs": [_run_row({k: row[k] for k in _LIST_FIELDS}, metrics, root) for row in rows],
        "total": int(total), "running": int(running), "metrics": metrics,
        "summary_keys": sorted(keys), "exists": True,
    }


def list_projects(store: Path) -> list[dict[str, Any]]:
    """Projects in a store, most recently active first, with run counts."""
    return [{**p, "last_run": json_safe(p["last_run"])} for p in get_store(store).projects()]


def run_detail(store: Path, root: Root, run_id: str) -> dict[str, Any]:
    """Everything stored about one run, its notebook as a path under the root (or null)."""
    from ..query import run_record

    record = run_record(run_id, store=get_store(store))
    record["notebook"] = root.relative(record.get("notebook_path"))
    record["tags"] = list(record.get("tags") or [])
    for private in ("heartbeat_at", "notebook_path"):
        record.pop(private, None)
    result: dict[str, Any] = json_safe(record)
    return result


def charts(store: Path, run_ids: Sequence[str], keys: Sequence[str] | None, *,
           max_points: int, width: int, height: int) -> dict[str, Any]:
    """Overlaid metric curves of some runs: the chart module's Vega-Lite spec, data inline.

    Every series is downsampled in SQL to about ``max_points``. Without ``keys``, the
    first few metrics (by name) are drawn; ``keys`` in the answer lists them all.
    """
    from ..charts import metric_charts, metric_data
    from ..charts._base import altair
    from ..charts.metrics import METRIC_COLUMNS

    data = metric_data(list(run_ids), list(keys) if keys else None, max_points=max_points,
                       store=get_store(store))
    known = sorted(set(data["key"])) if not data.empty else []
    shown = [k for k in keys if k in known] if keys else known[:MAX_CHART_KEYS]
    slim = data[[c for c in METRIC_COLUMNS if c in data.columns]]
    alt = altair()
    with alt.data_transformers.disable_max_rows():  # downsampled above
        spec = metric_charts(slim, shown, columns=1, width=width, height=height).to_dict()
    return {"spec": json_safe(spec), "keys": known, "shown": shown, "points": len(data)}


def _differing(records: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Keys whose values are not all the same, as ``{"key", "values": [per run]}``.

    The core's rule decides (``config_diff``), for summaries as well as configs.
    """
    import pandas as pd

    from ..diffing import config_diff

    # object columns: a missing value stays None instead of turning a column of numbers to NaN
    frame = pd.DataFrame({"id": [r["id"] for r in records], "name": [r["name"] for r in records],
                          **{f"config.{k}": [r["values"].get(k) for r in records]
                             for k in sorted({k for r in records for k in r["values"]})}}, dtype=object)
    table = config_diff(frame)
    return [{"key": column[7:], "values": [json_safe(v) for v in table[column].tolist()]}
            for column in table.columns if column.startswith("config.")]


def diff(store: Path, run_ids: Sequence[str]) -> dict[str, Any]:
    """What differs between runs: config and summary (via ``nbtrack.diffing.config_diff``), code for two."""
    import difflib

    from ..diffing import flatten

    by_id = {row["id"]: row for row in get_store(store).run_records(list(run_ids))}
    missing = [i for i in run_ids if i not in by_id]
    if missing:
        raise NbtrackError(f"no run with id {missing[0]!r} in this store")
    ordered = [by_id[i] for i in run_ids]
    runs = [{"id": r["id"], "name": r["name"], "status": r["status"]} for r in ordered]
    config = _differing([{**run, "values": flatten(r["config"])} for run, r in zip(runs, ordered)])
    summary = _differing([{**run, "values": r["summary"]} for run, r in zip(runs, ordered)])
    source = None
    if len(ordered) == 2:
        a, b = ordered
        source = "".join(difflib.unified_diff(
            (a["source"] or "").splitlines(keepends=True), (b["source"] or "").splitlines(keepends=True),
            fromfile=f"{a['name']} ({a['id']})", tofile=f"{b['name']} ({b['id']})"))
    return {"runs": runs, "config": config, "summary": summary, "source": source}
