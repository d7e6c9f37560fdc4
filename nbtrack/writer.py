"""The background writer: moves buffered points from runs to the store, never waiting on it.

``Run.log`` only extends the run's ``deque`` (thread-safe, no lock). Every
``flush_interval`` (0.1 s) the writer thread drains every run of its process into
numpy chunks and *saves* them, with the runs' snapshots (record fields, heartbeat)
and media rows, as one pending segment file beside the store (see
:mod:`nbtrack.store.journal`): no lock, no other process involved, so a ``kill -9``
loses at most the last interval and nothing another process does (a 60 s query, a
held lock) can stall the training loop. A second thread *folds* pending segments
into the DuckDB file about once a second when its lock is free (``Store.fold``);
readers include what is not folded yet.

A save that fails (full disk, folder gone or read-only) puts the points back in front
of what was logged meanwhile, warns once, and is retried; past
``max_buffered_points`` the oldest go, with a line saying how many. A loop that logs
faster than the thread saves: past ``run._QUEUE_LIMIT`` queued points the logging
thread drains its own queue into numpy chunks and wakes the writer; past
``CHUNK_LIMIT`` times that it saves them itself (a file write, ~10 ms per 1M points),
which keeps memory flat however long the loop logs.
"""

from __future__ import annotations

import threading
import time
import weakref
from array import array
from collections import deque
from itertools import chain, repeat
from typing import TYPE_CHECKING, Any

from . import _settings
from ._lazy import numpy
from .errors import warn, warn_once
from .store import StoreBase
from .store.journal import PointGroup, Segment

if TYPE_CHECKING:
    from ._run import Run

__all__ = ["Writer", "writer_for"]

HEARTBEAT_EVERY = 5.0
#: Seconds between folds of pending segments into the store file by this process.
FOLD_EVERY = 1.0
# Sizes below are in multiples of ``run._QUEUE_LIMIT`` (queued points past which the
# logging thread drains its queue into chunks), so tests can shrink them all at once.
#: Drained points waiting past which the logging thread wakes the writer thread.
WAKE_AT = 1
#: Drained points waiting to be saved, in multiples of ``run._QUEUE_LIMIT``, past
#: which the logging loop saves them itself (and so slows rather than grows).
CHUNK_LIMIT = 5
#: Most points one segment takes, so a backlog left by an outage (up to
#: ``max_buffered_points``) is saved, and later folded, in steps.
WRITE_LIMIT = 5
#: Seconds a writer's threads go on with no run and nothing pending before they end (the
#: next run on the store starts them again): a kernel that touched many stores does not
#: keep two threads waking ten times a second for each, for ever.
IDLE_EXIT = 30.0


def _points(multiple: int) -> int:
    """One of the sizes above in points (read at each use: tests shrink the limit)."""
    from ._run import _QUEUE_LIMIT  # run imports this module

    return multiple * _QUEUE_LIMIT


_UNKNOWN = object()

#: Drains of fewer points than this are turned into columns without numpy: a short run
#: (a quick script, a sweep trial) then never waits ~0.1 s for numpy to import.
SMALL_DRAIN = 4096


def _columns(run_id: str, flat: list[Any]) -> tuple[PointGroup, dict[str, Any]]:
    """Flat (step, time, metrics) triples -> a run's point group, and the last value of each key.

    Everything per point runs in C (chain, map, numpy); Python loops only per call.
    """
    metrics = flat[2::3]
    if len(metrics) * len(metrics[0]) < SMALL_DRAIN:
        return _small_columns(run_id, flat)
    np = numpy()

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
    micros = np.rint(seconds * 1e6).astype(np.int64)
    return (PointGroup(run_id, names, codes, steps, values, micros, special),
            _latest(metrics, keys, raw, uniform))


