"""Charts of a run's machine and of a run at a glance: gauges, the live-panel picture.

Also :func:`streaming_spec`, which turns any chart of this package into a Vega-Lite
spec whose data is a named, initially empty dataset, so a live view can render the
same chart and stream points into it (Vega's ``view.change(name, changeset)``).
"""

from __future__ import annotations

import copy
from collections.abc import Sequence
from typing import Any

from ._base import altair

__all__ = ["gauges_chart", "run_picture", "streaming_spec", "without_legend"]

GAUGE_WIDTH = 260
#: Size of each metric chart in a live panel and its picture: two fit side by side in a
#: notebook's output area (about 700 px on a laptop screen).
PANEL_CHART_WIDTH = 280
PANEL_CHART_HEIGHT = 170
#: Colour of a gauge by how full it is: fine, high, at the limit.
GAUGE_LEVELS = {"ok": "#59a14f", "high": "#f28e2b", "full": "#e15759"}
FAILED_COLOR = "#c62828"


def streaming_spec(chart: Any, name: str = "points") -> dict[str, Any]:
    """A chart's Vega-Lite spec with its data replaced by the empty named dataset ``name``.

    Every view of the chart must share one data source (true of the charts built
    here from one DataFrame); transforms and encodings are kept.

    Example
    -------
    >>> import pandas as pd
    >>> from nbtrack.charts.metrics import metric_chart
    >>> frame = pd.DataFrame({"run_id": ["a"], "run": ["a"], "key": ["loss"], "step": [0],
    ...                       "value": [1.0], "min": [0.5], "max": [1.5]})
    >>> streaming_spec(metric_chart(frame, "loss"))["data"]
    {'name': 'points'}
    """
    spec = chart if isinstance(chart, dict) else chart.to_dict(validate=False)
    spec = copy.deepcopy(spec)
    spec.pop("datasets", None)
    _drop_data(spec)
    spec["data"] = {"name": name}
    return spec


def _drop_data(node: Any) -> None:
    if isinstance(node, dict):
        node.pop("data", None)
        for key in ("layer", "hconcat", "vconcat", "concat"):
            for child in node.get(key, []):
                _drop_data(child)
        if "spec" in node:
            _drop_data(node["spec"])


def gauges_chart(rows: Sequence[dict[str, Any]], *, width: int = GAUGE_WIDTH) -> Any:
    """Render: one horizontal gauge per row of :func:`nbtrack.system.gauge_rows`.

    The bar shows the current value as a fraction of its full scale, coloured by how
    full it is; a black tick marks the run's peak; the text gives the value in units.
    """
    alt = altair()
    import pandas as pd

    columns = ["gauge", "order", "fraction", "peak", "text"]
    data = pd.DataFrame(list(rows), columns=columns)
    level = ("datum.fraction >= 0.9 ? 'full' : datum.fraction >= 0.7 ? 'high' : 'ok'")
    base = alt.Chart(data).transform_calculate(level=level, full="1").encode(
        y=alt.Y("gauge:N", sort=alt.EncodingSortField(field="order", op="min"), title=None,
                axis=alt.Axis(ticks=False, domain=False, labelLimit=140)),
    )
    scale = alt.Scale(domain=[0, 1], clamp=True)
    # Parts named by style: JupyterLab's dark theme recolours them (themeSpec, labextension/src/theme.ts).
    track = base.mark_bar(color="#e8e8e8", size=14, style="gauge-track").encode(
        x=alt.X("full:Q", scale=scale, axis=None))
    bar = base.mark_bar(size=14).encode(
        x=alt.X("fraction:Q", scale=scale, axis=None),
        color=alt.Color("level:N", legend=None, scale=alt.Scale(
            domain=list(GAUGE_LEVELS), range=list(GAUGE_LEVELS.values()))),
        tooltip=["gauge:N", "text:N"],
    )
    peak = base.mark_tick(color="#222", thickness=2, size=16, style="gauge-peak").encode(
        x=alt.X("peak:Q", scale=scale))
    text = base.mark_text(align="left", dx=6, fontSize=11, color="#222", style="gauge-text").encode(
        x=alt.datum(1), text="text:N")
    return alt.layer(track, bar, peak, text).properties(width=width, title="machine")


def run_picture(
    metrics: Sequence[Any],
    gauges: Any | None,
    title: str,
    subtitle: Sequence[str] = (),
    *,
    failed: bool = False,
    columns: int = 2,
) -> dict[str, Any]:
    """Render: a run at a glance, its status as the title over its metric charts and gauges.

    ``metrics`` are charts from :func:`nbtrack.charts.metric_chart` (laid out
    ``columns`` to a row, as :func:`nbtrack.charts.metric_charts` does), ``gauges`` one
    from :func:`gauges_chart` or ``None``. Returns the Vega-Lite spec (a dict) of the
    static picture a live panel leaves in the saved notebook; one run needs no colour
    legend. The parts are joined as specs rather than as Altair charts: Altair copies
    every chart at each concatenation, which made this the slow part of a cell's end.
    """
    specs = [without_legend(_spec(chart)) for chart in metrics]
    rows = [specs[i:i + columns] for i in range(0, len(specs), columns)]
    parts: list[dict[str, Any]] = [{"hconcat": row} if len(row) > 1 else row[0] for row in rows]
    if gauges is not None:
        parts.append(_spec(gauges))
    datasets: dict[str, Any] = {}
    for part in specs + ([parts[-1]] if gauges is not None else []):
        datasets.update(part.pop("datasets", {}))
        part.pop("config", None)
        part.pop("$schema", None)
    color = FAILED_COLOR if failed else "#222"
    return {
        "$schema": "https://vega.github.io/schema/vega-lite/v6.json",
        "vconcat": parts or [{"mark": "text"}],
        "spacing": 18,
        # Independent colours: the gauges' level colours must not recolour the runs' lines.
        "resolve": {"scale": {"color": "independent"}},
        "datasets": datasets,
        "title": {"text": title, "subtitle": list(subtitle), "anchor": "start", "color": color,
                  "fontSize": 15, "subtitleColor": FAILED_COLOR if failed else "#555",
                  "subtitleFontSize": 12},
        "config": {"legend": {"disable": True}},
    }


def without_legend(node: Any) -> Any:
    """``node`` (a spec) with its colour legends off, for one run's charts: the picture's
    title or the live panel's header names the run (``config.legend.disable`` does not hide
    a legend its encoding configures)."""
    if isinstance(node, dict):
        out = {key: without_legend(value) for key, value in node.items()}
        color = out.get("color")
        if isinstance(color, dict) and "field" in color:
            out["color"] = {**color, "legend": None}
        return out
    if isinstance(node, list):
        return [without_legend(value) for value in node]
    return node


def _spec(chart: Any) -> dict[str, Any]:
    spec: dict[str, Any] = chart if isinstance(chart, dict) else chart.to_dict(validate=False)
    return spec
