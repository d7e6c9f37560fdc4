"""The chart layer every view shares: what a W&B or TensorBoard user notices in a chart.

Specs built from a real store: the crosshair tooltip lists every run at the hovered step,
x zooms (bound to the scales), a run keeps its colour across charts of different runs,
25 runs get 25 colours, smoothing is TensorBoard's debiased EMA, a log-uniform ``lr``
gets a log axis, metrics group into sections with constants left out. Then one chart
drawn by the bundled Vega in headless Chromium: hovering shows the crosshair tooltip,
the wheel zooms, a drag pans, a double-click resets, and the PNG/SVG buttons download.
Screenshots (light and dark) go to tests/artifacts/.
"""

from __future__ import annotations

import base64
import math
import struct
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

import nbtrack
from nbtrack import charts
from nbtrack.charts.colors import run_colors
from nbtrack.charts.metrics import metric_chart
from nbtrack.charts.sections import metric_sections
from nbtrack.errors import NbtrackError

ARTIFACTS = Path(__file__).parent / "artifacts"


def log_runs(count: int, *, steps: int = 30, longer: int = 0, project: str = "layer") -> list[str]:
    """``count`` finished runs with train/val/system metrics, each ``longer`` steps longer than
    the one before; their ids, oldest first."""
    ids = []
    for n in range(count):
        run = nbtrack.init(project=project, name=f"run-{n}", config={"lr": 10.0 ** -(n % 5 + 1)})
        for step in range(steps + n * longer):
            nbtrack.log({"train/loss": 1.0 / (step + 1) + 0.1 * n, "val/acc": step / steps,
                         "system/ram_total_gb": 16.0, "system/cpu_percent": float(step % 7),
                         "lr": 0.1 * 0.9 ** step})
        nbtrack.finish()
        ids.append(run.id)
    return ids


def layers(spec: dict[str, Any]) -> list[dict[str, Any]]:
    return list(spec.get("layer", []))


def all_params(spec: dict[str, Any]) -> list[dict[str, Any]]:
    return [p for layer in layers(spec) for p in layer.get("params", [])] + spec.get("params", [])


def color_of(spec: dict[str, Any]) -> dict[str, str]:
    """Run label -> colour, from a metric chart's colour scale."""
    scale = layers(spec)[0]["encoding"]["color"]["scale"]
    return dict(zip(scale["domain"], scale["range"]))


# -- the specs ------------------------------------------------------------------------
def test_crosshair_tooltip_lists_every_run_at_the_hovered_step(store_dir: Path) -> None:
    log_runs(3)
    spec = charts.metric_chart(charts.metric_data(nbtrack.runs(project="layer")), "train/loss").to_dict()
    rule = next(layer for layer in layers(spec) if layer["mark"]["type"] == "rule")
    (pivot,) = [t for t in rule["transform"] if "pivot" in t]
    assert pivot["pivot"] == "run" and pivot["groupby"] == ["step"] and pivot["value"] == "value"
    titles = [t["title"] for t in rule["encoding"]["tooltip"]]
    assert titles == ["step", "run-0", "run-1", "run-2"]
    # the rule shows only at the hovered step, the step nearest the pointer
    name = rule["encoding"]["opacity"]["condition"]["param"]
    (hover,) = [p for p in all_params(spec) if p["name"] == name]
    assert hover["select"]["nearest"] is True and hover["select"]["fields"] == ["step"]
    assert hover["select"]["on"] == "pointerover"


