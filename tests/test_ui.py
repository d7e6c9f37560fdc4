"""What a person sees: the live panel in a real JupyterLab, in headless Chromium.

Runs the Galata/Playwright tests in ``ui-tests/`` (Debian's chromium, no browser
download). Needs node, ``/usr/bin/chromium`` (or ``CHROMIUM_PATH``) and the test
runner's packages (``cd ui-tests && PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1 jlpm install``);
``.ci/run`` installs all three and sets ``NBTRACK_REQUIRE_BROWSER=1``, so there a
missing piece fails the test instead of skipping it. Screenshots land in
``ui-tests/test-results/``.
"""

from __future__ import annotations

import shutil
import sys
import time
from pathlib import Path

import pytest
from helpers import UI, browser_missing, run_playwright, skip_or_fail


def _missing() -> str | None:
    reason = browser_missing()
    if reason:
        return reason
    for module in ("jupyterlab", "anywidget", "ipywidgets"):
        if not _importable(module):
            return f"{module} is not installed in this environment"
    if shutil.which("jupyter-lab", path=str(Path(sys.executable).parent)) is None:
        return "jupyter-lab is not installed next to this Python"
    return None


def _importable(module: str) -> bool:
    import importlib.util

    return importlib.util.find_spec(module) is not None


@pytest.mark.slow
@pytest.mark.timeout(900)
def test_jupyterlab_shows_the_live_panel_updating_while_the_cell_runs():
    skip_or_fail(_missing(), "the UI test")
    started = time.time()
    returncode, report = run_playwright("tests/live-panel.spec.ts", "tests/compare.spec.ts")
    assert returncode == 0, report[-6000:]
    shots = sorted(p.name for p in (UI / "test-results").rglob("live-panel-*.png"))
    assert shots == ["live-panel-finished.png", "live-panel-relative-light.png", "live-panel-running.png",
                     "live-panel-smoothed-dark.png", "live-panel-smoothed-light.png"], report[-3000:]
    assert (UI.parent / "tests" / "artifacts" / "compare.png").exists(), report[-3000:]
    # The widgets' still pictures, as JupyterLab shows them after save, close and reopen.
    for name in ("compare-reopened.png", "compare-reopened-dark.png", "launcher-reopened.png"):
        shot = UI.parent / "tests" / "artifacts" / name
        assert shot.exists() and shot.stat().st_mtime >= started, name
