"""Vega-Lite specs for live views, taken from :mod:`nbtrack.charts` and emptied of data.

Each metric chart is the one :func:`nbtrack.charts.metric_chart` draws (the band layer
included), built once per process for a placeholder metric and then retitled per
metric, so a new metric costs a dict copy and not an Altair build.

Building the templates imports Altair and pandas (about 2 s of a fresh kernel, holding the
GIL), so they are cached on disk beside the chart library (``_bundle.cache_dir()``), keyed
by the versions of nbtrack, Altair and vl-convert and the text of the modules that build
them: a kernel after the first reads a small JSON file. The live panel never waits for
them: :func:`ready` says whether they are loaded, and :func:`warm` loads or builds them
(in the panel's warm-up thread, :func:`nbtrack.widgets.warm_up`).
"""

from __future__ import annotations

import copy
import hashlib
import json
import threading
from pathlib import Path
from typing import Any

from ._bundle import cache_dir, write_cache

__all__ = ["gauges_spec", "metric_spec", "ready", "warm"]

_PLACEHOLDER = "__nbtrack_metric__"
_lock = threading.RLock()
_templates: dict[str, dict[str, Any]] = {}


def _template(name: str) -> dict[str, Any]:
    with _lock:
        spec = _templates.get(name)
        if spec is None:
            warm()
            spec = _templates[name]
        return spec


def ready() -> bool:
    """Whether the templates are loaded (then the spec functions return at once)."""
    return len(_templates) == len(_BUILDERS)


def warm(build: bool = True) -> None:
    """Load the templates from the disk cache, or (``build``) build them with Altair and
    cache them."""
    with _lock:
        if ready():
            return
        path = _cache_path()
        try:
            cached = json.loads(path.read_text(encoding="utf-8"))
            if set(cached) != set(_BUILDERS):
                raise ValueError(f"{path} holds {sorted(cached)}")
        except (OSError, ValueError):
            if not build:
                return
            cached = {name: build() for name, build in _BUILDERS.items()}
            write_cache(path, json.dumps(cached, allow_nan=False).encode())
        _templates.update(cached)


def _cache_path() -> Path:
    """``specs-<key>.json``: the key changes with the versions and with the chart code."""
    import importlib.metadata as metadata

    from .. import __version__

    digest = hashlib.sha256(__version__.encode())
    for package in ("altair", "vl-convert-python"):
        try:
            digest.update(metadata.version(package).encode())
        except metadata.PackageNotFoundError:
            digest.update(b"-")
    here = Path(__file__).resolve().parent
    for source in [*sorted((here.parent / "charts").glob("*.py")), here / "_specs.py"]:
        digest.update(source.name.encode() + source.read_bytes())
    return cache_dir() / f"specs-{digest.hexdigest()[:16]}.json"



def _metric_template() -> dict[str, Any]:
    import pandas as pd

    from ..charts.metrics import metric_chart
    from ..charts.system import PANEL_CHART_HEIGHT, PANEL_CHART_WIDTH, streaming_spec, without_legend

    # Two points whose min and max differ, so the chart includes its min-max band layer.
    seed = pd.DataFrame({"run_id": ["r", "r"], "run": ["r", "r"], "key": [_PLACEHOLDER] * 2,
                         "step": [0, 1], "value": [1.0, 2.0], "min": [0.5, 1.5], "max": [1.5, 2.5]})
    chart = metric_chart(seed, _PLACEHOLDER, width=PANEL_CHART_WIDTH, height=PANEL_CHART_HEIGHT)
    # One run per panel: a colour legend would only repeat the run's name.
    spec: dict[str, Any] = without_legend(streaming_spec(chart, "points"))
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
