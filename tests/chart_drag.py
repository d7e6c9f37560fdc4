"""Box zoom on a drawn chart, as a person does it, in Playwright's sync API.

Shared by the tests of charts returned to a notebook (tests/test_offline_charts.py) and of the
report (tests/test_report_browser.py): the same checks as ``ui-tests/tests/zoom.spec.ts``
makes on the sidebar's charts. A drag from 30% to 60% of the plot shows a grey band while the
button is down; on release the x axis spans about the dragged range; a double-click gives
the full range back.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

_RANGE = re.compile(r"values from (-?[\d.,e+-]+) to (-?[\d.,e+-]+)")


def x_range(chart: Any) -> tuple[float, float]:
    """The x axis' domain of ``chart`` (a locator around its SVG), from Vega's own description."""
    label = chart.locator('svg g.role-axis[aria-label^="X-axis"]').first.get_attribute("aria-label") or ""
    found = _RANGE.search(label)
    assert found, label
    return float(found[1].replace(",", "")), float(found[2].replace(",", ""))


def steady_box(plot: Any) -> dict[str, float]:
    """Where ``plot`` is once the page has stopped moving it (outputs above it still drawing)."""
    last = plot.bounding_box()
    for _ in range(40):
        time.sleep(0.25)
        now = plot.bounding_box()
        if now is not None and now == last:
            return dict(now)
        last = now
    raise AssertionError("the chart kept moving")


def drag(page: Any, plot: dict[str, float], x0: float, x1: float,
         during: Callable[[], None] | None = None) -> None:
    """Drag from ``x0`` to ``x1`` (fractions of the plot's width), half-way down."""
    y = plot["y"] + plot["height"] * 0.5
    page.mouse.move(plot["x"] + plot["width"] * x0, y)
    page.mouse.down()
    page.mouse.move(plot["x"] + plot["width"] * x1, y, steps=12)
    if during is not None:
        during()
    page.mouse.up()


def wait_for_range(chart: Any, changed_from: tuple[float, float], timeout: float = 5) -> tuple[float, float]:
    """The x range of ``chart`` once it differs from ``changed_from`` (fails after ``timeout``)."""
    deadline = time.monotonic() + timeout
    now = x_range(chart)
    while now == changed_from and time.monotonic() < deadline:
        time.sleep(0.1)
        now = x_range(chart)
    return now


def check_box_zoom(page: Any, chart: Any, shot: Path | None = None) -> dict[str, Any]:
    """Drag-zoom ``chart`` and double-click it back, asserting what a person sees at each step.

    ``shot``: a screenshot of the page with the band mid-drag. Returns the full and zoomed
    ranges.
    """
    plot = steady_box(chart.locator("svg .role-frame path.background").first)
    assert plot["width"] > 200, plot
    full = x_range(chart)
    span = full[1] - full[0]
    assert span > 0, full

    # A click is no drag: the chart stays as it was.
    drag(page, plot, 0.5, 0.5 + 2 / plot["width"])
    assert x_range(chart) == full

    band: dict[str, Any] = {}

    def look() -> None:
        box = chart.locator('svg g[class*="_brush"] path, svg g[class*="_brush"] rect').first.bounding_box()
        band["box"] = box
        if shot is not None:
            page.screenshot(path=str(shot))

    drag(page, plot, 0.3, 0.6, during=look)
    box = band["box"]
    assert box is not None, "no band while dragging"
    assert box["width"] > plot["width"] * 0.25 and box["x"] > plot["x"] + plot["width"] * 0.28, (box, plot)
    zoomed = wait_for_range(chart, full)
    tolerance = span * 0.03
    assert abs(zoomed[0] - (full[0] + 0.3 * span)) <= tolerance, (zoomed, full)
    assert abs(zoomed[1] - (full[0] + 0.6 * span)) <= tolerance, (zoomed, full)
    # Released, the band is gone.
    assert chart.locator('svg g[class*="_brush"] path[fill-opacity="0.25"]').count() == 0

    page.mouse.dblclick(plot["x"] + plot["width"] * 0.5, plot["y"] + plot["height"] * 0.5)
    assert wait_for_range(chart, zoomed) == full
    return {"full": full, "zoomed": zoomed}
