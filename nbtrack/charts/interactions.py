"""The interactions every metric chart carries, added in one place (:func:`interactive`).

* Crosshair: hovering anywhere in the plot picks the nearest x (a ``nearest`` point
  selection over a rule layer); a vertical rule and a dot on each run's line mark it, and
  the tooltip lists every run's value at that x (the runs pivoted into columns, as
  Vega-Lite's ``interactive_multi_line_pivot_tooltip`` example).
* Zoom: an interval selection on x bound to the scales, named ``zoom_<8 hex digits>``: the
  mouse wheel (or a pinch) zooms, a drag pans, a double-click resets. nbtrack's own
  renderers (sidebar, workspace, live panel, compare widget; charts returned to a notebook
  and the HTML report through ``charts._offline.zoom_js``) add box zoom on top, which
  Vega-Lite cannot express: ``labextension/src/zoom.ts`` patches the compiled Vega spec,
  finding these params by that name, so a drag draws a band and zooms x to it, shift+drag
  pans, and the wheel and the double-click stay. Elsewhere the spec works as it is.
* Colours: one scale per chart whose domain is the runs' labels and whose range is their
  colours from :mod:`nbtrack.charts.colors`, so a run is the same colour everywhere.
* Legend: solid line symbols, however faded the layers beneath are (raw curves under
  smoothing, the min-max band).
* Width: a number, or ``"container"`` to fill the element the chart is shown in, with
  :data:`~nbtrack.charts._base.WIDTH` as the fallback where there is none (PNG/SVG export).
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from ._base import NUMBER_FORMAT, WIDTH, altair

__all__ = ["Axis", "field_name", "interactive", "responsive"]

#: The column flagging the rows the crosshair reads (each run's nearest point at each x).
CROSSHAIR = "crosshair"
#: Points at most that get a (hidden until hovered) dot each.
MAX_DOTS = 6000
#: The crosshair rule and dots: visible on light and dark backgrounds.
CROSSHAIR_COLOR = "#888888"


@dataclass(frozen=True)
class Axis:
    """A field of the chart's data drawn on an axis: ``Axis("step", "Q", "step")``."""

    field: str
    type: str  # a Vega-Lite type letter: Q (quantitative), T (temporal)
    title: str
    format: str | None = None

    @property
    def shorthand(self) -> str:
        return f"{field_name(self.field)}:{self.type}"

    def tooltip(self) -> Any:
        alt = altair()
        if self.type == "T":
            return alt.Tooltip(self.shorthand, title=self.title, format="%Y-%m-%d %H:%M:%S")
        return alt.Tooltip(self.shorthand, title=self.title, format=self.format or NUMBER_FORMAT)


def field_name(name: str) -> str:
    """``name`` as a Vega-Lite field reference: dots, brackets and quotes are access-path
    syntax there (a run named ``teammate's run`` broke the whole chart).

    Example
    -------
    >>> field_name("run.v2 [seed 1]")
    'run\\\\.v2 \\\\[seed 1\\\\]'
    """
    for special in ("\\", ".", "[", "]", "'", '"'):
        name = name.replace(special, "\\" + special)
    return name


def run_color(labels: Sequence[str], colors: Sequence[str]) -> Any:
    """The colour encoding of runs: fixed colours per run, a legend of solid lines (however
    faded the layer using it: every layer gives the same encoding, or Vega-Lite warns)."""
    alt = altair()
    scale = alt.Scale(domain=list(labels), range=list(colors))
    return alt.Color("run:N", scale=scale, title="run", legend=alt.Legend(
        symbolType="stroke", symbolOpacity=1, symbolStrokeWidth=2.5, labelLimit=180))


