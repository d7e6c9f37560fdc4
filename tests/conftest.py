"""Shared fixtures: every test gets its own real DuckDB store under tmp_path."""

from __future__ import annotations

import contextlib
import faulthandler
import os
import shutil
import signal
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from nbtrack import _run as run_module
from nbtrack import _settings, errors
from nbtrack.charts import _render, _render_worker

# The picture helper kernels share (nbtrack.charts._render) leaves 5 s after its last kernel
# here, not 30 minutes: kernels of these tests come and go, and a run must not leave it behind.
os.environ.setdefault("NBTRACK_RENDER_IDLE_S", "5")


@pytest.fixture
def store_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A fresh store directory, in force through NBTRACK_DIR for this test."""
    directory = tmp_path / "store"
    monkeypatch.setenv("NBTRACK_DIR", str(directory))
    return directory


@pytest.fixture(autouse=True)
def _clean_state():
    """Each test starts with default settings, no active run and fresh warn-once state."""
    saved = _settings.Settings(**vars(_settings.current()))
    errors.reset_warnings()
    yield
    active = run_module.active_run()
    if active is not None and not active._finished:
        active.finish()
    run_module._default[0] = None
    run_module._active.set(None)
    _settings.settings(**vars(saved))
    errors.reset_warnings()
    # A test that stopped the picture helper (or saw one fail) leaves in-process drawing
    # behind it: the next test's first picture starts a helper again, as a new process would.
    _render._in_process = False


# -- a test stuck where pytest-timeout cannot reach it ------------------------------------
# pytest-timeout (timeout = 300 in pyproject) interrupts the main thread with SIGALRM, which
# Python only handles between bytecodes: a thread stuck inside native code (a DuckDB call,
# a lock taken while holding the GIL) never sees it, and the whole suite then waits until
# CI kills it, with no word of where. faulthandler's watchdog is a native thread: past the
# test's timeout plus two minutes it prints every thread's stack to the real stderr and
# ends the run (exit code 1), so CI fails at once and says where it stuck.
_STUCK_AFTER = 120.0


def pytest_configure(config: pytest.Config) -> None:
    # fd 2 is the terminal here (capture is suspended outside tests); during a test it is
    # the capture file, which dies unread with the process.
    config.stash[_stderr_key] = os.dup(2)
    # Each test's store lets its writer threads go soon after its runs end, not after 30 s.
    from nbtrack import writer

    writer.IDLE_EXIT = 2.0
    _suite.update(start=time.monotonic(), noted=time.monotonic())
    _config.append(config)
    budget = float(os.environ.get("NBTRACK_TEST_BUDGET_S") or 0)
    if budget > 0:
        threading.Thread(target=_over_budget, args=(config, budget), daemon=True,
                         name="nbtrack-test-budget").start()


_stderr_key = pytest.StashKey[int]()


# -- where the suite's time went, said before CI's limit cuts it off ----------------------
# .ci/run sets NBTRACK_TEST_BUDGET_S to what is left of CI's 90 minutes: past it, the run
# ends itself and says which test it was in, the slowest tests so far and every stack
# (CI's own kill says nothing). Every 10 minutes a line says how far the suite is.
_suite: dict[str, Any] = {"current": None, "started": 0.0, "done": 0, "ended": threading.Event()}
_durations: dict[str, float] = {}


def pytest_runtest_logstart(nodeid: str, location: Any) -> None:
    _suite.update(current=nodeid, started=time.monotonic())


def pytest_runtest_logfinish(nodeid: str, location: Any) -> None:
    now = time.monotonic()
    _durations[nodeid] = now - _suite["started"]
    _suite["done"] += 1
    if now - _suite["noted"] > 600:
        _suite["noted"] = now
        reporter = _reporter()
        if reporter is not None:
            reporter.ensure_newline()
            reporter.write_line(f"[{(now - _suite['start']) / 60:.0f} min: {_suite['done']} tests done]")


def pytest_sessionfinish(session: pytest.Session) -> None:
    _suite["ended"].set()


_config: list[pytest.Config] = []


def _reporter() -> Any:
    return _config[0].pluginmanager.get_plugin("terminalreporter") if _config else None


def _over_budget(config: pytest.Config, budget: float) -> None:
    if _suite["ended"].wait(budget):
        return
    fd = config.stash[_stderr_key]
    slowest = sorted(_durations.items(), key=lambda item: -item[1])[:25]
    lines = [f"\nnbtrack tests: past the budget of {budget:.0f} s (NBTRACK_TEST_BUDGET_S) after "
             f"{_suite['done']} tests, in {_suite['current']} (running for "
             f"{time.monotonic() - _suite['started']:.0f} s). The slowest tests so far:"]
    lines += [f"  {seconds:7.1f} s  {nodeid}" for nodeid, seconds in slowest]
    os.write(fd, ("\n".join(lines) + "\n").encode())
    _say_stacks(fd, f"past the budget, in {_suite['current']}")
    os._exit(1)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_protocol(item: pytest.Item, nextitem: pytest.Item | None) -> Any:
    marker = item.get_closest_marker("timeout")
    limit = float(marker.args[0]) if marker and marker.args else float(item.config.getini("timeout") or 300)
    fd = item.config.stash[_stderr_key]
    os.write(fd, b"")  # the descriptor is good before the watchdog needs it
    # faulthandler dumps at most 100 threads, newest first, and CI shows only part of a long
    # log: a Python timer first says the test and every stack, alike stacks once, in a few
    # dozen lines, and ends the run. faulthandler's dump (no GIL needed) is the fallback
    # for a thread that holds the GIL for good.
    first = threading.Timer(limit + _STUCK_AFTER - 60, _stuck, (fd, item.nodeid))
    first.daemon = True
    first.start()
    faulthandler.dump_traceback_later(limit + _STUCK_AFTER, exit=True, file=fd)
    try:
        return (yield)
    finally:
        faulthandler.cancel_dump_traceback_later()
        first.cancel()


def _stuck(fd: int, nodeid: str) -> None:
    _say_stacks(fd, f"{nodeid} is stuck")
    os._exit(1)


def _say_stacks(fd: int, what: str) -> None:
    """Every thread's stack, the main thread first and each distinct stack once, then ``what``."""
    import sys
    import traceback
    from collections import defaultdict

    names = {t.ident: t.name for t in threading.enumerate()}
    main = threading.main_thread().ident
    alike: dict[str, list[str]] = defaultdict(list)
    for ident, frame in sorted(sys._current_frames().items(), key=lambda item: item[0] != main):
        stack = "".join(traceback.format_stack(frame)[-12:])
        alike[stack].append(names.get(ident, hex(ident)))
    out = [f"\nnbtrack tests: {what}; every thread's stack, alike ones once:"]
    for stack, threads in alike.items():
        shown = ", ".join(threads[:3]) + (f" and {len(threads) - 3} more" if len(threads) > 3 else "")
        out.append(f"-- {len(threads)} thread(s): {shown}\n{stack}")
    out.append(f"nbtrack tests: {what} (the stacks are above); ending the run.\n")
    os.write(fd, "\n".join(out).encode())


