"""The HTML report: selection, content, escaping, self-containment, errors and the CLI.

Runs are written to a real store under tmp_path through the public Run API; the
command line runs as a real subprocess. The browser check is in test_report_browser.py.
"""

from __future__ import annotations

import base64
import json
import math
import os
import re
import struct
import subprocess
import sys
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

import nbtrack
from nbtrack._run import Run
from nbtrack.errors import NbtrackError
from nbtrack.report import export_report, render_report
from nbtrack.report.data import best_runs, config_table, guess_goal, parse_metric
from nbtrack.report.progress import Progress
from nbtrack.report.render import highlight, script_json
from nbtrack.report.specs import columnar
from nbtrack.report.where import filter_runs

XSS = "<img src=x onerror=alert(1)>"
EVIL_SOURCE = "%%track baseline\nlr = 0.1  # </script><script>alert('src')</script>\nprint('<!--')\n"
EVIL_KEY = "</script><b>bold key"
EVIL_METRIC = "val</script><i>loss"


def make_runs(store: Path, *, steps: int = 120) -> dict[str, str]:
    """Three tracked runs (one with hostile text everywhere), a failed one, a 6-trial sweep.

    Returns the run ids by name.
    """
    nbtrack.settings(dir=str(store))
    ids: dict[str, str] = {}
    hostile = dict(tags=["cnn", "<u>tag</u>"], notes="first line\n<script>alert('note')</script>",
                   source=EVIL_SOURCE)
    for i, (name, lr) in enumerate([("baseline", 0.1), (XSS, 0.3), ("wide", 0.03)]):
        run = Run(name, project="vision", config={"lr": lr, "layers": [64, 32], "opt": "adam" if i else "sgd",
                                                 EVIL_KEY: "</script><!--<script>"}, **hostile)
        for step in range(steps):
            run.log({"loss": math.exp(-lr * step / 10) + 0.01 * (step % 7),
                     "acc": 1 - math.exp(-lr * step / 20), EVIL_METRIC: 1.0 / (step + 1)}, step=step)
            if step % 10 == 0:
                run.log_system({"cpu_percent": 40.0 + step % 13, "gpu.0.util": 70.0 + step % 11,
                                "ram_total_gb": 16.0})
        run.finish()
        ids[name] = run.id
    broken = Run("broken", project="vision", config={"lr": 10.0})
    broken.log({"loss": 99.0})
    broken.finish("failed", "Traceback (most recent call last):\nValueError: <exploding> & gone")
    ids["broken"] = broken.id
    for trial in range(6):
        lr = [0.001, 0.3, 0.01, 0.1, 0.03, 0.003][trial]
        run = Run(XSS if trial == 2 else f"trial-{trial}", project="search", sweep_id="sw-1",
                  config={"lr": lr, "batch": [16, 32, 64][trial % 3], "act": ["relu", "gelu"][trial % 2]})
        for step in range(steps):
            run.log({"val_loss": abs(math.log10(lr) + 2) + 1 / (step + 1)}, step=step)
            if step % 20 == 0:
                run.log_system({"cpu_percent": 30.0 + 10 * trial + step % 7})
        run.finish()
        ids[f"trial-{trial}"] = run.id
    return ids


@pytest.fixture
def runs(store_dir: Path) -> dict[str, str]:
    return make_runs(store_dir)


class Page(HTMLParser):
    """The parts of a page that matter here: tags, attributes, scripts, styles, text."""

    def __init__(self, text: str) -> None:
        super().__init__(convert_charrefs=True)
        self.tags: list[tuple[str, dict[str, str | None]]] = []
        self.scripts: list[tuple[dict[str, str | None], str]] = []
        self.styles: list[str] = []
        self.text: list[str] = []
        self._open: str | None = None
        self.feed(text)
        self.close()

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, dict(attrs)))
        if tag in ("script", "style"):
            self._open = tag
            self._attrs = dict(attrs)
            self._chunks: list[str] = []

    def handle_endtag(self, tag: str) -> None:
        if tag == self._open:
            body = "".join(self._chunks)
            if tag == "script":
                self.scripts.append((self._attrs, body))
            else:
                self.styles.append(body)
            self._open = None

    def handle_data(self, data: str) -> None:
        if self._open:
            self._chunks.append(data)
        else:
            self.text.append(data)

    def tag_names(self) -> set[str]:
        return {tag for tag, _ in self.tags}

    def all_text(self) -> str:
        return "".join(self.text)