def interactive(layers: Sequence[Any], data: Any, *, x: Axis, y: Axis, labels: Sequence[str],
                colors: Sequence[str], title: str, width: int | str = WIDTH,
                height: int = 220) -> Any:
    """Layer ``layers`` (charts over ``data``, coloured by ``run``) with the crosshair, the
    zoom, the run colours and the size every metric chart shares.

    ``data`` holds the drawn points: a ``run`` label column, ``x.field`` and ``y.field``;
    ``labels``/``colors`` pair each run's label with its colour. The ``layers``
    are drawn first, under the crosshair.

    Example
    -------
    >>> chart = interactive([lines], part, x=Axis("step", "Q", "step"),  # doctest: +SKIP
    ...                     y=Axis("value", "Q", "loss"), labels=["a"], colors=["#0067a5"],
    ...                     title="loss")
    """
    alt = altair()
    # Named after what the chart shows, so a spec is the same each time it is built, and
    # charts laid out together (other metrics) each zoom and hover on their own. The
    # labextension's box zoom (zoom.ts) finds the zoom by this name: keep the two in step.
    number = hashlib.sha1(repr((title, x, y, list(labels))).encode("utf-8")).hexdigest()[:8]
    zoom = alt.selection_interval(name=f"zoom_{number}", bind="scales", encodings=["x"])
    hover = alt.selection_point(name=f"hover_{number}", nearest=True, on="pointerover",
                                clear="pointerout", fields=[x.field], empty=False)
    drawn, hovered = list(layers), alt.Chart(data)
    if len(labels) > 1:
        # Runs downsampled apart (or timed apart) share few x values: give each run its
        # nearest point at every x shown, so the tooltip has them all wherever it is. Those
        # rows ride in the chart's one data source (a live view streams into it), flagged.
        aligned = aligned_points(data, x.field, y.field)
        if aligned is not None:
            import pandas as pd

            data = pd.concat([data, aligned.assign(**{CROSSHAIR: True})], ignore_index=True)
            drawn = [_with_data(layer, data).transform_filter(f"!datum.{CROSSHAIR}") for layer in layers]
            hovered = alt.Chart(data).transform_filter(f"datum.{CROSSHAIR}")
        # One row per x with a column per run: the tooltip lists every run at that x.
        across = hovered.transform_pivot("run", value=y.field, groupby=[x.field], op="mean")
        tooltip = [x.tooltip()] + [alt.Tooltip(f"{field_name(label)}:Q", title=label,
                                               format=y.format or NUMBER_FORMAT)
                                   for label in labels]
    else:  # one run (a live panel's template too): its own name, whatever it is
        across = hovered
        # format="": with a nearest hover Vega-Lite (6.4, 6.5) reads an unformatted text field
        # of the voronoi cell, not of its point, and the tooltip said "run: undefined".
        tooltip = [x.tooltip(), alt.Tooltip("run:N", title="run", format=""),
                   alt.Tooltip(y.shorthand, title=y.title, format=y.format or NUMBER_FORMAT)]
    rule = across.mark_rule(color=CROSSHAIR_COLOR, strokeWidth=1, clip=True).encode(
        x=alt.X(x.shorthand, title=x.title), tooltip=tooltip,
        opacity=alt.condition(hover, alt.value(0.7), alt.value(0)),
    ).add_params(zoom, hover)  # one layer holds both: Altair lifts params of a layer per view
    # A dot on each run's line at the hovered x. Hidden rather than filtered out, as in
    # Vega-Lite's example: an empty layer makes Vega warn of an infinite extent. Left out
    # where there are too many points to draw hidden.
    drawn.append(rule)
    if len(data) <= MAX_DOTS:
        drawn.append(hovered.mark_circle(size=40, clip=True).encode(
            x=alt.X(x.shorthand, title=x.title), y=alt.Y(y.shorthand), color=run_color(labels, colors),
            opacity=alt.condition(hover, alt.value(1), alt.value(0))))
    chart = alt.layer(*drawn)
    chart = chart.properties(title=title, width=width, height=height)
    if width == "container":
        chart = chart.configure_view(continuousWidth=WIDTH)
    return chart


def _with_data(layer: Any, data: Any) -> Any:
    """``layer`` drawing from ``data`` instead of its own."""
    moved = layer.copy(deep=False)
    moved.data = data
    return moved


