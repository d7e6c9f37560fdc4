"""The picture a live panel leaves behind: its final charts as SVG, readable with no kernel.

When a run ends, the panel's output is replaced by this MIME bundle (``image/svg+xml``
and ``text/plain``), so a saved notebook shows the curves in JupyterLab, in
``jupyter nbconvert --to html`` and on GitHub/nbviewer, and holds no widget at all.
"""

from __future__ import annotations

import base64
import re
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from ..formatting import duration, number

if TYPE_CHECKING:
    from .._run import Run
    from ._stream import Series

__all__ = ["StillPicture", "final_picture", "picture_bundle", "png_data_uri", "series_picture",
           "status_lines"]

#: Points per metric in the static picture: about one per pixel of a 360-pixel-wide chart.
STATIC_POINTS = 400
_COORDINATE = re.compile(r"(\d\.\d)\d+")
_LINE = 110


def error_line(error: str | None) -> str:
    """The last line of a traceback: ``ZeroDivisionError: division by zero``."""
    if not error:
        return ""
    lines = [line for line in error.strip().splitlines() if line.strip()]
    return lines[-1].strip() if lines else ""


def status_lines(name: str, status: str, step: int, elapsed: float, last: Mapping[str, Any],
                 error: str = "") -> tuple[str, list[str]]:
    """Title and subtitle lines saying where a run stands."""
    title = f"{name} — {status}"
    lines = [f"step {step:,} · {duration(elapsed)}"]
    current = ""
    for key, value in last.items():
        item = f"{key} {number(value)}"
        if current and len(current) + len(item) + 3 > _LINE:
            lines.append(current)
            current = ""
            if len(lines) >= 4:
                break
        current = f"{current} · {item}" if current else item
    if current and len(lines) < 4:
        lines.append(current)
    if error:
        lines.append(f"run {status}: {error}"[:200])
    return title, lines


def _tidy(svg: str) -> str:
    """Shrink to fit narrow output areas, and round path coordinates to a tenth of a
    pixel (a third smaller, looks the same)."""
    svg = svg.replace("<svg ", '<svg style="max-width: 100%; height: auto" ', 1)
    def shorten(match: re.Match[str]) -> str:
        return ' d="' + _COORDINATE.sub(r"\1", match.group(1)) + '"'

    return re.sub(r' d="([^"]*)"', shorten, svg)


def picture_bundle(
    run: Run,
    keys: Sequence[str],
    gauges: Sequence[dict[str, Any]],
    last: Mapping[str, Any],
    step: int,
    elapsed: float,
    note: str = "",
    media: Sequence[Any] = (),
) -> dict[str, str]:
    """``{"image/svg+xml": ..., "image/png": ..., "text/plain": ...}`` of the run's final
    charts and status.

    ``media`` are charts of the run's media (:func:`._media.picture_parts`), drawn under
    the metric charts.
    """
    from ..charts.metrics import metric_chart, metric_data
    from ..charts.system import PANEL_CHART_HEIGHT, PANEL_CHART_WIDTH, gauges_chart

    metrics = []
    if keys:
        data = metric_data(run.id, list(keys), max_points=STATIC_POINTS, store=run._store)
        metrics = [metric_chart(data, key, width=PANEL_CHART_WIDTH, height=PANEL_CHART_HEIGHT)
                   for key in keys]
    gauge = gauges_chart(gauges) if gauges else None
    if note and gauge is not None:
        gauge = gauge.properties(title={"text": "machine", "subtitle": note})
    return _picture(run, metrics, gauge, last, step, elapsed, media)


def final_picture(
    run: Run,
    series: Mapping[str, Series],
    *,
    holds_every_point: bool,
    media_logged: bool,
    color: Callable[[], str],
    gauges: Sequence[dict[str, Any]],
    last: Mapping[str, Any],
    step: int,
    elapsed: float,
    note: str = "",
    max_charts: int = 24,
) -> dict[str, str]:
    """The picture a live view leaves when its run ends (the panel's, or the cell's when the
    run ended before its panel was shown).

    From the view's own points (:func:`series_picture`) when it holds every point of the run
    (``holds_every_point``: it subscribed before the run logged), nothing else needs drawing
    (no media) and the metrics are charted against their step (no ``define_metric`` step
    metric); else from the store (:func:`picture_bundle`: Altair, pandas). ``color`` gives the
    run's colour (called only when needed).
    """
    from . import _specs
    from ._stream import SYSTEM

    keys = sorted(series)
    against_step = not any(d.get("step_metric") for d in run.metric_definitions.values())
    if holds_every_point and not media_logged and against_step and _specs.ready():
        return series_picture(run, {key: series[key] for key in keys}, color(), gauges, last, step,
                              elapsed, note)
    if not keys:
        from ..query import run_record

        stored = run_record(run.id, store=run._store)["metrics"]
        keys = [m["key"] for m in stored if not m["key"].startswith(SYSTEM)][:max_charts]
    media: Sequence[Any] = ()
    if media_logged:
        from ._media import picture_parts

        try:
            media = picture_parts(run)
        except Exception as exc:  # the charts still make a picture
            from ..errors import warn_once

            warn_once("live-panel-media-picture", f"nbtrack left the media of run {run.name!r} "
                      f"out of its picture ({exc!r})")
    return picture_bundle(run, keys, gauges, last, step, elapsed, note, media=media)