URL_ATTRIBUTES = {"src", "href", "action", "formaction", "poster", "data", "srcset", "background",
                  "xlink:href", "ping", "manifest", "cite", "longdesc", "icon"}


def external_references(page: Page) -> list[str]:
    """What a browser could fetch: URL attributes not pointing into the page, url()/@import in CSS."""
    found = []
    for tag, attrs in page.tags:
        # an <img> of a logged image embeds it as a data: URI: in the page, nothing to fetch
        embedded = tag == "img" and set(attrs) <= {"src", "alt", "width"} and \
            (attrs.get("src") or "").startswith("data:image/")
        if embedded:
            continue
        for name, value in attrs.items():
            if name in URL_ATTRIBUTES and value is not None and not value.startswith("#"):
                found.append(f"<{tag} {name}={value!r}>")
        if tag in ("link", "iframe", "img", "object", "embed", "base", "video", "audio", "source"):
            found.append(f"<{tag}>")
        if tag == "meta" and (attrs.get("http-equiv") or "").lower() == "refresh":
            found.append("<meta refresh>")
    for css in page.styles:
        found += re.findall(r"url\s*\(|@import", css)
    return found


def packed_rows(packed: dict[str, Any]) -> list[dict[str, Any]]:
    """Python twin of report.js's unpacking, to check the format round-trips."""
    n = packed["n"]
    out: list[dict[str, Any]] = [{} for _ in range(n)]
    for name, col in packed["columns"]:
        if isinstance(col, list):
            values = col
        elif "c" in col:
            values = [col["c"]] * n
        elif "i32" in col:
            values = list(struct.unpack(f"<{n}i", base64.b64decode(col["i32"])))
        elif "f32" in col:
            raw = struct.unpack(f"<{n}f", base64.b64decode(col["f32"]))
            values = [float(f"{v:.7g}") if math.isfinite(v) else None for v in raw]
        else:
            codes = col.get("i") or [i for pos in range(0, len(col["r"]), 2)
                                     for i in [col["r"][pos]] * col["r"][pos + 1]]
            values = [None if c < 0 else col["d"][c] for c in codes]
        for row, value in zip(out, values):
            row[name] = value
    return out


def table_runs(text: str) -> list[str]:
    """The run ids of the run table's rows, in order."""
    return re.findall(r'<td class="name"><a href="#run-(\w+)"', text)


def chart_payloads(page: Page) -> list[dict[str, Any]]:
    return [json.loads(body) for attrs, body in page.scripts if attrs.get("type") == "application/json"]


# -- content ------------------------------------------------------------------------
def test_report_has_every_section(runs: dict[str, str], tmp_path: Path) -> None:
    path = export_report(tmp_path / "r.html", project="vision", title="Vision runs")
    text = path.read_text(encoding="utf-8")
    page = Page(text)
    body = page.all_text()
    assert path == tmp_path / "r.html"
    assert "<title>Vision runs</title>" in text
    assert "4 runs" in " ".join(body.split())
    for section in ("summary", "runs", "metrics", "config", "system", "details"):
        assert f'id="{section}"' in text
    assert 'id="sweep"' not in text  # the vision runs are in no sweep
    # Best run per metric: highest acc and lowest loss belong to the lr=0.3 run; the third
    # metric is the same for all, and the first run to reach it wins.
    best = dict(re.findall(r'<td><strong>([^<]*)</strong></td>\s*<td><a href="#run-(\w+)">', text))
    assert best == {"acc": runs[XSS], "loss": runs[XSS], "val&lt;/script&gt;&lt;i&gt;loss": runs["baseline"]}
    # The run table: status, config and summary columns, one row per run.
    headings = re.findall(r'<button type="button">([^<]+)</button>', text)
    assert headings[:7] == ["name", "status", "created (UTC)", "duration", "tags", "notes",
                            "config.&lt;/script&gt;&lt;b&gt;bold key"]
    assert {"config.lr", "config.opt", "config.layers", "summary.loss", "summary.acc"} <= set(headings)
    assert not any("system/" in h for h in headings)
    assert text.count('<table class="sortable runs">') == 1
    assert len(table_runs(text)) == 4
    assert "failed" in body and "ValueError: <exploding> & gone" in body
    # Config diff: lr and opt differ; layers is the same for the three runs that have it,
    # but broken has no layers, so it differs too.
    diff_row = r'<tr class="(differs|same)"><th scope="row">([^<]*)</th>'
    diff_rows = {key: kind for kind, key in re.findall(diff_row, text)}
    assert diff_rows == {"lr": "differs", "opt": "differs", "layers": "differs",
                         "&lt;/script&gt;&lt;b&gt;bold key": "differs"}
    # Charts: one per training metric, one per system metric; all specs are packed JSON.
    payloads = chart_payloads(page)
    assert len(payloads) == 3 + 2
    assert len(re.findall(r'class="chart" id="metric-\d+"', text)) == 3
    assert len(re.findall(r'class="chart" id="system-\d+"', text)) == 2
    assert "Constant during each run (not charted): system/ram_total_gb 16." in " ".join(body.split())
    # Cell source, highlighted (Pygments spans), and the environment.
    assert '<pre class="source">' in text and '<span class="k">for</span>' not in text
    assert '<span class="n">lr</span>' in text
    assert "python" in body and sys.version.split()[0] in body


