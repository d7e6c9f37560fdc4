"""Trials one after another in the calling thread (the default: the notebook's kernel)."""

from __future__ import annotations

from ..trial import OnMetric, TrialOutcome, TrialTask, run_trial, stop_here
from ._base import Executor

__all__ = ["InlineExecutor"]


class InlineExecutor(Executor):
    """Runs each trial in :meth:`wait`, in this thread; the pruner is asked from ``nbtrack.log``."""

    remote = False
    kind = "inline"

    def __init__(self) -> None:
        self._pending: tuple[TrialTask, OnMetric | None] | None = None

    def slots(self) -> int:
        return 1

    def submit(self, task: TrialTask, on_metric: OnMetric | None = None) -> None:
        self._pending = (task, on_metric)

    def wait(self, timeout: float) -> list[TrialOutcome]:
        if self._pending is None:
            return []
        task, on_metric = self._pending
        try:
            return [run_trial(task, on_metric, reraise_interrupt=True)]
        finally:
            self._pending = None

    def running(self) -> list[str]:
        return [self._pending[0].run_id] if self._pending is not None else []

    def stop_trial(self, run_id: str, reason: str) -> bool:
        stop_here(run_id, reason)  # this process: no need to go through the store
        return True
