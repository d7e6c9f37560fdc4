"""Charts nbtrack returns draw with no network: no output points outside the page.

* A sweep's importance, parallel-coordinates and best-so-far charts show as a MIME bundle
  with the Vega library inlined (no CDN) and a PNG for when scripts do not run.
* Every example notebook, executed by nbclient on a real kernel, leaves no output (any MIME
  type, and the widget state nbclient saves) that references a URL outside the page.
* In headless Chromium with the network cut off, a sweep chart exported by nbconvert draws
  (with its PNG/SVG download buttons), and with JavaScript off its picture shows.
  Screenshots go to tests/artifacts/.

What counts as a URL outside the page: ``http://`` or ``https://`` anywhere in an output, in
any MIME type (plain text too: the example notebooks print none, so no exemption is needed),
and protocol-relative ``//host`` where HTML, CSS or JavaScript would load it (``src=``,
``href=``, ``url(``, ``import``). XML namespace names (``xmlns="http://www.w3.org/2000/svg"``)
are names, never fetched, and are allowed; ``data:`` and ``blob:`` URIs are in the page.
"""

from __future__ import annotations

import base64
import inspect
import json
import os
import pickle
import re
import shutil
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

import nbtrack

EXAMPLES = Path(__file__).resolve().parent.parent / "example_notebooks"
NOTEBOOKS = sorted(EXAMPLES.glob("*.ipynb"))
ARTIFACTS = Path(__file__).parent / "artifacts"
CHARTS = ("importance_chart", "parallel_coordinates", "best_so_far_chart")

_NAMESPACE = re.compile(r"""xmlns(?::[\w-]+)?\s*=\s*(["'])https?://[^"']*\1""")
_ABSOLUTE = re.compile(r"https?://[^\s\"'<>()]*", re.IGNORECASE)
_RELATIVE = re.compile(r"""(?:(?:src|href|action)\s*=\s*["']?|url\(\s*["']?|import\s*\(?\s*["']"""
                       r"""|from\s+["'])//[^\s"'<>()]*""", re.IGNORECASE)


def outside_urls(text: str) -> list[str]:
    """URLs in ``text`` that a browser showing it would fetch from outside the page.

    Example
    -------
    >>> outside_urls('<svg xmlns="http://www.w3.org/2000/svg"><image href="//cdn.x/a.png"/>')
    ['href="//cdn.x/a.png']
    """
    text = _NAMESPACE.sub("", text)
    return _ABSOLUTE.findall(text) + _RELATIVE.findall(text)


def output_texts(nb: Any) -> list[tuple[str, str]]:
    """``(where, text)`` for every output of every cell, every MIME type, and widget state."""
    found = []
    for index, cell in enumerate(nb.cells):
        for output in cell.get("outputs", []):
            kind = output.get("output_type")
            if kind == "stream":
                found.append((f"cell {index} {output.get('name')}", output.get("text", "")))
            elif kind == "error":
                found.append((f"cell {index} error", "\n".join(output.get("traceback", []))))
            for mime, value in output.get("data", {}).items():
                text = value if isinstance(value, str) else json.dumps(value)
                found.append((f"cell {index} {mime}", text))
    widgets = nb.metadata.get("widgets")
    if widgets:
        found.append(("notebook widget state", json.dumps(widgets)))
    return found


def trained_sweep() -> Any:
    """A finished 12-trial sweep with a log-uniform and a categorical parameter."""
    def train(config: dict[str, Any]) -> None:
        penalty = {"adam": 0.0, "sgd": 0.05}[config["opt"]]
        nbtrack.log({"loss": (config["x"] - 0.3) ** 2 + 0.1 * config["lr"] + penalty})

    config = {"method": "random", "metric": {"name": "loss", "goal": "minimize"},
              "parameters": {"x": {"min": 0.0, "max": 1.0},
                             "lr": {"distribution": "log_uniform_values", "min": 1e-4, "max": 1.0},
                             "opt": {"values": ["adam", "sgd"]}}}
    return nbtrack.sweep(config, train, count=12, seed=0, project="offline")


