"""Rich values for ``run.log``: images, histograms, tables and text.

Each is converted when it is made (so changing the array afterwards changes nothing)
and stored when logged: bytes as the store's content-addressed blobs (images,
tables, long text), small values inline in the store (histogram bins, short text).
The names and arguments follow ``wandb.Image``/``wandb.Histogram``/``wandb.Table``.
"""

from __future__ import annotations

import io
import json
import math
import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..errors import MetricValueError, NbtrackError
from ..values import jsonable

if TYPE_CHECKING:
    from ..store.base import StoreBase

__all__ = ["Histogram", "Image", "Media", "Table", "Text", "as_media"]

#: W&B's cap on histogram bins; beyond it a histogram-over-time chart is unreadable.
MAX_BINS = 512
#: Text longer than this goes to a file rather than inline in the store.
INLINE_TEXT = 16 * 1024
_IMAGE_SUFFIXES = {".png": "png", ".jpg": "jpeg", ".jpeg": "jpeg", ".gif": "gif", ".webp": "webp",
                   ".bmp": "bmp"}


class Media:
    """Base of the values ``run.log`` stores beside scalars (see :func:`nbtrack.media`)."""

    kind = "media"

    def _encode(self, store: StoreBase) -> tuple[str | None, str | None, dict[str, Any], str | None]:
        """(digest, the stored blob's key, metadata, inline data)."""
        raise NotImplementedError

    def __repr__(self) -> str:
        return f"<nbtrack.{type(self).__name__}>"


def _pil() -> Any:
    try:
        import PIL.Image
    except ImportError:
        raise NbtrackError("nbtrack.Image needs Pillow: pip install pillow") from None
    return PIL.Image


class Image(Media):
    """A picture: a numpy array or tensor, a PIL image, a matplotlib figure or an image file.

    Arrays are ``H×W`` (grey), ``H×W×3`` (RGB) or ``H×W×4`` (RGBA); torch tensors are
    ``C×H×W``, as torch keeps them (a numpy ``C×H×W`` array is recognised when its last
    axis cannot be channels). Floats in [0, 1] are scaled to 0-255, other floats are clipped.

    Example
    -------
    >>> run.log({"samples": [nbtrack.Image(x, caption=str(y)) for x, y in batch]})  # doctest: +SKIP
    """

    kind = "image"

    def __init__(self, data_or_path: Any, caption: str | None = None, mode: str | None = None) -> None:
        if caption is not None and not isinstance(caption, str):
            caption = str(caption)
        self.caption = caption
        self._bytes, self.format, self.width, self.height = _image_bytes(data_or_path, mode)

    def _encode(self, store: StoreBase) -> tuple[str | None, str | None, dict[str, Any], str | None]:
        digest, path = store.put_blob(self._bytes, folder="media", suffix=f".{self.format}")
        meta = {"width": self.width, "height": self.height, "format": self.format,
                "bytes": len(self._bytes)}
        if self.caption is not None:
            meta["caption"] = self.caption
        return digest, path, meta, None

    def __repr__(self) -> str:
        return f"<nbtrack.Image {self.width}x{self.height} {self.format}>"


def _image_bytes(value: Any, mode: str | None) -> tuple[bytes, str, int, int]:
    pil = _pil()
    if isinstance(value, (str, os.PathLike)):
        path = Path(value)
        fmt = _IMAGE_SUFFIXES.get(path.suffix.lower())
        if fmt is None:
            raise NbtrackError(f"nbtrack.Image: {path} is not a png/jpeg/gif/webp/bmp file")
        try:
            data = path.read_bytes()
            with pil.open(io.BytesIO(data)) as img:
                width, height = img.size
        except (OSError, pil.UnidentifiedImageError) as exc:
            raise NbtrackError(f"nbtrack.Image: cannot read the image {path}: {exc}") from None
        return data, fmt, width, height
    if isinstance(value, pil.Image):
        image = value
    elif hasattr(value, "savefig"):  # a matplotlib figure
        buffer = io.BytesIO()
        value.savefig(buffer, format="png", bbox_inches="tight")
        image = pil.open(io.BytesIO(buffer.getvalue()))
    else:
        image = pil.fromarray(_image_array(value), mode=None)
    if mode is not None:
        image = image.convert(mode)
    buffer = io.BytesIO()
    # zlib level 1, not PIL's 6: measured on a 256x256 photo-like image, 5.6 ms and 110 KB
    # against 18.7 ms and 93 KB. The time is spent in the user's training loop.
    image.save(buffer, format="PNG", compress_level=1)
    return buffer.getvalue(), "png", image.size[0], image.size[1]


