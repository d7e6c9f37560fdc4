"""How nbtrack writes numbers, times and durations for people: one home for the CLI, the
report and the views (the widgets' and the sidebar's TypeScript mirror it)."""

from __future__ import annotations

import math
from typing import Any

__all__ = ["duration"]


def duration(seconds: Any) -> str:
    """15ms, 1.2s, 3m04s, 1h02m, 2d03h; empty when unknown.

    Example
    -------
    >>> duration(184.2)
    '3m04s'
    """
    if not isinstance(seconds, (int, float)) or not math.isfinite(seconds):
        return ""
    if seconds < 1:
        return f"{seconds * 1000:.0f}ms"
    if seconds < 60:
        return f"{seconds:.1f}s"
    s = int(seconds)
    if s < 3600:
        return f"{s // 60}m{s % 60:02d}s"
    if s < 86400:
        return f"{s // 3600}h{s % 3600 // 60:02d}m"
    return f"{s // 86400}d{s % 86400 // 3600:02d}h"