def test_runs_downsampled_apart_still_all_show_in_the_tooltip(store_dir: Path) -> None:
    for steps in (100, 130):  # buckets of 5 and 6.5 steps: few steps in common
        nbtrack.init(project="apart", name=f"run-{steps}")
        for step in range(steps):
            nbtrack.log({"loss": 1.0 / (step + 1)})
        nbtrack.finish()
    data = charts.metric_data(nbtrack.runs(project="apart"), max_points=20)
    by_run = data.groupby("run")["step"].apply(set)
    assert len(by_run["run-100"] & by_run["run-130"]) < 5  # what the pivot alone would show
    spec = charts.metric_chart(data, "loss").to_dict()
    (rows,) = spec["datasets"].values()  # one data source: a live view can stream into it
    rule = next(layer for layer in layers(spec) if layer["mark"]["type"] == "rule")
    assert {"filter": "datum.crosshair"} in rule["transform"]
    hovered = pd.DataFrame([row for row in rows if row.get("crosshair")])
    shared = hovered[hovered["step"] <= 95].groupby("step")["run"].apply(set)
    assert len(shared) >= 20 and all(runs == {"run-100", "run-130"} for runs in shared)
    # each run's value there is its own nearest point, not another run's
    at = hovered.set_index(["run", "step"])["value"]
    own = data.set_index(["run", "step"])["value"]
    for step in shared.index[:5]:
        nearest = min(by_run["run-130"], key=lambda s, t=step: abs(s - t))
        assert at[("run-130", step)] == own[("run-130", nearest)]


def test_x_zooms_bound_to_the_scales_and_the_legend_stays_solid(store_dir: Path) -> None:
    log_runs(2)
    data = charts.metric_data(nbtrack.runs(project="layer"), max_points=5)  # buckets: a band
    assert (data["min"] != data["max"]).any()
    spec = charts.metric_chart(data, "train/loss", smoothing=0.5).to_dict()
    params = all_params(spec)
    (zoom,) = [p for p in params if p.get("bind") == "scales"]
    assert zoom["select"] == {"type": "interval", "encodings": ["x"]}
    legend = layers(spec)[0]["encoding"]["color"]["legend"]
    assert legend["symbolOpacity"] == 1 and legend["symbolType"] == "stroke"
    faded = {layer["mark"]["type"] for layer in layers(spec) if layer["mark"].get("opacity", 1) < 1}
    assert faded == {"line", "area"}  # the raw curve under the smoothed one, and the band


def test_a_run_keeps_its_colour_across_charts_of_different_runs(store_dir: Path) -> None:
    ids = log_runs(6, steps=3)
    first = color_of(charts.metric_chart(charts.metric_data(ids[:4]), "train/loss").to_dict())
    second = color_of(charts.metric_chart(charts.metric_data(ids[2:]), "train/loss").to_dict())
    assert set(first) & set(second) == {"run-2", "run-3"}
    assert all(first[name] == second[name] for name in ("run-2", "run-3")), (first, second)
    everyone = charts.project_run_colors(ids)
    assert len(set(everyone.values())) == 6  # distinct within the project
    # The swatch a run list shows is the colour its curves have.
    assert [everyone[i] for i in ids[2:]] == [second[f"run-{n}"] for n in range(2, 6)]


def test_25_runs_get_25_distinct_colours_and_old_runs_keep_theirs() -> None:
    ids = [f"run{n:04d}x" for n in range(25)]
    colors = run_colors(ids)
    assert len(set(colors.values())) == 25
    assert all(len(c) == 7 and c.startswith("#") for c in colors.values())
    grown = run_colors([*ids, "later01", "later02"])
    assert {i: grown[i] for i in ids} == colors  # adding runs recolours none of the old ones
    assert len(set(run_colors([f"r{n}" for n in range(60)]).values())) == 60


