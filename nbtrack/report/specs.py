"""The report's charts: specs from :mod:`nbtrack.charts`, packed small for inlining.

Every chart comes from the one chart module; this module only picks what to draw and
turns each Altair chart into a Vega-Lite dict whose inline datasets travel column
by column (names not repeated per row, repeated strings stored once, numbers as
base64 float32 or int32). The page's script rebuilds the rows before ``vegaEmbed``.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from ..values import finite_float as _float

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["ChartSection", "ChartSpec", "along_rows", "chart_spec", "columnar", "metric_specs", "sweep_specs",
           "with_clock"]

CHART_WIDTH = 320
CHART_HEIGHT = 220
SIGNIFICANT = 7


@dataclass(frozen=True)
class ChartSpec:
    """One chart of the report: a title (for people) and its packed spec."""

    title: str
    spec: dict[str, Any]


def _number(value: Any) -> Any:
    if isinstance(value, float):
        return float(f"{value:.{SIGNIFICANT}g}") if math.isfinite(value) else None
    return value


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _binary(values: list[Any], kind: str) -> str:
    """Little-endian int32 or float32 (None as NaN), base64: about 5 characters a number."""
    import base64

    import numpy as np

    if kind == "i32":
        array = np.asarray(values, dtype="<i4")
    else:
        array = np.asarray([np.nan if v is None else v for v in values], dtype="<f4")
    return base64.b64encode(array.tobytes()).decode("ascii")


def _runs_of(indexes: list[int]) -> list[int]:
    """Run-length pairs ``[index, count, ...]``: rows come grouped by run and metric."""
    pairs: list[int] = []
    for i in indexes:
        if pairs and pairs[-2] == i:
            pairs[-1] += 1
        else:
            pairs += [i, 1]
    return pairs


def _pack(values: list[Any]) -> Any:
    """One column, packed as small as its kind allows."""
    present = [v for v in values if v is not None]
    if len(values) > 1 and all(v == values[0] and type(v) is type(values[0]) for v in values):
        return {"c": values[0]}
    if present and all(isinstance(v, str) for v in present):
        distinct = list(dict.fromkeys(present))
        index = {text: i for i, text in enumerate(distinct)}
        codes = [-1 if v is None else index[v] for v in values]
        pairs = _runs_of(codes)
        return {"d": distinct, "r": pairs} if len(pairs) < len(codes) else {"d": distinct, "i": codes}
    if present and len(present) == len(values) and all(
            type(v) is int and -(2**31) <= v < 2**31 for v in values):
        return {"i32": _binary(values, "i32")}
    if present and all(_is_number(v) for v in present):
        return {"f32": _binary(values, "f32")}  # _number made non-finite values None
    return values


def columnar(rows: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """Pack a list of records as ``{"n": rows, "columns": [[name, column], ...]}``.

    A column is ``{"c": value}`` when constant; ``{"d": distinct strings, "r": [index,
    count, ...]}`` (or ``"i": indexes``) for text; ``{"i32": base64}`` for whole numbers;
    ``{"f32": base64}`` for other numbers (float32, about 7 significant digits: plenty
    for a chart; missing and non-finite values read back as null); else a plain list.
    ``report.js`` undoes it.

    Example
    -------
    >>> columnar([{"run": "a", "v": 0.5, "s": 1}, {"run": "a", "v": None, "s": 2}])["columns"]
    [['run', {'c': 'a'}], ['v', {'f32': 'AAAAPwAAwH8='}], ['s', {'i32': 'AQAAAAIAAAA='}]]
    """
    names: dict[str, None] = {}
    for row in rows:
        names.update(dict.fromkeys(row))
    columns = [[name, _pack([_number(row.get(name)) for row in rows])] for name in names]
    return {"n": len(rows), "columns": columns}


def chart_spec(chart: Any) -> dict[str, Any]:
    """An Altair chart as a Vega-Lite dict with packed datasets and no ``$schema`` URL."""
    from ..charts._base import altair

    alt = altair()
    with alt.data_transformers.disable_max_rows():  # we downsample; the report shows it all
        spec: dict[str, Any] = chart.to_dict()
    spec.pop("$schema", None)  # a URL the browser never fetches, but a URL all the same
    datasets = spec.pop("datasets", {})
    return {"spec": spec, "datasets": {name: columnar(rows) for name, rows in datasets.items()}}


def metric_specs(data: pd.DataFrame, keys: Sequence[str], *, x: str | None = None) -> list[ChartSpec]:
    """One chart per metric key, every selected run overlaid (data from ``metric_data``),
    drawn against ``x`` (default: the step; time for ``system/`` metrics).

    Each point also carries what the page needs to draw it along the clock (``report.js``,
    ``labextension/src/reportpage.ts``): ``relative``, the seconds since its run's first
    point (of any metric loaded, as ``x="relative"`` counts them), and ``start``, that first
    point's time as Altair writes times.
    """
    from ..charts import metric_chart
    from ..charts.metrics import METRIC_COLUMNS

    slim = with_clock(data[[c for c in METRIC_COLUMNS if c in data.columns]])
    return [ChartSpec(key, chart_spec(metric_chart(slim, key, x=x, width=CHART_WIDTH, height=CHART_HEIGHT)))
            for key in keys]


def with_clock(data: pd.DataFrame) -> pd.DataFrame:
    """``data`` with ``relative`` and ``start`` (see :func:`metric_specs`), where it has times.

    Example
    -------
    >>> import pandas as pd
    >>> times = pd.to_datetime(["2026-01-01 10:00", "2026-01-01 10:01"])
    >>> d = pd.DataFrame({"run": ["a", "a"], "time": times})
    >>> with_clock(d)[["relative", "start"]].values.tolist()
    [[0.0, '2026-01-01T10:00:00'], [60.0, '2026-01-01T10:00:00']]
    """
    import pandas as pd

    if "time" not in data or "run" not in data or data.empty:
        return data
    times = pd.to_datetime(data["time"], utc=False)
    start = times.groupby(data["run"]).transform("min")
    firsts = {value: value.isoformat() for value in start.dropna().unique().tolist()}
    return data.assign(relative=(times - start).dt.total_seconds(),
                       start=[firsts.get(value) for value in start.tolist()])


def along_rows(data: pd.DataFrame, key: str) -> dict[str, Any]:
    """The points of ``key`` a page draws other metrics along (x = ``key``), packed: each
    run's ``run_id``, ``run``, ``step`` and ``value``."""
    part = data.loc[data["key"] == key, [c for c in ("run_id", "run", "step", "value") if c in data]]
    return columnar(part.to_dict("records"))  # Python numbers; columnar reads NaN/inf as missing


