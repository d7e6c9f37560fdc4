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
from ..charts.colors import project_run_colors
from ..charts.sections import SYSTEM, section_of
from ..errors import NbtrackError
from ..formatting import json_safe
from ..selection import SORT_FIELDS, Selection
from ..store import get_store
from .paths import Root

__all__ = ["STATUSES", "RunQuery", "charts", "diff", "list_projects", "list_runs",
           "run_detail", "sweep_chart"]

#: Sort fields the list accepts besides ``summary.<metric>`` and ``config.<key>``.
SORTS = SORT_FIELDS
#: Summary metrics shown per run when the panel names none: the most common ones.
DEFAULT_METRICS = 3
MAX_CHART_KEYS = 8
#: Charts a sectioned answer draws at most (a workspace shows every section of its runs).
MAX_SECTION_KEYS = 60
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
    """The most common summary metrics, led by the one the list is sorted by; the machine's
    (``system/...``) only when sorted by one: they are no result of the run."""
    field = sort.lstrip("-+")
    first = [field[8:]] if field.startswith("summary.") else []
    return (first + [k for k in keys if k not in first and section_of(k) != SYSTEM])[:DEFAULT_METRICS]


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
    listed = [_run_row({k: row[k] for k in _LIST_FIELDS}, metrics, root) for row in rows]
    # The colour each run has in every chart (the chart layer's), for the list's swatches.
    colors = project_run_colors([r["id"] for r in listed], store=chosen) if listed else {}
    for run in listed:
        run["color"] = colors.get(run["id"])
    return {
        **empty,
        "runs": listed,
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


@dataclass
class ChartOptions:
    """How the curves are drawn: the chart layer's options, as the views offer them."""

    max_points: int = 400
    width: int = 260
    height: int = 150
    x: str | None = None
    smoothing: float = 0.0
    log_scale: bool = False


def charts(store: Path, run_ids: Sequence[str], keys: Sequence[str] | None, *,
           max_points: int, width: int, height: int, sections: bool = False,
           x: str | None = None, smoothing: float = 0.0, log_scale: bool = False) -> dict[str, Any]:
    """Overlaid metric curves of some runs: the chart module's Vega-Lite specs, data inline.

    Every series is downsampled in SQL to about ``max_points``. ``keys`` in the answer lists
    every metric of the runs. With ``sections``, the answer's ``sections`` group the metrics
    as :func:`nbtrack.charts.metric_sections` does (no prefix, ``train``, ``val``...,
    ``system`` against time; metrics that never changed listed as ``constants``), each chart
    its own spec filling its container's width, with the chart layer's crosshair and zoom;
    without, ``spec`` is one grid of the first few metrics (or of ``keys``).
    """
    from ..charts import metric_data
    from ..charts.metrics import METRIC_COLUMNS

    options = ChartOptions(max_points, width, height, x, smoothing, log_scale)
    data = metric_data(list(run_ids), list(keys) if keys else None, max_points=max_points,
                       store=get_store(store))
    known = sorted(set(data["key"])) if not data.empty else []
    slim = data[[c for c in METRIC_COLUMNS if c in data.columns]]
    if sections:
        found = _sections(slim, [k for k in keys if k in known] if keys else None, options)
        shown = [chart["key"] for section in found for chart in section["charts"]]
        return {"sections": found, "keys": known, "shown": shown, "points": len(data)}
    from ..charts import metric_charts
    from ..charts._base import altair

    shown = [k for k in keys if k in known] if keys else known[:MAX_CHART_KEYS]
    alt = altair()
    with alt.data_transformers.disable_max_rows():  # downsampled above
        spec = metric_charts(slim, shown, columns=1, width=width, height=height,
                             **_drawing(options)).to_dict()
    return {"spec": json_safe(spec), "keys": known, "shown": shown, "points": len(data)}


def _drawing(options: ChartOptions) -> dict[str, Any]:
    """The drawing options metric_chart takes, leaving out the defaults."""
    out: dict[str, Any] = {}
    if options.x:
        out["x"] = options.x
    if options.smoothing:
        out["smoothing"] = options.smoothing
    if options.log_scale:
        out["log_scale"] = True
    return out


def _sections(data: Any, keys: list[str] | None, options: ChartOptions) -> list[dict[str, Any]]:
    """The charts of ``data`` by section, each a responsive single-chart spec."""
    from ..charts import metric_sections
    from ..charts._base import altair
    from ..charts.interactions import responsive
    from ..charts.metrics import metric_chart

    alt = altair()
    out: list[dict[str, Any]] = []
    drawn = 0
    chosen = metric_sections(data) if keys is None else metric_sections(keys, hide_constants=False)
    for section in chosen:
        charts = []
        for key in section.keys:
            if drawn >= MAX_SECTION_KEYS:
                break
            drawn += 1
            drawing = _drawing(options)
            # System metrics against time unless the view asked for another x (the section's own).
            if "x" not in drawing and section.x != "step":
                drawing["x"] = section.x
            try:
                with alt.data_transformers.disable_max_rows():  # downsampled above
                    chart = metric_chart(data, key, width=options.width, height=options.height, **drawing)
            except NbtrackError:  # an x this metric has no points along: against its step
                drawing.pop("x", None)
                with alt.data_transformers.disable_max_rows():
                    chart = metric_chart(data, key, width=options.width, height=options.height, **drawing)
            charts.append({"key": key, "spec": json_safe(responsive(chart.to_dict(), options.width))})
        out.append({"name": section.name, "title": section.title, "x": section.x,
                    "charts": charts, "constants": json_safe(section.constants)})
    return out


def sweep_chart(store: Path, sweep_id: str, *, width: int, height: int) -> dict[str, Any]:
    """Parallel coordinates of a sweep's finished and pruned trials over its parameters and
    metric (the sweep's own, else the first summary metric), log axes as its config says."""
    from .. import query
    from ..charts import log_parameters, parallel_coordinates
    from ..charts._base import altair
    from ..diffing import config_diff

    chosen = get_store(store)
    with chosen.snapshot():
        try:
            record = chosen.find_sweep(sweep_id) or {}
        except NbtrackError:  # a store with no sweep tables: the runs' sweep_id alone
            record = {}
        runs = query.runs(sweep=sweep_id, store=chosen)
    if runs.empty:
        raise NbtrackError(f"no run of sweep {sweep_id!r} in this store")
    summaries = [c[8:] for c in runs.columns if c.startswith("summary.")]
    metric = record.get("metric") if record.get("metric") in summaries else next(iter(summaries), None)
    goal = str(record.get("goal") or "minimize")
    done = runs[runs["status"].isin(["finished", "pruned", "running"])]
    if metric is not None:
        done = done[done[f"summary.{metric}"].notna()]
    config = record.get("config") or {}
    params = [str(p) for p in (config.get("parameters") or {}) if f"config.{p}" in done.columns]
    if not params and len(done) > 1:  # no record: the config keys its trials differ in
        params = [c[7:] for c in config_diff(done).columns if c.startswith("config.")]
    answer: dict[str, Any] = {"sweep": sweep_id, "name": record.get("name"), "metric": metric, "goal": goal,
                              "params": params, "trials": len(done), "spec": None}
    if metric is None or not params or done.empty:
        return answer
    alt = altair()
    with alt.data_transformers.disable_max_rows():
        chart = parallel_coordinates(done, params, metric, goal=goal, width=width, height=height,
                                     log_axes=log_parameters(config) or None)
    answer["spec"] = json_safe(chart.to_dict())
    return answer


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
