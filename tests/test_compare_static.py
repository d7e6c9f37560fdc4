"""The compare widget and the sweep launcher leave a still picture in the saved notebook.

A real kernel (nbclient) runs a notebook that shows ``nbtrack.compare()`` with two runs
selected and a finished ``nbtrack.sweep_launcher()``; the saved .ipynb holds, beside each
widget view, ``text/html`` with the runs table (a colour swatch per run, the run's own
colour) and the charts as PNG data URIs, and nothing that points outside the page.
``jupyter nbconvert --to html`` of the notebook as JupyterLab saves it (no widget state)
shows those pictures.
"""

from __future__ import annotations

import base64
import re
import subprocess
import sys

import pytest
from helpers import execute_notebook

nbformat = pytest.importorskip("nbformat")
pytest.importorskip("nbclient")
pytest.importorskip("anywidget")

WIDGET_VIEW = "application/vnd.jupyter.widget-view+json"
SETUP = (
    "import math\n"
    "import nbtrack\n"
    "for i, lr in enumerate([0.1, 0.03, 0.01]):\n"
    "    run = nbtrack.init(name=f'still-{i}', project='still', config={'lr': lr})\n"
    "    for step in range(60):\n"
    "        run.log({'loss': math.exp(-lr * step), 'val/acc': 1 - math.exp(-lr * step),\n"
    "                 'train/loss': math.exp(-lr * step) + 0.1})\n"
    "    run.finish()\n"
)
COMPARE = "w = nbtrack.compare(project='still', start=False)\nw\n"
# Ticking two runs in a later cell redraws the picture under the widget, in a while.
SELECT = (
    "import time\n"
    "w.selected = [r['id'] for r in w.rows if r['name'] in ('still-0', 'still-2')]\n"
    "time.sleep(w._still.every + 3)\n"
)
LAUNCHER = (
    "def train(config):\n"
    "    nbtrack.log({'loss': (math.log10(config.lr) + 2) ** 2})\n"
    "launcher = nbtrack.sweep_launcher(train, {'method': 'grid', 'metric': {'name': 'loss'},\n"
    "    'parameters': {'lr': {'values': [0.001, 0.01, 0.1]}}}, project='still-sweep')\n"
    "display(launcher)\n"
    "launcher.launch()\n"
    "launcher.wait(120)\n"
)
URL = re.compile(r"""(?:src|href)\s*=\s*['"]?(?!data:|#)[^'">\s]+|https?://|//cdn""", re.I)


@pytest.fixture(scope="module")
def saved(tmp_path_factory):
    folder = tmp_path_factory.mktemp("still")
    nb = execute_notebook([SETUP, COMPARE, SELECT, LAUNCHER], folder, timeout=240)
    path = folder / "still.ipynb"
    nbformat.write(nb, path)
    return path


def shown(nb, start: str) -> dict:
    """The still picture's bundle: the output right after the widget view."""
    cell = next(c for c in nb.cells if c.source.startswith(start))
    errors = [o for o in cell.outputs if o.get("output_type") == "error"]
    assert not errors, errors
    kinds = [sorted(o.get("data", {})) for o in cell.outputs]
    at = next(i for i, o in enumerate(cell.outputs) if WIDGET_VIEW in o.get("data", {}))
    assert kinds[at + 1] == ["text/html", "text/plain"], kinds
    return cell.outputs[at + 1]["data"]


def pngs(html: str) -> list[bytes]:
    return [base64.b64decode(b) for b in re.findall(r"src='data:image/png;base64,([^']+)'", html)]


@pytest.mark.slow
def test_the_saved_compare_output_holds_the_table_with_swatches_and_the_charts(saved):
    import nbtrack

    nb = nbformat.read(saved, as_version=4)
    data = shown(nb, "w = nbtrack.compare")
    html = data["text/html"]
    assert "nbtrack compare</b> · 3 runs · 2 selected" in html
    rows = re.findall(r"<tr data-run='(\w+)' style='([^']*)'>(.*?)</tr>", html)
    names = [re.search(r"</span>([^<]+)</td>", r[2]).group(1) for r in rows]
    assert names == ["still-2", "still-1", "still-0"]
    chosen = {name for name, r in zip(names, rows) if "✓" in r[2]}
    assert chosen == {"still-0", "still-2"}
    # Each run's swatch is the colour every other view gives it.
    nbtrack.settings(dir=str(saved.parent / ".nbtrack"))
    colors = nbtrack.charts.project_run_colors([r[0] for r in rows])
    swatches = [re.search(r"background:(#[0-9a-f]{6})", r[2]).group(1) for r in rows]
    assert swatches == [colors[r[0]] for r in rows] and len(set(swatches)) == 3
    images = pngs(html)
    assert len(images) == 1 and images[0].startswith(b"\x89PNG")
    assert len(images[0]) > 10_000  # curves of three sections, not an empty frame
    assert not URL.search(html), URL.search(html)
    assert "3 runs" in data["text/plain"]


@pytest.mark.slow
def test_the_saved_launcher_output_holds_the_trials_and_the_sweep_charts(saved):
    nb = nbformat.read(saved, as_version=4)
    data = shown(nb, "def train")
    html = data["text/html"]
    assert "nbtrack sweep launcher</b> · grid · loss (minimize)" in html
    assert html.count("<tr data-status='finished'") == 3
    titles = re.findall(r"<h4>([^<]+)</h4><img", html)
    assert titles == ["best so far", "parameter importance", "parallel coordinates"]
    assert all(png.startswith(b"\x89PNG") for png in pngs(html)) and len(pngs(html)) == 3
    assert not URL.search(html), URL.search(html)


@pytest.mark.slow
def test_nbconvert_html_of_the_notebook_as_lab_saves_it_shows_both_pictures(saved, tmp_path):
    nb = nbformat.read(saved, as_version=4)
    nb.metadata.pop("widgets", None)  # JupyterLab saves no widget state unless asked to
    plain = tmp_path / "plain.ipynb"
    nbformat.write(nb, plain)
    subprocess.run([sys.executable, "-m", "jupyter", "nbconvert", "--to", "html", str(plain),
                    "--output-dir", str(tmp_path)], check=True, capture_output=True, timeout=120)
    page = (tmp_path / "plain.html").read_text(encoding="utf-8")
    assert "nbtrack compare</b> · 3 runs · 2 selected" in page
    assert "nbtrack sweep launcher</b>" in page
    body = page.split("<body", 1)[1]
    assert len(re.findall(r'<img alt="[^"]*" src="data:image/png;base64,', body)) == 4
    assert "Error displaying widget" not in body and f'type="{WIDGET_VIEW}"' not in body
