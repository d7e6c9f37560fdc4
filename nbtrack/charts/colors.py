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
#: Glasbey's method, each next colour the one farthest in CIEDE2000 from those already taken,
#: over sRGB colours with 3:1 contrast (WCAG's for graphics) on white and on JupyterLab's
#: dark backgrounds (#111, #1e1e1e, #212121) and no greys. The first 20 are at least 14
#: CIEDE2000 apart, every two of the 60 at least 8: a legend's red and pink, or blue and light
#: blue, no longer look alike, and no line fades into either theme's background.
COLORS = (
    "#0069d2", "#879600", "#ff2d00", "#ff2dd2", "#00a5a5", "#87694b", "#876987", "#3c784b",
    "#d20f5a", "#961eff", "#c38700", "#9687e1", "#d27878", "#0096d2", "#00a52d", "#1e7887",
    "#b44b3c", "#c3784b", "#b43c96", "#78784b", "#c378a5", "#699678", "#6969a5", "#876900",
    "#ff1e4b", "#a55a00", "#ff3c87", "#c35aff", "#4b7800", "#4b87ff", "#966969", "#a5875a",
    "#008778", "#5a5af0", "#9669b4", "#5a96a5", "#b45a78", "#969669", "#b48778", "#c34b0f",
    "#0f78a5", "#00a587", "#f06900", "#787800", "#d200d2", "#0f965a", "#9687b4", "#69964b",
    "#c378d2", "#e1694b", "#e10f87", "#00871e", "#6987a5", "#96873c", "#e1001e", "#69a50f",
    "#964bc3", "#d27800", "#4b8787", "#b47887",
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


def project_run_colors(run_ids: Sequence[str], *, store: Any = None, fresh: bool = True) -> dict[str, str]:
    """:func:`run_colors` for ``run_ids``, assigned over every run of their projects, oldest
    first, so a run has this colour in every view of any of these runs.

    ``fresh=False`` reads without saving this process's latest writes first (a live panel's
    new run: not stored yet, it is the newest of its project, which gives it its colour).

    Example
    -------
    >>> project_run_colors(["3kq0x1ab", "p2m9zz0c"])  # doctest: +SKIP
    {'3kq0x1ab': '#0069d2', 'p2m9zz0c': '#ff2d00'}
    """
    import math

    from .. import _run, query
    from ..selection import Selection
    from ..store._fold import unix_seconds

    wanted = [str(i) for i in run_ids]
    if not wanted:
        return {}
    chosen = query.store_for(store)
    place = str(chosen.address)
    with _KNOWN_LOCK:
        known = {i: _KNOWN.get((place, i)) for i in wanted}
    if all(known.values()):
        return {i: str(c) for i, c in known.items()}
    # Without a fresh read, the runs this process started whose writes have not reached the
    # store yet (the new run, and older ones still on their way) are this process's to add.
    with _run._live_lock:
        mine = {} if fresh else {i: (p, t) for i, (at, p, t) in _run._made_here.items() if at == place}
    with chosen.snapshot(fresh=fresh):
        shown = chosen.select_runs(Selection(ids=tuple(wanted)))
        stored = {str(r["id"]) for r in shown}
        named = {str(r.get("project")) for r in shown if r.get("project") is not None}
        named.update(mine[i][0] for i in wanted if i not in stored and i in mine)
        projects = sorted(named)
        rows = [row for project in projects
                for row in chosen.select_runs(Selection(project=project, sort="created_at"))]
        have = {str(r["id"]) for r in rows}
        # Only runs the store has not got at all: a run in the trash is no longer coloured.
        candidates = [i for i, (p, _) in mine.items() if p in named and i not in have]
        arrived = {i for i in candidates if chosen.run_exists(i)}
    rows += [{"id": i, "created_at": mine[i][1]} for i in candidates if i not in arrived]
    with _run._live_lock:  # what the store holds is the store's to say from now on
        for i in (have | arrived) & set(mine):
            _run._made_here.pop(i, None)
    def oldest_first(row: dict[str, Any]) -> tuple[float, str]:
        when = unix_seconds(row.get("created_at"))
        return (math.inf if when is None else when, str(row["id"]))

    rows.sort(key=oldest_first)
    ordered = [str(r["id"]) for r in rows] + wanted  # runs of no project last, in given order
    colors = run_colors(ordered)
    with _KNOWN_LOCK:
        for run_id, color in colors.items():
            colors[run_id] = _KNOWN.setdefault((place, run_id), color)
    return {i: colors[i] for i in wanted}
