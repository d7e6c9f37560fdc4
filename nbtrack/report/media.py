"""The report's media part: logged images, histograms, tables and texts of each run.

Images are embedded as ``data:`` URIs, so the page stays one file that opens offline;
a byte budget keeps it small: each image key shows a few evenly spread steps (the
shared :func:`nbtrack.charts.media.image_grid` picks them), and once the budget is
spent further images are left out and counted. The page says what was left out.
Histograms are the shared histogram-over-time chart, rendered like every other chart.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from markupsafe import Markup

from .specs import CHART_WIDTH, ChartSpec, chart_spec

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["ImageKey", "MediaBudget", "RunMedia", "media_parts"]

#: Total bytes of image files embedded in one report (base64 adds a third on top).
MAX_IMAGE_BYTES = 6 * 1024 * 1024
#: Steps shown per image key, and images shown per step.
IMAGE_STEPS = 8
IMAGES_PER_STEP = 8
TABLE_ROWS = 20
TEXT_SAMPLES = 3
TEXT_CHARS = 2000


@dataclass
class MediaBudget:
    """Bytes of images still allowed on the page, and what did not fit."""

    left: int = MAX_IMAGE_BYTES
    skipped: int = 0

    def take(self, size: int) -> bool:
        if size > self.left:
            self.skipped += 1
            return False
        self.left -= size
        return True


@dataclass
class ImageKey:
    """One image key of one run: the images shown, grouped by step, and what was left out."""

    key: str
    steps: list[tuple[int, list[dict[str, Any]]]]
    logged: int  # images logged under this key
    logged_steps: int
    shown: int = 0
    over_budget: int = 0

    @property
    def left_out(self) -> int:
        return self.logged - self.shown


@dataclass
class RunMedia:
    """Everything one run logged besides scalars, ready for the template."""

    run_id: str
    name: str
    images: list[ImageKey] = field(default_factory=list)
    histograms: list[ChartSpec] = field(default_factory=list)
    tables: list[dict[str, Any]] = field(default_factory=list)
    texts: list[dict[str, Any]] = field(default_factory=list)


def _images(media: pd.DataFrame, run_id: str, key: str, budget: MediaBudget) -> ImageKey:
    from ..charts.media import data_uri, image_grid

    rows = media[(media["run_id"] == run_id) & (media["key"] == key)]
    part = ImageKey(key, [], logged=len(rows), logged_steps=rows["step"].nunique())
    by_step: dict[int, list[dict[str, Any]]] = {}
    for image in image_grid(media, key, run_id, max_steps=IMAGE_STEPS, max_per_step=IMAGES_PER_STEP):
        try:
            size = os.path.getsize(image["path"])
        except (OSError, TypeError):
            continue  # a file gone from the store is left out (and counted)
        if not budget.take(size):
            part.over_budget += 1
            continue
        by_step.setdefault(image["step"], []).append({**image, "src": data_uri(image["path"])})
        part.shown += 1
    part.steps = sorted(by_step.items())
    return part


def _histogram(media: pd.DataFrame, run_id: str, key: str) -> ChartSpec:
    from ..charts.media import histogram_chart, histogram_data

    data = histogram_data(media, key, run_id)
    return ChartSpec(key, chart_spec(histogram_chart(data, title=key, width=CHART_WIDTH)))


def _table(rows: pd.DataFrame, key: str) -> dict[str, Any]:
    """The latest table of a key, as the shared escaped HTML preview."""
    from ..charts.media import table_html, table_preview

    latest = rows.iloc[-1]
    columns, head, total = table_preview(latest, max_rows=TABLE_ROWS)
    # table_html escapes every column name and cell (html.escape, quote=True).
    return {"key": key, "step": int(latest["step"]), "steps": rows["step"].nunique(),
            "html": Markup(table_html(columns, head, total))}


def _texts(rows: pd.DataFrame, key: str) -> dict[str, Any]:
    """The latest few texts of a key, newest first, each cut to a readable length."""
    from ..rich_media import load_media

    samples = []
    for _, row in rows.iloc[::-1].head(TEXT_SAMPLES).iterrows():
        text = load_media(row) or ""
        cut = max(0, len(text) - TEXT_CHARS)
        samples.append({"step": int(row["step"]), "text": text[:TEXT_CHARS], "cut": cut})
    return {"key": key, "samples": samples, "logged": len(rows)}


def media_parts(runs: pd.DataFrame, store: Any, budget: MediaBudget | None = None) -> list[RunMedia]:
    """The media of each selected run that logged any, in the order of ``runs``."""
    from ..rich_media import media as read_media

    ids = [str(i) for i in runs["id"]]
    if not ids:
        return []
    media = read_media(ids, store=store)
    if media.empty:
        return []
    budget = budget or MediaBudget()
    names = dict(zip(ids, (str(n) for n in runs["name"])))
    out = []
    for run_id in (i for i in ids if i in set(media["run_id"])):
        mine = media[media["run_id"] == run_id]
        part = RunMedia(run_id, names[run_id])
        for (kind, key), rows in mine.groupby(["kind", "key"], sort=True):
            if kind == "image":
                part.images.append(_images(media, run_id, str(key), budget))
            elif kind == "histogram":
                part.histograms.append(_histogram(media, run_id, str(key)))
            elif kind == "table":
                part.tables.append(_table(rows, str(key)))
            elif kind == "text":
                part.texts.append(_texts(rows, str(key)))
        out.append(part)
    return out
