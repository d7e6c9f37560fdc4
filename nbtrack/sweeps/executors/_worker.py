"""One worker process of ``executor=N``: run the trials it is sent, one at a time.

Started by :mod:`.process` as ``python -m nbtrack.sweeps.executors._worker TASKS RESULTS
PARENT`` (a fresh interpreter, never a fork of the kernel). It reads ``("trial",
sys.path, cloudpickled TrialTask)`` and ``("stop", run id, reason)`` messages from the
TASKS pipe and answers each trial with ``("started", None)``, then a pickled
:class:`~nbtrack.sweeps.trial.TrialOutcome` on the RESULTS pipe. Its stdout and
stderr go to the sweep's process, which keeps their last lines for a trial that dies.

Signals: SIGINT (Ctrl-C in Jupyter reaches the kernel's whole process group) ends the
running trial ``interrupted`` and is ignored between trials; SIGTERM is how the sweep
stops a trial past its ``trial_timeout``. The worker leaves when the sweep's process
is gone (its task pipe closes) or after :data:`IDLE_TIMEOUT` seconds without work.
"""

from __future__ import annotations

import contextlib
import os
import pickle
import queue
import signal
import sys
import threading
import time
from multiprocessing.connection import Connection
from typing import Any

#: Marks the start of a trial in the worker's output (the sweep keeps lines after it).
TRIAL_START = b"\x00nbtrack-trial\n"
IDLE_TIMEOUT = 300.0

_in_trial = False
_STARTED = pickle.dumps(("started", None))


def _on_sigint(signum: int, frame: Any) -> None:
    if _in_trial:
        raise KeyboardInterrupt


def _on_sigterm(signum: int, frame: Any) -> None:
    if not _in_trial:
        os._exit(0)
    if _in_nbtrack(frame):
        # Not in the middle of nbtrack's own work (a log half stored, a lock held): the
        # trial's run stops itself at the end of that call, its time being up.
        return
    from ..trial import TIMEOUT, TrialStopped

    raise TrialStopped(TIMEOUT)


_PACKAGE = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def _in_nbtrack(frame: Any) -> bool:
    """Whether the trial's code is inside a call into nbtrack (``nbtrack.log``, say)."""
    while frame is not None and frame.f_code.co_name != "run_trial":
        if frame.f_code.co_filename.startswith(_PACKAGE + os.sep):
            return True
        frame = frame.f_back
    return False


def _watch_parent(parent: int) -> None:
    """End the running trial (``interrupted``) when the sweep's process is gone."""
    import _thread

    while os.getppid() == parent:
        time.sleep(1.0)
    _thread.interrupt_main()


def _read_messages(tasks: Connection, inbox: queue.Queue[Any]) -> None:
    """Trials go to the main loop; a stop for the running trial is passed on at once."""
    from ..trial import stop_here

    while True:
        try:
            message = pickle.loads(tasks.recv_bytes())
        except (EOFError, OSError):
            inbox.put(None)  # the sweep's process is gone
            return
        if message[0] == "stop":
            stop_here(message[1], message[2])
        else:
            inbox.put(message[1:])


def main(argv: list[str]) -> None:
    # The sweep's process gone mid-trial: nobody to answer (the trial's run was ended).
    with contextlib.suppress(BrokenPipeError, EOFError):
        _serve(argv)


def _serve(argv: list[str]) -> None:
    global _in_trial
    tasks = Connection(int(argv[0]), writable=False)
    results = Connection(int(argv[1]), readable=False)
    signal.signal(signal.SIGINT, _on_sigint)
    signal.signal(signal.SIGTERM, _on_sigterm)
    threading.Thread(target=_watch_parent, args=(int(argv[2]),), name="nbtrack-parent-watch",
                     daemon=True).start()
    # Imported now, while no trial waits: the first trial does not pay for it.
    from ..trial import TrialOutcome, TrialStopped, run_trial, timeout_error

    inbox: queue.Queue[Any] = queue.Queue()
    threading.Thread(target=_read_messages, args=(tasks, inbox), name="nbtrack-worker-inbox",
                     daemon=True).start()
    while True:
        try:
            message = inbox.get(timeout=IDLE_TIMEOUT)
        except (queue.Empty, KeyboardInterrupt):
            return
        if message is None:
            return
        outcome: TrialOutcome
        try:
            path, payload = message
            sys.path.extend(p for p in path if p not in sys.path)  # the kernel's: its modules import here
            task = pickle.loads(payload)
        except BaseException as exc:
            import traceback

            text = "".join(traceback.format_exception(type(exc), exc, exc.__traceback__))
            results.send_bytes(pickle.dumps(("lost", "the trial could not be loaded in the worker process "
                                                 f"(pid {os.getpid()}):\n{text}")))
            continue
        sys.stdout.flush()
        sys.stderr.flush()
        os.write(1, TRIAL_START)
        results.send_bytes(_STARTED)  # its time limit counts from here, not from a slow start-up
        try:
            _in_trial = True
            outcome = run_trial(task)
        except TrialStopped:  # the time limit, before the trial's code began
            outcome = TrialOutcome(task.run_id, task.number, "failed", error=timeout_error(task.timeout))
        except KeyboardInterrupt:  # between the trial's end and here
            outcome = TrialOutcome(task.run_id, task.number, "interrupted")
        except BaseException as exc:  # the trial could not start (its store, its run)
            results.send_bytes(pickle.dumps(("lost", f"{type(exc).__name__}: {exc}")))
            continue
        finally:
            _in_trial = False
        sys.stdout.flush()
        sys.stderr.flush()
        results.send_bytes(pickle.dumps(("outcome", outcome)))


if __name__ == "__main__":
    main(sys.argv[1:])
