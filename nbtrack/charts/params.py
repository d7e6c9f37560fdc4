"""Charts over runs and their hyperparameters: parallel coordinates, scatter,
parameter importance and best-so-far. Used by the compare widget, sweeps and the report."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from ..errors import NbtrackError
from ._base import HEIGHT, NUMBER_FORMAT, WIDTH, altair, empty

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["LOG_DISTRIBUTIONS", "log_parameters", "parallel_data", "parallel_coordinates", "scatter",
           "importance_bars", "best_so_far_data", "best_so_far"]


def _column(df: pd.DataFrame, name: str, prefix: str) -> str:
    if name in df.columns:
        return name
    if f"{prefix}.{name}" in df.columns:
        return f"{prefix}.{name}"
    raise NbtrackError(f"no column {name!r} or {prefix}.{name!r}; columns are: {', '.join(df.columns)}")


#: Sweep distributions whose values spread over decades: their axis is logarithmic.
LOG_DISTRIBUTIONS = frozenset({"log_uniform", "log_uniform_values", "q_log_uniform",
                               "q_log_uniform_values", "inv_log_uniform", "inv_log_uniform_values"})
#: Ticks an axis of parallel coordinates labels at most (more would overlap at 220 px).
MAX_TICKS = 6


def log_parameters(sweep_config: Any) -> list[str]:
    """The parameters of a W&B-style sweep config drawn from a log distribution.

    Example
    -------
    >>> log_parameters({"parameters": {"lr": {"distribution": "log_uniform_values",
    ...                                       "min": 1e-5, "max": 0.1}, "bs": {"values": [1, 2]}}})
    ['lr']
    """
    parameters = (sweep_config or {}).get("parameters") or {}
    return [str(name) for name, spec in parameters.items()
            if isinstance(spec, dict) and spec.get("distribution") in LOG_DISTRIBUTIONS]


def _is_log(name: str, numeric: Any, log_axes: Sequence[str] | None) -> bool:
    """A log axis: named so by the sweep config, or (with none given) positive values
    spanning two decades or more (a grid of 0.001, 0.01, 0.1 is a log-uniform search)."""
    if log_axes is not None:
        return name in log_axes and bool((numeric > 0).all())
    positive = numeric[numeric > 0]
    return len(positive) == len(numeric) and len(numeric) > 1 and positive.max() / positive.min() >= 100


def _nice_ticks(lo: float, hi: float, count: int = MAX_TICKS - 1) -> list[float]:
    """Round values between ``lo`` and ``hi`` (``lo``/``hi`` themselves included).

    Example
    -------
    >>> _nice_ticks(0.03, 0.97)
    [0.03, 0.2, 0.4, 0.6, 0.8, 0.97]
    """
    import math

    raw = (hi - lo) / count
    power = 10 ** math.floor(math.log10(raw))
    step = next(m * power for m in (1, 2, 2.5, 5, 10) if m * power >= raw)
    # round(): 3 * 0.2 is 0.6000000000000001, a label nobody wants
    inner = [round(k * step, 12) for k in range(math.ceil(lo / step), math.floor(hi / step) + 1)]
    return _spaced([lo, *inner, hi], lo, hi, math.isclose)


def _log_ticks(lo: float, hi: float) -> list[float]:
    """Powers of ten between ``lo`` and ``hi``, and the ends (at most :data:`MAX_TICKS`).

    Example
    -------
    >>> _log_ticks(1e-5, 0.1)
    [1e-05, 0.0001, 0.001, 0.01, 0.1]
    """
    import math

    first, last = math.ceil(math.log10(lo) - 1e-9), math.floor(math.log10(hi) + 1e-9)
    every = max(1, math.ceil((last - first + 1) / (MAX_TICKS - 1)))
    powers = [10.0 ** k for k in range(first, last + 1, every)]
    return _spaced([lo, *powers, hi], math.log10(lo), math.log10(hi), math.isclose, log=True)


def _spaced(values: list[float], lo: float, hi: float, same: Any, *, log: bool = False) -> list[float]:
    """``values`` in order without those closer than a twelfth of the axis to a kept one,
    the axis's two ends always kept."""
    import math

    span = (hi - lo) or 1.0

    def where(v: float) -> float:
        return ((math.log10(v) if log else v) - lo) / span

    kept: list[float] = []
    for value in sorted(set(values)):
        if kept and (same(value, kept[-1]) or where(value) - where(kept[-1]) < 1 / 12):
            if value == values[-1]:  # the top end wins over the tick beneath it
                kept[-1] = value
            continue
        kept.append(value)
    return kept


