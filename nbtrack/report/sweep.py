"""The sweep part of a report: which sweep, its metric and goal, its trials in order."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from ..errors import NbtrackError
from .data import config_table
from .specs import ChartSpec

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["MAX_AXES", "Sweep", "find_sweep", "sweep_importance", "sweep_record", "trial_order"]

MAX_AXES = 12


@dataclass
class Sweep:
    """A sweep section: the metric its trials are compared by and the axes to draw."""

    id: str
    name: str | None
    metric: str | None
    goal: str
    params: list[str]
    order: dict[str, int] = field(default_factory=dict)
    charts: list[ChartSpec] = field(default_factory=list)
    #: the metric and goal the sweep searched on, when its record is in the store
    searched: tuple[str, str] | None = None
    #: parameters the sweep samples log-uniformly (a log axis in parallel coordinates);
    #: ``None`` when its config is unknown (the axes then guess from the values)
    log_axes: list[str] | None = None


def sweep_record(ref: str, *, store: Any = None) -> dict[str, Any]:
    """The sweep's stored row (id, name, method, metric, goal) and trial order, if any.

    Stores from before sweeps were recorded, and sweeps run elsewhere, have no row:
    then only ``id`` is known (the runs' ``sweep_id``).
    """
    from ..query import store_for
    from ..sweeps import records

    chosen = store_for(store)
    try:
        found = records.load(chosen, ref)
    except NbtrackError:  # no such sweep, or no sweep tables in this store
        return {"id": ref}
    record = {k: found.get(k) for k in ("id", "name", "method", "metric", "goal", "config")}
    trials = records.trial_rows(chosen, str(record["id"]))
    record["order"] = {str(t["run_id"]): int(t["number"]) for t in trials}
    return record


def trial_order(runs: pd.DataFrame, order: dict[str, int]) -> pd.DataFrame:
    """The runs in trial order: the sweep's trial numbers where known, else start time."""
    numbers = runs["id"].astype(str).map(lambda i: order.get(i, len(order) + 1_000_000))
    return runs.assign(_trial=numbers).sort_values(["_trial", "created_at"], kind="stable").drop(
        columns="_trial")


def find_sweep(record: dict[str, Any], runs: pd.DataFrame, sweep_ids: set[Any],
               metrics: list[tuple[str, str]], given: bool, *, store: Any = None) -> Sweep | None:
    """The sweep to show: ``record`` (from ``--sweep``), or the one sweep of every selected run.

    The sweep's own metric and goal win unless metrics were given explicitly; else
    the first selected metric is used.
    """
    if not record:
        if len(sweep_ids) != 1 or None in sweep_ids:
            return None
        record = sweep_record(str(next(iter(sweep_ids))), store=store)
    logged = dict(metrics)
    metric, goal = metrics[0] if metrics else (None, "minimize")
    if not given and record.get("metric") in logged:
        metric = record["metric"]
        goal = record["goal"] if record.get("goal") in ("minimize", "maximize") else logged[metric]
    diff = config_table(runs)
    varied = list(diff.index[diff["differs"]]) or list(diff.index)
    searched = None
    if record.get("metric"):  # the record is in the store and the sweep searched on a metric
        searched = (str(record["metric"]), str(record.get("goal") or "minimize"))
    return Sweep(id=str(record["id"]), name=record.get("name"), metric=metric, goal=goal,
                 params=[str(p) for p in varied[:MAX_AXES]], order=record.get("order") or {},
                 searched=searched, log_axes=_log_axes(record.get("config")))


def _log_axes(config: Any) -> list[str] | None:
    from ..charts.params import log_parameters

    return log_parameters(config) if isinstance(config, dict) else None


def sweep_importance(sweep: Sweep, runs: pd.DataFrame, *, store: Any = None) -> pd.DataFrame:
    """The importance the report shows: the same numbers as :meth:`nbtrack.Sweep.importance`.

    When the sweep's record is in the store and the report compares trials by the
    sweep's own metric and goal, it is the sweep's importance (over its real search
    space); else it is inferred from the selected runs' configs
    (:func:`nbtrack.importance.runs_importance`).
    """
    from ..importance import importance_table, runs_importance

    if sweep.metric is None:
        return importance_table({}, {}, [])
    if sweep.searched == (sweep.metric, sweep.goal):
        from ..query import store_for
        from ..sweeps import records
        from ..sweeps.sweep import Sweep as StoredSweep

        chosen = store_for(store)
        return StoredSweep(records.load(chosen, sweep.id), chosen).importance()
    return runs_importance(runs, sweep.params, sweep.metric, sweep.goal)