def _small_columns(run_id: str, flat: list[Any]) -> tuple[PointGroup, dict[str, Any]]:
    """:func:`_columns` for a few points, in plain Python: the same columns as ``array.array``."""
    metrics = flat[2::3]
    counts = list(map(len, metrics))
    keys = list(chain.from_iterable(metrics))
    raw = list(chain.from_iterable(map(dict.values, metrics)))
    names = list(dict.fromkeys(keys))
    index = {name: i for i, name in enumerate(names)}
    values = array("d", map(_as_float, raw))
    special = None
    if any(v != v for v in values):
        special = array("b", [1 if r is None else 2 if v != v else 0 for r, v in zip(raw, values)])
    return PointGroup(
        run_id, names, array("i", map(index.__getitem__, keys)),
        array("q", chain.from_iterable(map(repeat, flat[0::3], counts))), values,
        array("q", chain.from_iterable(map(repeat, (round(t * 1e6) for t in flat[1::3]), counts))),
        special,
    ), _latest(metrics, keys, raw if special is not None else None, False)


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

    def __init__(self, store: StoreBase, *, folds: bool = True) -> None:
        self.store = store
        #: Whether this process folds segments into the store: not a forked child,
        #: which may have inherited an import lock or a DuckDB state mid-use.
        self.folds = folds
        self._runs: dict[str, Run] = {}
        self._chunks: dict[str, list[PointGroup]] = {}
        self._generation: Any = _UNKNOWN  # the store's incarnation at the last save
        # Two locks, always taken in this order: ``_write_lock`` makes saves one at a
        # time and in order; ``_lock`` guards the queues, chunks and runs, and is held
        # only for numpy work (drains, swaps), so logging can drain while a save writes.
        self._write_lock = threading.RLock()
        self._lock = threading.RLock()
        self._wake = threading.Event()
        self._threads: list[threading.Thread] = []
        self._crew = 0  # bumped for each start of the threads; an older crew ends
        self._in_flight = 0  # points taken by the save under way
        self._dropped = 0
        self._failing = False  # one warning per outage (saving or folding)
        self._save_failing = False
        self.last_error: BaseException | None = None

    # -- runs -------------------------------------------------------------------
    def add(self, run: Run) -> None:
        with self._lock:
            self._runs[run.id] = run
            self._chunks[run.id] = []
            self._ensure_threads()

    def _ensure_threads(self) -> None:
        """Start the threads unless they run (under ``_lock``, as ``_retire`` decides)."""
        if self._threads and all(t.is_alive() for t in self._threads):
            return
        self._crew += 1
        args = (weakref.ref(self), self._crew)
        # Not daemons: a daemon thread inside DuckDB when the interpreter shuts down
        # aborts the process ("FATAL: exception not rethrown"). They end when the main
        # thread does, and the exit hook then saves and folds the rest.
        self._threads = [threading.Thread(target=_save_loop, args=args, name="nbtrack-writer")]
        if self.folds:
            self._threads.append(
                threading.Thread(target=_fold_loop, args=args, name="nbtrack-folder"))
        for thread in self._threads:
            thread.start()

    def _quiet(self) -> bool:
        """No run, nothing in memory and no outage: the threads have nothing to do."""
        return not (self._runs or self._in_flight or self._failing or self._pending_in_chunks())

    def _retire(self, crew: int) -> bool:
        """Whether the threads of ``crew`` end now (see ``IDLE_EXIT``)."""
        with self._lock:
            if crew != self._crew:
                return True
            # Pending segments (this process's or another's) are folded first.
            if not self._quiet() or (self.folds and self.store.oldest_pending_age() > 0):
                return False
            self._threads = []
            self._crew += 1
            return True

    # -- draining (no I/O) ------------------------------------------------------
    def drain(self, run: Run) -> None:
        """Move a run's queued points into its pending chunks and update its summary."""
        with self._lock:
            flat = run._take_queue()
            if not flat:
                return
            chunk, latest = _columns(run.id, flat)
            self._chunks.setdefault(run.id, []).append(chunk)
            run._absorb(latest, flat[-3])
            if run._listeners:
                metrics = flat[2::3]
                keys = list(chain.from_iterable(metrics))
                raw = list(chain.from_iterable(map(dict.values, metrics)))
                seconds = [t / 1e6 for t in chunk.times.tolist()]
                run._notify("points", (keys, chunk.steps.tolist(), raw, seconds))

    def backlog(self, run: Run) -> None:
        """Called by the logging thread when a run's queue passes ``run._QUEUE_LIMIT``.

        Keeps memory flat when a loop logs faster than the background thread keeps
        up. The loop drains its queue into compact numpy chunks (28 bytes a point
        instead of ~90 as queued dicts) and wakes the writer thread. Only when the
        chunks waiting pass ``CHUNK_LIMIT`` times the queue limit does the loop save
        them itself: a local file write, never a wait on another process. While saving
        fails it does not retry; the oldest points beyond ``max_buffered_points`` go.
        """
        self.drain(run)
        pending = self._pending_in_chunks()
        if pending >= _points(WAKE_AT):
            self._wake.set()
        if pending <= _points(CHUNK_LIMIT):
            return
        with self._lock:
            # Read under the lock: a save that ends the outage clears it under the
            # lock, and dropping points after that would go unreported.
            failing = self._save_failing
            if failing:
                self._bound_memory()
        if not failing:
            self.flush()

    # -- saving -----------------------------------------------------------------
    def flush(self, timeout: float | None = None) -> bool:
        """Save everything pending as segments; return False if a save failed (points kept).

        In segments of at most ``WRITE_LIMIT`` times the queue limit. The number of
        saves is bounded by what was pending at the call, so a flush beside a loop that
        logs as fast as it saves still ends. ``timeout`` is accepted for callers of the
        old signature; saving never waits on another process.
        """
        most = _points(WRITE_LIMIT)
        for _ in range(self._pending_in_chunks() // most + 2):
            ok, more = self._save_next(most)
            if not ok or not more:
                return ok
        return True

    def _save_next(self, most: int) -> tuple[bool, bool]:
        """One segment: (saved, chunks left behind by ``most``)."""
        with self._lock:  # before the write lock: overlaps a save under way
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
                snapshots = [run._snapshot(now) for run in due]
                media = [row for run in runs for row in run._take_media()]
            segment = Segment(runs=snapshots, media=media,
                              points=[c for chunks in taken.values() for c in chunks])
            try:
                self._save(segment)
            except Exception as exc:  # never into the user's code: keep, warn once, retry
                self._keep(due, snapshots, taken, runs, exc)
                return False, more
            generation = self.store.generation()
            with self._lock:
                self._in_flight = 0
                # The store deleted and made again since the last save (the README's "start
                # afresh"): the runs send their whole records (environment, source) again, or
                # their rows in the new store would lack them.
                # (None: not known yet, as for a database store before its first fold: a first
                # token then is no change.)
                lost = self._generation not in (_UNKNOWN, None) and generation != self._generation
                self._generation = generation
                self._saved(due, runs, now, lost=lost)
            return True, more

    def _save(self, segment: Segment) -> None:
        self.store.save(segment)

    def _take(self, most: int) -> tuple[dict[str, list[PointGroup]], bool]:
        """Whole chunks, oldest first, up to ``most`` points (at least one chunk)."""
        taken: dict[str, list[PointGroup]] = {}
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

    def _keep(self, due: list[Run], snapshots: list[dict[str, Any]],
              taken: dict[str, list[PointGroup]], runs: list[Run], exc: Exception) -> None:
        """After a failed save: put the points back in front, in order, and warn once."""
        with self._lock:
            self._in_flight = 0
            for run_id, chunks in taken.items():
                self._chunks[run_id] = chunks + self._chunks.get(run_id, [])
            for run, snapshot in zip(due, snapshots):
                run._unwritten(set(snapshot["fields"]))
            for run in runs:
                run._media_unsaved()
            self.last_error = exc
            self._save_failing = True
            self._bound_memory()
            self._outage(exc, f"keeps {self._pending_in_chunks():,} points in memory")

    def _outage(self, exc: BaseException, kept: str) -> None:
        if not self._failing:
            self._failing = True  # one warning per outage, not per retry
            warn(
                f"nbtrack could not write to the store {self.store.location} "
                f"({type(exc).__name__}: {exc}). Your code keeps running; nbtrack {kept} and "
                f"retries every {_settings.current().flush_interval:g} s.",
            )

    def _saved(self, due: list[Run], runs: list[Run], now: float, *, lost: bool = False) -> None:
        self._save_failing = False
        self.last_error = None
        for run in due:
            run._written(now)
        if lost:
            for run in runs:
                run._written_nowhere()
        for run in runs:
            run._media_saved()
        for run_id in [i for i, r in self._runs.items()
                       if r._done_writing() and not self._chunks.get(i)]:
            del self._runs[run_id]
            self._chunks.pop(run_id, None)

    # -- folding ------------------------------------------------------------------
    def fold(self, wait: float = 0.0) -> bool | None:
        """Fold pending segments into the store file if its lock is free (see Store.fold).

        A failure warns once (the points stay pending, on disk, and visible to readers)
        and is retried by the fold thread; the end of an outage is said once.
        """
        if not self.folds:
            return None
        try:
            done = self.store.fold(wait)
        except Exception as exc:
            self.last_error = exc
            self._outage(exc, f"keeps the points in {self.store.pending_place}")
            return False
        if done and self._failing and not self._save_failing:
            self._failing = False
            lost = f"{self._dropped:,} points were dropped" if self._dropped else "nothing was lost"
            warn(f"nbtrack: the store {self.store.location} is writable again; {lost}.")
        return done

    def _pending_in_chunks(self) -> int:
        return sum(len(c) for chunks in list(self._chunks.values()) for c in chunks)

    def _bound_memory(self) -> None:
        """Drop the oldest chunks past ``max_buffered_points``.

        Not while a save is under way: it holds the oldest points, and may succeed.
        Its failure (``_keep``) bounds again with everything back in order, so what
        goes is always the oldest.
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
        """Points not yet saved (queued calls counted by their metrics)."""
        with self._lock:
            queued = sum(run._queued_points() for run in self._runs.values())
            return queued + self._pending_in_chunks() + self._in_flight

    def unsaved_by_run(self) -> dict[str, int]:
        """Points not yet saved, per run name (for the exit report)."""
        with self._lock:
            out = {}
            for run_id, run in self._runs.items():
                n = run._queued_points() + sum(len(c) for c in self._chunks.get(run_id, []))
                if n:
                    out[f"{run.name!r} ({run_id})"] = n
            return out

    def _behind(self) -> bool:
        """Whether enough was logged meanwhile to save again at once."""
        queued = sum(run._queued for run in list(self._runs.values()))
        return queued + self._pending_in_chunks() >= _points(WAKE_AT)

    def active(self) -> bool:
        return bool(self._runs)


def _wait(wake: threading.Event, seconds: float) -> bool:
    """Wait for ``wake`` or ``seconds``; False once the main thread has ended (exit)."""
    deadline = time.monotonic() + seconds
    main = threading.main_thread()
    while main.is_alive():
        left = deadline - time.monotonic()
        if left <= 0 or wake.wait(min(left, 0.1)):
            wake.clear()
            return True
    return False


def _save_loop(ref: weakref.ReferenceType[Writer], crew: int) -> None:
    # numpy is imported here, beside the caller, not in its first large drain: a loop
    # logging flat out reaches the queue limit ~0.2 s in, and would wait for the import.
    numpy()
    quiet_since = None
    while True:
        writer = ref()
        if writer is None:
            return
        wake = writer._wake
        del writer
        if not _wait(wake, _settings.current().flush_interval):
            return
        writer = ref()
        if writer is None:
            return
        try:
            while writer.flush() and writer._behind():
                pass
            if not writer._quiet():
                quiet_since = None
            elif quiet_since is None:
                quiet_since = time.monotonic()
            elif time.monotonic() - quiet_since >= IDLE_EXIT and writer._retire(crew):
                return
        except Exception as exc:  # the thread must survive anything
            warn_once("writer-thread", f"nbtrack's background writer hit {exc!r}; retrying")
        del writer


def _fold_loop(ref: weakref.ReferenceType[Writer], crew: int) -> None:
    ripe = 0.0  # the first time, whatever is pending
    never = threading.Event()  # nothing wakes a fold early: it keeps its cadence
    while True:
        if ref() is None or not _wait(never, FOLD_EVERY):
            return
        writer = ref()
        if writer is None or writer._crew != crew:
            return
        try:
            # Only what has waited a while: with several processes logging, one fold a
            # second takes everyone's segments, not one fold per process (each holds
            # the lock 0.1-0.3 s, and readers wait behind it).
            if writer.store.oldest_pending_age() >= ripe:
                writer.fold()
        except Exception as exc:  # the thread must survive anything
            warn_once("folder-thread", f"nbtrack's background folder hit {exc!r}; retrying")
        ripe = FOLD_EVERY / 2
        del writer


_writers: dict[str, Writer] = {}
_writers_lock = threading.Lock()


def writer_for(store: StoreBase, *, folds: bool = True) -> Writer:
    with _writers_lock:
        writer = _writers.get(store.location)
        if writer is None:
            writer = _writers[store.location] = Writer(store, folds=folds)
        return writer


def all_writers() -> list[Writer]:
    with _writers_lock:
        return list(_writers.values())


def _forget_after_fork() -> None:
    # A forked child (a DataLoader worker, say) must not write its parent's buffers.
    global _writers_lock
    _writers.clear()
    _writers_lock = threading.Lock()
