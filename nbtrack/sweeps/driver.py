"""The loop that runs a sweep: ask the study, start trials, watch them, tell the study.

One :class:`Driver` runs in the process (and thread) that called ``sweep.run``; it
owns the Optuna study and the pruner. Trials in other processes write their metrics
to the store; the driver reads the sweep metric's new points every 0.2 s, feeds them
to the pruner and writes a stop file when a trial should stop. Ctrl-C stops
launching, tells running trials to stop, waits up to 3 s for them, then kills what
is left and marks it ``interrupted``; the sweep can be resumed.
"""

from __future__ import annotations

import json
import math
import os
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from .._run import new_run_id
from ..errors import NbtrackError, StoreError, warn, warn_once
from ..store.schema import utcnow
from . import records
from .executors import make_executor
from .pruning import TrialReporter
from .study import DONE, quiet, rebuild
from .trial import TrialOutcome, TrialTask

if TYPE_CHECKING:
    import optuna

    from .sweep import Sweep

__all__ = ["Driver", "TrialEvent", "check_timeout"]

POLL_EVERY = 0.2
INTERRUPT_GRACE = 3.0
FAILED_AT_START = 3


@dataclass
class TrialEvent:
    """What ``on_trial`` receives when a trial starts (``status="running"``) and when it ends."""

    sweep_id: str
    number: int
    run_id: str
    status: str
    config: dict[str, Any]
    value: float | None = None
    error: str | None = None


@dataclass
class _Live:
    trial: optuna.trial.Trial
    number: int
    run_id: str
    config: dict[str, Any]
    reporter: TrialReporter
    stop_sent: bool = False


@dataclass
class _Plan:
    budget: float
    grid: list[dict[str, Any]] | None = None
    launched: int = 0
    planned: int | None = None
    done_before: int = 0
    failures: int = 0
    successes: int = 0
    target_reached: bool = False
    first_error_shown: bool = False
    #: why the sweep stops, raised once the trials that ended with it are written down
    abort: NbtrackError | None = None
    notes: list[str] = field(default_factory=list)


