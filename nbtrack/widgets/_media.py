"""Logged media in the live panel: what is new since the last update, bounded, and its picture.

The run hands the panel its media rows as they are stored (``("media", rows)`` events);
:class:`LiveMedia` keeps only what the panel shows: per image key the images of the
latest step (at most ``max_images``, each at most ``max_image_bytes``, scaled down
otherwise), per histogram key a thinned set of steps (its chart rebuilt at most every
``histogram_every`` seconds), and the latest text and table per key. Each update sends
only the keys that changed, the image bytes as binary buffers. Charts and previews come
from :mod:`nbtrack.charts.media`, as in every other front-end.
"""

from __future__ import annotations

import json
import time
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .._run import Run
    from ..store.base import StoreBase

__all__ = ["LiveMedia", "picture_parts"]

#: Histogram bins drawn in one live chart, at most (steps x bins); fewer steps for wide histograms.
_HISTOGRAM_CELLS = 4000
#: Characters of a text sent to the panel; the store keeps all of it.
TEXT_CHARS = 2000
#: Table rows previewed live and in the picture.
TABLE_ROWS = 20
PICTURE_TABLE_ROWS = 10
#: Bytes of images (as data URIs) a saved picture may hold; past it, images are left out.
PICTURE_IMAGE_BUDGET = 200_000