def series_picture(
    run: Run,
    series: Mapping[str, Series],
    color: str,
    gauges: Sequence[dict[str, Any]],
    last: Mapping[str, Any],
    step: int,
    elapsed: float,
    note: str = "",
) -> dict[str, str]:
    """:func:`picture_bundle` of a run whose every point a live view holds (``series``, by
    metric): the same picture, built from those points and the live charts' templates
    (:mod:`._specs`, loaded) with no Altair, pandas or store read, so a cell's end does not
    wait for them. ``color`` is the run's.
    """
    from ..charts.metrics import averaged
    from . import _specs

    metrics = []
    for index, (key, points) in enumerate(series.items()):
        name, rows = f"points_{index}", points.rows(run.name, STATIC_POINTS)
        spec = {**_specs.metric_spec(key, color), "data": {"name": name}, "datasets": {name: rows}}
        spec.pop("autosize", None)  # a part of the picture: laid out by the whole
        # As metric_chart draws them: a band only where points were averaged, a dot for a
        # series of one point (no line to draw).
        if not averaged([row["min"] for row in rows], [row["max"] for row in rows]):
            spec["layer"] = [layer for layer in spec["layer"] if "y2" not in layer.get("encoding", {})]
        if len(rows) < 2:
            spec["layer"] = [{**layer, "mark": {**layer["mark"], "point": True}}
                             if layer.get("mark", {}).get("type") == "line" else layer
                             for layer in spec["layer"]]
        metrics.append(spec)
    gauge = None
    if gauges:
        gauge = {**_specs.gauges_spec(), "datasets": {"gauges": [dict(row) for row in gauges]}}
        gauge.pop("autosize", None)
        if note:
            gauge["title"] = {"text": "machine", "subtitle": note}
    return _picture(run, metrics, gauge, last, step, elapsed)


def _picture(run: Run, metrics: list[Any], gauge: Any, last: Mapping[str, Any], step: int,
             elapsed: float, media: Sequence[Any] = ()) -> dict[str, str]:
    from ..charts._base import to_svg
    from ..charts.system import run_picture

    error = error_line(run.error)
    title, lines = status_lines(run.name, run.status, step, elapsed, last, error)
    failed = run.status in ("failed", "crashed")
    spec = run_picture(metrics, gauge, title, lines, failed=failed)
    if media:
        _add_rows(spec, media, before_last=gauge is not None, replace=not metrics and gauge is None)
    svg = _tidy(to_svg(for_either_theme(spec)))
    text = "\n".join([f"nbtrack run {title}", *lines])
    # The same picture as PNG, which JupyterLab shows in an untrusted notebook (one cloned
    # from git: its SVG renderer is not "safe"); a trusted page and nbconvert take the SVG.
    from ..charts._render import draw

    png = base64.b64encode(draw("png", svg)).decode("ascii")
    return {"image/svg+xml": svg, "image/png": png, "text/plain": text}


class StillPicture:
    """A widget's still picture, shown as its own output just under the widget and kept
    current while the user works with the widget.

    Jupyter saves outputs as they are; a widget's view needs its kernel, so a notebook
    reopened without one says "model not found" there, and an untrusted notebook or
    nbconvert shows nothing. The picture (``text/html``: tables, charts as PNG) is a plain
    output beside it, which every viewer draws. The widget's stylesheet hides it while the
    live widget is drawn right above it (``.jp-OutputArea-child:has(<widget>) + ...``).

    ``make`` builds the bundle; :meth:`changed` redraws it at most once per ``every``
    seconds (the last change always shows), in a thread, through the output's display id;
    ``every`` grows to four times what a drawing took (vl-convert draws a few charts of
    five runs in about a second).
    """

    def __init__(self, make: Callable[[], dict[str, str]], *, every: float = 2.0) -> None:
        self._make = make
        self.every = every
        self._handles: list[Any] = []
        self._timer: threading.Timer | None = None
        self._lock = threading.Lock()

    def show(self) -> None:
        """Display the picture (under the widget just displayed)."""
        from IPython.display import display

        from . import start_picture_helper

        start_picture_helper()  # redrawn as the widget changes: not in the kernel's process

        self._handles.append(display(self._make(), raw=True, display_id=True))  # type: ignore[no-untyped-call]

    def changed(self) -> None:
        """The widget changed: redraw the picture soon (once for a burst of changes)."""
        with self._lock:
            if not self._handles or self._timer is not None:
                return
            self._timer = threading.Timer(self.every, self.update)
            self._timer.daemon = True
            self._timer.start()

    def update(self) -> None:
        """Redraw the picture now, in every place it was displayed."""
        with self._lock:
            self._timer = None
            handles = list(self._handles)
        if not handles:
            return
        started = time.perf_counter()
        bundle = self._make()
        # A picture that is slow to draw (many runs, long curves) is drawn less often.
        self.every = max(self.every, 4 * (time.perf_counter() - started))
        for handle in handles:
            handle.update(bundle, raw=True)


