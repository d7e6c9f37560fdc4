"""The run store: one DuckDB file under a directory, opened briefly under a file lock.

No process keeps the DuckDB file open (that would lock every other process out,
readers included). :meth:`Store.write` opens it read-write under an exclusive lock
for one short transaction; :meth:`Store.read` opens it read-only under a shared lock.

Logging never waits for that lock: each process saves what it logged as segment
files in ``pending/`` (:meth:`Store.save`, see :mod:`nbtrack.store.journal`), and
whoever finds the lock free folds them into the file (:meth:`Store.fold`). Readers
that find it held include the pending segments, so nothing logged is invisible.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import tempfile
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from .. import _settings
from ..errors import StoreBusy, StoreError
from . import _fold, journal, lock, schema
from ._artifacts import ArtifactQueries
from ._imports import ImportQueries
from ._manage import ManageQueries
from ._reads import ReadQueries
from ._sweeps import SweepQueries
from .base import StoreBase
from .blobs import BlobFiles

__all__ = ["Store", "StoreBase", "get_store"]

#: Most points one fold transaction takes: DuckDB holds a transaction's rows in memory
#: until COMMIT (+55 MiB for 1M points), so a long backlog goes in steps.
FOLD_POINTS = 500_000
#: Names this folder's incarnation (see :meth:`Store.generation`).
GENERATION_FILE = "generation"


class Store(ReadQueries, ManageQueries, ArtifactQueries, SweepQueries, ImportQueries, BlobFiles,
            StoreBase):
    """A store directory holding ``nbtrack.duckdb`` and its lock file.

    The DuckDB implementation of the storage contract: every SQL statement nbtrack
    runs lives in this package, grouped by domain in the mixin modules
    (``_reads``, ``_manage``, ``_artifacts``, ``_sweeps``, ``_imports``).

    Use :func:`get_store` to get the one instance per directory in this process.
    """

    def __init__(self, directory: Path) -> None:
        self.dir = directory
        self.db_path = directory / _settings.DB_FILE
        self.lock_path = directory / _settings.LOCK_FILE
        # One thread at a time per process: DuckDB refuses a read-only connection
        # while the same process holds the file read-write.
        self._thread_lock = threading.RLock()
        self._local = threading.local()
        self._schema_ok = False
        self.pending_dir = directory / journal.PENDING_DIR
        # Where points go when the store folder itself cannot be written (a full or
        # read-only disk at exit): a fold of this store looks there too.
        digest = hashlib.sha1(str(directory).encode()).hexdigest()[:12]
        self.fallback_dir = Path(tempfile.gettempdir()) / f"nbtrack-unsaved-{os.getuid()}" / digest

    def __repr__(self) -> str:
        return f"Store({str(self.dir)!r})"

    @property
    def location(self) -> str:
        return str(self.dir)

    def exists(self) -> bool:
        """Whether anything was ever stored here (in the file, or saved and not folded yet)."""
        return self.db_path.exists() or bool(self.pending_paths())

    @contextmanager
    def write(self, timeout: float | None = None, *, exclusive_now: bool = False) -> Iterator[Any]:
        """A read-write connection for one short unit of work, migrated to the latest schema.

        ``exclusive_now``: only if the lock is free right now; else yields None.
        """
        held = getattr(self._local, "con", None)
        if held is not None:
            if getattr(self._local, "read_only", True):
                raise StoreError("cannot write to the store inside a read of it")
            yield held
            return
        try:
            self.dir.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise StoreError(f"cannot create the store directory {self.dir}: {exc}") from exc
        if not self.db_path.exists():
            # Someone deleted the store folder while this process ran (the README says
            # that starts afresh): make the schema again.
            self._schema_ok = False
        with self._session(read_only=False, timeout=timeout, now=exclusive_now) as con:
            if con is None:
                yield None
                return
            if not self._schema_ok:
                self._check_newer(con)
                schema.migrate(con)
                self._schema_ok = True
            # Every write starts from everything logged so far: an edit (rename, tag,
            # trash) of a run still only in pending segments finds it.
            self._fold_with(con)
            yield con

    @contextmanager
    def read(self, timeout: float | None = None) -> Iterator[Any | None]:
        """A read-only connection, or ``None`` when nothing was ever written here."""
        held = getattr(self._local, "con", None)
        if held is not None:
            yield held
            return
        if not self.db_path.exists():
            if self.dir.exists() and not self.dir.is_dir():
                raise StoreError(f"the store path {self.dir} is a file, not a directory")
            yield None
            return
        if not self._schema_ok:
            self._ensure_schema()
        with self._session(read_only=True, timeout=timeout) as con:
            yield con

    @contextmanager
    def _session(self, *, read_only: bool, timeout: float | None, now: bool = False) -> Iterator[Any]:
        """Lock (shared to read, exclusive to write), open, hand out, close, unlock.

        ``now``: take the lock only if it is free at once, else hand out None.
        """
        timeout = _settings.current().lock_timeout if timeout is None else timeout
        # Imported before the lock is taken: a first import of DuckDB takes 0.2-1 s on a
        # busy machine, which every other process would wait out behind the lock.
        import duckdb  # noqa: F401

        if not self._thread_lock.acquire(blocking=not now):
            yield None
            return
        try:
            if now:
                fd = lock.try_acquire(str(self.lock_path), shared=read_only)
                if fd is None:
                    yield None
                    return
            else:
                fd = lock.acquire(str(self.lock_path), shared=read_only, timeout=timeout)
            try:
                con = self._connect(read_only=read_only)
                try:
                    self._local.con, self._local.read_only = con, read_only
                    try:
                        yield con
                    except Exception as exc:
                        self._raise_if_damaged(exc)
                        raise
                    finally:
                        self._local.con = None
                finally:
                    con.close()
            finally:
                lock.release(fd)
        finally:
            self._thread_lock.release()

    def _raise_if_damaged(self, exc: BaseException) -> None:
        """A DuckDB error that means the file is damaged, as a StoreError saying what to do."""
        text = str(exc)
        if any(sign in text.lower() for sign in _DAMAGE_SIGNS):
            raise StoreError(
                f"the store file {self.db_path} is damaged ({type(exc).__name__}: {text}). Move it "
                f"aside (mv {self.db_path} {self.db_path}.damaged) and nbtrack starts a new store; "
                f"points not yet in it stay in {self.pending_dir} and go into the new one."
            ) from None

    # -- the write path: save (never waits), fold (when the lock is free) -----------
    def save(self, segment: journal.Segment) -> Path:
        """Save what a process logged as a pending segment; never waits on other processes.

        Raises ``OSError`` when the store folder cannot be written (the caller keeps
        the points and retries).
        """
        return journal.write_segment(self.pending_dir, segment)

    def save_elsewhere(self, segment: journal.Segment) -> Path:
        """Save a segment beside the system's temporary files, when the store folder
        cannot take it; any later fold of this store picks it up from there."""
        return journal.write_segment(self.fallback_dir, segment, sync=True)

    def pending_paths(self) -> list[Path]:
        """Segment files not folded yet, oldest first."""
        paths = journal.segment_paths(self.pending_dir) + journal.segment_paths(self.fallback_dir)
        return sorted(paths, key=lambda p: p.name)

    def generation(self) -> Any:
        # A random id in a file made with the folder's first use: an inode number could
        # come back for a folder deleted and made again.
        path = self.dir / GENERATION_FILE
        try:
            return path.read_text()
        except FileNotFoundError:
            pass
        except OSError:
            return None
        token = os.urandom(8).hex()
        temp = self.dir / f".{GENERATION_FILE}-{os.getpid()}-{token}"
        try:
            temp.write_text(token)
            try:
                os.link(temp, path)  # whole or absent, and only one process's token wins
            except FileExistsError:
                token = path.read_text()
            finally:
                temp.unlink()
        except OSError:  # no folder (None), or a read-only one (it cannot be made again)
            return None if not self.dir.is_dir() else "read-only"
        return token

    def oldest_pending_age(self) -> float:
        """Seconds since the oldest pending segment was saved (0 when none is pending)."""
        return journal.oldest_age(self.pending_paths())

    def fold(self, wait: float = 0.0) -> bool | None:
        """Fold every pending segment into the file if the lock can be had within ``wait`` s.

        Returns True when everything pending was folded, None when the lock was held
        by someone else (nothing more done; the segments stay pending and visible).
        Raises :class:`StoreError` when the file cannot be written; the segments stay.
        A long backlog goes in several sessions of at most ``FOLD_POINTS`` points, each
        opening and closing the file: DuckDB keeps what a session wrote in memory until
        it closes, and readers get in between.
        """
        pending = self.pending_paths()
        while pending:
            # One session at a time per process: write() holds the store's thread lock.
            try:
                with self.write(timeout=wait, exclusive_now=wait <= 0) as con:
                    if con is None:
                        return None  # write() folds one batch as it opens
            except StoreBusy:
                return None
            left = self.pending_paths()
            if left == pending:  # nothing could go (files that cannot be deleted): stop
                break
            pending = left
        return True

    def _fold_with(self, con: Any) -> None:
        """Fold pending segments, oldest first, up to about ``FOLD_POINTS`` points."""
        if not self.pending_paths():
            return
        opened = self._file_identity()
        folded = {n for (n,) in con.execute("SELECT name FROM folded_segments").fetchall()}
        batch: list[journal.Segment] = []
        size = 0
        done: list[Path] = []
        for path in self.pending_paths():
            if size >= FOLD_POINTS:
                break
            if path.name in folded:  # folded by a process killed before it deleted the file
                done.append(path)
                continue
            segment = self._read_pending(path)
            if segment is None:
                continue
            batch.append(segment)
            done.append(path)
            size += segment.point_count()
        if batch:
            self._commit(con, batch)
        if opened is None or self._file_identity() != opened:
            # The store folder was deleted (and maybe made again) during this fold: what
            # went in went into the deleted file. Keep the segments: they go into the new one.
            return
        for path in done:
            with contextlib.suppress(FileNotFoundError):
                path.unlink()
        # Their names go with the next fold's transaction (see _commit): one COMMIT, and
        # so one WAL sync, per fold rather than two.

    def _file_identity(self) -> tuple[int, int] | None:
        try:
            stat = self.db_path.stat()
        except OSError:
            return None
        return stat.st_dev, stat.st_ino

    def _commit(self, con: Any, segments: list[journal.Segment]) -> None:
        con.execute("BEGIN TRANSACTION")
        try:
            # Names of segments folded earlier whose files are gone: nothing can fold
            # them again, so they need not be remembered.
            con.execute("DELETE FROM folded_segments WHERE NOT list_contains(?, name)",
                        [[p.name for p in self.pending_paths()]])
            _fold.apply_segments(con, segments)
            con.execute("COMMIT")
        except BaseException:
            # A failed COMMIT (disk full) may already have ended the transaction.
            with contextlib.suppress(Exception):
                con.execute("ROLLBACK")
            raise

    def _read_pending(self, path: Path) -> journal.Segment | None:
        """A pending segment, or None (set aside with a warning) when it is damaged."""
        from ..errors import warn

        try:
            return journal.read_segment(path)
        except FileNotFoundError:
            return None
        except (journal.DamagedSegment, ValueError, KeyError, TypeError) as exc:
            aside = path.with_name(path.name + ".damaged")
            with contextlib.suppress(OSError):
                path.rename(aside)
            warn(f"nbtrack: a pending segment of the store {self.dir} is damaged and was set "
                 f"aside as {aside} ({exc}); the points in it are not in the store")
            return None

    def pending_for_read(self, con: Any) -> list[journal.Segment]:
        """Pending segments a reader holding the shared lock must include."""
        paths = self.pending_paths()
        if not paths:
            return []
        try:
            folded = {n for (n,) in con.execute("SELECT name FROM main.folded_segments").fetchall()}
        except Exception:  # a store older than the table: nothing was folded with it
            folded = set()
        segments = []
        for path in paths:
            if path.name not in folded:
                segment = self._read_pending(path)
                if segment is not None:
                    segments.append(segment)
        return segments

    def _ensure_schema(self) -> None:
        """Migrate an older store before the first read (a short write)."""
        with self._thread_lock:
            fd = lock.acquire(str(self.lock_path), shared=True, timeout=_settings.current().lock_timeout)
            try:
                con = self._connect(read_only=True)
                try:
                    self._check_newer(con)
                    current = schema.version(con)
                finally:
                    con.close()
            finally:
                lock.release(fd)
        if current < schema.LATEST:
            try:
                with self.write():
                    pass
            except StoreError:
                if os.access(self.dir, os.W_OK):
                    raise
                # A store on a read-only file system is read as it is (nothing can be
                # written there, so nothing newer than its schema is either).
        self._schema_ok = True

    def _connect(self, read_only: bool) -> Any:
        import duckdb

        try:
            return duckdb.connect(str(self.db_path), read_only=read_only)
        except duckdb.Error as exc:
            text = str(exc)
            self._raise_if_damaged(exc)
            if "lock" in text.lower():  # a process outside nbtrack's lock holds the file
                raise StoreError(
                    f"the store {self.db_path} is open in another program that does not use "
                    f"nbtrack's lock (a DuckDB shell?); close it and retry ({text})"
                ) from None
            raise StoreError(
                f"cannot open the store {self.db_path}: {text}. If the file is damaged, move it "
                "aside and nbtrack starts a new store."
            ) from None

    def _check_newer(self, con: Any) -> None:
        found = schema.version(con)
        if found > schema.LATEST:
            raise StoreError(
                f"the store {self.db_path} has schema version {found}, newer than this "
                f"nbtrack understands ({schema.LATEST}); upgrade nbtrack (pip install -U nbtrack)"
            )


#: Words in DuckDB's errors for a damaged file (truncated, overwritten, bad checksum).
_DAMAGE_SIGNS = ("could not read enough bytes", "corrupt", "checksum", "not a valid duckdb",
                 "failed to read", "invalid block", "serialization error")

_stores: dict[Any, StoreBase] = {}
_stores_lock = threading.Lock()


def get_store(location: str | os.PathLike[str] | None = None) -> Any:
    """The process-wide store for ``location`` (default: the configured store).

    A folder gives the local DuckDB :class:`Store`; a ``postgresql://`` URL the team
    store (:class:`nbtrack.store.postgres.PostgresStore`), one instance each per process.
    """
    chosen = _settings.store_location(location)
    with _stores_lock:
        store = _stores.get(chosen)
        if store is None:
            if isinstance(chosen, str):
                from .postgres import PostgresStore

                store = PostgresStore(chosen)
            else:
                store = Store(chosen)
            _stores[chosen] = store
        return store
