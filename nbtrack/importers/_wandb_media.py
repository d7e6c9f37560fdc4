"""W&B history values that become nbtrack media: histograms, images, tables and text.

In a history row W&B keeps a rich value as a dict with a ``_type``; an image or a
table is a file under the run's ``files/`` folder, named by ``path`` relative to it
(``media/images/img_0_ab12.png``). Offline runs keep those files, so they are read
from there; a value whose file is gone is not imported and the report says why.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from ..errors import NbtrackError
from ..rich_media import Histogram, Image, Table, Text
from ..rich_media._types import MAX_BINS
from ._media import merge_bins

__all__ = ["convert"]


class Unreadable(Exception):
    """A rich value we cannot import; its message is the report's line for it."""


def convert(value: Any, files: Path) -> Any:
    """The nbtrack value for one W&B history value (a ``_type`` dict or a str).

    Raises :class:`Unreadable` naming what was not imported and why.

    Example
    -------
    >>> convert({"_type": "histogram", "values": [1, 2], "bins": [0, 1, 3]}, Path("files")).edges
    [0.0, 1.0, 3.0]
    """
    if isinstance(value, str):
        return Text(value)
    kind = value.get("_type")
    reader = _READERS.get(kind)
    if reader is None:
        raise Unreadable(f"{kind} values (nbtrack has no such media)")
    try:
        return reader(value, files)
    except Unreadable:
        raise
    except (NbtrackError, ValueError, TypeError, KeyError, OSError) as exc:
        raise Unreadable(f"{kind} values that could not be read ({type(exc).__name__})") from None


def _histogram(value: dict[str, Any], files: Path) -> Histogram:
    counts = [float(c) for c in value["values"]]
    packed = value.get("packedBins")
    if packed:  # wandb.watch: equal bins given by their start, width and number
        start, size = float(packed["min"]), float(packed["size"])
        edges = [start + size * i for i in range(int(packed["count"]) + 1)]
    else:
        edges = [float(e) for e in value["bins"]]
    counts, edges = merge_bins(counts, edges, MAX_BINS)
    return Histogram(np_histogram=(counts, edges))


def _image(value: dict[str, Any], files: Path) -> Image:
    return Image(_file(files, value["path"], "image-file"), caption=value.get("caption"))


def _images(value: dict[str, Any], files: Path) -> list[Image]:
    # A list of images logged under one key: wandb.log({"samples": [img, img]}).
    names = value.get("filenames") or []
    captions = value.get("captions") or [None] * len(names)
    if not names or len(captions) != len(names):
        raise Unreadable("images/separated values without their file names")
    return [Image(_file(files, name, "images/separated"), caption=None if c is None else str(c))
            for name, c in zip(names, captions)]


def _table(value: dict[str, Any], files: Path) -> Table:
    body = json.loads(_file(files, value["path"], "table-file").read_text(encoding="utf-8"))
    return Table(columns=body["columns"], data=body["data"])


def _file(files: Path, relative: str, kind: str) -> Path:
    path = (files / relative).resolve()
    if files.resolve() not in path.parents:  # a path must not leave the run's folder
        raise Unreadable(f"{kind} values with a path outside the run's files/ folder")
    if not path.is_file():
        raise Unreadable(f"{kind} values whose file is not in the run's files/ folder")
    return path


_READERS = {"histogram": _histogram, "image-file": _image, "images/separated": _images,
            "table-file": _table}
