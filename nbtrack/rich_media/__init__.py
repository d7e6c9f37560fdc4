"""Rich values beside scalars: :class:`Image`, :class:`Histogram`, :class:`Table`, :class:`Text`.

Log them like metrics (``nbtrack.log({"samples": nbtrack.Image(x)})``) and read them
back with ``nbtrack.media()``, which returns one row per value with what it takes to show
it: the image file's absolute path, the histogram's bins, the table as a DataFrame.
"""

from __future__ import annotations

from ._read import histogram_frame, load_media, media
from ._types import Histogram, Image, Media, Table, Text, as_media

__all__ = ["Histogram", "Image", "Media", "Table", "Text", "as_media", "histogram_frame",
           "load_media", "media"]