# -- a headless Debian chromium for the pages nbtrack writes (reports, exported notebooks)
CHROMIUM = os.environ.get("NBTRACK_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]


def _need(what: str) -> None:
    if os.environ.get("NBTRACK_REQUIRE_BROWSER") == "1":
        pytest.fail(f"{what} (NBTRACK_REQUIRE_BROWSER=1: the browser test may not be skipped)")
    pytest.skip(what)


@pytest.fixture
def browser() -> Iterator[Any]:
    """Playwright's chromium on Debian's binary (never a downloaded one)."""
    if not (os.path.exists(CHROMIUM) or shutil.which(CHROMIUM)):
        _need(f"no chromium at {CHROMIUM}: apt-get install chromium (or set NBTRACK_CHROMIUM)")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        _need("the playwright package is not installed: pip install playwright")
    with sync_playwright() as p:
        launched = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            yield launched
        finally:
            launched.close()


# -- a real PostgreSQL server for the team store ------------------------------------------
#: A server the tests may use: .ci/run starts one and sets this; without it, the session
#: starts its own from Debian's postgresql package (initdb in a temporary folder).
PG_ENV = "NBTRACK_TEST_PG"


def _need_postgres(what: str) -> None:
    if os.environ.get("NBTRACK_REQUIRE_POSTGRES") == "1":
        pytest.fail(f"{what} (NBTRACK_REQUIRE_POSTGRES=1: the PostgreSQL tests may not be skipped)")
    pytest.skip(what)


@pytest.fixture(scope="session")
def pg_server() -> Iterator[str]:
    """The URL of a PostgreSQL server's maintenance database (``postgres``)."""
    if os.environ.get("NBTRACK_REQUIRE_POSTGRES") != "1":
        pytest.importorskip("psycopg")
    if os.environ.get(PG_ENV):
        yield os.environ[PG_ENV]
        return
    import tempfile

    from helpers import start_postgres

    # Not under pytest's own temporary folder: the postgres user must be able to reach it.
    folder = Path(tempfile.mkdtemp(prefix="nbtrack-pg-"))
    try:
        url, stop = start_postgres(folder)
    except FileNotFoundError as exc:
        _need_postgres(f"no PostgreSQL server here ({exc}): apt-get install postgresql")
        return
    try:
        yield url
    finally:
        stop()
        shutil.rmtree(folder, ignore_errors=True)


@pytest.fixture
def pg_url(pg_server: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """A fresh, empty database on the test server, and this test's own local cache folder
    (where a PostgreSQL store keeps what waits to go in)."""
    import uuid

    import psycopg

    name = f"nbtrack_test_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(pg_server, autocommit=True) as con:
        con.execute(f'CREATE DATABASE "{name}"')
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    url = pg_server.rsplit("/", 1)[0] + "/" + name
    try:
        yield url
    finally:
        from nbtrack import store as store_module
        from nbtrack import writer as writer_module

        # This test's runs go in before its database goes: no writer may retry into it later.
        with writer_module._writers_lock:
            writers = [writer_module._writers.pop(k) for k in list(writer_module._writers) if name in k]
        for writer in writers:
            writer.flush(5)
            writer.folds = False
        with store_module._stores_lock:
            stores = [store_module._stores.pop(k) for k in list(store_module._stores)
                      if isinstance(k, str) and name in k]
        for store in stores:
            store.close()
        with psycopg.connect(pg_server, autocommit=True) as con:
            con.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture
def runtime_dir(monkeypatch):
    """A folder of this test's for the shared helper's socket (short: a socket path has at
    most 107 bytes), with that helper stopped at the end. Any helper this process drew with
    before (one of its own, started by an earlier test's first picture) is stopped first."""
    _render.stop()
    folder = tempfile.mkdtemp(prefix="nbr-", dir="/tmp")
    monkeypatch.setenv("XDG_RUNTIME_DIR", folder)
    yield Path(folder)
    for sock in Path(folder).glob("nbtrack/*.sock"):
        pid = _render_worker.listening_pid(str(sock), timeout=5)
        if pid is not None:
            with contextlib.suppress(OSError):
                os.kill(pid, signal.SIGKILL)
    shutil.rmtree(folder, ignore_errors=True)
