"""Content-addressed files beside the store: ``<store>/media/ab/cdef….png``.

A file is named by the SHA-256 of its bytes, so logging the same picture a thousand
times stores it once, and a file, once written, never changes. Writes go to a
temporary name first and are renamed into place, so a reader or a kill -9 never sees
half a file.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import tempfile
from pathlib import Path

__all__ = ["digest_bytes", "put_bytes", "resolve"]


def digest_bytes(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def put_bytes(store_dir: Path, folder: str, data: bytes, suffix: str) -> tuple[str, str]:
    """Store ``data`` once; return (digest, path relative to the store folder)."""
    digest = digest_bytes(data)
    relative = f"{folder}/{digest[:2]}/{digest[2:]}{suffix}"
    target = store_dir / relative
    if target.exists() and target.stat().st_size == len(data):
        # Fresh mtime: emptying the trash spares recent files, which a row not yet
        # written may refer to.
        with contextlib.suppress(OSError):
            os.utime(target)
        return digest, relative
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, temp = tempfile.mkstemp(dir=target.parent, prefix=".tmp-")
    try:
        with os.fdopen(fd, "wb") as out:
            out.write(data)
        os.replace(temp, target)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(temp)
        raise
    return digest, relative


def resolve(store_dir: Path, relative: str) -> Path:
    """The absolute path of a stored file; refuses paths that leave the store folder."""
    path = (store_dir / relative).resolve()
    if store_dir.resolve() not in path.parents:
        raise ValueError(f"media path {relative!r} is outside the store {store_dir}")
    return path

