"""Trials on a Dask cluster (``executor=client``, a ``dask.distributed.Client``).

Dask pickles the trial function with cloudpickle (by value for notebook functions)
and runs one trial per worker thread. The workers need not see the notebook's store:
a trial's run writes to a :class:`DaskRelay`, which sends what the run saves (its
record, its points, its media files) through a Dask ``Queue`` to the sweep, and the
sweep writes it into the store; the sweep's stop signals (pruning, Ctrl-C, the time
limit) reach the trial through a Dask ``Variable``. Reading the store inside a trial
(``nbtrack.runs()``) is not possible there. Dask cannot kill a running task; a trial
told to stop ends at its next ``nbtrack.log``.
"""

from __future__ import annotations

import contextlib
import dataclasses
import pickle
import threading
import time
from typing import Any

from ...errors import NbtrackError, warn_once
from ...store import get_store
from ..trial import OnMetric, TrialOutcome, TrialTask, record_lost_trial, run_trial
from ._base import Executor, lost, not_picklable

__all__ = ["DaskExecutor", "DaskRelay", "is_dask_client", "run_relayed_trial"]


def is_dask_client(value: Any) -> bool:
    """Whether ``value`` is a ``distributed.Client`` (without importing Dask for others)."""
    return type(value).__module__.startswith("distributed") and hasattr(value, "submit") and \
        hasattr(value, "nthreads")


def _distributed() -> Any:
    """The ``distributed`` module, imported at use (its API is untyped)."""
    import distributed

    return distributed


def _names(sweep_id: str) -> tuple[str, str]:
    """The sweep's Dask queue (trials to sweep) and variable (stop reasons by run id)."""
    return f"nbtrack-{sweep_id}-saved", f"nbtrack-{sweep_id}-stops"


class DaskRelay:
    """Stands for the store in a trial's run on a Dask worker: what the run's writer saves
    goes to the sweep through Dask; stop signals come from it.

    One per sweep in a worker process (its runs share one writer, as runs of a store do).
    """

    STOP_READ_TIMEOUT = 2.0
    #: nothing waits on this machine: what the run saved went to the sweep at once
    pending_visible = True

    def __init__(self, sweep_id: str) -> None:
        dd = _distributed()
        self.sweep_id = sweep_id
        self.location = f"dask-relay://{sweep_id}"  # the writer's key; not a place
        queue, stops = _names(sweep_id)
        self._queue: Any = dd.Queue(queue)
        self._stops: Any = dd.Variable(stops)

    def _send(self, message: tuple[Any, ...]) -> None:
        self._queue.put(pickle.dumps(message, protocol=pickle.HIGHEST_PROTOCOL))

    # -- what a run's writer and its media use ------------------------------------------
    def save(self, segment: Any) -> None:
        self._send(("segment", segment))

    save_elsewhere = save

    def fold(self, wait: float = 0.0) -> bool:
        return True  # the sweep's process folds what it saved

    def generation(self) -> int:
        return 0

    def oldest_pending_age(self) -> float:
        return 0.0

    def pending_paths(self) -> list[Any]:
        return []

    def exists(self) -> bool:
        return True

    def put_blob(self, data: bytes, *, folder: str = "media", suffix: str = "") -> tuple[str, str]:
        from ...store.blobs import _key, digest_bytes

        digest = digest_bytes(data)
        key = _key(folder, digest, suffix)  # the local store's key; the sweep checks its store agrees
        self._send(("blob", bytes(data), folder, suffix, key))
        return digest, key

    def trial_stop_reason(self, sweep_id: str, run_id: str) -> str | None:
        try:
            stops = self._stops.get(timeout=self.STOP_READ_TIMEOUT)
        except Exception:  # not set yet, or the scheduler is slow: ask again at the next check
            return None
        reason = stops.get(run_id) if isinstance(stops, dict) else None
        return str(reason) if reason is not None else None

    def __getattr__(self, name: str) -> Any:
        if name.startswith("__"):
            raise AttributeError(name)  # pickle, copy and friends probing
        raise _NotOnThisWorker(
            f"this trial runs on a Dask worker that does not see the notebook's store, so it cannot "
            f"read it (store.{name}); log to the trial with nbtrack.log and read runs in the notebook")


class _NotOnThisWorker(NbtrackError, AttributeError):
    """A store read asked of a :class:`DaskRelay` (an AttributeError too: ``hasattr`` is False)."""


_relays: dict[str, DaskRelay] = {}
_relays_lock = threading.Lock()


def run_relayed_trial(task: TrialTask) -> TrialOutcome:
    """The task a Dask worker runs: one trial whose run writes through the sweep's relay."""
    with _relays_lock:
        relay = _relays.get(task.sweep_id)
        if relay is None:
            relay = _relays[task.sweep_id] = DaskRelay(task.sweep_id)
    return run_trial(task, relay=relay)


