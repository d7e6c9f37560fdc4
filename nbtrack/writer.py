"""The background writer: moves buffered points from runs into the store in batches.

``Run.log`` only extends the run's ``deque`` (thread-safe, no lock). Once per
``flush_interval`` this thread drains every run of its process, turns the points
into numpy columns and writes them, with run metadata and heartbeats, in one
transaction under the store's exclusive lock. A failed write (full disk, lock held
too long) puts the batch back in front of what was logged meanwhile, warns once,
and is retried on the next cycle.

A loop that logs faster than that: past ``run._QUEUE_LIMIT`` queued points the
logging thread drains its own queue into numpy chunks and wakes this thread, which
keeps writing while a write's worth of points piles up (``WAKE_AT``). DuckDB
releases the GIL while it inserts, so the insert runs beside the loop on a second
core; the loop writes itself (and so slows) only when the chunks waiting pass
``CHUNK_LIMIT`` times the queue limit, which keeps memory flat however long the loop
logs: at most 200k points queued, 1M waiting and 1M in one write (measured: ~140 MiB
peak RSS growth at 10M and at 30M points, DuckDB's insert included).
"""

from __future__ import annotations

import contextlib
import threading
import time
import weakref
from collections import deque
from collections.abc import Iterator
from itertools import chain, repeat
from typing import TYPE_CHECKING, Any

from . import _settings
from .errors import warn, warn_once
from .store import Store

if TYPE_CHECKING:
    from .run import Run

__all__ = ["Writer", "writer_for"]

HEARTBEAT_EVERY = 5.0
#: Chunks smaller than this are joined into one INSERT; larger ones go as they are.
BATCH_POINTS = 65_536
# Sizes below are in multiples of ``run._QUEUE_LIMIT`` (queued points past which the
# logging thread drains its queue into chunks), so tests can shrink them all at once.
#: Drained points waiting past which the logging thread wakes the writer thread, and
#: while which that thread keeps writing back to back. Not at every drain: each store
#: write costs ~30-40 ms more than its inserts (connect, commit, close), so small
#: writes cost ingest (a 100k-point queue limit with a wake at each drain: 1.55 -> 1.2
#: M points/s).
WAKE_AT = 4
#: Drained points waiting for the store, in multiples of ``run._QUEUE_LIMIT``, past
#: which the logging loop writes them itself (and so slows rather than grows).
CHUNK_LIMIT = 5
#: Most points one store transaction takes: DuckDB holds a transaction's rows in
#: memory until COMMIT (+55 MiB for 1M points), so the backlog left by an outage
#: (up to ``max_buffered_points``) is written in steps, not in one transaction.
WRITE_LIMIT = 5
#: Seconds a new run waits for its first write (see Writer.add).
NEW_RUN_DELAY = 0.1


def _points(multiple: int) -> int:
    """One of the sizes above in points (read at each use: tests shrink the limit)."""
    from .run import _QUEUE_LIMIT  # run imports this module

    return multiple * _QUEUE_LIMIT


class _Chunk:
    """One drain's points as numpy columns.

    Keys are integer ``codes`` into ``names``, not an object array of strings: DuckDB
    needs the GIL to read Python strings, so such a column makes the insert fight the
    user's logging loop for it (500k points: 142 ms alone, 944 ms beside a busy loop),
    while integer codes insert without it (215 ms beside the loop).
    ``special``: 1 = missing (None), 2 = NaN.
    """

    __slots__ = ("codes", "names", "special", "steps", "times", "values")

    def __init__(self, names: list[str], codes: Any, steps: Any, values: Any, times: Any,
                 special: Any) -> None:
        self.names, self.codes, self.steps, self.values, self.times, self.special = (
            names, codes, steps, values, times, special)

    def __len__(self) -> int:
        return len(self.codes)