# -- the charts a sweep returns --------------------------------------------------------
@pytest.fixture(scope="module")
def bundles(tmp_path_factory: pytest.TempPathFactory) -> dict[str, tuple[Any, dict[str, Any]]]:
    store = tmp_path_factory.mktemp("offline") / "store"
    saved = os.environ.get("NBTRACK_DIR")
    os.environ["NBTRACK_DIR"] = str(store)
    try:
        sweep = trained_sweep()
        charts = {name: getattr(sweep, name)() for name in CHARTS}
        return {name: (chart, chart._repr_mimebundle_()) for name, chart in charts.items()}
    finally:
        if saved is None:
            os.environ.pop("NBTRACK_DIR", None)
        else:
            os.environ["NBTRACK_DIR"] = saved


@pytest.mark.parametrize("name", CHARTS)
def test_sweep_chart_shows_without_network_and_with_a_picture(
        name: str, bundles: dict[str, tuple[Any, dict[str, Any]]]) -> None:
    _, bundle = bundles[name]
    for mime, text in bundle.items():
        assert outside_urls(text) == [], (mime, outside_urls(text)[:3])
    assert {"text/html", "image/png", "text/plain"} <= set(bundle), sorted(bundle)
    html = bundle["text/html"]
    assert "<script src" not in html.replace(" ", "")
    png = base64.b64decode(bundle["image/png"])
    assert png.startswith(b"\x89PNG\r\n\x1a\n") and len(png) > 5_000  # a drawn chart, not a stub
    # The same picture sits in the HTML, for where its script may not run (untrusted, sanitised).
    assert f'src="data:image/png;base64,{bundle["image/png"]}"' in html


@pytest.mark.parametrize("name", CHARTS)
def test_sweep_chart_still_works_as_an_altair_chart(
        name: str, bundles: dict[str, tuple[Any, dict[str, Any]]], tmp_path: Path) -> None:
    import altair as alt

    chart, _ = bundles[name]
    assert isinstance(chart.to_altair(), alt.TopLevelMixin)
    spec = chart.to_dict()
    assert spec["datasets"] and spec == chart.to_altair().to_dict()
    wider = chart.properties(width=640)
    assert isinstance(wider, nbtrack.charts.OfflineChart)  # chaining keeps it offline
    assert wider.to_dict()["width"] == 640
    combined = chart | chart
    assert isinstance(combined, nbtrack.charts.OfflineChart) and "hconcat" in combined.to_dict()
    assert "vconcat" in alt.vconcat(chart, wider).to_dict()  # Altair takes it as its own
    assert not isinstance(chart.to_altair(), nbtrack.charts.OfflineChart)
    again = pickle.loads(pickle.dumps(chart))
    assert isinstance(again, nbtrack.charts.OfflineChart) and again.to_dict() == spec
    chart.save(str(tmp_path / "chart.json"))
    assert json.loads((tmp_path / "chart.json").read_text())["datasets"] == spec["datasets"]


def test_a_sweep_with_nothing_to_chart_still_shows_offline(store_dir: Path) -> None:
    sweep = nbtrack.Sweep.create({"method": "random", "metric": {"name": "loss"},
                                  "parameters": {"x": {"min": 0.0, "max": 1.0}}})
    bundle = sweep.parallel_coordinates()._repr_mimebundle_(include=["text/html", "text/plain"])
    assert set(bundle) == {"text/html", "text/plain"}
    assert outside_urls(bundle["text/html"]) == []