class LiveMedia:
    """What a live panel shows of a run's media; see the module docstring.

    Example
    -------
    >>> media = LiveMedia(run._store)          # doctest: +SKIP
    >>> media.add(rows); media.update(time.time())  # doctest: +SKIP
    """

    def __init__(self, store: StoreBase, *, max_images: int = 8, max_image_bytes: int = 200_000,
                 max_image_side: int = 512, max_keys: int = 12, histogram_steps: int = 30,
                 histogram_every: float = 1.5, chart_width: int = 280) -> None:
        self.store = store
        self.max_images = max_images
        self.max_image_bytes = max_image_bytes
        self.max_image_side = max_image_side
        self.max_keys = max_keys
        self.histogram_steps = histogram_steps
        self.histogram_every = histogram_every
        self.chart_width = chart_width
        self._images: dict[str, tuple[int, list[tuple[Any, ...]]]] = {}
        self._histograms: dict[str, dict[int, str]] = {}
        self._latest: dict[str, Any] = {}  # text and table keys: the latest row (a tuple)
        self._dirty: set[str] = set()
        self._histograms_dirty: set[str] = set()
        self._histograms_at = 0.0
        self.hidden: set[str] = set()

    @property
    def pending(self) -> bool:
        """Whether something changed that the panel has not been sent yet."""
        return bool(self._dirty or self._histograms_dirty)

    def _room(self, key: str, known: Any) -> bool:
        if key in known:
            return True
        shown = len(self._images) + len(self._histograms) + len(self._latest)
        if shown >= self.max_keys:
            self.hidden.add(key)
            return False
        return True

    def add(self, rows: list[tuple[Any, ...]]) -> None:
        """Take stored media rows ``(run_id, key, step, idx, time, kind, digest, path, meta, data)``."""
        for row in rows:
            key, step, kind = row[1], row[2], row[5]
            if kind == "image":
                if not self._room(key, self._images):
                    continue
                current = self._images.get(key)
                if current is None or step > current[0]:
                    self._images[key] = (step, [row])
                elif step == current[0] and len(current[1]) < self.max_images:
                    current[1].append(row)
                else:
                    continue  # an older step, or more images than the panel shows
                self._dirty.add(key)
            elif kind == "histogram":
                if not self._room(key, self._histograms):
                    continue
                steps = self._histograms.setdefault(key, {})
                steps[step] = row[9]
                if len(steps) > 4 * self.histogram_steps:  # bounded memory: thin as it grows
                    from ..charts.media import pick_steps

                    keep = set(pick_steps(list(steps), 2 * self.histogram_steps))
                    self._histograms[key] = {s: d for s, d in steps.items() if s in keep}
                self._histograms_dirty.add(key)
            elif kind in ("text", "table"):
                if not self._room(key, self._latest):
                    continue
                current = self._latest.get(key)
                if current is None or step >= current[2]:
                    self._latest[key] = row
                    self._dirty.add(key)

    def update(self, now: float) -> tuple[dict[str, Any], list[bytes]] | None:
        """The ``media`` message for what changed (and its image buffers), or ``None``."""
        message: dict[str, Any] = {"type": "media", "images": {}, "histograms": {}, "texts": {},
                                   "tables": {}, "hidden": len(self.hidden)}
        buffers: list[bytes] = []
        for key in sorted(self._dirty):
            if key in self._images:
                message["images"][key] = self._image_part(key, buffers)
            elif key in self._latest:
                row = self._latest[key]
                if row[5] == "text":
                    message["texts"][key] = self._text_part(row)
                else:
                    message["tables"][key] = self._table_part(row)
        self._dirty.clear()
        if self._histograms_dirty and now - self._histograms_at >= self.histogram_every:
            for key in sorted(self._histograms_dirty):
                message["histograms"][key] = self._histogram_spec(key)
            self._histograms_dirty.clear()
            # From the end of the build: a slow build (a first Altair import) waits as long.
            self._histograms_at = max(now, time.time())
        if not any(message[part] for part in ("images", "histograms", "texts", "tables")):
            return None
        return message, buffers

    def _image_part(self, key: str, buffers: list[bytes]) -> dict[str, Any]:
        from ..charts.media import thumbnail_bytes

        step, rows = self._images[key]
        items = []
        for row in sorted(rows, key=lambda r: r[3]):
            meta = json.loads(row[8]) if row[8] else {}
            data, mime = thumbnail_bytes(str(self.store.blob_file(row[7])), self.max_image_side,
                                         self.max_image_bytes)
            items.append({"idx": row[3], "caption": meta.get("caption"), "mime": mime,
                          "width": meta.get("width"), "height": meta.get("height"),
                          "buffer": len(buffers)})
            buffers.append(data)
        return {"step": step, "items": items}

    def _text_part(self, row: tuple[Any, ...]) -> dict[str, Any]:
        text = row[9]
        if text is None and row[7]:
            with open(self.store.blob_file(row[7]), encoding="utf-8") as handle:
                text = handle.read(TEXT_CHARS + 1)
        meta = json.loads(row[8]) if row[8] else {}
        text = str(text or "")
        return {"step": row[2], "text": text[:TEXT_CHARS], "chars": meta.get("chars", len(text))}

    def _table_part(self, row: tuple[Any, ...]) -> dict[str, Any]:
        from ..charts.media import table_preview

        source = {"kind": "table", "path": str(self.store.blob_file(row[7])), "data": None}
        columns, rows, total = table_preview(source, max_rows=TABLE_ROWS)
        return {"step": row[2], "columns": columns, "rows": _json_rows(rows), "total": total}

    def _histogram_spec(self, key: str) -> dict[str, Any]:
        import pandas as pd

        from ..charts._base import altair
        from ..charts.media import histogram_chart, histogram_data

        steps = self._histograms[key]
        frame = pd.DataFrame({"run_id": "live", "key": key, "kind": "histogram",
                              "step": list(steps), "data": [json.loads(d) for d in steps.values()]})
        bins = max((len(d["counts"]) for d in frame["data"]), default=1)
        limit = max(2, min(self.histogram_steps, _HISTOGRAM_CELLS // max(bins, 1)))
        data = histogram_data(frame, key, max_steps=limit)[["step", "lo", "hi", "count"]]
        chart = histogram_chart(data, title=key, width=self.chart_width)
        with altair().data_transformers.disable_max_rows():
            spec: dict[str, Any] = chart.to_dict()
        return spec


def _json_rows(rows: list[list[Any]]) -> list[list[Any]]:
    """Table cells as JSON takes them: NaN and infinity as null, other odd values as text."""
    out = []
    for row in rows:
        cells = []
        for value in row:
            if (isinstance(value, float) and value != value) or value in (float("inf"), float("-inf")):
                value = None
            elif value is not None and not isinstance(value, (bool, int, float, str)):
                value = str(value)
            cells.append(value)
        out.append(cells)
    return out


def picture_parts(run: Run, *, width: int = 280, image_size: int = 96) -> list[Any]:
    """Charts of the run's media for its saved picture: latest images, histograms over time,
    latest text and table per key; images within :data:`PICTURE_IMAGE_BUDGET` bytes."""
    import base64

    from ..charts.media import (
        histogram_chart,
        histogram_data,
        image_grid,
        image_strip,
        table_chart,
        table_preview,
        text_chart,
        thumbnail_bytes,
    )
    from ..rich_media import media

    frame = media(run.id, store=run._store)
    if frame.empty:
        return []
    parts: list[Any] = []
    budget = PICTURE_IMAGE_BUDGET
    for key in sorted(set(frame.loc[frame["kind"] == "image", "key"])):
        items = image_grid(frame, key, max_steps=1, max_per_step=8)
        uris: list[str] = []
        for item in items:
            data, mime = thumbnail_bytes(item["path"], max_side=image_size, max_bytes=8_000)
            uri = f"data:{mime};base64,{base64.b64encode(data).decode('ascii')}"
            if len(uri) > budget:
                break
            budget -= len(uri)
            uris.append(uri)
        if uris:
            step = items[0]["step"]
            parts.append(image_strip(items[:len(uris)], uris, title=f"{key} · step {step:,}",
                                     size=image_size))
    for key in sorted(set(frame.loc[frame["kind"] == "histogram", "key"])):
        parts.append(histogram_chart(histogram_data(frame, key, max_steps=16), title=key, width=width))
    latest = frame[frame["kind"].isin(["text", "table"])].drop_duplicates("key", keep="last")
    for _, row in latest.iterrows():
        title = f"{row['key']} · step {int(row['step']):,}"
        if row["kind"] == "text":
            from ..rich_media import load_media

            parts.append(text_chart(load_media(row), title=title, width=2 * width))
        else:
            columns, rows, total = table_preview(row, max_rows=PICTURE_TABLE_ROWS)
            parts.append(table_chart(columns, rows, total, title=title))
    return parts
