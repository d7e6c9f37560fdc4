"""Vega-Lite specs for live views, taken from :mod:`nbtrack.charts` and emptied of data.

Each metric chart is the one :func:`nbtrack.charts.metric_chart` draws (the band layer
included), built once per process for a placeholder metric and then retitled per
metric, so a new metric costs a dict copy and not an Altair build.
"""

from __future__ import annotations

import copy
import threading
from typing import Any

__all__ = ["gauges_spec", "metric_spec"]

_PLACEHOLDER = "__nbtrack_metric__"
_lock = threading.Lock()
_templates: dict[str, dict[str, Any]] = {}


def _template(name: str) -> dict[str, Any]:
    with _lock:
        spec = _templates.get(name)
        if spec is None:
            spec = _templates[name] = _BUILDERS[name]()
        return spec


def _metric_template() -> dict[str, Any]:
    import pandas as pd

    from ..charts.metrics import metric_chart
    from ..charts.system import PANEL_CHART_HEIGHT, PANEL_CHART_WIDTH, streaming_spec

    # Two points whose min and max differ, so the chart includes its min-max band layer.
    seed = pd.DataFrame({"run_id": ["r", "r"], "run": ["r", "r"], "key": [_PLACEHOLDER] * 2,
                         "step": [0, 1], "value": [1.0, 2.0], "min": [0.5, 1.5], "max": [1.5, 2.5]})
    chart = metric_chart(seed, _PLACEHOLDER, width=PANEL_CHART_WIDTH, height=PANEL_CHART_HEIGHT)
    spec = streaming_spec(chart, "points")
    # One run per panel: a colour legend would only repeat the run's name.
    spec.setdefault("config", {})["legend"] = {"disable": True}
    return _resizing(spec)


def _resizing(spec: dict[str, Any]) -> dict[str, Any]:
    # Streamed data changes the axes' extent: lay the chart out again on each update,
    # or the axis titles end up outside the canvas made for the empty chart.
    spec["autosize"] = {"type": "pad", "resize": True}
    return spec


def _gauges_template() -> dict[str, Any]:
    from ..charts.system import gauges_chart, streaming_spec

    seed = [{"gauge": "CPU", "order": 0, "fraction": 0.5, "peak": 0.6, "text": "50 %"}]
    return _resizing(streaming_spec(gauges_chart(seed), "gauges"))


_BUILDERS = {"metric": _metric_template, "gauges": _gauges_template}


def _retitle(node: Any, key: str) -> Any:
    if isinstance(node, dict):
        return {k: _retitle(v, key) for k, v in node.items()}
    if isinstance(node, list):
        return [_retitle(v, key) for v in node]
    return key if node == _PLACEHOLDER else node


def _recolor(node: Any, color: str) -> Any:
    """Every run colour scale of the template as the one run's colour (the template was built
    for a placeholder run, whose colour it would otherwise give every live run)."""
    if isinstance(node, dict):
        out = {k: _recolor(v, color) for k, v in node.items()}
        encoding = out.get("color")
        if isinstance(encoding, dict) and "scale" in encoding:
            out["color"] = {**encoding, "scale": {"range": [color]}}
        return out
    if isinstance(node, list):
        return [_recolor(v, color) for v in node]
    return node


def metric_spec(key: str, color: str | None = None) -> dict[str, Any]:
    """The live chart of one metric: :func:`nbtrack.charts.metric_chart`'s spec, data named
    ``points``, in the run's colour (:func:`nbtrack.charts.project_run_colors`) when given.

    Example
    -------
    >>> metric_spec("loss")["title"]  # doctest: +SKIP
    'loss'
    """
    result: dict[str, Any] = _retitle(_template("metric"), key)
    if color is not None:
        result = _recolor(result, color)
    return result


def gauges_spec() -> dict[str, Any]:
    """The live gauges: :func:`nbtrack.charts.system.gauges_chart`'s spec, data named ``gauges``."""
    return copy.deepcopy(_template("gauges"))