@dataclass(frozen=True)
class ChartSection:
    """Charts under one heading: a :class:`nbtrack.charts.Section`'s title and its charts."""

    title: str
    charts: list[ChartSpec]


def sweep_specs(trials: pd.DataFrame, params: Sequence[str], metric: str, goal: str, *,
                importance: pd.DataFrame, log_axes: Sequence[str] | None = None) -> list[ChartSpec]:
    """Parallel coordinates, best-so-far and importance bars over a sweep's runs.

    ``trials`` are the sweep's runs in trial order; ``importance`` is computed by
    :func:`nbtrack.report.sweep.sweep_importance` (columns ``parameter, importance,
    correlation``); ``log_axes``: the parameters the sweep samples log-uniformly.
    """
    from ..charts import best_so_far, importance_bars, parallel_coordinates

    column = f"summary.{metric}"
    values = [_float(v) for v in trials[column]] if column in trials.columns else []
    specs = []
    if params and column in trials.columns:
        specs.append(ChartSpec(f"{metric} by hyperparameter", chart_spec(parallel_coordinates(
            trials, params, metric, goal=goal, width=2 * CHART_WIDTH + 160, height=CHART_HEIGHT + 40,
            log_axes=log_axes))))
    specs.append(ChartSpec(f"best {metric} so far", chart_spec(best_so_far(
        values or [None], goal, metric=metric, width=CHART_WIDTH, height=CHART_HEIGHT))))
    specs.append(ChartSpec("parameter importance", chart_spec(importance_bars(
        importance[["parameter", "importance", "correlation"]], width=CHART_WIDTH))))
    return specs
