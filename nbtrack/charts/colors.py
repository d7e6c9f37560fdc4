"""A colour per run that stays the same in every chart, table and view.

A run's colour comes from its id, not from where its name sorts in one chart: the id
hashes to a preferred hue among :data:`PALETTE` (20 hues chosen to stay apart, after
Kelly's colours of maximum contrast), and runs that want a hue already taken get the
next free one, then the same hues darker and lighter (60 colours before any repeats).

Who takes a contested hue depends on the order runs are given in. Views pass every run
of the runs' projects, oldest first (:func:`project_run_colors`): a new run then never
takes the colour of an older one, so a run keeps its colour as runs are added, and a
chart of any subset shows each run in the colour the run list gives it.
"""

from __future__ import annotations

import colorsys
import hashlib
import threading
from collections.abc import Iterable, Sequence
from typing import Any

__all__ = ["COLORS", "PALETTE", "project_run_colors", "run_colors"]

#: Base hues, the most readable first (on light and dark backgrounds alike).
PALETTE = (
    "#0067a5", "#f38400", "#008856", "#be0032", "#875692", "#882d17", "#e68fac", "#848482",
    "#8db600", "#a1caf1", "#f6a600", "#604e97", "#e25822", "#b3446c", "#c2b280", "#17becf",
    "#f99379", "#dcd300", "#654522", "#f3c300",
)
#: Lightness changes of the second and third rounds of the palette.
_SHADES = (0.0, -0.12, 0.14)


def _shade(color: str, change: float) -> str:
    """``color`` lighter or darker by ``change``, its lightness first brought into the band
    that reads on a white and on a dark background alike."""
    r, g, b = (int(color[i:i + 2], 16) / 255 for i in (1, 3, 5))
    h, lightness, s = colorsys.rgb_to_hls(r, g, b)
    lightness = min(max(lightness, 0.42), 0.7) + change
    return "#" + "".join(f"{round(c * 255):02x}" for c in colorsys.hls_to_rgb(h, lightness, s))


#: Every colour a run may get: the palette, then its darker and its lighter round
#: (``PALETTE`` itself is Kelly's colours; the very light and very dark ones are evened out).
COLORS = tuple(_shade(c, change) for change in _SHADES for c in PALETTE)


def _preferred(run_id: str) -> int:
    # sha1, not hash(): the same id gets the same hue in every process
    return int(hashlib.sha1(run_id.encode("utf-8")).hexdigest()[:8], 16) % len(PALETTE)


def run_colors(run_ids: Iterable[str]) -> dict[str, str]:
    """A distinct ``#rrggbb`` colour for each run id, given oldest first.

    Each run takes its id's hue if no earlier run in ``run_ids`` has it, else the next
    free hue; past 20 runs the hues come again darker, then lighter; past 60 they repeat.

    Example
    -------
    >>> colors = run_colors(["a1", "b2", "c3"])
    >>> len(set(colors.values()))
    3
    >>> run_colors(["a1"])["a1"] == run_colors(["a1", "zz"])["a1"]  # earlier runs keep theirs
    True
    """
    taken: set[int] = set()
    out: dict[str, str] = {}
    for run_id in dict.fromkeys(str(i) for i in run_ids):
        if len(taken) == len(COLORS):
            taken.clear()  # every colour used: a second round of the same ones
        hue = _preferred(run_id)
        for slot in _slots(hue):
            if slot not in taken:
                taken.add(slot)
                out[run_id] = COLORS[slot]
                break
    return out


def _slots(hue: int) -> Iterable[int]:
    count = len(PALETTE)
    for shade in range(len(_SHADES)):
        for step in range(count):
            yield shade * count + (hue + step) % count


#: ``(store address, run id) -> colour`` of runs already coloured over their projects: a run
#: keeps the colour it was first shown in, and a view refreshing every second reads no runs
#: table until a run it has not coloured appears.
_KNOWN: dict[tuple[str, str], str] = {}
_KNOWN_LOCK = threading.Lock()


def project_run_colors(run_ids: Sequence[str], *, store: Any = None) -> dict[str, str]:
    """:func:`run_colors` for ``run_ids``, assigned over every run of their projects, oldest
    first, so a run has this colour in every view of any of these runs.

    Example
    -------
    >>> project_run_colors(["3kq0x1ab", "p2m9zz0c"])  # doctest: +SKIP
    {'3kq0x1ab': '#0086d6', 'p2m9zz0c': '#d60038'}
    """
    from .. import query
    from ..selection import Selection

    wanted = [str(i) for i in run_ids]
    if not wanted:
        return {}
    chosen = query.store_for(store)
    place = str(chosen.address)
    with _KNOWN_LOCK:
        known = {i: _KNOWN.get((place, i)) for i in wanted}
    if all(known.values()):
        return {i: str(c) for i, c in known.items()}
    with chosen.snapshot():
        shown = chosen.select_runs(Selection(ids=tuple(wanted)))
        projects = sorted({str(r.get("project")) for r in shown if r.get("project") is not None})
        rows = [row for project in projects
                for row in chosen.select_runs(Selection(project=project, sort="created_at"))]
    rows.sort(key=lambda r: (str(r.get("created_at")), str(r["id"])))
    ordered = [str(r["id"]) for r in rows] + wanted  # runs of no project last, in given order
    colors = run_colors(ordered)
    with _KNOWN_LOCK:
        for run_id, color in colors.items():
            colors[run_id] = _KNOWN.setdefault((place, run_id), color)
    return {i: colors[i] for i in wanted}
