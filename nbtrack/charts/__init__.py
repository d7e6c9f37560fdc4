"""Every chart nbtrack draws, as Altair (Vega-Lite) charts built in one place.

Widgets, the HTML report and the JupyterLab sidebar all render these specs
(``chart.to_dict()``), so a chart looks the same everywhere and is fixed here once.
Each chart has a *compute* step that returns a DataFrame (in :mod:`nbtrack.query`
or beside the chart) and a *render* step here that only turns it into a spec.

Altair loads when a chart is first built, not on ``import nbtrack``.

The chart builders, as this package hands them out, return an :class:`OfflineChart`: the
Altair chart, shown with nbtrack's bundled Vega instead of Altair's CDN renderer, so it
draws with no network (``.to_altair()`` gives the Altair chart; ``.to_dict()``,
``.properties()``, ``.save()`` work as before). Inside nbtrack, the submodules' builders
(``nbtrack.charts.metrics.metric_chart``...) return the Altair chart itself, to compose.
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
    "run_colors",
    "project_run_colors",
    "metric_sections",
    "Section",
    "constant_metrics",
    "interactive",
    "responsive",
    "log_parameters",
    "X_CHOICES",
]

_LAZY = {
    "metric_chart": "metrics", "metric_charts": "metrics", "metric_data": "metrics",
    "smooth": "metrics", "parallel_coordinates": "params", "scatter": "params",
    "importance_bars": "params", "best_so_far": "params", "to_svg": "_base",
    "gauges_chart": "system", "run_picture": "system", "streaming_spec": "system",
    "histogram_chart": "media", "histogram_data": "media", "image_grid": "media",
    "table_preview": "media", "table_html": "media", "data_uri": "media",
    "OfflineChart": "_offline", "offline": "_offline",
    "run_colors": "colors", "project_run_colors": "colors", "metric_sections": "sections",
    "Section": "sections", "constant_metrics": "sections", "interactive": "interactions",
    "responsive": "interactions", "log_parameters": "params", "X_CHOICES": "metrics",
}


#: Builders whose chart reaches the user: handed out wrapped to draw offline.
_CHART_BUILDERS = frozenset({"metric_chart", "metric_charts", "parallel_coordinates", "scatter",
                             "importance_bars", "best_so_far", "gauges_chart", "histogram_chart",
                             "image_grid"})


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'nbtrack.charts' has no attribute {name!r}")
    from importlib import import_module

    value = getattr(import_module(f".{module}", __name__), name)
    if name in _CHART_BUILDERS:
        from ._offline import drawing_offline

        value = drawing_offline(value)
    globals()[name] = value  # once: later look-ups skip this function
    return value