def _image_array(value: Any) -> Any:
    import numpy as np

    tensor = hasattr(value, "detach")
    if tensor:  # torch keeps images C×H×W
        value = value.detach().cpu().numpy()
    try:
        array = np.asarray(value)
    except Exception as exc:
        raise NbtrackError(f"nbtrack.Image cannot read a {type(value).__name__}: {exc}") from None
    if array.ndim == 3 and array.shape[0] in (1, 3, 4) and (tensor or array.shape[2] not in (1, 3, 4)):
        array = np.transpose(array, (1, 2, 0))
    if array.ndim == 3 and array.shape[2] == 1:
        array = array[:, :, 0]
    if array.ndim not in (2, 3) or (array.ndim == 3 and array.shape[2] not in (3, 4)) or array.size == 0:
        raise NbtrackError(
            f"nbtrack.Image: an array of shape {array.shape} is not an image; use H×W, H×W×3 "
            "or H×W×4 (or C×H×W)"
        )
    if array.dtype == np.bool_:
        return array.astype(np.uint8) * 255
    if array.dtype == np.uint8:
        return np.ascontiguousarray(array)
    if not np.issubdtype(array.dtype, np.number):
        raise NbtrackError(f"nbtrack.Image: pixel values must be numbers, not {array.dtype}")
    floats = np.nan_to_num(array.astype(np.float64), nan=0.0, posinf=255.0, neginf=0.0)
    if np.issubdtype(array.dtype, np.floating) and floats.min() >= 0 and floats.max() <= 1:
        floats = floats * 255
    return np.clip(np.rint(floats), 0, 255).astype(np.uint8)


class Histogram(Media):
    """A distribution: from raw values, or precomputed ``np_histogram=(counts, edges)``.

    Logged at many steps it becomes a histogram-over-time chart (weights per layer,
    say). Non-finite values are counted apart (``nan``, ``inf``), not binned.

    Example
    -------
    >>> nbtrack.log({"weights/fc1": nbtrack.Histogram(layer.weight.detach())})  # doctest: +SKIP
    """

    kind = "histogram"

    def __init__(self, sequence: Any = None, np_histogram: Any = None, num_bins: int = 64) -> None:
        import numpy as np

        if (sequence is None) == (np_histogram is None):
            raise NbtrackError("nbtrack.Histogram needs exactly one of sequence= or np_histogram=")
        if isinstance(num_bins, bool) or not isinstance(num_bins, int) or not 1 <= num_bins <= MAX_BINS:
            raise NbtrackError(f"nbtrack.Histogram: num_bins must be an int from 1 to {MAX_BINS}")
        self.nan = self.inf = 0
        if np_histogram is not None:
            counts, edges = (np.asarray(part, dtype=np.float64) for part in np_histogram)
            if counts.ndim != 1 or edges.shape != (len(counts) + 1,) or len(counts) > MAX_BINS:
                raise NbtrackError(
                    "nbtrack.Histogram: np_histogram must be (counts, edges) with one more edge "
                    f"than counts and at most {MAX_BINS} bins")
            if not (np.isfinite(counts).all() and np.isfinite(edges).all()):
                raise NbtrackError("nbtrack.Histogram: np_histogram holds NaN or inf")
            whole = bool((counts == np.round(counts)).all())
            self.counts = counts.astype(np.int64).tolist() if whole else counts.tolist()
            self.edges = edges.tolist()
            return
        if hasattr(sequence, "detach"):
            sequence = sequence.detach().cpu().numpy()
        try:
            values = np.asarray(sequence, dtype=np.float64).ravel()
        except (TypeError, ValueError) as exc:
            raise NbtrackError(f"nbtrack.Histogram: values must be numbers ({exc})") from None
        finite = np.isfinite(values)
        if not finite.all():  # count NaN and inf apart; the usual all-finite case skips this
            self.nan = int(np.isnan(values).sum())
            self.inf = int(len(values) - finite.sum() - self.nan)
            values = values[finite]
        if len(values):
            counts, edges = _bin(np, values, num_bins)
        else:
            counts, edges = np.zeros(0), np.zeros(0)
        self.counts = counts.tolist()  # ints: half the JSON text of floats, and faster
        self.edges = edges.astype(np.float64).tolist()

    def _encode(self, store: StoreBase) -> tuple[str | None, str | None, dict[str, Any], str | None]:
        meta: dict[str, Any] = {"bins": len(self.counts), "count": sum(self.counts)}
        if self.nan or self.inf:
            meta.update(nan=self.nan, inf=self.inf)
        return None, None, meta, json.dumps({"counts": self.counts, "edges": self.edges})

    def __repr__(self) -> str:
        return f"<nbtrack.Histogram {len(self.counts)} bins>"


