"""Executors: where a sweep's trials run (the kernel, local processes, or a Dask cluster)."""

from __future__ import annotations

from typing import Any

from ...errors import NbtrackError
from ._base import Executor

__all__ = ["Executor", "make_executor"]


def make_executor(executor: Any, trial_timeout: float | None = None) -> Executor:
    """The executor for ``nbtrack.sweep(executor=...)``.

    ``None`` or ``"inline"``: trials one after another in the kernel. An int ``N``: N
    local worker processes. A ``dask.distributed.Client``: its cluster. An
    :class:`Executor` instance is used as it is. ``trial_timeout``: worker processes
    are stopped (SIGTERM, then SIGKILL) at the limit; elsewhere a trial stops at its
    first ``nbtrack.log`` past it.
    """
    if executor is None or executor == "inline":
        from .inline import InlineExecutor

        return InlineExecutor()
    if isinstance(executor, Executor):
        return executor
    if isinstance(executor, int) and not isinstance(executor, bool):
        if executor < 1:
            raise NbtrackError(f"executor=N needs N >= 1 worker processes; got {executor}")
        from .process import ProcessExecutor

        return ProcessExecutor(executor, trial_timeout)
    from .dask import DaskExecutor, is_dask_client

    if is_dask_client(executor):
        return DaskExecutor(executor)
    raise NbtrackError(
        f"executor={executor!r} is not understood: use None (in the kernel), a number of worker "
        "processes (executor=4), or a dask.distributed.Client"
    )
