"""The team store: the storage contract on a PostgreSQL database.

``NBTRACK_STORE=postgresql://user@host:5432/db`` (or ``nbtrack.settings(store=...)``)
points every part of nbtrack here. The write path is the local store's: a process
saves what it logged as segment files in a folder of its own machine (under the
user's cache folder; never waits on the database), and its writer thread folds them
into the database about once a second, in one transaction per batch with ``COPY``
for the points. While the database is slow or down, training goes on and the points
wait on local disk; the writer says so once and again when they went in.

Readers never wait on writers (PostgreSQL's snapshots). A run whose process died
shows as ``crashed`` to every reader: on its own host by its process id, elsewhere
by its heartbeat (``settings(heartbeat_timeout=)``).

The SQL is in this package, in PostgreSQL's dialect, grouped as in the local store:
:mod:`._fold` (segments in), :mod:`._reads`, :mod:`._writes` (names, tags, trash,
sweeps, artifacts), :mod:`._blobs`; the schema and its migrations in :mod:`.schema`.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from ... import _settings
from ...errors import StoreError
from .. import journal
from ..base import StoreBase
from . import _fold, schema
from ._blobs import PgBlobs
from ._connect import connect, explain
from ._reads import PgReads
from ._writes import PgWrites

__all__ = ["PostgresStore"]

#: Most points one fold transaction takes (a long backlog goes in steps; readers see each).
FOLD_POINTS = 500_000


def _cache_root() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "nbtrack"


class PostgresStore(PgReads, PgWrites, PgBlobs, StoreBase):
    """The storage contract on a PostgreSQL database (see the module docstring).

    Use :func:`nbtrack.store.get_store` with the URL to get the one instance per process.
    """

    pending_visible = False

    def __init__(self, url: str) -> None:
        self.url = url
        self._shown = _settings.redact(url)
        digest = hashlib.sha1(self._shown.encode()).hexdigest()[:12]
        #: this machine's segments waiting to go into the database
        self.pending_dir = _cache_root() / "pending" / digest
        self.fallback_dir = Path(tempfile.gettempdir()) / f"nbtrack-unsaved-{os.getuid()}" / digest
        #: blobs saved while logging, sent with the next fold
        self.outbox_dir = _cache_root() / "outbox" / digest
        #: blobs read back, kept for blob_file()
        self.cache_dir = _cache_root() / "blobs" / digest
        self._local = threading.local()
        self._fold_lock = threading.Lock()
        self._schema_ok = False
        self._generation: str | None = None
        self._existed = False
        self._next_prune = 0.0
        # Trials' stop requests, read by a poller thread (see PgWrites.trial_stop_reason).
        self._stops_lock = threading.Lock()
        self._stops_wanted: dict[tuple[str, str], float] = {}
        self._stops_seen: dict[tuple[str, str], str] = {}
        self._stops_thread: threading.Thread | None = None
        # What a fold needs, now: the first fold may be at interpreter exit, when imports
        # that register exit hooks (psycopg's asyncio, pandas under pyarrow) fail.
        import pandas  # noqa: F401
        import pyarrow.csv  # noqa: F401

        with contextlib.suppress(ImportError):
            import psycopg  # noqa: F401

    def __repr__(self) -> str:
        return f"PostgresStore({self._shown!r})"

    @property
    def location(self) -> str:
        return self._shown

    @property
    def address(self) -> str:
        return self.url

    @property
    def pending_place(self) -> str:
        return f"{self.pending_dir} on this machine until the database takes them"

    # -- connections ------------------------------------------------------------------------
    def close(self) -> None:
        """Close this thread's connection (others close when their threads end)."""
        con = getattr(self._local, "con", None)
        self._local.con = None
        if con is not None and self._local.pid == os.getpid():
            con.close()

    def _con(self) -> Any:
        """This thread's connection (autocommit; made again after a fork or a lost link),
        on a database brought to the latest schema."""
        con = getattr(self._local, "con", None)
        if con is None or self._local.pid != os.getpid() or con.closed or con.broken:
            con = connect(self.url, self._shown)
            self._local.con, self._local.pid, self._local.views = con, os.getpid(), False
        if not self._schema_ok:
            self._migrate(con)
        return con

    def _migrate(self, con: Any) -> None:
        import psycopg

        try:
            found = schema.version(con.cursor())
            if found > schema.LATEST:
                raise StoreError(
                    f"the store {self._shown} has schema version {found}, newer than this nbtrack "
                    f"understands ({schema.LATEST}); upgrade nbtrack (pip install -U nbtrack)"
                )
            if found < schema.LATEST:
                schema.migrate(con)
        except psycopg.Error as exc:
            raise StoreError(explain(exc, self._shown)) from None
        self._schema_ok = True

    @contextmanager
    def _cursor(self) -> Iterator[Any]:
        """A cursor on this thread's connection; database errors as :class:`StoreError`."""
        import psycopg

        con = self._con()
        try:
            with con.cursor() as cur:
                yield cur
        except psycopg.Error as exc:
            if con.broken or con.closed:
                self._local.con = None
            if isinstance(exc, psycopg.errors.UndefinedTable):
                self._schema_ok = False  # the schema was dropped under us: made again next time
                self._local.views = False
            error = StoreError(explain(exc, self._shown))
            error.refused_data = isinstance(exc, psycopg.errors.DataError)  # type: ignore[attr-defined]
            raise error from None
        except UnicodeEncodeError as exc:  # text PostgreSQL cannot hold (a lone surrogate)
            error = StoreError(f"the PostgreSQL store {self._shown} cannot hold this text: {exc}")
            error.refused_data = True  # type: ignore[attr-defined]
            raise error from None

    @contextmanager
    def _transaction(self) -> Iterator[Any]:
        """A cursor inside one read-write transaction."""
        with self._cursor() as cur, cur.connection.transaction():
            yield cur

    # -- the write path: save (never waits), fold (in the writer's thread) ------------------
    def exists(self) -> bool:
        if self._existed or self.pending_paths():
            return True
        try:
            with self._cursor():
                self._existed = True
        except StoreError:
            return False
        return True

    def save(self, segment: journal.Segment) -> Path:
        return journal.write_segment(self.pending_dir, segment)

    def save_elsewhere(self, segment: journal.Segment) -> Path:
        return journal.write_segment(self.fallback_dir, segment, sync=True)

    def pending_paths(self) -> list[Path]:
        paths = journal.segment_paths(self.pending_dir) + journal.segment_paths(self.fallback_dir)
        return sorted(paths, key=lambda p: p.name)

    def generation(self) -> Any:
        # Read by the writer after every save: never a round trip. Folds refresh it.
        return self._generation

    def oldest_pending_age(self) -> float:
        return journal.oldest_age(self.pending_paths())

    def fold(self, wait: float = 0.0) -> bool | None:
        """Send every pending segment (and blob) of this machine to the database.

        Returns True when all went in, None when another thread of this process is
        folding; raises :class:`StoreError` when the database cannot take them (they
        stay on disk and go with a later fold).
        """
        got = self._fold_lock.acquire(timeout=wait) if wait > 0 else self._fold_lock.acquire(blocking=False)
        if not got:
            return None
        try:
            # Listed before the outbox goes: every blob a listed segment names is sent first.
            pending = self.pending_paths()
            self._send_outbox()
            while pending:
                self._fold_batch(pending)
                left = self.pending_paths()
                if left == pending:
                    break
                pending = left
            if not self.pending_paths():
                with self._cursor() as cur:
                    self._generation = cur.execute("SELECT generation FROM store_info").fetchone()[0]
                    if time.monotonic() > self._next_prune:
                        # Names of segments folded a month ago: their files are long gone.
                        cur.execute(
                            "DELETE FROM folded_segments WHERE folded_at < "
                            "(now() AT TIME ZONE 'UTC') - interval '30 days'"
                        )
                        self._next_prune = time.monotonic() + 3600
            return True
        finally:
            self._fold_lock.release()

    def _fold_batch(self, paths: list[Path]) -> None:
        batch: list[journal.Segment] = []
        taken: list[Path] = []
        size = 0
        for path in paths:
            if size >= FOLD_POINTS:
                break
            segment = self._read_pending(path)
            if segment is None:
                continue
            batch.append(segment)
            taken.append(path)
            size += segment.point_count()
        if batch:
            try:
                self._apply(batch)
            except StoreError as exc:
                if not getattr(exc, "refused_data", False):
                    raise  # the database is away: everything stays and goes with a later fold
                # Something in the batch the database refuses (a NUL character in a name): one
                # segment at a time, and the ones refused are set aside with a line, so one bad
                # value never holds back every later run of this machine.
                for path, segment in zip(taken, batch):
                    try:
                        self._apply([segment])
                    except StoreError as one:
                        if not getattr(one, "refused_data", False):
                            raise
                        self._set_aside(path, segment, one)
        for path in taken:
            with contextlib.suppress(FileNotFoundError):
                path.unlink()

    def _apply(self, batch: list[journal.Segment]) -> None:
        with self._transaction() as cur:
            _fold.apply_segments(cur, batch)
            self._generation = cur.execute("SELECT generation FROM store_info").fetchone()[0]

    def _set_aside(self, path: Path, segment: journal.Segment, exc: BaseException) -> None:
        from ...errors import warn

        aside = path.with_name(path.name + ".refused")
        with contextlib.suppress(OSError):
            path.rename(aside)
        runs = sorted({g.run_id for g in segment.points} | {r["id"] for r in segment.runs})
        warn(
            f"nbtrack: the store {self._shown} refused {segment.point_count():,} points and "
            f"{len(segment.runs)} run record(s) of run(s) {', '.join(runs)} ({exc}); they are kept "
            f"in {aside} and were not stored. Other runs go on."
        )

    def _read_pending(self, path: Path) -> journal.Segment | None:
        from ...errors import warn

        try:
            return journal.read_segment(path)
        except FileNotFoundError:
            return None
        except (journal.DamagedSegment, ValueError, KeyError, TypeError) as exc:
            aside = path.with_name(path.name + ".damaged")
            with contextlib.suppress(OSError):
                path.rename(aside)
            warn(
                f"nbtrack: a pending segment for the store {self._shown} is damaged and was set "
                f"aside as {aside} ({exc}); the points in it are not in the store"
            )
            return None
