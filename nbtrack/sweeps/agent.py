"""``nbtrack sweep sweep.yaml`` and ``nbtrack agent SWEEP_ID``: W&B's sweeps over scripts.

``nbtrack sweep`` records a sweep from an unchanged W&B config in the store and runs
nothing. ``nbtrack agent`` runs on any machine that reaches the store: it asks the
sweep for the next parameters, runs the config's ``program`` with its ``command``
macros (:mod:`.command`), watches what the script logs and ends the trial's run.

There is no sweep server: each agent rebuilds the search (:func:`.study.rebuild`)
from the store before each trial and claims the trial by its number. The store
refuses a second trial with the same number (``sweep_trials``' key), so two agents
that chose at once cannot both win: the loser reads the trials again and chooses
again, and a grid point is never run twice. The pruner (``early_terminate``) judges
the script's points as they reach the store and stops a trial it prunes: first by
asking (the script's next ``log`` ends its run ``pruned``), then with SIGTERM and
SIGKILL.

Example
-------
::

    $ nbtrack sweep sweep.yaml
    $ nbtrack agent 3k9x2m1a --count 10      # on each machine
"""

from __future__ import annotations

import contextlib
import json
import os
import random
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

from .._run import new_run_id
from ..errors import NbtrackError, StoreError
from ..store import StoreBase, get_store
from ..store.schema import utcnow
from . import command as commands
from . import records
from .config import SweepSpec, parse_config
from .pruning import TrialReporter
from .script_trial import TRIAL_ENV, AgentTrial
from .space import SearchSpace
from .study import objective_value, quiet, rebuild
from .trial import TrialTask, record_lost_trial

__all__ = ["Agent", "create_sweep"]

#: Seconds between looks at a running trial's points (only with early_terminate).
POLL_EVERY = 0.3
#: After asking a trial to stop: seconds before SIGTERM, then before SIGKILL.
STOP_GRACE = 5.0
KILL_GRACE = 3.0
#: Output lines of a trial kept for its run's error when it fails.
LAST_LINES = 20
#: Trials failing in a row at an agent's start before it gives up (W&B's agent does too).
FAILED_AT_START = 3
#: Tries to claim a trial that other agents keep taking first.
_CLAIM_TRIES = 50
#: Statuses of a claimed trial whose point may be run again (its process died).
_RETRY = ("crashed", "interrupted")


def create_sweep(config: Any, *, project: str | None = None, name: str | None = None,
                 store: Any = None) -> Any:
    """Record a sweep for agents (``nbtrack sweep``) and return the :class:`~.sweep.Sweep`."""
    from .sweep import Sweep

    spec = parse_config(config)
    commands.check(spec.command or commands.DEFAULT_COMMAND, spec.program)
    return Sweep.create(config, project=project, name=name, dir=store)


@dataclass
class _Claim:
    number: int
    run_id: str
    params: dict[str, Any]
    config: dict[str, Any]
    reporter: TrialReporter


