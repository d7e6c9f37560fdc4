"""W&B's ``define_metric(key, step_metric=other)``: charts of ``key`` run along ``other``
in the chart module, ``compare()``, the sidebar's chart endpoint and the report alike."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from test_report import Page, chart_payloads, packed_rows

import nbtrack
from nbtrack.charts import metric_chart, metric_data
from nbtrack.report import render_report
from nbtrack.server.reads import charts
from nbtrack.widgets._compare_charts import selection_charts


def _x_axes(spec: Any) -> list[tuple[str, str]]:
    """Every x encoding in a Vega-Lite spec: (field, title)."""
    found = []
    if isinstance(spec, dict):
        x = spec.get("encoding", {}).get("x") if isinstance(spec.get("encoding"), dict) else None
        if isinstance(x, dict) and "field" in x:
            found.append((x["field"], x.get("title")))
        for value in spec.values():
            found += _x_axes(value)
    elif isinstance(spec, list):
        for value in spec:
            found += _x_axes(value)
    return found


def _train(name: str, *, define: bool) -> str:
    with nbtrack.init(name=name) as run:
        if define:
            run.define_metric("val/*", step_metric="epoch")
        for epoch in range(3):
            for batch in range(4):  # the global step moves once per batch
                run.log({"train/loss": 1.0 / (epoch * 4 + batch + 1)})
            run.log({"epoch": epoch, "val/loss": 0.5 - 0.1 * epoch})
        return run.id


def test_step_metric_is_the_x_axis_of_every_chart_view(store_dir: Path) -> None:
    run_id = _train("epochs", define=True)
    data = metric_data([run_id], ["val/loss", "train/loss"], store=store_dir)
    val = data[data["key"] == "val/loss"].sort_values("step")
    assert val["step"].tolist() == [4, 9, 14]  # the global step it was logged at ...
    assert val["x"].tolist() == [0.0, 1.0, 2.0] and set(val["x_metric"]) == {"epoch"}  # ... and its epoch
    assert data.loc[data["key"] == "train/loss", "x"].isna().all()  # no definition: by step

    assert set(_x_axes(metric_chart(data, "val/loss").to_dict())) == {("x", "epoch")}
    assert set(_x_axes(metric_chart(data, "train/loss").to_dict())) == {("step", "step")}

    # compare(): the overlays its selection draws
    chosen = nbtrack.runs(store=store_dir)
    overlays = selection_charts(chosen, metric="", param="", goal="min", x="step", smoothing=0.0,
                                log_scale=False, max_overlay=8, max_points=500, store=store_dir)["overlays"]
    assert set(_x_axes(overlays["val/loss"])) == {("x", "epoch")}
    assert set(_x_axes(overlays["train/loss"])) == {("step", "step")}

    # The sidebar's chart request
    served = charts(store_dir, [run_id], ["val/loss"], max_points=500, width=300, height=200)
    assert set(_x_axes(served["spec"])) == {("x", "epoch")}

    # The report
    payload = chart_payloads(Page(render_report(runs=[run_id], metrics=["val/loss"], store=store_dir)))[0]
    assert set(_x_axes(payload["spec"])) == {("x", "epoch")}
    rows = packed_rows(next(iter(payload["datasets"].values())))
    assert sorted((r["x"], r["value"]) for r in rows) == [(0.0, 0.5), (1.0, 0.4), (2.0, 0.3)]


def test_runs_that_disagree_on_the_step_metric_are_drawn_by_step(store_dir: Path) -> None:
    with_epochs, plain = _train("epochs", define=True), _train("plain", define=False)
    data = metric_data([with_epochs, plain], ["val/loss"], store=store_dir)
    # one axis for both runs: the step both have, not epochs for one and steps for the other
    assert set(_x_axes(metric_chart(data, "val/loss").to_dict())) == {("step", "step")}
    assert len(data) == 6
