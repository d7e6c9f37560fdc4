"""The compare widget's still picture: what a saved notebook shows with no kernel.

Beside its widget view, :class:`~nbtrack.widgets.compare.CompareWidget`'s MIME bundle
carries ``text/html``: the runs table as shown (a colour swatch per run, the selected
runs marked) and the selection's charts as one PNG (sections by metric prefix, the
widget's x axis, smoothing and log scale). Jupyter saves the bundle in the notebook, so
an untrusted notebook, ``jupyter nbconvert --to html``, GitHub and nbviewer show the
picture where the live widget cannot be drawn. It links and fetches nothing.
"""

from __future__ import annotations

import html
from typing import TYPE_CHECKING, Any

from ..formatting import duration, timestamp, value

if TYPE_CHECKING:
    from .compare import CompareWidget

__all__ = ["STATIC_ROWS", "compare_picture"]

#: Rows of the runs table in the picture, at most (the rest are counted).
STATIC_ROWS = 30
#: Summary metrics shown as columns in the picture, at most.
STATIC_METRICS = 6
#: Points per curve in the picture: about one per two pixels of its 280-pixel-wide charts.
STATIC_POINTS = 150
_SWATCH = ("display:inline-block;width:10px;height:10px;border-radius:2px;margin-right:6px;"
           "vertical-align:middle;background:{}")
_CELL = "padding:2px 8px;text-align:left;border-bottom:1px solid rgba(128,128,128,0.3)"


def _cell(column: str, item: Any) -> str:
    if column == "created_at":
        return timestamp(item)
    if column == "duration":
        return duration(item) if item is not None else value(None)
    return value(item, nan_missing=True)


def table_html(widget: CompareWidget) -> str:
    """The runs table of the widget's current page, as escaped HTML with inline styles
    (a notebook's sanitiser keeps those; there is no stylesheet to rely on)."""
    e = html.escape
    metrics = [m for m in widget.metrics if not m.startswith("system/")][:STATIC_METRICS]
    columns = ["name", "status", "created_at", "duration"] + [f"summary.{m}" for m in metrics]
    heads = ["name", "status", "created", "duration", *metrics]
    selected = set(widget.selected)
    rows = widget.rows[:STATIC_ROWS]
    out = ["<table style='border-collapse:collapse;font-size:12px;margin:4px 0'><thead><tr>"
           + "".join(f"<th style='{_CELL}'>{e(h)}</th>" for h in ["", *heads]) + "</tr></thead><tbody>"]
    for row in rows:
        color = str(row.get("color") or "transparent")
        mark = "✓" if row["id"] in selected else ""
        weight = ";font-weight:600" if mark else ""
        name = f"<span style='{_SWATCH.format(e(color))}'></span>{e(str(row.get('name')))}"
        cells = [mark, name] + [e(_cell(c, row.get(c))) for c in columns[1:]]
        out.append(f"<tr data-run='{e(str(row['id']))}' style='{weight.lstrip(';')}'>"
                   + "".join(f"<td style='{_CELL}'>{c}</td>" for c in cells) + "</tr>")
    out.append("</tbody></table>")
    if widget.total > len(rows):
        out.append(f"<div style='opacity:0.7'>{len(rows)} of {widget.total} runs shown</div>")
    return "".join(out)


def charts_picture(widget: CompareWidget) -> str:
    """The selected runs' metric charts, by section, as a PNG data URI ("" with none)."""
    from ..charts.metrics import metric_charts, metric_data
    from ._static import png_data_uri

    ids = list(widget.selected)[:widget.max_overlay]
    if not ids:
        return ""
    data = metric_data(ids, max_points=STATIC_POINTS, store=widget._store)
    if data.empty:
        return ""
    options: dict[str, Any] = {"smoothing": widget.smoothing, "log_scale": widget.log_scale,
                               "width": 280, "height": 170}
    if widget.x != "step":
        options["x"] = widget.x
    return png_data_uri(metric_charts(data, columns=3, **options))


def compare_picture(widget: CompareWidget) -> dict[str, str]:
    """``{"text/html": ..., "text/plain": ...}``: the widget as a still picture."""
    e = html.escape
    chosen = len(widget.selected)
    runs = f"{widget.total} run{'s' if widget.total != 1 else ''}"
    head = (f"<b>nbtrack compare</b> · {runs}"
            f"{f' · {chosen} selected' if chosen else ''}"
            " <span style='opacity:0.7'>(a still picture: run the cell for the live widget)</span>")
    parts = [f"<div class='nbtrack-compare-static'><div>{head}</div>", table_html(widget)]
    image = charts_picture(widget)
    if image:
        parts.append(f"<img alt='{e('charts of the selected runs')}' src='{image}' "
                     "style='max-width:100%;height:auto'>")
    parts.append("</div>")
    names = ", ".join(str(r.get("name")) for r in widget.rows[:10])
    runs = f"{widget.total} run{'s' if widget.total != 1 else ''}"
    text = f"nbtrack compare: {runs} ({names}{', ...' if widget.total > 10 else ''})"
    return {"text/html": "".join(parts), "text/plain": text}
