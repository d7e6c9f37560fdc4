"""Store paths as the sidebar names them: relative to the Jupyter root, and kept inside it.

The panel only ever sends paths relative to the folder Jupyter serves. Every one is
resolved (symlinks included) and refused unless it stays inside that folder, so a
request cannot reach ``../`` or an absolute path, nor a symlink that points out.
"""

from __future__ import annotations

import os
from pathlib import Path, PurePosixPath
from typing import Any

__all__ = ["PathRefused", "Root", "STORE_DIR", "team_store"]

#: The folder name nbtrack's default store has (``.nbtrack`` in the kernel's working dir).
STORE_DIR = ".nbtrack"
#: Folders never searched for stores: big, and never a notebook's home.
_SKIP = {"node_modules", "__pycache__", "site-packages", ".git", ".venv", "venv", ".ipynb_checkpoints"}
_MAX_SCANNED = 5000


def team_store() -> tuple[str, str] | None:
    """The team store this server's kernels log to (``NBTRACK_STORE=postgresql://...`` in the
    server's environment): ``(name shown, address)``, or None when the store is a folder."""
    from .. import _settings

    chosen = _settings.store_location()
    if not isinstance(chosen, str):
        return None
    return _settings.redact(chosen), chosen


class PathRefused(Exception):
    """A path the API will not touch; ``status`` is the HTTP status to answer with."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


class Root:
    """The folder Jupyter serves, and the only place the API reads or writes.

    Example
    -------
    >>> root = Root("/srv/notebooks")                      # doctest: +SKIP
    >>> root.resolve("mnist/.nbtrack")                     # doctest: +SKIP
    PosixPath('/srv/notebooks/mnist/.nbtrack')
    >>> root.resolve("../etc")                             # doctest: +SKIP
    Traceback (most recent call last):
    PathRefused: ...
    """

    def __init__(self, directory: str | os.PathLike[str]) -> None:
        self.path = Path(os.path.realpath(os.path.expanduser(os.fspath(directory))))

    def resolve(self, relative: str | None) -> Path:
        """The real path of ``relative`` (from the root), or :class:`PathRefused`."""
        text = (relative or "").strip()
        if "\x00" in text:
            raise PathRefused(400, "a path may not contain NUL characters")
        pure = PurePosixPath(text)
        if pure.is_absolute() or text.startswith("~"):
            raise PathRefused(400, f"paths are relative to the Jupyter root; got the absolute path {text!r}")
        if ".." in pure.parts:
            raise PathRefused(403, f"the path {text!r} leaves the Jupyter root")
        full = Path(os.path.realpath(self.path.joinpath(*pure.parts)))
        if not self.contains(full):
            raise PathRefused(403, f"the path {text!r} leads outside the Jupyter root (a symlink?)")
        return full

    def contains(self, path: Path) -> bool:
        return path == self.path or self.path in path.parents

    def relative(self, path: str | os.PathLike[str] | None) -> str | None:
        """``path`` relative to the root (POSIX form), or ``None`` when it lies outside."""
        if not path:
            return None
        full = Path(os.path.realpath(os.fspath(path)))
        if not self.contains(full):
            return None
        return full.relative_to(self.path).as_posix() if full != self.path else ""

    def store(self, relative: str | None, *, must_exist: bool = False) -> Any:
        """The store ``relative`` names: a store directory (with ``must_exist``, one holding a
        store), or the team store's address when it names the server's team store exactly."""
        if not relative:
            raise PathRefused(400, "say which store: store=<folder>/.nbtrack, relative to the Jupyter root")
        team = team_store()
        if team is not None and relative == team[0]:
            return team[1]  # the database this server's kernels log to, never one a page names
        from .._settings import is_url

        if is_url(relative):
            raise PathRefused(403, "this server reads only the team store it was started with "
                                   "(NBTRACK_STORE in its environment), not a database a page names")
        full = self.resolve(relative)
        if full.exists() and not full.is_dir():
            raise PathRefused(400, f"the store path {relative!r} is a file, not a folder")
        if must_exist and not _is_store(full):
            raise PathRefused(404, f"no nbtrack store at {relative!r}")
        return full

    def find_stores(self, relative: str | None, depth: int = 2) -> list[str]:
        """Stores (``.nbtrack`` folders holding a store file) in a folder and ``depth`` levels below.

        Hidden folders, symlinked folders and virtual environments are not entered, and
        the search gives up after a few thousand folders, so it stays quick on any tree.
        """
        start = self.resolve(relative)
        if not start.is_dir():
            raise PathRefused(404, f"no folder {relative!r} under the Jupyter root")
        found: list[str] = []
        level, scanned = [start], 0
        for _ in range(depth + 1):
            below: list[Path] = []
            for folder in level:
                candidate = folder / STORE_DIR
                if not candidate.is_symlink() and _is_store(candidate):
                    found.append(candidate.relative_to(self.path).as_posix())
                try:
                    entries = sorted(os.scandir(folder), key=lambda e: e.name)
                except OSError:
                    continue
                for entry in entries:
                    scanned += 1
                    if scanned > _MAX_SCANNED:
                        return found
                    if (entry.name.startswith(".") or entry.name in _SKIP
                            or not entry.is_dir(follow_symlinks=False)):
                        continue
                    below.append(Path(entry.path))
            level = below
        return found


def _is_store(folder: Path) -> bool:
    """Whether ``folder`` holds a store; the store decides what that takes."""
    from ..store import get_store

    return folder.is_dir() and get_store(folder).exists()
