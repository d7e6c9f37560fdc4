"""Every chart nbtrack draws, as Altair (Vega-Lite) charts built in one place.

Widgets, the HTML report and the JupyterLab sidebar all render these specs
(``chart.to_dict()``), so a chart looks the same everywhere and is fixed here once.
Each chart has a *compute* step that returns a DataFrame (in :mod:`nbtrack.query`
or beside the chart) and a *render* step here that only turns it into a spec.

Altair loads when a chart is first built, not on ``import nbtrack``.
"""

from __future__ import annotations

from typing import Any

__all__ = [
    "metric_chart",
    "metric_charts",
    "metric_data",
    "smooth",
    "parallel_coordinates",
    "scatter",
    "importance_bars",
    "best_so_far",
    "to_svg",
    "gauges_chart",
    "run_picture",
    "streaming_spec",
    "histogram_chart",
    "histogram_data",
    "image_grid",
    "table_preview",
    "table_html",
    "data_uri",
    "OfflineChart",
    "offline",
]

_LAZY = {
    "metric_chart": "metrics", "metric_charts": "metrics", "metric_data": "metrics",
    "smooth": "metrics", "parallel_coordinates": "params", "scatter": "params",
    "importance_bars": "params", "best_so_far": "params", "to_svg": "_base",
    "gauges_chart": "system", "run_picture": "system", "streaming_spec": "system",
    "histogram_chart": "media", "histogram_data": "media", "image_grid": "media",
    "table_preview": "media", "table_html": "media", "data_uri": "media",
    "OfflineChart": "_offline", "offline": "_offline",
}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'nbtrack.charts' has no attribute {name!r}")
    from importlib import import_module

    return getattr(import_module(f".{module}", __name__), name)
