"""Charts over runs and their hyperparameters: parallel coordinates, scatter,
parameter importance and best-so-far. Used by the compare widget, sweeps and the report."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from ..errors import NbtrackError
from ._base import HEIGHT, WIDTH, altair, empty

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["parallel_data", "parallel_coordinates", "scatter", "importance_bars",
           "best_so_far_data", "best_so_far"]


def _column(df: pd.DataFrame, name: str, prefix: str) -> str:
    if name in df.columns:
        return name
    if f"{prefix}.{name}" in df.columns:
        return f"{prefix}.{name}"
    raise NbtrackError(f"no column {name!r} or {prefix}.{name!r}; columns are: {', '.join(df.columns)}")


def parallel_data(runs: pd.DataFrame, params: Sequence[str], metric: str) -> pd.DataFrame:
    """Compute: one row per (run, axis) with the value scaled to [0, 1] on its axis.

    ``runs`` is a frame from :func:`nbtrack.runs`; ``params`` name config keys (with
    or without ``config.``), ``metric`` a summary key (with or without ``summary.``).
    Numeric axes scale linearly between their min and max; other values are placed
    evenly in sorted order. The metric is the last axis.

    Example
    -------
    >>> import pandas as pd
    >>> df = pd.DataFrame({"id": ["a", "b"], "name": ["a", "b"], "config.lr": [0.1, 0.3],
    ...                    "config.opt": ["sgd", "adam"], "summary.loss": [1.0, 2.0]})
    >>> parallel_data(df, ["lr", "opt"], "loss")["position"].tolist()
    [0.0, 1.0, 1.0, 0.0, 0.0, 1.0]
    """
    import pandas as pd

    columns = [_column(runs, p, "config") for p in params] + [_column(runs, metric, "summary")]
    rows = []
    for order, column in enumerate(columns):
        values = runs[column]
        numeric = pd.to_numeric(values, errors="coerce")
        if numeric.notna().all() and len(values):
            lo, hi = numeric.min(), numeric.max()
            position = (numeric - lo) / (hi - lo) if hi > lo else numeric * 0 + 0.5
        else:
            labels = values.map(lambda v: "∅" if v is None else str(v))
            ranks = {label: i for i, label in enumerate(sorted(set(labels)))}
            span = max(len(ranks) - 1, 1)
            position = labels.map(lambda label, r=ranks, s=span: r[label] / s if len(r) > 1 else 0.5)
        for run_id, name, raw, pos, score in zip(
            runs["id"], runs["name"], values, position, runs[columns[-1]]
        ):
            rows.append({"run_id": run_id, "run": name, "axis": column.split(".", 1)[-1],
                         "order": order, "value": _label(raw), "position": float(pos),
                         "metric": score})
    return pd.DataFrame(rows, columns=["run_id", "run", "axis", "order", "value", "position", "metric"])


def _label(value: Any) -> str:
    return f"{value:.4g}" if isinstance(value, float) else str(value)


def parallel_coordinates(runs: pd.DataFrame, params: Sequence[str], metric: str, *,
                         goal: str = "minimize", width: int = 2 * WIDTH, height: int = HEIGHT) -> Any:
    """Render: parallel coordinates over config ``params`` and a ``metric``, a line per run."""
    alt = altair()
    if runs.empty:
        return empty("no runs to compare")
    data = parallel_data(runs, params, metric)
    scheme = "viridis"
    reverse = goal != "maximize"  # the best runs get the brightest colour either way
    axes = alt.X("axis:N", sort=alt.SortField("order"), title=None,
                 axis=alt.Axis(labelAngle=0, domain=False, ticks=False))
    lines = alt.Chart(data).mark_line(opacity=0.7).encode(
        x=axes,
        y=alt.Y("position:Q", axis=None, scale=alt.Scale(domain=[0, 1])),
        color=alt.Color("metric:Q", scale=alt.Scale(scheme=scheme, reverse=reverse), title=metric),
        detail="run_id:N",
        tooltip=["run:N", "axis:N", "value:N", alt.Tooltip("metric:Q", format=".5g")],
    )
    rules = alt.Chart(data).mark_rule(color="#bbb").encode(x=axes)
    # One label per distinct value on an axis, not one per run: runs sharing a value
    # would print it on top of itself.
    labels = alt.Chart(data.drop_duplicates(["axis", "value"])).mark_text(
        align="left", dx=3, fontSize=10, color="#444").encode(x=axes, y="position:Q", text="value:N")
    return alt.layer(rules, lines, labels).properties(width=width, height=height,
                                                      title=f"{metric} by hyperparameter")


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
        tooltip=["name:N", "param", alt.Tooltip("metric:Q", format=".5g")],
    ).properties(width=width, height=height, title=f"{metric} vs {param}")


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
    dots = base.mark_circle(opacity=0.5, color="#888").encode(
        y=alt.Y("value:Q", title=metric, scale=alt.Scale(zero=False)))
    line = base.mark_line(interpolate="step-after", color="#4c78a8").encode(y="best:Q")
    return alt.layer(dots, line).properties(width=width, height=height, title=f"best {metric} so far")