def _columns(flat: list[Any]) -> tuple[_Chunk, dict[str, Any]]:
    """Flat (step, time, metrics) triples -> a chunk, and the last value of each key.

    Everything per point runs in C (chain, map, numpy); Python loops only per call.
    """
    import numpy as np

    metrics = flat[2::3]
    calls = len(metrics)
    keys = list(chain.from_iterable(metrics))
    names = list(metrics[0])
    uniform = len(keys) == len(names) * calls and keys == names * calls
    if uniform:  # every call logged the same keys in the same order: the usual loop
        codes = np.tile(np.arange(len(names), dtype=np.int32), calls)
        counts: Any = len(names)
    else:
        names = list(dict.fromkeys(keys))
        index = {name: i for i, name in enumerate(names)}
        codes = np.fromiter(map(index.__getitem__, keys), dtype=np.int32, count=len(keys))
        counts = np.fromiter(map(len, metrics), dtype=np.int64, count=calls)
    steps = np.repeat(np.array(flat[0::3], dtype=np.int64), counts)
    seconds = np.repeat(np.array(flat[1::3], dtype=np.float64), counts)
    raw = None
    try:
        values = np.fromiter(chain.from_iterable(map(dict.values, metrics)),
                             dtype=np.float64, count=len(keys))
    except (TypeError, OverflowError, ValueError):  # an int beyond a double
        raw = list(chain.from_iterable(map(dict.values, metrics)))
        values = np.array([_as_float(v) for v in raw], dtype=np.float64)
    # DuckDB reads NaN in a numpy float column as NULL; we keep the two apart (None
    # logged = missing, NaN logged = a diverged value) with a marker column.
    special = None
    nan = np.isnan(values)
    if nan.any():
        special = nan.astype(np.int8) * 2
        if raw is None:  # fromiter reads None as NaN: look for them
            raw = list(chain.from_iterable(map(dict.values, metrics)))
        if None in raw:
            special[[v is None for v in raw]] = 1
    micros = np.rint(seconds * 1e6).astype(np.int64).view("datetime64[us]")
    return _Chunk(names, codes, steps, values, micros, special), _latest(metrics, keys, raw, uniform)


