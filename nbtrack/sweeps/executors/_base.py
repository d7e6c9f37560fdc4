"""Where trials run: the base class every executor implements.

The sweep asks an executor how many trials it can run at once (:meth:`slots`), hands
it :class:`~nbtrack.sweeps.trial.TrialTask` s (:meth:`submit`) and collects how they
ended (:meth:`wait`). Trials that run outside this thread (``remote``) write their
metrics to the store (on Dask, through the executor), where the sweep reads them for
early termination.
"""

from __future__ import annotations

import pickle
from abc import ABC, abstractmethod

from ...errors import NbtrackError
from ..trial import OnMetric, TrialOutcome, TrialTask

__all__ = ["Executor", "lost", "not_picklable"]


class Executor(ABC):
    """Runs trials. Subclasses: inline (the kernel), process (local workers), dask."""

    #: trials run outside the sweep's thread; their metrics reach the sweep through the store
    remote: bool = True
    #: a short name for messages and ``Sweep.poll()``
    kind: str = "executor"

    def open(self) -> None:  # noqa: B027 - optional hook
        """Get ready to run trials (start or reuse workers)."""

    @abstractmethod
    def slots(self) -> int:
        """How many trials can run at once."""

    @abstractmethod
    def submit(self, task: TrialTask, on_metric: OnMetric | None = None) -> None:
        """Start a trial (``on_metric`` is only used by executors that are not remote)."""

    @abstractmethod
    def wait(self, timeout: float) -> list[TrialOutcome]:
        """Outcomes of trials that ended, waiting up to ``timeout`` seconds for the first."""

    @abstractmethod
    def running(self) -> list[str]:
        """Run ids of trials submitted and not yet returned by :meth:`wait`."""

    def stop_trial(self, run_id: str, reason: str) -> bool:
        """Tell a running trial to stop, if this executor carries the signal itself (True);
        False: the sweep asks through the store."""
        return False

    def kill(self) -> None:  # noqa: B027 - optional hook
        """Stop every running trial now, without waiting (best effort)."""

    def close(self) -> None:  # noqa: B027 - optional hook
        """Done with this sweep (workers may be kept for the next one)."""


def lost(task: TrialTask, exc: BaseException) -> TrialOutcome:
    """The outcome of a trial whose worker died or could not run it."""
    text = f"{type(exc).__name__}: {exc}"
    return TrialOutcome(task.run_id, task.number, "crashed", None, text)


def not_picklable(exc: BaseException) -> NbtrackError | None:
    """A clear error when the trial function could not be sent to a worker, else None."""
    text = f"{type(exc).__name__}: {exc}"
    if isinstance(exc, pickle.PicklingError) or "pickl" in text.lower():
        return NbtrackError(
            "the trial function could not be sent to a worker process "
            f"({text}). Build unpicklable things (open files, locks, GPU models) inside the "
            "function, or run the sweep inline (executor=None)."
        )
    return None
