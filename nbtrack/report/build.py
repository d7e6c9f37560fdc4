"""Gather a report's content from the store and render it to one self-contained HTML page."""

from __future__ import annotations

from collections import Counter
from dataclasses import replace
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any

from .._version import __version__
from ..errors import NbtrackError
from ..formatting import size
from .artifacts import artifact_rows
from .data import best_runs, config_table, is_system
from .media import IMAGE_STEPS, IMAGES_PER_STEP, MAX_IMAGE_BYTES, MediaBudget, media_parts
from .progress import Progress
from .select import MetricChoice, Selection, choose_metrics, logged_keys, select_runs
from .specs import ChartSection, ChartSpec, along_rows, metric_specs, sweep_specs
from .sweep import Sweep, find_sweep, sweep_importance, sweep_record, trial_order

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["build_report"]

_DETAIL_FIELDS = ("id", "sweep_id", "group_name", "kind", "source", "execution_count", "notebook_path",
                  "hostname", "git_commit", "git_dirty", "error", "environment")


def _details(ids: list[str], store: Any) -> dict[str, dict[str, Any]]:
    """Source, environment, error and the like for each run, in one read."""
    from ..query import store_for

    out = {}
    for record in store_for(store).run_records(ids):
        out[str(record["id"])] = {k: (None if _missing(record[k]) else record[k]) for k in _DETAIL_FIELDS}
    return out


def _missing(value: Any) -> bool:
    try:
        return value is None or bool(value != value)  # NaN, NaT, pd.NA
    except (TypeError, ValueError):
        return False


def _summary(runs: pd.DataFrame, choice: MetricChoice) -> dict[str, Any]:
    statuses = Counter(str(s) for s in runs["status"])
    ended = [e if not _missing(e) else c for e, c in zip(runs["ended_at"], runs["created_at"])]
    return {
        "runs": len(runs),
        "statuses": sorted(statuses.items(), key=lambda kv: -kv[1]),
        "projects": sorted({str(p) for p in runs["project"]}),
        "first": runs["created_at"].min(),
        "last": max(ended) if ended else None,
        "best": best_runs(runs, choice.metrics).to_dict("records"),
        "guessed": choice.guessed,
    }


def _table(runs: pd.DataFrame) -> dict[str, Any]:
    """The run table: which columns, and the rows as plain records."""
    config = [c for c in runs.columns if c.startswith("config.")]
    summary = [c for c in runs.columns if c.startswith("summary.") and not is_system(c[8:])]
    return {
        "config": config,
        "summary": summary,
        "projects": runs["project"].nunique() > 1,
        "rows": runs.to_dict("records"),
    }


def _diff(runs: pd.DataFrame) -> dict[str, Any]:
    diff = config_table(runs)
    names = dict(zip(runs["id"].astype(str), runs["name"].astype(str)))
    ids = [c for c in diff.columns if c != "differs"]
    rows = [{"key": key, "differs": bool(row["differs"]), "values": [row[i] for i in ids]}
            for key, row in diff.iterrows()]
    return {"runs": [(i, names[i]) for i in ids], "rows": rows,
            "differing": int(diff["differs"].sum()) if len(diff) else 0}


def _constant(part: pd.DataFrame) -> bool:
    """Whether a metric never changed within any run (a machine's total RAM, say)."""
    return bool(len(part)) and bool((part.groupby("run_id")["value"].nunique() <= 1).all())


def _charts(ids: list[str], choice: MetricChoice, max_points: int, store: Any, bar: Progress,
            x: str | None = None) -> tuple[list[ChartSection], list[ChartSpec], dict[str, list[Any]],
                                           dict[str, Any]]:
    """Training charts in the sections of :func:`nbtrack.charts.metric_sections` (by prefix:
    ``train/``, ``val/``...), system charts against time (the clock for ``x="wall"``); system
    readings constant in every run are listed instead.

    Training charts are built against each section's x (the step) and the page draws them
    along ``x`` (its initial choice; another one there): their rows carry what every x needs.
    An ``x`` metric not charted comes last, as its points alone (``{key: packed rows}``).
    """
    from ..charts import metric_data, metric_sections
    from ..charts.metrics import X_CHOICES

    keys = [k for k, _ in choice.metrics] + choice.system
    if not keys:
        return [], [], {}, {}
    alone = x is not None and x not in ("time", *X_CHOICES, *keys)
    if alone:
        keys = [*keys, str(x)]  # drawn along, not charted itself
    bar.advance("loading metrics")
    data = metric_data(ids, keys, max_points=max_points, store=store)
    known = set(data["key"])
    if alone and x not in known:
        raise NbtrackError(f"cannot chart against x={x!r}: use one of {', '.join(X_CHOICES)} or a "
                           f"metric logged with it ({', '.join(sorted(known)[:10])})")
    training: list[ChartSection] = []
    system: list[ChartSpec] = []
    constant: dict[str, list[Any]] = {}
    chosen = [k for k, _ in choice.metrics]
    for section in metric_sections(chosen):
        charts = []
        for key in section.keys:
            bar.advance(f"chart {key}")
            charts.extend(metric_specs(data, [key], x=section.x))
        training.append(ChartSection(section.title, charts))
    for key in choice.system:
        bar.advance(f"chart {key}")
        part = data[data["key"] == key]
        if _constant(part):
            constant[key] = sorted(set(part["value"].dropna()))[:4]
        else:
            system.extend(metric_specs(data, [key], x="wall" if x in ("wall", "time") else "relative"))
    along = {str(x): along_rows(data, str(x))} if alone and training else {}
    return training, system, constant, along


