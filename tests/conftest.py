"""Shared fixtures: every test gets its own real DuckDB store under tmp_path."""

from __future__ import annotations

from pathlib import Path

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



