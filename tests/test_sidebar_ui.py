"""The JupyterLab sidebar in a real JupyterLab, in headless Chromium (Galata/Playwright).

Runs ``ui-tests/tests/sidebar.spec.ts``: a notebook logs two runs with ``%%track``, the
panel lists them, both get selected, and the overlaid curves and the config diff show;
a run named with markup renders as text. The picture lands in tests/artifacts/sidebar.png.

Needs node, ``/usr/bin/chromium`` (or ``CHROMIUM_PATH``), ui-tests' node_modules, and
the built labextension and server extension installed where this Python's Jupyter looks
(``pip install -e .`` does both). Skips without them, unless ``NBTRACK_REQUIRE_BROWSER=1``
(CI), where it fails instead.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
UI = ROOT / "ui-tests"
SPEC = "tests/sidebar.spec.ts"
SHOT = ROOT / "tests" / "artifacts" / "sidebar.png"


def _jupyter(*args: str) -> str:
    exe = Path(sys.executable).parent / "jupyter"
    proc = subprocess.run([str(exe), *args], capture_output=True, text=True, timeout=120,
                          env={**os.environ, "JUPYTER_PATH": str(Path(sys.prefix) / "share" / "jupyter")})
    return proc.stdout + proc.stderr


def _missing() -> str | None:
    if shutil.which("node") is None:
        return "node is not installed (CI installs it; see .ci/run)"
    chromium = os.environ.get("CHROMIUM_PATH", "/usr/bin/chromium")
    if not os.access(chromium, os.X_OK):
        return f"no chromium at {chromium} (apt-get install chromium, or set CHROMIUM_PATH)"
    if not (UI / "node_modules" / ".bin" / "playwright").exists():
        return "ui-tests has no node_modules: cd ui-tests && PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1 jlpm install"
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


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.mark.slow
@pytest.mark.timeout(900)
def test_sidebar_shows_runs_overlay_and_diff_in_jupyterlab():
    reason = _missing()
    if reason:
        if os.environ.get("NBTRACK_REQUIRE_BROWSER") == "1":  # CI installs all of it
            pytest.fail(f"the sidebar UI test cannot run: {reason}")
        pytest.skip(reason)
    venv_bin = str(Path(sys.executable).parent)
    env = {key: value for key, value in os.environ.items() if key != "NBTRACK_DIR"}
    env.update({
        "PATH": venv_bin + os.pathsep + env.get("PATH", ""),
        "JUPYTER_PATH": str(Path(sys.prefix) / "share" / "jupyter"),
        "PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD": "1",
        "NBTRACK_UI_PORT": str(_free_port()),
    })
    started = time.time()
    proc = subprocess.run(
        [str(UI / "node_modules" / ".bin" / "playwright"), "test", SPEC], cwd=UI, env=env,
        capture_output=True, text=True, timeout=800,
    )
    report = "\n".join(line for line in (proc.stdout + proc.stderr).splitlines()
                       if not line.startswith("[WebServer]"))
    assert proc.returncode == 0, report[-6000:]
    assert SHOT.exists() and SHOT.stat().st_mtime >= started - 1, report[-3000:]
