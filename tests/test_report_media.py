"""The report's media and artifacts sections: images embedded within a byte budget,
histograms over time as chart-module specs, escaped tables and texts, artifact lineage.

Runs log real images, histograms, tables, texts and artifacts into a real store under
tmp_path; the page is parsed. The browser check is in test_report_browser.py.
"""

from __future__ import annotations

import base64
import re
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from test_report import XSS, Page, chart_payloads, external_references, packed_rows

import nbtrack
from nbtrack.charts.media import histogram_data
from nbtrack.errors import NbtrackError
from nbtrack.report import export_report, render_report


def log_media(name: str = XSS, steps: int = 3, table_rows: int = 25) -> str:
    """A run with two images a step, a histogram, a table and a text at each step."""
    run = nbtrack.init(name=name, project="media")
    for step in range(steps):
        run.log({
            "samples": [nbtrack.Image(np.full((6, 10, 3), 20 * step, dtype=np.uint8), caption=XSS),
                        nbtrack.Image(np.eye(6, dtype=np.uint8) * 255)],
            "weights": nbtrack.Histogram(np_histogram=([step, 1, 2], [0.0, 1.0, 2.0, 3.0])),
            "preds": nbtrack.Table(columns=["i", XSS], data=[[i, XSS if i == 0 else f"r{i}"]
                                                             for i in range(table_rows)]),
            "sample": nbtrack.Text(f"step {step}: {XSS}"),
            "loss": 1.0 / (step + 1),
        }, step=step)
    run.finish()
    return run.id


def media_section(text: str) -> str:
    return text[text.index('<section id="media">'):text.index('<section id="details">')]


def test_media_section_embeds_images_and_draws_histograms_tables_texts(store_dir: Path) -> None:
    run_id = log_media()
    text = render_report(runs=[run_id])
    page = Page(text)
    section = media_section(text)
    assert '<a href="#media">Media</a>' in text
    # Images: every one embedded as the stored file's bytes, grouped by step, captions as text.
    sources = re.findall(r'<img src="(data:image/png;base64,[^"]+)"', section)
    assert len(sources) == 6
    stored = nbtrack.media(run_id, "samples")
    first = base64.b64decode(sources[0].split(",", 1)[1])
    assert first == Path(stored["path"].iloc[0]).read_bytes()
    assert re.findall(r'data-step="(\d+)"', section) == ["0", "1", "2"]
    assert section.count("<figcaption>&lt;img src=x onerror=alert(1)&gt;</figcaption>") == 3
    assert "6 of 6 images, from 3 of 3 steps." in section
    # The histogram over time: the shared chart module's heatmap, one row per bin per step.
    payload = next(p for p in chart_payloads(page) if p["spec"]["title"] == "weights")
    assert payload["spec"]["mark"]["type"] == "rect"
    rows = packed_rows(next(iter(payload["datasets"].values())))
    expected = histogram_data(nbtrack.media(run_id), "weights", run_id)
    bins = zip(expected["step"], expected["lo"], expected["count"])
    want = [(int(s), float(lo), float(c)) for s, lo, c in bins]
    assert [(r["step"], r["lo"], r["count"]) for r in rows] == want
    assert {r["step"] for r in rows} == {0, 1, 2}
    # The latest table: first 20 rows, escaped, and how many more there are.
    table = re.search(r'data-key="preds">(.*?)</div>\s*</div>', section, re.S).group(1)
    assert "The table of step 2 (the latest of 3 steps)." in table
    assert table.count("<tr>") == 1 + 20 and "5 more rows" in table
    assert "<th>&lt;img src=x onerror=alert(1)&gt;</th>" in table
    # Texts: the latest few, newest first, escaped.
    samples = re.findall(r"<pre>step (\d): &lt;img src=x onerror=alert\(1\)&gt;</pre>", section)
    assert samples == ["2", "1", "0"]
    # Nothing hostile became markup, and the page still fetches nothing.
    assert "<img src=x" not in text and "onerror=alert(1)>" not in text
    assert external_references(page) == []


def test_images_are_thinned_and_the_page_says_what_was_left_out(store_dir: Path) -> None:
    run = nbtrack.init(name="many", project="media")
    rng = np.random.default_rng(0)
    for step in range(20):
        run.log({"grid": nbtrack.Image(rng.integers(0, 255, (16, 16, 3), dtype=np.uint8))}, step=step)
    run.finish()
    sizes = sorted({Path(p).stat().st_size for p in nbtrack.media(run.id)["path"]})
    text = render_report(runs=[run.id])
    section = media_section(text)
    assert re.findall(r'data-step="(\d+)"', section) == ["0", "3", "5", "8", "11", "14", "16", "19"]
    assert "8 of 20 images, from 8 of 20 steps; <span class=\"left-out\">12 left out</span>." in section
    # A budget of about three images: the first three chosen steps fit, the rest are counted.
    budget = 3 * max(sizes) + min(sizes) // 2
    small = media_section(render_report(runs=[run.id], max_image_bytes=budget))
    shown = len(re.findall(r"<img src=", small))
    assert shown == 3
    assert "3 of 20 images, from 3 of 20 steps" in small
    assert "17 left out, 5 of them over the size budget" in small
    assert "5 images did not fit that budget and are left out." in small
    assert len(text) - len(small) > 5 * min(sizes)
    assert re.findall(r"<img src=", media_section(render_report(runs=[run.id], max_image_bytes=0))) == []
    with pytest.raises(NbtrackError, match="max_image_bytes must be a whole number"):
        render_report(runs=[run.id], max_image_bytes=-1)


