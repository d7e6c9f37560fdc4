"""Box zoom on nbtrack's charts in a real JupyterLab (issue 18: drag-to-zoom with reset).

Runs ``ui-tests/tests/zoom.spec.ts``: on the runs workspace's loss chart a drag shows a grey
band and zooms the x axis to the dragged steps, a two-pixel drag does not, the crosshair
tooltip still lists the runs, shift+drag pans and a double-click resets; light and dark. Drawn
again (the other theme, a run that keeps logging) the chart stays zoomed. The compare
widget's charts (the widgets' own Vega library) zoom the same way.
Screenshots: tests/artifacts/chart-zoom-dragging-{light,dark}.png, chart-zoom-zoomed-*.png.
The zoom itself (``labextension/src/zoom.ts``) is unit-tested by jest (test/zoom.test.ts).
"""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from helpers import run_playwright, skip_or_fail
from test_sidebar_ui import _missing

ARTIFACTS = Path(__file__).resolve().parent / "artifacts"


@pytest.mark.slow
@pytest.mark.timeout(900)
def test_a_drag_zooms_a_chart_to_the_dragged_range_and_a_double_click_resets() -> None:
    skip_or_fail(_missing(), "the chart zoom UI test")
    started = time.time()
    returncode, report = run_playwright("tests/zoom.spec.ts")
    assert returncode == 0, report[-6000:]
    for stage in ("dragging", "zoomed"):
        for theme in ("light", "dark"):
            shot = ARTIFACTS / f"chart-zoom-{stage}-{theme}.png"
            assert shot.exists() and shot.stat().st_mtime >= started - 1, shot.name