def _latest(metrics: list[dict[str, Any]], keys: list[str], raw: list[Any] | None,
            uniform: bool) -> dict[str, Any]:
    """The last value of each key: W&B's summary semantics."""
    if raw is not None and None in raw:
        # A logged None (missing) must not hide the last real value.
        return {k: v for k, v in zip(keys, raw) if v is not None}
    if uniform:
        return metrics[-1]
    latest: dict[str, Any] = {}
    deque(map(latest.update, metrics), maxlen=0)
    return latest


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
        # Two locks, always taken in this order: ``_write_lock`` makes writes one at a
        # time and in order; ``_lock`` guards the queues, chunks and runs, and is held
        # only for numpy work (drains, swaps), so logging can drain while a write waits
        # on DuckDB, which releases the GIL.
        self._write_lock = threading.RLock()
        self._lock = threading.RLock()
        self._wake = threading.Event()
        self._thread: threading.Thread | None = None
        self._in_flight = 0  # points taken by the write under way
        self._new_run_at = float("-inf")
        self._dropped = 0
        self._failing = False
        self.last_error: BaseException | None = None

    # -- runs -------------------------------------------------------------------
    def add(self, run: Run) -> None:
        with self._lock:
            self._runs[run.id] = run
            self._chunks[run.id] = []
            # Show the new run to readers soon rather than after a whole interval, but
            # not at once: a run finished within NEW_RUN_DELAY (a quick sweep trial)
            # then takes one store write, in finish(), not two. A store not yet
            # written by this process is made at once: creating it takes 50-130 ms
            # here, better spent beside the run's first steps.
            if self.store._schema_ok:
                self._new_run_at = time.monotonic()
        self._ensure_thread()
        self._wake.set()

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
            # popleft through map: no Python frame per item (a third of the old cost).
            flat = list(map(deque.popleft, repeat(queue, count)))
            run._queued = 0
            chunk, latest = _columns(flat)
            self._chunks.setdefault(run.id, []).append(chunk)
            run.summary._absorb(latest)
            run._last_step = flat[-3]
            if run._listeners:
                metrics = flat[2::3]
                keys = list(chain.from_iterable(metrics))
                raw = list(chain.from_iterable(map(dict.values, metrics)))
                seconds = (chunk.times.view("int64") / 1e6).tolist()
                run._notify("points", (keys, chunk.steps.tolist(), raw, seconds))

    def backlog(self, run: Run) -> None:
        """Called by the logging thread when a run's queue passes ``run._QUEUE_LIMIT``.

        Keeps memory flat when a loop logs faster than the background thread keeps
        up. The loop only drains its queue into compact numpy chunks (28 bytes a
        point instead of ~90 as queued dicts) and wakes the writer thread, whose
        DuckDB insert then overlaps the loop. Only when the chunks waiting for the
        store pass ``CHUNK_LIMIT`` times the queue limit does the loop write them
        itself, after the write under way: it slows rather than grows. While the
        store is failing it never waits; the oldest points beyond
        ``max_buffered_points`` go instead.
        """
        self.drain(run)
        pending = self._pending_in_chunks()
        if pending >= _points(WAKE_AT):
            self._wake.set()
        if pending <= _points(CHUNK_LIMIT):
            return
        with self._lock:
            # Read under the lock: a write that ends the outage clears it under the
            # lock, and dropping points after that would go unreported.
            failing = self._failing
            if failing:
                self._bound_memory()
        if not failing:
            self.flush()

    # -- writing ----------------------------------------------------------------
    def flush(self, timeout: float | None = None) -> bool:
        """Write everything pending; return False if a write failed (points kept).

        In transactions of at most ``WRITE_LIMIT`` times the queue limit, so a long
        backlog (finish() after an outage) never holds all its points in DuckDB at once.
        The number of transactions is bounded by what was pending at the call, so a
        flush beside a loop that logs as fast as it writes still ends; what that loop
        logged meanwhile may be left to the next round, and True is still returned.
        """
        most = _points(WRITE_LIMIT)
        for _ in range(self._pending_in_chunks() // most + 2):
            ok, more = self._write_next(timeout, most)
            if not ok or not more:
                return ok
        return True

    def _write_next(self, timeout: float | None, most: int) -> tuple[bool, bool]:
        """One transaction: (written, chunks left behind by ``most``)."""
        with self._lock:  # before the write lock: overlaps a write under way
            for run in list(self._runs.values()):
                self.drain(run)
        with self._write_lock:
            with self._lock:
                runs = list(self._runs.values())
                for run in runs:
                    self.drain(run)
                now = time.time()
                due = [r for r in runs if r._needs_write(now)]
                taken, more = self._take(most)
                if not due and not taken:
                    return True, False
                self._in_flight = sum(len(c) for chunks in taken.values() for c in chunks)
                fields = {run.id: run._take_dirty() for run in due}
            try:
                self._write(due, fields, taken, now, timeout)
            except Exception as exc:  # never into the user's code: keep, warn once, retry
                self._keep(due, fields, taken, exc)
                return False, more
            with self._lock:
                self._in_flight = 0
                self._written(due, now)
            return True, more

    def _take(self, most: int) -> tuple[dict[str, list[_Chunk]], bool]:
        """Whole chunks, oldest first, up to ``most`` points (at least one chunk)."""
        taken: dict[str, list[_Chunk]] = {}
        size = 0
        for run_id, chunks in self._chunks.items():
            n = 0
            while n < len(chunks) and (size == 0 or size + len(chunks[n]) <= most):
                size += len(chunks[n])
                n += 1
            if n:
                taken[run_id] = chunks[:n]
                self._chunks[run_id] = chunks[n:]
        more = any(self._chunks.values())
        return taken, more

    def _keep(self, due: list[Run], fields: dict[str, set[str]],
              taken: dict[str, list[_Chunk]], exc: Exception) -> None:
        """After a failed write: put the points back in front, in order, and warn once."""
        with self._lock:
            self._in_flight = 0
            for run_id, chunks in taken.items():
                self._chunks[run_id] = chunks + self._chunks.get(run_id, [])
            for run in due:
                run._unwritten(fields[run.id])
            self.last_error = exc
            self._bound_memory()
            if not self._failing:
                self._failing = True  # one warning per outage, not per retry
                warn(
                    f"nbtrack could not write to the store {self.store.db_path} "
                    f"({type(exc).__name__}: {exc}). Your code keeps running; nbtrack keeps "
                    f"{self._pending_in_chunks():,} points in memory and retries every "
                    f"{_settings.current().flush_interval:g} s.",
                )

    def _written(self, due: list[Run], now: float) -> None:
        if self._failing:
            self._failing = False
            lost = f"{self._dropped:,} points were dropped" if self._dropped else "nothing was lost"
            warn(f"nbtrack: the store {self.store.db_path} is writable again; {lost}.")
        self.last_error = None
        for run in due:
            run._written(now)
        for run_id in [i for i, r in self._runs.items()
                       if r._done_writing() and not self._chunks.get(i)]:
            del self._runs[run_id]
            self._chunks.pop(run_id, None)

    def _write(self, due: list[Run], fields: dict[str, set[str]],
               taken: dict[str, list[_Chunk]], now: float, timeout: float | None) -> None:
        with self.store.write(timeout=timeout) as con:
            con.execute("BEGIN TRANSACTION")
            try:
                if due:
                    # Records under the drain lock, as before: no drain moves a run's
                    # summary or buffers while its record is written.
                    with self._lock:
                        for run in due:
                            run._write_record(con, now, fields[run.id])
                for run_id, names, frame in _batches(taken):
                    value = (
                        "CASE special WHEN 1 THEN NULL WHEN 2 THEN 'NaN'::DOUBLE ELSE value END"
                        if "special" in frame else "value"
                    )
                    con.register("nbtrack_batch", frame)
                    con.execute(
                        "INSERT INTO metric_points SELECT ?, list_extract(?::VARCHAR[], code + 1), "
                        f"step, {value}, time FROM nbtrack_batch", [run_id, names],
                    )
                    con.unregister("nbtrack_batch")
                con.execute("COMMIT")
            except BaseException:
                # A failed COMMIT (disk full) may already have ended the transaction.
                with contextlib.suppress(Exception):
                    con.execute("ROLLBACK")
                raise

    def _pending_in_chunks(self) -> int:
        return sum(len(c) for chunks in list(self._chunks.values()) for c in chunks)

    def _bound_memory(self) -> None:
        """Drop the oldest chunks past ``max_buffered_points``.

        Not while a write attempt is under way: it holds the oldest points, and may
        succeed (the first write after an outage). Its failure (``_keep``) bounds
        again with everything back in order, so what goes is always the oldest. Memory
        may pass the limit by what is logged during one attempt: milliseconds on a
        full disk, up to ``lock_timeout`` when another process holds the store.
        """
        if self._in_flight:
            return
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
            return queued + self._pending_in_chunks() + self._in_flight

    def _behind(self) -> bool:
        """Whether enough was logged meanwhile to write again at once."""
        queued = sum(run._queued for run in list(self._runs.values()))
        return queued + self._pending_in_chunks() >= _points(WAKE_AT)

    def active(self) -> bool:
        return bool(self._runs)


def _batches(taken: dict[str, list[_Chunk]]) -> Iterator[tuple[str, list[str], dict[str, Any]]]:
    """(run id, names, columns) to insert: a large chunk as it is (no copy, so a write
    holds its points once), runs of small ones joined (one INSERT rather than many)."""
    for run_id, chunks in taken.items():
        group: list[_Chunk] = []
        size = 0
        for chunk in chunks:
            if len(chunk) >= BATCH_POINTS and group:
                yield (run_id, *_frame(group))
                group, size = [], 0
            group.append(chunk)
            size += len(chunk)
            if size >= BATCH_POINTS:
                yield (run_id, *_frame(group))
                group, size = [], 0
        if group:
            yield (run_id, *_frame(group))


def _frame(chunks: list[_Chunk]) -> tuple[list[str], dict[str, Any]]:
    """One run's chunks as one set of columns, key codes into one list of names."""
    import numpy as np

    names = list(dict.fromkeys(chain.from_iterable(c.names for c in chunks)))
    index = {name: i for i, name in enumerate(names)}
    codes = []
    for c in chunks:
        if c.names == names[:len(c.names)]:
            codes.append(c.codes)  # the same leading names: the codes hold as they are
        else:
            codes.append(np.array([index[n] for n in c.names], dtype=np.int32)[c.codes])
    frame = {
        "code": np.concatenate(codes) if len(codes) > 1 else codes[0],
        "step": _cat([c.steps for c in chunks]),
        "value": _cat([c.values for c in chunks]),
        "time": _cat([c.times for c in chunks]),
    }
    if any(c.special is not None for c in chunks):
        frame["special"] = _cat([
            c.special if c.special is not None else np.zeros(len(c), np.int8) for c in chunks])
    return names, frame


def _cat(arrays: list[Any]) -> Any:
    import numpy as np

    return arrays[0] if len(arrays) == 1 else np.concatenate(arrays)


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
        young = writer._new_run_at + NEW_RUN_DELAY - time.monotonic()
        if young > 0:
            wake.wait(young)  # see Writer.add; a long queue (backlog) cuts it short
        try:
            # A loop logging faster than one write a second keeps the thread writing,
            # so the DuckDB insert (GIL released) overlaps the loop and finish() is
            # left with one short write rather than a large backlog.
            while writer.flush() and writer._behind():
                pass
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
