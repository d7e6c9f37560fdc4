"""What a person sees: the live panel in a real JupyterLab, in headless Chromium.

Runs the Galata/Playwright tests in ``ui-tests/`` (Debian's chromium, no browser
download). Needs node, ``/usr/bin/chromium`` (or ``CHROMIUM_PATH``) and the test
runner's packages (``cd ui-tests && PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1 jlpm install``);
``.ci/run`` installs all three and sets ``NBTRACK_REQUIRE_BROWSER=1``, so there a
missing piece fails the test instead of skipping it. Screenshots land in
``ui-tests/test-results/``.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
from pathlib import Path

import pytest

UI = Path(__file__).resolve().parent.parent / "ui-tests"


def _missing() -> str | None:
    if shutil.which("node") is None:
        return "node is not installed (CI installs it; see .ci/run)"
    chromium = os.environ.get("CHROMIUM_PATH", "/usr/bin/chromium")
    if not os.access(chromium, os.X_OK):
        return f"no chromium at {chromium} (apt-get install chromium, or set CHROMIUM_PATH)"
    if not (UI / "node_modules" / ".bin" / "playwright").exists():
        return "ui-tests has no node_modules: cd ui-tests && PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1 jlpm install"
    for module in ("jupyterlab", "anywidget", "ipywidgets"):
        if not _importable(module):
            return f"{module} is not installed in this environment"
    if shutil.which("jupyter-lab", path=str(Path(sys.executable).parent)) is None:
        return "jupyter-lab is not installed next to this Python"
    return None


def _importable(module: str) -> bool:
    import importlib.util

    return importlib.util.find_spec(module) is not None


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.mark.slow
@pytest.mark.timeout(900)
def test_jupyterlab_shows_the_live_panel_updating_while_the_cell_runs():
    reason = _missing()
    if reason:
        if os.environ.get("NBTRACK_REQUIRE_BROWSER") == "1":  # CI installs all of it
            pytest.fail(f"the UI test cannot run: {reason}")
        pytest.skip(reason)
    venv_bin = str(Path(sys.executable).parent)
    env = {key: value for key, value in os.environ.items() if key != "NBTRACK_DIR"}
    env.update({
        "PATH": venv_bin + os.pathsep + env.get("PATH", ""),
        "JUPYTER_PATH": str(Path(sys.prefix) / "share" / "jupyter"),
        "PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD": "1",
        "NBTRACK_UI_PORT": str(_free_port()),
    })
    proc = subprocess.run(
        [str(UI / "node_modules" / ".bin" / "playwright"), "test", "tests/live-panel.spec.ts",
         "tests/compare.spec.ts"], cwd=UI, env=env,
        capture_output=True, text=True, timeout=800,
    )
    report = "\n".join(line for line in (proc.stdout + proc.stderr).splitlines()
                       if not line.startswith("[WebServer]"))
    assert proc.returncode == 0, report[-6000:]
    shots = sorted(p.name for p in (UI / "test-results").rglob("live-panel-*.png"))
    assert shots == ["live-panel-finished.png", "live-panel-running.png"], report[-3000:]
    assert (UI.parent / "tests" / "artifacts" / "compare.png").exists(), report[-3000:]
