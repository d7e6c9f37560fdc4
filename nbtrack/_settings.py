"""Where the store lives and how often it is written.

The store directory is, in order: what :func:`settings` set in this process, the
``NBTRACK_DIR`` environment variable, else ``.nbtrack`` in the working directory
(for a notebook, its own folder).
"""

from __future__ import annotations

import os
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

from .errors import NbtrackError

__all__ = ["Settings", "settings", "store_dir"]

DB_FILE = "nbtrack.duckdb"
LOCK_FILE = "nbtrack.lock"


@dataclass
class Settings:
    """Process-wide settings; change them with :func:`settings`."""

    dir: str | None = None
    #: seconds between saves of what was logged to local disk (a kill -9 loses at most
    #: about this much); the store file itself takes the points within about a second
    flush_interval: float = 0.1
    #: seconds a reader or writer waits for the store lock before giving up
    lock_timeout: float = 30.0
    #: seconds without a heartbeat after which a run on another host counts as crashed
    heartbeat_timeout: float = 90.0
    #: points kept in memory while the store cannot be written (full disk, lock held)
    max_buffered_points: int = 20_000_000
    #: default project for runs that do not name one
    project: str = "default"
    #: seconds between readings of CPU, RAM and GPUs for runs being sampled
    system_interval: float = 1.0
    #: sample system metrics for every run, not only runs shown in a live panel
    system_metrics: bool = False


_settings = Settings()


def settings(**changes: Any) -> Settings:
    """Read or change nbtrack's settings for this process.

    Parameters
    ----------
    **changes
        Any field of :class:`Settings`: ``dir`` (the store directory),
        ``flush_interval``, ``lock_timeout``, ``heartbeat_timeout``,
        ``max_buffered_points``, ``project``, ``system_interval`` (seconds between
        CPU/RAM/GPU readings) and ``system_metrics`` (sample every run, not only runs
        shown in a live panel).

    Returns
    -------
    Settings
        The current settings, after the change.

    Example
    -------
    >>> import nbtrack
    >>> nbtrack.settings(dir="/data/experiments/.nbtrack", project="mnist")  # doctest: +SKIP
    """
    names = {f.name for f in fields(Settings)}
    for key, value in changes.items():
        if key not in names:
            raise NbtrackError(
                f"unknown setting {key!r}; known settings are: {', '.join(sorted(names))}"
            )
        if key == "dir" and value is not None:
            value = os.fspath(value)
        setattr(_settings, key, value)
    return _settings


def current() -> Settings:
    return _settings


def store_dir(override: str | os.PathLike[str] | None = None) -> Path:
    """The store directory in force: ``override``, the setting, ``NBTRACK_DIR`` or ``./.nbtrack``."""
    chosen = override or _settings.dir or os.environ.get("NBTRACK_DIR") or ".nbtrack"
    return Path(chosen).expanduser().absolute()
