"""The background writer: moves buffered points from runs into the store in batches.

``Run.log`` only extends the run's ``deque`` (thread-safe, no lock). Once per
``flush_interval`` this thread drains every run of its process, turns the points
into numpy columns and writes them, with run metadata and heartbeats, in one
transaction under the store's exclusive lock. A failed write (full disk, lock held
too long) keeps the batch in memory, warns once, and is retried on the next cycle.
"""

from __future__ import annotations

import contextlib
import threading
import time
import weakref
from itertools import chain
from typing import TYPE_CHECKING, Any

from . import _settings
from .errors import warn, warn_once
from .store import Store

if TYPE_CHECKING:
    from .run import Run

__all__ = ["Writer", "writer_for"]

HEARTBEAT_EVERY = 5.0


class _Chunk:
    """One drain's points as numpy columns (``special``: 1 = missing, 2 = NaN)."""

    __slots__ = ("keys", "special", "steps", "times", "values")

    def __init__(self, keys: Any, steps: Any, values: Any, times: Any, special: Any) -> None:
        self.keys, self.steps, self.values, self.times, self.special = (
            keys, steps, values, times, special)

    def __len__(self) -> int:
        return len(self.keys)


def _columns(flat: list[Any]) -> tuple[_Chunk, list[str], list[Any]]:
    """Flat (step, time, metrics) triples -> a chunk, plus keys and raw values as lists.

    Everything per point runs in C (chain, map, numpy); Python loops only per call.
    """
    import numpy as np

    metrics = flat[2::3]
    counts = np.fromiter(map(len, metrics), dtype=np.int64, count=len(metrics))
    keys = list(chain.from_iterable(metrics))
    raw = list(chain.from_iterable(map(dict.values, metrics)))
    steps = np.repeat(np.array(flat[0::3], dtype=np.int64), counts)
    seconds = np.repeat(np.array(flat[1::3], dtype=np.float64), counts)
    try:
        values = np.array(raw, dtype=np.float64)  # None becomes NaN; told apart below
    except (TypeError, OverflowError, ValueError):  # ints beyond a double
        values = np.array([_as_float(v) for v in raw], dtype=np.float64)
    # DuckDB reads NaN in a numpy float column as NULL; we keep the two apart (None
    # logged = missing, NaN logged = a diverged value) with a marker column.
    special = None
    nan = np.isnan(values)
    if nan.any():
        special = nan.astype(np.int8) * 2
        if None in raw:
            special[[v is None for v in raw]] = 1
    micros = (seconds * 1e6).astype(np.int64).view("datetime64[us]")
    return _Chunk(np.array(keys, dtype=object), steps, values, micros, special), keys, raw


def _as_float(value: Any) -> float:
    if value is None:
        return float("nan")
    try:
        return float(value)
    except OverflowError:
        return float("inf") if value > 0 else float("-inf")


class Writer:
    """One per store per process; see the module docstring."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self._runs: dict[str, Run] = {}
        self._chunks: dict[str, list[_Chunk]] = {}
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
            self._chunks[run.id] = []
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
        """Move a run's queued points into its pending chunks and update its summary."""
        with self._lock:
            queue = run._queue
            count = len(queue) - len(queue) % 3  # a triple is added in one C call
            if not count:
                return
            pop = queue.popleft
            flat = [pop() for _ in range(count)]
            run._queued = 0
            chunk, keys, raw = _columns(flat)
            self._chunks.setdefault(run.id, []).append(chunk)
            # zip keeps the last value per key: W&B's summary semantics. A logged None
            # (missing) must not hide the last real value, so drop those first.
            if chunk.special is not None and None in raw:
                run.summary._absorb({k: v for k, v in zip(keys, raw) if v is not None})
            else:
                run.summary._absorb(dict(zip(keys, raw)))
            run._last_step = flat[-3]
            if run._listeners:
                seconds = (chunk.times.view("int64") / 1e6).tolist()
                run._notify("points", (keys, chunk.steps.tolist(), raw, seconds))

    def backlog(self, run: Run, must_wait: bool) -> None:
        """Called by the logging thread when a run's queue is long: write it now.

        Keeps memory flat when a loop logs faster than the background thread keeps
        up (it shares the GIL with that loop); the loop slows rather than grows. If
        the writer is busy, the loop goes on until the queue is twice the limit
        (``must_wait``), then waits for its turn to write.
        """
        if self._lock.acquire(blocking=must_wait):
            try:
                self.flush()
            finally:
                self._lock.release()
        else:
            self._wake.set()

    # -- writing ----------------------------------------------------------------
    def flush(self, timeout: float | None = None) -> bool:
        """Write everything pending; return whether the store now has it all."""
        with self._lock:
            runs = list(self._runs.values())
            for run in runs:
                self.drain(run)
            now = time.time()
            due = [r for r in runs if r._needs_write(now)]
            points = self._pending_in_chunks()
            if not due and not points:
                return True
            fields = {run.id: run._take_dirty() for run in due}
            try:
                self._write(due, fields, now, timeout)
            except Exception as exc:  # never into the user's code: keep, warn once, retry
                for run in due:
                    run._unwritten(fields[run.id])
                self.last_error = exc
                self._bound_memory()
                if not self._failing:
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
                self._chunks.pop(run_id, None)
            return True

    def _write(
        self, due: list[Run], fields: dict[str, set[str]], now: float, timeout: float | None
    ) -> None:
        import numpy as np

        frames = []
        for run_id, chunks in self._chunks.items():
            if not chunks:
                continue
            frame = {
                "key": np.concatenate([c.keys for c in chunks]),
                "step": np.concatenate([c.steps for c in chunks]),
                "value": np.concatenate([c.values for c in chunks]),
                "time": np.concatenate([c.times for c in chunks]),
            }
            if any(c.special is not None for c in chunks):
                frame["special"] = np.concatenate([
                    c.special if c.special is not None else np.zeros(len(c), np.int8)
                    for c in chunks])
            frames.append((run_id, frame))
        with self.store.write(timeout=timeout) as con:
            con.execute("BEGIN TRANSACTION")
            try:
                for run in due:
                    run._write_record(con, now, fields[run.id])
                for run_id, frame in frames:
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
        for run_id, _ in frames:
            self._chunks[run_id] = []

    def _pending_in_chunks(self) -> int:
        return sum(len(c) for chunks in self._chunks.values() for c in chunks)

    def _bound_memory(self) -> None:
        limit = _settings.current().max_buffered_points
        excess = self._pending_in_chunks() - limit
        if excess <= 0:
            return
        for chunks in self._chunks.values():
            while chunks and excess > 0:
                gone = chunks.pop(0)  # whole chunks, oldest first
                excess -= len(gone)
                self._dropped += len(gone)
        warn_once(
            "dropped",
            f"nbtrack: the store has been unwritable for a while; dropped the oldest "
            f"{self._dropped:,} points to keep memory under {limit:,} points "
            "(raise nbtrack.settings(max_buffered_points=...) to keep more).",
        )

    def pending_points(self) -> int:
        """Points not yet in the store (queued calls counted by their metrics)."""
        with self._lock:
            queued = 0
            for run in self._runs.values():
                queued += sum(len(item) for item in list(run._queue)[2::3])
            return queued + self._pending_in_chunks()

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
