"""Metric curves: one chart per metric, one line per run, optional smoothing and band."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from ._base import HEIGHT, SCHEME, WIDTH, altair, empty

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["METRIC_COLUMNS", "metric_chart", "metric_charts", "metric_data", "smooth", "step_metric_of"]

#: Columns of :func:`metric_data` that :func:`metric_chart` draws (what a spec's data needs).
METRIC_COLUMNS = ("run", "key", "step", "value", "min", "max", "x", "x_metric")


def metric_data(
    runs: Any, keys: str | Sequence[str] | None = None, *, max_points: int = 2000, store: Any = None
) -> pd.DataFrame:
    """Compute: downsampled series for charts, with run names.

    Returns columns ``run_id, run, key, step, value, min, max, time``; ``run`` is
    the run's name, made unique with its id when two selected runs share a name.
    When a run said ``define_metric(key, step_metric=other)`` (W&B's), its points of
    ``key`` also carry ``x`` (the value ``other`` had at the same step) and
    ``x_metric`` (``other``), which :func:`metric_chart` draws along.
    """
    import pandas as pd

    from .. import query
    from ..selection import Selection

    chosen = query.store_for(store)
    with chosen.snapshot():  # one open of the store for the points and the names
        data = query.history(runs, keys, max_points=max_points, store=chosen)
        if data.empty:
            data["run"] = []
            return data
        ids = tuple(dict.fromkeys(data["run_id"]))
        rows = chosen.select_runs(Selection(ids=ids))
        _add_step_metrics(data, chosen, ids)
    names = pd.Series([r["name"] for r in rows], index=[r["id"] for r in rows], dtype=object)
    duplicated = names[names.duplicated(keep=False)].index
    label = {i: f"{names[i]} ({i})" if i in duplicated else names[i] for i in names.index}
    data["run"] = data["run_id"].map(label)
    return data


def step_metric_of(definitions: dict[str, Any], key: str) -> str | None:
    """The ``step_metric`` a run's ``define_metric`` definitions give ``key``: its own
    definition first, then the first glob (``"val/*"``) that matches, as W&B does.

    Example
    -------
    >>> step_metric_of({"val/*": {"step_metric": "epoch"}}, "val/loss")
    'epoch'
    >>> step_metric_of({"val/*": {"step_metric": "epoch"}, "val/acc": {}}, "val/acc") is None
    True
    """
    import fnmatch

    if key in definitions:
        found = definitions[key].get("step_metric")
        return found if isinstance(found, str) else None
    for pattern, definition in definitions.items():
        if fnmatch.fnmatchcase(key, pattern):
            found = definition.get("step_metric")
            return found if isinstance(found, str) else None
    return None


def _add_step_metrics(data: pd.DataFrame, store: Any, ids: Sequence[str]) -> None:
    """Fill ``x`` / ``x_metric`` for the points whose run gave their key a step metric."""
    from .. import query

    wanted: dict[tuple[str, str], str] = {}
    for record in store.run_records(list(ids)):
        definitions = (record.get("environment") or {}).get("define_metric") or {}
        if not definitions:
            continue
        for key in set(data.loc[data["run_id"] == record["id"], "key"]):
            found = step_metric_of(definitions, key)
            if found is not None and found != key:
                wanted[(record["id"], key)] = found
    if not wanted:
        return
    data["x"] = float("nan")
    data["x_metric"] = None
    steps: dict[tuple[str, str], dict[Any, Any]] = {}  # val/loss and val/acc share one epoch read
    for (run_id, key), metric in wanted.items():
        by_step = steps.get((run_id, metric))
        if by_step is None:
            series = query.history(run_id, metric, store=store)
            by_step = steps[(run_id, metric)] = dict(zip(series["step"], series["value"]))
        rows = (data["run_id"] == run_id) & (data["key"] == key)
        data.loc[rows, "x"] = data.loc[rows, "step"].map(by_step).astype(float)
        data.loc[rows, "x_metric"] = metric


def smooth(data: pd.DataFrame, weight: float) -> pd.DataFrame:
    """Compute: TensorBoard-style exponential smoothing of ``value`` per run and metric.

    ``weight`` in [0, 1): 0 leaves the data alone. The average is debiased so the
    first points are not pulled towards zero. NaN and inf points are skipped.

    Example
    -------
    >>> import pandas as pd
    >>> d = pd.DataFrame({"run_id": ["a"] * 3, "key": ["loss"] * 3, "step": [0, 1, 2],
    ...                   "value": [1.0, 0.0, 0.0]})
    >>> smooth(d, 0.5)["smoothed"].round(3).tolist()
    [1.0, 0.333, 0.143]
    """
    import math

    if not 0 <= weight < 1:
        from ..errors import NbtrackError

        raise NbtrackError(f"smoothing must be in [0, 1); got {weight!r}")
    out = data.sort_values(["run_id", "key", "step"]).copy()
    smoothed = []
    for _, group in out.groupby(["run_id", "key"], sort=False):
        last, debias, count = 0.0, 0.0, 0
        for value in group["value"]:
            if value is None or not math.isfinite(value):
                smoothed.append(value)
                continue
            count += 1
            last = last * weight + (1 - weight) * value
            debias = 1 - weight**count
            smoothed.append(last / debias if weight else value)
    out["smoothed"] = smoothed
    return out


def metric_chart(
    data: pd.DataFrame,
    key: str,
    *,
    x: str = "step",
    smoothing: float = 0.0,
    log_scale: bool = False,
    band: bool = True,
    width: int = WIDTH,
    height: int = HEIGHT,
) -> Any:
    """Render: one metric's curves, a line per run (from :func:`metric_data`).

    With ``smoothing``, the smoothed line is drawn over the raw one (faded). With
    ``band`` and downsampled data, the min-max envelope of each bucket is shaded so
    spikes that averaging hides stay visible.
    """
    alt = altair()
    part = data[data["key"] == key]
    if part.empty:
        return empty(f"no points logged for {key!r}").properties(title=key)
    if smoothing:
        part = smooth(part, smoothing)
    x_field, x_title = ("time:T", "time") if x == "time" else ("step:Q", x)
    tooltip = ["run:N", "step:Q", alt.Tooltip("value:Q", format=".5g")]
    if x == "step" and "x_metric" in part:
        # define_metric(key, step_metric=...): along that metric when every run shown says so
        metrics = set(part["x_metric"])
        if len(metrics) == 1 and None not in metrics:
            (x_title,) = metrics
            part = part[part["x"].notna()]
            x_field = "x:Q"
            tooltip.insert(1, alt.Tooltip("x:Q", title=x_title, format=".5g"))
    y_scale = alt.Scale(type="log") if log_scale else alt.Scale(zero=False)
    color = alt.Color("run:N", scale=alt.Scale(scheme=SCHEME), title="run")
    base = alt.Chart(part).encode(x=alt.X(x_field, title=x_title), color=color)
    # A series of one point draws no line: show points on series that short.
    short = bool(part.groupby("run").size().min() < 2)
    layers = []
    if smoothing:
        layers.append(base.mark_line(opacity=0.25).encode(y=alt.Y("value:Q", scale=y_scale)))
        layers.append(base.mark_line().encode(
            y=alt.Y("smoothed:Q", scale=y_scale, title=key), tooltip=tooltip))
    else:
        layers.append(base.mark_line(point=short).encode(
            y=alt.Y("value:Q", scale=y_scale, title=key), tooltip=tooltip))
    if band and "min" in part and (part["min"] != part["max"]).any():
        # After the lines, so the legend takes its symbols from a solid line.
        layers.append(base.mark_area(opacity=0.15).encode(y="min:Q", y2="max:Q"))
    return alt.layer(*layers).properties(title=key, width=width, height=height)


def metric_charts(data: pd.DataFrame, keys: Sequence[str] | None = None, *, columns: int = 2,
                  **options: Any) -> Any:
    """Render: :func:`metric_chart` for each metric, laid out in a grid."""
    alt = altair()
    keys = list(keys) if keys is not None else sorted(set(data["key"])) if not data.empty else []
    if not keys:
        return empty("nothing logged yet")
    charts = [metric_chart(data, key, **options) for key in keys]
    rows = [alt.hconcat(*charts[i:i + columns]) for i in range(0, len(charts), columns)]
    return alt.vconcat(*rows) if len(rows) > 1 else rows[0]
