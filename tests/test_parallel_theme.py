"""Parallel coordinates readable on JupyterLab's dark theme as well as on a white page.

The chart names its parts by mark style (``parallel-axis``, ``-tick``, ``-label``, ``-line``)
and keeps colours for a white page; the sidebar and workspace recolour the named parts with
their theme (``themeSpec`` in labextension/src/theme.ts, tested by jest on the spec this
file writes to labextension/test/fixtures/parallel.vl.json, and in Galata on a dark page).
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from nbtrack.charts.params import parallel_coordinates

FIXTURE = Path(__file__).resolve().parent.parent / "labextension" / "test" / "fixtures" / "parallel.vl.json"
STYLES = {"parallel-axis": "rule", "parallel-tick": "tick", "parallel-label": "text", "parallel-line": "line"}


def sweep_frame() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "id": ["a", "b", "c", "d"],
            "name": ["trial-0", "trial-1", "trial-2", "trial-3"],
            "config.lr": [0.001, 0.01, 0.1, 0.3],
            "config.opt": ["sgd", "adam", "sgd", "adam"],
            "summary.loss": [1.0, 0.5, 0.2, 0.9],
        }
    )


def spec() -> dict[str, Any]:
    drawn: dict[str, Any] = parallel_coordinates(sweep_frame(), ["lr", "opt"], "loss").to_dict()
    return drawn


def test_every_part_of_parallel_coordinates_is_named_for_the_theme() -> None:
    layers = spec()["layer"]
    assert {layer["mark"].get("style"): layer["mark"]["type"] for layer in layers} == STYLES
    assert "config" not in spec() or "style" not in spec()["config"]  # concatenates: no config


def test_on_a_white_page_the_axes_are_grey_and_the_lines_viridis() -> None:
    vl_convert = pytest.importorskip("vl_convert")
    svg = vl_convert.vegalite_to_svg(spec())
    assert 'stroke="#bbb"' in svg and 'fill="#666"' in svg  # axes and their labels
    assert "rgb(68, 1, 84)" in svg  # the worst run: viridis' darkest


def test_the_fixture_jest_themes_is_the_chart_nbtrack_draws_now() -> None:
    """jest (labextension/test/theme.test.ts) recolours this spec for the dark theme."""
    drawn = json.loads(json.dumps(spec(), default=str))
    drawn.pop("$schema", None)
    current = json.dumps(drawn, indent=1, sort_keys=True) + "\n"
    if not FIXTURE.exists() or FIXTURE.read_text() != current:
        FIXTURE.write_text(current)
        pytest.fail(f"{FIXTURE.name} was out of date and is written again: run jest, commit it")
    assert re.search(r'"style": "parallel-line"', current)


def test_the_live_gauges_name_the_parts_the_dark_theme_recolours() -> None:
    """The live panel's machine gauges: their track, peak tick and reading are recoloured on
    a dark page by the styles jest checks (labextension/test/theme.test.ts)."""
    from nbtrack.charts.system import gauges_chart

    rows = [{"gauge": "CPU", "order": 0, "fraction": 0.5, "peak": 0.6, "text": "50 %"}]
    marks = [layer["mark"] for layer in gauges_chart(rows).to_dict()["layer"]]
    assert {m.get("style"): m["type"] for m in marks if m.get("style")} == {
        "gauge-track": "bar", "gauge-peak": "tick", "gauge-text": "text"}