def parallel_data(runs: pd.DataFrame, params: Sequence[str], metric: str, *,
                  log_axes: Sequence[str] | None = None) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Compute: one row per (run, axis) with the value placed in [0, 1] on its axis, and
    the ticks to label each axis with.

    ``runs`` is a frame from :func:`nbtrack.runs`; ``params`` name config keys (with
    or without ``config.``), ``metric`` a summary key (with or without ``summary.``).
    Numeric axes run from their min to their max, logarithmic for the parameters in
    ``log_axes`` (:func:`log_parameters` of a sweep config) or, with ``log_axes=None``,
    for positive values spanning more than two decades; other values are placed evenly in
    sorted order. An axis whose values are all equal puts them in the middle. The metric is
    the last axis.

    Returns ``(lines, ticks)``: ``lines`` has ``run_id, run, axis, order, value, position,
    metric``; ``ticks`` has ``axis, order, position, label``.

    Example
    -------
    >>> import pandas as pd
    >>> df = pd.DataFrame({"id": ["a", "b"], "name": ["a", "b"], "config.lr": [0.1, 0.3],
    ...                    "config.opt": ["sgd", "adam"], "summary.loss": [1.0, 2.0]})
    >>> parallel_data(df, ["lr", "opt"], "loss")[0]["position"].tolist()
    [0.0, 1.0, 1.0, 0.0, 0.0, 1.0]
    """
    import pandas as pd

    columns = [_column(runs, p, "config") for p in params] + [_column(runs, metric, "summary")]
    rows: list[dict[str, Any]] = []
    ticks: list[dict[str, Any]] = []
    for order, column in enumerate(columns):
        axis = column.split(".", 1)[-1]
        position, marks = _place(runs[column], axis, log_axes if order < len(params) else [])
        ticks.extend({"axis": axis, "order": order, "position": float(p), "label": label}
                     for p, label in marks)
        for run_id, name, raw, pos, score in zip(
            runs["id"], runs["name"], runs[column], position, runs[columns[-1]]
        ):
            rows.append({"run_id": run_id, "run": name, "axis": axis,
                         "order": order, "value": _label(raw), "position": float(pos),
                         "metric": score})
    return (pd.DataFrame(rows, columns=["run_id", "run", "axis", "order", "value", "position", "metric"]),
            pd.DataFrame(ticks, columns=["axis", "order", "position", "label"]))


def _place(values: pd.Series, axis: str,
           log_axes: Sequence[str] | None) -> tuple[Any, list[tuple[float, str]]]:
    """Positions in [0, 1] of one axis's values, and its ``(position, label)`` ticks."""
    import numpy as np
    import pandas as pd

    numeric = pd.to_numeric(values, errors="coerce")
    if numeric.notna().all() and len(values):
        lo, hi = float(numeric.min()), float(numeric.max())
        if hi == lo:  # one value: in the middle, and labelled
            return numeric * 0 + 0.5, [(0.5, _label(lo))]
        if _is_log(axis, numeric, log_axes):
            low, high = np.log10(lo), np.log10(hi)
            where = (np.log10(numeric) - low) / (high - low)
            return where, [(float((np.log10(t) - low) / (high - low)), _label(t)) for t in _log_ticks(lo, hi)]
        return (numeric - lo) / (hi - lo), [((t - lo) / (hi - lo), _label(t)) for t in _nice_ticks(lo, hi)]
    labels = values.map(lambda v: "∅" if v is None else str(v))
    names = sorted(set(labels))
    span = max(len(names) - 1, 1)
    ranks = {label: i / span if len(names) > 1 else 0.5 for i, label in enumerate(names)}
    every = max(1, -(-len(names) // (2 * MAX_TICKS)))  # up to twice as many category names
    shown = names[::every]
    return labels.map(ranks), [(ranks[n], n) for n in shown]


def _label(value: Any) -> str:
    from ..formatting import number

    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return str(value)
    return number(value)


def parallel_coordinates(runs: pd.DataFrame, params: Sequence[str], metric: str, *,
                         goal: str = "minimize", width: int = 2 * WIDTH, height: int = HEIGHT,
                         log_axes: Sequence[str] | None = None) -> Any:
    """Render: parallel coordinates over config ``params`` and a ``metric``, a line per run.

    ``log_axes``: parameters on a logarithmic axis, e.g. :func:`log_parameters` of the
    sweep's config (default: those whose positive values span more than two decades).
    Each axis is labelled with a few round values (powers of ten on a log axis).
    """
    alt = altair()
    if runs.empty:
        return empty("no runs to compare")
    data, ticks = parallel_data(runs, params, metric, log_axes=log_axes)
    reverse = goal != "maximize"  # the best runs get the brightest colour either way
    axes = alt.X("axis:N", sort=alt.SortField("order"), title=None,
                 axis=alt.Axis(labelAngle=0, domain=False, ticks=False, labelFontWeight="bold",
                               labelPadding=12))  # below the lowest value's label
    y = alt.Y("position:Q", axis=None, scale=alt.Scale(domain=[0, 1]))
    # Each part named by a style: JupyterLab's dark theme recolours the parts by these names
    # (themeSpec in labextension/src/theme.ts); elsewhere they keep the colours given here,
    # for a white page (a report, a PNG). No top-level config: the chart still concatenates.
    lines = alt.Chart(data).mark_line(style="parallel-line", opacity=0.7).encode(
        x=axes, y=y,
        color=alt.Color("metric:Q", scale=alt.Scale(scheme="viridis", reverse=reverse), title=metric),
        detail="run_id:N",
        tooltip=["run:N", "axis:N", "value:N", alt.Tooltip("metric:Q", format=NUMBER_FORMAT)],
    )
    rules = alt.Chart(data).mark_rule(style="parallel-axis", color="#bbb").encode(x=axes)
    marks = alt.Chart(ticks).encode(x=axes, y=y)
    tick_marks = marks.mark_tick(style="parallel-tick", color="#999", size=8, thickness=1,
                                 orient="horizontal")
    # A few round values per axis, not one per run: labels that never overlap.
    labels = marks.mark_text(style="parallel-label", align="left", dx=6, fontSize=10,
                             color="#666").encode(text="label:N")
    return alt.layer(rules, lines, tick_marks, labels).properties(
        width=width, height=height, title=f"{metric} by hyperparameter")


def scatter(runs: pd.DataFrame, param: str, metric: str, *, log_x: bool = False,
            width: int = WIDTH, height: int = HEIGHT) -> Any:
    """Render: one point per run, a config ``param`` against a summary ``metric``."""
    alt = altair()
    if runs.empty:
        return empty("no runs to compare")
    x, y = _column(runs, param, "config"), _column(runs, metric, "summary")
    data = runs[["id", "name", x, y]].rename(columns={x: "param", y: "metric"})
    import pandas as pd

    numeric = pd.to_numeric(data["param"], errors="coerce").notna().all()
    x_type = "param:Q" if numeric else "param:N"
    x_enc = alt.X(x_type, title=param, scale=alt.Scale(type="log") if log_x and numeric else alt.Undefined)
    return alt.Chart(data).mark_circle(size=70).encode(
        x=x_enc, y=alt.Y("metric:Q", title=metric, scale=alt.Scale(zero=False)),
        tooltip=["name:N", "param", alt.Tooltip("metric:Q", format=NUMBER_FORMAT)],
    ).properties(width=width, height=height, title=f"{metric} vs {param}").interactive()


def importance_bars(importance: pd.DataFrame, *, width: int = WIDTH) -> Any:
    """Render: bars of ``importance`` per ``parameter``, coloured by the sign of ``correlation``."""
    alt = altair()
    if importance.empty:
        return empty("not enough finished runs to rank parameters")
    data = importance.assign(direction=importance["correlation"].map(
        lambda c: "positive" if c is not None and c > 0 else "negative"))
    return alt.Chart(data).mark_bar().encode(
        y=alt.Y("parameter:N", sort="-x", title=None),
        x=alt.X("importance:Q", title="importance"),
        color=alt.Color("direction:N", scale=alt.Scale(domain=["positive", "negative"],
                                                       range=["#59a14f", "#e15759"]),
                        title="correlation"),
        tooltip=["parameter:N", alt.Tooltip("importance:Q", format=".3f"),
                 alt.Tooltip("correlation:Q", format=".3f")],
    ).properties(width=width, title="parameter importance")


def best_so_far_data(values: Sequence[float | None], goal: str = "minimize") -> pd.DataFrame:
    """Compute: the best metric value after each trial, in trial order.

    Example
    -------
    >>> best_so_far_data([3.0, 1.0, None, 2.0])["best"].tolist()
    [3.0, 1.0, 1.0, 1.0]
    """
    import math

    import pandas as pd

    if goal not in ("minimize", "maximize"):
        raise NbtrackError(f"goal must be 'minimize' or 'maximize'; got {goal!r}")
    best: float | None = None
    rows = []
    for trial, value in enumerate(values):
        if value is None or (isinstance(value, float) and math.isnan(value)):
            rows.append({"trial": trial, "value": None, "best": best})
            continue
        if best is None or (value < best if goal == "minimize" else value > best):
            best = value
        rows.append({"trial": trial, "value": value, "best": best})
    return pd.DataFrame(rows, columns=["trial", "value", "best"])


def best_so_far(values: Sequence[float | None], goal: str = "minimize", *, metric: str = "metric",
                width: int = WIDTH, height: int = HEIGHT) -> Any:
    """Render: each trial's value as a dot and the best so far as a step line."""
    alt = altair()
    data = best_so_far_data(values, goal)
    if data["best"].isna().all():
        return empty("no trial has reported the metric yet")
    base = alt.Chart(data).encode(x=alt.X("trial:Q", title="trial", axis=alt.Axis(tickMinStep=1)))
    dots = base.mark_circle(opacity=0.5, color="#888", clip=True).encode(
        y=alt.Y("value:Q", title=metric, scale=alt.Scale(zero=False)),
        tooltip=[alt.Tooltip("trial:Q", format="d"), alt.Tooltip("value:Q", format=NUMBER_FORMAT),
                 alt.Tooltip("best:Q", title="best so far", format=NUMBER_FORMAT)],
    )
    line = base.mark_line(interpolate="step-after", color="#4c78a8", clip=True).encode(y="best:Q")
    return alt.layer(dots, line).properties(width=width, height=height, title=f"best {metric} so far")
