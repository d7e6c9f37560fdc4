"""A stored run as a segment another store can take (``nbtrack sync``): no SQL here, only
the shape every engine's ``export_run`` fills from its own rows."""

from __future__ import annotations

from typing import Any

from ._fold import FIELD_COLUMNS, RUN_COLUMNS, unix_seconds
from .journal import PointGroup, Segment

__all__ = ["run_segment"]

_TIMES = ("created_at", "ended_at", "heartbeat_at")


def run_segment(record: dict[str, Any], points: Any, media: list[list[Any]]) -> Segment:
    """A segment that replaces the run elsewhere.

    ``record``: the stored columns of :data:`RUN_COLUMNS` (times naive UTC); ``points``: a
    DataFrame ``key, step, value, missing, time_us`` in logging order; ``media``: rows in
    :data:`~nbtrack.store._fold.MEDIA_COLUMNS` order with ``time`` in unix seconds.
    """
    import numpy as np

    snapshot: dict[str, Any] = {c: unix_seconds(record.get(c)) if c in _TIMES else record.get(c)
                                for c in RUN_COLUMNS}
    snapshot["tags"] = list(record.get("tags") or [])
    snapshot["fields"] = sorted(FIELD_COLUMNS)
    snapshot["replace"] = True
    groups = []
    if len(points):
        names = list(dict.fromkeys(points["key"].tolist()))
        index = {name: i for i, name in enumerate(names)}
        values = points["value"].to_numpy(dtype=np.float64, na_value=np.nan)
        missing = points["missing"].to_numpy(dtype=bool)
        special = np.where(missing, 1, np.where(np.isnan(values), 2, 0)).astype(np.int8)
        groups.append(PointGroup(
            run_id=record["id"], names=names,
            codes=np.array([index[k] for k in points["key"].tolist()], dtype=np.int32),
            steps=points["step"].to_numpy(dtype=np.int64),
            values=np.where(missing, 0.0, values),
            times=points["time_us"].to_numpy(dtype=np.int64),
            special=special if special.any() else None,
        ))
    return Segment(runs=[snapshot], media=media, points=groups)
