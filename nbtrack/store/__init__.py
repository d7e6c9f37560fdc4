"""The run store: one DuckDB file under a directory, opened briefly under a file lock.

No process keeps the DuckDB file open (that would lock every other process out,
readers included). :meth:`Store.write` opens it read-write under an exclusive lock
for one short transaction; :meth:`Store.read` opens it read-only under a shared lock.
Each process buffers its runs' metrics in memory and a background thread writes
them about once a second (see :mod:`nbtrack.writer`).
"""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from .. import _settings
from ..errors import StoreError
from . import lock, schema

__all__ = ["Store", "get_store"]


class Store:
    """A store directory holding ``nbtrack.duckdb`` and its lock file.

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

    def __repr__(self) -> str:
        return f"Store({str(self.dir)!r})"

    def exists(self) -> bool:
        return self.db_path.exists()

    @contextmanager
    def write(self, timeout: float | None = None) -> Iterator[Any]:
        """A read-write connection for one short unit of work, migrated to the latest schema."""
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
        with self._session(read_only=False, timeout=timeout) as con:
            if not self._schema_ok:
                self._check_newer(con)
                schema.migrate(con)
                self._schema_ok = True
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
    def _session(self, *, read_only: bool, timeout: float | None) -> Iterator[Any]:
        """Lock (shared to read, exclusive to write), open, hand out, close, unlock."""
        timeout = _settings.current().lock_timeout if timeout is None else timeout
        with self._thread_lock:
            fd = lock.acquire(str(self.lock_path), shared=read_only, timeout=timeout)
            try:
                con = self._connect(read_only=read_only)
                try:
                    self._local.con, self._local.read_only = con, read_only
                    try:
                        yield con
                    finally:
                        self._local.con = None
                finally:
                    con.close()
            finally:
                lock.release(fd)

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
            with self.write():
                pass
        self._schema_ok = True

    def _connect(self, read_only: bool) -> Any:
        import duckdb

        try:
            return duckdb.connect(str(self.db_path), read_only=read_only)
        except duckdb.Error as exc:
            text = str(exc)
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


_stores: dict[Path, Store] = {}
_stores_lock = threading.Lock()


def get_store(directory: str | os.PathLike[str] | None = None) -> Store:
    """The process-wide :class:`Store` for ``directory`` (default: the configured store)."""
    path = _settings.store_dir(directory)
    with _stores_lock:
        store = _stores.get(path)
        if store is None:
            store = _stores[path] = Store(path)
        return store
