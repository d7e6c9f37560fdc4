"""Metric curves: one chart per metric, one line per run, optional smoothing and band."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from ..errors import NbtrackError
from ._base import HEIGHT, NUMBER_FORMAT, WIDTH, altair, empty

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["METRIC_COLUMNS", "X_CHOICES", "averaged", "metric_chart", "metric_charts", "metric_data",
           "smooth", "step_metric_of", "x_axis"]

#: Columns of :func:`metric_data` that :func:`metric_chart` draws (what a spec's data needs).
METRIC_COLUMNS = ("run_id", "run", "color", "key", "step", "value", "min", "max", "time", "x", "x_metric")
#: What a metric chart may be drawn against, besides any logged metric's key: the step, the
#: time since the run's first point (``relative``), the clock (``wall``; ``time`` too).
X_CHOICES = ("step", "relative", "wall")


def metric_data(
    runs: Any, keys: str | Sequence[str] | None = None, *, max_points: int = 2000, store: Any = None
) -> pd.DataFrame:
    """Compute: downsampled series for charts, with run names.

    Returns columns ``run_id, run, color, key, step, value, min, max, time``; ``run`` is
    the run's name, made unique with its id when two selected runs share a name;
    ``color`` the run's colour in every view (:func:`~nbtrack.charts.colors.project_run_colors`).
    When a run said ``define_metric(key, step_metric=other)`` (W&B's), its points of
    ``key`` also carry ``x`` (the value ``other`` had at the same step) and
    ``x_metric`` (``other``), which :func:`metric_chart` draws along.
    """
    import pandas as pd

    from .. import query
    from ..selection import Selection
    from .colors import project_run_colors

    chosen = query.store_for(store)
    with chosen.snapshot():  # one open of the store for the points and the names
        data = query.history(runs, keys, max_points=max_points, store=chosen)
        if data.empty:
            data["run"] = []
            data["color"] = []
            return data
        ids = tuple(dict.fromkeys(data["run_id"]))
        rows = chosen.select_runs(Selection(ids=ids))
        _add_step_metrics(data, chosen, ids)
        colors = project_run_colors(list(ids), store=chosen)
    names = pd.Series([r["name"] for r in rows], index=[r["id"] for r in rows], dtype=object)
    duplicated = names[names.duplicated(keep=False)].index
    label = {i: f"{names[i]} ({i})" if i in duplicated else names[i] for i in names.index}
    data["run"] = data["run_id"].map(label)
    data["color"] = data["run_id"].map(colors)
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


def x_axis(data: pd.DataFrame, part: pd.DataFrame, x: str | None, key: str) -> tuple[pd.DataFrame, Any]:
    """Compute: ``part`` (one metric's points) with the column to draw it against, and its axis.

    ``x`` is one of :data:`X_CHOICES`, ``"time"`` (the same as ``"wall"``), any metric key
    of ``data`` (its value in the same run at the same step), or ``None``: the step (along
    a ``define_metric`` step metric where every run shown has one), but time since the
    start for system metrics.
    """
    from .interactions import Axis
    from .sections import SYSTEM, section_of

    if x is None:
        x = "relative" if section_of(key) == SYSTEM and "time" in data else "step"
    if x == "step":
        if "x_metric" in part:
            # define_metric(key, step_metric=...): along that metric when every run shown says so
            metrics = set(part["x_metric"])
            if len(metrics) == 1 and None not in metrics:
                (title,) = metrics
                return part[part["x"].notna()], Axis("x", "Q", str(title))
        return part, Axis("step", "Q", "step", format="d")
    if x in ("relative", "wall", "time"):
        if "time" not in part:
            raise NbtrackError(f"x={x!r} needs the points' times: chart the frame of "
                               "nbtrack.charts.metric_data(...) with its 'time' column")
        times = _datetimes(data)
        if x != "relative":
            return part.assign(time=times[part.index]), Axis("time", "T", "wall time")
        start = times.groupby(data["run"]).transform("min")
        seconds = (times - start).dt.total_seconds()
        return part.assign(relative=seconds[part.index]), Axis("relative", "Q", "relative time (s)")
    known = set(data["key"])
    if x not in known:
        raise NbtrackError(f"cannot chart against x={x!r}: use one of {', '.join(X_CHOICES)} or a "
                           f"metric logged with it ({', '.join(sorted(known)[:10])})")
    import pandas as pd

    # Each point at the value ``x`` had at its step: its last value logged at or before it
    # (W&B's step metric; an eval every 100 steps still has the epoch it ran in, and series
    # downsampled apart still pair). Points before ``x``'s first value are not drawn.
    logged = data[data["key"] == x].dropna(subset=["value"])
    along = logged.groupby(["run", "step"], as_index=False)["value"].mean()
    left = part.drop(columns="x", errors="ignore").reset_index()  # a define_metric x, replaced
    merged = pd.merge_asof(left.astype({"step": "int64"}).sort_values("step"),
                           along.rename(columns={"value": "x"}).astype({"step": "int64"}).sort_values("step"),
                           on="step", by="run", direction="backward")
    drawn = merged.set_index("index").sort_index()
    drawn.index.name = part.index.name
    return drawn[drawn["x"].notna()], Axis("x", "Q", x)


def _datetimes(data: pd.DataFrame) -> pd.Series:
    import pandas as pd

    return pd.to_datetime(data["time"], utc=False)


def metric_chart(
    data: pd.DataFrame,
    key: str,
    *,
    x: str | None = None,
    smoothing: float = 0.0,
    log_scale: bool = False,
    band: bool = True,
    width: int | str = WIDTH,
    height: int = HEIGHT,
    colors: dict[str, str] | None = None,
) -> Any:
    """Render: one metric's curves, a line per run (from :func:`metric_data`).

    Parameters
    ----------
    x
        What to draw against: ``"step"``, ``"relative"`` (seconds since the run's first
        point), ``"wall"`` (the clock), or any metric key logged beside ``key`` (default:
        the step, or relative time for ``system/`` metrics); see :func:`x_axis`.
    smoothing
        TensorBoard's debiased exponential smoothing weight in [0, 1) (:func:`smooth`):
        the smoothed line is drawn over the raw one, faded.
    log_scale
        A logarithmic y axis.
    band
        With downsampled data, shade the min-max envelope of each bucket, so spikes that
        averaging hides stay visible.
    width
        Pixels, or ``"container"`` to fill the element it is shown in.
    colors
        ``{run_id: "#rrggbb"}``; default: the ``color`` column of :func:`metric_data`,
        else :func:`~nbtrack.charts.colors.run_colors` of the runs shown.

    Every chart carries the crosshair tooltip and the zoom of
    :func:`~nbtrack.charts.interactions.interactive`.

    Example
    -------
    >>> metric_chart(nbtrack.charts.metric_data(runs), "loss", smoothing=0.6)  # doctest: +SKIP
    """
    alt = altair()
    from .interactions import Axis, interactive, run_color

    part = data[data["key"] == key]
    if part.empty:
        return empty(f"no points logged for {key!r}").properties(title=key)
    part, x_axis_ = x_axis(data, part, x, key)
    if part.empty:
        return empty(f"no points of {key!r} to draw against {x_axis_.title}").properties(title=key)
    if smoothing:
        part = smooth(part, smoothing)
    labels, colors_ = _run_colors(data, part, colors)
    # Only what the chart draws goes into its spec (a report or a widget carries every point).
    unused = ["color"] + (["time"] if x_axis_.field != "time" else [])
    part = part.drop(columns=[c for c in unused if c in part])
    y_field = "smoothed" if smoothing else "value"
    y_scale = alt.Scale(type="log") if log_scale else alt.Scale(zero=False)
    color = run_color(labels, colors_)
    whole = alt.Axis(tickMinStep=1) if x_axis_.field == "step" else alt.Undefined  # no step 0.5
    base = alt.Chart(part).encode(x=alt.X(x_axis_.shorthand, title=x_axis_.title, axis=whole), color=color)
    # A series of one point draws no line: show points on series that short.
    short = bool(part.groupby("run").size().min() < 2)
    layers = []
    if smoothing:  # the raw curve, faded, beneath the smoothed one
        layers.append(base.mark_line(opacity=0.25, clip=True).encode(y=alt.Y("value:Q", scale=y_scale)))
    layers.append(base.mark_line(point=short, clip=True).encode(
        # Tick labels in nbtrack's number format: Vega's own, sized to the tick step, wrote
        # "0" for a metric that stayed at 0.001 (a constant learning rate).
        y=alt.Y(f"{y_field}:Q", scale=y_scale, title=key, axis=alt.Axis(format=NUMBER_FORMAT))))
    if band and "min" in part and averaged(part["min"], part["max"]):
        layers.append(base.mark_area(opacity=0.15, clip=True).encode(
            y=alt.Y("min:Q", scale=y_scale), y2="max:Q"))
    chart = interactive(layers, part, x=x_axis_, y=Axis(y_field, "Q", key, NUMBER_FORMAT), labels=labels,
                        colors=colors_, title=key, width=width, height=height)
    if log_scale:  # a log axis has no place for zero or less: such points are left out, as W&B does
        chart = chart.transform_filter(log_filter(bool(smoothing)))
    return chart


def log_filter(smoothed: bool) -> str:
    """The points a log y axis draws (Vega expression): the value, its bucket's min and the
    smoothed value above zero; a crosshair row (:func:`~nbtrack.charts.interactions.
    aligned_points`, runs apart) carries only the drawn y (``labextension/src/drawing.ts``
    writes the same).

    Example
    -------
    >>> log_filter(False)
    'datum.crosshair ? datum.value > 0 : (datum.value > 0 && (datum.min == null || datum.min > 0))'
    """
    from .interactions import CROSSHAIR

    shown = "datum.value > 0 && (datum.min == null || datum.min > 0)"
    if smoothed:
        shown += " && datum.smoothed > 0"
    return f"datum.{CROSSHAIR} ? datum.{'smoothed' if smoothed else 'value'} > 0 : ({shown})"


def _run_colors(data: pd.DataFrame, part: pd.DataFrame,
                colors: dict[str, str] | None) -> tuple[list[str], list[str]]:
    """The chart's runs (labels in legend order) and their colours."""
    from .colors import run_colors

    shown = part.drop_duplicates("run")
    shown = shown.iloc[sorted(range(len(shown)), key=lambda n: _natural(str(shown["run"].iloc[n])))]
    labels = [str(label) for label in shown["run"]]
    ids = [str(i) for i in shown["run_id"]] if "run_id" in shown else labels
    if colors is None and "color" in shown and shown["color"].notna().all():
        return labels, [str(c) for c in shown["color"]]
    # The runs of the whole frame, not of this metric alone: every chart of one frame agrees.
    everyone = ([str(i) for i in dict.fromkeys(data["run_id"])] if "run_id" in data
                else [str(r) for r in dict.fromkeys(data["run"])])
    given = dict(colors or {})
    fallback = run_colors(everyone)
    return labels, [given.get(i) or fallback[i] for i in ids]


def _natural(text: str) -> list[Any]:
    """A sort key that puts ``run-2`` before ``run-10``: the legend's order."""
    import re

    return [(0, int(part), "") if part.isdigit() else (1, 0, part) for part in re.split(r"(\d+)", text)]


def averaged(lows: Any, highs: Any) -> bool:
    """Whether any bucket averaged different values (a finite min other than its max): where
    a metric chart draws its min-max band. ``lows``/``highs``: columns, ``None``/NaN allowed.

    Example
    -------
    >>> averaged([1.0, None, 2.0], [1.0, None, 3.0]), averaged([1.0, float("nan")], [1.0, float("nan")])
    (True, False)
    """
    import numpy as np

    low, high = np.asarray(lows, dtype=np.float64), np.asarray(highs, dtype=np.float64)
    return bool(np.any(np.isfinite(low) & (low != high)))


def metric_charts(data: pd.DataFrame, keys: Sequence[str] | None = None, *, columns: int = 2,
                  **options: Any) -> Any:
    """Render: :func:`metric_chart` for each metric, laid out in a grid.

    Without ``keys``: every metric of ``data`` by section (:func:`~nbtrack.charts.sections.
    metric_sections`: no prefix, ``train/``, ``val/``... then ``system/`` against time), each
    section titled, metrics that never changed left out.
    """
    alt = altair()
    if options.get("width") == "container":
        raise NbtrackError("width='container' fits one chart to the element it is shown in, and "
                           "metric_charts lays out a grid: give a width in pixels, or draw each "
                           "metric with metric_chart(..., width='container')")
    if keys is not None:
        groups = [("", list(keys))]
    elif data.empty:
        groups = []
    else:
        from .sections import metric_sections

        groups = [(s.title, list(s.keys)) for s in metric_sections(data) if s.keys]
    if not any(keys for _, keys in groups):
        return empty("nothing logged yet")
    blocks = []
    for title, section_keys in groups:
        charts = [metric_chart(data, key, **options) for key in section_keys]
        rows = [alt.hconcat(*charts[i:i + columns]) for i in range(0, len(charts), columns)]
        block = alt.vconcat(*rows) if len(rows) > 1 else rows[0]
        blocks.append(block.properties(title=alt.Title(title, anchor="start", fontSize=14))
                      if len(groups) > 1 else block)
    return alt.vconcat(*blocks) if len(blocks) > 1 else blocks[0]
