"""Fingerprints of the data files a run read, to tell later whether they changed.

A fingerprint is the file's size, modification time and SHA-256 (of the whole file up to
:data:`FULL_HASH_LIMIT`; above it, of its size, first and last 8 MiB, marked ``partial``).

Example
-------
>>> import tempfile, os
>>> with tempfile.NamedTemporaryFile("w", suffix=".csv", delete=False) as fh:
...     _ = fh.write("a,b\\n1,2\\n")
>>> fp = fingerprint(fh.name)
>>> change(fp) is None
True
>>> os.remove(fh.name); change(fp).endswith("no longer exists")
True
"""

from __future__ import annotations

import hashlib
import os
import sys
from collections.abc import Iterable
from typing import Any

__all__ = ["FULL_HASH_LIMIT", "change", "data_files", "fingerprint"]

FULL_HASH_LIMIT = 512 * 2**20
_EDGE = 8 * 2**20
#: Files that belong to the interpreter or to code, not to the data a cell read.
_CODE_SUFFIXES = (".py", ".pyc", ".pyi", ".pyd", ".so", ".pth", ".dll", ".dylib", ".ipynb")
_SYSTEM_DIRS = ("/proc/", "/sys/", "/dev/", "/etc/", "/usr/", "/lib/", "/lib64/", "/bin/", "/run/")


def data_files(paths: Iterable[str], exclude: Iterable[str] = (), limit: int = 64) -> list[str]:
    """The paths that look like data: existing regular files outside Python's own folders.

    Example
    -------
    >>> data_files([sys.executable, "/proc/self/status", "/nonexistent.csv"])
    []
    """
    folders = {sys.prefix, sys.base_prefix, sys.exec_prefix, *exclude} - {""}
    skip = tuple(os.path.join(os.path.realpath(p), "") for p in folders)
    # The same tests on the path as opened first: a first cell opens a few hundred module
    # files (its imports), and resolving each (realpath: an lstat per component) cost 0.2 s
    # at the cell's end. Only what passes is resolved and tested again.
    seen = tuple(os.path.join(os.path.abspath(p), "") for p in folders) + skip
    out: list[str] = []
    for path in sorted(set(paths)):
        if _not_data(path, seen):
            continue
        real = os.path.realpath(path)
        if _not_data(real, skip) or not os.path.isfile(real):
            continue
        out.append(path)
        if len(out) >= limit:
            break
    return out


def _not_data(path: str, skip: tuple[str, ...]) -> bool:
    """Whether ``path`` is code or the interpreter's (by its name alone)."""
    return (path.endswith(_CODE_SUFFIXES) or path.startswith(skip + _SYSTEM_DIRS)
            or "site-packages" in path or "/.ipython/" in path)


def fingerprint(path: str) -> dict[str, Any] | None:
    """``{"path", "size", "mtime", "sha256", "partial"}`` of a file, or None if unreadable."""
    try:
        stat = os.stat(path)
        digest = hashlib.sha256()
        partial = stat.st_size > FULL_HASH_LIMIT
        with open(path, "rb") as fh:
            if partial:
                digest.update(str(stat.st_size).encode())
                digest.update(fh.read(_EDGE))
                fh.seek(max(stat.st_size - _EDGE, 0))
                digest.update(fh.read(_EDGE))
            else:
                for block in iter(lambda: fh.read(2**20), b""):
                    digest.update(block)
    except OSError:
        return None
    return {"path": os.path.abspath(path), "size": stat.st_size, "mtime": stat.st_mtime,
            "sha256": digest.hexdigest(), "partial": partial}


def change(recorded: dict[str, Any]) -> str | None:
    """What changed in a recorded file since (a sentence), or None when it is the same."""
    path = recorded["path"]
    now = fingerprint(path)
    if now is None:
        return f"data file {path} no longer exists" if not os.path.exists(path) else (
            f"data file {path} cannot be read any more")
    if now["sha256"] == recorded["sha256"]:
        return None
    return (f"data file {path} changed since the run: {recorded['size']:,} -> {now['size']:,} bytes, "
            f"sha256 {recorded['sha256'][:12]} -> {now['sha256'][:12]}")
