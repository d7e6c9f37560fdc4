"""The compare widget in plain pytest: traits after simulated front-end changes (select, sort,
filter, page), actions (tag, rename, notes, archive, delete, undo, empty trash, export),
escaping, the chart library message, refresh while a run logs, and 1,000 runs / 1M points."""

from __future__ import annotations

import gzip
import json
import math
import re
import time
from typing import Any

import pytest

import nbtrack

pytest.importorskip("anywidget")

from nbtrack.widgets import _bundle
from nbtrack.widgets.compare import CompareWidget

EVIL = "<img src=x onerror=alert(1)>"


class Recorder:
    def __init__(self) -> None:
        self.messages: list[tuple[dict[str, Any], Any]] = []

    def __call__(self, content: dict[str, Any], buffers: Any = None) -> None:
        json.dumps(content, allow_nan=False)
        self.messages.append((content, buffers))


def make_runs(n: int = 3, project: str = "cmp") -> list[str]:
    ids = []
    for i in range(n):
        name = EVIL if i == 0 else f"run-{i}"
        run = nbtrack.init(name=name, project=project, config={"lr": 10.0 ** -(i + 1), "depth": 2 + i % 2})
        for step in range(20):
            run.log({"loss": 1.0 / (step + 1) + i, "acc": step / 20 - i / 10})
        run.finish()
        ids.append(run.id)
    return ids


def widget(**kwargs: Any) -> CompareWidget:
    return CompareWidget(start=False, **kwargs)


def front_end(w: CompareWidget, action: str, **content: Any) -> None:
    """What compare.js sends when a button is clicked."""
    w._on_message(w, {"type": "action", "action": action, **content}, [])


def names(w: CompareWidget) -> list[str]:
    return [row["name"] for row in w.rows]


def test_the_table_lists_sorts_filters_and_marks_the_best(store_dir):
    ids = make_runs()
    w = widget(project="cmp")
    assert w.total == 3 and names(w) == ["run-2", "run-1", EVIL]  # newest first
    assert w.columns == ["name", "status", "created_at", "duration", "tags", "notes", "config.depth",
                         "config.lr", "summary.acc", "summary.loss"]
    assert w.goals == {"acc": "maximize", "loss": "minimize"}
    assert {k: (b["run_id"], b["goal"]) for k, b in w.best.items()} == {
        "acc": (ids[0], "maximize"), "loss": (ids[0], "minimize")}
    assert [r["best"] for r in w.rows] == [[], [], ["acc", "loss"]]
    w.sort_by, w.descending = "config.lr", False  # a header click
    assert names(w) == ["run-2", "run-1", EVIL]
    w.descending = True
    assert names(w) == [EVIL, "run-1", "run-2"]
    w.filter = "config.lr < 0.05 and config.depth == 3"
    assert names(w) == ["run-1"] and w.total == 1 and w.filter_error == ""
    assert w.best["loss"]["run_id"] == ids[1]  # best among what the filter keeps
    w.filter = "config.lr <"
    assert w.total == 3 and "not a valid expression" in w.filter_error


def test_goals_given_by_the_user_win(store_dir):
    ids = make_runs()
    w = widget(metrics={"loss": "max", "acc": "min"})
    assert w.goals == {"acc": "minimize", "loss": "maximize"}
    assert w.best["loss"]["run_id"] == ids[2] and w.best["acc"]["run_id"] == ids[2]


def test_selecting_runs_sends_their_charts_and_config_diff(store_dir):
    ids = make_runs()
    w = widget()
    assert w.overlays == {} and w.diff == {"runs": [], "rows": []}
    w.selected = ids[:2]  # two ticked boxes
    assert sorted(w.overlays) == ["acc", "loss"]
    assert [r["key"] for r in w.diff["rows"] if r["differs"]] == ["depth", "lr"]
    assert w.diff["runs"][0]["name"] == EVIL
    assert w.metric == "acc" and w.param == "depth" and w.parallel and w.scatter
    before = json.dumps(w.overlays["loss"])
    w.x, w.smoothing, w.log_scale = "time", 0.5, True
    spec = w.overlays["loss"]
    assert json.dumps(spec) != before and spec["layer"][0]["encoding"]["x"]["field"] == "time"
    w.metric, w.param = "loss", "lr"
    assert w.scatter["title"] == "loss vs lr"
    assert w.parallel["title"] == "loss by hyperparameter"


