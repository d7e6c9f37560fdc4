"""Trials in N local worker processes (``executor=N``), each trial alone in its worker.

Each worker is a fresh interpreter (``python -m nbtrack.sweeps.executors._worker``,
never a fork of the kernel, so CUDA set up in the notebook cannot hang it) that runs
one trial at a time; the trial function travels by value with cloudpickle, so a
function defined in a notebook cell works.

Why not a ``concurrent.futures``/loky pool: when one of its workers dies (``os._exit``,
a segfault, the OOM killer's SIGKILL) the whole pool is broken and every trial in it
fails with the one that died (a healthy neighbour was marked ``crashed`` after
0.24 s). Here a worker that dies ends only its own trial, written down ``crashed``
with its exit code or signal and its last output lines, and the sweep starts another
worker in its place. The same control gives ``trial_timeout``: SIGTERM (the trial
ends ``failed`` with what it logged), then SIGKILL if it does not stop.

Workers outlive the sweep (up to ``_worker.IDLE_TIMEOUT`` seconds idle): the next sweep
starts without paying for new processes.
"""

from __future__ import annotations

import collections
import contextlib
import math
import os
import pickle
import signal
import subprocess
import sys
import threading
import time
from multiprocessing.connection import Connection, wait
from typing import Any

from ..trial import OnMetric, TrialOutcome, TrialTask, record_lost_trial, timeout_error
from ._base import Executor, not_picklable
from ._worker import TRIAL_START

__all__ = ["ProcessExecutor"]

#: Output lines of a trial kept for its error when its process dies.
TAIL_LINES = 20
#: Seconds a trial past its time limit gets to stop after SIGTERM before SIGKILL.
KILL_GRACE = 2.0

_idle: list[_Worker] = []  # started workers with no trial, for the next sweep
_idle_lock = threading.Lock()


class _Worker:
    """One worker process, its two pipes and the tail of its output."""

    def __init__(self) -> None:
        task_read, task_write = os.pipe()
        result_read, result_write = os.pipe()
        env = {**os.environ, "PYTHONUNBUFFERED": "1"}  # a print just before a crash is kept
        try:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "nbtrack.sweeps.executors._worker", str(task_read), str(result_write),
                 str(os.getpid())],
                pass_fds=(task_read, result_write), stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT, env=env)
        finally:
            os.close(task_read)
            os.close(result_write)
        self.tasks = Connection(task_write, readable=False)
        self.results = Connection(result_read, writable=False)
        self.tail: collections.deque[str] = collections.deque(maxlen=TAIL_LINES)
        self._send_lock = threading.Lock()  # Sweep.stop(cancel=True) sends from another thread
        self.task: TrialTask | None = None
        self.started = math.inf  # when its trial began (its time limit counts from there)
        self.termed = 0.0  # when SIGTERM was sent for the time limit
        self.killed_by_us = False
        self._reader = threading.Thread(target=self._read_output, name=f"nbtrack-worker-{self.process.pid}",
                                        daemon=True)
        self._reader.start()

    def _read_output(self) -> None:
        """Pass the worker's output on to this process's stdout, keeping the trial's last lines."""
        assert self.process.stdout is not None
        out = sys.__stdout__
        with self.process.stdout as lines:
            for line in iter(lines.readline, b""):
                if line == TRIAL_START:
                    self.tail.clear()
                    continue
                self.tail.append(line.decode(errors="replace").rstrip("\n"))
                if out is not None:
                    with contextlib.suppress(Exception):
                        out.write(line.decode(errors="replace"))
                        out.flush()

    def alive(self) -> bool:
        return self.process.poll() is None

    def send(self, task: TrialTask, payload: bytes) -> None:
        # ``started`` is set when the worker says the trial began (after its own start-up)
        self.task, self.started, self.termed, self.killed_by_us = task, math.inf, 0.0, False
        with self._send_lock:
            self.tasks.send_bytes(payload)

    def stop(self, run_id: str, reason: str) -> None:
        """Ask the running trial to stop (it ends at its next ``nbtrack.log``)."""
        with self._send_lock, contextlib.suppress(OSError):  # dead: its end is on the way
            self.tasks.send_bytes(pickle.dumps(("stop", run_id, reason)))

    def signal(self, signum: int) -> None:
        with contextlib.suppress(ProcessLookupError):
            self.process.send_signal(signum)

    def ended(self) -> str:
        """Why the process ended, with its last output lines."""
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.process.wait(5.0)
        self._reader.join(5.0)  # the last lines it wrote (EOF comes with its end: at once, unless loaded)
        code = self.process.returncode
        if code is None:
            reason = "its worker process stopped answering"
        elif code < 0:
            try:
                name = signal.Signals(-code).name
            except ValueError:
                name = f"signal {-code}"
            reason = f"killed by {name} (signal {-code})"
            if -code == signal.SIGKILL and not self.killed_by_us:
                reason += ", perhaps out of memory"
        else:
            reason = f"exit code {code}"
        text = f"crashed: {reason} (worker pid {self.process.pid})"
        if self.tail:
            text += f"\nlast {len(self.tail)} output lines:\n" + "\n".join(self.tail)
        return text

    def close(self) -> None:
        with contextlib.suppress(OSError):
            self.tasks.close()  # the worker sees the end of its task pipe and leaves
        with contextlib.suppress(OSError):
            self.results.close()


