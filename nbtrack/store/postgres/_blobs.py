"""The PostgreSQL store's blobs: media files and artifact objects, by key.

Bytes up to :data:`INLINE_MAX` live in the database (``blobs.data``); larger ones in a
folder every machine sees (``nbtrack.settings(blob_dir=...)`` or ``NBTRACK_BLOB_DIR``),
under the same content-addressed keys as the local store's. Media logged during
training is written to a local outbox first (logging never waits on the database) and
goes in with the next fold, before the rows that name it; reads fall back to that
outbox, so a picture is visible on its own machine at once.
"""

from __future__ import annotations

import contextlib
import os
import shutil
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

from ... import _settings
from ...errors import StoreError
from ..blobs import _key, digest_bytes
from ..blobs import place_file as _place

if TYPE_CHECKING:
    from contextlib import AbstractContextManager

__all__ = ["INLINE_MAX", "PgBlobs", "blob_dir"]

#: Largest blob kept in the database itself (bytes); larger ones go to the blob folder.
INLINE_MAX = 16 * 1024 * 1024


def blob_dir() -> Path | None:
    """The shared folder for large blobs, or None when none is configured."""
    chosen = _settings.current().blob_dir or os.environ.get("NBTRACK_BLOB_DIR")
    return Path(chosen).expanduser().absolute() if chosen else None


def _inside(folder: Path, key: str) -> Path:
    path = (folder / key).resolve()
    if folder.resolve() not in path.parents:
        raise ValueError(f"blob {key!r} lies outside {folder}")
    return path


class PgBlobs:
    """Mixed into :class:`~nbtrack.store.postgres.PostgresStore`."""

    outbox_dir: Path
    cache_dir: Path
    _shown: str
    if TYPE_CHECKING:

        def _cursor(self) -> AbstractContextManager[Any]: ...
        def _transaction(self) -> AbstractContextManager[Any]: ...

    def _too_large(self, size: int) -> Path:
        folder = blob_dir()
        if folder is None:
            raise StoreError(
                f"a file of {size / 2**20:.1f} MiB is larger than the PostgreSQL store {self._shown} "
                f"keeps itself ({INLINE_MAX / 2**20:.0f} MiB): set a folder every machine sees for "
                "large files, nbtrack.settings(blob_dir='/shared/nbtrack-blobs') or NBTRACK_BLOB_DIR"
            )
        return folder

    def put_blob(self, data: bytes, *, folder: str = "media", suffix: str = "") -> tuple[str, str]:
        digest = digest_bytes(data)
        key = _key(folder, digest, suffix)
        if len(data) > INLINE_MAX:
            shared = self._too_large(len(data))
            target = _inside(shared, key)
            if not (target.exists() and target.stat().st_size == len(data)):
                _place(target, lambda out: out.write(data))
        target = _inside(self.outbox_dir, key)
        if not (target.exists() and target.stat().st_size == len(data)):
            _place(target, lambda out: out.write(data))
        return digest, key

    def put_blob_file(self, source: Path, digest: str, *, folder: str = "objects", suffix: str = "") -> str:
        key = _key(folder, digest, suffix)
        size = source.stat().st_size
        if size > INLINE_MAX:
            target = _inside(self._too_large(size), key)
            if not (target.exists() and target.stat().st_size == size):

                def copy(out: IO[bytes]) -> None:
                    with open(source, "rb") as handle:
                        shutil.copyfileobj(handle, out)

                _place(target, copy)
            data = None
        else:
            data = source.read_bytes()
        with self._transaction() as cur:
            cur.execute(
                "INSERT INTO blobs VALUES (%s, %s, %s, now() AT TIME ZONE 'UTC') "
                "ON CONFLICT (key) DO NOTHING",
                [key, size, data],
            )
        return key

    def _send_outbox(self) -> None:
        """Blobs logged on this machine into the database (called by the fold, first)."""
        if not self.outbox_dir.is_dir():
            return
        for path in sorted(self.outbox_dir.glob("*/*/*")):
            if path.name.startswith(".tmp-"):
                continue
            key = path.relative_to(self.outbox_dir).as_posix()
            size = path.stat().st_size
            data = None if size > INLINE_MAX else path.read_bytes()
            with self._transaction() as cur:
                cur.execute(
                    "INSERT INTO blobs VALUES (%s, %s, %s, now() AT TIME ZONE 'UTC') "
                    "ON CONFLICT (key) DO UPDATE SET created_at = EXCLUDED.created_at",
                    [key, size, data],
                )
            with contextlib.suppress(FileNotFoundError):
                path.unlink()

    def blob_file(self, key: str) -> Path:
        for folder in (self.outbox_dir, self.cache_dir):
            path = _inside(folder, key)
            if path.exists():
                return path
        with self._cursor() as cur:
            row = cur.execute("SELECT data, size FROM blobs WHERE key = %s", [key]).fetchone()
        if row is None:
            raise StoreError(f"the stored file {key} is missing from the store {self._shown}")
        data, size = row
        if data is None:
            shared = blob_dir()
            outside = None if shared is None else _inside(shared, key)
            if outside is None or not outside.exists():
                raise StoreError(
                    f"the stored file {key} ({size:,} bytes) lives in the store's blob folder, which "
                    f"{'is not set here' if shared is None else f'lacks it ({shared})'}: set "
                    "nbtrack.settings(blob_dir=...) or NBTRACK_BLOB_DIR to the shared folder"
                )
            return outside
        target = _inside(self.cache_dir, key)
        _place(target, lambda out: out.write(bytes(data)))
        return target

    def blob_bytes(self, key: str) -> bytes:
        return self.blob_file(key).read_bytes()

    def _forget_blobs(self, cur: Any, grace_s: float) -> None:
        """Media blobs no run names any more, once ``grace_s`` old (inside a transaction)."""
        rows = cur.execute(
            "DELETE FROM blobs b WHERE b.key LIKE 'media/%%' AND b.created_at < "
            "(now() AT TIME ZONE 'UTC') - make_interval(secs => %s) "
            "AND NOT EXISTS (SELECT 1 FROM media_points m WHERE m.path = b.key) "
            "RETURNING key, data IS NULL",
            [float(grace_s)],
        ).fetchall()
        shared = blob_dir()
        for key, outside in rows:
            if outside and shared is not None:
                with contextlib.suppress(OSError, ValueError):
                    _inside(shared, key).unlink()
