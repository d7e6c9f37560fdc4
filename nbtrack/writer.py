"""The background writer: moves buffered points from runs into the store in batches.

``Run.log`` only appends to the run's ``deque`` (thread-safe, no lock). Once per
``flush_interval`` this thread drains every run of its process, converts the points
to columns and writes them, with run metadata and heartbeats, in one transaction
under the store's exclusive lock. A failed write (full disk, lock held too long)
keeps the batch in memory, warns once, and is retried on the next cycle.
"""

from __future__ import annotations

import contextlib
import threading
import time
import weakref
from typing import TYPE_CHECKING, Any

from . import _settings
from .errors import warn, warn_once
from .store import Store

if TYPE_CHECKING:
    from .run import Run

__all__ = ["Writer", "writer_for"]

HEARTBEAT_EVERY = 5.0


class _Batch:
    """Points drained from one run and not yet in the store, as columns."""

    __slots__ = ("keys", "steps", "times", "values")

    def __init__(self) -> None:
        self.keys: list[str] = []
        self.steps: list[int] = []
        self.values: list[float | None] = []
        self.times: list[float] = []

    def __len__(self) -> int:
        return len(self.keys)

    def take(self, records: list[tuple[int, float, dict[str, Any]]]) -> None:
        keys, steps, values, times = self.keys, self.steps, self.values, self.times
        for step, when, data in records:
            n = len(data)
            keys.extend(data)
            values.extend(data.values())
            steps.extend([step] * n)
            times.extend([when] * n)

    def drop_oldest(self, count: int) -> None:
        del self.keys[:count], self.steps[:count], self.values[:count], self.times[:count]