def test_more_than_max_overlay_selected_says_so(store_dir):
    ids = make_runs(4)
    w = widget(max_overlay=2)
    w.selected = ids
    assert w.note.startswith("4 runs selected: curves show the first 2")


def test_rename_tag_notes_and_archive(store_dir):
    ids = make_runs()
    w = widget()
    front_end(w, "rename", name="better")
    assert w.message == "select runs first (tick their boxes in the table)"
    w.selected = [ids[1]]
    front_end(w, "rename", name="better")
    assert "better" in names(w) and nbtrack.run_record(ids[1])["name"] == "better"
    w.selected = ids[:2]
    front_end(w, "rename", name="x")
    assert w.message == "rename one run at a time; 2 are selected"
    front_end(w, "tag", tag="cnn")
    assert [r["tags"] for r in w.rows if r["id"] in ids[:2]] == [["cnn"], ["cnn"]]
    front_end(w, "untag", tag="cnn")
    assert all(r["tags"] == [] for r in w.rows)
    front_end(w, "notes", notes="lr too high")
    assert nbtrack.run_record(ids[0])["notes"] == "lr too high"
    front_end(w, "archive")
    assert w.total == 1 and w.selected == []  # archived runs are hidden by default
    w.show_archived = True
    assert w.total == 3
    w.selected = [ids[0]]
    front_end(w, "unarchive")
    w.show_archived = False
    assert w.total == 2


def test_delete_undo_and_empty_trash(store_dir):
    ids = make_runs()
    w = widget()
    w.selected = ids[:2]
    front_end(w, "delete")
    assert w.total == 1 and w.undo == ids[:2] and w.trash_count == 2 and w.selected == []
    assert w.message == "moved 2 run(s) to the trash"
    front_end(w, "undo")
    assert w.total == 3 and w.undo == [] and sorted(w.selected) == sorted(ids[:2])
    front_end(w, "delete")
    front_end(w, "empty_trash")  # no confirm: nothing happens
    assert w.trash_count == 2 and "confirm first" in w.message
    front_end(w, "empty_trash", confirm=True)
    assert w.trash_count == 0 and w.message == "deleted 2 run(s) for good" and w.undo == []
    front_end(w, "undo")
    assert w.message == "nothing to undo"
    assert len(nbtrack.sql("SELECT * FROM metrics WHERE list_contains(?, run_id)", [ids[:2]])) == 0


def test_export_writes_a_report_next_to_the_notebook(store_dir, tmp_path, monkeypatch):
    ids = make_runs()
    w = widget()
    w.selected = ids[:2]
    (tmp_path / "notebooks").mkdir()
    monkeypatch.chdir(tmp_path / "notebooks")
    front_end(w, "export")
    path = w.report_path
    assert path.startswith(str(tmp_path / "notebooks")) and path.endswith(".html")
    from pathlib import Path

    text = Path(path).read_text(encoding="utf-8")
    assert "run-1" in text and EVIL not in text  # escaped in the report too


def test_names_travel_as_data_and_the_module_sets_text_only(store_dir):
    make_runs()
    w = widget()
    assert EVIL in names(w)
    esm = _bundle.widget_esm("compare")
    assert "innerHTML" not in esm and "insertAdjacentHTML" not in esm and "outerHTML" not in esm
    assert re.search(r"var (\w+) = \{ initialize, render \};\s*export \{\s*\1 as default\s*\}", esm)
    assert "https://" not in esm
    assert esm.startswith(_bundle.widget_esm("panel")[:200])  # the shared loader comes first
    assert "// src/format.ts" in esm  # the sidebar's typed helpers, not copies of them
    # no library bundled in: the module only draws (sections, theme, box zoom: ~31 kB)
    assert len(esm) < 34_000


def test_show_sends_the_chart_library_once(store_dir, monkeypatch):
    import IPython.display

    shown = []
    monkeypatch.setattr(IPython.display, "display", lambda *a, **k: shown.append(a))
    monkeypatch.setattr(_bundle, "vega_library", lambda: ("digest", gzip.compress(b"export default {}")))
    recorder = Recorder()
    monkeypatch.setattr(CompareWidget, "send", recorder)
    make_runs(1)
    w = widget()
    w.show()
    # The widget, then its still picture for viewers without the kernel.
    assert w.library == "digest" and len(shown) == 2
    assert "application/vnd.jupyter.widget-view+json" in shown[0][0]
    assert "nbtrack-compare-static" in shown[1][0]["text/html"]
    assert [m["type"] for m, _ in recorder.messages] == ["library"]


