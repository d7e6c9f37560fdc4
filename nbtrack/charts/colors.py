"""A colour per run that stays the same in every chart, table and view.

A run's colour comes from its id, not from where its name sorts in one chart: the id
hashes to a preferred colour among :data:`PALETTE` (the 20 colours farthest apart), and
runs that want a colour already taken get the next free one, then the next 40 of
:data:`COLORS` (60 colours before any repeats).

Who takes a contested hue depends on the order runs are given in. Views pass every run
of the runs' projects, oldest first (:func:`project_run_colors`): a new run then never
takes the colour of an older one, so a run keeps its colour as runs are added, and a
chart of any subset shows each run in the colour the run list gives it.
"""

from __future__ import annotations

import hashlib
import threading
from collections.abc import Iterable, Sequence
from typing import Any

__all__ = ["COLORS", "PALETTE", "project_run_colors", "run_colors"]

#: Every colour a run may get, the most distinct first. Computed, not picked by eye (the
#: computation is tests/test_run_colors.py's ``glasbey``, which checks these are its result):
#: Glasbey's method, each next colour the one farthest in CAM02-UCS from those already taken,
#: over sRGB colours with 3:1 contrast (WCAG's for graphics) on white and on JupyterLab's
#: dark backgrounds (#111, #1e1e1e) and no greys. The first 20 are at least 12 CIEDE2000
#: apart, every two of the 60 at least 5: a legend's red and pink, or blue and light blue,
#: no longer look alike, and no line fades into either theme's background.
COLORS = (
    "#005aff", "#ff0000", "#00a500", "#f000ff", "#87694b", "#00a5a5", "#9687b4", "#b43c69",
    "#960fff", "#e17800", "#00784b", "#a59600", "#4b96e1", "#ff4ba5", "#d27878", "#b44b1e",
    "#789669", "#007896", "#a53ca5", "#5a7800",
    "#8778ff", "#5a69a5", "#c378b4", "#f0005a", "#c369ff", "#966978", "#a56900", "#b4875a",
    "#00a569", "#ff5a5a", "#e100b4", "#4b8778", "#694bf0", "#875ab4", "#6987a5", "#78691e",
    "#ff5a00", "#c300ff", "#d22d2d", "#5a784b",
    "#875a87", "#b45a5a", "#0f78c3", "#69962d", "#0f872d", "#d25a87", "#4b78ff", "#d2693c",
    "#2d96b4", "#87873c", "#c38700", "#007878", "#a569b4", "#b45a96", "#e15ac3", "#e11e87",
    "#786996", "#9678d2", "#7887d2", "#a55aff",
)
#: The colours runs prefer (by their id's hash): the first 20, the farthest apart.
PALETTE = COLORS[:20]


def _preferred(run_id: str) -> int:
    # sha1, not hash(): the same id gets the same hue in every process
    return int(hashlib.sha1(run_id.encode("utf-8")).hexdigest()[:8], 16) % len(PALETTE)


def run_colors(run_ids: Iterable[str]) -> dict[str, str]:
    """A distinct ``#rrggbb`` colour for each run id, given oldest first.

    Each run takes its id's colour among the first 20 if no earlier run in ``run_ids`` has
    it, else the next free one; past 20 runs the next 40 colours; past 60 they repeat.

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
    for round_ in range(len(COLORS) // count):
        for step in range(count):
            yield round_ * count + (hue + step) % count


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
    {'3kq0x1ab': '#005aff', 'p2m9zz0c': '#ff0000'}
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
