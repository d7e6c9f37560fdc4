"""The live panel in plain pytest: synced traits, sent messages, throttling, downsampling,
status and failure, the static picture, escaping, and the cell/live entry points."""

from __future__ import annotations

import gzip
import json
import random
import re
import threading
import time
from typing import Any

import pytest

import nbtrack
from nbtrack import widgets
from nbtrack.widgets import _bundle, _specs, _stream

pytest.importorskip("anywidget")

from nbtrack.widgets.panel import LivePanel


class Recorder:
    """Stands in for the comm: keeps every custom message the panel sends."""

    def __init__(self) -> None:
        self.messages: list[tuple[dict[str, Any], list[Any] | None]] = []
        self.lock = threading.Lock()

    def __call__(self, content: dict[str, Any], buffers: list[Any] | None = None) -> None:
        # The kernel refuses NaN and infinity in JSON: so must every message.
        json.dumps(content, allow_nan=False)
        with self.lock:
            self.messages.append((content, buffers))

    def updates(self) -> list[dict[str, Any]]:
        with self.lock:
            return [m for m, _ in self.messages if m["type"] == "update"]


class Browser:
    """What panel.js keeps per metric, from the update messages: rows plus a tail."""

    def __init__(self) -> None:
        self.rows: dict[str, list[dict[str, Any]]] = {}
        self.tails: dict[str, Any] = {}
        self.received = 0  # buckets that travelled

    def apply(self, message: dict[str, Any]) -> None:
        for key, part in message["series"].items():
            rows = self.rows.setdefault(key, [])
            for op in part["ops"]:
                if op[0] == "merge":
                    rows[:] = merge_pairs(rows)
                    continue
                body = op[1]
                low, high = body.get("min", body["value"]), body.get("max", body["value"])
                rows.extend({"step": s, "value": v, "min": lo, "max": hi, "n": body["n"], "time": t}
                            for s, v, lo, hi, t in zip(body["step"], body["value"], low, high, body["time"]))
                self.received += len(body["step"])
            self.tails[key] = part["tail"]

    def shown(self, key: str) -> list[tuple[int, Any, Any, Any]]:
        """(step, value, min, max) of each point drawn (times: :meth:`times`)."""
        rows = [(r["step"], r["value"], r["min"], r["max"]) for r in self.rows[key]]
        tail = self.tails.get(key)
        return rows + ([tuple(tail[:4])] if tail else [])

    def times(self, key: str) -> list[Any]:
        """Seconds from the run's first point to each point drawn (its bucket's first)."""
        tail = self.tails.get(key)
        return [r["time"] for r in self.rows[key]] + ([tail[4]] if tail else [])