def test_refresh_follows_a_running_run(store_dir):
    make_runs(1)
    run = nbtrack.init(name="live", project="cmp")
    run.log({"loss": 1.0})
    w = widget()
    w.selected = [run.id]
    points = _points(w.overlays["loss"])
    assert points == 1
    for step in range(1, 5):
        run.log({"loss": 1.0 / (step + 1)})
    assert w.refresh(only_if_running=True) is True
    assert _points(w.overlays["loss"]) == 5
    assert [r["status"] for r in w.rows if r["id"] == run.id] == ["running"]
    run.finish()
    assert w.refresh(only_if_running=True) is True  # sees it finish
    assert [r["status"] for r in w.rows if r["id"] == run.id] == ["finished"]
    sent = json.dumps(w.overlays)
    assert w.refresh(only_if_running=True) is False  # nothing running: no store read
    assert json.dumps(w.overlays) == sent


def test_the_refresh_thread_runs_at_most_once_a_second(store_dir):
    make_runs(1)
    w = CompareWidget(interval=0.01)
    try:
        assert w.interval == 1.0 and w._thread is not None and w._thread.daemon
    finally:
        w.close()


def _points(spec: dict[str, Any]) -> int:
    data = next(d for d in spec["datasets"].values() if d and "key" in d[0])
    return len(data)


@pytest.mark.slow
def test_a_thousand_runs_and_a_million_points_stay_fast(store_dir):
    from nbtrack.store import get_store

    store = get_store()
    run = nbtrack.init(name="big", project="big")
    run.log({"loss": 1.0})
    run.finish()
    with store.write() as con:  # bulk rows straight into the store: logging 1M points takes longer
        con.execute("""
            INSERT INTO run_records (id, name, project, status, created_at, ended_at, tags, config, summary)
            SELECT 'r' || lpad(i::VARCHAR, 4, '0'), 'run-' || i, 'big', 'finished', created_at,
                   ended_at, tags, '{"lr": ' || (i / 1000.0) || '}', '{"loss": ' || (i % 97) || '}'
            FROM range(999) t(i), (SELECT created_at, ended_at, tags FROM run_records LIMIT 1)
        """)
        con.execute("""
            INSERT INTO metric_points (run_id, step, key, value, time)
            SELECT 'r' || lpad((i // 100000)::VARCHAR, 4, '0'), i % 100000, 'loss', 1.0 / (1 + i % 100000),
                   (SELECT created_at FROM run_records LIMIT 1)
            FROM range(1000000) t(i)
        """)
    started = time.perf_counter()
    w = widget(project="big")
    assert w.total == 1000 and len(w.rows) == 100
    w.sort_by, w.descending = "summary.loss", False
    w.page = 9
    assert len(w.rows) == 100
    w.selected = [f"r{i:04d}" for i in range(10)]
    assert sum(len(d) for d in w.overlays["loss"]["datasets"].values()) <= 10 * 500 + 10
    assert time.perf_counter() - started < 20


# -- the Media part ----------------------------------------------------------------------------
def media_runs() -> list[str]:
    import numpy as np

    ids = []
    for r in range(2):
        run = nbtrack.init(name=EVIL if r == 0 else "plain", project="media")
        for step in (0, 5):
            run.log({"loss": 1.0 / (step + 1),
                     "samples": [nbtrack.Image(np.full((4, 4), 10 * r + step + i, dtype=np.uint8),
                                               caption=EVIL if i == 0 else None) for i in range(2)],
                     "weights": nbtrack.Histogram(np.arange(10.0) + step, num_bins=5),
                     "note": nbtrack.Text(f"{EVIL} {r}/{step}"),
                     "preds": nbtrack.Table(columns=["y", EVIL], data=[[step, EVIL]])}, step=step)
        if r == 1:
            run.log({"extra": nbtrack.Image(np.zeros((4, 4), dtype=np.uint8))}, step=9)
        run.finish()
        ids.append(run.id)
    return ids


