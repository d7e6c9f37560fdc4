"""What a sweep shows while it runs in a notebook, and the table it leaves.

``nbtrack.sweep(...)`` in a cell blocks until its trials are done; without a word it
looks hung. :class:`Progress` keeps one output line current (trials done of planned,
running, pruned and failed counts, the best value so far, time) through a display
handle, so it needs no widget library and a saved notebook keeps the last line.
:func:`trials_table` is the formatted table a sweep's ``_repr_html_`` shows.
Numbers, times and durations come from :mod:`nbtrack.formatting`, as everywhere.
"""

from __future__ import annotations

import html
import sys
import time
from typing import TYPE_CHECKING, Any

from ..errors import warn_once
from ..formatting import duration, number, value

if TYPE_CHECKING:
    import pandas as pd

    from .driver import TrialEvent
    from .sweep import Sweep

__all__ = ["Progress", "progress_line", "trials_table"]

#: Seconds between two redraws of the line (each trial's end redraws it too, at most this often).
REDRAW_EVERY = 0.5
#: Trials a sweep's table shows, best first when there is a metric.
TABLE_ROWS = 30


def _in_kernel() -> bool:
    """Whether an IPython kernel (a notebook) runs this code: only there is a line kept current."""
    shell = sys.modules.get("IPython")
    if shell is None:
        return False
    try:
        ip = shell.get_ipython()
    except Exception:
        return False
    return ip is not None and getattr(ip, "kernel", None) is not None


def progress_line(poll: dict[str, Any], elapsed: float | None = None) -> str:
    """The sweep's state in one line of text.

    Example
    -------
    >>> progress_line({"name": "lr", "status": "running", "planned": 8, "metric": "loss",
    ...                "counts": {"finished": 3, "running": 2}, "best": {"value": 0.1234, "number": 1}})
    'sweep lr: 3/8 trials done · 2 running · best loss 0.1234 (trial 1)'
    """
    counts = dict(poll.get("counts") or {})
    running = counts.pop("running", 0) + counts.pop("queued", 0)
    done = sum(n for status, n in counts.items() if status != "not started")
    planned = poll.get("planned")
    parts = [f"sweep {poll['name']}: {done}/{planned if planned is not None else '?'} trials done"]
    if poll.get("status") not in ("running", "starting"):
        parts[0] = f"sweep {poll['name']} {poll.get('status')}: {done} trials"
    if running:
        parts.append(f"{running} running")
    for status in ("pruned", "failed", "crashed", "interrupted"):
        if counts.get(status):
            parts.append(f"{counts[status]} {status}")
    best = poll.get("best")
    if best is not None and poll.get("metric"):
        parts.append(f"best {poll['metric']} {number(best['value'])} (trial {best['number']})")
    if elapsed is not None:
        parts.append(duration(elapsed))
    return " · ".join(parts)


class Progress:
    """One output line kept current while a sweep runs in a notebook (a no-op elsewhere)."""

    def __init__(self, sweep: Sweep) -> None:
        self.sweep = sweep
        self.started = time.monotonic()
        self._handle: Any = None
        self._drawn = 0.0
        self._enabled = _in_kernel()

    def start(self) -> None:
        if self._enabled:
            self._draw(force=True)

    def __call__(self, event: TrialEvent) -> None:
        """An ``on_trial`` observer: a trial started or ended."""
        self._draw()

    def finish(self) -> None:
        if self._enabled:
            self._draw(force=True)

    def _draw(self, force: bool = False) -> None:
        now = time.monotonic()
        if not self._enabled or (not force and now - self._drawn < REDRAW_EVERY):
            return
        self._drawn = now
        try:
            text = progress_line(self.sweep.poll(), now - self.started)
            bundle = {"text/plain": text,
                      "text/html": f"<div class='nbtrack-sweep-progress'>{html.escape(text)}</div>"}
            if self._handle is None:
                from IPython.display import display

                self._handle = display(bundle, raw=True, display_id=True)  # type: ignore[no-untyped-call]
            else:
                self._handle.update(bundle, raw=True)
        except Exception as exc:  # a progress line never stops a sweep
            self._enabled = False
            warn_once("sweep-progress", f"nbtrack could not show the sweep's progress ({exc!r}); "
                      "the sweep goes on")


def trials_table(trials: pd.DataFrame, metric: str | None, goal: str) -> str:
    """The trials as an HTML table: best first, the parameters that vary, formatted values."""
    if trials.empty:
        return "<p>no trials yet</p>"
    frame = trials
    if metric and frame["value"].notna().any():
        frame = frame.sort_values("value", ascending=goal != "maximize", na_position="last", kind="stable")
    params = [c for c in frame.columns if c.startswith("config.")
              and frame[c].astype(str).nunique(dropna=False) > 1]
    heads = ["trial", "status", metric or "value", *[c[len("config."):] for c in params], "duration"]
    e = html.escape
    rows = []
    for _, row in frame.head(TABLE_ROWS).iterrows():
        cells = [str(row["number"]), e(str(row["status"])), value(row["value"], nan_missing=True),
                 *[e(value(row[c], nan_missing=True)) for c in params], duration(row["duration"])]
        rows.append("<tr>" + "".join(f"<td>{c}</td>" for c in cells) + "</tr>")
    more = (f"<tr><td colspan='{len(heads)}'>… {len(frame) - TABLE_ROWS} more: "
            "sweep.trials()</td></tr>") if len(frame) > TABLE_ROWS else ""
    head = "".join(f"<th>{e(h)}</th>" for h in heads)
    return (f"<table class='nbtrack-sweep-trials'><thead><tr>{head}</tr></thead>"
            f"<tbody>{''.join(rows)}{more}</tbody></table>")
