"""tqdm progress bars keep working inside a ``%%track`` cell on a real kernel (nbclient)."""

from __future__ import annotations

import re

import pytest
from helpers import execute_notebook

import nbtrack

nbformat = pytest.importorskip("nbformat")
nbclient = pytest.importorskip("nbclient")
pytest.importorskip("tqdm", reason="tqdm is not installed (pip install tqdm)")

N = 40
WIDGET_VIEW = "application/vnd.jupyter.widget-view+json"
CELLS = (
    "%load_ext nbtrack\nimport nbtrack\nfrom tqdm.auto import tqdm as auto_tqdm\nfrom tqdm import tqdm",
    f"%%track auto-bar\nfor step in auto_tqdm(range({N}), desc='auto'):\n"
    "    nbtrack.log({'loss': 1 / (step + 1)})\n",
    f"%%track text-bar\nfor step in tqdm(range({N}), desc='text', mininterval=0):\n"
    "    nbtrack.log({'loss': 1 / (step + 1)})\n",
)


@pytest.fixture(scope="module")
def executed(tmp_path_factory):
    folder = tmp_path_factory.mktemp("tqdm")
    nb = execute_notebook(CELLS, folder)
    return nb, folder / ".nbtrack"


def outputs_of(nb, start: str) -> list:
    return list(next(c for c in nb.cells if c.source.startswith(start)).outputs)


def test_tqdm_auto_shows_a_complete_widget_bar_and_the_run_has_every_point(executed):
    nb, store = executed
    outputs = outputs_of(nb, "%%track auto-bar")
    assert not [o for o in outputs if o.output_type == "error"], outputs
    views = [o["data"][WIDGET_VIEW]["model_id"] for o in outputs if WIDGET_VIEW in o.get("data", {})]
    state = nb.metadata["widgets"]["application/vnd.jupyter.widget-state+json"]["state"]
    bars = [state[m]["state"] for m in state if state[m]["model_name"] == "FloatProgressModel"]
    done = [b for b in bars if b["value"] == N and b["max"] == N]
    assert done, bars
    labels = [s["state"].get("value", "") for s in state.values() if s["model_name"] == "HTMLModel"]
    assert any(f"{N}/{N}" in label for label in labels), labels
    assert views, outputs  # the bar's box is shown in the cell
    history = nbtrack.history("auto-bar", "loss", store=store)
    assert list(history["step"]) == list(range(N))
    assert nbtrack.run_record("auto-bar", store=store)["status"] == "finished"


def test_plain_tqdm_writes_a_complete_text_bar(executed):
    nb, store = executed
    outputs = outputs_of(nb, "%%track text-bar")
    text = "".join(o.get("text", "") for o in outputs if o.output_type == "stream" and o.name == "stderr")
    assert re.search(rf"text: 100%\|[^|]*\| {N}/{N}", text), text
    assert len(nbtrack.history("text-bar", "loss", store=store)) == N
    assert nbtrack.run_record("text-bar", store=store)["status"] == "finished"