def test_smoothing_is_tensorboards_debiased_ema() -> None:
    values = [1.0, 3.0, 2.0, float("nan"), 5.0]
    weight = 0.6
    expected, last, count = [], 0.0, 0
    for v in values:  # TensorBoard's vz_line_chart smoothing, written out by hand
        if math.isnan(v):
            expected.append(v)
            continue
        count += 1
        last = last * weight + (1 - weight) * v
        expected.append(last / (1 - weight ** count))
    frame = pd.DataFrame({"run_id": "a", "run": "a", "key": "loss", "step": range(5), "value": values})
    got = charts.smooth(frame, weight)["smoothed"].tolist()
    assert got[:3] == pytest.approx([1.0, (0.4 * 1 * 0.6 + 0.4 * 3) / (1 - 0.36), expected[2]])
    assert math.isnan(got[3]) and got[4] == pytest.approx(expected[4])
    spec = metric_chart(frame.assign(min=frame["value"], max=frame["value"]), "loss",
                        smoothing=weight).to_dict()
    drawn = next(iter(spec["datasets"].values()))
    assert [round(r["smoothed"], 9) for r in drawn if r["smoothed"] is not None] == \
        [round(e, 9) for e in expected if not math.isnan(e)]


def test_x_is_step_relative_time_wall_time_or_a_logged_metric(store_dir: Path) -> None:
    log_runs(2, steps=5)
    data = charts.metric_data(nbtrack.runs(project="layer"))
    for x, field, kind, title in [("step", "step", "quantitative", "step"),
                                  ("relative", "relative", "quantitative", "relative time (s)"),
                                  ("wall", "time", "temporal", "wall time"),
                                  ("lr", "x", "quantitative", "lr")]:
        encoding = layers(charts.metric_chart(data, "train/loss", x=x).to_dict())[0]["encoding"]["x"]
        assert (encoding["field"], encoding["type"], encoding["title"]) == (field, kind, title)
    relative = metric_chart(data, "train/loss", x="relative").to_dict()
    seconds = [r["relative"] for r in next(iter(relative["datasets"].values()))]
    assert min(seconds) == 0 and all(s >= 0 for s in seconds)
    with pytest.raises(NbtrackError, match=r"x='epochs'.*step, relative, wall"):
        metric_chart(data, "train/loss", x="epochs")
    # System metrics are drawn against time unless asked otherwise.
    cpu = layers(metric_chart(data, "system/cpu_percent").to_dict())[0]["encoding"]["x"]
    assert cpu["field"] == "relative"