def test_metric_charts_are_the_chart_module_specs_downsampled(runs: dict[str, str], tmp_path: Path) -> None:
    text = render_report(runs=["baseline", "wide"], metrics=["loss"], max_points=20)
    payload = chart_payloads(Page(text))[0]
    spec = payload["spec"]
    assert "$schema" not in spec
    assert spec["title"] == "loss"
    rows = packed_rows(next(iter(payload["datasets"].values())))
    assert {r["run"] for r in rows} == {"baseline", "wide"}
    assert len(rows) <= 2 * 20 and {"step", "value", "min", "max"} <= set(rows[0])
    full = nbtrack.history(runs["baseline"], "loss").sort_values("step")
    first = next(r for r in rows if r["run"] == "baseline")
    assert first["step"] == 0 and first["min"] == pytest.approx(full["value"].iloc[:6].min(), rel=1e-6)


def test_sweep_report_has_parallel_coordinates_importance_and_best_so_far(
        runs: dict[str, str], tmp_path: Path) -> None:
    text = render_report(sweep="sw-1")
    page = Page(text)
    assert 'id="sweep"' in text and "Sweep sw-1" in text
    titles = [p["spec"].get("title") for p in chart_payloads(page)]
    assert "val_loss by hyperparameter" in titles
    assert "best val_loss so far" in titles and "parameter importance" in titles
    importance = next(p for p in chart_payloads(page) if p["spec"].get("title") == "parameter importance")
    rows = packed_rows(next(iter(importance["datasets"].values())))
    assert {r["parameter"] for r in rows} == {"lr", "batch", "act"}  # no record: inferred from the runs
    assert "Spearman" in page.all_text()
    assert len(table_runs(text)) == 6


def test_selection_by_ids_names_and_where(runs: dict[str, str]) -> None:
    text = render_report(runs=[runs["baseline"], "wide"])
    assert len(table_runs(text)) == 2
    text = render_report(project="vision", where="config.lr >= 0.1 and status == 'finished'")
    assert sorted(table_runs(text)) == sorted([runs["baseline"], runs[XSS]])
    text = render_report(where="'cnn' in tags and config.opt != 'sgd'")
    assert table_runs(text) == [runs[XSS], runs["wide"]]


