"""What the compare widget shows for its selected runs, built from :mod:`nbtrack.charts`.

Returns plain dicts ready for synced traits: Vega-Lite specs (with their downsampled
data inlined) and the config diff table. Nothing here draws or defines a chart.
"""

from __future__ import annotations

from typing import Any

from ..comparison import json_value
from ..errors import NbtrackError

__all__ = ["config_rows", "selection_charts", "x_choices"]

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


def x_choices(metrics: list[str]) -> list[str]:
    """What the widget's charts may be drawn against: :data:`nbtrack.charts.X_CHOICES` (step,
    relative time, wall time), then every logged metric but the machine's.

    Example
    -------
    >>> x_choices(["epoch", "system/cpu"])
    ['step', 'relative', 'wall', 'epoch']
    """
    from ..charts.metrics import X_CHOICES

    return [*X_CHOICES, *(m for m in metrics if not m.startswith("system/") and m not in X_CHOICES)]


def _sweep_log_axes(chosen: Any, store: Any) -> list[str] | None:
    """The parameters a sweep samples log-uniformly (:func:`nbtrack.charts.log_parameters` of
    its config), when every chosen run is one sweep's trial; ``None`` otherwise (the axes
    then guess from the values)."""
    from ..charts.params import log_parameters
    from ..query import store_for
    from ..sweeps import records

    chosen_store = store_for(store)
    sweeps = {record.get("sweep_id") for record in chosen_store.run_records([str(i) for i in chosen["id"]])}
    if len(sweeps) != 1 or not isinstance(next(iter(sweeps)), str):
        return None
    try:
        record = records.load(chosen_store, str(next(iter(sweeps))))
    except NbtrackError:  # a sweep run elsewhere, or a store from before sweeps were recorded
        return None
    config = record.get("config")
    return log_parameters(config) if isinstance(config, dict) else None


def selection_charts(chosen: Any, *, metric: str, param: str, goal: str, x: str, smoothing: float,
                     log_scale: bool, max_overlay: int, max_points: int, store: Any) -> dict[str, Any]:
    """Every trait the selection drives: ``overlays, sections, parallel, scatter, diff, note``.

    ``sections`` are :func:`nbtrack.charts.metric_sections` of the data (``{"name", "title",
    "keys", "constants"}``): ``train/``, ``val/``... each under its title, the machine's
    metrics last and against time (unless ``x`` asks for something else than the step),
    metrics that never changed listed in ``constants`` instead of charted.
    """
    from ..charts.metrics import X_CHOICES, metric_chart, metric_data
    from ..charts.params import parallel_coordinates, scatter
    from ..charts.sections import SYSTEM, metric_sections

    out: dict[str, Any] = {"overlays": {}, "sections": [], "parallel": {}, "scatter": {},
                           "diff": config_rows(chosen), "note": ""}
    if chosen.empty:
        return out
    notes = []
    overlaid = chosen.iloc[:max_overlay]
    if len(chosen) > max_overlay:
        notes.append(f"{len(chosen)} runs selected: curves show the first {max_overlay}; "
                     "select fewer to see the others")
    data = metric_data(list(overlaid["id"]), max_points=max_points, store=store)
    sections = metric_sections(data) if not data.empty else []
    charted = [k for s in sections for k in s.keys]
    if len(charted) > MAX_METRIC_CHARTS:
        notes.append(f"{len(charted)} metrics: charting the first {MAX_METRIC_CHARTS} "
                     f"({', '.join(charted[MAX_METRIC_CHARTS:])} not shown)")
        charted = charted[:MAX_METRIC_CHARTS]
    for section in sections:
        keys = [k for k in section.keys if k in charted]
        if not keys and not section.constants:
            continue
        # The machine's metrics stay against time when x is another metric (logged at steps,
        # not at the machine's sampling times).
        metric_x = x not in (*X_CHOICES, "time")
        against = section.x if x == "step" or (section.name == SYSTEM and metric_x) else x
        for key in keys:
            out["overlays"][key] = _spec(metric_chart(data, key, x=against, smoothing=smoothing,
                                                      log_scale=log_scale))
        out["sections"].append({"name": section.name, "title": section.title, "keys": keys,
                                "constants": {k: json_value(v) for k, v in section.constants.items()}})
    params = [c.removeprefix("config.") for c in chosen.columns if c.startswith("config.")]
    if metric and f"summary.{metric}" in chosen.columns and params:
        # Axes for what differs between the runs (all keys when only one is selected).
        differing = [r["key"] for r in out["diff"]["rows"] if r["differs"]] or params
        out["parallel"] = _spec(parallel_coordinates(chosen, differing, metric, goal=goal,
                                                     log_axes=_sweep_log_axes(chosen, store)))
        if param in params:
            out["scatter"] = _spec(scatter(chosen, param, metric))
    out["note"] = "; ".join(notes)
    return out