class DaskExecutor(Executor):
    """As many trials at once as the cluster has worker threads (re-read every few seconds)."""

    kind = "dask"

    def __init__(self, client: Any) -> None:
        self.client = client
        self._futures: dict[Any, TrialTask] = {}
        self._threads = 1
        self._threads_read = 0.0
        self._queue: Any = None
        self._stops_var: Any = None
        self._stops: dict[str, str] = {}
        self._store: Any = None
        self._blob_checked = False

    def open(self) -> None:
        self._read_threads()

    def _read_threads(self) -> None:
        with contextlib.suppress(Exception):  # a scheduler hiccup: keep the last count
            self._threads = max(1, sum(self.client.nthreads().values()))
        self._threads_read = time.monotonic()

    def slots(self) -> int:
        if time.monotonic() - self._threads_read > 5.0:  # the cluster may scale
            self._read_threads()
        return self._threads

    def _channels(self, task: TrialTask) -> None:
        if self._queue is not None:
            return
        dd = _distributed()
        queue, stops = _names(task.sweep_id)
        self._queue = dd.Queue(queue, client=self.client)
        self._stops_var = dd.Variable(stops, client=self.client)
        self._stops_var.set({})
        self._store = get_store(task.store)

    def submit(self, task: TrialTask, on_metric: OnMetric | None = None) -> None:
        self._channels(task)
        # Without the store's location: the worker writes through the relay, never to a path
        # that may not exist there (or be another store).
        remote = dataclasses.replace(task, store="")
        try:
            future = self.client.submit(run_relayed_trial, remote, pure=False,
                                        key=f"nbtrack-trial-{task.run_id}")
        except Exception as exc:
            raise (not_picklable(exc) or exc) from None
        self._futures[future] = task

    def stop_trial(self, run_id: str, reason: str) -> bool:
        self._stops[run_id] = reason
        if self._stops_var is not None:
            try:
                self._stops_var.set(dict(self._stops))
            except Exception as exc:  # the scheduler is gone: the trial ends with its task
                warn_once("dask-stop", f"nbtrack: could not tell a Dask trial to stop ({exc!r})")
        return True

    def wait(self, timeout: float) -> list[TrialOutcome]:
        if not self._futures:
            self._relay_saved()
            return []
        with contextlib.suppress(TimeoutError):
            _distributed().wait(list(self._futures), timeout=timeout, return_when="FIRST_COMPLETED")
        # Before the outcomes: what an ended trial saved is in the store when the sweep reads it.
        self._relay_saved()
        outcomes = []
        for future in [f for f in self._futures if f.done()]:
            task = self._futures.pop(future)
            self._stops.pop(task.run_id, None)
            if future.status == "finished":
                outcomes.append(future.result())
                continue
            try:
                exc = future.exception(timeout=5)
            except Exception as err:  # cancelled, or the scheduler lost it
                exc = err
            error = not_picklable(exc) if exc is not None else None
            if error is not None:
                raise error
            outcome = lost(task, exc if exc is not None else RuntimeError(future.status))
            with contextlib.suppress(Exception):  # the worker that ran it is gone: say so in the store
                record_lost_trial(task, outcome.status, outcome.error or outcome.status, None)
            outcomes.append(outcome)
        return outcomes

    def _relay_saved(self) -> None:
        """Write what the trials' runs saved (through the queue) into the store."""
        if self._queue is None:
            return
        try:
            messages = self._queue.get(batch=True)
        except Exception as exc:
            warn_once("dask-relay-read", f"nbtrack: could not read the trials' metrics from Dask ({exc!r})")
            return
        for message in messages:
            kind, *body = pickle.loads(message)
            if kind == "segment":
                self._store.save(body[0])
            elif kind == "blob":
                data, folder, suffix, key = body
                _, stored = self._store.put_blob(data, folder=folder, suffix=suffix)
                if stored != key and not self._blob_checked:
                    self._blob_checked = True
                    warn_once("dask-relay-blob", f"nbtrack: the store keeps media as {stored!r}, not "
                              f"{key!r} as the Dask trial recorded; those media will not show")

    def running(self) -> list[str]:
        return [task.run_id for task in self._futures.values()]

    def kill(self) -> None:
        if self._futures:
            for task in self._futures.values():
                self._stops[task.run_id] = "interrupted"
            with contextlib.suppress(Exception):
                if self._stops_var is not None:
                    self._stops_var.set(dict(self._stops))
                self.client.cancel(list(self._futures), force=True)
        self._futures.clear()

    def close(self) -> None:
        with contextlib.suppress(Exception):
            self._relay_saved()
        if self._store is not None:
            with contextlib.suppress(Exception):
                self._store.fold(0.5)  # no writer of this process may fold what it relayed
        with contextlib.suppress(Exception):
            if self._stops_var is not None:
                self._stops_var.delete()
        self._queue = self._stops_var = None