def pixel(src: str) -> int:
    import base64
    import io

    from PIL import Image

    assert src.startswith("data:image/png;base64,")
    return Image.open(io.BytesIO(base64.b64decode(src.split(",", 1)[1]))).getpixel((0, 0))


def test_the_media_part_shows_each_runs_images_of_one_step_side_by_side(store_dir):
    ids = media_runs()
    w = widget(project="media")
    assert w.media == {} and w.media_keys == {k: [] for k in ("image", "histogram", "table", "text")}
    w.selected = ids
    assert w.media_keys == {"image": ["extra", "samples"], "histogram": ["weights"],
                            "table": ["preds"], "text": ["note"]}
    assert (w.image_key, w.histogram_key) == ("extra", "weights")
    w.image_key = "samples"
    images = w.media["images"]
    assert images["key"] == "samples" and images["steps"] == [0, 5] and images["step"] == 5
    assert [run["name"] for run in images["runs"]] == [EVIL, "plain"]
    assert [[pixel(i["src"]) for i in run["items"]] for run in images["runs"]] == [[5, 6], [15, 16]]
    assert images["runs"][0]["items"][0]["caption"] == EVIL  # text for textContent, not markup
    w.image_step = 0
    runs = w.media["images"]["runs"]
    assert [[pixel(i["src"]) for i in run["items"]] for run in runs] == [[0, 1], [10, 11]]
    w.image_key = "extra"  # only the second run logged it; step 0 has none: the latest
    extra = w.media["images"]
    assert extra["step"] == 9 and [len(run["items"]) for run in extra["runs"]] == [0, 1]


def test_the_media_part_has_histograms_per_run_and_the_latest_tables_and_text(store_dir):
    ids = media_runs()
    w = widget(project="media")
    w.selected = ids
    charts = w.media["histograms"]["charts"]
    assert list(charts) == ids
    [rows] = charts[ids[1]]["datasets"].values()
    assert sorted({r["step"] for r in rows}) == [0, 5] and charts[ids[1]]["mark"]["type"] == "rect"
    assert charts[ids[0]]["title"] == f"{EVIL} · weights"
    assert w.media["tables"] == [
        {"key": "preds", "run": EVIL, "step": 5, "columns": ["y", EVIL], "rows": [[5, EVIL]], "total": 1},
        {"key": "preds", "run": "plain", "step": 5, "columns": ["y", EVIL], "rows": [[5, EVIL]], "total": 1}]
    texts = [(t["run"], t["text"]) for t in w.media["texts"]]
    assert texts == [(EVIL, f"{EVIL} 0/5"), ("plain", f"{EVIL} 1/5")]
    w.selected = [ids[0]]
    assert list(w.media["histograms"]["charts"]) == [ids[0]] and len(w.media["tables"]) == 1
    w.selected = []
    assert w.media == {}


def _page_with_widget(browser: Any, esm: str, state: dict[str, Any]) -> Any:
    """A blank page that runs a widget's ES module as anywidget would, on a model holding
    ``state`` (what the kernel synced); no kernel, no network."""
    page = browser.new_page()
    page.route("**/*", lambda route: route.abort())
    page.set_content("<div id=host></div>")
    page.evaluate(
        """async ([esm, state]) => {
          const url = URL.createObjectURL(new Blob([esm], {type: 'text/javascript'}));
          const widget = (await import(url)).default;
          const handlers = {};
          const model = {
            get: (name) => state[name],
            set: (name, value) => { state[name] = value; },
            save_changes: () => {},
            send: () => {},
            on: (name, fn) => { (handlers[name] ??= []).push(fn); },
            off: () => {},
          };
          widget.initialize?.({ model });
          widget.render({ model, el: document.getElementById('host') });
        }""",
        [esm, state],
    )
    return page