# -- every example notebook ------------------------------------------------------------
@pytest.mark.slow
@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.name for p in NOTEBOOKS])
def test_example_notebook_outputs_reference_nothing_outside_the_page(
        path: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    nbformat = pytest.importorskip("nbformat")
    nbclient = pytest.importorskip("nbclient")
    monkeypatch.delenv("NBTRACK_DIR", raising=False)  # the notebook's own default store
    monkeypatch.setenv("PATH", str(Path(sys.executable).parent) + os.pathsep + os.environ["PATH"])
    folder = tmp_path / path.parent.name
    shutil.copytree(path.parent, folder, ignore=shutil.ignore_patterns(".nbtrack", ".ipynb_*"))
    nb = nbformat.read(folder / path.name, as_version=4)
    nbclient.NotebookClient(nb, kernel_name="python3", timeout=180, allow_errors=True,
                            resources={"metadata": {"path": str(folder)}}).execute()
    texts = output_texts(nb)
    assert texts, "the notebook showed nothing"
    errors = [where for where, _ in texts if where.endswith(" error")]
    assert errors == [], errors
    outside = [(where, url) for where, text in texts for url in outside_urls(text)]
    assert outside == [], outside[:10]


# -- in a browser with the network cut off ---------------------------------------------
def open_offline(browser: Any, path: Path, *, scripts: bool) -> tuple[Any, dict[str, list[str]]]:
    """Open ``path`` with every request outside the file aborted; return the page and events."""
    seen: dict[str, list[str]] = {"outside": [], "errors": []}
    context = browser.new_context(viewport={"width": 1000, "height": 800}, offline=True,
                                  java_script_enabled=scripts, accept_downloads=True)
    page = context.new_page()

    def route(route: Any) -> None:
        url = route.request.url
        if url.startswith(("file://", "data:", "blob:")):
            route.continue_()
        else:
            seen["outside"].append(url)
            route.abort()

    page.route("**/*", route)
    page.on("console", lambda msg: seen["errors"].append(msg.text) if msg.type == "error" else None)
    page.on("pageerror", lambda exc: seen["errors"].append(str(exc)))
    page.goto(path.resolve().as_uri())
    return page, seen


@pytest.mark.slow
def test_sweep_chart_in_nbconvert_html_draws_offline_in_chromium(browser: Any, tmp_path: Path) -> None:
    """Executed by nbclient, exported by nbconvert, opened from a file with no network."""
    nbformat = pytest.importorskip("nbformat")
    nbconvert = pytest.importorskip("nbconvert")
    from helpers import execute_notebook

    source = inspect.getsource(trained_sweep)
    nb: Any = execute_notebook(["import nbtrack\nfrom typing import Any\n" + source,
                                "sweep = trained_sweep()\nsweep.parallel_coordinates()"], tmp_path)
    texts = output_texts(nb)
    assert not [where for where, _ in texts if where.endswith(" error")], texts
    exporter = nbconvert.HTMLExporter(template_name="lab")
    body, _ = exporter.from_notebook_node(nbformat.from_dict(nb))
    # nbconvert's page loads its own helpers (require.js, MathJax) from CDNs: not ours, cut out.
    body = re.sub(r"<script[^>]*\bsrc=[\"']https?://[^>]*>\s*</script>", "", body)
    page_file = tmp_path / "sweep.html"
    page_file.write_text(body, encoding="utf-8")

    ARTIFACTS.mkdir(exist_ok=True)
    page, seen = open_offline(browser, page_file, scripts=True)
    page.wait_for_selector(".nbtrack-chart[data-drawn=true]", timeout=60_000)
    lines = page.locator(".nbtrack-chart svg path[aria-roledescription='line mark']")
    assert lines.count() == 12  # one line per trial, drawn by Vega in the page
    assert page.locator(".nbtrack-chart img").count() == 0  # the picture gave way to the chart
    # PNG and SVG downloads, drawn in the page (vega's view.toImageURL), with no network
    buttons = page.locator(".nbtrack-chart .nbtrack-chart-download button")
    assert [buttons.nth(i).inner_text() for i in range(buttons.count())] == ["PNG", "SVG"]
    with page.expect_download() as download:
        buttons.nth(1).click()
    assert Path(download.value.path()).read_text(encoding="utf-8").startswith("<svg")
    page.locator(".nbtrack-chart").screenshot(path=str(ARTIFACTS / "sweep_chart.png"))
    assert seen == {"outside": [], "errors": []}

    # An untrusted notebook or a sanitised export runs no script: the PNG shows instead.
    page, seen = open_offline(browser, page_file, scripts=False)
    picture = page.locator(".nbtrack-chart img")
    assert picture.count() == 1
    assert page.evaluate("document.querySelector('.nbtrack-chart img').naturalWidth") > 300
    page.locator(".nbtrack-chart").screenshot(path=str(ARTIFACTS / "sweep_chart_static.png"))
    assert seen["outside"] == []


# -- the chart builders nbtrack.charts hands out ------------------------------------------
def test_chart_builders_of_nbtrack_charts_show_offline(store_dir: Path) -> None:
    import altair as alt

    from nbtrack import charts

    ids = []
    for lr in (0.1, 0.01):
        run = nbtrack.init(project="offline", config={"lr": lr})
        for step in range(20):
            nbtrack.log({"loss": lr * (20 - step), "acc": step / 20})
        nbtrack.finish()
        ids.append(run.id)
    data = charts.metric_data(ids)
    runs = nbtrack.runs(project="offline")
    built = [charts.metric_charts(data), charts.metric_chart(data, "loss"),
             charts.scatter(runs, "lr", "loss"),
             charts.parallel_coordinates(runs, ["lr"], "loss")]
    for chart in built:
        assert isinstance(chart.to_altair(), alt.TopLevelMixin)
        bundle = chart._repr_mimebundle_()
        assert [url for text in bundle.values() for url in outside_urls(text)] == []
        assert base64.b64decode(bundle["image/png"]).startswith(b"\x89PNG")
    # Inside nbtrack the submodules' builders stay plain Altair, to compose.
    from nbtrack.charts.metrics import metric_chart

    assert isinstance(metric_chart(data, "loss"), alt.TopLevelMixin)


# -- in JupyterLab, a saved notebook reopened with no kernel ---------------------------------
@pytest.fixture
def lab(tmp_path: Path) -> Any:
    """A JupyterLab server on ``tmp_path / "lab"``, with its own data dir (notebook trust)."""
    import socket
    import subprocess
    import time
    import urllib.request

    root, data = tmp_path / "lab", tmp_path / "jupyter-data"
    root.mkdir()
    data.mkdir()
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    env = {**os.environ, "JUPYTER_DATA_DIR": str(data), "JUPYTER_CONFIG_DIR": str(tmp_path / "cfg"),
           "JUPYTER_RUNTIME_DIR": str(tmp_path / "runtime")}
    server = subprocess.Popen(
        [str(Path(sys.executable).parent / "jupyter-lab"), "--no-browser", f"--port={port}",
         "--ip=127.0.0.1", "--ServerApp.token=offline", f"--ServerApp.root_dir={root}", "--allow-root"],
        env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    try:
        for _ in range(120):
            try:
                urllib.request.urlopen(f"{url}/api/status?token=offline", timeout=1)
                break
            except OSError:
                time.sleep(0.5)
        else:
            pytest.fail("JupyterLab did not start")
        yield {"url": url, "root": root, "data": data}
    finally:
        server.terminate()
        server.wait(timeout=30)


def save_trusted_and_untrusted(nb: Any, lab: dict[str, Any]) -> None:
    """``nb`` into Lab's root twice: ``trusted.ipynb`` (signed) and ``untrusted.ipynb``."""
    import nbformat
    from nbformat.sign import NotebookNotary

    notary = NotebookNotary(data_dir=str(lab["data"]))
    notary.sign(nb)
    nbformat.write(nb, lab["root"] / "trusted.ipynb")
    # Trust goes by content: a notebook that differs (as one cloned and edited) is untrusted.
    nb.cells.insert(0, nbformat.v4.new_markdown_cell("A copy from somewhere else."))
    assert not notary.check_signature(nb)
    nbformat.write(nb, lab["root"] / "untrusted.ipynb")


def offline_route(lab: dict[str, Any]) -> tuple[Callable[[Any], None], list[str]]:
    """A Playwright route handler that lets a page reach the Lab server (and ``data:``,
    ``blob:``) only, and the list of the URLs it refused."""
    outside: list[str] = []

    def route(route: Any) -> None:
        if route.request.url.startswith((lab["url"], "data:", "blob:")):
            route.continue_()
        else:
            outside.append(route.request.url)
            route.abort()

    return route, outside


@pytest.mark.slow
def test_saved_sweep_chart_in_jupyterlab_draws_offline_trusted_or_not(
        browser: Any, lab: dict[str, Any], tmp_path: Path) -> None:
    """Executed by nbclient and saved; opened in Lab with no kernel and no network: a trusted
    notebook draws the chart with the inlined Vega, an untrusted one shows its PNG."""
    nbformat = pytest.importorskip("nbformat")
    from helpers import execute_notebook

    nb: Any = execute_notebook(["import nbtrack\nfrom typing import Any\n"
                                + inspect.getsource(trained_sweep),
                                "sweep = trained_sweep()\nsweep.parallel_coordinates()"], tmp_path)
    save_trusted_and_untrusted(nbformat.from_dict(nb), lab)
    ARTIFACTS.mkdir(exist_ok=True)
    route, outside = offline_route(lab)
    for name in ("trusted", "untrusted"):
        context = browser.new_context(viewport={"width": 1300, "height": 900})
        page = context.new_page()
        page.route("**/*", route)
        page.goto(f"{lab['url']}/lab/tree/{name}.ipynb?token=offline&reset")
        page.wait_for_selector(".jp-OutputArea-output .nbtrack-chart", timeout=90_000)
        chart = page.locator(".jp-OutputArea-output .nbtrack-chart")
        if name == "trusted":
            page.wait_for_selector(".nbtrack-chart[data-drawn=true]", timeout=60_000)
            assert chart.locator("svg path[aria-roledescription='line mark']").count() == 12
        else:  # Lab sanitises untrusted HTML: no script, but the picture stays
            page.wait_for_timeout(2_000)
            assert chart.get_attribute("data-drawn") is None
            assert chart.locator("svg").count() == 0
            assert page.evaluate("document.querySelector('.nbtrack-chart img').naturalWidth") > 300
        page.locator(".jp-Cell").last.screenshot(path=str(ARTIFACTS / f"lab_{name}.png"))
        assert outside == []
        context.close()


# -- box zoom on a returned metric chart -------------------------------------------------
ZOOM_CELLS = [
    "import math\nimport nbtrack\nfrom nbtrack import charts",
    "\n".join([
        "ids = []",
        "for lr in (0.02, 0.05):",
        "    run = nbtrack.init(project='zoom', config={'lr': lr})",
        "    for step in range(101):",
        "        nbtrack.log({'loss': math.exp(-lr * step) + 0.05 * math.sin(step / 3)}, step=step)",
        "    nbtrack.finish()",
        "    ids.append(run.id)",
    ]),
    "charts.metric_chart(charts.metric_data(ids), 'loss')",
]


@pytest.fixture(scope="module")
def metric_notebook(tmp_path_factory: pytest.TempPathFactory) -> Any:
    """A notebook that returned ``nbtrack.charts.metric_chart(...)``, executed on a real kernel."""
    pytest.importorskip("nbclient")
    from helpers import execute_notebook

    nb: Any = execute_notebook(ZOOM_CELLS, tmp_path_factory.mktemp("zoom"))
    assert not [where for where, _ in output_texts(nb) if where.endswith(" error")], output_texts(nb)
    return nb


@pytest.mark.slow
def test_returned_chart_in_nbconvert_html_zooms_to_a_drag_offline(
        browser: Any, metric_notebook: Any, tmp_path: Path) -> None:
    """The box zoom of nbtrack's other charts (labextension/src/zoom.ts, inlined): a drag
    zooms x to the dragged steps, a double-click resets; no network."""
    nbformat = pytest.importorskip("nbformat")
    nbconvert = pytest.importorskip("nbconvert")
    from chart_drag import check_box_zoom

    exporter = nbconvert.HTMLExporter(template_name="lab")
    body, _ = exporter.from_notebook_node(nbformat.from_dict(metric_notebook))
    body = re.sub(r"<script[^>]*\bsrc=[\"']https?://[^>]*>\s*</script>", "", body)
    page_file = tmp_path / "zoom.html"
    page_file.write_text(body, encoding="utf-8")
    page, seen = open_offline(browser, page_file, scripts=True)
    page.wait_for_selector(".nbtrack-chart[data-drawn=true]", timeout=60_000)
    chart = page.locator(".nbtrack-chart")
    ranges = check_box_zoom(page, chart)
    assert ranges["full"] == (0, 100)
    assert seen == {"outside": [], "errors": []}


def _lab_theme(config_dir: Path, theme: str) -> None:
    """JupyterLab's theme for the next page load (its user settings, in this Lab's config dir)."""
    folder = config_dir / "lab" / "user-settings" / "@jupyterlab" / "apputils-extension"
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "themes.jupyterlab-settings").write_text(json.dumps({"theme": theme}), encoding="utf-8")


@pytest.mark.slow
def test_returned_chart_in_jupyterlab_zooms_to_a_drag_light_and_dark(
        browser: Any, lab: dict[str, Any], metric_notebook: Any, tmp_path: Path) -> None:
    """Saved and trusted, reopened in Lab with no kernel and no network: the returned chart
    zooms to a drag and resets on a double-click, in the light and the dark theme. Untrusted,
    it shows its PNG. Screenshots: tests/artifacts/returned-chart-zoom-{dragging,zoomed}-*.png."""
    nbformat = pytest.importorskip("nbformat")
    from chart_drag import check_box_zoom, drag, steady_box, wait_for_range

    save_trusted_and_untrusted(nbformat.from_dict(metric_notebook), lab)
    ARTIFACTS.mkdir(exist_ok=True)
    route, outside = offline_route(lab)
    for theme in ("light", "dark"):
        _lab_theme(tmp_path / "cfg", "JupyterLab Dark" if theme == "dark" else "JupyterLab Light")
        context = browser.new_context(viewport={"width": 1300, "height": 900})
        page = context.new_page()
        page.route("**/*", route)
        errors: list[str] = []
        page.on("pageerror", lambda exc, errors=errors: errors.append(str(exc)))
        page.goto(f"{lab['url']}/lab/tree/trusted.ipynb?token=offline&reset")
        page.wait_for_selector(f"body[data-jp-theme-light={'false' if theme == 'dark' else 'true'}]",
                               state="attached", timeout=90_000)
        page.wait_for_selector(".nbtrack-chart[data-drawn=true]", timeout=90_000)
        chart = page.locator(".jp-OutputArea-output .nbtrack-chart")
        chart.scroll_into_view_if_needed()
        ranges = check_box_zoom(page, chart, shot=ARTIFACTS / f"returned-chart-zoom-dragging-{theme}.png")
        assert ranges["full"] == (0, 100)
        plot = steady_box(chart.locator("svg .role-frame path.background").first)
        drag(page, plot, 0.3, 0.6)
        wait_for_range(chart, ranges["full"])
        shot = ARTIFACTS / f"returned-chart-zoom-zoomed-{theme}.png"
        page.locator(".jp-Cell").last.screenshot(path=str(shot))
        assert errors == []
        context.close()

    context = browser.new_context(viewport={"width": 1300, "height": 900})
    page = context.new_page()
    page.route("**/*", route)
    page.goto(f"{lab['url']}/lab/tree/untrusted.ipynb?token=offline&reset")
    page.wait_for_selector(".jp-OutputArea-output .nbtrack-chart img", timeout=90_000)
    page.wait_for_timeout(2_000)
    chart = page.locator(".jp-OutputArea-output .nbtrack-chart")
    assert chart.get_attribute("data-drawn") is None and chart.locator("svg").count() == 0
    assert page.evaluate("document.querySelector('.nbtrack-chart img').naturalWidth") > 300
    context.close()
    assert outside == []


def test_without_the_zoom_bundle_charts_still_show_and_it_says_how_to_build_it(
        bundles: dict[str, tuple[Any, dict[str, Any]]], tmp_path: Path,
        monkeypatch: pytest.MonkeyPatch) -> None:
    """A source checkout not built yet: the chart draws with Vega-Lite's own zoom, one warning."""
    from nbtrack.charts import _offline
    from nbtrack.errors import NbtrackWarning
    from nbtrack.widgets import _bundle

    chart, bundle = bundles["best_so_far_chart"]
    assert "var nbtrackZoom" in bundle["text/html"]  # built: the box zoom travels with the chart
    monkeypatch.setattr(_bundle, "STATIC_DIR", tmp_path)
    _offline.zoom_js.cache_clear()
    try:
        with pytest.warns(NbtrackWarning, match="jlpm build:charts"):
            html = chart.to_html()
    finally:
        _offline.zoom_js.cache_clear()
    assert "var nbtrackZoom" not in html and "typeof nbtrackZoom === 'undefined'" in html
    assert "<img src=\"data:image/png;base64," in html