def test_runs_without_media_or_artifacts_get_no_such_sections(store_dir: Path) -> None:
    run = nbtrack.init(name="plain", project="media")
    run.log({"loss": 1.0})
    run.finish()
    text = render_report(runs=[run.id])
    assert 'id="media"' not in text and 'id="artifacts"' not in text
    assert 'href="#media"' not in text and 'href="#artifacts"' not in text


def test_artifacts_section_shows_versions_producer_consumers_and_aliases(store_dir: Path,
                                                                         tmp_path: Path) -> None:
    model = tmp_path / "model.bin"
    maker = nbtrack.init(name=XSS, project="art")
    model.write_bytes(b"x" * 10)
    maker.log_artifact(model, type="model")
    model.write_bytes(b"y" * 3000)
    maker.log_artifact(model, type="model", aliases=["best", "<b>prod</b>"])
    maker.log_artifact(pd.DataFrame({"a": [1, 2]}), name="train-set", type="dataset")
    maker.finish()
    users = []
    for name in ("eval-1", "eval-2"):
        user = nbtrack.init(name=name, project="art")
        user.use_artifact("model.bin:best")
        user.finish()
        users.append(user.id)

    text = render_report(runs=[maker.id, *users])
    section = text[text.index('<section id="artifacts">'):text.index('<section id="details">')]
    rows = dict(re.findall(r'<tr data-ref="([^"]+)">(.*?)</tr>', section, re.S))
    assert list(rows) == ["model.bin:v0", "model.bin:v1", "train-set:v0"]
    v1 = rows["model.bin:v1"]
    assert "<td>model</td>" in v1 and "2.9 KB" in v1
    assert '<span class="tag">best</span><span class="tag">&lt;b&gt;prod&lt;/b&gt;</span>' in v1
    assert f'<a href="#run-{maker.id}">&lt;img src=x onerror=alert(1)&gt;</a>' in v1
    consumers = re.search(r'<td class="consumers">(.*?)</td>', v1).group(1)
    assert consumers == f'<a href="#run-{users[0]}">eval-1</a>, <a href="#run-{users[1]}">eval-2</a>'
    assert "10 B" in rows["model.bin:v0"] and "none" in rows["model.bin:v0"]
    assert "reference" in rows["train-set:v0"]
    # Only what the selected runs touched; a producer outside the selection is named, not linked.
    only_user = render_report(runs=[users[0]])
    part = only_user[only_user.index('<section id="artifacts">'):]
    assert re.findall(r'<tr data-ref="([^"]+)">', part) == ["model.bin:v1"]
    assert f"&lt;img src=x onerror=alert(1)&gt; <code>{maker.id}</code>" in part
    assert "<img src=x" not in text + only_user


def test_size_and_time_with_200_images_and_100_histogram_steps(store_dir: Path, tmp_path: Path) -> None:
    rng = np.random.default_rng(1)
    run = nbtrack.init(name="big", project="media")
    for step in range(200):
        values = {"img": nbtrack.Image(rng.integers(0, 255, (64, 64, 3), dtype=np.uint8))}
        if step < 100:
            values["w"] = nbtrack.Histogram(rng.normal(step / 50, 1, 1000), num_bins=64)
        run.log(values, step=step)
    run.finish()
    render_report(runs=[run.id], metrics=[])  # warm: Vega bundle and imports are one-time costs
    started = time.perf_counter()
    path = export_report(tmp_path / "big.html", runs=[run.id])
    took = time.perf_counter() - started
    section = media_section(path.read_text(encoding="utf-8"))
    # Measured here: about 1.1 MB in all (0.9 MB of it Vega), 0.2 MB of media, 0.4 s.
    assert len(section) < 400_000
    assert path.stat().st_size < 1_600_000
    assert took < 15
    assert "8 of 200 images, from 8 of 200 steps" in section
    payload = next(p for p in chart_payloads(Page(section)) if p["spec"]["title"] == "w")
    assert payload["datasets"][next(iter(payload["datasets"]))]["n"] == 60 * 64  # thinned to 60 steps


def test_cli_image_budget_option(store_dir: Path, tmp_path: Path) -> None:
    from test_report import run_cli

    log_media(name="cli-media", steps=2)
    out = run_cli(store_dir, "export-report", "--max-image-mb", "0", "-o", str(tmp_path / "r.html"))
    assert out.returncode == 0, out.stderr
    section = media_section((tmp_path / "r.html").read_text(encoding="utf-8"))
    assert "data:image/png;base64" not in section and "left out" in section
    out = run_cli(store_dir, "export-report", "--max-image-mb", "-1", "-o", str(tmp_path / "s.html"))
    assert out.returncode == 1 and "--max-image-mb must be 0 or more" in out.stderr
