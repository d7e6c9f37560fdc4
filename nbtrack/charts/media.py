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

from ._base import NUMBER_FORMAT, WIDTH, altair, empty

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["histogram_chart", "histogram_data", "image_grid", "pick_steps", "table_preview",
           "data_uri", "table_html", "thumbnail_bytes", "image_strip", "text_chart", "table_chart"]

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
            tooltip=[alt.Tooltip("step:O"), alt.Tooltip("lo:Q", format=NUMBER_FORMAT),
                     alt.Tooltip("hi:Q", format=NUMBER_FORMAT), alt.Tooltip("count:Q")],
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


# -- pictures of media (appended for the live panel's saved picture; nbtrack/widgets) ------------
#: Longest side of an image in a saved picture; bigger images are scaled down.
THUMBNAIL_SIDE = 128


def thumbnail_bytes(path: str, max_side: int = THUMBNAIL_SIDE,
                    max_bytes: int = 64_000) -> tuple[bytes, str]:
    """``(bytes, MIME type)`` of an image file, scaled down to fit ``max_side`` when it is
    bigger than that or than ``max_bytes``; small files come back as they are. A scaled
    image still over ``max_bytes`` (photos, noise) is sent as JPEG when that is smaller.

    Example
    -------
    >>> data, mime = thumbnail_bytes(row.path, max_side=96)  # doctest: +SKIP
    """
    import io

    import PIL.Image

    with open(path, "rb") as handle:
        data = handle.read()
    kind = mimetypes.guess_type(path)[0] or "image/png"
    with PIL.Image.open(io.BytesIO(data)) as opened:
        if max(opened.size) <= max_side and len(data) <= max_bytes:
            return data, kind
        image: PIL.Image.Image = opened
        image.thumbnail((max_side, max_side))
        if image.mode not in ("RGB", "RGBA", "L", "LA"):
            image = image.convert("RGBA")
        out = io.BytesIO()
        image.save(out, format="PNG", optimize=True)
        if out.tell() <= max_bytes or image.mode not in ("RGB", "L"):
            return out.getvalue(), "image/png"
        jpeg = io.BytesIO()
        image.save(jpeg, format="JPEG", quality=80)
    if jpeg.tell() < out.tell():
        return jpeg.getvalue(), "image/jpeg"
    return out.getvalue(), "image/png"


def image_strip(items: Sequence[dict[str, Any]], uris: Sequence[str], *, title: str = "",
                size: int = 96) -> Any:
    """Render: images side by side (``uris``, e.g. :func:`data_uri`), captions under them.

    ``items`` are dicts of :func:`image_grid` (``caption``, ``idx``); a missing caption
    shows the image's position. Captions are data, so every renderer shows them as text.
    """
    alt = altair()
    import pandas as pd

    if not items:
        return empty(f"no images logged for {title}" if title else "no images logged")
    frame = pd.DataFrame({
        "slot": list(range(len(items))),
        "url": list(uris),
        "caption": [str(i.get("caption")) if i.get("caption") is not None else f"#{i.get('idx', n)}"
                    for n, i in enumerate(items)],
    })
    base = alt.Chart(frame).encode(x=alt.X("slot:O", axis=None))
    # aria=False: Vega would otherwise repeat each data URI in an aria-label (twice the size).
    image = base.mark_image(width=size, height=size, aria=False).encode(
        url="url:N", y=alt.value(size / 2))
    caption = base.mark_text(baseline="top", fontSize=10, limit=size).encode(
        text="caption:N", y=alt.value(size + 4))
    return alt.layer(image, caption).properties(
        width=len(items) * (size + 8), height=size + 16, title=title,
        view=alt.ViewBackground(stroke=None))


def text_chart(text: str, *, title: str = "", width: int = WIDTH, max_lines: int = 12) -> Any:
    """Render: a piece of logged text, wrapped to ``width`` pixels, at most ``max_lines`` lines."""
    import textwrap

    alt = altair()
    import pandas as pd

    per_line = max(width // 7, 20)
    lines: list[str] = []
    for paragraph in str(text).splitlines() or [""]:
        lines.extend(textwrap.wrap(paragraph, per_line) or [""])
    if len(lines) > max_lines:
        lines = [*lines[:max_lines - 1], f"… ({len(lines) - max_lines + 1} more lines)"]
    frame = pd.DataFrame({"line": list(range(len(lines))), "text": lines})
    return (
        alt.Chart(frame)
        .mark_text(align="left", baseline="top", fontSize=11, font="monospace")
        .encode(x=alt.value(0), y=alt.Y("line:O", axis=None), text="text:N")
        .properties(width=width, height=14 * len(lines), title=title,
                    view=alt.ViewBackground(stroke=None))
    )


def table_chart(columns: Sequence[str], rows: Sequence[Sequence[Any]], total: int, *,
                title: str = "", cell_width: int = 90, max_chars: int = 16) -> Any:
    """Render: a table preview (:func:`table_preview`) as a grid of text, for static pictures."""
    alt = altair()
    import pandas as pd

    records = []
    for r, row in enumerate(rows):
        for c, value in enumerate(row):
            text = "" if value is None else str(value)
            records.append({"row": r, "column": str(columns[c]),
                            "text": text if len(text) <= max_chars else text[:max_chars - 1] + "…"})
    if not records:
        return empty(f"{title}: empty table" if title else "empty table")
    more = f"{total - len(rows):,} more rows" if total > len(rows) else ""
    return (
        alt.Chart(pd.DataFrame(records))
        .mark_text(align="left", fontSize=11)
        .encode(x=alt.X("column:N", sort=[str(c) for c in columns], title=None,
                        axis=alt.Axis(orient="top", labelAngle=0, labelFontWeight="bold",
                                      labelAlign="left", ticks=False, domain=False)),
                y=alt.Y("row:O", axis=None), text="text:N")
        .properties(width=cell_width * len(columns), height=16 * len(rows),
                    title={"text": title, "subtitle": more} if more else title,
                    view=alt.ViewBackground(stroke=None))
    )