class Agent:
    """Runs trials of one sweep, one after another, until ``count`` or the sweep is done."""

    def __init__(self, sweep_ref: str, count: int | None = None, *, store: Any = None,
                 out: IO[str] | None = None) -> None:
        if count is not None and (isinstance(count, bool) or not isinstance(count, int) or count < 1):
            raise NbtrackError(f"--count must be a whole number of at least 1; got {count!r}")
        self.store: StoreBase = get_store(store)
        # W&B's agent takes entity/project/ID too: the project must be the sweep's.
        *path, sweep_ref = sweep_ref.split("/")
        record = records.load(self.store, sweep_ref)  # a clear error for an unknown id
        if path and path[-1] and path[-1] != record["project"]:
            raise NbtrackError(f"sweep {sweep_ref} is in project {record['project']!r}, not {path[-1]!r}")
        self.sweep_id: str = record["id"]
        self.name: str = record["name"]
        self.project: str = record["project"]
        self.spec: SweepSpec = parse_config(record["config"])
        self.space = SearchSpace(self.spec)
        self.metric = self.spec.metric.name if self.spec.metric is not None else None
        self.command = self.spec.command or commands.DEFAULT_COMMAND
        commands.check(self.command, self.spec.program)
        program = self.spec.program
        if program is not None and commands.uses(self.command, "program") and not Path(program).is_file():
            raise NbtrackError(f"the sweep's program {program!r} is not in {os.getcwd()}: start "
                               "`nbtrack agent` in the folder that holds it")
        self.count = count
        self.out = out if out is not None else sys.stdout
        self._tmp = Path(tempfile.mkdtemp(prefix="nbtrack-agent-"))

    # -- the loop -------------------------------------------------------------------
    def run(self) -> int:
        """Run trials; returns the exit code for the command (0, or 1 when trials kept failing)."""
        self._say(f"agent for sweep {self.name!r} ({self.sweep_id}), {self.spec.method}, "
                  f"store {self.store.location}")
        records.update(self.store, self.sweep_id, status="running", ended_at=None, error=None)
        ran, failed = 0, 0
        restore = _terminate_as_interrupt()
        try:
            while self.count is None or ran < self.count:
                claim = self._claim()
                if claim is None:
                    break
                status = self._run_trial(claim)
                ran += 1
                failed += status in ("failed", "crashed")
                if failed == ran >= FAILED_AT_START:
                    self._say(f"the first {failed} trials failed; stopping this agent (fix the "
                              f"script and start it again: nbtrack agent {self.sweep_id})")
                    self._settle(final="failed")
                    return 1
        except KeyboardInterrupt:
            self._settle(final="interrupted")
            raise
        finally:
            restore()
            shutil.rmtree(self._tmp, ignore_errors=True)
        self._settle(final="stopped")
        self._say(f"agent done: {ran} trial(s) run")
        return 0

    def _settle(self, final: str | None) -> None:
        """Record the sweep finished when its last trial ended; else ``final`` (this agent stops)
        unless another agent still runs a trial (that one settles the sweep)."""
        rows = self.store.sweep_trials(self.sweep_id)
        if any(r["status"] in (None, "running") for r in rows):
            return
        status = "finished" if self._why_done(rows) is not None else final
        if status is not None:
            records.update(self.store, self.sweep_id, status=status, ended_at=utcnow())

    # -- choosing the next trial ----------------------------------------------------
    def _why_done(self, rows: list[dict[str, Any]]) -> str | None:
        """Why the sweep has no trial left to run, or None."""
        spec = self.spec
        if spec.run_cap is not None and len(rows) >= spec.run_cap:
            return f"its run_cap ({spec.run_cap}) is reached"
        target = spec.metric.target if spec.metric is not None else None
        if target is not None:
            for row in rows:
                value = objective_value(row, self.metric) if row["status"] == "finished" else None
                if value is not None and (value <= target if spec.metric.goal == "minimize"  # type: ignore[union-attr]
                                          else value >= target):
                    return f"trial {row['number']} reached the target {self.metric}={target:g}"
        if spec.method == "grid" and not self._free_points(rows):
            return "every grid point has been run or is running"
        return None

    def _free_points(self, rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
        taken = {_key(r["params"]) for r in rows if r["status"] not in _RETRY}
        return [p for p in self.space.grid() if _key(p) not in taken]

    def _claim(self) -> _Claim | None:
        """Choose the next trial and record it in the store; None when the sweep is done."""
        for _ in range(_CLAIM_TRIES):
            rows = self.store.sweep_trials(self.sweep_id)
            why = self._why_done(rows)
            if why is not None:
                self._say(f"no trial left: {why}")
                return None
            claim = self._choose(rows)
            try:
                self.store.add_sweep_trials(self.sweep_id, [(claim.number, claim.run_id, claim.params)])
                return claim
            except Exception:
                # The key (sweep, number) refuses a trial another agent recorded first.
                after = {r["number"]: r["run_id"] for r in self.store.sweep_trials(self.sweep_id)}
                if after.get(claim.number) == claim.run_id:
                    return claim
                if claim.number not in after:
                    raise
            time.sleep(random.uniform(0.0, 0.05))  # another agent won; choose again
        raise NbtrackError(f"could not claim a trial of sweep {self.sweep_id} in {_CLAIM_TRIES} tries: "
                           "other agents kept taking them first; start this agent again")

    def _choose(self, rows: list[dict[str, Any]]) -> _Claim:
        points: dict[str, list[tuple[int, float]]] = {}
        if self.spec.early_terminate is not None and self.metric is not None:
            started = [r["run_id"] for r in rows if r["status"] is not None]
            points = records.metric_points(self.store, started, self.metric)
        # A fresh seed each time: agents choosing at once must not all draw the same values.
        study = rebuild(self.spec, self.space, rows, points, secrets.randbelow(2**31))
        with quiet():
            if self.spec.method == "grid":
                study.enqueue_trial(self._free_points(rows)[0])
            trial = study.ask(self.space.distributions())
        number = max((r["number"] for r in rows), default=-1) + 1
        return _Claim(number, new_run_id(), dict(trial.params), self.space.config(trial.params),
                      TrialReporter(trial, self.spec.early_terminate))

    # -- running one trial ----------------------------------------------------------
    def _run_trial(self, claim: _Claim) -> str:
        trial = AgentTrial(sweep_id=self.sweep_id, number=claim.number, run_id=claim.run_id,
                           name=f"{self.name}-{claim.number}", project=self.project, config=claim.config,
                           store=self.store.address, metric=self.metric)
        json_file = self._tmp / f"args-{claim.run_id}.json"
        json_file.write_text(json.dumps(claim.config), encoding="utf-8")
        argv = commands.build(self.command, self.spec.program, claim.config, json_file=str(json_file))
        env = {**os.environ, TRIAL_ENV: trial.to_env(), "NBTRACK_STORE": self.store.address,
               "NBTRACK_DIR": self.store.address}
        self._say(f"trial {claim.number} (run {claim.run_id}): {' '.join(argv)}")
        try:
            proc = subprocess.Popen(argv, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                    stdin=subprocess.DEVNULL, start_new_session=True)
        except OSError as exc:
            self._end(trial, "failed", f"could not start {argv[0]!r}: {exc}", None)
            return "failed"
        tail: deque[str] = deque(maxlen=LAST_LINES)
        reader = threading.Thread(target=_forward, args=(proc, tail, self.out), daemon=True)
        reader.start()
        stopped: str | None = None
        try:
            stopped = self._watch(proc, claim)
        except KeyboardInterrupt:
            self._stop(proc, claim, "interrupted", signal.SIGINT)
            reader.join(timeout=2.0)
            self._finish_trial(trial, proc, "interrupted", tail)
            raise
        reader.join(timeout=5.0)
        json_file.unlink(missing_ok=True)
        return self._finish_trial(trial, proc, stopped, tail)

    def _watch(self, proc: subprocess.Popen[bytes], claim: _Claim) -> str | None:
        """Wait for the trial's process, feeding its points to the pruner; the stop reason, if any."""
        if self.spec.early_terminate is None or self.metric is None:
            proc.wait()
            return None
        while proc.poll() is None:
            time.sleep(POLL_EVERY)
            try:
                points = records.new_points(self.store, self.metric, {claim.run_id: claim.reporter.cursor})
            except StoreError:
                continue  # the store is busy: the next look catches up
            if any(claim.reporter.feed(step, value) for _, step, value in points):
                self._say(f"trial {claim.number} pruned by hyperband at step {claim.reporter.cursor}")
                self._stop(proc, claim, "pruned", signal.SIGTERM)
                return "pruned"
        return None

    def _stop(self, proc: subprocess.Popen[bytes], claim: _Claim, reason: str, sig: int) -> None:
        """Ask the trial to stop (its next log ends it), then signal its process group, then kill."""
        with contextlib.suppress(OSError, StoreError):  # the signals below stop it anyway
            self.store.request_trial_stop(self.sweep_id, claim.run_id, reason)
        for wait, send in ((STOP_GRACE, sig), (KILL_GRACE, signal.SIGKILL)):
            try:
                proc.wait(wait)
                return
            except subprocess.TimeoutExpired:
                _signal_group(proc, send)
        proc.wait()

    def _finish_trial(self, trial: AgentTrial, proc: subprocess.Popen[bytes], stopped: str | None,
                      tail: deque[str]) -> str:
        """Make the trial's run say how it ended: the script's own record, corrected where needed."""
        code = proc.returncode
        lines = "\n".join(tail)
        record = self.store.run_record(trial.run_id)
        stored = record["status"] if record is not None else None
        status, error = stored, None
        if record is None:
            status = stopped or "failed"
            error = (f"the script never started a tracked run (nbtrack.init() or wandb.init() not called, "
                     f"or mode='disabled'), so nothing it did reached the sweep; exit code {code}"
                     + _last(lines))
        elif stopped is not None:
            if stored != stopped:
                status, error = stopped, f"stopped by the sweep ({stopped}); the process was signalled"
        elif code is not None and code < 0:
            status = "crashed"
            error = f"killed by signal {_signal_name(-code)}" + _last(lines)
        elif code:
            status = "failed"
            error = f"exit code {code}" + _last(lines)
        elif stored in ("running", "crashed"):
            status = "finished"  # exit code 0 without finishing (os._exit): it did not fail
        if status != stored or error is not None:
            self._end(trial, str(status), error, proc.pid)
        with contextlib.suppress(OSError, StoreError):
            self.store.clear_trial_stop(self.sweep_id, trial.run_id)
        value = objective_value(record or {}, self.metric) if status == "finished" else None
        shown = f", {self.metric}={value:g}" if value is not None else ""
        self._say(f"trial {trial.number} (run {trial.run_id}) {status}{shown}")
        if status in ("failed", "crashed") and error:
            self._say(error.strip().splitlines()[0])
        self._settle(final=None)
        return str(status)

    def _end(self, trial: AgentTrial, status: str, error: str | None, pid: int | None) -> None:
        """Write how the trial ended into its run (made here if the script never made it)."""
        task = TrialTask(sweep_id=self.sweep_id, number=trial.number, run_id=trial.run_id, name=trial.name,
                         project=trial.project, config=trial.config, function=_no_function,
                         store=trial.store, metric=trial.metric, parent_pid=os.getpid())
        record_lost_trial(task, status, error or "", pid)

    def _say(self, text: str) -> None:
        print(f"nbtrack agent: {text}", file=sys.stderr, flush=True)


def _terminate_as_interrupt() -> Callable[[], None]:
    """SIGTERM (a scheduler ending the job) stops the agent as Ctrl-C does: its trial ends
    ``interrupted`` instead of running on unwatched. Returns what undoes it."""
    if threading.current_thread() is not threading.main_thread():
        return lambda: None

    def interrupt(signum: int, frame: Any) -> None:
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGTERM, interrupt)

    def restore() -> None:
        signal.signal(signal.SIGTERM, previous)

    return restore


def _no_function() -> None:
    """A script's trial has no function: the agent runs the script."""


def _forward(proc: subprocess.Popen[bytes], tail: deque[str], out: IO[str]) -> None:
    """Copy the trial's output to the agent's, keeping its last lines."""
    assert proc.stdout is not None
    for raw in iter(proc.stdout.readline, b""):
        line = raw.decode("utf-8", errors="replace")
        tail.append(line.rstrip("\n"))
        try:
            out.write(line)
            out.flush()
        except (OSError, ValueError):
            pass  # the agent's own output is gone: keep reading so the script never blocks


def _signal_group(proc: subprocess.Popen[bytes], sig: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(proc.pid, sig)  # the script and what it started (data loader workers)


def _last(lines: str) -> str:
    return f"; last output lines:\n{lines}" if lines else ""


def _signal_name(number: int) -> str:
    try:
        return signal.Signals(number).name
    except ValueError:
        return str(number)


def _key(params: dict[str, Any]) -> str:
    return json.dumps(params, sort_keys=True)