def build_report(selection: Selection, *, metrics: list[str] | None = None, title: str | None = None,
                 store: Any = None, max_points: int = 1000, progress: bool | None = None,
                 max_image_bytes: int = MAX_IMAGE_BYTES, x: str | None = None) -> str:
    """Render the report for ``selection`` to an HTML string (see :func:`export_report`)."""
    from .render import assets, environment

    bar = Progress(4, enabled=progress)
    try:
        bar.advance("selecting runs")
        record = sweep_record(selection.sweep, store=store) if selection.sweep else {}
        if record:  # --sweep may name the sweep; its runs carry the id
            selection = replace(selection, sweep=str(record["id"]))
        runs = select_runs(selection, store=store)
        ids = [str(i) for i in runs["id"]]
        choice = choose_metrics(logged_keys(ids, store=store), metrics)
        details = _details(ids, store)
        sweep = find_sweep(record, runs, {d.get("sweep_id") for d in details.values()}, choice.metrics,
                           metrics is not None, store=store)
        choice = _with_sweep_goal(choice, sweep)
        bar.add(len(choice.metrics) + len(choice.system) + (1 if sweep else 0) + 1)
        training, system, constant, along = _charts(ids, choice, max_points, store, bar, x)
        if sweep is not None and sweep.metric:
            bar.advance("sweep charts")
            sweep.charts = sweep_specs(trial_order(runs, sweep.order), sweep.params, sweep.metric,
                                       sweep.goal, importance=sweep_importance(sweep, runs, store=store),
                                       log_axes=sweep.log_axes)
        bar.advance("media and artifacts")
        budget = MediaBudget(max_image_bytes)
        media = media_parts(runs, store, budget)
        bar.advance("inlining Vega")
        context = {
            "title": title or _default_title(sweep, runs),
            "generated": datetime.now(timezone.utc).replace(tzinfo=None),
            "version": __version__, "selection": selection.describe(), "max_points": max_points,
            "summary": _summary(runs, choice), "table": _table(runs), "diff": _diff(runs),
            "training": training, "system": system, "system_constant": constant, "sweep": sweep,
            "x": "wall" if x == "time" else (x or ""), "along": along,
            "media": media, "media_budget": budget, "artifacts": artifact_rows(ids, store),
            "image_steps": IMAGE_STEPS, "images_per_step": IMAGES_PER_STEP,
            "image_budget": size(max_image_bytes),
            "details": [(run, details.get(str(run["id"]), {})) for run in runs.to_dict("records")],
            **assets(),
        }
        bar.advance("writing HTML")
        return str(environment().get_template("report.html.j2").render(**context))
    finally:
        bar.close()


def _with_sweep_goal(choice: MetricChoice, sweep: Sweep | None) -> MetricChoice:
    """The sweep's goal for its metric replaces a goal guessed from the name."""
    if sweep is None or sweep.metric not in choice.guessed:
        return choice
    metrics = [(k, sweep.goal if k == sweep.metric else goal) for k, goal in choice.metrics]
    return replace(choice, metrics=metrics, guessed=choice.guessed - {sweep.metric})


def _default_title(sweep: Sweep | None, runs: pd.DataFrame) -> str:
    if sweep is not None:
        return f"Sweep {sweep.name or sweep.id}"
    projects = sorted({str(p) for p in runs["project"]})
    return f"{', '.join(projects[:3])}{' ...' if len(projects) > 3 else ''}: {len(runs)} run(s)"