def test_default_path_and_directory_target(runs: dict[str, str], tmp_path: Path,
                                           monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    assert export_report(project="vision") == Path("nbtrack-report.html")
    assert (tmp_path / "nbtrack-report.html").stat().st_size > 100_000
    (tmp_path / "out").mkdir()
    assert export_report(tmp_path / "out", project="vision") == tmp_path / "out" / "nbtrack-report.html"


# -- escaping and self-containment --------------------------------------------------------
def test_user_text_is_escaped_everywhere(runs: dict[str, str]) -> None:
    text = render_report(project="vision", title="<script>alert('title')</script>")
    page = Page(text)
    # Nothing a user wrote became markup: no such tags, no extra scripts, no raw payloads.
    assert not page.tag_names() & {"img", "b", "i", "u", "iframe", "object", "embed"}
    charts = len(chart_payloads(page))
    # the Vega bundle, the charts' box zoom, their smoothing and log y, and our own script
    assert len(page.scripts) == charts + 4
    assert all(a in ({}, {"type": "application/json", "id": a.get("id")}) for a, _ in page.scripts)
    for raw in (XSS, "<script>alert", "</script><b>", "<u>tag</u>", "</script><!--", "<exploding>",
                "alert('src')</script>"):
        assert raw not in text.replace(EVIL_SOURCE, ""), raw
    # ... and it all shows as text.
    body = page.all_text()
    for shown in (XSS, "<u>tag</u>", "<script>alert('note')</script>", "</script><b>bold key",
                  "<script>alert('title')</script>", "</script><!--<script>",
                  "ValueError: <exploding> & gone"):
        assert shown in body, shown
    assert "# </script><script>alert('src')</script>" in body  # the cell source, as text
    # Inside the JSON blocks, < > & are \u escapes that JSON.parse turns back into the text.
    payloads = [body for attrs, body in page.scripts if attrs.get("type") == "application/json"]
    assert all("<" not in p and ">" not in p and "&" not in p for p in payloads)
    names = {row["run"] for p in chart_payloads(page) for d in p["datasets"].values()
             for row in packed_rows(d) if "run" in row}
    assert XSS in names
    titles = {p["spec"].get("title") for p in chart_payloads(page)}
    assert EVIL_METRIC in titles


def test_script_json_cannot_end_its_element() -> None:
    value = {"a": "</script><!-- <script>", "b": "&amp; \u2028\u2029"}
    text = str(script_json(value))
    assert "</" not in text and "<!--" not in text and "<" not in text and "&" not in text
    assert json.loads(text) == value


def test_page_references_nothing_outside_itself(runs: dict[str, str]) -> None:
    text = render_report(sweep="sw-1")
    page = Page(text)
    assert external_references(page) == []
    csp = next(attrs["content"] for tag, attrs in page.tags if tag == "meta"
               and attrs.get("http-equiv") == "Content-Security-Policy")
    assert csp is not None and "default-src 'none'" in csp
    assert all(attrs.get("src") is None for attrs, _ in page.scripts)
    # The Vega bundle is inlined once and defines vegaEmbed; no spec carries a $schema URL.
    assert text.count("window.vegaEmbed=") + text.count("window.vegaEmbed =") == 1
    assert "$schema" not in text.split('<script>', 1)[0]


def test_highlighting_without_pygments_is_escaped_text(monkeypatch: pytest.MonkeyPatch) -> None:
    code = "x = '<b>' # </pre>"
    assert "<span" in str(highlight(code)) and "<b>" not in str(highlight(code))
    for name in ("pygments", "pygments.formatters", "pygments.lexers"):
        monkeypatch.setitem(sys.modules, name, None)
    assert str(highlight(code)) == "x = &#x27;&lt;b&gt;&#x27; # &lt;/pre&gt;"


# -- the pure parts ------------------------------------------------------------------------
def test_config_table_marks_keys_that_differ() -> None:
    df = pd.DataFrame({"id": ["a", "b", "c"], "name": ["a", "b", "c"],
                       "config.lr": [0.1, 0.1, 0.1], "config.layers": [[64, 32], [64, 32], [64]],
                       "config.opt": ["sgd", None, "sgd"]})
    diff = config_table(df)
    assert list(diff.columns) == ["differs", "a", "b", "c"]
    assert diff["differs"].to_dict() == {"lr": False, "layers": True, "opt": True}
    assert diff.loc["layers", "c"] == [64] and diff.loc["opt", "b"] is None


def test_best_runs_and_goals() -> None:
    df = pd.DataFrame({"id": ["a", "b", "c"], "name": ["A", "B", "C"],
                       "summary.loss": [0.5, 0.2, float("nan")], "summary.acc": [0.7, 0.9, 0.8]})
    best = best_runs(df, [("loss", "minimize"), ("acc", "maximize"), ("f1", "maximize")])
    assert best[["metric", "run", "value", "runs"]].values.tolist()[:2] == [
        ["loss", "B", 0.2, 2], ["acc", "B", 0.9, 3]]
    assert best.iloc[2]["metric"] == "f1" and best.iloc[2]["runs"] == 0
    assert best.iloc[2][["run_id", "run", "value"]].isna().all()
    assert guess_goal("val/accuracy") == "maximize" and guess_goal("val_loss") == "minimize"
    assert parse_metric("acc:min") == ("acc", "minimize", True)
    assert parse_metric("loss") == ("loss", "minimize", False)


def test_columnar_round_trips() -> None:
    rows = [{"run": "a", "key": "loss", "step": i, "value": i / 3, "min": None if i == 1 else -i,
             "label": ["x", "y"][i % 2], "ok": i % 2 == 0, "big": 2**40 + i} for i in range(50)]
    rows[3]["value"] = float("inf")
    packed = columnar(rows)
    kinds = {name: next(iter(col)) if isinstance(col, dict) else "list" for name, col in packed["columns"]}
    assert kinds == {"run": "c", "key": "c", "step": "i32", "value": "f32", "min": "f32", "label": "d",
                     "ok": "list", "big": "f32"}
    back = packed_rows(packed)
    assert [r["step"] for r in back] == list(range(50))
    assert back[3]["value"] is None and back[1]["min"] is None
    assert [r["value"] for r in back if r["step"] != 3] == pytest.approx(
        [i / 3 for i in range(50) if i != 3], rel=1e-6)
    assert [r["label"] for r in back] == [r["label"] for r in rows]


@pytest.mark.parametrize(("expression", "expected"), [
    ("config.lr > 0.01", ["a", "c"]),
    ("0.01 < config.lr <= 0.1", ["c"]),
    ("status == 'finished' and summary.loss <= 1", ["a"]),
    ("status == 'finished' and not summary.loss > 1", ["a", "c"]),  # c has no loss: not (false)
    ("status in ['failed', 'crashed'] or name == 'c'", ["b", "c"]),
    ("'cnn' in tags", ["a"]),
    ("'cnn' not in tags", ["b", "c"]),
    ("config['batch-size'] >= 64", ["b"]),
    ("summary.loss == None", ["c"]),
    ("summary.loss != None", ["a", "b"]),
    ("config.opt < 3", []),  # a string against a number: no order, no match
    ("created_at >= '2024-05-02'", ["b", "c"]),
    ("config.lr > -1", ["a", "b", "c"]),
])
def test_where_filters(expression: str, expected: list[str]) -> None:
    df = pd.DataFrame({
        "id": ["a", "b", "c"], "name": ["a", "b", "c"], "status": ["finished", "failed", "finished"],
        "tags": [["cnn"], [], ["rnn"]], "config.lr": [0.5, 0.001, 0.1],
        "config.batch-size": [32, 64, None], "config.opt": ["sgd", "adam", "sgd"],
        "summary.loss": [0.5, 2.0, float("nan")],
        "created_at": pd.to_datetime(["2024-05-01", "2024-05-02", "2024-06-01"]),
    })
    assert filter_runs(df, expression)["id"].tolist() == expected


@pytest.mark.parametrize(("expression", "says"), [
    ("__import__('os').system('true')", "is not a column"),
    ("config.lr.__class__", "no selected run has the column"),
    ("config.lr * 2 > 1", "is not a column"),
    ("config.lrr > 1", "no selected run has the column 'config.lrr'"),
    ("config.lr >", "not a valid expression"),
    ("[x for x in tags]", "is not a column"),
    ("config.lr is None", "the operator Is is not supported"),
    ("lambda: 1", "is not a column"),
    ("status in [name]", "lists may only hold literal values"),
    ("", "it is empty"),
])
def test_where_rejects_anything_else(expression: str, says: str) -> None:
    df = pd.DataFrame({"id": ["a"], "name": ["a"], "status": ["finished"], "tags": [["x"]],
                       "config.lr": [0.1]})
    with pytest.raises(NbtrackError, match="where expression") as info:
        filter_runs(df, expression)
    assert says in str(info.value) and repr(expression) in str(info.value)


def test_progress_bar_only_when_asked_or_on_a_terminal(runs: dict[str, str], tmp_path: Path,
                                                      capsys: pytest.CaptureFixture[str]) -> None:
    export_report(tmp_path / "a.html", project="vision")
    assert capsys.readouterr().err == ""  # stderr is no terminal here
    export_report(tmp_path / "b.html", project="vision", progress=True)
    err = capsys.readouterr().err
    assert "\r[" in err and "/" in err and "writing HTML" in err
    bar = Progress(2, enabled=None, stream=open(os.devnull, "w"))  # noqa: SIM115 - closed below
    assert bar.enabled is False
    bar.stream.close()


# -- errors --------------------------------------------------------------------------------
def test_errors_are_clear(runs: dict[str, str], tmp_path: Path, store_dir: Path) -> None:
    with pytest.raises(NbtrackError, match="no runs match project 'nope'"):
        render_report(project="nope")
    with pytest.raises(NbtrackError, match=r"no runs match .*where 'config.lr > 100'"):
        render_report(where="config.lr > 100")
    with pytest.raises(NbtrackError, match="no run with id or name 'ghost' in project 'vision'"):
        render_report(project="vision", runs=["ghost"])
    with pytest.raises(NbtrackError, match="no selected run logged the metric 'lss'; metrics logged: acc"):
        render_report(project="vision", metrics=["lss"])
    with pytest.raises(NbtrackError, match="has none"):
        render_report(store=tmp_path / "empty")
    with pytest.raises(NbtrackError, match="max_points"):
        render_report(max_points=1)
    with pytest.raises(NbtrackError, match="does not exist"):
        export_report(tmp_path / "missing" / "r.html")
    (tmp_path / "file").write_text("x")
    with pytest.raises(NbtrackError, match="is not a folder"):
        export_report(tmp_path / "file" / "r.html")


def test_failed_write_leaves_nothing_behind(runs: dict[str, str], tmp_path: Path,
                                            monkeypatch: pytest.MonkeyPatch) -> None:
    def full_disk(*args: Any) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "replace", full_disk)
    with pytest.raises(NbtrackError, match=r"cannot write the report to .*No space left"):
        export_report(tmp_path / "r.html", project="vision")
    assert list(tmp_path.iterdir()) == [tmp_path / "store"]


