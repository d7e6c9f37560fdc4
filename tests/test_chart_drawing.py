"""Smoothing and a log y axis where the browser redraws a chart alone (the live panel, the
HTML report): ``labextension/src/drawing.ts`` turns the chart :func:`metric_chart` drew
plain into the one it draws with ``smoothing`` and ``log_scale``. jest
(``labextension/test/drawing.test.ts``) checks that on the specs this file writes: the same
layers, fields and scales, and Python's own smoothed numbers.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from nbtrack.charts.metrics import metric_chart, smooth

FIXTURES = Path(__file__).resolve().parent.parent / "labextension" / "test" / "fixtures"
WEIGHT = 0.6


def frame() -> pd.DataFrame:
    """Two runs, one with a diverged step (NaN) and steps logged out of order, buckets with a
    min-max band."""
    nan = float("nan")
    return pd.DataFrame({
        "run_id": ["a"] * 5 + ["b"] * 4, "run": ["run a"] * 5 + ["run b"] * 4, "key": ["loss"] * 9,
        "step": [0, 1, 2, 4, 3, 0, 1, 2, 3],
        "value": [1.0, 0.5, nan, 0.2, 0.3, 2.0, 1.0, 0.8, 0.4],
        "min": [0.9, 0.4, nan, 0.1, 0.25, 1.5, 0.9, 0.7, 0.3],
        "max": [1.1, 0.6, nan, 0.3, 0.35, 2.5, 1.1, 0.9, 0.5],
        "time": pd.Timestamp("2026-12-07 09:00") + pd.to_timedelta([0, 2, 4, 8, 6, 1, 2, 3, 4], unit="s"),
    })


def apart() -> pd.DataFrame:
    """Two runs logged at different steps (one every step, one every third with a NaN): the
    chart adds crosshair rows, each run's point nearest to the other's steps."""
    steps_a, steps_b = list(range(10)), [1, 4, 7, 10]
    return pd.DataFrame({
        "run_id": ["a"] * 10 + ["b"] * 4, "run": ["run a"] * 10 + ["run b"] * 4, "key": ["loss"] * 14,
        "step": steps_a + steps_b,
        "value": [1.0 / (s + 1) + 0.1 * (s % 3) for s in steps_a] + [2.0, float("nan"), 0.5, 0.25],
    })


def drawn(one_run: bool = False, runs_apart: bool = False, **options: Any) -> str:
    data = apart() if runs_apart else frame()
    if one_run:  # a live panel's chart (several runs against time add crosshair rows: interactions.py)
        data = data[data["run_id"] == "a"]
        if options.get("x") == "epoch":  # a second metric to draw along, logged every other step
            epoch = pd.DataFrame({"run_id": "a", "run": "run a", "key": "epoch", "step": [0, 2, 4],
                                  "value": [0.0, 1.0, 2.0]})
            data = pd.concat([data, epoch], ignore_index=True)
    spec = json.loads(json.dumps(metric_chart(data, "loss", **options).to_dict(), default=str))
    spec.pop("$schema", None)
    return json.dumps(spec, indent=1, sort_keys=True) + "\n"


CASES = {"metric-plain": {}, "metric-smoothed": {"smoothing": WEIGHT},
         "metric-smoothed-log": {"smoothing": WEIGHT, "log_scale": True}, "metric-log": {"log_scale": True},
         "metric-one": {"one_run": True},
         "metric-one-relative-smoothed": {"one_run": True, "x": "relative", "smoothing": WEIGHT},
         "metric-one-along-epoch": {"one_run": True, "x": "epoch"},
         "metric-apart": {"runs_apart": True},
         "metric-apart-smoothed-log": {"runs_apart": True, "smoothing": WEIGHT, "log_scale": True}}


@pytest.mark.parametrize("name", sorted(CASES))
def test_the_fixtures_jest_redraws_are_the_charts_nbtrack_draws_now(name: str) -> None:
    path = FIXTURES / f"{name}.vl.json"
    current = drawn(**CASES[name])
    if not path.exists() or path.read_text() != current:
        path.write_text(current)
        pytest.fail(f"{path.name} was out of date and is written again: run jest, commit it")


def test_the_crosshair_rows_jest_rebuilds_are_the_ones_nbtrack_builds_now() -> None:
    """The report page moves a chart to another x in the browser and rebuilds its crosshair
    rows there (labextension/src/reportpage.ts: aligned); jest compares them with these, from
    :func:`aligned_points` on runs logged at their own times (a NaN, a repeated time)."""
    from nbtrack.charts.interactions import aligned_points

    points = pd.DataFrame({
        "run": ["a"] * 6 + ["b"] * 4 + ["c"] * 3,
        "relative": [0.0, 1.5, 3.0, 3.0, 4.5, 9.0, 0.5, 2.0, 6.0, 7.5, 2.5, 3.5, 12.0],
        "value": [1.0, 0.8, 0.6, 0.7, float("nan"), 0.3, 2.0, 1.9, 1.2, 1.0, 5.0, 4.0, 3.0]})
    out = aligned_points(points, "relative", "value")
    assert out is not None  # the runs are apart: crosshair rows are made
    current = json.dumps({"points": json.loads(points.to_json(orient="records")),
                          "aligned": json.loads(out.to_json(orient="records"))}, indent=1) + "\n"
    path = FIXTURES / "aligned.json"
    if not path.exists() or path.read_text() != current:
        path.write_text(current)
        pytest.fail(f"{path.name} was out of date and is written again: run jest, commit it")


def test_smoothing_skips_nan_and_follows_the_steps_as_logged() -> None:
    """What jest compares the TypeScript against: NaN stays NaN and is not averaged in, each
    run is smoothed alone in step order, whatever order its points were logged in."""
    out = smooth(frame(), WEIGHT).set_index(["run_id", "step"])["smoothed"]
    assert pd.isna(out[("a", 2)])
    a3 = (0.4 * 1.0 * 0.6**2 + 0.4 * 0.5 * 0.6 + 0.4 * 0.3) / (1 - 0.6**3)  # steps 0, 1, 3 (2 is NaN)
    assert out[("a", 3)] == pytest.approx(a3)
    assert out[("b", 0)] == 2.0  # debiased: the first point is itself