class Driver:
    """Runs one sweep in this thread until its budget is spent, it is stopped, or Ctrl-C."""

    def __init__(self, sweep: Sweep, function: Callable[..., Any], count: int | None, executor: Any,
                 on_trial: Callable[[TrialEvent], Any] | None, trial_timeout: float | None = None) -> None:
        if not callable(function):
            raise NbtrackError(f"a sweep needs a function to run for each trial; got {function!r}")
        if count is not None and (isinstance(count, bool) or not isinstance(count, int) or count < 1):
            raise NbtrackError(f"count must be a whole number of at least 1 (or None); got {count!r}")
        self.sweep = sweep
        self.spec = sweep.spec
        self.space = sweep.space
        self.store = sweep._store
        self.function = function
        self.count = count
        self.trial_timeout = check_timeout(trial_timeout)
        self.executor = make_executor(executor, self.trial_timeout)
        #: new trials' rows, written beside the trials instead of before each launch
        self.recorder = records.TrialRecorder(self.store, sweep.id)
        self.on_trial = on_trial
        #: "running" from the moment this driver owns the sweep in the store
        self.status = "starting"
        self.lock = threading.Lock()
        self.trials: dict[int, dict[str, Any]] = {}
        self._stop = threading.Event()
        self._cancel = False
        self._running: dict[str, _Live] = {}
        self._last_poll = 0.0
        self._shutting_down = False
        self.plan = _Plan(budget=0)

    # -- public, from any thread ------------------------------------------------
    def stop(self, cancel: bool = False) -> None:
        """Launch no more trials; with ``cancel``, also stop the running ones (``interrupted``)."""
        self._cancel = self._cancel or cancel
        self._stop.set()
        if cancel:  # now, not on the loop's next turn: an inline trial holds the loop
            with self.lock:
                running = list(self._running.values())
            for live in running:
                self._request_stop(live, "interrupted")

    def snapshot(self) -> list[dict[str, Any]]:
        with self.lock:
            return [dict(row) for _, row in sorted(self.trials.items())]

    # -- the run ------------------------------------------------------------------
    def run(self) -> None:
        try:
            known = None
            if self.sweep._fresh:  # made by this process a moment ago, never run
                known = {"status": "pending", "hostname": None, "pid": None, "pid_started": None,
                         "name": self.sweep.name}
            records.claim(self.store, self.sweep.id, known)
        except BaseException:
            self.status = "not started"
            raise
        self.status = "running"
        final, error = "finished", None
        try:
            self._setup()
            self.sweep._fresh = False
            self.executor.open()
            self._loop()
            if self._cancel:
                final = "interrupted"
            elif self._stop.is_set() and not self.plan.target_reached and self.plan.budget > 0:
                final = "stopped"
        except KeyboardInterrupt:
            final = "interrupted"
            self._shutdown()
            self._say_interrupted()
            raise
        except BaseException as exc:
            final, error = "failed", f"{type(exc).__name__}: {exc}"
            self._shutdown()
            raise
        finally:
            self.status = final
            try:
                self.executor.close()
                try:
                    self.recorder.close()
                finally:
                    records.update(self.store, self.sweep.id, status=final, ended_at=utcnow(), error=error)
            finally:
                self.store.clear_trial_stop(self.sweep.id)

    def _setup(self) -> None:
        spec, metric = self.spec, self.sweep.metric
        rows = [] if self.sweep._fresh else records.trial_rows(self.store, self.sweep.id)
        started = [r for r in rows if r["status"] is not None]
        points = {}
        if spec.early_terminate is not None and metric is not None:
            points = records.metric_points(self.store, [r["run_id"] for r in started], metric)
        self.study = rebuild(spec, self.space, rows, points, self.sweep.seed)
        self.distributions = self.space.distributions()
        self._next_number = max((r["number"] for r in rows), default=-1) + 1
        for r in started:
            value = r["summary"].get(metric) if metric else None
            self.trials[r["number"]] = {"number": r["number"], "run_id": r["run_id"], "status": r["status"],
                                        "config": r["config"], "value": _number(value), "error": r["error"]}
        budget: float = self.count if self.count is not None else math.inf
        grid = None
        if spec.method == "grid":
            done = {_key(r["params"]) for r in started if r["status"] in DONE}
            grid = [p for p in self.space.grid() if _key(p) not in done]
            budget = min(budget, len(grid))
        if spec.run_cap is not None:
            budget = min(budget, max(0, spec.run_cap - len(started)))
        self.plan = _Plan(budget=budget, grid=grid, done_before=len(started),
                          planned=None if math.isinf(budget) else int(budget))

    def _loop(self) -> None:
        while True:
            self._launch()
            if not self._running:
                return
            outcomes = self.executor.wait(POLL_EVERY)
            self._poll()
            for outcome in outcomes:  # every one, so none is left to be marked interrupted
                self._complete(outcome)
            if self.plan.abort is not None:
                raise self.plan.abort

    # -- launching ----------------------------------------------------------------
    def _launch(self) -> None:
        if self._stop.is_set():
            return
        free = self.executor.slots() - len(self._running)
        n = int(min(free, self.plan.budget))
        if n <= 0:
            return
        asked = []
        with quiet():
            for _ in range(n):
                if self.plan.grid is not None:
                    self.study.enqueue_trial(self.plan.grid.pop(0))
                trial = self.study.ask(self.distributions)
                asked.append((self._next_number, new_run_id(), trial))
                self._next_number += 1
        metric = self.sweep.metric
        for number, run_id, trial in asked:
            config = self.space.config(trial.params)
            reporter = TrialReporter(trial, self.spec.early_terminate)
            with self.lock:
                self._running[run_id] = _Live(trial, number, run_id, config, reporter)
            self.plan.budget -= 1
            self.plan.launched += 1
            task = TrialTask(self.sweep.id, number, run_id, f"{self.sweep.name}-{number}",
                             self.sweep.project, config, self.function, self.store.address, metric,
                             os.getpid(), self.trial_timeout)
            direct = not self.executor.remote and self.spec.early_terminate is not None
            self._event(number, run_id, "running", config)
            self.recorder.add([(number, run_id, trial.params)])
            self.executor.submit(task, reporter.feed if direct else None)

    # -- watching -----------------------------------------------------------------
    def _poll(self, only: str | None = None) -> None:
        """Feed new points of the sweep metric from the store to the pruner."""
        metric = self.sweep.metric
        if not self.executor.remote or self.spec.early_terminate is None or metric is None:
            return
        now = time.monotonic()
        if only is None and now - self._last_poll < POLL_EVERY:
            return
        self._last_poll = now
        lives = [self._running[only]] if only is not None else list(self._running.values())
        cursors = {live.run_id: live.reporter.cursor for live in lives if not live.stop_sent or only}
        try:
            points = records.new_points(self.store, metric, cursors)
        except StoreError:
            return  # the store is busy; the next poll catches up
        for run_id, step, value in points:
            live = self._running.get(run_id)
            if live is not None and live.reporter.feed(step, value) and only is None:
                self._request_stop(live, "pruned")

    def _request_stop(self, live: _Live, reason: str) -> None:
        if live.stop_sent:
            return
        live.stop_sent = True
        try:
            if not self.executor.stop_trial(live.run_id, reason):
                self.store.request_trial_stop(self.sweep.id, live.run_id, reason)
        except (OSError, StoreError) as exc:
            warn_once("sweep-stop-file", f"nbtrack: could not ask trial {live.number} to stop ({exc})")

    # -- ending -------------------------------------------------------------------
    def _complete(self, outcome: TrialOutcome) -> None:
        from optuna.trial import TrialState

        live = self._running.get(outcome.run_id)
        if live is None:
            return
        self._poll(only=outcome.run_id)  # the points it logged since the last poll
        with self.lock:
            del self._running[outcome.run_id]
        with quiet():
            if outcome.status == "finished" and outcome.value is not None and math.isfinite(outcome.value):
                self.study.tell(live.trial, outcome.value)
            elif outcome.status == "pruned":
                self.study.tell(live.trial, state=TrialState.PRUNED)
            else:
                self.study.tell(live.trial, state=TrialState.FAIL)
        self.store.clear_trial_stop(self.sweep.id, outcome.run_id)
        self._event(live.number, live.run_id, outcome.status, live.config, outcome.value, outcome.error)
        self._judge(live, outcome)

    def _judge(self, live: _Live, outcome: TrialOutcome) -> None:
        plan, metric = self.plan, self.sweep.metric
        if outcome.status == "finished":
            plan.successes += 1
            if metric is not None and outcome.value is None:
                warn_once(f"sweep-no-metric:{self.sweep.id}",
                          f"nbtrack: trial {live.number} of sweep {self.sweep.name!r} finished without "
                          f"logging {metric!r}; the search cannot learn from it")
            target = self.spec.metric.target if self.spec.metric is not None else None
            if target is not None and outcome.value is not None and (
                    outcome.value <= target if self.sweep.goal == "minimize" else outcome.value >= target):
                plan.target_reached = True
                self._stop.set()
        elif outcome.status in ("failed", "crashed"):
            plan.failures += 1
            self._say_failed(live, outcome)
            if plan.successes == 0 and plan.failures >= FAILED_AT_START and not self._shutting_down:
                # A resumed grid never runs a failed point again: a fixed function needs a new sweep.
                then = ("run the config as a new sweep" if plan.grid is not None else
                        f"resume with nbtrack.Sweep.load({self.sweep.id!r}).resume(...)")
                plan.abort = plan.abort or NbtrackError(
                    f"the first {plan.failures} trials of sweep {self.sweep.name!r} failed, so it stopped; "
                    f"fix the function and {then}. The last error:\n{outcome.error}")

    def _say_failed(self, live: _Live, outcome: TrialOutcome) -> None:
        error = outcome.error or outcome.status
        if not self.plan.first_error_shown:
            self.plan.first_error_shown = True
            print(f"nbtrack: trial {live.number} (run {live.run_id}) {outcome.status}:\n{error}",
                  file=sys.stderr)
        else:
            last = error.strip().splitlines()[-1] if error.strip() else outcome.status
            print(f"nbtrack: trial {live.number} (run {live.run_id}) {outcome.status}: {last}",
                  file=sys.stderr)

    def _shutdown(self) -> None:
        """Stop running trials: ask, wait a little, then kill and mark what is left."""
        self._shutting_down = True
        self._stop.set()
        for live in self._running.values():
            self._request_stop(live, "interrupted")
        if self.executor.remote and self._running:
            deadline = time.monotonic() + INTERRUPT_GRACE
            try:
                while self._running and time.monotonic() < deadline:
                    for outcome in self.executor.wait(POLL_EVERY):
                        self._complete(outcome)
            except KeyboardInterrupt:
                pass  # a second Ctrl-C: stop waiting
            except Exception as exc:
                warn(f"nbtrack: while stopping the sweep's trials: {exc!r}")
        self.executor.kill()
        with self.lock:
            left = list(self._running.values())
            self._running.clear()
        try:
            records.mark_interrupted(self.store, [live.run_id for live in left])
        except StoreError as exc:
            warn(f"nbtrack: could not mark the stopped trials interrupted ({exc})")
        from optuna.trial import TrialState

        with quiet():
            for live in left:
                self.study.tell(live.trial, state=TrialState.FAIL)
                self._event(live.number, live.run_id, "interrupted", live.config)

    def _say_interrupted(self) -> None:
        counts: dict[str, int] = {}
        for row in self.snapshot():
            counts[row["status"]] = counts.get(row["status"], 0) + 1
        text = ", ".join(f"{n} {status}" for status, n in sorted(counts.items())) or "no trials"
        print(f"nbtrack: sweep {self.sweep.name!r} ({self.sweep.id}) interrupted: {text}. Resume it with "
              f"nbtrack.Sweep.load({self.sweep.id!r}).resume(function)", file=sys.stderr)

    # -- reporting ----------------------------------------------------------------
    def _event(self, number: int, run_id: str, status: str, config: dict[str, Any],
               value: float | None = None, error: str | None = None) -> None:
        with self.lock:
            self.trials[number] = {"number": number, "run_id": run_id, "status": status,
                                   "config": config, "value": value, "error": error}
        if self.on_trial is None:
            return
        try:
            self.on_trial(TrialEvent(self.sweep.id, number, run_id, status, config, value, error))
        except Exception as exc:
            self.on_trial = None
            warn(f"nbtrack: the sweep's on_trial callback failed ({exc!r}) and was detached")


def check_timeout(value: Any) -> float | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 < value < math.inf:
        raise NbtrackError(f"trial_timeout must be a positive number of seconds (or None for no limit); "
                           f"got {value!r}")
    return float(value)


def _key(params: dict[str, Any]) -> str:
    return json.dumps(params, sort_keys=True)


def _number(value: Any) -> float | None:
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return number if math.isfinite(number) else None
