"""The report in a real headless Chromium with the network cut off: every chart renders,
nothing is fetched, nothing fails, and hostile run names stay text. Saves a screenshot
to tests/artifacts/report.png.

Needs Debian's ``chromium`` (``apt-get install chromium``; ``.ci/run`` installs it) and
the ``playwright`` Python package (no Playwright browser download: we drive the system
chromium). Skipped when either is missing, unless NBTRACK_REQUIRE_BROWSER=1 (CI).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from test_report import XSS, make_runs

from nbtrack.report import export_report

ARTIFACTS = Path(__file__).parent / "artifacts"


def open_offline(browser: Any, path: Path) -> tuple[Any, dict[str, list[str]]]:
    """Open ``path`` with every non-file request aborted; return the page and what happened."""
    seen: dict[str, list[str]] = {"requests": [], "failed": [], "console": [], "errors": [], "dialogs": []}
    context = browser.new_context(viewport={"width": 1280, "height": 900}, offline=True)
    page = context.new_page()

    def route(route: Any) -> None:
        url = route.request.url
        seen["requests"].append(url)
        if url.startswith("file://"):
            route.continue_()
        else:
            route.abort()

    page.route("**/*", route)
    page.on("requestfailed", lambda request: seen["failed"].append(request.url))
    page.on("console", lambda msg: seen["console"].append(f"{msg.type}: {msg.text}")
            if msg.type in ("error", "warning", "assert") else None)
    page.on("pageerror", lambda exc: seen["errors"].append(str(exc)))

    def dialog(d: Any) -> None:
        seen["dialogs"].append(d.message)
        d.dismiss()

    page.on("dialog", dialog)
    page.goto(path.resolve().as_uri())
    page.wait_for_selector("body[data-charts=done]", timeout=60_000)
    return page, seen


def test_report_renders_offline_in_chromium(browser: Any, store_dir: Path, tmp_path: Path) -> None:
    make_runs(store_dir)
    # The sweep holds a hostile run name, system metrics and every kind of chart.
    path = export_report(tmp_path / "report.html", sweep="sw-1", title="Sweep <b>sw-1</b>")
    page, seen = open_offline(browser, path)

    charts = page.evaluate("""() => Array.from(document.querySelectorAll('.chart')).map(c => ({
        id: c.id, drawn: !!c.querySelector('svg, canvas'), rendered: c.dataset.rendered === 'true',
        marks: c.querySelectorAll('svg path, svg circle, svg rect, svg text').length}))""")
    assert [c["id"] for c in charts] == ["metric-1", "system-1", "sweep-1", "sweep-2", "sweep-3"]
    assert all(c["drawn"] and c["rendered"] and c["marks"] > 10 for c in charts), charts
    assert seen["requests"] == [path.resolve().as_uri()]
    assert seen["failed"] == [] and seen["console"] == [] and seen["errors"] == []
    assert seen["dialogs"] == []

    # Hostile text is text: visible as written, and it made no element.
    assert page.evaluate("document.querySelectorAll('img, b, iframe').length") == 0
    assert page.get_by_role("link", name=XSS).first.is_visible()
    assert page.title() == "Sweep <b>sw-1</b>"
    # A run name inside a chart is SVG text too (the legend of the metric chart).
    legend = page.evaluate("Array.from(document.querySelectorAll('#metric-1 svg text'), t => t.textContent)")
    assert XSS in legend

    # The run table sorts by a column when its heading is clicked.
    page.get_by_role("button", name="config.lr").click()
    column = page.evaluate("""() => {
        const heads = Array.from(document.querySelectorAll('table.runs thead th'));
        const i = heads.findIndex(h => h.textContent.trim() === 'config.lr');
        return Array.from(document.querySelectorAll('table.runs tbody tr')).map(r => r.cells[i].textContent);
    }""")
    assert [float(v) for v in column] == sorted(float(v) for v in column)

    page.evaluate("document.querySelectorAll('details.run').forEach(d => d.open = true)")
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "report.png"), full_page=True)
    assert (ARTIFACTS / "report.png").stat().st_size > 50_000


def test_report_media_renders_offline_in_chromium(browser: Any, store_dir: Path, tmp_path: Path) -> None:
    from test_report_media import log_media

    import nbtrack

    run_id = log_media(steps=4)
    model = tmp_path / "model.bin"
    model.write_bytes(b"weights")
    maker = nbtrack.init(name="trainer", project="media")
    maker.log_artifact(model, type="model", aliases=["best"])
    maker.finish()
    path = export_report(tmp_path / "media.html", runs=[run_id, maker.id])
    page, seen = open_offline(browser, path)

    # Every embedded image decoded (a natural width), the histogram heatmap drawn as SVG rects.
    widths = page.evaluate("Array.from(document.querySelectorAll('#media img'), i => i.naturalWidth)")
    assert widths == [10, 6] * 4
    heatmap = page.locator("#media .chart[data-rendered=true] svg .mark-rect.role-mark path")
    assert heatmap.count() == 4 * 3  # 4 steps x 3 bins
    assert seen["requests"] == [path.resolve().as_uri()]
    assert seen["failed"] == [] and seen["console"] == [] and seen["errors"] == [] and seen["dialogs"] == []
    # Captions, table cells and texts that look like markup are text.
    assert page.evaluate("document.querySelectorAll('#media img:not([src^=\"data:image/png\"])').length") == 0
    assert page.locator("#media figcaption").first.text_content() == XSS
    assert page.locator("#media table.nbtrack-table th").nth(1).text_content() == XSS
    assert page.locator("#artifacts tr[data-ref='model.bin:v0'] td.producer").text_content() == "trainer"
    ARTIFACTS.mkdir(exist_ok=True)
    page.locator("#media").screenshot(path=str(ARTIFACTS / "report-media.png"))


def test_report_metric_sections_in_chromium(browser: Any, store_dir: Path, tmp_path: Path) -> None:
    """train/ and val/ charts under their own headings, each drawn; saves report-sections.png."""
    import math

    import nbtrack
    from nbtrack._run import Run

    nbtrack.settings(dir=str(store_dir))
    for name, rate in (("slow", 0.02), ("fast", 0.08)):
        run = Run(name, project="sections")
        for step in range(60):
            run.log({"loss": math.exp(-rate * step), "train/loss": math.exp(-rate * step) + 0.05,
                     "train/acc": 1 - math.exp(-rate * step), "val/loss": math.exp(-rate * step / 2)},
                    step=step)
        run.finish()
    path = export_report(tmp_path / "sections.html", project="sections", title="Sections")
    page, seen = open_offline(browser, path)
    titles = page.locator("#metrics h3.section-title")
    assert titles.all_inner_texts() == ["charts", "train", "val"]
    drawn = page.evaluate("""() => Array.from(document.querySelectorAll('#metrics .charts')).map(
        block => Array.from(block.querySelectorAll('.chart')).map(c => !!c.querySelector('svg, canvas')))""")
    assert drawn == [[True], [True, True], [True]]
    assert not seen["errors"] and not [u for u in seen["requests"] if not u.startswith("file://")]
    page.locator("#metrics").screenshot(path=str(ARTIFACTS / "report-sections.png"))


def test_report_chart_zooms_to_a_dragged_range_and_a_double_click_resets(
        browser: Any, store_dir: Path, tmp_path: Path) -> None:
    """The report's metric chart has the box zoom of JupyterLab's charts (zoom.ts, inlined):
    a drag shows a grey band and zooms x to it, a double-click resets; shift+drag pans.
    Saves report-zoom-dragging.png (the band) and report-zoom-zoomed.png."""
    from chart_drag import check_box_zoom, drag, steady_box, wait_for_range

    make_runs(store_dir)
    path = export_report(tmp_path / "report.html", project="vision", title="Zoom")
    page, seen = open_offline(browser, path)
    chart = page.locator("#metric-1")
    chart.scroll_into_view_if_needed()
    ARTIFACTS.mkdir(exist_ok=True)
    result = check_box_zoom(page, chart, shot=ARTIFACTS / "report-zoom-dragging.png")
    assert result["full"][0] == 0 and result["full"][1] >= 119

    # Zoomed again, shift+drag pans: the same width of steps, further right.
    plot = steady_box(chart.locator("svg .role-frame path.background").first)
    drag(page, plot, 0.3, 0.6)
    zoomed = wait_for_range(chart, result["full"])
    chart.screenshot(path=str(ARTIFACTS / "report-zoom-zoomed.png"))
    page.keyboard.down("Shift")
    drag(page, plot, 0.6, 0.3)
    page.keyboard.up("Shift")
    panned = wait_for_range(chart, zoomed)
    assert panned[0] > zoomed[0] + 5
    assert abs((panned[1] - panned[0]) - (zoomed[1] - zoomed[0])) <= 1.5
    assert seen["errors"] == [] and seen["console"] == []
    assert seen["requests"] == [path.resolve().as_uri()]


def test_report_smoothing_and_log_y_redraw_every_metric_chart(
        browser: Any, store_dir: Path, tmp_path: Path) -> None:
    """The report's smoothing slider and log y box (charttools.ts and the live panel's
    drawing.ts, inlined):
    every metric chart is drawn again smoothed (the loss's 7-step ripple evened out) on a log
    axis, the sweep's charts are left alone, and back to 0 gives the logged values again.
    Saves report-smoothed.png."""
    make_runs(store_dir)
    path = export_report(tmp_path / "report.html", project="vision", title="Smoothing")
    page, seen = open_offline(browser, path)
    assert page.locator("#chart-tools").is_visible()
    drawable = page.locator(".chart[data-drawable=true]")
    count = drawable.count()
    assert count >= 3 and count == page.locator(".chart").count()  # no sweep here: all are metric charts

    def ripple(field: str) -> float:
        """How much the baseline run's loss moves step to step, drawn as ``field``."""
        return float(page.evaluate("""field => {
            const rows = document.querySelector('#metric-2').nbtrackView.data('data_0') ?? [];
            const runs = rows.filter(r => r.run === 'baseline').sort((a, b) => a.step - b.step);
            const moved = runs.slice(1).reduce((s, r, i) => s + Math.abs(r[field] - runs[i][field]), 0);
            return moved - Math.abs(runs[runs.length - 1][field] - runs[0][field]);  // less the trend
        }""", field))

    assert page.locator("#metric-2").get_attribute("aria-label") == "loss"  # acc, loss, val...
    raw = ripple("value")
    assert raw > 0.1
    page.locator(".nbtrack-report-smoothing").fill("0.8")
    page.locator(".nbtrack-report-log").check()
    drawn_as = "document.querySelectorAll('.chart[data-drawing=\"{}\"]').length === {}"
    page.wait_for_function(drawn_as.format("0.8:true", count))
    assert page.locator(".nbtrack-report-smoothing-value").inner_text() == "0.8"
    assert ripple("smoothed") < raw / 2
    assert page.evaluate("document.querySelector('#metric-2').nbtrackView.scale('y').type") == "log"
    page.locator("#metrics").screenshot(path=str(ARTIFACTS / "report-smoothed.png"))

    page.locator(".nbtrack-report-smoothing").fill("0")
    page.locator(".nbtrack-report-log").uncheck()
    page.wait_for_function(drawn_as.format("0:false", count))
    assert page.evaluate("document.querySelector('#metric-2').nbtrackView.scale('y').type") == "linear"
    assert seen["errors"] == [] and seen["console"] == []
    assert seen["requests"] == [path.resolve().as_uri()]


def test_report_x_control_draws_every_metric_chart_along_a_chosen_metric(
        browser: Any, store_dir: Path, tmp_path: Path) -> None:
    """The report's x control (charttools.ts, as every view's): exported with x="epoch" (not
    charted), the control shows it and each run's loss is drawn at its own run's epoch; a
    charted metric chosen in the page moves every metric chart along it, smoothing and log y
    still apply, and the clock and the step are there to go back to. Saves report-x.png."""
    import math

    import nbtrack
    from nbtrack._run import Run

    nbtrack.settings(dir=str(store_dir))
    # Two runs at different speeds: "fast" covers 3 epochs a run, "slow" 1.5; "tokens" grows
    # faster in "fast" too, so along tokens fast's loss spans more of the axis.
    for name, per_epoch, rate in (("fast", 20, 0.08), ("slow", 40, 0.03)):
        run = Run(name, project="along")
        for step in range(60):
            tokens = step * (3 if name == "fast" else 1) * 100
            loss = math.exp(-rate * step) + 0.01
            run.log({"loss": loss, "tokens": tokens, "acc": 1 - math.exp(-rate * step)}, step=step)
            if step % per_epoch == 0:
                run.log({"epoch": step // per_epoch}, step=step)
        run.finish()
    path = export_report(tmp_path / "x.html", project="along", metrics=["acc", "loss", "tokens"], x="epoch",
                         title="Along")
    page, seen = open_offline(browser, path)
    control = page.locator(".nbtrack-report-x")
    assert control.input_value() == "epoch"
    offered = control.locator("option").evaluate_all("els => els.map(e => e.value)")
    assert offered == ["", "step", "relative", "wall", "acc", "loss", "tokens", "epoch"]

    def drawn(key: str) -> dict[str, Any]:
        """What the chart of ``key`` draws: its x axis title, its x domain, each run's (x, step)."""
        return page.evaluate("""key => {
            const box = document.querySelector(`.chart[data-metric="${key}"]`);
            const view = box.nbtrackView, name = Object.keys(view.getState({data: () => true}).data)
                .find(n => n.startsWith('data_') && (view.data(n) || []).some(r => r.run));
            const rows = view.data(name).filter(r => !r.crosshair);
            const by = {};
            rows.forEach(r => (by[r.run] = by[r.run] || []).push([r.x ?? null, r.step]));
            const title = Array.from(box.querySelectorAll('svg .role-axis-title text'), t => t.textContent);
            return {x: box.dataset.x, domain: view.scale('x').domain(), runs: by, titles: title};
        }""", key)

    loss = drawn("loss")
    assert loss["x"] == "epoch" and "epoch" in loss["titles"]
    # fast: epoch 0 at steps 0-19, 1 at 20-39, 2 at 40-59; slow: 0 at 0-39, 1 at 40-59
    assert sorted(set(x for x, _ in loss["runs"]["fast"])) == [0, 1, 2]
    assert all(x == step // 20 for x, step in loss["runs"]["fast"])
    assert all(x == step // 40 for x, step in loss["runs"]["slow"])
    assert loss["domain"][0] <= 0 and loss["domain"][1] >= 2

    def scale(axis: str) -> str:
        view = "document.querySelector('.chart[data-metric=loss]').nbtrackView"
        return str(page.evaluate(f"{view}.scale('{axis}').type"))

    count = page.locator(".chart[data-metric]").count()
    control.select_option("tokens")
    page.locator(".nbtrack-report-smoothing").fill("0.5")
    page.locator(".nbtrack-report-log").check()
    page.wait_for_function(f"""document.querySelectorAll(
        '.chart[data-metric][data-x="tokens"][data-drawing="0.5:true"]').length === {count}""")
    along = drawn("loss")
    assert "tokens" in along["titles"]
    assert max(x for x, _ in along["runs"]["fast"]) == 17700
    assert max(x for x, _ in along["runs"]["slow"]) == 5900
    assert along["domain"][1] >= 17700
    assert scale("y") == "log"
    page.locator("#metrics").screenshot(path="/tmp/report-x.png")
    ARTIFACTS.mkdir(exist_ok=True)
    page.locator("#metrics").screenshot(path=str(ARTIFACTS / "report-x.png"))

    control.select_option("wall")
    page.wait_for_function(f"document.querySelectorAll('.chart[data-metric][data-x=wall]').length == {count}")
    assert scale("x") == "time"
    control.select_option("step")
    page.wait_for_function(f"document.querySelectorAll('.chart[data-metric][data-x=step]').length == {count}")
    back = drawn("loss")  # every point again, along its step
    assert back["domain"][0] == 0 and 59 <= back["domain"][1] < 100 and "step" in back["titles"]
    assert [step for _, step in back["runs"]["slow"]] == list(range(60))
    assert seen["errors"] == [] and seen["console"] == []
    assert seen["requests"] == [path.resolve().as_uri()]
