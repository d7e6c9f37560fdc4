"""Rich values from other tools' records: the conversions every importer shares.

Each returns an nbtrack media value (see :mod:`nbtrack.rich_media`) or ``None`` with
nothing stored; the importer counts what came back ``None`` in its report.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Sequence
from typing import Any

from ..rich_media import Histogram, Image
from ..rich_media._types import MAX_BINS

__all__ = ["histogram_from_buckets", "image_format", "image_from_bytes", "merge_bins"]

_MAGIC = ((b"\x89PNG\r\n\x1a\n", "png"), (b"GIF87a", "gif"), (b"GIF89a", "gif"),
          (b"\xff\xd8\xff", "jpg"), (b"BM", "bmp"))


def image_format(data: bytes) -> str | None:
    """The file suffix for encoded image bytes (png, gif, jpg, bmp, webp), else None."""
    for magic, suffix in _MAGIC:
        if data.startswith(magic):
            return suffix
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "webp"
    return None


def image_from_bytes(data: bytes, caption: str | None = None) -> Image | None:
    """An :class:`~nbtrack.Image` holding exactly these encoded bytes (no re-encoding).

    ``nbtrack.Image`` takes a file path and stores the file as it is, so the bytes go
    through a temporary file: the stored file is byte-for-byte the one the tool wrote
    (a GIF stays a GIF, with all its frames).
    """
    suffix = image_format(data)
    if suffix is None:
        return None
    fd, path = tempfile.mkstemp(suffix=f".{suffix}", prefix="nbtrack-import-")
    try:
        with os.fdopen(fd, "wb") as out:
            out.write(data)
        return Image(path, caption=caption)
    finally:
        os.unlink(path)


def histogram_from_buckets(lefts: Sequence[float], rights: Sequence[float],
                           counts: Sequence[float]) -> Histogram:
    """A :class:`~nbtrack.Histogram` from buckets given by their left and right edges.

    Empty buckets at either end are dropped (they hold no data, and the outer ones of
    a TensorFlow histogram reach to ±DBL_MAX); the edges of bucket ``i`` are then
    ``lefts[i]`` and ``rights[i]``, which are the same edge for neighbours as every
    tool here writes them (the right edge wins where they are not). More buckets
    than nbtrack keeps are merged by neighbours (:func:`merge_bins`).

    Example
    -------
    >>> h = histogram_from_buckets([0, 0, 1], [0, 1, 3], [0, 2, 5])
    >>> h.counts, h.edges
    ([2.0, 5.0], [0.0, 1.0, 3.0])
    """
    nonzero = [i for i, count in enumerate(counts) if count]
    if not nonzero:
        return Histogram(sequence=[])
    start, end = nonzero[0], nonzero[-1] + 1
    kept = [float(c) for c in counts[start:end]]
    edges = [float(lefts[start])] + [float(r) for r in rights[start:end]]
    kept, edges = merge_bins(kept, edges, MAX_BINS)
    return Histogram(np_histogram=(kept, edges))


def merge_bins(counts: list[float], edges: list[float], most: int) -> tuple[list[float], list[float]]:
    """Merge neighbouring bins, ``ceil(len / most)`` at a time, until at most ``most`` remain.

    Example
    -------
    >>> merge_bins([1, 2, 3], [0, 1, 2, 3], 2)
    ([3, 3], [0, 2, 3])
    """
    if len(counts) <= most:
        return counts, edges
    group = -(-len(counts) // most)
    merged = [sum(counts[i:i + group]) for i in range(0, len(counts), group)]
    return merged, edges[::group] + ([edges[-1]] if (len(edges) - 1) % group else [])


def strings_value(strings: Sequence[Any]) -> Any:
    """TensorBoard text: one string is a :class:`~nbtrack.Text`, more make a one-column Table."""
    from ..rich_media import Table, Text

    texts = [_decode(s) for s in strings]
    if len(texts) == 1:
        return Text(texts[0])
    return Table(columns=["text"], data=[[t] for t in texts])


def _decode(value: Any) -> str:
    return value.decode("utf-8", errors="replace") if isinstance(value, bytes) else str(value)
