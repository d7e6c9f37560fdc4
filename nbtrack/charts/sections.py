"""Metric keys grouped into sections by prefix, as W&B's workspace groups its panels.

``train/loss`` and ``train/acc`` go to section ``train``, ``val/loss`` to ``val``, keys
with no ``/`` to the unnamed first section, and ``system/...`` (the machine's metrics,
see :mod:`nbtrack.system`) to the last one, drawn against time rather than step.
A metric that never changes (``system/ram_total_gb``) is no chart: it is listed in its
section's ``constants`` with its value, for a view to print instead.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["SYSTEM", "Section", "constant_metrics", "metric_sections", "section_of"]

#: The section of the machine's metrics (``system/cpu_percent``...).
SYSTEM = "system"
#: Sections that come first, in this order (the common names for a training's phases).
_FIRST = ("", "train", "training", "val", "valid", "validation", "eval", "test")


@dataclass(frozen=True)
class Section:
    """One group of metrics: its ``name`` (``""`` for keys with no prefix), the ``keys``
    to chart, the ``x`` to chart them against, and the ``constants`` left out of charts
    (``{key: value}``)."""

    name: str
    keys: tuple[str, ...]
    x: str = "step"
    constants: dict[str, Any] = field(default_factory=dict)

    @property
    def title(self) -> str:
        """What a view shows as the section's heading."""
        return self.name or "charts"


def section_of(key: str) -> str:
    """The section of a metric key: the part before its first ``/`` (``""`` for none).

    Example
    -------
    >>> section_of("val/loss"), section_of("loss")
    ('val', '')
    """
    return key.split("/", 1)[0] if "/" in key else ""


def constant_metrics(data: pd.DataFrame) -> dict[str, Any]:
    """Metrics of :func:`~nbtrack.charts.metric_data` logged more than once that never
    changed, in any run shown: ``{key: the value}``.

    A metric logged once per run (a final test score) is no constant: it stays a chart.
    """
    if data.empty:
        return {}
    found: dict[str, Any] = {}
    for key, part in data.groupby("key", sort=True):
        values = [v for v in part["value"] if v is not None and not (isinstance(v, float) and math.isnan(v))]
        spread = part["min"].ne(part["max"]).any() if {"min", "max"} <= set(part.columns) else False
        if len(part) > 1 and len(set(values)) <= 1 and not spread:
            found[str(key)] = values[0] if values else None
    return found


def metric_sections(keys: Iterable[str] | pd.DataFrame, *, hide_constants: bool = True) -> list[Section]:
    """Metric keys grouped into ordered sections.

    ``keys`` is a list of metric keys, or the frame of :func:`~nbtrack.charts.metric_data`
    (then metrics that never changed are left out of the charts, in ``constants``).
    Sections: keys with no prefix first, then ``train``, ``val``, ``test`` and the like,
    then other prefixes by name, then ``system``, whose ``x`` is ``"relative"`` (time since
    the run started). Keys keep name order within a section.

    Example
    -------
    >>> [(s.name, s.keys) for s in metric_sections(["val/loss", "loss", "system/cpu", "train/loss"])]
    [('', ('loss',)), ('train', ('train/loss',)), ('val', ('val/loss',)), ('system', ('system/cpu',))]
    """
    constants: dict[str, Any] = {}
    if hasattr(keys, "columns"):
        frame: Any = keys
        names: Sequence[str] = sorted(set(frame["key"])) if not frame.empty else []
        if hide_constants:
            constants = constant_metrics(frame)
    else:
        names = sorted(set(keys))
    grouped: dict[str, list[str]] = {}
    for key in names:
        grouped.setdefault(section_of(key), []).append(key)
    order = sorted(grouped, key=lambda name: (name == SYSTEM, name not in _FIRST,
                                              _FIRST.index(name) if name in _FIRST else 0, name))
    return [Section(name, tuple(k for k in grouped[name] if k not in constants),
                    "relative" if name == SYSTEM else "step",
                    {k: constants[k] for k in grouped[name] if k in constants})
            for name in order]
