"""Logged media in the live panel, in plain pytest: the ``media`` messages (latest images
as bytes, bounded and scaled; histograms over time, throttled and thinned; latest text
and table), a failing media display that detaches alone, and the saved picture (media
included, escaped, small with 100 images)."""

from __future__ import annotations

import io
import json
import re
from typing import Any

import numpy as np
import pytest

import nbtrack

pytest.importorskip("anywidget")
PIL = pytest.importorskip("PIL.Image")

from nbtrack.widgets import _media  # noqa: E402
from nbtrack.widgets.panel import LivePanel  # noqa: E402

EVIL = "<img src=x onerror=alert(1)>"


class Recorder:
    def __init__(self) -> None:
        self.messages: list[tuple[dict[str, Any], list[Any] | None]] = []

    def __call__(self, content: dict[str, Any], buffers: list[Any] | None = None) -> None:
        json.dumps(content, allow_nan=False)  # the kernel refuses NaN in JSON
        self.messages.append((content, buffers))

    def media(self) -> list[tuple[dict[str, Any], list[Any]]]:
        return [(m, b or []) for m, b in self.messages if m["type"] == "media"]


def make_panel(run: nbtrack.Run) -> tuple[LivePanel, Recorder]:
    panel = LivePanel(run, start=False)
    recorder = Recorder()
    panel.send = recorder  # type: ignore[method-assign]
    return panel, recorder


def picture(value: int, size: int = 8) -> np.ndarray:
    return np.full((size, size), value, dtype=np.uint8)


def test_the_panel_gets_the_latest_steps_images_as_bytes(store_dir):
    run = nbtrack.init(name="images")
    panel, sent = make_panel(run)
    for step in range(3):
        run.log({"samples": [nbtrack.Image(picture(10 * step + i), caption=f"s{step}-{i}")
                             for i in range(3)]})
    run.log({"samples": [nbtrack.Image(picture(100 + i), caption=EVIL if i == 0 else None)
                         for i in range(20)]}, step=7)
    panel.tick()
    [(message, buffers)] = sent.media()
    part = message["images"]["samples"]
    assert part["step"] == 7 and len(part["items"]) == 8  # only the latest step, at most 8
    assert part["items"][0]["caption"] == EVIL and part["items"][1]["caption"] is None
    assert [item["idx"] for item in part["items"]] == list(range(8))
    for item in part["items"]:
        image = PIL.open(io.BytesIO(buffers[item["buffer"]]))
        assert image.size == (8, 8) and image.getpixel((0, 0)) == 100 + item["idx"]
    panel.tick()
    assert len(sent.media()) == 1  # nothing new: nothing sent
    run.log({"samples": nbtrack.Image(picture(5))}, step=3)  # an older step does not replace
    panel.tick()
    assert len(sent.media()) == 1
    run.finish()


def test_a_big_image_travels_scaled_down(store_dir):
    run = nbtrack.init(name="big")
    panel, sent = make_panel(run)
    noise = np.random.default_rng(0).integers(0, 255, (900, 1200, 3), dtype=np.uint8)
    run.log({"photo": nbtrack.Image(noise)})
    panel.tick()
    [(message, buffers)] = sent.media()
    assert message["images"]["photo"]["items"][0]["width"] == 1200  # what was logged
    assert PIL.open(io.BytesIO(buffers[0])).size == (512, 384)  # what travelled
    run.finish()


def test_histograms_are_throttled_and_thinned(store_dir):
    run = nbtrack.init(name="hist")
    panel, sent = make_panel(run)
    rng = np.random.default_rng(1)
    for step in range(200):
        run.log({"weights": nbtrack.Histogram(rng.normal(step / 100, 1, 500), num_bins=16)})
    panel.tick()
    spec = sent.media()[-1][0]["histograms"]["weights"]
    [rows] = spec["datasets"].values()
    steps = sorted({row["step"] for row in rows})
    assert len(steps) == 30 and steps[0] == 0 and steps[-1] == 199
    assert spec["mark"]["type"] == "rect" and spec["title"] == "weights"
    run.log({"weights": nbtrack.Histogram(rng.normal(0, 1, 500), num_bins=16)}, step=250)
    panel.tick()  # within histogram_every of the last chart: not yet
    assert len(sent.media()) == 1
    panel._media._histograms_at -= panel._media.histogram_every
    panel.tick()
    [rows] = sent.media()[-1][0]["histograms"]["weights"]["datasets"].values()
    assert max(row["step"] for row in rows) == 250
    assert len(panel._media._histograms["weights"]) <= 4 * panel._media.histogram_steps  # bounded
    run.finish()


