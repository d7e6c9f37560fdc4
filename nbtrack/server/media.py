"""What the sidebar reads about a run's media and artifacts, as JSON-ready dicts.

Image files are served by run id, key, step and position, looked up in the store's
media rows, never by a path the browser sends; the blob key a row holds is resolved
by the store (:meth:`~nbtrack.store.base.StoreBase.blob_file` refuses keys that leave
it) and the file must also lie under the Jupyter root. Histogram charts are the chart
module's spec (``histogram_chart``); table previews and texts travel as data, which
the panel puts on the page with ``textContent`` only.
"""

from __future__ import annotations

import mimetypes
from pathlib import Path
from typing import Any

from ..errors import NbtrackError
from ..formatting import json_safe
from ..store import get_store
from .paths import PathRefused, Root

__all__ = ["IMAGE_TYPES", "artifacts", "media_file", "run_media"]

#: What an image file may be served as (the store writes PNG, JPEG, GIF or WebP).
IMAGE_TYPES = {"image/png", "image/jpeg", "image/gif", "image/webp"}
TABLE_ROWS = 20
TEXT_SAMPLES = 5
TEXT_CHARS = 4000


def _rows(store: Path, run_id: str, key: str | None = None) -> Any:
    from ..rich_media import media

    return media([run_id], key, store=get_store(store))


def _images(rows: Any) -> dict[str, Any]:
    """Steps of an image key, and per step the images (idx, caption, size)."""
    steps: dict[int, list[dict[str, Any]]] = {}
    for row in rows.itertuples(index=False):
        meta = row.meta or {}
        steps.setdefault(int(row.step), []).append(
            {"idx": int(row.idx), "caption": row.caption, "width": meta.get("width"),
             "height": meta.get("height")})
    return {"steps": sorted(steps), "images": {str(s): v for s, v in sorted(steps.items())}}


def _histogram(rows: Any, run_id: str, key: str, width: int) -> dict[str, Any]:
    from ..charts._base import altair
    from ..charts.media import histogram_chart, histogram_data

    data = histogram_data(rows, key, run_id)
    with altair().data_transformers.disable_max_rows():  # thinned to a few dozen steps
        spec = histogram_chart(data, title=key, width=width).to_dict()
    return {"steps": sorted(int(s) for s in set(rows["step"])), "spec": spec}


def _table(rows: Any) -> dict[str, Any]:
    from ..charts.media import table_preview

    latest = rows.iloc[-1]
    columns, head, total = table_preview(latest, max_rows=TABLE_ROWS)
    return {"steps": sorted(int(s) for s in set(rows["step"])), "step": int(latest["step"]),
            "columns": columns, "rows": head, "total": total}


def _texts(rows: Any) -> dict[str, Any]:
    from ..rich_media import load_media

    samples = []
    for _, row in rows.iloc[::-1].head(TEXT_SAMPLES).iterrows():
        text = load_media(row) or ""
        samples.append({"step": int(row["step"]), "text": text[:TEXT_CHARS],
                        "cut": max(0, len(text) - TEXT_CHARS)})
    return {"steps": sorted(int(s) for s in set(rows["step"])), "samples": samples}


def run_media(store: Path, run_id: str, *, width: int = 260) -> dict[str, Any]:
    """Every media key of one run: its kind, steps, and what the panel needs to show it.

    Images list steps and per step the images (fetched one by one from ``media/file``);
    a histogram brings the chart module's Vega-Lite spec; a table its latest rows; a
    text key its latest samples.
    """
    frame = _rows(store, run_id)
    keys = []
    for (kind, key), rows in frame.groupby(["kind", "key"], sort=True):
        entry: dict[str, Any] = {"key": str(key), "kind": str(kind), "count": len(rows)}
        if kind == "image":
            entry.update(_images(rows))
        elif kind == "histogram":
            entry.update(_histogram(rows, run_id, str(key), width))
        elif kind == "table":
            entry.update(_table(rows))
        elif kind == "text":
            entry.update(_texts(rows))
        keys.append(entry)
    order = {"image": 0, "histogram": 1, "table": 2, "text": 3}
    keys.sort(key=lambda e: (order.get(e["kind"], 9), e["key"]))
    result: dict[str, Any] = json_safe({"run": run_id, "keys": keys})
    return result


def media_file(store: Path, root: Root, run_id: str, key: str, step: int, idx: int) -> tuple[Path, str]:
    """The image file logged by ``run_id`` under ``key`` at ``step`` (``idx`` in a list), and its type.

    Raises :class:`PathRefused` (404) when there is no such image, (403) when the row's
    file lies outside the store or the Jupyter root.
    """
    try:
        rows = _rows(store, run_id, key)
    except ValueError:  # a row whose path leaves the store folder
        raise PathRefused(403, "that media file lies outside its store") from None
    rows = rows[(rows["kind"] == "image") & (rows["step"] == step) & (rows["idx"] == idx)]
    if rows.empty:
        raise PathRefused(404, f"run {run_id!r} logged no image {key!r} at step {step}, index {idx}")
    path = Path(str(rows["path"].iloc[-1]))  # a step logged twice: the last one wins
    if not root.contains(path) or not path.is_file():
        raise PathRefused(404 if root.contains(path) else 403, "the image file is not available")
    kind = mimetypes.guess_type(path.name)[0] or ""
    if kind not in IMAGE_TYPES:
        raise PathRefused(415, f"not an image this API serves: {kind or 'unknown type'}")
    return path, kind


def artifacts(store: Path, run_id: str | None = None) -> dict[str, Any]:
    """Artifact versions (all, or those one run made or used) with their lineage edges."""
    from ..registry import artifacts as versions
    from ..registry import lineage

    chosen = get_store(store)
    if run_id:
        check_run(store, run_id)
    edges = lineage(store=chosen)
    table = versions(store=chosen)
    if run_id:
        mine = edges[edges["run_id"] == run_id]
        touched = set(zip(mine["name"], (int(v) for v in mine["version"])))
        table = table[[(n, int(v)) in touched for n, v in zip(table["name"], table["version"])]]
    rows = []
    for row in table.to_dict("records"):
        mine = edges[(edges["name"] == row["name"]) & (edges["version"] == row["version"])]
        rows.append({
            "ref": f"{row['name']}:v{int(row['version'])}", "name": row["name"], "version": row["version"],
            "type": row["type"], "size": row["size"], "files": row["files"], "source": row["source"],
            "aliases": list(row["aliases"]) if row["aliases"] is not None else [],
            "created_at": row["created_at"],
            "producer": ({"id": row["run_id"], "name": row["run_name"]}
                         if isinstance(row["run_id"], str) else None),
            "consumers": [{"id": r, "name": n, "status": s} for r, n, s, role in
                          zip(mine["run_id"], mine["run_name"], mine["run_status"], mine["role"])
                          if role == "input"],
        })
    result: dict[str, Any] = json_safe({"artifacts": rows})
    return result


def check_run(store: Path, run_id: str) -> None:
    """Raise "no run" (a 404) for an unknown run id."""
    from ..selection import Selection

    if get_store(store).count_runs(Selection(ids=(run_id,))) == 0:
        raise NbtrackError(f"no run with id {run_id!r} in this store")
