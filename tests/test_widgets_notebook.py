"""A notebook run on a real kernel (nbclient) keeps a static picture of its live panels.

The saved .ipynb holds the final charts as SVG and no widget view, stays small for a
10k-step run and for a run that logged 100 images, and ``jupyter nbconvert --to html``
of it shows the SVG.
"""

from __future__ import annotations

import base64
import json
import re
import struct
import subprocess
import sys

import pytest
from helpers import execute_notebook

import nbtrack

nbformat = pytest.importorskip("nbformat")
nbclient = pytest.importorskip("nbclient")
pytest.importorskip("anywidget")

WIDGET_VIEW = "application/vnd.jupyter.widget-view+json"
TRAIN = (
    "%%track long-run\n"
    "for step in range(10_000):\n"
    "    nbtrack.log({'loss': math.exp(-step / 2000), 'acc': 1 - math.exp(-step / 3000),\n"
    "                 'lr': 0.1 * 0.9999**step, 'grad_norm': 1 + (step % 7) / 7})\n"
    "    if step % 2500 == 0:\n"
    "        time.sleep(0.3)\n"
)
MEDIA = (
    "%%track media-run\n"
    "import numpy as np\n"
    "rng = np.random.default_rng(0)\n"
    "for step in range(100):  # noise: images that do not compress\n"
    "    nbtrack.log({'loss': 1 / (step + 1), 'weights': nbtrack.Histogram(rng.normal(step / 50, 1, 1000)),\n"
    "                 'samples': nbtrack.Image(rng.integers(0, 255, (64, 64, 3), dtype=np.uint8),\n"
    "                                          caption=f'<b>{step}</b>')})\n"
)
FAILS = (
    "%%track crash\n"
    "for step in range(100):\n"
    "    nbtrack.log({'loss': 1 / (step + 1)})\n"
    "    if step == 60:\n"
    "        raise ValueError('diverged')\n"
)


@pytest.fixture(scope="module")
def executed(tmp_path_factory):
    """The notebook after a real kernel ran it and it was saved to disk."""
    folder = tmp_path_factory.mktemp("notebook")
    nb = execute_notebook(["%load_ext nbtrack\nimport math, time\nimport nbtrack", TRAIN, MEDIA, FAILS],
                          folder, timeout=300)
    path = folder / "live.ipynb"
    nbformat.write(nb, path)
    return path


def outputs_of(nb, start: str) -> list:
    cell = next(c for c in nb.cells if c.source.startswith(start))
    return list(cell.outputs)


@pytest.mark.slow
def test_the_saved_notebook_shows_the_final_charts_and_no_widget(executed):
    nb = nbformat.read(executed, as_version=4)
    outputs = outputs_of(nb, "%%track long-run")
    pictures = [o for o in outputs if "image/svg+xml" in o.get("data", {})]
    assert len(pictures) == 1, outputs
    data = pictures[0]["data"]
    assert set(data) == {"image/svg+xml", "image/png", "text/plain"}
    svg = data["image/svg+xml"]
    assert svg.startswith("<svg") and "long-run — finished" in svg
    # The same picture as PNG, which an untrusted notebook in JupyterLab shows instead
    png = base64.b64decode(data["image/png"])
    size = re.search(r'<svg[^>]* width="(\d+)" height="(\d+)"', svg)
    assert png[:8] == b"\x89PNG\r\n\x1a\n" and size is not None
    assert struct.unpack(">II", png[16:24]) == (int(size.group(1)), int(size.group(2)))
    for metric in ("loss", "acc", "lr", "grad_norm"):
        assert f">{metric}<" in svg
    assert "step 9,999" in data["text/plain"]
    assert not any(WIDGET_VIEW in o.get("data", {}) for c in nb.cells for o in c.get("outputs", []))
    # The store keeps every point; only the picture is downsampled.
    store = executed.parent / ".nbtrack"
    assert len(nbtrack.history("long-run", "loss", store=store)) == 10_000


@pytest.mark.slow
def test_the_picture_of_a_run_with_100_images_shows_the_latest_and_stays_small(executed):
    nb = nbformat.read(executed, as_version=4)
    outputs = outputs_of(nb, "%%track media-run")
    [picture] = [o for o in outputs if "image/svg+xml" in o.get("data", {})]
    svg = picture["data"]["image/svg+xml"]
    assert svg.count("<image ") == 1 and ">samples · step 99<" in svg and ">weights<" in svg
    assert "&lt;b&gt;99&lt;/b&gt;" in svg and "<b>" not in svg  # the caption, as text
    # One image, not a hundred: the SVG (the image inline, the histograms) and the PNG of the
    # same picture for untrusted notebooks (measured 87 kB and 24-33 kB)
    assert len(svg) < 100_000, len(svg)
    assert len(picture["data"]["image/png"]) < 45_000, len(picture["data"]["image/png"])
    assert len(json.dumps(outputs)) < 145_000, len(json.dumps(outputs))
    assert len(nbtrack.media("media-run", "samples", store=executed.parent / ".nbtrack")) == 100


@pytest.mark.slow
def test_a_failed_cell_leaves_a_picture_that_says_so(executed):
    nb = nbformat.read(executed, as_version=4)
    outputs = outputs_of(nb, "%%track crash")
    assert any(o.output_type == "error" and o.ename == "ValueError" for o in outputs)
    picture = next(o for o in outputs if "image/svg+xml" in o.get("data", {}))
    assert "crash — failed" in picture["data"]["text/plain"]
    assert "ValueError: diverged" in picture["data"]["image/svg+xml"]


@pytest.mark.slow
def test_the_saved_notebook_stays_small(executed):
    size = executed.stat().st_size
    nb = json.loads(executed.read_text())
    widget_state = len(json.dumps(nb["metadata"].get("widgets", {})))
    # nbclient saves the last state of every widget it saw; a closed panel leaves little.
    assert widget_state < 8_000, widget_state
    assert size < 300_000, size  # a 10k-step run, a run with 100 images (measured 212 kB), a failed run


@pytest.mark.slow
def test_nbconvert_html_contains_the_svg(executed, tmp_path):
    subprocess.run(
        [sys.executable, "-m", "jupyter", "nbconvert", "--to", "html", str(executed),
         "--output-dir", str(tmp_path)], check=True, capture_output=True, timeout=180,
    )
    html = (tmp_path / "live.html").read_text()
    # nbconvert inlines each SVG output as a base64 data URI in an <img>.
    svgs = [base64.b64decode(data).decode() for data in
            re.findall(r'<img[^>]* src="data:image/svg\+xml;base64,([^"]+)"', html)]
    assert any("long-run — finished" in svg for svg in svgs)
    assert any("crash — failed" in svg for svg in svgs)
