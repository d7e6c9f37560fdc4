"""The sweep part of a report: which sweep, its metric and goal, its trials in order."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from ..errors import NbtrackError
from .data import config_table
from .specs import ChartSpec

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["MAX_AXES", "Sweep", "find_sweep", "sweep_record", "trial_order"]

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


def sweep_record(ref: str, *, store: Any = None) -> dict[str, Any]:
    """The sweep's stored row (id, name, method, metric, goal) and trial order, if any.

    Stores from before sweeps were recorded, and sweeps run elsewhere, have no row:
    then only ``id`` is known (the runs' ``sweep_id``).
    """
    from .. import query

    try:
        found = query.sql(
            "SELECT id, name, method, metric, goal FROM main.sweep_records WHERE id = ? OR name = ? "
            "ORDER BY (id = ?) DESC, created_at DESC LIMIT 1", [ref, ref, ref], store=store)
    except NbtrackError:  # no sweep tables in this store
        return {"id": ref}
    if found.empty:
        return {"id": ref}
    record = {k: (None if v is None or v != v else v) for k, v in found.iloc[0].to_dict().items()}
    trials = query.sql("SELECT run_id, number FROM main.sweep_trials WHERE sweep_id = ?",
                       [record["id"]], store=store)
    record["order"] = dict(zip(trials["run_id"].astype(str), trials["number"].astype(int)))
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
    return Sweep(id=str(record["id"]), name=record.get("name"), metric=metric, goal=goal,
                 params=[str(p) for p in varied[:MAX_AXES]], order=record.get("order") or {})