def merge_pairs(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """panel.js's mergePairs."""
    def pick(a: Any, b: Any, choose: Any) -> Any:
        return b if a is None else a if b is None else choose(a, b)

    merged = []
    pairs = len(rows) // 2 * 2
    for a, b in zip(rows[:pairs:2], rows[1:pairs:2]):
        merged.append({
            "step": a["step"], "n": a["n"] + b["n"],
            "value": pick(a["value"], b["value"],
                          lambda x, y, a=a, b=b: (x * a["n"] + y * b["n"]) / (a["n"] + b["n"])),
            "min": pick(a["min"], b["min"], min), "max": pick(a["max"], b["max"], max),
            "time": a.get("time")})
    return merged + rows[pairs:]


def make_panel(run: nbtrack.Run, **options: Any) -> tuple[LivePanel, Recorder]:
    """A panel whose chart templates are loaded (as they are a moment into a kernel's first cell)."""
    _specs.warm()
    options.setdefault("start", False)
    panel = LivePanel(run, **options)
    recorder = Recorder()
    panel.send = recorder  # type: ignore[method-assign]
    return panel, recorder


# -- traits and messages ---------------------------------------------------------------
def test_new_panel_syncs_the_run_and_sends_only_new_points(store_dir):
    run = nbtrack.init(name="traits")
    panel, sent = make_panel(run)
    state = panel.get_state()
    assert (state["run_name"], state["run_id"], state["status"]) == ("traits", run.id, "running")
    assert state["panel_id"] and state["charts"] == {}

    for step in range(10):
        run.log({"loss": 1 / (step + 1), "acc": step / 10})
    assert panel.tick()
    first = sent.updates()[-1]
    assert set(first["series"]) == {"acc", "loss"}
    [(kind, rows)] = first["series"]["loss"]["ops"]
    assert kind == "rows" and rows["n"] == 1 and rows["step"] == list(range(10))
    assert "min" not in rows  # one point per bucket: min = max = value
    assert set(panel.charts) == {"acc", "loss"}
    assert panel.charts["loss"]["data"] == {"name": "points"}
    assert "datasets" not in panel.charts["loss"]
    assert panel.step == 9 and panel.last_values == {"acc": 0.9, "loss": 0.1}

    assert not panel.tick()  # nothing new: no points message
    run.log({"loss": 0.01})
    assert panel.tick()
    [update] = [sent.updates()[-1]["series"]]
    [(kind, body)] = update["loss"]["ops"]
    assert set(update) == {"loss"} and update["loss"]["tail"] is None
    assert (kind, body["n"], body["step"], body["value"]) == ("rows", 1, [10], [0.01])
    assert 0 < body["time"][0] < 60  # seconds since the run's first point
    run.finish()
    assert panel.status == "finished"


def test_the_specs_are_the_chart_modules_metric_chart(store_dir):
    import pandas as pd

    from nbtrack.charts.metrics import metric_chart

    run = nbtrack.init(name="spec")
    panel, _ = make_panel(run)
    run.log({"val/loss": 1.0})
    panel.tick()
    spec = panel.charts["val/loss"]
    frame = pd.DataFrame({"run_id": [run.id] * 2, "run": ["spec"] * 2, "key": ["val/loss"] * 2,
                          "step": [0, 1], "value": [1.0, 2.0], "min": [0.5, 1.5], "max": [1.5, 2.5]})
    reference = metric_chart(frame, "val/loss").to_dict()
    assert spec["title"] == "val/loss" == reference["title"]

    def shape(layer):  # the encodings, less what names this chart's params and its run
        encoding = {k: v for k, v in layer.get("encoding", {}).items() if k not in ("color", "opacity")}
        return sorted(encoding), layer.get("mark")

    assert [shape(layer) for layer in spec["layer"]] == [shape(layer) for layer in reference["layer"]]
    # The live run is drawn in its colour in every view (the sidebar's, compare's, reports').
    from nbtrack.charts.colors import project_run_colors

    ranges = {json.dumps(layer["encoding"]["color"]["scale"]) for layer in spec["layer"]
              if "color" in layer.get("encoding", {})}
    assert ranges == {json.dumps({"range": [project_run_colors([run.id])[run.id]]})}
    run.finish()


def test_system_points_feed_gauges_not_charts(store_dir):
    run = nbtrack.init(name="gauges")
    panel, sent = make_panel(run)
    run.log({"loss": 1.0})
    run.log_system({"cpu_percent": 50.0, "ram_used_gb": 2.0, "ram_total_gb": 8.0})
    panel.tick()
    assert set(panel.charts) == {"loss"}
    assert set(sent.updates()[-1]["series"]) == {"loss"}
    gauges = {row["gauge"]: row for row in panel.gauges}
    assert gauges["CPU"]["fraction"] == 0.5 and gauges["RAM"]["fraction"] == 0.25
    assert gauges["RAM"]["text"] == "2.0 / 8.0 GB"
    assert panel.gauges_spec["data"] == {"name": "gauges"}
    assert "system/cpu_percent" not in panel.last_values
    run.finish()


def test_nan_and_missing_values_travel_as_null_and_text(store_dir):
    run = nbtrack.init(name="nan")
    panel, sent = make_panel(run)
    run.log({"loss": 1.0})
    run.log({"loss": float("nan")})
    run.log({"loss": float("inf")})
    run.log({"loss": None})
    panel.tick()  # the recorder checks strict JSON
    assert sent.updates()[-1]["series"]["loss"]["ops"][0][1]["value"] == [1.0, None, None, None]
    # nbtrack.formatting's one NaN rule; a missing value keeps the last one
    assert panel.last_values == {"loss": "Infinity"}
    run.finish()


# -- throttling and downsampling -------------------------------------------------------------
def test_many_logs_make_few_messages(store_dir):
    run = nbtrack.init(name="throttle")
    panel, sent = make_panel(run, start=True, interval=0.25)
    start = time.perf_counter()
    step = 0
    while time.perf_counter() - start < 1.5:
        run.log({"loss": 1 / (step + 1), "acc": 0.5, "lr": 0.1, "gn": 1.0})
        step += 1
    elapsed = time.perf_counter() - start
    run.finish()
    updates = sent.updates()
    assert step > 1000
    # At most 4 a second while logging, plus the final one at finish.
    assert 1 <= len(updates) <= elapsed / 0.25 + 2, (len(updates), step)
    browser = Browser()
    for message in updates:
        browser.apply(message)
    # The last bucket shown (at the step of its first point) holds the last point logged.
    assert 0 <= step - 1 - browser.shown("loss")[-1][0] < panel._series["loss"].k


def test_long_series_are_downsampled_with_their_extremes(store_dir):
    run = nbtrack.init(name="long")
    panel, sent = make_panel(run, max_points=500)
    browser = Browser()
    rng = random.Random(0)
    spike_at = 61_234
    for chunk in range(10):
        for step in range(chunk * 10_000, (chunk + 1) * 10_000):
            value = 1000.0 if step == spike_at else rng.random()
            run.log({"loss": value, "acc": step / 100_000})
        panel.tick()
        browser.apply(sent.updates()[-1])
        assert len(browser.shown("loss")) <= 500 + 1
    shown = browser.shown("loss")
    assert shown[0][0] == 0 and shown[-1][0] > 99_000
    assert [s for s, *_ in shown] == sorted(s for s, *_ in shown)
    assert max(high for *_, high in shown) == 1000.0  # the spike survives in the envelope
    assert min(low for _, _, low, _ in shown) >= 0.0
    # The browser's copy is the panel's: same buckets, same values (to 7 digits).
    series = panel._series["loss"]
    assert [r["step"] for r in browser.rows["loss"]] == series._closed["step"].tolist()
    means = (series._closed["sum"] / series._closed["finite"]).tolist()
    assert [r["value"] for r in browser.rows["loss"]] == pytest.approx(means, rel=1e-6)
    # Only new buckets travel, each once: 100k points in 10 batches, about 2k buckets sent.
    assert browser.received < 6 * 500, browser.received
    run.finish()


def test_series_buckets_merge_exactly():
    series = _stream.Series(max_points=4, origin=1000.0)
    browser = Browser()
    series.add([0, 1, 2, 3], [1.0, 3.0, 2.0, 2.0], [1000.0, 1000.5, 1001.0, 1001.5])
    update = series.update()
    assert update == {"ops": [["rows", {"n": 1, "step": [0, 1, 2, 3], "value": [1.0, 3.0, 2.0, 2.0],
                                        "time": [0.0, 0.5, 1.0, 1.5]}]], "tail": None}
    browser.apply({"series": {"m": update}})
    series.add([4, 5, 6, 7], [5.0, 1.0, 0.0, 4.0], [1002.0, 1002.5, 1003.0, 1003.5])  # buckets of two now
    assert series.k == 2 and len(series) == 4
    update = series.update()
    assert update is not None
    assert update["ops"] == [
        ["merge"],  # the browser merges the buckets it has: nothing is sent again
        ["rows", {"n": 2, "step": [4, 6], "value": [3.0, 2.0], "time": [2.0, 3.0], "min": [1.0, 0.0],
                  "max": [5.0, 4.0]}]]
    browser.apply({"series": {"m": update}})
    assert browser.shown("m") == [(0, 2.0, 1.0, 3.0), (2, 2.0, 2.0, 2.0), (4, 3.0, 1.0, 5.0),
                                  (6, 2.0, 0.0, 4.0)]
    assert browser.times("m") == [0.0, 1.0, 2.0, 3.0]  # each bucket at its first point's time
    series.add([8], [10.0], [1004.25])  # opens a bucket: shown as the tail
    update = series.update()
    assert update == {"ops": [], "tail": [8, 10.0, 10.0, 10.0, 4.25]}
    assert series.update() is None


def test_a_big_batch_is_bucketed_once():
    series = _stream.Series(max_points=100)
    series.add(list(range(10_000)), [float(i) for i in range(10_000)])
    update = series.update()
    assert update is not None and [op[0] for op in update["ops"]] == ["rows"]
    assert update["ops"][0][1]["n"] == series.k == 128 and len(update["ops"][0][1]["step"]) == 78


@pytest.mark.parametrize("seed", range(5))
def test_grouping_matches_a_plain_loop(seed):
    rng = random.Random(seed)
    keys: list[str] = []
    names = [f"m{i}" for i in range(rng.randint(1, 8))]
    for _ in range(rng.randint(1, 3000)):
        if rng.random() < 0.01:
            keys.extend(["system/cpu_percent", "system/ram_used_gb"])
        elif rng.random() < 0.05:
            keys.extend(rng.sample(names, rng.randint(1, len(names))))
        else:
            keys.extend(names)
    steps = list(range(len(keys)))
    values = [float(i) for i in steps]
    expected: dict[str, tuple[list[int], list[float]]] = {}
    for key, step, value in zip(keys, steps, values):
        expected.setdefault(key, ([], []))[0].append(step)
        expected[key][1].append(value)
    assert _stream.group(keys, steps, values) == expected


# -- status, failure, the picture ------------------------------------------------------------
def test_a_failed_run_says_so(store_dir):
    run = nbtrack.init(name="crashes")
    panel, _ = make_panel(run)
    run.log({"loss": 1.0})
    try:
        _ = 1 / 0
    except ZeroDivisionError as exc:
        import traceback

        run.finish("failed", "".join(traceback.format_exception(exc)))
    assert panel.status == "failed"
    assert panel.error == "ZeroDivisionError: division by zero"
    picture = panel.picture()
    assert "crashes — failed" in picture["text/plain"]
    assert "ZeroDivisionError: division by zero" in picture["text/plain"]
    assert "failed" in picture["image/svg+xml"] and "<svg" in picture["image/svg+xml"]


@pytest.mark.parametrize(("status", "error", "shown"), [
    ("finished", None, ""),
    ("interrupted", "Traceback ...\nKeyboardInterrupt\n", "KeyboardInterrupt"),
    ("failed", "Traceback ...\nRuntimeError: CUDA out of memory\n", "RuntimeError: CUDA out of memory"),
])
def test_the_status_and_the_reason_are_in_view(store_dir, status, error, shown):
    run = nbtrack.init(name="status")
    panel, _ = make_panel(run)
    run.log({"loss": 1.0})
    run.finish(status, error)
    assert (panel.status, panel.error) == (status, shown)
    text = panel.picture()["text/plain"]
    assert f"status — {status}" in text
    assert (f"run {status}: {shown}" in text) == bool(shown)


def test_the_picture_escapes_the_run_name_and_metric_names(store_dir):
    name = '<script>alert("x")</script> & co'
    run = nbtrack.init(name=name)
    panel, _ = make_panel(run)
    for step in range(50):
        run.log({"<b>loss</b>": 1 / (step + 1)})
    run.finish()
    svg = panel.picture()["image/svg+xml"]
    assert "<script>" not in svg and "<b>" not in svg
    assert "&lt;script&gt;" in svg and "&lt;b&gt;loss&lt;/b&gt;" in svg
    assert panel.run_name == name  # the browser sets it with textContent


def test_the_picture_shows_every_metric_with_its_curve(store_dir):
    run = nbtrack.init(name="picture")
    panel, _ = make_panel(run)
    for step in range(300):
        run.log({"loss": 1 / (step + 1), "acc": step / 300})
    run.log_system({"cpu_percent": 25.0})
    panel.tick()
    run.finish()
    picture = panel.picture()
    svg = picture["image/svg+xml"]
    assert svg.count("<path") > 6 and ">loss<" in svg and ">acc<" in svg and ">CPU<" in svg
    assert "step 299" in picture["text/plain"] and "loss 0.003333" in picture["text/plain"]  # 4 digits


# -- entry points -------------------------------------------------------------------------------
class FakeHandle:
    def __init__(self, data: dict[str, Any]) -> None:
        self.shown = [data]

    def update(self, data: dict[str, Any], raw: bool = False) -> None:
        self.shown.append(data)


@pytest.fixture
def kernel(monkeypatch):
    """A pretend kernel: display() records what it was given, the library is small."""
    shown: list[FakeHandle] = []

    def display(data, metadata=None, raw=False, display_id=False):
        handle = FakeHandle(data)
        shown.append(handle)
        return handle

    import IPython.display

    monkeypatch.setattr(IPython.display, "display", display)
    monkeypatch.setattr(widgets, "_kernel_shell", lambda: object())
    monkeypatch.setattr(_bundle, "vega_library", lambda: ("digest", gzip.compress(b"export default {}")))
    monkeypatch.setattr(LivePanel, "send", Recorder())
    for thread in widgets.warm_up("panel"):  # anywidget is in: panels are shown at once
        thread.join()
    yield shown
    widgets._open.clear()


@pytest.fixture
def anywidget_loading():
    """As in a fresh kernel's first live cell: anywidget still loads (until the event is set),
    so panels are shown from a thread later."""
    from nbtrack import system

    loading = threading.Event()
    holder = threading.Thread(target=loading.wait, daemon=True)
    holder.start()
    done = widgets._warming.get("panel")
    widgets._warming["panel"] = [holder]
    yield loading
    loading.set()
    widgets._warming["panel"] = done or []
    for run in list(system.sampler().attached()):
        system.detach(run)


def test_cell_panel_shows_a_widget_then_leaves_a_picture(store_dir, kernel):
    from nbtrack import system

    run = nbtrack.init(name="cell")
    panel = widgets.cell_panel(run)
    assert panel is not None and run in system.sampler().attached()
    handle = kernel[0]
    assert handle.shown[0]["application/vnd.jupyter.widget-view+json"]["model_id"] == panel.model_id
    library = [m for m in LivePanel.send.messages if m[0]["type"] == "library"]  # type: ignore[attr-defined]
    assert library and library[0][0]["digest"] == "digest" and panel.library == "digest"
    assert widgets.cell_panel(run) is panel and len(kernel) == 1  # one panel per run
    run.log({"loss": 0.5})
    run.finish()
    final = handle.shown[-1]
    assert set(final) == {"image/svg+xml", "image/png", "text/plain"}  # no widget left in the output
    assert panel.comm is None and panel.charts == {}
    system.detach(run)


def _marks(svg: str) -> list[str]:
    """What a picture draws: its marks' paths and every text, in order."""
    return re.findall(r'role-mark[^>]*>(?:<path[^>]* d="([^"]*)")', svg) + re.findall(r">([^<>]+)</t", svg)


def test_the_picture_drawn_from_the_panels_points_is_the_one_drawn_from_the_store(store_dir, kernel):
    """The panel draws its run's picture from the points it holds (no store read, no Altair at
    the cell's end): the same curves, axes, titles and colour as the picture from the store."""
    from nbtrack.widgets._static import picture_bundle

    _specs.warm()
    run = nbtrack.init(name="same picture")
    panel = LivePanel(run, start=False)
    run.log({"lr": 0.001}, commit=False)  # one point: a dot, not a line
    for step in range(60):
        run.log({"loss": float("nan") if step == 7 else 3.0 / (step + 1), "acc": step / 60})
    run.finish()
    assert panel._complete and set(panel._series) == {"acc", "loss", "lr"}
    drawn = panel.picture()["image/svg+xml"]
    stored = picture_bundle(run, sorted(panel._series), panel.gauges, panel.last_values, panel.step,
                            panel.elapsed, panel.system_note)["image/svg+xml"]
    assert _marks(drawn) == _marks(stored) and len(_marks(drawn)) > 20
    assert ">0.001<" in drawn  # the one-value metric's axis says its value (Vega's own said "0")
    assert ">run<" not in drawn  # no colour legend: the title names the run
    assert re.findall(r'stroke="(#[0-9a-f]{6})"', drawn) == re.findall(r'stroke="(#[0-9a-f]{6})"', stored)


def test_a_long_run_s_picture_keeps_its_shape_from_the_panels_points(store_dir, kernel):
    """Downsampled (5,000 points into at most 400): the ends, the extremes and the band match
    the store's picture, whose buckets fall elsewhere."""
    from nbtrack.widgets._static import picture_bundle

    _specs.warm()
    run = nbtrack.init(name="long")
    panel = LivePanel(run, start=False)
    for step in range(5000):
        run.log({"loss": 100.0 if step == 1234 else 1.0 + step / 5000})
    run.finish()
    [rows] = [panel._series["loss"].rows(run.name, 400)]
    assert 200 <= len(rows) <= 400 and rows[0]["step"] == 0 and max(r["max"] for r in rows) == 100.0
    drawn, stored = (picture["image/svg+xml"] for picture in (
        panel.picture(), picture_bundle(run, ["loss"], [], panel.last_values, panel.step, panel.elapsed)))
    axis = re.compile(r'role-axis-label.*?</g>', re.S)
    assert axis.findall(drawn) == axis.findall(stored)  # the same extent: ticks 0..5,000, 0..100


def test_live_shows_the_active_run_and_a_finished_one_as_a_picture(store_dir, kernel):
    run = nbtrack.init(name="script")
    panel = nbtrack.widgets.live()
    assert panel is not None and panel.run_id == run.id
    run.log({"loss": 1.0})
    run.finish()
    assert set(kernel[0].shown[-1]) == {"image/svg+xml", "image/png", "text/plain"}
    later = nbtrack.widgets.live(run)
    assert later is not None and later.status == "finished"
    assert set(kernel[1].shown[0]) == {"image/svg+xml", "image/png", "text/plain"}
    assert ">loss<" in kernel[1].shown[0]["image/svg+xml"]


def test_a_panel_waiting_for_its_chart_templates_sends_points_then_adds_the_charts(store_dir, monkeypatch):
    """The templates load in the background: meanwhile the status and points go out, and the
    charts join at the next update (the browser drew nothing yet but kept every point)."""
    run = nbtrack.init(name="templates")
    panel, sent = make_panel(run)
    monkeypatch.setattr(_specs, "_templates", {})  # as in a fresh kernel, before the warm-up
    run.log({"loss": 1.0})
    assert panel.tick()
    assert sent.updates()[-1]["series"]["loss"]["ops"][0][1]["value"] == [1.0]
    assert panel.charts == {} and panel.last_values == {"loss": 1.0}
    _specs.warm()
    assert not panel.tick()  # no new point: the chart alone is what changed
    assert set(panel.charts) == {"loss"} and panel.charts["loss"]["title"] == "loss"
    run.finish()


def test_chart_templates_are_cached_on_disk_per_version_and_chart_code(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    monkeypatch.setattr(_specs, "_templates", {})
    _specs.warm(build=False)  # nothing cached: nothing loaded, nothing built
    assert not _specs.ready() and not list(tmp_path.rglob("specs-*.json"))
    _specs.warm()
    built = {"metric": _specs.metric_spec("loss"), "gauges": _specs.gauges_spec()}
    [cached] = list((tmp_path / "nbtrack").glob("specs-*.json"))
    monkeypatch.setattr(_specs, "_templates", {})
    _specs.warm(build=False)
    assert _specs.ready()
    assert {"metric": _specs.metric_spec("loss"), "gauges": _specs.gauges_spec()} == built
    # Another chart code (or Altair, or nbtrack version) is another file: never a stale spec.
    monkeypatch.setattr(_specs, "_templates", {})
    monkeypatch.setattr(nbtrack, "__version__", "0.0.0+other")
    _specs.warm(build=False)
    assert not _specs.ready() and list((tmp_path / "nbtrack").glob("specs-*.json")) == [cached]


def test_a_first_live_cell_runs_before_its_panel_exists_and_loses_no_point(store_dir, kernel,
                                                                             anywidget_loading):
    """While anywidget still loads (the kernel's first live cell started it), the cell's code
    runs at once; the panel joins the cell's output later with every point logged meanwhile."""
    run = nbtrack.init(name="early")
    assert widgets.cell_panel(run) is None and kernel == []  # the cell goes on: no panel yet
    for step in range(5):
        run.log({"loss": 1 / (step + 1)})
    run.drain()  # the writer hands these points out before the panel exists
    anywidget_loading.set()
    widgets._showing[run.id].join(30)  # shown while the cell still runs
    widgets.wait_shown(run)
    [handle] = kernel
    panel = widgets._open[run.id]
    assert handle.shown[0]["application/vnd.jupyter.widget-view+json"]["model_id"] == panel.model_id
    _specs.warm()
    deadline = time.monotonic() + 30
    while "loss" not in panel.charts and time.monotonic() < deadline:  # the colour is looked up
        panel.tick()
        time.sleep(0.05)
    updates = [m for m, _ in LivePanel.send.messages if m["type"] == "update"]  # type: ignore[attr-defined]
    browser = Browser()
    for message in updates:
        browser.apply(message)
    assert [row["step"] for row in browser.rows["loss"]] == [0, 1, 2, 3, 4]
    assert "loss" in panel.charts
    run.finish()
    assert set(handle.shown[-1]) == {"image/svg+xml", "image/png", "text/plain"}


def test_a_cell_that_ends_before_its_panel_exists_leaves_its_picture_and_no_panel(store_dir, kernel,
                                                                                 anywidget_loading):
    """A cell shorter than anywidget's import: no widget appears and vanishes; the picture of
    every point logged takes its place in the cell, drawn with no store read."""
    _specs.warm()
    run = nbtrack.init(name="quick")
    assert widgets.cell_panel(run) is None
    for step in range(7):
        run.log({"loss": 10.0 - step, "acc": step / 10})
    shower = widgets._showing[run.id]
    widgets.wait_shown(run)  # the cell ends while anywidget still loads
    assert kernel == []
    run.finish()
    [picture] = kernel
    svg = picture.shown[0]["image/svg+xml"]
    assert "quick — finished" in svg and "loss" in svg and "acc" in svg
    assert 'aria-label="step: 0; loss: 10; run: quick"' in svg  # the first point is there
    anywidget_loading.set()
    shower.join(30)
    assert kernel == [picture] and run.id not in widgets._open  # no panel came later


def test_live_needs_a_run(store_dir, kernel):
    with pytest.raises(nbtrack.NbtrackError, match=r"nbtrack\.init"):
        widgets.live()


def test_outside_a_kernel_nothing_is_shown(store_dir):
    run = nbtrack.init(name="terminal")
    assert widgets.cell_panel(run) is None
    with pytest.warns(nbtrack.NbtrackWarning, match="no notebook front-end"):
        assert widgets.live(run) is None
    run.finish()


def test_importing_the_widgets_package_loads_no_widget_library():
    from helpers import run_python

    proc = run_python("import sys, nbtrack.widgets\n"
                      "print([m for m in ('anywidget', 'ipywidgets', 'altair') if m in sys.modules])")
    assert proc.stdout.strip() == "[]"


def test_a_track_cell_in_terminal_ipython_loads_no_widget_library():
    from helpers import run_python

    proc = run_python(
        "import sys, tempfile\n"
        "from IPython.core.interactiveshell import InteractiveShell\n"
        "ip = InteractiveShell.instance()\n"
        "import nbtrack; nbtrack.settings(dir=tempfile.mkdtemp())\n"
        "ip.run_cell('%load_ext nbtrack'); ip.run_cell('import nbtrack')\n"
        "assert ip.run_cell('%%track t\\nnbtrack.log({\"a\": 1.0})').success\n"
        "print([m for m in ('anywidget', 'ipywidgets', 'pynvml') if m in sys.modules])\n"
    )
    assert proc.stdout.strip().splitlines()[-1] == "[]"


# -- the bundled chart library ------------------------------------------------------------------------
@pytest.mark.slow
def test_the_chart_library_is_a_cached_es_module(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    monkeypatch.setattr(_bundle, "_library", [None])
    digest, data = _bundle.vega_library()
    code = gzip.decompress(data).decode()
    assert code.rstrip().endswith("as default};") and "export{" in code
    assert "cdn" not in code.lower().split("export{")[-1]
    assert 200_000 < len(data) < 600_000 and len(code) < 2_000_000
    cached = list((tmp_path / "nbtrack").glob("vega-library-*.js.gz"))
    assert len(cached) == 1 and cached[0].read_bytes() == data
    monkeypatch.setattr(_bundle, "_library", [None])
    start = time.perf_counter()
    assert _bundle.vega_library() == (digest, data)
    assert time.perf_counter() - start < 1.0  # from the disk cache, not rebuilt


def test_the_panel_module_is_small_and_sets_text_safely():
    esm = _bundle.panel_esm()
    # 20 KB, the box zoom every chart shares (labextension/src/zoom.ts), smoothing, log y and
    # x = time or a metric (src/drawing.ts, src/charttools.ts), the dark theme (src/theme.ts):
    # not minified, so a person can read what runs in their page (the panel is closed when
    # its run ends: it is not saved in the notebook)
    assert len(esm) < 40_000
    assert "innerHTML" not in esm and "insertAdjacentHTML" not in esm
    # Built from labextension/src/widgets/panel.ts with the sidebar's own format.ts and dom.ts.
    assert re.search(r"var (\w+) = \{ initialize, render \};\s*export \{\s*\1 as default\s*\}", esm)
    assert "// src/format.ts" in esm and "// src/dom.ts" in esm
    assert "http://" not in esm and "https://" not in esm  # nothing from a CDN


def test_a_live_chart_has_no_legend_repeating_the_run_name():
    """One run per panel: its header names the run, the 280-px chart keeps its width."""
    from nbtrack.charts._base import to_svg

    _specs.warm()
    spec = {**_specs.metric_spec("loss", "#0067a5"), "data": {"values": [
        {"run": "only run", "step": s, "value": 1.0 / (s + 1), "min": None, "max": None} for s in range(3)]}}
    svg = to_svg(spec)
    assert ">loss<" in svg and "only run" not in svg.split("aria-label")[0] and 'role-legend"' not in svg


def test_a_cell_that_finishes_its_run_itself_before_the_panel_exists_keeps_its_picture(
        store_dir, kernel, anywidget_loading):
    """``nbtrack.finish()`` in a short first live cell: the picture is left as the cell ends."""
    run = nbtrack.init(name="finished early")
    assert widgets.cell_panel(run) is None
    run.log({"loss": 2.0})
    run.log({"loss": 1.0})
    run.finish()  # the cell's own code
    assert kernel == []
    widgets.wait_shown(run)  # the cell ends
    [picture] = kernel
    assert "finished early — finished" in picture.shown[0]["image/svg+xml"]


def test_a_metric_charted_against_its_step_metric_keeps_that_axis_in_the_picture(store_dir, kernel):
    """W&B's define_metric(step_metric=...): the picture draws it against that metric, as the
    sidebar does (from the store: the panel's own points are by step)."""
    _specs.warm()
    run = nbtrack.init(name="epochs")
    run.define_metric("val/acc", step_metric="epoch")
    panel = LivePanel(run, start=False)
    for step in range(30):
        run.log({"loss": 1.0 / (step + 1)})
        if step % 10 == 9:
            run.log({"val/acc": step / 30, "epoch": step // 10}, commit=False)
    run.finish()
    svg = panel.picture()["image/svg+xml"]
    # "epoch": its own chart's title and y axis, and the x axis of val/acc's chart
    assert svg.count(">epoch<") == 3 and ">val/acc<" in svg


def test_a_panel_made_after_its_run_logged_counts_time_from_the_runs_start(store_dir):
    """nbtrack.live() a while into a run: x = relative time is the run's, as in every other
    view, not the time since the panel saw its first point."""
    run = nbtrack.init(name="late")
    run.log({"loss": 1.0})
    time.sleep(0.3)
    panel, sent = make_panel(run)
    run.log({"loss": 0.5})
    panel.tick()
    [(kind, body)] = sent.updates()[-1]["series"]["loss"]["ops"]
    assert kind == "rows" and body["time"][0] >= 0.3
    run.finish()
