"""The compare widget's Media part for its selected runs, built from :mod:`nbtrack.charts.media`.

Per image key, the images each run logged at one step (the latest by default), side by
side; per run, the histogram over time of a chosen key; the latest table and text of
every such key. Returns plain dicts ready for synced traits: images as small data URIs
(thumbnails), histograms as Vega-Lite specs with their thinned data inlined.
"""

from __future__ import annotations

import base64
from typing import Any

__all__ = ["media_view"]

#: Runs shown side by side, at most; images per run and step; longest side of a thumbnail.
MAX_RUNS = 8
MAX_IMAGES = 8
IMAGE_SIDE = 160
TABLE_ROWS = 20
TEXT_CHARS = 2000
_KINDS = ("image", "histogram", "table", "text")


def media_view(chosen: Any, *, image_key: str, image_step: int, histogram_key: str,
               store: Any) -> dict[str, Any]:
    """Every media trait the selection drives: ``media_keys`` (per kind), ``image_key``,
    ``histogram_key`` (made valid) and ``media`` (``images, histograms, tables, texts, note``)."""
    out: dict[str, Any] = {"media_keys": {kind: [] for kind in _KINDS}, "image_key": "",
                           "histogram_key": "", "media": {}}
    if chosen.empty:
        return out
    from ..rich_media import media

    shown = chosen.iloc[:MAX_RUNS]
    names = dict(zip(shown["id"], (str(n) for n in shown["name"])))
    frame = media(list(shown["id"]), store=store)
    if frame.empty:
        return out
    keys = {kind: sorted(set(frame.loc[frame["kind"] == kind, "key"])) for kind in _KINDS}
    out["media_keys"] = keys
    image_key = image_key if image_key in keys["image"] else (keys["image"] or [""])[0]
    histogram_key = histogram_key if histogram_key in keys["histogram"] else (keys["histogram"] or [""])[0]
    out.update(image_key=image_key, histogram_key=histogram_key)
    note = (f"{len(chosen)} runs selected: media of the first {MAX_RUNS}" if len(chosen) > MAX_RUNS else "")
    out["media"] = {
        "images": _images(frame, names, image_key, image_step) if image_key else {},
        "histograms": _histograms(frame, names, histogram_key) if histogram_key else {},
        "tables": _latest(frame, names, "table"),
        "texts": _latest(frame, names, "text"),
        "note": note,
    }
    return out


def _images(frame: Any, names: dict[str, str], key: str, step: int) -> dict[str, Any]:
    from ..charts.media import image_grid, thumbnail_bytes

    rows = frame[(frame["kind"] == "image") & (frame["key"] == key)]
    steps = sorted(set(int(s) for s in rows["step"]))
    if step not in steps:
        step = steps[-1]
    at_step = rows[rows["step"] == step]
    runs = []
    for run_id, name in names.items():
        items = []
        for item in image_grid(at_step, key, run_id=run_id, max_steps=1, max_per_step=MAX_IMAGES):
            data, mime = thumbnail_bytes(item["path"], max_side=IMAGE_SIDE, max_bytes=32_000)
            items.append({"idx": item["idx"], "caption": item["caption"],
                          "src": f"data:{mime};base64,{base64.b64encode(data).decode('ascii')}"})
        runs.append({"id": run_id, "name": name, "items": items})
    return {"key": key, "steps": steps, "step": step, "runs": runs}


def _histograms(frame: Any, names: dict[str, str], key: str) -> dict[str, Any]:
    from ..charts._base import altair
    from ..charts.media import histogram_chart, histogram_data

    alt = altair()
    charts = {}
    for run_id, name in names.items():
        data = histogram_data(frame, key, run_id=run_id, max_steps=30)
        if data.empty:
            continue
        chart = histogram_chart(data[["step", "lo", "hi", "count"]], title=f"{name} · {key}", width=280)
        with alt.data_transformers.disable_max_rows():  # thinned to 30 steps already
            charts[run_id] = chart.to_dict()
    return {"key": key, "charts": charts}


def _latest(frame: Any, names: dict[str, str], kind: str) -> list[dict[str, Any]]:
    """The latest table (a preview) or text of each key, per run."""
    from ..charts.media import table_preview
    from ..rich_media import load_media
    from ._media import _json_rows

    rows = frame[frame["kind"] == kind].drop_duplicates(["run_id", "key"], keep="last")
    out = []
    order = {run_id: i for i, run_id in enumerate(names)}
    ordered = sorted(rows.iterrows(), key=lambda item: (item[1]["key"], order.get(item[1]["run_id"], 0)))
    for _, row in ordered:
        entry = {"key": row["key"], "run": names.get(row["run_id"], row["run_id"]), "step": int(row["step"])}
        if kind == "table":
            columns, cells, total = table_preview(row, max_rows=TABLE_ROWS)
            entry.update(columns=columns, rows=_json_rows(cells), total=total)
        else:
            text = str(load_media(row))
            entry.update(text=text[:TEXT_CHARS], chars=len(text))
        out.append(entry)
    return out
