"""Reading logged media back: rows from the store, their files from the store's blobs."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from ..query import _run_ids, _store
from ..query import resolve as resolve_runs

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["histogram_frame", "load_media", "media"]

_COLUMNS = ["run_id", "key", "step", "idx", "time", "kind", "path", "caption", "meta", "data"]


def media(
    runs: Any = None, key: str | None = None, *, kind: str | None = None, store: Any = None,
) -> pd.DataFrame:
    """Logged media as a DataFrame, ordered by run, key, step and position in a list.

    Columns: ``run_id, key, step, idx, time, kind`` (image, histogram, table, text),
    ``path`` (absolute path of a local file holding it, or None when the value is inline),
    ``caption``, ``meta`` (dict: width/height, rows/columns, bins, ...), ``data``
    (a histogram's ``{"counts", "edges"}``, a short text).

    Parameters
    ----------
    runs
        Run ids or names, a :class:`Run`, or a DataFrame from :func:`nbtrack.runs`;
        default all runs.
    key, kind
        Only this key / this kind of value.

    Example
    -------
    >>> imgs = nbtrack.media("baseline", "samples")            # doctest: +SKIP
    >>> nbtrack.load_media(imgs.iloc[-1])                      # a PIL image  # doctest: +SKIP
    """
    import pandas as pd

    chosen = _store(store)
    refs = _run_ids(runs)
    with chosen.snapshot():
        if not chosen.exists() and not refs:
            return pd.DataFrame(columns=_COLUMNS)
        frame = chosen.media_rows(resolve_runs(refs, chosen) if refs else None, key, kind)
    metas = [json.loads(m) if m else {} for m in frame["meta"]]

    def objects(values: list[Any]) -> pd.Series:  # keep None as None, not NaN
        return pd.Series(values, index=frame.index, dtype=object)

    frame["meta"] = objects(metas)
    frame["caption"] = objects([m.get("caption") for m in metas])
    frame["path"] = objects([str(chosen.blob_file(p)) if isinstance(p, str) else None
                             for p in frame["path"]])
    frame["data"] = objects([
        json.loads(d) if k == "histogram" and isinstance(d, str) else (d if isinstance(d, str) else None)
        for k, d in zip(frame["kind"], frame["data"])
    ])
    return frame[_COLUMNS]


def load_media(row: Any) -> Any:
    """The value of one row of :func:`media`: a PIL image, a DataFrame, a histogram dict, a str."""
    kind, path, data = row["kind"], row["path"], row["data"]
    if kind == "image":
        import PIL.Image

        with PIL.Image.open(path) as image:
            image.load()
            return image
    if kind == "table":
        import pandas as pd

        with open(path, encoding="utf-8") as handle:
            body = json.load(handle)
        return pd.DataFrame(body["data"], columns=body["columns"])
    if kind == "text" and data is None and path:
        with open(path, encoding="utf-8") as handle:
            return handle.read()
    return data


def histogram_frame(frame: pd.DataFrame) -> pd.DataFrame:
    """Histogram rows of :func:`media` in long form: ``run_id, key, step, lo, hi, count``.

    The data behind a histogram-over-time chart (one row per bin per step).
    """
    import pandas as pd

    records = []
    rows = frame[frame["kind"] == "histogram"]
    for run_id, key, step, data in zip(rows["run_id"], rows["key"], rows["step"], rows["data"]):
        edges, counts = data["edges"], data["counts"]
        for i, count in enumerate(counts):
            records.append((run_id, key, int(step), edges[i], edges[i + 1], count))
    return pd.DataFrame.from_records(records, columns=["run_id", "key", "step", "lo", "hi", "count"])
