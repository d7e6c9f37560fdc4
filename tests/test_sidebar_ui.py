"""The JupyterLab sidebar in a real JupyterLab, in headless Chromium (Galata/Playwright).

Runs ``ui-tests/tests/sidebar.spec.ts``: a notebook logs two runs with ``%%track``, the
panel lists them, both get selected, and the overlaid curves and the config diff show;
a run named with markup renders as text. A second spec selects a run that logged images
and a histogram: the latest step's image loads (natural width > 0), the step slider walks
back, and the histogram-over-time chart draws. A third lists a run in each of the six
statuses and filters by two of them, in the light and the dark theme. The pictures land in
tests/artifacts/ (sidebar.png, sidebar-media.png, sidebar-statuses-light/dark.png).
``ui-tests/tests/first-time.spec.ts`` walks a first-time user's path (issue 18): the demo's
runs at the sidebar's default width, a report in a new tab, Open at a closed notebook's
cell, the compare table and the live panel's picture in the light and the dark theme
(tests/artifacts/first-time-*.png). ``ui-tests/tests/workspace.spec.ts`` opens the runs
workspace from the sidebar and from ``nbtrack.workspace()`` in a cell: chart sections,
two runs overlaid in their swatch colours, their config diff, a sweep's parallel
coordinates, light and dark (tests/artifacts/workspace-light.png, workspace-dark.png).

Needs node, ``/usr/bin/chromium`` (or ``CHROMIUM_PATH``), ui-tests' node_modules, and
the built labextension and server extension installed where this Python's Jupyter looks
(``pip install -e .`` does both). Skips without them, unless ``NBTRACK_REQUIRE_BROWSER=1``
(CI), where it fails instead.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
from helpers import browser_missing, run_playwright, skip_or_fail

ROOT = Path(__file__).resolve().parent.parent
SPEC = "tests/sidebar.spec.ts"
SHOT = ROOT / "tests" / "artifacts" / "sidebar.png"


def _jupyter(*args: str) -> str:
    exe = Path(sys.executable).parent / "jupyter"
    proc = subprocess.run([str(exe), *args], capture_output=True, text=True, timeout=120,
                          env={**os.environ, "JUPYTER_PATH": str(Path(sys.prefix) / "share" / "jupyter")})
    return proc.stdout + proc.stderr


def _missing() -> str | None:
    reason = browser_missing()
    if reason:
        return reason
    if not (Path(sys.executable).parent / "jupyter-lab").exists():
        return "jupyter-lab is not installed next to this Python"
    labextensions = _jupyter("labextension", "list")
    if not any(line.split()[:1] == ["nbtrack"] and "enabled" in line and "OK" in line
               for line in labextensions.splitlines()):
        return ("the nbtrack labextension is not installed: pip install -e . "
                "(or: cd labextension && jlpm build)")
    if "nbtrack.server" not in _jupyter("server", "extension", "list"):
        return "the nbtrack.server extension is not enabled: pip install -e ."
    return None


@pytest.mark.slow
@pytest.mark.timeout(900)
def test_sidebar_shows_runs_overlay_and_diff_in_jupyterlab():
    skip_or_fail(_missing(), "the sidebar UI test")
    started = time.time()
    returncode, report = run_playwright(SPEC)
    assert returncode == 0, report[-6000:]
    assert SHOT.exists() and SHOT.stat().st_mtime >= started - 1, report[-3000:]


@pytest.mark.slow
@pytest.mark.timeout(900)
def test_a_first_time_user_sees_the_demo_opens_a_report_and_jumps_to_a_cell():
    """``ui-tests/tests/first-time.spec.ts``: the demo's runs in the sidebar at its default
    width, a report in a new tab, Open at a closed notebook's cell, and the dark theme."""
    skip_or_fail(_missing(), "the first-time UI test")
    started = time.time()
    returncode, report = run_playwright("tests/first-time.spec.ts")
    assert returncode == 0, report[-6000:]
    for name in ("first-time-sidebar-light.png", "first-time-sidebar-dark.png", "first-time-report-tab.png",
                 "first-time-open-at-cell.png", "first-time-picture-dark.png"):
        shot = ROOT / "tests" / "artifacts" / name
        assert shot.exists() and shot.stat().st_mtime >= started - 1, name


@pytest.mark.slow
@pytest.mark.timeout(900)
def test_the_sidebar_reads_the_team_store_the_kernels_log_to(pg_url, monkeypatch):
    """``ui-tests/tests/team-store.spec.ts``: Lab started with NBTRACK_STORE=postgresql://...;
    a %%track cell logs to the database and the sidebar lists it beside a teammate's run."""
    skip_or_fail(_missing(), "the team store UI test")
    url = pg_url.replace("postgres@", "postgres:hidden-password@")
    import nbtrack

    with nbtrack.init(name="teammate's run", dir=url) as run:
        for step in range(30):
            run.log({"loss": 1 / (1 + 0.2 * step)})
    monkeypatch.setenv("NBTRACK_STORE", url)
    monkeypatch.setenv("NBTRACK_UI_TEAM_SHOWN", url.replace("hidden-password", "***"))
    started = time.time()
    returncode, report = run_playwright("tests/team-store.spec.ts")
    assert returncode == 0, report[-6000:]
    for name in ("team-store-light.png", "team-store-dark.png"):
        shot = ROOT / "tests" / "artifacts" / name
        assert shot.exists() and shot.stat().st_mtime >= started - 1, name


@pytest.mark.slow
@pytest.mark.timeout(900)
def test_the_runs_workspace_opens_from_the_sidebar_and_from_a_notebook():
    """``ui-tests/tests/workspace.spec.ts``: sections, overlay, diff, sweep, dark theme; the tab
    back after a reload, its charts fitting again after a splitter drag, parallel coordinates
    readable on the dark theme."""
    skip_or_fail(_missing(), "the workspace UI test")
    started = time.time()
    returncode, report = run_playwright("tests/workspace.spec.ts")
    assert returncode == 0, report[-6000:]
    for name in ("workspace-light.png", "workspace-dark.png", "workspace-splitter-light.png",
                 "workspace-parallel-dark.png", "workspace-parallel-light.png"):
        shot = ROOT / "tests" / "artifacts" / name
        assert shot.exists() and shot.stat().st_mtime >= started - 1, name
