"""Where the store lives and how often it is written.

The store is, in order: what :func:`settings` set in this process (``store=`` or
``dir=``), the ``NBTRACK_STORE`` or ``NBTRACK_DIR`` environment variable, else
``.nbtrack`` in the working directory (for a notebook, its own folder). A store is a
folder (the local DuckDB store) or a ``postgresql://`` URL (a team's shared store).
"""

from __future__ import annotations

import os
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

from .errors import NbtrackError

__all__ = ["Settings", "is_url", "settings", "store_dir", "store_location"]

DB_FILE = "nbtrack.duckdb"
LOCK_FILE = "nbtrack.lock"


@dataclass
class Settings:
    """Process-wide settings; change them with :func:`settings`."""

    #: the store: a folder, or a ``postgresql://user@host:port/db`` URL (a team's store)
    store: str | None = None
    #: the store folder (the same as ``store`` for a folder; kept for older code)
    dir: str | None = None
    #: where a PostgreSQL store keeps media and artifact files larger than it holds itself
    #: (a folder every machine sees, e.g. a network share); unset: such files are refused
    blob_dir: str | None = None
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
        Any field of :class:`Settings`: ``store`` (a folder or a ``postgresql://``
        URL), ``dir`` (the store directory), ``blob_dir`` (a shared folder for large
        files of a PostgreSQL store),
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
    >>> nbtrack.settings(store="postgresql://me@db.lab:5432/runs")          # doctest: +SKIP
    """
    names = {f.name for f in fields(Settings)}
    for key, value in changes.items():
        if key not in names:
            raise NbtrackError(
                f"unknown setting {key!r}; known settings are: {', '.join(sorted(names))}"
            )
        if key in ("dir", "store", "blob_dir") and value is not None:
            value = os.fspath(value)
        setattr(_settings, key, value)
    return _settings


def current() -> Settings:
    return _settings


#: URL schemes of the stores that are not a local folder.
URL_SCHEMES = ("postgresql://", "postgres://")


def is_url(location: object) -> bool:
    """Whether a store location names a database (``postgresql://...``), not a folder."""
    return isinstance(location, str) and location.lower().startswith(URL_SCHEMES)


def store_location(override: str | os.PathLike[str] | None = None) -> str | Path:
    """The store in force: a ``postgresql://`` URL as given, or a folder as an absolute path.

    In order: ``override``, ``settings(store=)``, ``settings(dir=)``, ``NBTRACK_STORE``,
    ``NBTRACK_DIR``, ``./.nbtrack``.
    """
    chosen = (override or _settings.store or _settings.dir or os.environ.get("NBTRACK_STORE")
              or os.environ.get("NBTRACK_DIR") or ".nbtrack")
    if is_url(chosen):
        return str(chosen)
    return Path(chosen).expanduser().absolute()


def store_dir(override: str | os.PathLike[str] | None = None) -> Path:
    """The store folder in force (see :func:`store_location`); an error for a database URL."""
    chosen = store_location(override)
    if isinstance(chosen, str):
        raise NbtrackError(f"the store in force is a database ({redact(chosen)}), not a folder")
    return chosen


def redact(url: str) -> str:
    """A store URL fit to show: any password in it (``user:PASSWORD@``, ``?password=``) as ``***``.

    Example
    -------
    >>> redact("postgresql://me:s3cret@db.lab/runs?sslmode=require&password=x")
    'postgresql://me:***@db.lab/runs?sslmode=require&password=***'
    """
    import re

    found = re.match(r"^([a-zA-Z][\w+.-]*://)(.*)$", url, flags=re.DOTALL)
    if not found:
        return url
    scheme, rest = found.groups()
    query_at = rest.find("?")
    head, query = (rest, "") if query_at < 0 else (rest[:query_at], rest[query_at:])
    at = head.rfind("@")  # the last @: a password may hold @ or / written raw
    if at >= 0 and ":" in head[:at]:
        user = head[:head.index(":")]
        head = f"{user}:***{head[at:]}"
    query = re.sub(r"(?i)([?&]password=)[^&]*", r"\1***", query)
    return scheme + head + query


def secret(url: str) -> str | None:
    """The password written in a store URL, if any (to scrub it from a driver's messages)."""
    import re
    from urllib.parse import unquote

    shown = redact(url)
    if shown == url:
        return None
    found = re.match(r"^[a-zA-Z][\w+.-]*://[^:]*:(.*)@", url.split("?", 1)[0], flags=re.DOTALL)
    if found:
        return unquote(found.group(1)) if "%" not in found.group(1) else found.group(1)
    query = re.search(r"(?i)[?&]password=([^&]*)", url)
    return query.group(1) if query else None
