"""TensorBoard summaries that become nbtrack media: histograms, images and text.

Both forms are read: the legacy ones (``histo`` and ``image`` fields, as PyTorch's
``SummaryWriter`` writes ``add_histogram`` and ``add_image``) and the tensor ones
with plugin data ``histograms``, ``images`` and ``text`` (``add_text``, and
TensorFlow 2's ``tf.summary``).

Histogram edges. A legacy ``HistogramProto`` gives only right edges
(``bucket_limit[i]`` closes bucket ``i``) and the data's ``min`` and ``max``. Bucket
``i`` is taken as ``(bucket_limit[i-1], bucket_limit[i]]``, the first one opening at
``min``; empty buckets at either end are dropped, and a remaining edge at ±DBL_MAX
(TensorFlow's outer buckets) becomes ``min``/``max``. For PyTorch, which writes an
empty bucket ending at its first edge and then ``numpy.histogram``'s bins, this
gives back exactly the counts and edges numpy computed. (TensorBoard's own
conversion puts ``min``/``max`` on both outer edges even when they are finite; we
keep the edges the writer chose, in float64 as the proto holds them, which is why
the importer reads these from the raw events rather than through TensorBoard's
loader.) Tensor histograms hold ``[left, right, count]`` rows and are read as they
are, again without empty end buckets.
"""

from __future__ import annotations

from typing import Any

from ..errors import NbtrackError
from ._media import histogram_from_buckets, image_from_bytes, strings_value

__all__ = ["KINDS", "convert", "media_kind"]

DBL_MAX = 1.7976931348623157e308
# What the report calls each kind of value that could not be imported.
KINDS = {"histogram": "histogram summaries", "image": "image summaries", "text": "text summaries"}
# The suffix TensorBoard's writers add to the name the user gave.
_SUFFIX = {"text": "/text_summary", "image": "/image_summary"}


def media_kind(kind: str | None, plugin: str) -> str | None:
    """``histogram``, ``image`` or ``text`` for a summary value we import, else None."""
    if kind == "histo" or (kind == "tensor" and plugin == "histograms"):
        return "histogram"
    if kind == "image" or (kind == "tensor" and plugin == "images"):
        return "image"
    if kind == "tensor" and plugin == "text":
        return "text"
    return None


def convert(value: Any, kind: str | None, plugin: str) -> tuple[str, str, Any] | None:
    """``(media kind, key, nbtrack value)`` for one summary value, or None when unreadable.

    Raises nothing for a malformed value of a known kind: it comes back None, so the
    importer counts it as not imported and goes on.
    """
    what = media_kind(kind, plugin)
    if what is None:
        return None
    key = value.tag
    suffix = _SUFFIX.get(what)
    if suffix and key.endswith(suffix) and len(key) > len(suffix):
        key = key[: -len(suffix)]
    try:
        media = _READERS[(what, kind == "tensor")](value)
    except (ValueError, TypeError, IndexError, NbtrackError):
        media = None
    return (what, key, media) if media is not None else None


def _legacy_histogram(value: Any) -> Any:
    histo = value.histo
    limits, counts = list(histo.bucket_limit), list(histo.bucket)
    if len(limits) != len(counts):
        return None
    lefts = [histo.min, *limits[:-1]]
    lefts = [histo.min if x <= -DBL_MAX else x for x in lefts]
    rights = [histo.max if x >= DBL_MAX else x for x in limits]
    return histogram_from_buckets(lefts, rights, counts)


def _tensor_histogram(value: Any) -> Any:
    buckets = _array(value.tensor)
    if buckets.size == 0:
        return histogram_from_buckets([], [], [])
    if buckets.ndim != 2 or buckets.shape[1] != 3:
        return None
    return histogram_from_buckets(buckets[:, 0].tolist(), buckets[:, 1].tolist(), buckets[:, 2].tolist())


def _legacy_image(value: Any) -> Any:
    return image_from_bytes(value.image.encoded_image_string)


def _tensor_image(value: Any) -> Any:
    # [width, height, encoded image, ...]: one summary may hold several (max_outputs).
    images = [image_from_bytes(data) for data in list(value.tensor.string_val)[2:]]
    if not images or any(image is None for image in images):
        return None
    return images[0] if len(images) == 1 else images


def _tensor_text(value: Any) -> Any:
    array = _array(value.tensor)
    if array.ndim == 2 and array.shape[0] and array.shape[1] > 1:
        from ..rich_media import Table

        columns = [f"col{i}" for i in range(array.shape[1])]
        return Table(columns=columns, data=[[_text(s) for s in row] for row in array.tolist()])
    strings = array.reshape(-1).tolist()
    return strings_value(strings) if strings else None


def _text(value: Any) -> str:
    return value.decode("utf-8", errors="replace") if isinstance(value, bytes) else str(value)


def _array(tensor: Any) -> Any:
    from tensorboard.util import tensor_util

    return tensor_util.make_ndarray(tensor)


_READERS = {
    ("histogram", False): _legacy_histogram, ("histogram", True): _tensor_histogram,
    ("image", False): _legacy_image, ("image", True): _tensor_image,
    ("text", True): _tensor_text,
}
