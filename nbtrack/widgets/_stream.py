"""From a run's new points to what a live chart draws: per-metric, downsampled, only what is new.

The store keeps every point; a live chart shows at most about ``max_points`` per
metric. Each metric's points are folded into buckets of ``k`` consecutive points
(mean, min and max of the finite values, at the step of the first point). When a
metric has more than ``max_points`` buckets, ``k`` doubles and neighbouring buckets
merge pairwise; the browser is told to merge its copy the same way, so no bucket ever
travels twice. An update is a list of operations, ``["rows", {...}]`` (new buckets,
each of ``n`` points) and ``["merge"]``, plus the still-open last bucket as a
provisional ``tail``. Values travel with 7 significant digits.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

__all__ = ["SYSTEM", "Fold", "Series", "group", "last_value"]

#: Prefix of the machine's metrics (gauges, not charts, in a live view).
SYSTEM = "system/"

#: Longest run of distinct keys recognised as one ``log`` call repeating.
MAX_PERIOD = 64
#: Points handled one by one before looking for a repeating pattern again.
_SLOW_BLOCK = 64


def group(keys: Sequence[str], *columns: Sequence[Any]) -> dict[str, tuple[list[Any], ...]]:
    """Split parallel lists of points (steps, values, times...) by metric, keeping their order.

    A loop that logs the same metrics at every step produces a repeating pattern of
    keys; such stretches are split with list slicing (C speed), the rest one by one.

    Example
    -------
    >>> group(["a", "b", "a", "b", "c"], [0, 0, 1, 1, 1], [1.0, 2.0, 3.0, 4.0, 5.0])
    {'a': ([0, 1], [1.0, 3.0]), 'b': ([0, 1], [2.0, 4.0]), 'c': ([1], [5.0])}
    """
    out: dict[str, tuple[list[Any], ...]] = {}
    n = len(keys)
    pos = 0
    while pos < n:
        span = _periodic_span(keys, pos, n)
        if span is None:
            end = min(pos + _SLOW_BLOCK, n)
            for i in range(pos, end):
                entry = out.get(keys[i])
                if entry is None:
                    entry = out[keys[i]] = tuple([] for _ in columns)
                for part, column in zip(entry, columns):
                    part.append(column[i])
            pos = end
            continue
        period, length = span
        end = pos + length
        for i in range(period):
            key = keys[pos + i]
            entry = out.get(key)
            if entry is None:
                entry = out[key] = tuple([] for _ in columns)
            for part, column in zip(entry, columns):
                part.extend(column[pos + i:end:period])
        pos = end
    return out


def _periodic_span(keys: Sequence[str], pos: int, n: int) -> tuple[int, int] | None:
    """``(period, length)`` of the longest stretch from ``pos`` whose keys repeat
    ``keys[pos:pos + period]`` (distinct keys); ``None`` when there is no such period."""
    if not isinstance(keys, list):
        keys = list(keys)
    try:
        following = keys.index(keys[pos], pos + 1, min(n, pos + 1 + MAX_PERIOD))
    except ValueError:
        return None
    period = following - pos
    pattern = keys[pos:following]
    if period > 1 and len(set(pattern)) != period:
        return None
    good, stride = 1, 1  # verified repetitions; exponential then binary search for more
    while True:
        end = pos + (good + stride) * period
        if end <= n and keys[pos + good * period:end] == pattern * stride:
            good += stride
            stride *= 2
        else:
            break
    while stride > 1:
        stride //= 2
        end = pos + (good + stride) * period
        if end <= n and keys[pos + good * period:end] == pattern * stride:
            good += stride
    base = pos + good * period
    tail = 0
    while tail < period - 1 and base + tail < n and keys[base + tail] == pattern[tail]:
        tail += 1
    return period, good * period + tail


def last_value(values: Sequence[Any]) -> Any:
    """The last value that is not ``None`` (a missing value keeps the previous one)."""
    for value in reversed(values):
        if value is not None:
            return value
    return None


def _floats(values: Sequence[Any]) -> np.ndarray:
    try:
        return np.asarray(values, dtype=np.float64)
    except (TypeError, ValueError, OverflowError):
        return np.array([np.nan if v is None else float(v) for v in values], dtype=np.float64)


def _json_floats(array: np.ndarray) -> list[float | None]:
    """JSON has no NaN or infinity: those become ``null``; the rest keep 7 significant
    digits (shorter messages; a chart cannot show more)."""
    finite = np.isfinite(array)
    safe = np.where(finite & (array != 0), array, 1.0)
    with np.errstate(over="ignore", invalid="ignore"):
        scale = 10.0 ** (6 - np.floor(np.log10(np.abs(safe))))
        rounded = np.where(finite, np.round(array * scale) / scale, 0.0)
    # Beyond what a double can scale (|x| > 1e300 or < 1e-300): keep the value as is.
    rounded = np.where(np.isfinite(rounded), rounded, array)
    out: list[float | None] = rounded.tolist()
    if not finite.all():
        for index in np.flatnonzero(~finite).tolist():
            out[index] = None
    return out


class Series:
    """One metric's display buckets; see the module docstring.

    Example
    -------
    >>> s = Series(max_points=4)
    >>> s.add(list(range(10)), [float(i) for i in range(10)])
    >>> s.k, len(s)  # four buckets of 4 points, and the open one
    (4, 3)
    """

    _FIELDS = ("step", "n", "finite", "sum", "min", "max", "time")

    def __init__(self, max_points: int = 2000, origin: float = 0.0) -> None:
        if max_points < 2:
            raise ValueError(f"max_points must be at least 2; got {max_points}")
        self.max_points = max_points
        #: Times travel as seconds since this (the run's first point): 7 digits are enough.
        self.origin = origin
        self.k = 1
        self.points = 0
        self._closed = {name: np.empty(0, dtype=np.int64 if name in ("step", "n", "finite") else np.float64)
                        for name in self._FIELDS}
        self._open_steps = np.empty(0, dtype=np.int64)
        self._open_values = np.empty(0, dtype=np.float64)
        self._open_times = np.empty(0, dtype=np.float64)
        self._sent = 0  # closed buckets already in an operation for the browser
        self._ops: list[list[Any]] = []
        self._tail_sent: tuple[int, int] | None = None

    def __len__(self) -> int:
        """Display points: closed buckets plus the open one."""
        return len(self._closed["step"]) + (1 if len(self._open_steps) else 0)

    def add(self, steps: Sequence[int], values: Sequence[Any], times: Sequence[float] | None = None) -> None:
        """Fold new points (in logged order, logged at ``times``: seconds since the epoch)
        into the buckets."""
        if not len(steps):
            return
        self.points += len(steps)
        all_steps = np.concatenate([self._open_steps, np.asarray(steps, dtype=np.int64)])
        all_values = np.concatenate([self._open_values, _floats(values)])
        new_times = np.full(len(steps), np.nan) if times is None else np.asarray(times, dtype=np.float64)
        all_times = np.concatenate([self._open_times, new_times])
        # Coarsen first, so that a big batch never makes buckets that merge at once.
        while len(self._closed["step"]) + len(all_steps) // self.k > self.max_points:
            self._double()
        k = self.k
        full = len(all_steps) // k * k
        if full:
            self._append(*_buckets(all_steps[:full].reshape(-1, k), all_values[:full].reshape(-1, k),
                                   all_times[:full].reshape(-1, k)))
        self._open_steps, self._open_values = all_steps[full:], all_values[full:]
        self._open_times = all_times[full:]

    def _append(self, *columns: np.ndarray) -> None:
        for name, column in zip(self._FIELDS, columns):
            self._closed[name] = np.concatenate([self._closed[name], column])

    def _double(self) -> None:
        """Merge neighbouring buckets (an odd last one stays as it is), here and in the browser."""
        self._queue_rows()
        self.k *= 2
        pairs = len(self._closed["step"]) // 2 * 2
        self._closed = _merge_pairs(self._closed)
        if pairs:
            self._ops.append(["merge"])
        self._sent = len(self._closed["step"])

    def rows(self, run: str, limit: int) -> list[dict[str, Any]]:
        """Every bucket so far (the open one too), neighbours merged pairwise until at most
        ``limit`` are left: the rows of the metric's still picture, as the live chart's
        (``run``, ``step``, ``value`` the mean, ``min``, ``max``; ``None`` where no value is finite).

        Example
        -------
        >>> s = Series(max_points=8)
        >>> s.add([0, 1, 2], [1.0, 3.0, float("nan")])
        >>> [(row["step"], row["value"], row["min"], row["max"]) for row in s.rows("a", limit=2)]
        [(0, 2.0, 1.0, 3.0), (2, None, None, None)]
        """
        columns = dict(self._closed)
        if len(self._open_steps):
            tail = _buckets(self._open_steps[None, :], self._open_values[None, :], self._open_times[None, :])
            columns = {name: np.concatenate([columns[name], part]) for name, part in zip(self._FIELDS, tail)}
        while len(columns["step"]) > max(limit, 1):
            columns = _merge_pairs(columns)
        with np.errstate(invalid="ignore", divide="ignore"):
            mean = columns["sum"] / columns["finite"]
        return [{"run": run, "step": step, "value": value, "min": low, "max": high}
                for step, value, low, high in zip(columns["step"].tolist(), _json_floats(mean),
                                                  _json_floats(columns["min"]), _json_floats(columns["max"]))]

    def update(self) -> dict[str, Any] | None:
        """What the chart has not seen yet, or ``None``; marks it as sent.

        ``{"ops": [["rows", {"n": k, "step": [...], "value": [...], "min": [...],
        "max": [...]}], ["merge"], ...], "tail": [step, value, min, max] | None}``.
        To apply: append each ``rows`` operation's buckets (each holds ``n`` points);
        at ``merge``, replace each pair of buckets by one (step of the first, mean
        weighted by ``n``, min of mins, max of maxes), an odd last one unchanged.
        ``min`` and ``max`` are left out when ``n`` is 1 (they equal ``value``).
        """
        self._queue_rows()
        tail_state = (len(self._open_steps), int(self._open_steps[0]) if len(self._open_steps) else -1)
        if not self._ops and tail_state == self._tail_sent:
            return None
        out = {"ops": self._ops, "tail": self._tail()}
        self._ops, self._tail_sent = [], tail_state
        return out

    def _queue_rows(self) -> None:
        c = self._closed
        start, end = self._sent, len(c["step"])
        if end == start:
            return
        rows = slice(start, end)
        with np.errstate(invalid="ignore", divide="ignore"):
            mean = c["sum"][rows] / c["finite"][rows]
        op: dict[str, Any] = {"n": self.k, "step": c["step"][rows].tolist(), "value": _json_floats(mean),
                              "time": _json_floats(c["time"][rows] - self.origin)}
        if self.k > 1:
            op["min"] = _json_floats(c["min"][rows])
            op["max"] = _json_floats(c["max"][rows])
        self._ops.append(["rows", op])
        self._sent = end

    def _tail(self) -> list[Any] | None:
        if not len(self._open_steps):
            return None
        steps, _n, finite, total, low, high, times = _buckets(
            self._open_steps[None, :], self._open_values[None, :], self._open_times[None, :])
        with np.errstate(invalid="ignore", divide="ignore"):
            mean = total / finite
        return [int(steps[0]), *_json_floats(np.array([mean[0], low[0], high[0], times[0] - self.origin]))]


class Fold:
    """A run's points as a live view keeps them: :class:`Series` per metric (the first
    ``max_charts`` metrics; the others are only counted in ``hidden``), each metric's last
    value, and the latest ``system/`` values (not charted: the gauges show them).

    Example
    -------
    >>> fold = Fold(max_points=100, max_charts=1)
    >>> sorted(fold.add(["loss", "acc", "system/cpu"], [0, 0, 0], [1.0, 0.5, 30.0]))
    ['loss']
    >>> fold.hidden, fold.last, fold.system
    ({'acc'}, {'loss': 1.0, 'acc': 0.5}, {'system/cpu': 30.0})
    """

    def __init__(self, max_points: int = 2000, max_charts: int = 24) -> None:
        self.max_points = max_points
        self.max_charts = max_charts
        self.series: dict[str, Series] = {}
        self.hidden: set[str] = set()
        self.last: dict[str, Any] = {}
        self.system: dict[str, float] = {}
        self.system_moved = False
        #: When the first point was logged (seconds since the epoch): the live charts' time 0.
        self.origin: float | None = None

    def add(self, keys: Sequence[str], steps: Sequence[int], values: Sequence[Any],
            times: Sequence[float] | None = None) -> set[str]:
        """Fold one batch of points (a run's ``points`` event); returns the metrics whose
        series took points."""
        touched: set[str] = set()
        if self.origin is None and times is not None and len(times):
            self.origin = float(times[0])
        for key, (key_steps, key_values, *key_times) in (
                group(keys, steps, values) if times is None else group(keys, steps, values, times)).items():
            value = last_value(key_values)
            if key.startswith(SYSTEM):
                if value is not None:
                    self.system[key] = value
                    self.system_moved = True
                continue
            if value is not None:
                self.last[key] = value
            series = self.series.get(key)
            if series is None:
                if len(self.series) >= self.max_charts:
                    self.hidden.add(key)
                    continue
                series = self.series[key] = Series(self.max_points, self.origin or 0.0)
            series.add(key_steps, key_values, key_times[0] if key_times else None)
            touched.add(key)
        return touched


def _merge_pairs(c: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Each two neighbouring buckets as one (step of the first, counts and sums added, min of
    mins, max of maxes); an odd last one stays as it is."""
    pairs = len(c["step"]) // 2 * 2
    merged = {
        "step": c["step"][:pairs:2],
        "n": c["n"][:pairs:2] + c["n"][1:pairs:2],
        "finite": c["finite"][:pairs:2] + c["finite"][1:pairs:2],
        "sum": c["sum"][:pairs:2] + c["sum"][1:pairs:2],
        "min": np.minimum(c["min"][:pairs:2], c["min"][1:pairs:2]),
        "max": np.maximum(c["max"][:pairs:2], c["max"][1:pairs:2]),
        "time": c["time"][:pairs:2],
    }
    return {name: np.concatenate([merged[name], c[name][pairs:]]) for name in c}


def _buckets(steps: np.ndarray, values: np.ndarray, times: np.ndarray) -> tuple[np.ndarray, ...]:
    """Per row of ``values``: first step, point count, finite count, sum, min, max, first time."""
    finite = np.isfinite(values)
    count = finite.sum(axis=1)
    total = np.where(finite, values, 0.0).sum(axis=1)
    low = np.where(finite, values, np.inf).min(axis=1)
    high = np.where(finite, values, -np.inf).max(axis=1)
    n = np.full(len(steps), values.shape[1], dtype=np.int64)
    return steps[:, 0], n, count.astype(np.int64), total, low, high, times[:, 0]