def test_the_compare_table_in_a_browser_shows_numbers_times_and_durations_as_people_read_them(
        store_dir, browser):
    make_runs()
    w = widget()
    w.sort_by = "name"
    state = json.loads(json.dumps(w.get_state()))  # what the kernel syncs: strict JSON
    page = _page_with_widget(browser, _bundle.widget_esm("compare"), state)
    rows = page.locator("tbody tr")
    rows.first.wait_for(timeout=30_000)
    head = page.locator("thead th").all_inner_texts()[1:]
    columns = [text.split(" ")[0] for text in head]
    cells = [dict(zip(columns, row.locator("td").all_inner_texts()[1:])) for row in rows.all()]
    by_name = {cell["name"].removeprefix("★ "): cell for cell in cells}
    assert set(by_name) == {EVIL, "run-1", "run-2"}  # the markup is text
    run2 = by_name["run-2"]
    # created_at: local time to the second, no ISO "T", no microseconds.
    assert re.fullmatch(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d", run2["created_at"]), run2
    # duration: the one duration style (7 ms, 2.3 s, 1m 05s), never 0.007322.
    assert re.fullmatch(r"\d+ ms|\d+\.\d s", run2["duration"]), run2
    # Numbers with 4 significant digits: 19/20 - 0.2 is 0.7499999999999999 in float.
    assert by_name["run-2"]["summary.acc"].removeprefix("★ ") == "0.75"
    assert by_name["run-2"]["config.lr"] == "0.001"
    assert by_name["run-1"]["summary.loss"].removeprefix("★ ") == "1.05"
    assert all(len(text) < 30 for cell in cells for text in cell.values()), cells


def test_charts_come_in_sections_against_any_x_with_each_runs_colour(store_dir):
    """train/ and val/ metrics under their own titles, the machine's last and against time
    with its constants listed, not charted; x offers step, relative and wall time and every
    metric; each row's swatch colour is the colour of the run's curves."""
    ids = []
    for i in range(2):
        run = nbtrack.init(name=f"sec-{i}", project="sec", config={"lr": 10.0 ** -(i + 1)})
        for step in range(20):
            run.log({"loss": 1 / (step + 1) + i, "train/acc": step / 20, "val/loss": 2 / (step + 1),
                     "epoch": step // 5})
            run.log_system({"cpu_percent": 10.0 + step, "ram_total_gb": 16.0})
        run.finish()
        ids.append(run.id)
    w = widget(project="sec")
    assert w.x_choices == ["step", "relative", "wall", "epoch", "loss", "train/acc", "val/loss"]
    w.selected = ids
    assert [(s["title"], s["keys"]) for s in w.sections] == [
        ("charts", ["epoch", "loss"]), ("train", ["train/acc"]), ("val", ["val/loss"]),
        ("system", ["system/cpu_percent"])]
    assert w.sections[-1]["constants"] == {"system/ram_total_gb": 16.0}
    assert "system/ram_total_gb" not in w.overlays

    def x_title(key: str) -> str:
        return w.overlays[key]["layer"][0]["encoding"]["x"]["title"]

    assert x_title("loss") == "step" and x_title("system/cpu_percent") == "relative time (s)"
    w.x = "epoch"
    assert x_title("loss") == "epoch" and x_title("system/cpu_percent") == "relative time (s)"
    w.x = "wall"
    assert x_title("val/loss") == "wall time" and x_title("system/cpu_percent") == "wall time"
    colors = {row["id"]: row["color"] for row in w.rows}
    assert colors == nbtrack.charts.project_run_colors(ids) and len(set(colors.values())) == 2
    spec = json.dumps(w.overlays["loss"])
    assert all(c in spec for c in colors.values())


def test_parallel_coordinates_of_a_sweep_put_log_uniform_parameters_on_a_log_axis(store_dir):
    """lr is sampled log-uniformly over one decade: too narrow for the value-based guess,
    so only the sweep config can put it on a log axis."""
    def train(config):
        nbtrack.log({"loss": (math.log10(config.lr) + 2.5) ** 2 + config.width / 100})

    nbtrack.sweep({"method": "random", "metric": {"name": "loss"}, "parameters": {
        "lr": {"distribution": "log_uniform_values", "min": 1e-3, "max": 1e-2},
        "width": {"min": 10, "max": 100}}}, train, count=5, project="logsweep", seed=1)
    w = widget(project="logsweep")
    w.selected = [row["id"] for row in w.rows]
    w.metric = "loss"
    rows = [r for part in w.parallel["datasets"].values() for r in part
            if r.get("axis") == "lr" and "run_id" in r]
    assert len(rows) == 5
    values = {r["run_id"]: float(r["value"]) for r in rows}
    lo, hi = min(values.values()), max(values.values())
    for r in rows:
        expected = (math.log10(values[r["run_id"]]) - math.log10(lo)) / (math.log10(hi) - math.log10(lo))
        assert r["position"] == pytest.approx(expected, abs=1e-3)
