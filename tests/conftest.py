"""Shared fixtures: every test gets its own real DuckDB store under tmp_path."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from nbtrack import _run as run_module
from nbtrack import _settings, errors


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
