"""Helpers for tests that need a real second process."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any


def run_python(code: str, env: dict[str, str] | None = None, timeout: float = 120,
               check: bool = True) -> subprocess.CompletedProcess[str]:
    """Run ``code`` in a fresh interpreter (a real second process) and return its result."""
    full_env = {**os.environ, **(env or {})}
    proc = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)], capture_output=True, text=True,
        env=full_env, timeout=timeout,
    )
    if check and proc.returncode != 0:
        raise AssertionError(f"subprocess failed ({proc.returncode}):\n{proc.stdout}\n{proc.stderr}")
    return proc


def start_python(code: str, env: dict[str, str] | None = None) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-c", textwrap.dedent(code)], stdout=subprocess.PIPE,
        stderr=subprocess.PIPE, text=True, env={**os.environ, **(env or {})},
    )


def hold_lock(store_dir: Path, seconds: float, *, shared: bool = False) -> subprocess.Popen[str]:
    """Another process holding the store's lock file (exclusive as a stuck writer, shared as
    a long reader) for ``seconds``; returns once it holds it."""
    holder = start_python(f"""
        import fcntl, os, time
        fd = os.open({str(store_dir / "nbtrack.lock")!r}, os.O_RDWR | os.O_CREAT)
        fcntl.flock(fd, fcntl.{"LOCK_SH" if shared else "LOCK_EX"})
        print("locked", flush=True)
        time.sleep({seconds})
    """)
    line = holder.stdout.readline().strip() if holder.stdout else ""
    if line != "locked":
        errors = holder.stderr.read() if holder.stderr else ""
        raise RuntimeError(f"the lock holder did not start: {line!r} {errors}")
    return holder


UI = Path(__file__).resolve().parent.parent / "ui-tests"


def browser_missing() -> str | None:
    """Why the Galata tests in ui-tests/ cannot run here (node, chromium, runner), or None."""
    import shutil

    if shutil.which("node") is None:
        return "node is not installed (CI installs it; see .ci/run)"
    chromium = os.environ.get("CHROMIUM_PATH", "/usr/bin/chromium")
    if not os.access(chromium, os.X_OK):
        return f"no chromium at {chromium} (apt-get install chromium, or set CHROMIUM_PATH)"
    if not (UI / "node_modules" / ".bin" / "playwright").exists():
        return "ui-tests has no node_modules: cd ui-tests && PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1 jlpm install"
    return None


def skip_or_fail(reason: str | None, what: str) -> None:
    """Skip a browser test for a missing piece, except in CI (NBTRACK_REQUIRE_BROWSER=1)."""
    import pytest

    if reason:
        if os.environ.get("NBTRACK_REQUIRE_BROWSER") == "1":  # CI installs all of it
            pytest.fail(f"{what} cannot run: {reason}")
        pytest.skip(reason)


def run_playwright(*specs: str) -> tuple[int, str]:
    """Run Galata specs in ui-tests/ against this Python's JupyterLab; (exit code, report)."""
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = int(sock.getsockname()[1])
    env = {key: value for key, value in os.environ.items() if key != "NBTRACK_DIR"}
    env.update({
        "PATH": str(Path(sys.executable).parent) + os.pathsep + env.get("PATH", ""),
        "JUPYTER_PATH": str(Path(sys.prefix) / "share" / "jupyter"),
        "PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD": "1",
        "NBTRACK_UI_PORT": str(port),
    })
    proc = subprocess.run(
        [str(UI / "node_modules" / ".bin" / "playwright"), "test", *specs], cwd=UI, env=env,
        capture_output=True, text=True, timeout=800,
    )
    report = "\n".join(line for line in (proc.stdout + proc.stderr).splitlines()
                       if not line.startswith("[WebServer]"))
    return proc.returncode, report


def execute_notebook(cells: list[str], folder: Path, timeout: float = 180) -> object:
    """Run code cells on a real python3 kernel in ``folder``, as a user would: the
    default store (NBTRACK_DIR unset) and this venv's tools on PATH. Returns the notebook."""
    import nbclient
    import nbformat

    nb = nbformat.v4.new_notebook(metadata={"kernelspec": {"name": "python3", "language": "python",
                                                           "display_name": "Python 3"}})
    nb.cells = [nbformat.v4.new_code_cell(source) for source in cells]
    env = {key: value for key, value in os.environ.items() if key != "NBTRACK_DIR"}
    env["PATH"] = str(Path(sys.executable).parent) + os.pathsep + env.get("PATH", "")
    client = nbclient.NotebookClient(nb, kernel_name="python3", timeout=timeout, allow_errors=True,
                                     resources={"metadata": {"path": str(folder)}})
    saved = dict(os.environ)
    os.environ.clear()
    os.environ.update(env)  # the kernel inherits this environment: the default store
    try:
        client.execute()
    finally:
        os.environ.clear()
        os.environ.update(saved)
    return nb


def start_postgres(folder: Path, port: int | None = None) -> tuple[str, Any]:
    """Start a private PostgreSQL server (Debian's package) in ``folder``; returns its
    maintenance URL and a function that stops it. Raises FileNotFoundError without one."""
    import glob
    import shutil
    import socket
    import subprocess

    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"))
    if not found:
        initdb = shutil.which("initdb")
        if initdb is None:
            raise FileNotFoundError("no initdb in /usr/lib/postgresql/*/bin or on PATH")
        found = [initdb]
    bindir = Path(found[-1]).parent
    if port is None:
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
    folder.chmod(0o777)
    data = folder / "data"
    # PostgreSQL refuses to run as root: as root, run it as the postgres user.
    as_user = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []
    subprocess.run([*as_user, str(bindir / "initdb"), "-D", str(data), "-A", "trust", "-U", "postgres"],
                   check=True, capture_output=True)
    subprocess.run([*as_user, str(bindir / "pg_ctl"), "-D", str(data), "-l", str(folder / "log"), "-w",
                    "-o", f"-p {port} -k {folder} -c listen_addresses=127.0.0.1 -c fsync=off",
                    "start"], check=True, capture_output=True)

    def stop() -> None:
        subprocess.run([*as_user, str(bindir / "pg_ctl"), "-D", str(data), "-m", "immediate", "stop"],
                       capture_output=True)

    return f"postgresql://postgres@127.0.0.1:{port}/postgres", stop
