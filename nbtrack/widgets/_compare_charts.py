"""What the compare widget shows for its selected runs, built from :mod:`nbtrack.charts`.

Returns plain dicts ready for synced traits: Vega-Lite specs (with their downsampled
data inlined) and the config diff table. Nothing here draws or defines a chart.
"""

from __future__ import annotations

from typing import Any

from ..comparison import json_value

__all__ = ["config_rows", "selection_charts"]

#: Metric charts overlaid at most; more metrics are listed, not drawn.
MAX_METRIC_CHARTS = 12


def _spec(chart: Any) -> dict[str, Any]:
    from ..charts._base import altair

    alt = altair()
    with alt.data_transformers.disable_max_rows():  # downsampled in SQL already
        spec: dict[str, Any] = chart.to_dict()
    return spec


def config_rows(chosen: Any) -> dict[str, Any]:
    """The config of the chosen runs, key by key, with which keys differ.

    ``{"runs": [{"id", "name"}], "rows": [{"key", "differs", "values": [...]}]}``, the
    values in the order of ``runs``; differing keys come first.
    """
    from ..report.data import config_table

    if chosen.empty:
        return {"runs": [], "rows": []}
    table = config_table(chosen)
    ids = [str(i) for i in chosen["id"]]
    rows = [{"key": str(key), "differs": bool(row["differs"]),
             "values": [json_value(row[i]) for i in ids]} for key, row in table.iterrows()]
    rows.sort(key=lambda r: not r["differs"])  # stable: keys keep their order within each part
    return {"runs": [{"id": i, "name": str(n)} for i, n in zip(ids, chosen["name"])], "rows": rows}


def selection_charts(chosen: Any, *, metric: str, param: str, goal: str, x: str, smoothing: float,
                     log_scale: bool, max_overlay: int, max_points: int, store: Any) -> dict[str, Any]:
    """Every trait the selection drives: ``overlays, parallel, scatter, diff, note``."""
    from ..charts.metrics import metric_chart, metric_data
    from ..charts.params import parallel_coordinates, scatter

    out: dict[str, Any] = {"overlays": {}, "parallel": {}, "scatter": {}, "diff": config_rows(chosen),
                           "note": ""}
    if chosen.empty:
        return out
    notes = []
    overlaid = chosen.iloc[:max_overlay]
    if len(chosen) > max_overlay:
        notes.append(f"{len(chosen)} runs selected: curves show the first {max_overlay}; "
                     "select fewer to see the others")
    data = metric_data(list(overlaid["id"]), max_points=max_points, store=store)
    keys = sorted(k for k in set(data["key"]) if not k.startswith("system/")) if not data.empty else []
    if len(keys) > MAX_METRIC_CHARTS:
        notes.append(f"{len(keys)} metrics: charting the first {MAX_METRIC_CHARTS} "
                     f"({', '.join(keys[MAX_METRIC_CHARTS:])} not shown)")
        keys = keys[:MAX_METRIC_CHARTS]
    for key in keys:
        out["overlays"][key] = _spec(metric_chart(data, key, x=x, smoothing=smoothing, log_scale=log_scale))
    params = [c.removeprefix("config.") for c in chosen.columns if c.startswith("config.")]
    if metric and f"summary.{metric}" in chosen.columns and params:
        # Axes for what differs between the runs (all keys when only one is selected).
        differing = [r["key"] for r in out["diff"]["rows"] if r["differs"]] or params
        out["parallel"] = _spec(parallel_coordinates(chosen, differing, metric, goal=goal))
        if param in params:
            out["scatter"] = _spec(scatter(chosen, param, metric))
    out["note"] = "; ".join(notes)
    return out