def test_metric_charts_against_time_or_another_metric(runs: dict[str, str], store_dir: Path,
                                                       tmp_path: Path) -> None:
    """``x=`` as in nbtrack.compare(): what the page first draws the metric charts against
    (relative time, the clock or a metric logged beside them; the page's x control can
    choose another: test_report_browser.py), so every chart is built against the step with
    its points' times, and a metric not charted comes as its points; system charts against
    time (the clock with ``wall``); the CLI takes --x; an x nothing logged is a clear error."""
    def x_fields(text: str) -> dict[str, tuple[str, str]]:
        out = {}
        for payload in chart_payloads(Page(text)):
            if "spec" in payload:
                layer = payload["spec"]["layer"][0]["encoding"]["x"]
                out[payload["spec"]["title"]] = (layer["field"], layer["title"])
        return out

    def chosen(text: str) -> str | None:
        return next(a.get("data-x") for tag, a in Page(text).tags if a.get("id") == "chart-tools")

    plain = render_report(runs=["baseline", "wide"], metrics=["loss"])
    assert x_fields(plain)["loss"] == ("step", "step") and chosen(plain) == ""
    along = render_report(runs=["baseline", "wide"], metrics=["loss", "acc"], x="relative")
    assert chosen(along) == "relative"
    fields = x_fields(along)
    assert fields["loss"] == fields["acc"] == ("step", "step")  # the page draws them along x
    assert fields["system/cpu_percent"] == ("relative", "relative time (s)")
    # each point's seconds since its run's first point, and that point's time
    loss = next(p for p in chart_payloads(Page(along)) if p.get("spec", {}).get("title") == "loss")
    points = [r for r in packed_rows(next(iter(loss["datasets"].values()))) if not r.get("crosshair")]
    history = nbtrack.history(runs["baseline"], "loss").set_index("step")["time"]
    first = min(min(history), min(nbtrack.history(runs["baseline"], "acc")["time"]))
    mine = [r for r in points if r["run"] == "baseline"]
    assert mine and {r["start"] for r in mine} == {first.isoformat()}
    assert all(r["relative"] == pytest.approx((history[r["step"]] - first).total_seconds(), abs=1e-3)
               for r in mine)
    clock = render_report(runs=["baseline", "wide"], metrics=["loss"], x="wall")
    assert chosen(clock) == "wall"
    assert x_fields(clock)["loss"] == ("step", "step")
    assert x_fields(clock)["system/cpu_percent"] == ("time", "wall time")
    assert chosen(render_report(runs=["baseline"], metrics=["loss"], x="time")) == "wall"
    # against accuracy (not among the charted metrics): its points ride along, uncharted
    text = render_report(runs=["baseline"], metrics=["loss"], x="acc")
    assert chosen(text) == "acc" and "acc" not in x_fields(text)
    embedded = next(p for p in chart_payloads(Page(text)) if "spec" not in p)
    assert list(embedded) == ["acc"]
    acc = nbtrack.history(runs["baseline"], "acc").set_index("step")["value"]
    rows = packed_rows(embedded["acc"])
    assert len(rows) == len(acc) and {r["run_id"] for r in rows} == {runs["baseline"]}
    assert all(r["value"] == pytest.approx(acc[r["step"]], rel=1e-6) for r in rows)
    assert 'id="chart-along"' not in render_report(runs=["baseline"], metrics=["loss", "acc"], x="acc")

    with pytest.raises(NbtrackError, match="cannot chart against x='nope'"):
        render_report(runs=["baseline"], metrics=["loss"], x="nope")
    out = run_cli(store_dir, "export-report", "--runs", "baseline", "--x", "relative", "-o",
                  str(tmp_path / "x.html"))
    assert out.returncode == 0, out.stderr
    assert chosen((tmp_path / "x.html").read_text(encoding="utf-8")) == "relative"