def test_x_a_metric_pairs_points_logged_at_other_steps_and_downsampled_apart(store_dir: Path) -> None:
    """x = the epoch for an eval logged every 100 steps, downsampled apart from the epoch (as
    the sidebar and the report read them): each point at the epoch of its step, not only where
    both happen to share a step (the sidebar drew nothing)."""
    with nbtrack.init(name="along", project="along") as run:
        for step in range(10_000):
            row = {"epoch": step // 1000, "loss": 1.0 / (step + 1)}
            if step % 100 == 99:
                row["val/loss"] = 2.0 / (step + 1)
            run.log(row, step=step)
    data = charts.metric_data([run.id], max_points=400)
    spec = metric_chart(data, "val/loss", x="epoch").to_dict()
    rows = [r for r in next(iter(spec["datasets"].values())) if not r.get("crosshair")]
    assert len(rows) == 100
    assert all(abs(r["x"] - r["step"] / 1000) <= 1 for r in rows)  # its epoch, give or take a bucket
    assert rows[-1]["x"] == pytest.approx(9, abs=0.5)


def test_sections_group_by_prefix_and_leave_constants_out(store_dir: Path) -> None:
    log_runs(2, steps=4)
    data = charts.metric_data(nbtrack.runs(project="layer"))
    sections = metric_sections(data)
    assert [(s.name, s.keys, s.x) for s in sections] == [
        ("", ("lr",), "step"), ("train", ("train/loss",), "step"), ("val", ("val/acc",), "step"),
        ("system", ("system/cpu_percent",), "relative")]
    assert sections[-1].constants == {"system/ram_total_gb": 16.0}
    grid = charts.metric_charts(data)
    titles = [c["title"]["text"] for c in grid.to_dict()["vconcat"]]
    assert titles == ["charts", "train", "val", "system"]
    ARTIFACTS.mkdir(exist_ok=True)
    (ARTIFACTS / "chart-layer-sections.png").write_bytes(grid.to_png())
    # A metric logged once per run is a result, not a constant: it stays a chart.
    once = pd.DataFrame({"run": ["a"], "key": ["test/acc"], "step": [9], "value": [0.9],
                         "min": [0.9], "max": [0.9]})
    assert metric_sections(once)[0].keys == ("test/acc",)


def test_parallel_coordinates_log_axis_for_a_log_uniform_lr() -> None:
    runs = pd.DataFrame({"id": list("abcdef"), "name": list("abcdef"),
                         "config.lr": [1e-5, 3e-5, 1e-3, 2e-2, 1e-1, 5e-4],
                         "config.batch": [32] * 6, "summary.loss": [0.5, 0.4, 0.2, 0.3, 0.9, 0.25]})
    from nbtrack.charts.params import log_parameters, parallel_data

    lines, ticks = parallel_data(runs, ["lr", "batch"], "loss")
    lr = lines[lines["axis"] == "lr"].set_index("run")["position"]
    assert lr["c"] == pytest.approx(0.5)  # 1e-3 halfway between 1e-5 and 1e-1: a log axis
    labels = ticks[ticks["axis"] == "lr"]["label"].tolist()
    assert labels == ["1e-5", "1e-4", "0.001", "0.01", "0.1"]
    # Labels never crowd: at least a twelfth of the axis apart.
    for _, axis in ticks.groupby("axis"):
        gaps = axis["position"].sort_values().diff().dropna()
        assert (gaps >= 1 / 12 - 1e-9).all()
    assert ticks[ticks["axis"] == "batch"][["position", "label"]].values.tolist() == [[0.5, "32"]]
    # The sweep config decides when given, even for a range narrower than two decades.
    config = {"parameters": {"lr": {"distribution": "log_uniform_values", "min": 1e-3, "max": 1e-2}}}
    narrow = runs.assign(**{"config.lr": [1e-3, 2e-3, 3e-3, 5e-3, 1e-2, 4e-3]})
    lines, _ = parallel_data(narrow, ["lr"], "loss", log_axes=log_parameters(config))
    assert lines[lines["axis"] == "lr"].set_index("run")["position"]["c"] == pytest.approx(math.log10(3))
    lines, _ = parallel_data(narrow, ["lr"], "loss")
    assert lines[lines["axis"] == "lr"].set_index("run")["position"]["c"] == pytest.approx(2 / 9)


def test_container_width_falls_back_to_a_fixed_width_for_static_pictures(store_dir: Path) -> None:
    log_runs(1, steps=3)
    chart = charts.metric_chart(charts.metric_data(nbtrack.runs(project="layer")), "train/loss",
                                width="container")
    assert chart.to_dict()["width"] == "container"
    png = chart.to_png()
    width = struct.unpack(">I", png[16:20])[0] // 2
    assert 360 <= width < 600  # the fallback plot width plus axes, not a 0- or 300-px chart
    with pytest.raises(NbtrackError, match="container"):
        charts.metric_charts(charts.metric_data(nbtrack.runs(project="layer")), width="container")


# -- in a browser -----------------------------------------------------------------------
def chart_page(tmp_path: Path, chart: Any, *, dark: bool) -> Path:
    body = 'data-jp-theme-light="false" style="background:#1e1e1e"' if dark else ""
    page = tmp_path / f"chart-{'dark' if dark else 'light'}.html"
    page.write_text(f"<!doctype html><html><body {body}><div style='width:900px'>{chart.to_html()}"
                    "</div></body></html>", encoding="utf-8")
    return page


def x_domain(page: Any) -> list[float]:
    """The x scale's domain in the Vega view the page drew."""
    domain: list[float] = page.evaluate("document.querySelector('.nbtrack-chart').nbtrackView"
                                        ".scale('x').domain()")
    return domain


@pytest.mark.slow
@pytest.mark.parametrize("theme", ["light", "dark"])
def test_hover_shows_every_run_and_the_wheel_zooms_in_chromium(
        browser: Any, store_dir: Path, tmp_path: Path, theme: str) -> None:
    log_runs(4, steps=60, longer=15)
    # downsampled to 40 points each: the runs' buckets fall on different steps
    data = charts.metric_data(nbtrack.runs(project="layer"), max_points=40)
    chart = charts.metric_chart(data, "train/loss", smoothing=0.3)
    context = browser.new_context(viewport={"width": 1000, "height": 600}, offline=True,
                                  accept_downloads=True)
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.on("console", lambda msg: errors.append(msg.text) if msg.type in ("error", "warning") else None)
    page.goto(chart_page(tmp_path, chart, dark=theme == "dark").as_uri())
    page.wait_for_selector(".nbtrack-chart[data-drawn=true]", timeout=60_000)
    frame = page.locator(".nbtrack-chart svg .role-frame path.background").first.bounding_box()
    assert frame and frame["width"] > 700  # filled the 900-px container, not a fixed 360 px

    # Hover in the middle of the plot: a crosshair and a tooltip naming every run.
    page.mouse.move(frame["x"] + frame["width"] * 0.5, frame["y"] + frame["height"] * 0.5)
    tooltip = page.locator("#vg-tooltip-element")
    tooltip.wait_for(state="visible", timeout=5_000)
    text = tooltip.inner_text()
    assert "step" in text and all(f"run-{n}" in text for n in range(4)), text
    crosshair = page.locator(".nbtrack-chart svg line[aria-roledescription='rule mark'][opacity='0.7']")
    assert crosshair.count() == 1  # the rule at the hovered step, and no other
    assert "run-0" in (crosshair.get_attribute("aria-label") or "")
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"chart-layer-hover-{theme}.png"))

    # The wheel zooms x, a shift+drag pans (a plain drag draws the zoom box: see
    # test_offline_charts), a double-click resets.
    before = x_domain(page)
    page.mouse.wheel(0, -400)
    page.wait_for_timeout(300)
    zoomed = x_domain(page)
    assert zoomed[1] - zoomed[0] < 0.9 * (before[1] - before[0])  # narrower: zoomed in
    page.mouse.move(frame["x"] + frame["width"] * 0.5, frame["y"] + 20)
    page.keyboard.down("Shift")
    page.mouse.down()
    page.mouse.move(frame["x"] + frame["width"] * 0.2, frame["y"] + 20, steps=8)
    page.mouse.up()
    page.keyboard.up("Shift")
    page.wait_for_timeout(300)
    panned = x_domain(page)
    assert panned[0] > zoomed[0] and panned[1] - panned[0] == pytest.approx(zoomed[1] - zoomed[0])
    page.screenshot(path=str(ARTIFACTS / f"chart-layer-zoomed-{theme}.png"))
    page.mouse.dblclick(frame["x"] + frame["width"] * 0.5, frame["y"] + 20)
    page.wait_for_timeout(300)
    assert x_domain(page) == pytest.approx(before)

    # PNG and SVG downloads, made in the page.
    for kind, magic in (("png", b"\x89PNG"), ("svg", b"<svg")):
        with page.expect_download() as download:
            page.click(f".nbtrack-chart-download button[data-format={kind}]")
        saved = Path(download.value.path())
        assert download.value.suggested_filename == f"train_loss.{kind}"
        assert saved.read_bytes().startswith(magic)
    assert errors == []
    context.close()


def test_offline_html_has_download_buttons_and_no_vega_menu(store_dir: Path) -> None:
    log_runs(1, steps=3)
    html = charts.metric_chart(charts.metric_data(nbtrack.runs(project="layer")), "train/loss").to_html(
        png=base64.b64decode(
            "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg=="))
    assert "toImageURL" in html and '"actions": false' in html