def png_data_uri(chart: Any, *, scale: float = 1.0) -> str:
    """A chart (Altair chart or Vega-Lite dict) as a ``data:image/png;base64,...`` URI, for
    the ``<img>`` of a widget's still picture: PNG, because an untrusted notebook, GitHub
    and other sanitisers refuse SVG while they keep a PNG data URI. Drawn like the live
    panel's picture (no crosshair, colours for either theme), with no network.
    """
    from ..charts._base import altair
    from ..charts._render import draw
    from ..charts.interactions import still

    if not isinstance(chart, dict):
        with altair().data_transformers.disable_max_rows():  # thinned in SQL already
            chart = chart.to_dict(validate=False)
    png: bytes = draw("png", still(for_either_theme(chart)), scale=scale)
    return "data:image/png;base64," + base64.b64encode(png).decode("ascii")


def for_either_theme(spec: dict[str, Any]) -> dict[str, Any]:
    """The picture on a transparent background with mid-grey text, so it reads on a light
    page and in JupyterLab's dark theme alike (an SVG output is shown as an image: the
    page's CSS cannot recolour it). Run colours and the failed-run red stay as they are.

    Example
    -------
    >>> for_either_theme({"mark": {"type": "text", "color": "#222"}})["mark"]["color"]
    '#7a7a7a'
    """
    themed: dict[str, Any] = _recolour(spec)
    config = dict(themed.get("config") or {})
    line = {"labelColor": NEUTRAL, "titleColor": NEUTRAL}
    config.update({
        "background": "transparent",
        "axis": {**line, "domainColor": NEUTRAL, "tickColor": NEUTRAL, "gridColor": FAINT},
        "legend": {**line, **config.get("legend", {})},
        "header": line,
        "title": {"color": NEUTRAL, "subtitleColor": NEUTRAL},
        "view": {"stroke": FAINT},
        "text": {"color": NEUTRAL},
    })
    themed["config"] = config
    return themed


#: Text that reads on white and on JupyterLab's dark background (#111), both about 4.3:1.
NEUTRAL = "#7a7a7a"
FAINT = "rgba(128, 128, 128, 0.35)"
_DARK_INK = {"#222": NEUTRAL, "#222222": NEUTRAL, "#555": NEUTRAL, "#000": NEUTRAL, "black": NEUTRAL,
             "#e8e8e8": FAINT}
_COLOUR_KEYS = {"color", "fill", "stroke", "subtitleColor", "labelColor", "titleColor"}


def _recolour(node: Any) -> Any:
    """Chart ink that only reads on white (near-black text, light-grey tracks) made neutral;
    the data (``datasets``, ``values``) is left alone."""
    if isinstance(node, dict):
        return {key: (_DARK_INK.get(value.lower(), value) if key in _COLOUR_KEYS and isinstance(value, str)
                      else value if key in ("datasets", "values") else _recolour(value))
                for key, value in node.items()}
    if isinstance(node, list):
        return [_recolour(item) for item in node]
    return node


def _add_rows(spec: dict[str, Any], charts: Sequence[Any], *, before_last: bool, replace: bool) -> None:
    """Put more charts, one a row, into :func:`nbtrack.charts.system.run_picture`'s spec
    (above the gauges, which stay last); their data joins the spec's datasets."""
    from ..charts._base import altair

    rows = []
    for chart in charts:
        with altair().data_transformers.disable_max_rows():  # thinned already
            part = chart if isinstance(chart, dict) else chart.to_dict(validate=False)
        spec["datasets"].update(part.pop("datasets", {}))
        part.pop("config", None)
        part.pop("$schema", None)
        rows.append(_quiet(part))
    if replace:  # run_picture's placeholder for a run with nothing to chart
        spec["vconcat"] = rows
        return
    at = len(spec["vconcat"]) - (1 if before_last else 0)
    spec["vconcat"][at:at] = rows


def _quiet(node: Any) -> Any:
    """No ARIA labels on the marks of media charts: Vega would write one per histogram bin
    or table cell (or repeat an image's data URI), most of the picture's size."""
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "mark":
                mark = value if isinstance(value, dict) else {"type": value}
                node[key] = {**mark, "aria": False}
            else:
                _quiet(value)
    elif isinstance(node, list):
        for value in node:
            _quiet(value)
    return node