class Writer:
    """One per store per process; see the module docstring."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self._runs: dict[str, Run] = {}
        self._batches: dict[str, _Batch] = {}
        self._lock = threading.RLock()  # one drain or flush at a time
        self._wake = threading.Event()
        self._thread: threading.Thread | None = None
        self._dropped = 0
        self._failing = False
        self.last_error: BaseException | None = None

    # -- runs -------------------------------------------------------------------
    def add(self, run: Run) -> None:
        with self._lock:
            self._runs[run.id] = run
            self._batches[run.id] = _Batch()
        self._ensure_thread()
        self._wake.set()  # show the new run to readers without waiting a whole interval

    def _ensure_thread(self) -> None:
        if self._thread is None or not self._thread.is_alive():
            self._thread = threading.Thread(
                target=_loop, args=(weakref.ref(self),), name="nbtrack-writer", daemon=True
            )
            self._thread.start()

    # -- draining (no I/O) ------------------------------------------------------
    def drain(self, run: Run) -> None:
        """Move a run's queued points into its batch and update its summary."""
        with self._lock:
            queue = run._queue
            count = len(queue)
            if not count:
                return
            records = [queue.popleft() for _ in range(count)]
            batch = self._batches.setdefault(run.id, _Batch())
            start = len(batch)
            batch.take(records)
            # zip keeps the last value per key: W&B's summary semantics. A logged None
            # (missing) must not hide the last real value, so drop those first.
            new_values = batch.values[start:]
            if None in new_values:
                pairs = zip(batch.keys[start:], new_values)
                run.summary._absorb({k: v for k, v in pairs if v is not None})
            else:
                run.summary._absorb(dict(zip(batch.keys[start:], new_values)))
            run._last_step = records[-1][0]
            if run._listeners:
                run._notify("points", (batch.keys[start:], batch.steps[start:],
                                       new_values, batch.times[start:]))

    # -- writing ----------------------------------------------------------------
    def flush(self, timeout: float | None = None) -> bool:
        """Write everything pending; return whether the store now has it all."""
        with self._lock:
            runs = list(self._runs.values())
            for run in runs:
                self.drain(run)
            now = time.time()
            due = [r for r in runs if r._needs_write(now)]
            points = sum(len(b) for b in self._batches.values())
            if not due and not points:
                return True
            fields = {run.id: run._take_dirty() for run in due}
            try:
                self._write(due, fields, now, timeout)
            except Exception as exc:
                for run in due:
                    run._unwritten(fields[run.id])  # never into the user's code: keep, warn once, retry
                self.last_error = exc
                self._bound_memory()
                if self._failing:
                    return False
                self._failing = True  # one warning per outage, not per retry
                warn(
                    f"nbtrack could not write to the store {self.store.db_path} "
                    f"({type(exc).__name__}: {exc}). Your code keeps running; nbtrack keeps "
                    f"{points:,} points in memory and retries every "
                    f"{_settings.current().flush_interval:g} s.",
                )
                return False
            if self._failing:
                self._failing = False
                lost = f"{self._dropped:,} points were dropped" if self._dropped else "nothing was lost"
                warn(f"nbtrack: the store {self.store.db_path} is writable again; {lost}.")
            self.last_error = None
            for run in due:
                run._written(now)
            for run_id in [i for i, r in self._runs.items() if r._done_writing()]:
                del self._runs[run_id]
                self._batches.pop(run_id, None)
            return True

    def _write(
        self, due: list[Run], fields: dict[str, set[str]], now: float, timeout: float | None
    ) -> None:
        import numpy as np

        columns = []
        for run_id, batch in self._batches.items():
            if not len(batch):
                continue
            try:
                values = np.array(batch.values, dtype=np.float64)
            except (TypeError, OverflowError):  # None and ints beyond a double
                values = np.array(
                    [np.nan if v is None else float(v) for v in batch.values], dtype=np.float64
                )
            # DuckDB reads NaN in a numpy float column as NULL; we keep the two apart
            # (None logged = missing, NaN logged = a diverged value) with a marker column.
            special = None
            nan = np.isnan(values)
            if nan.any():
                special = nan.astype(np.int8) * 2
                if None in batch.values:
                    special[[v is None for v in batch.values]] = 1
            micros = (np.array(batch.times, dtype=np.float64) * 1e6).astype(np.int64)
            frame = {
                "key": np.array(batch.keys, dtype=object),
                "step": np.array(batch.steps, dtype=np.int64),
                "value": values,
                "time": micros.view("datetime64[us]"),
            }
            if special is not None:
                frame["special"] = special
            columns.append((run_id, frame))
        with self.store.write(timeout=timeout) as con:
            con.execute("BEGIN TRANSACTION")
            try:
                for run in due:
                    run._write_record(con, now, fields[run.id])
                for run_id, frame in columns:
                    value = (
                        "CASE special WHEN 1 THEN NULL WHEN 2 THEN 'NaN'::DOUBLE ELSE value END"
                        if "special" in frame else "value"
                    )
                    con.register("nbtrack_batch", frame)
                    con.execute(
                        f"INSERT INTO metric_points SELECT ?, key, step, {value}, time "
                        "FROM nbtrack_batch", [run_id],
                    )
                    con.unregister("nbtrack_batch")
                con.execute("COMMIT")
            except BaseException:
                # A failed COMMIT (disk full) may already have ended the transaction.
                with contextlib.suppress(Exception):
                    con.execute("ROLLBACK")
                raise
        for run_id, _ in columns:
            self._batches[run_id] = _Batch()

    def _bound_memory(self) -> None:
        limit = _settings.current().max_buffered_points
        total = sum(len(b) for b in self._batches.values())
        if total <= limit:
            return
        excess = total - limit
        for batch in self._batches.values():
            cut = min(excess, len(batch))
            batch.drop_oldest(cut)
            excess -= cut
            self._dropped += cut
        warn_once(
            "dropped",
            f"nbtrack: the store has been unwritable for a while; dropped the oldest "
            f"{self._dropped:,} points to keep memory under {limit:,} points "
            "(raise nbtrack.settings(max_buffered_points=...) to keep more).",
        )

    def pending_points(self) -> int:
        with self._lock:
            queued = sum(len(r._queue) for r in self._runs.values())
            return queued + sum(len(b) for b in self._batches.values())

    def active(self) -> bool:
        return bool(self._runs)


def _loop(ref: weakref.ReferenceType[Writer]) -> None:
    while True:
        writer = ref()
        if writer is None:
            return
        wake = writer._wake
        del writer
        wake.wait(_settings.current().flush_interval)
        wake.clear()
        writer = ref()
        if writer is None:
            return
        try:
            writer.flush()
        except Exception as exc:  # the thread must survive anything
            warn_once("writer-thread", f"nbtrack's background writer hit {exc!r}; retrying")
        del writer


_writers: dict[str, Writer] = {}
_writers_lock = threading.Lock()


def writer_for(store: Store) -> Writer:
    with _writers_lock:
        writer = _writers.get(str(store.dir))
        if writer is None:
            writer = _writers[str(store.dir)] = Writer(store)
        return writer


def all_writers() -> list[Writer]:
    with _writers_lock:
        return list(_writers.values())


def _forget_after_fork() -> None:
    # A forked child (a DataLoader worker, say) must not write its parent's buffers.
    global _writers_lock
    _writers.clear()
    _writers_lock = threading.Lock()
