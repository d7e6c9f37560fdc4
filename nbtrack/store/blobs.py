"""Bytes beside the runs: media files, artifact objects and sweep stop signals.

The storage contract's blob methods (``put_blob``, ``put_blob_file``, ``blob_file``,
``blob_bytes``) hand out *keys*; only the store knows where the bytes are. In the
local store a key is a path relative to the store folder, content-addressed:
``media/ab/cdef….png`` is named by the SHA-256 of its bytes, so logging the same
picture a thousand times stores it once, and a file, once written, never changes.
Writes go to a temporary name first and are renamed into place, so a reader or a
kill -9 never sees half a file.

A sweep asks a trial to stop through :meth:`BlobFiles.request_trial_stop`; the trial
polls :meth:`BlobFiles.trial_stop_reason` between log calls (a file here: checking
costs one ``stat``).
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import BinaryIO

from ..errors import StoreError

__all__ = ["BLOB_FOLDERS", "BlobFiles", "digest_bytes", "place_file"]

#: Where blobs go: logged media (images, tables, long texts) and artifact files.
BLOB_FOLDERS = ("media", "objects")
_SIGNALS = "sweeps"


def digest_bytes(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _key(folder: str, digest: str, suffix: str) -> str:
    if folder not in BLOB_FOLDERS:
        raise ValueError(f"blob folder {folder!r} is not one of {BLOB_FOLDERS}")
    if "/" in suffix or "\\" in suffix:
        raise ValueError(f"a blob suffix cannot hold a path: {suffix!r}")
    return f"{folder}/{digest[:2]}/{digest[2:]}{suffix}"


def place_file(target: Path, write: Callable[[BinaryIO], object]) -> None:
    """Write a file whole or not at all (a temporary name, then a rename): a reader or a
    kill -9 never sees half a file."""
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, temp = tempfile.mkstemp(dir=target.parent, prefix=".tmp-")
    try:
        with os.fdopen(fd, "wb") as out:
            write(out)
        os.replace(temp, target)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(temp)
        raise


class BlobFiles:
    """Blobs and trial stop signals as files under the store folder (the local store)."""

    dir: Path

    def put_blob(self, data: bytes, *, folder: str = "media", suffix: str = "") -> tuple[str, str]:
        """Store ``data`` once per content; returns ``(sha256 digest, key)``."""
        digest = digest_bytes(data)
        key = _key(folder, digest, suffix)
        target = self.dir / key
        if target.exists() and target.stat().st_size == len(data):
            # Fresh mtime: emptying the trash spares recent files, which a row not yet
            # folded may refer to.
            with contextlib.suppress(OSError):
                os.utime(target)
            return digest, key
        self._place(target, lambda out: out.write(data))
        return digest, key

    def put_blob_file(self, source: Path, digest: str, *, folder: str = "objects", suffix: str = "") -> str:
        """Store the file ``source`` (whose SHA-256 is ``digest``) once per content; returns its key.

        Copied in chunks: an artifact may be larger than memory.
        """
        key = _key(folder, digest, suffix)
        target = self.dir / key
        if target.exists() and target.stat().st_size == source.stat().st_size:
            with contextlib.suppress(OSError):
                os.utime(target)
            return key

        def copy(out: BinaryIO) -> None:
            with open(source, "rb") as handle:
                shutil.copyfileobj(handle, out)

        self._place(target, copy)
        return key

    def blob_file(self, key: str) -> Path:
        """A local file holding the blob ``key`` (read it, never edit it).

        Raises ``ValueError`` for a key that leads outside the store folder.
        """
        path = (self.dir / key).resolve()
        if self.dir.resolve() not in path.parents:
            raise ValueError(f"blob {key!r} lies outside the store {self.dir}")
        return path

    def blob_bytes(self, key: str) -> bytes:
        """The bytes of the blob ``key``; a ``StoreError`` naming it when they are gone."""
        path = self.blob_file(key)
        try:
            return path.read_bytes()
        except FileNotFoundError:
            raise StoreError(f"the stored file {key} is missing from {self.dir}") from None

    def _place(self, target: Path, write: Callable[[BinaryIO], object]) -> None:
        place_file(target, write)

    # -- sweep stop signals -------------------------------------------------------------------
    def _signal(self, sweep_id: str, run_id: str) -> Path:
        return self.dir / _SIGNALS / sweep_id / f"stop-{run_id}"

    def request_trial_stop(self, sweep_id: str, run_id: str, reason: str) -> None:
        """Ask the trial ``run_id`` of a sweep to stop (``reason``: pruned or interrupted)."""
        path = self._signal(sweep_id, run_id)
        path.parent.mkdir(parents=True, exist_ok=True)
        # Whole or absent: a trial polling the file must never read it empty.
        self._place(path, lambda out: out.write(reason.encode()))

    def trial_stop_reason(self, sweep_id: str, run_id: str) -> str | None:
        """Why the sweep asked this trial to stop, or None if it did not."""
        path = self._signal(sweep_id, run_id)
        if not os.path.exists(path):
            return None
        try:
            return path.read_text().strip() or "interrupted"
        except OSError:
            return "interrupted"

    def clear_trial_stop(self, sweep_id: str, run_id: str | None = None) -> None:
        """Forget the stop request of one trial, or (``run_id`` None) of the whole sweep."""
        if run_id is None:
            shutil.rmtree(self.dir / _SIGNALS / sweep_id, ignore_errors=True)
        else:
            self._signal(sweep_id, run_id).unlink(missing_ok=True)
