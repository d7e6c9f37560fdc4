"""Trials in N local worker processes (``executor=N``), through loky's reusable pool.

loky starts workers as fresh interpreters (never a fork of the kernel, so CUDA set up
in the notebook cannot hang them) and pickles with cloudpickle, so a function defined
in a notebook cell travels by value. The pool outlives the sweep: the next sweep
with the same N starts without paying for new processes.
"""

from __future__ import annotations

import concurrent.futures as cf
from typing import Any

from ..trial import OnMetric, TrialOutcome, TrialTask, run_trial
from ._base import Executor, lost, not_picklable

__all__ = ["ProcessExecutor"]

IDLE_WORKER_TIMEOUT = 300  # seconds an idle worker waits for the next sweep


class ProcessExecutor(Executor):
    """``workers`` local processes; a worker that dies ends its trial as ``crashed``."""

    kind = "process"

    def __init__(self, workers: int) -> None:
        self.workers = workers
        self._pool: Any = None
        self._futures: dict[cf.Future[TrialOutcome], TrialTask] = {}

    def open(self) -> None:
        from loky import get_reusable_executor

        self._pool = get_reusable_executor(max_workers=self.workers, timeout=IDLE_WORKER_TIMEOUT)

    def slots(self) -> int:
        return self.workers

    def submit(self, task: TrialTask, on_metric: OnMetric | None = None) -> None:
        if self._pool is None:
            self.open()
        try:
            future = self._pool.submit(run_trial, task)
        except Exception as exc:  # a broken pool (a worker died): start a fresh one once
            error = not_picklable(exc)
            if error is not None:
                raise error from None
            self._pool = None
            self.open()
            future = self._pool.submit(run_trial, task)
        self._futures[future] = task

    def wait(self, timeout: float) -> list[TrialOutcome]:
        if not self._futures:
            return []
        done, _ = cf.wait(list(self._futures), timeout=timeout, return_when=cf.FIRST_COMPLETED)
        outcomes = []
        for future in done:
            task = self._futures.pop(future)
            exc = future.exception()
            if exc is None:
                outcomes.append(future.result())
                continue
            error = not_picklable(exc)
            if error is not None:
                raise error
            outcomes.append(lost(task, exc))
        return outcomes

    def running(self) -> list[str]:
        return [task.run_id for task in self._futures.values()]

    def kill(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=False, kill_workers=True)
            self._pool = None
        for future in self._futures:
            future.cancel()
        self._futures.clear()
