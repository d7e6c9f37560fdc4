"""The ``--where`` language, now part of the core: see :mod:`nbtrack.selection_where`.

Kept so ``from nbtrack.report.where import filter_runs`` goes on working.
"""

from __future__ import annotations

from ..selection_where import MAX_LENGTH, SYNTAX, filter_records, filter_runs, predicate

__all__ = ["MAX_LENGTH", "SYNTAX", "filter_records", "filter_runs", "predicate"]
