"""A one-line progress bar on stderr for long exports (no dependency)."""

from __future__ import annotations

import sys
import time
from typing import TextIO

__all__ = ["Progress"]

BAR_WIDTH = 24


class Progress:
    """``[#########...............]  9/24 charts: loss`` redrawn in place on a terminal.

    Off unless ``enabled`` (default: when ``stream`` is a terminal), so logs and
    notebooks stay clean. Redraws at most every 0.1 s; :meth:`close` ends the line.

    Example
    -------
    >>> bar = Progress(3, enabled=False)
    >>> bar.advance("loading runs"); bar.close()
    """

    def __init__(self, total: int, *, enabled: bool | None = None, stream: TextIO | None = None) -> None:
        self.stream = stream if stream is not None else sys.stderr
        if enabled is None:
            isatty = getattr(self.stream, "isatty", None)
            enabled = bool(isatty and isatty())
        self.enabled = enabled
        self.total = max(total, 1)
        self.done = 0
        self._drawn = 0.0
        self._width = 0

    def add(self, more: int) -> None:
        """Grow the total once the amount of work is known."""
        self.total += more

    def advance(self, label: str, by: int = 1) -> None:
        """Count ``by`` units of work done and show ``label`` as what happens next."""
        self.done = min(self.done + by, self.total)
        now = time.monotonic()
        if self.enabled and (now - self._drawn >= 0.1 or self.done == self.total):
            self._drawn = now
            self._draw(label)

    def _draw(self, label: str) -> None:
        label = "".join(ch if ch.isprintable() else "?" for ch in label[:40])  # user text: no escapes
        filled = BAR_WIDTH * self.done // self.total
        line = f"[{'#' * filled}{'.' * (BAR_WIDTH - filled)}] {self.done:>3}/{self.total} {label}"
        pad = " " * max(self._width - len(line), 0)
        self._width = len(line)
        try:
            self.stream.write(f"\r{line}{pad}")
            self.stream.flush()
        except (OSError, ValueError):
            self.enabled = False  # a closed or broken stderr is no reason to fail the export

    def close(self) -> None:
        """End the bar's line (nothing when it never showed)."""
        if self.enabled and self._width:
            try:
                self.stream.write("\r" + " " * self._width + "\r")
                self.stream.flush()
            except (OSError, ValueError):
                pass
        self._width = 0
