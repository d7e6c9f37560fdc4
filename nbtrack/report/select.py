"""Which runs and metrics a report shows: ``project``, ``runs``, ``sweep``, ``where``, ``metrics``."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from ..errors import NbtrackError
from ..selection import Selection as RunSelection
from .data import is_system, parse_metric

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["MetricChoice", "Selection", "choose_metrics", "logged_keys", "select_runs"]


@dataclass(frozen=True)
class Selection:
    """What to report on, as asked; every part given narrows the selection further.

    ``runs`` are ids or names as the user typed them; :func:`select_runs` turns them
    into ids within the project and sweep, then asks the store for one
    :class:`nbtrack.selection.Selection`.
    """

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


def select_runs(selection: Selection, *, store: Any = None) -> pd.DataFrame:
    """The selected runs (a :func:`nbtrack.runs` frame), oldest first; raises when none match."""
    from ..query import runs_frame, store_for

    chosen = store_for(store)
    scope = RunSelection(project=selection.project, sweep=selection.sweep)
    with chosen.snapshot():
        ids = _pick(chosen, [str(r) for r in selection.runs], scope) if selection.runs else None
        rows = chosen.select_runs(scope.replace(ids=ids, where=selection.where, sort="created_at"))
    if not rows:
        asked = selection.describe()
        if asked:
            raise NbtrackError(f"no runs match {asked} in the store {chosen.location}; "
                               "see `nbtrack ls` for the runs there")
        raise NbtrackError(f"no runs to report: the store {chosen.location} has none; "
                           "pass --store DIR (or store=) to read another")
    frame = runs_frame(rows)
    # Config keys and metrics that only unselected runs have are no part of this report.
    empty = [c for c in frame.columns if c.startswith(("config.", "summary.")) and frame[c].isna().all()]
    return frame.drop(columns=empty)


def _pick(store: Any, refs: list[str], scope: RunSelection) -> tuple[str, ...]:
    """Run ids for ids or names (the newest of that name, as everywhere in nbtrack) within the scope."""
    found = store.resolve_runs(refs, within=scope)
    for ref in refs:
        if ref not in found:
            described = scope.describe()
            within = f" in {described}" if described else ""
            raise NbtrackError(f"no run with id or name {ref!r}{within}; see `nbtrack ls`")
    return tuple(dict.fromkeys(found[ref] for ref in refs))


def logged_keys(run_ids: Sequence[str], *, store: Any = None) -> list[str]:
    """Metric keys logged by any of the runs, sorted."""
    from ..query import store_for

    return store_for(store).metric_keys(list(run_ids))


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