def aligned_points(data: Any, x: str, y: str) -> Any:
    """Compute: for every x value of ``data`` (at most twice as many as the longest run has), each
    run's point nearest to it within the run's own x range; ``None`` when every run already
    has a point at every such x (runs logged at the same steps).

    Example
    -------
    >>> import pandas as pd
    >>> d = pd.DataFrame({"run": ["a", "a", "a", "b", "b"], "step": [0, 2, 4, 0, 3],
    ...                   "value": [1.0, 2.0, 3.0, 10.0, 13.0]})
    >>> aligned_points(d, "step", "value").query("step == 2").values.tolist()
    [['a', 2, 2.0], ['b', 2, 13.0]]
    """
    import numpy as np
    import pandas as pd

    frame = data[["run", x, y]].dropna(subset=[x])
    series = {run: part.groupby(x)[y].mean() for run, part in frame.groupby("run", sort=False)}
    grid = np.sort(frame[x].unique())
    most = 2 * max(len(s) for s in series.values())
    if len(grid) > most:  # at most twice as many rows per run as the longest run has points
        grid = np.unique(grid[np.linspace(0, len(grid) - 1, most).round().astype(int)])
    parts, complete = [], True
    for run, points in series.items():
        where = points.index.to_numpy()
        inside = grid[(grid >= where[0]) & (grid <= where[-1])]
        after = np.clip(np.searchsorted(where, inside), 0, len(where) - 1)
        before = np.clip(after - 1, 0, len(where) - 1)
        nearer = np.where(np.abs(_numbers(where[before]) - _numbers(inside))
                          <= np.abs(_numbers(where[after]) - _numbers(inside)), before, after)
        complete = complete and bool(np.isin(inside, where).all())
        parts.append(pd.DataFrame({"run": run, x: inside, y: points.to_numpy()[nearer]}))
    return None if complete else pd.concat(parts, ignore_index=True)


def _numbers(values: Any) -> Any:
    """Times as nanoseconds, numbers as they are: distances between x values."""
    return values.astype("int64") if values.dtype.kind == "M" else values.astype(float)


def responsive(spec: dict[str, Any], fallback: int = WIDTH) -> dict[str, Any]:
    """A copy of a single or layered chart's spec that fills its container's width.

    Concatenated charts (``hconcat``, ``vconcat``...) come back unchanged: Vega-Lite sizes
    only a single view to its container. Where there is no container (a PNG or SVG export)
    the chart is ``fallback`` pixels wide.

    Example
    -------
    >>> responsive({"mark": "line", "width": 360})["width"]
    'container'
    """
    if any(key in spec for key in ("hconcat", "vconcat", "concat", "facet", "repeat")):
        return spec
    out = dict(spec)
    out["width"] = "container"
    out["autosize"] = {"type": "fit-x", "contains": "padding"}
    config = dict(out.get("config") or {})
    config["view"] = {**(config.get("view") or {}), "continuousWidth": fallback}
    out["config"] = config
    return out


def still(spec: dict[str, Any]) -> dict[str, Any]:
    """``spec`` for a still picture (SVG, PNG): without the crosshair's layers and the zoom.

    A picture cannot be hovered, and drawn to SVG the crosshair's hidden dots are one
    invisible mark per point (a live panel's picture of 100 steps grew by half).

    Example
    -------
    >>> still({"layer": [{"mark": "line"}, {"mark": "rule", "params": [{"name": "hover_1"}]}]})
    {'layer': [{'mark': 'line'}]}
    """

    def ours(name: Any) -> bool:
        return isinstance(name, str) and name.startswith(("hover_", "zoom_"))

    def interactive_layer(layer: Any) -> bool:
        if not isinstance(layer, dict):
            return False
        if any(ours(p.get("name")) for p in layer.get("params", []) if isinstance(p, dict)):
            return True
        condition = ((layer.get("encoding") or {}).get("opacity") or {}).get("condition")
        return isinstance(condition, dict) and ours(condition.get("param"))

    def walk(node: Any) -> Any:
        if isinstance(node, list):
            return [walk(v) for v in node]
        if not isinstance(node, dict):
            return node
        out = {k: walk(v) for k, v in node.items()}
        if isinstance(out.get("layer"), list):
            out["layer"] = [layer for layer in out["layer"] if not interactive_layer(layer)]
        if isinstance(out.get("params"), list):
            out["params"] = [p for p in out["params"] if not (isinstance(p, dict) and ours(p.get("name")))]
            if not out["params"]:
                del out["params"]
        return out

    result: dict[str, Any] = walk(spec)
    return result