class Table(Media):
    """Rows and columns, e.g. predictions next to labels: a DataFrame, or columns + rows.

    Example
    -------
    >>> nbtrack.log({"predictions": nbtrack.Table(dataframe=df)})  # doctest: +SKIP
    >>> nbtrack.log({"pairs": nbtrack.Table(columns=["x", "y"], data=[[1, 2], [3, 4]])})  # doctest: +SKIP
    >>> table = nbtrack.Table(columns=["x", "y"]); table.add_data(1, 2)  # W&B's way  # doctest: +SKIP
    """

    kind = "table"

    def __init__(self, columns: Any = None, data: Any = None, dataframe: Any = None) -> None:
        if dataframe is not None:
            if data is not None:
                raise NbtrackError("nbtrack.Table takes data= or dataframe=, not both")
            if columns is not None:
                dataframe = dataframe[list(columns)]
            columns = [str(c) for c in dataframe.columns]
            rows = dataframe.itertuples(index=False, name=None)
        else:
            rows = list(data or [])
            if columns is None:
                width = len(rows[0]) if rows else 0
                columns = [f"col{i}" for i in range(width)]
            columns = [str(c) for c in columns]
        self.columns = columns
        self.rows = [self._row(r) for r in rows]

    @property
    def data(self) -> list[list[Any]]:
        """The rows (W&B's ``table.data``)."""
        return self.rows

    def add_data(self, *row: Any) -> None:
        """Append one row, a value per column (W&B's ``Table.add_data``).

        Example
        -------
        >>> table = Table(columns=["id", "prediction"])
        >>> table.add_data(0, "cat"); table.add_data(1, "dog")
        >>> table.rows
        [[0, 'cat'], [1, 'dog']]
        """
        if not self.columns and not self.rows:  # Table() with no columns: the first row sets them
            self.columns = [f"col{i}" for i in range(len(row))]
        self.rows.append(self._row(row))

    def add_column(self, name: str, data: Any) -> None:
        """Add a column with one value per existing row (W&B's ``Table.add_column``)."""
        name = str(name)
        if name in self.columns:
            raise NbtrackError(f"nbtrack.Table already has a column {name!r}")
        values = list(data)
        if self.rows and len(values) != len(self.rows):
            raise NbtrackError(f"nbtrack.Table.add_column: {len(values)} values for {len(self.rows)} rows")
        if not self.rows:
            self.rows = [[] for _ in values]
        self.columns.append(name)
        for row, value in zip(self.rows, values):
            row.append(_cell(value))

    def _row(self, row: Any) -> list[Any]:
        values = list(row)
        if len(values) != len(self.columns):
            raise NbtrackError(
                f"nbtrack.Table: a row has {len(values)} values for {len(self.columns)} columns "
                f"({self.columns})")
        return [_cell(v) for v in values]

    def _encode(self, store: StoreBase) -> tuple[str | None, str | None, dict[str, Any], str | None]:
        body = json.dumps({"columns": self.columns, "data": self.rows}, ensure_ascii=False,
                          allow_nan=False).encode()
        digest, path = store.put_blob(body, folder="media", suffix=".table.json")
        return digest, path, {"rows": len(self.rows), "columns": self.columns}, None

    def get_dataframe(self) -> Any:
        import pandas as pd

        return pd.DataFrame(self.rows, columns=self.columns)

    def __repr__(self) -> str:
        return f"<nbtrack.Table {len(self.rows)}x{len(self.columns)}>"