class ProcessExecutor(Executor):
    """``workers`` local processes; a worker that dies ends only its own trial, as ``crashed``."""

    kind = "process"

    def __init__(self, workers: int, trial_timeout: float | None = None) -> None:
        self.workers = workers
        self.trial_timeout = trial_timeout
        self._busy: dict[Connection, _Worker] = {}
        self._free: list[_Worker] = []

    def open(self) -> None:
        with _idle_lock:
            while _idle and len(self._free) < self.workers:
                worker = _idle.pop()
                if worker.alive():
                    self._free.append(worker)
                else:
                    worker.close()
        while len(self._free) < self.workers:  # all at once: their start-ups overlap
            self._free.append(_Worker())

    def slots(self) -> int:
        return self.workers

    def submit(self, task: TrialTask, on_metric: OnMetric | None = None) -> None:
        import cloudpickle

        try:
            payload = pickle.dumps(("trial", list(sys.path), cloudpickle.dumps(task)))
        except Exception as exc:
            raise (not_picklable(exc) or exc) from None
        worker = self._take()
        try:
            worker.send(task, payload)
        except OSError:  # it died while idle: a fresh one
            worker.close()
            worker = _Worker()
            worker.send(task, payload)
        self._busy[worker.results] = worker

    def _take(self) -> _Worker:
        while self._free:
            worker = self._free.pop()
            if worker.alive():
                return worker
            worker.close()
        return _Worker()

    def wait(self, timeout: float) -> list[TrialOutcome]:
        if not self._busy:
            return []
        ready = wait(list(self._busy), timeout=min(timeout, self._until_limit()))
        outcomes = []
        for connection in ready:
            worker = self._busy[connection]  # type: ignore[index]
            outcome = self._receive(worker)
            while outcome is None and worker.task is not None and _readable(connection):
                outcome = self._receive(worker)  # a quick trial: its outcome came with its start
            if outcome is not None:
                del self._busy[connection]  # type: ignore[arg-type]
                outcomes.append(outcome)
        self._enforce_limit()
        return outcomes

    def _receive(self, worker: _Worker) -> TrialOutcome | None:
        task = worker.task
        assert task is not None
        try:
            kind, body = pickle.loads(worker.results.recv_bytes())
        except (EOFError, OSError):  # the process died: only its own trial is lost
            worker.close()
            if worker.termed:  # stopped for its time limit
                status, error = "failed", timeout_error(task.timeout, killed=worker.killed_by_us)
            else:
                status, error = "crashed", worker.ended()
            _record(task, status, error, worker.process.pid)
            return TrialOutcome(task.run_id, task.number, status, None, error)
        if kind == "started":  # the trial began: its time limit counts from now
            worker.started = time.monotonic()
            return None
        worker.task = None
        self._free.append(worker)
        if kind == "lost":  # the worker could not load or start the trial
            _record(task, "crashed", body, worker.process.pid)
            return TrialOutcome(task.run_id, task.number, "crashed", None, body)
        outcome: TrialOutcome = body
        return outcome

    def _until_limit(self) -> float:
        if self.trial_timeout is None:
            return float("inf")
        now, limit = time.monotonic(), self.trial_timeout
        waits = [(w.termed + KILL_GRACE if w.termed else w.started + limit) - now
                 for w in self._busy.values()]
        return max(0.01, min(waits, default=float("inf")))

    def _enforce_limit(self) -> None:
        """SIGTERM a trial past its time limit; SIGKILL it when it has not stopped after that."""
        if self.trial_timeout is None:
            return
        now = time.monotonic()
        for worker in self._busy.values():
            if not worker.termed and now - worker.started >= self.trial_timeout:
                worker.termed = now
                worker.signal(signal.SIGTERM)
            elif worker.termed and now - worker.termed >= KILL_GRACE and not worker.killed_by_us:
                worker.killed_by_us = True
                worker.signal(signal.SIGKILL)

    def running(self) -> list[str]:
        return [w.task.run_id for w in self._busy.values() if w.task is not None]

    def stop_trial(self, run_id: str, reason: str) -> bool:
        for worker in list(self._busy.values()):
            task = worker.task
            if task is not None and task.run_id == run_id:
                worker.stop(run_id, reason)
        return True  # through the worker's pipe, not the store; an ended trial needs nothing

    def kill(self) -> None:
        for worker in self._busy.values():
            worker.killed_by_us = True
            worker.signal(signal.SIGKILL)
            worker.close()
        for worker in self._busy.values():
            with contextlib.suppress(subprocess.TimeoutExpired):
                worker.process.wait(1.0)
        self._busy.clear()

    def close(self) -> None:
        self.kill()
        with _idle_lock:
            _idle.extend(w for w in self._free if w.alive())
        self._free = []


def _readable(connection: Any) -> bool:
    try:
        return bool(connection.poll(0))
    except OSError:
        return True  # closed: the next read says how it ended


def _record(task: TrialTask, status: str, error: str, pid: int | None) -> None:
    try:
        record_lost_trial(task, status, error, pid)
    except Exception as exc:  # the sweep still knows; its table shows the store's view
        from ...errors import warn_once

        warn_once(f"lost-trial:{task.run_id}", f"nbtrack: could not write down how trial {task.number} "
                  f"ended ({status}: {error.splitlines()[0]}): {exc}")