# -- command line --------------------------------------------------------------------------
def run_cli(store: Path, *args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "NBTRACK_DIR": str(store), "PYTHONIOENCODING": "utf-8"}
    return subprocess.run([sys.executable, "-m", "nbtrack.cli", *args], capture_output=True, text=True,
                          env=env, cwd=cwd, timeout=120)


def test_cli_help_states_the_default_name_and_the_where_syntax(tmp_path: Path) -> None:
    out = run_cli(tmp_path, "export-report", "--help")
    assert out.returncode == 0
    text = " ".join(out.stdout.split())
    assert "default: nbtrack-report.html" in text
    for word in ("--project", "--runs", "--sweep", "--where", "--metrics", "--title", "--store",
                 "config.lr > 0.01", "'cnn' in tags"):
        assert word in text, word


def test_cli_writes_a_report_and_fails_loudly(runs: dict[str, str], store_dir: Path, tmp_path: Path) -> None:
    out = run_cli(store_dir, "export-report", "--sweep", "sw-1", "--metrics", "val_loss:min",
                  "--title", "Search", cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    assert out.stdout.startswith("wrote nbtrack-report.html (") and out.stderr == ""
    assert "<title>Search</title>" in (tmp_path / "nbtrack-report.html").read_text(encoding="utf-8")

    out = run_cli(store_dir, "export-report", "--project", "vision", "--where", "config.lr > 0.05",
                  "--runs", "baseline", XSS, "-o", str(tmp_path / "two.html"), "--progress")
    assert out.returncode == 0, out.stderr
    assert len(table_runs((tmp_path / "two.html").read_text(encoding="utf-8"))) == 2
    assert "[####" in out.stderr and "writing HTML" in out.stderr

    for args, says in [
        (["--project", "nope"], "nbtrack: no runs match project 'nope'"),
        (["--where", "open('x')"], "nbtrack: cannot use the where expression \"open('x')\""),
        (["-o", str(tmp_path / "missing" / "r.html")], "does not exist"),
        (["--metrics", "nope"], "no selected run logged the metric 'nope'"),
    ]:
        out = run_cli(store_dir, "export-report", *args)
        assert out.returncode == 1 and says in out.stderr and out.stderr.count("\n") == 1, (args, out.stderr)
    out = run_cli(tmp_path / "empty", "export-report", "-o", str(tmp_path / "e.html"))
    assert out.returncode == 1 and "has none" in out.stderr
    assert not (tmp_path / "e.html").exists()


@pytest.mark.slow
def test_size_for_20_runs_of_10k_steps(store_dir: Path, tmp_path: Path) -> None:
    nbtrack.settings(dir=str(store_dir))
    for i in range(20):
        run = Run(f"run-{i:02d}", project="big", config={"lr": 0.001 * (i + 1), "seed": i})
        for step in range(10_000):
            wobble = ((step * 7919 + i) % 100) / 1000
            run.log({"loss": math.exp(-step / (500 + 50 * i)) + wobble,
                     "acc": 1 - math.exp(-step / 900) - wobble,
                     "lr": 0.001 * (i + 1) * (1 - step / 10_000)}, step=step)
        run.finish()
    path = export_report(tmp_path / "big.html", project="big")
    size = path.stat().st_size
    print(f"\nreport of 20 runs x 10k steps x 3 metrics: {size / 1e6:.2f} MB")
    assert size < 4_000_000


def test_the_report_writes_numbers_times_and_durations_as_every_view_does(store_dir: Path) -> None:
    """Cells hold nbtrack.formatting's text: 4 significant digits, not 17-digit floats."""
    run = nbtrack.init(name="digits", project="fmt", config={"lr": 0.1 + 0.2, "decay": 1 / 3})
    run.log({"loss": 2 / 3, "tiny": 1e-7})
    run.summary["big"] = 123456789.0
    run.finish()
    other = nbtrack.init(name="other", project="fmt", config={"lr": 0.01})
    other.log({"loss": float("nan")})
    other.finish()
    page = render_report(project="fmt")
    section = page[page.index('<section id="runs">'):]
    section = section[:section.index("</section>")]
    cells = [re.sub(r"<[^>]+>", "", cell).strip()
             for cell in re.findall(r"<td[^>]*>(.*?)</td>", section, re.S)]
    assert not [c for c in cells if re.search(r"\d\.\d{6,}", c)], cells  # no long floats
    for text in ("0.3", "0.3333", "0.6667", "1e-7", "1.235e8"):
        assert text in cells, (text, cells)
    # A runs frame cannot tell a logged NaN from an absent value: both read as missing.
    assert "—" in cells and "nan" not in cells
    assert any(re.fullmatch(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d UTC", c) for c in cells), cells
    assert any(re.fullmatch(r"\d+ ms|\d+\.\d s", c) for c in cells), cells
    # The full value stays available to the sorter.
    assert 'data-v="0.30000000000000004"' in section
    # Chart data with NaN (a logged NaN) is strict JSON, by the one NaN rule.
    assert str(script_json({"v": float("nan")})) == '{"v": "NaN"}'


def test_metric_charts_come_in_sections_by_prefix(store_dir: Path) -> None:
    """train/ and val/ metrics under their own headings, unprefixed ones first; system
    charts are drawn against time, as every view draws them."""
    nbtrack.settings(dir=str(store_dir))
    run = Run("sections", project="sections")
    for step in range(5):
        run.log({"loss": 1.0 / (step + 1), "train/loss": 2.0 / (step + 1), "val/loss": 3.0 - step,
                 "train/acc": step / 5}, step=step)
        run.log_system({"cpu_percent": 10.0 + step})
    run.finish()
    text = render_report(project="sections")
    headings = re.findall(r'<h3 class="section-title">([^<]*)</h3>', text)
    assert headings == ["charts", "train", "val"]
    titles = [p["spec"]["title"] for p in chart_payloads(Page(text))]
    assert titles[:4] == ["loss", "train/acc", "train/loss", "val/loss"]
    system = next(p["spec"] for p in chart_payloads(Page(text)) if p["spec"]["title"] == "system/cpu_percent")
    assert "relative time (s)" in json.dumps(system) and '"title": "step"' not in json.dumps(system)


def test_sweep_parallel_coordinates_put_log_uniform_parameters_on_a_log_axis(store_dir: Path) -> None:
    """lr sampled log-uniformly over one decade: only the sweep's config says log (the values
    alone span too little for the guess)."""
    nbtrack.settings(dir=str(store_dir))

    def train(config: Any) -> None:
        nbtrack.log({"loss": (math.log10(config.lr) + 2.5) ** 2 + config.width / 100})

    nbtrack.sweep({"method": "random", "metric": {"name": "loss"}, "parameters": {
        "lr": {"distribution": "log_uniform_values", "min": 1e-3, "max": 1e-2},
        "width": {"min": 10, "max": 100}}}, train, count=5, project="logsweep", seed=1, name="logs")
    text = render_report(sweep="logs")
    payload = next(p for p in chart_payloads(Page(text))
                   if p["spec"].get("title") == "loss by hyperparameter")
    rows = [r for part in payload["datasets"].values() for r in packed_rows(part)
            if r.get("axis") == "lr" and r.get("run_id")]
    assert len(rows) == 5
    values = [float(r["value"]) for r in rows]  # the axis's values travel as text
    low, high = math.log10(min(values)), math.log10(max(values))
    for r, value in zip(rows, values):
        assert r["position"] == pytest.approx((math.log10(value) - low) / (high - low), abs=1e-3)


def test_a_run_whose_environment_lacks_git_and_packages_is_reported(tmp_path: Path, monkeypatch: Any) -> None:
    """A run recorded with only part of an environment (no git, no package list: git absent,
    a scan cut short) still has its details in the report."""
    from nbtrack import _run

    monkeypatch.setenv("NBTRACK_DIR", str(tmp_path / "store"))
    monkeypatch.setattr(_run, "_environment_cached", lambda: {"python": "3.11.7"})
    with nbtrack.init(name="bare env", project="bare") as run:
        run.log({"loss": 1.0})
    page = export_report(tmp_path / "r.html", project="bare").read_text(encoding="utf-8")
    assert "bare env" in page and "<dt>python</dt><dd>3.11.7</dd>" in page
