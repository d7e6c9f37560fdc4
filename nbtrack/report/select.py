"""Which runs and metrics a report shows: ``project``, ``runs``, ``sweep``, ``where``, ``metrics``."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from ..errors import NbtrackError
from .data import is_system, parse_metric
from .where import filter_runs

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["MetricChoice", "Selection", "choose_metrics", "logged_keys", "select_runs"]


@dataclass(frozen=True)
class Selection:
    """What to report on; every part given narrows the selection further."""

    project: str | None = None
    runs: Sequence[str] | None = None
    sweep: str | None = None
    where: str | None = None

    def describe(self) -> str:
        parts = [f"{name} {value!r}" for name, value in (
            ("project", self.project), ("sweep", self.sweep), ("where", self.where)) if value]
        if self.runs:
            parts.append(f"runs {', '.join(self.runs)}")
        return " and ".join(parts)


@dataclass(frozen=True)
class MetricChoice:
    """The metrics to chart: training ``(key, goal)`` pairs and system keys."""

    metrics: list[tuple[str, str]]
    system: list[str]
    guessed: set[str]


def _store_dir(store: Any) -> str:
    from ..store import Store, get_store

    return str((store if isinstance(store, Store) else get_store(store)).dir)


def select_runs(selection: Selection, *, store: Any = None) -> pd.DataFrame:
    """The selected runs (a :func:`nbtrack.runs` frame), oldest first; raises when none match."""
    from .. import query

    frame = query.runs(selection.project, sweep=selection.sweep, store=store)
    if selection.runs:
        frame = _pick(frame, [str(r) for r in selection.runs], selection)
    if selection.where and not frame.empty:
        frame = filter_runs(frame, selection.where)
    if frame.empty:
        asked = selection.describe()
        if asked:
            raise NbtrackError(f"no runs match {asked} in the store {_store_dir(store)}; "
                               "see `nbtrack ls` for the runs there")
        raise NbtrackError(f"no runs to report: the store {_store_dir(store)} has none; "
                           "pass --store DIR (or store=) to read another")
    frame = frame.sort_values(["created_at", "id"], kind="stable").reset_index(drop=True)
    # Config keys and metrics that only unselected runs have are no part of this report.
    empty = [c for c in frame.columns if c.startswith(("config.", "summary.")) and frame[c].isna().all()]
    return frame.drop(columns=empty)


def _pick(frame: pd.DataFrame, refs: list[str], selection: Selection) -> pd.DataFrame:
    """Runs by id, or by name (the newest of that name, as everywhere in nbtrack)."""
    chosen: list[int] = []
    for ref in refs:
        by_id = frame.index[frame["id"] == ref]
        by_name = frame.index[frame["name"] == ref]  # frame is newest first
        found = by_id if len(by_id) else by_name[:1]
        if not len(found):
            scope = Selection(project=selection.project, sweep=selection.sweep).describe()
            within = f" in {scope}" if scope else ""
            raise NbtrackError(f"no run with id or name {ref!r}{within}; see `nbtrack ls`")
        if found[0] not in chosen:
            chosen.append(found[0])
    return frame.loc[chosen]


def logged_keys(run_ids: Sequence[str], *, store: Any = None) -> list[str]:
    """Metric keys logged by any of the runs, sorted."""
    from .. import query

    frame = query.sql("SELECT DISTINCT key FROM metrics WHERE list_contains(?, run_id) ORDER BY key",
                      [list(run_ids)], store=store)
    return [str(k) for k in frame["key"]]


def choose_metrics(logged: Sequence[str], asked: Sequence[str] | None) -> MetricChoice:
    """Split logged keys into training and system metrics; check the ones asked for exist.

    ``asked`` entries may end in ``:min`` or ``:max`` to say which way is better.
    """
    system = [k for k in logged if is_system(k)]
    if not asked:
        keys = [(k, *parse_metric(k)[1:]) for k in logged if not is_system(k)]
    else:
        keys = [parse_metric(text) for text in asked]
        missing = [key for key, _, _ in keys if key not in logged]
        if missing:
            have = ", ".join(k for k in logged if not is_system(k)) or "none"
            raise NbtrackError(f"no selected run logged the metric {missing[0]!r}; metrics logged: {have}")
        asked_system = [key for key, _, _ in keys if is_system(key)]
        system = asked_system or system
        keys = [k for k in keys if not is_system(k[0])]
    return MetricChoice(metrics=[(k, goal) for k, goal, _ in keys], system=system,
                        guessed={k for k, _, given in keys if not given})
