"""Trials on a Dask cluster (``executor=client``, a ``dask.distributed.Client``).

Dask pickles the trial function with cloudpickle (by value for notebook functions)
and runs one trial per worker thread. Trials write to the store directly, so every
worker must see the store directory: a ``LocalCluster``, or a cluster whose workers
share the notebook's filesystem. Dask cannot kill a running task; a trial told to
stop ends at its next ``nbtrack.log``.
"""

from __future__ import annotations

import contextlib
import time
from typing import Any

from ..trial import OnMetric, TrialOutcome, TrialTask, run_trial
from ._base import Executor, lost, not_picklable

__all__ = ["DaskExecutor", "is_dask_client"]


def is_dask_client(value: Any) -> bool:
    """Whether ``value`` is a ``distributed.Client`` (without importing Dask for others)."""
    return type(value).__module__.startswith("distributed") and hasattr(value, "submit") and \
        hasattr(value, "nthreads")


class DaskExecutor(Executor):
    """As many trials at once as the cluster has worker threads (re-read every few seconds)."""

    kind = "dask"

    def __init__(self, client: Any) -> None:
        self.client = client
        self._futures: dict[Any, TrialTask] = {}
        self._threads = 1
        self._threads_read = 0.0

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

    def submit(self, task: TrialTask, on_metric: OnMetric | None = None) -> None:
        try:
            future = self.client.submit(run_trial, task, pure=False, key=f"nbtrack-trial-{task.run_id}")
        except Exception as exc:
            raise (not_picklable(exc) or exc) from None
        self._futures[future] = task

    def wait(self, timeout: float) -> list[TrialOutcome]:
        if not self._futures:
            return []
        import distributed

        wait: Any = distributed.wait
        with contextlib.suppress(TimeoutError):
            wait(list(self._futures), timeout=timeout, return_when="FIRST_COMPLETED")
        outcomes = []
        for future in [f for f in self._futures if f.done()]:
            task = self._futures.pop(future)
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
            outcomes.append(lost(task, exc if exc is not None else RuntimeError(future.status)))
        return outcomes

    def running(self) -> list[str]:
        return [task.run_id for task in self._futures.values()]

    def kill(self) -> None:
        if self._futures:
            with contextlib.suppress(Exception):
                self.client.cancel(list(self._futures), force=True)
        self._futures.clear()