def _cell(value: Any) -> Any:
    """A JSON-safe table cell: NaN/inf become null (JSON has none), the rest via jsonable."""
    if isinstance(value, Media):
        raise NbtrackError("nbtrack.Table cells must be plain values; log media under their own key")
    if isinstance(value, float) or type(value).__module__ == "numpy":
        value = jsonable(value)
        if isinstance(value, float) and not math.isfinite(value):
            return None
        return value
    if value is None or isinstance(value, (bool, int, str)):
        return value
    if hasattr(value, "isoformat"):
        return value.isoformat()
    return jsonable(value)


class Text(Media):
    """A piece of text at a step (TensorBoard's ``add_text``): a sample, a prompt's output.

    Example
    -------
    >>> nbtrack.log({"sample": nbtrack.Text(model.generate(prompt))})  # doctest: +SKIP
    """

    kind = "text"

    def __init__(self, text: Any) -> None:
        if not isinstance(text, str):
            raise NbtrackError(f"nbtrack.Text needs a str, got {type(text).__name__}")
        self.text = text

    def _encode(self, store: StoreBase) -> tuple[str | None, str | None, dict[str, Any], str | None]:
        meta = {"chars": len(self.text)}
        if len(self.text) <= INLINE_TEXT:
            return None, None, meta, self.text
        digest, path = store.put_blob(self.text.encode(), folder="media", suffix=".txt")
        return digest, path, meta, None

    def __repr__(self) -> str:
        return f"<nbtrack.Text {len(self.text)} chars>"


def as_media(value: Any) -> Media | list[Media] | None:
    """``value`` as rich media (PIL images and figures become Images), else None."""
    if isinstance(value, Media):
        return value
    if isinstance(value, (list, tuple)) and value and all(isinstance(v, Media) for v in value):
        if len({v.kind for v in value}) > 1:
            raise MetricValueError("nbtrack.log: a list of media must hold one kind (all images, say)")
        return list(value)
    module = type(value).__module__
    if module.startswith("PIL.") or (module.startswith("matplotlib.") and hasattr(value, "savefig")):
        return Image(value)
    return None


def _bin(np: Any, values: Any, num_bins: int) -> tuple[Any, Any]:
    """``np.histogram`` over the values' range; fewer bins where that range is narrower than
    ``num_bins`` steps of the floats there (huge, nearly equal integers such as 2**62, 2**62+1)."""
    lo, hi = float(values.min()), float(values.max())
    try:
        return np.histogram(values, bins=num_bins, range=(lo, hi))  # type: ignore[no-any-return]
    except ValueError:  # "Too many bins for data range"
        pass
    steps = (hi - lo) / float(np.spacing(max(abs(lo), abs(hi)))) if hi > lo else 0.0
    bins = min(num_bins, int(steps // 4))
    if bins >= 2:
        try:
            return np.histogram(values, bins=bins, range=(lo, hi))  # type: ignore[no-any-return]
        except ValueError:
            pass
    top = hi if hi > lo else float(np.nextafter(lo, np.inf))
    return np.array([len(values)], dtype=np.int64), np.array([lo, top], dtype=np.float64)