def test_the_latest_text_and_table_are_previewed(store_dir):
    run = nbtrack.init(name="text")
    panel, sent = make_panel(run)
    run.log({"sample": nbtrack.Text("first"), "preds": nbtrack.Table(columns=["x"], data=[[1]])})
    run.log({"sample": nbtrack.Text(EVIL + "\n" + "y" * 5000),
             "preds": nbtrack.Table(columns=["x", EVIL], data=[[i, float("nan") if i == 1 else EVIL]
                                                               for i in range(30)])})
    panel.tick()
    [(message, _)] = sent.media()
    text = message["texts"]["sample"]
    assert text["step"] == 1 and text["chars"] == 5029 and len(text["text"]) == _media.TEXT_CHARS
    assert text["text"].startswith(EVIL)
    table = message["tables"]["preds"]
    assert table["columns"] == ["x", EVIL] and table["total"] == 30 and len(table["rows"]) == 20
    assert table["rows"][0] == [0, EVIL] and table["rows"][1] == [1, None]
    run.finish()


def test_a_failing_media_display_stops_alone_with_one_warning(store_dir, monkeypatch):
    run = nbtrack.init(name="breaks")
    panel, sent = make_panel(run)

    def broken(self, now):
        raise OSError("disk gone")

    monkeypatch.setattr(_media.LiveMedia, "update", broken)
    run.log({"loss": 1.0, "samples": nbtrack.Image(picture(1))})
    with pytest.warns(nbtrack.NbtrackWarning, match="stopped showing media.*disk gone"):
        assert panel.tick()  # the points still went out
    run.log({"loss": 0.5, "samples": nbtrack.Image(picture(2))})  # the user's loop goes on
    assert panel.tick() and not sent.media() and not panel._media_pending
    assert nbtrack.media(run.id)["step"].tolist() == [0, 1]  # the store has everything
    run.finish()


def test_the_picture_shows_the_media_as_text_never_markup(store_dir):
    run = nbtrack.init(name="pic")
    panel, _ = make_panel(run)
    rng = np.random.default_rng(2)
    for step in range(20):
        run.log({"loss": 1 / (step + 1), "samples": nbtrack.Image(picture(step), caption=EVIL),
                 "weights": nbtrack.Histogram(rng.normal(size=100), num_bins=8),
                 "note": nbtrack.Text(f"{EVIL} at {step}"),
                 "preds": nbtrack.Table(columns=["label", EVIL], data=[[EVIL, step]])})
    run.finish()
    svg = panel.picture()["image/svg+xml"]
    assert svg.count("<image ") == 1 and "data:image/png;base64," in svg
    for title in (">samples · step 19<", ">weights<", ">note · step 19<", ">preds · step 19<", ">loss<"):
        assert title in svg
    assert "&lt;img src=x onerror=alert(1)&gt; at 19" in svg
    assert "<img" not in svg and "onerror=alert(1)>" not in svg
    # No ARIA label per mark (bin, cell, image): those would be most of the picture's size.
    assert not re.search(r'aria-label="[^"]*(base64|step: )', svg.split(">samples · step 19<")[1])


def test_a_picture_with_100_images_stays_small(store_dir):
    run = nbtrack.init(name="hundred")
    panel, _ = make_panel(run)
    rng = np.random.default_rng(3)
    for step in range(100):  # noise does not compress: the worst case for the budget
        run.log({"loss": 1 / (step + 1),
                 "samples": nbtrack.Image(rng.integers(0, 255, (64, 64, 3), dtype=np.uint8))})
    run.log({"grid": [nbtrack.Image(rng.integers(0, 255, (160, 160, 3), dtype=np.uint8))
                      for _ in range(100)]})
    run.finish()
    svg = panel.picture()["image/svg+xml"]
    images = re.findall(r'<image [^>]*href="(data:[^"]+)"', svg)
    assert len(images) == 1 + 8  # the latest step of each key; at most 8 of a list
    assert len(svg) < 120_000, len(svg)
