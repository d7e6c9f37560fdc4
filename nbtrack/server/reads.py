"""What the sidebar reads, as JSON-ready dicts: runs, projects, one run, charts, config diff.

Each function is blocking (the handlers run it in a thread) and opens the store once
through :func:`nbtrack.query.reading`: read-only, under the shared lock, for the
length of a few parameterised queries over the documented views. Charts come from
:mod:`nbtrack.charts`, the one chart module, as Vega-Lite dicts with their data inline.
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from ..errors import NbtrackError
from ..query import reading
from ..store import get_store
from .paths import Root

__all__ = ["RunQuery", "charts", "diff", "jsonable", "list_projects", "list_runs", "run_detail"]

#: Sort fields the list accepts, as SQL over the ``runs`` view (never user text).
SORTS = {
    "created_at": "created_at",
    "name": "lower(name)",
    "status": "status",
    "duration": "duration",
    "project": "lower(project)",
}
STATUSES = ("running", "finished", "failed", "crashed")
#: Summary metrics shown per run when the panel names none: the most common ones.
DEFAULT_METRICS = 3
MAX_CHART_KEYS = 8
_LIST_COLUMNS = ("id, name, project, status, created_at, ended_at, duration, tags, notes, summary, "
                 "execution_count, notebook_path, sweep_id, group_name")
_SEARCHED = ("lower(name)", "lower(id)", "lower(project)", "lower(coalesce(notes, ''))",
             "lower(array_to_string(coalesce(tags, []::VARCHAR[]), ' '))")


def jsonable(value: Any) -> Any:
    """``value`` as strict JSON: UTC ISO times with ``Z``, non-finite floats as text, numpy as Python."""
    if value is None or isinstance(value, (str, bool, int)):
        return value
    if isinstance(value, float):
        if math.isfinite(value):
            return value
        return "NaN" if math.isnan(value) else ("inf" if value > 0 else "-inf")
    if isinstance(value, datetime):  # the store keeps naive UTC
        return value.replace(tzinfo=None).isoformat(timespec="milliseconds") + "Z"
    if isinstance(value, dict):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [jsonable(v) for v in value]
    item = getattr(value, "item", None)  # numpy scalars
    if callable(item):
        return jsonable(item())
    if hasattr(value, "tolist"):
        return jsonable(value.tolist())
    try:
        import pandas as pd

        if pd.isna(value):
            return None
    except (TypeError, ValueError):
        pass
    return str(value)


def _json_field(text: Any) -> dict[str, Any]:
    if not text:
        return {}
    try:
        value = json.loads(text)
    except ValueError:
        return {}
    return value if isinstance(value, dict) else {}


def _pointer(key: str) -> str:
    """A JSON Pointer to a top-level key (DuckDB's JSON functions take it as a parameter)."""
    return "/" + key.replace("~", "~0").replace("/", "~1")


@dataclass
class RunQuery:
    """Which runs the list shows, in which order, with which summary metrics."""

    project: str | None = None
    q: str | None = None
    statuses: Sequence[str] = ()
    sort: str = "-created_at"
    limit: int = 200
    metrics: Sequence[str] | None = None

    def where(self) -> tuple[str, list[Any]]:
        clauses: list[str] = ["TRUE"]
        params: list[Any] = []
        if self.project:
            clauses.append("project = ?")
            params.append(self.project)
        if self.statuses:
            clauses.append("list_contains(?, status)")
            params.append(list(self.statuses))
        for term in (self.q or "").lower().split()[:10]:
            clauses.append("(" + " OR ".join(f"contains({c}, ?)" for c in _SEARCHED) + ")")
            params.extend([term] * len(_SEARCHED))
        return " AND ".join(clauses), params

    def order(self) -> tuple[str, list[Any]]:
        field = self.sort.lstrip("-+") or "created_at"
        direction = "DESC" if self.sort.startswith("-") else "ASC"
        if field.startswith("summary."):
            expr = "TRY_CAST(json_extract_string(nullif(summary, ''), ?) AS DOUBLE)"
            return f"{expr} {direction} NULLS LAST, created_at DESC, id", [_pointer(field[8:])]
        if field not in SORTS:
            raise NbtrackError(f"cannot sort by {field!r}; use one of {', '.join(SORTS)} or summary.<metric>")
        return f"{SORTS[field]} {direction} NULLS LAST, created_at DESC, id", []


def _run_row(row: dict[str, Any], metrics: Sequence[str], root: Root) -> dict[str, Any]:
    summary = _json_field(row.pop("summary"))
    row["metrics"] = {key: summary.get(key) for key in metrics}
    row["tags"] = list(row["tags"] or [])
    row["notebook"] = root.relative(row.pop("notebook_path"))
    row["group"] = row.pop("group_name")
    return {key: jsonable(value) for key, value in row.items()}


def _default_metrics(keys: list[str], sort: str) -> list[str]:
    """The most common summary metrics, led by the one the list is sorted by."""
    field = sort.lstrip("-+")
    first = [field[8:]] if field.startswith("summary.") else []
    return (first + [k for k in keys if k not in first])[:DEFAULT_METRICS]


def list_runs(store: Path, root: Root, query: RunQuery) -> dict[str, Any]:
    """The runs a query selects (at most ``limit``), with counts and the summary metrics known."""
    where, params = query.where()
    order, order_params = query.order()
    empty = {"runs": [], "total": 0, "running": 0, "metrics": [], "summary_keys": []}
    with reading(get_store(store)) as con:
        if con is None:
            return {**empty, "exists": False}
        total, running = con.execute(
            f"SELECT count(*) FILTER (WHERE {where}), count(*) FILTER (WHERE status = 'running') FROM runs",
            params).fetchone()
        keys = [k for k, _ in con.execute(
            "SELECT k, count(*) AS n FROM (SELECT unnest(json_keys(summary)) AS k FROM runs "
            f"WHERE {where} AND nullif(summary, '') IS NOT NULL) GROUP BY k ORDER BY n DESC, k LIMIT 200",
            params).fetchall()]
        cur = con.execute(f"SELECT {_LIST_COLUMNS} FROM runs WHERE {where} ORDER BY {order} LIMIT ?",
                          [*params, *order_params, query.limit])
        names = [d[0] for d in cur.description]
        rows = [dict(zip(names, row)) for row in cur.fetchall()]
    metrics = list(query.metrics) if query.metrics else _default_metrics(keys, query.sort)
    return {
        "runs": [_run_row(row, metrics, root) for row in rows],
        "total": int(total), "running": int(running), "metrics": metrics,
        "summary_keys": sorted(keys), "exists": True,
    }


def list_projects(store: Path) -> list[dict[str, Any]]:
    """Projects in a store, most recently active first, with run counts."""
    with reading(get_store(store)) as con:
        if con is None:
            return []
        rows = con.execute(
            "SELECT project, count(*), count(*) FILTER (WHERE status = 'running'), max(created_at) "
            "FROM runs GROUP BY project ORDER BY max(created_at) DESC, project").fetchall()
    return [{"name": p, "runs": int(n), "running": int(r), "last_run": jsonable(t)} for p, n, r, t in rows]


def run_detail(store: Path, root: Root, run_id: str) -> dict[str, Any]:
    """Everything stored about one run, its notebook as a path under the root (or null)."""
    from ..query import run_record

    record = run_record(run_id, store=get_store(store))
    record["notebook"] = root.relative(record.get("notebook_path"))
    record["tags"] = list(record.get("tags") or [])
    for private in ("heartbeat_at", "notebook_path"):
        record.pop(private, None)
    result: dict[str, Any] = jsonable(record)
    return result


def charts(store: Path, run_ids: Sequence[str], keys: Sequence[str] | None, *,
           max_points: int, width: int, height: int) -> dict[str, Any]:
    """Overlaid metric curves of some runs: the chart module's Vega-Lite spec, data inline.

    Every series is downsampled in SQL to about ``max_points``. Without ``keys``, the
    first few metrics (by name) are drawn; ``keys`` in the answer lists them all.
    """
    from ..charts import metric_charts, metric_data
    from ..charts._base import altair

    data = metric_data(list(run_ids), list(keys) if keys else None, max_points=max_points,
                       store=get_store(store))
    known = sorted(set(data["key"])) if not data.empty else []
    shown = [k for k in keys if k in known] if keys else known[:MAX_CHART_KEYS]
    slim = data[[c for c in ("run", "key", "step", "value", "min", "max") if c in data.columns]]
    alt = altair()
    with alt.data_transformers.disable_max_rows():  # downsampled above
        spec = metric_charts(slim, shown, columns=1, width=width, height=height).to_dict()
    return {"spec": jsonable(spec), "keys": known, "shown": shown, "points": len(data)}


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
    return [{"key": column[7:], "values": [jsonable(v) for v in table[column].tolist()]}
            for column in table.columns if column.startswith("config.")]


def diff(store: Path, run_ids: Sequence[str]) -> dict[str, Any]:
    """What differs between runs: config and summary (via ``nbtrack.diffing.config_diff``), code for two."""
    import difflib

    from ..diffing import flatten

    with reading(get_store(store)) as con:
        rows = [] if con is None else con.execute(
            "SELECT id, name, status, config, summary, source FROM runs WHERE list_contains(?, id)",
            [list(run_ids)]).fetchall()
    by_id = {row[0]: row for row in rows}
    missing = [i for i in run_ids if i not in by_id]
    if missing:
        raise NbtrackError(f"no run with id {missing[0]!r} in this store")
    ordered = [by_id[i] for i in run_ids]
    runs = [{"id": r[0], "name": r[1], "status": r[2]} for r in ordered]
    config = _differing([{**run, "values": flatten(_json_field(r[3]))} for run, r in zip(runs, ordered)])
    summary = _differing([{**run, "values": _json_field(r[4])} for run, r in zip(runs, ordered)])
    source = None
    if len(ordered) == 2:
        a, b = ordered
        source = "".join(difflib.unified_diff(
            (a[5] or "").splitlines(keepends=True), (b[5] or "").splitlines(keepends=True),
            fromfile=f"{a[1]} ({a[0]})", tofile=f"{b[1]} ({b[0]})"))
    return {"runs": runs, "config": config, "summary": summary, "source": source}
