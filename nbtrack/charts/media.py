"""Views of logged media shared by every front-end: histograms over time, image grids, tables.

Compute functions take the DataFrame of :func:`nbtrack.media` and return plain data;
:func:`histogram_chart` renders a histogram series as an Altair heatmap (steps down,
values across, counts as colour), TensorBoard's "distribution over time" in one picture.
"""

from __future__ import annotations

import base64
import html
import mimetypes
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from ._base import WIDTH, altair, empty

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["histogram_chart", "histogram_data", "image_grid", "pick_steps", "table_preview",
           "data_uri", "table_html"]

#: Rows of a histogram-over-time chart: more steps than this are thinned evenly.
MAX_HISTOGRAM_STEPS = 60


def pick_steps(steps: Sequence[int], limit: int) -> list[int]:
    """At most ``limit`` of the distinct ``steps``, evenly spread, first and last kept.

    Example
    -------
    >>> pick_steps(range(10), 4)
    [0, 3, 6, 9]
    """
    distinct = sorted(set(int(s) for s in steps))
    if len(distinct) <= limit:
        return distinct
    if limit <= 1:
        return distinct[-1:]
    last = len(distinct) - 1
    return sorted({distinct[round(i * last / (limit - 1))] for i in range(limit)})


def histogram_data(media: pd.DataFrame, key: str, run_id: str | None = None,
                   max_steps: int = MAX_HISTOGRAM_STEPS) -> pd.DataFrame:
    """One row per bin per (thinned) step: ``run_id, step, lo, hi, count``."""
    from ..rich_media import histogram_frame

    rows = media[(media["kind"] == "histogram") & (media["key"] == key)]
    if run_id is not None:
        rows = rows[rows["run_id"] == run_id]
    keep = set(pick_steps(rows["step"].tolist(), max_steps))
    rows = rows[rows["step"].isin(keep)]
    # the last histogram logged at a step wins (a re-logged step replaces)
    rows = rows.drop_duplicates(["run_id", "step"], keep="last")
    return histogram_frame(rows)[["run_id", "step", "lo", "hi", "count"]]


def histogram_chart(data: pd.DataFrame, *, title: str = "", width: int = WIDTH) -> Any:
    """Histogram over time: a heatmap with one band per step (latest at the bottom)."""
    alt = altair()
    if data.empty:
        return empty(f"no histograms logged for {title}" if title else "no histograms logged")
    steps = sorted(data["step"].unique())
    height = max(60, min(12 * len(steps), 360))
    return (
        alt.Chart(data)
        .mark_rect()
        .encode(
            x=alt.X("lo:Q", title="value"),
            x2="hi:Q",
            y=alt.Y("step:O", title="step", sort=steps),
            color=alt.Color("count:Q", title="count", scale=alt.Scale(scheme="blues")),
            tooltip=[alt.Tooltip("step:O"), alt.Tooltip("lo:Q", format=".4g"),
                     alt.Tooltip("hi:Q", format=".4g"), alt.Tooltip("count:Q")],
        )
        .properties(width=width, height=height, title=title)
    )


def image_grid(media: pd.DataFrame, key: str, run_id: str | None = None,
               max_steps: int = 8, max_per_step: int = 16) -> list[dict[str, Any]]:
    """The images of one key to show: evenly chosen steps, in order; one dict per image.

    Each dict: ``run_id, step, idx, path, caption, width, height``; a front-end turns
    ``path`` into a URL or a data URI (:func:`data_uri`).
    """
    rows = media[(media["kind"] == "image") & (media["key"] == key)]
    if run_id is not None:
        rows = rows[rows["run_id"] == run_id]
    keep = set(pick_steps(rows["step"].tolist(), max_steps))
    out = []
    for row in rows[rows["step"].isin(keep) & (rows["idx"] < max_per_step)].itertuples(index=False):
        meta = row.meta or {}
        out.append({"run_id": row.run_id, "step": int(row.step), "idx": int(row.idx), "path": row.path,
                    "caption": row.caption, "width": meta.get("width"), "height": meta.get("height")})
    return out


def data_uri(path: str) -> str:
    """A file as a ``data:`` URI, for self-contained HTML."""
    kind = mimetypes.guess_type(path)[0] or "application/octet-stream"
    with open(path, "rb") as handle:
        return f"data:{kind};base64,{base64.b64encode(handle.read()).decode('ascii')}"


def table_preview(row: Any, max_rows: int = 50) -> tuple[list[str], list[list[Any]], int]:
    """(columns, first rows, total rows) of a logged table row of :func:`nbtrack.media`."""
    from ..rich_media import load_media

    frame = load_media(row)
    head = frame.head(max_rows).astype(object).where(frame.head(max_rows).notna(), None)
    return [str(c) for c in frame.columns], head.values.tolist(), len(frame)


def table_html(columns: Sequence[str], rows: Sequence[Sequence[Any]], total: int) -> str:
    """An escaped HTML table of a preview; says how many rows were left out."""
    esc = html.escape
    head = "".join(f"<th>{esc(str(c), quote=True)}</th>" for c in columns)
    body = "".join(
        "<tr>" + "".join(f"<td>{'' if v is None else esc(str(v), quote=True)}</td>" for v in row) + "</tr>"
        for row in rows)
    more = f"<p class='nbtrack-more'>{total - len(rows):,} more rows</p>" if total > len(rows) else ""
    return f"<table class='nbtrack-table'><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>{more}"
