"""A training script run by ``nbtrack agent``: its ``nbtrack.init()`` joins the agent's trial.

The agent starts the script with :data:`TRIAL_ENV` set to the trial (sweep id, run id,
the sweep's config, the store). The script's first ``init()`` (``wandb.init`` through
``import nbtrack as wandb`` too) then returns a :class:`ScriptTrialRun`: the run the
agent recorded for the trial, whose config holds the sweep's values (they win over
``init(config=defaults)``, as in every sweep trial) and whose ``log`` stops the script
when the sweep prunes it, ending the run ``pruned``.

Example
-------
>>> # train.py, run by `nbtrack agent SWEEP_ID` as `python train.py --lr=0.01`
>>> import nbtrack as wandb                                          # doctest: +SKIP
>>> run = wandb.init(config={"lr": 0.1, "epochs": 5})                 # doctest: +SKIP
>>> run.config.lr                                                    # doctest: +SKIP
0.01
"""

from __future__ import annotations

import json
import os
import sys
from dataclasses import dataclass
from typing import Any

from .. import _run
from ..errors import NbtrackError, warn_once
from .trial import TrialRun, TrialStopped, TrialTask

__all__ = ["TRIAL_ENV", "AgentTrial", "ScriptTrialRun", "join"]

#: The environment variable through which ``nbtrack agent`` hands a script its trial.
TRIAL_ENV = "NBTRACK_AGENT_TRIAL"
_joined: list[bool] = [False]


@dataclass(frozen=True)
class AgentTrial:
    """What the agent tells the script about its trial (JSON in :data:`TRIAL_ENV`)."""

    sweep_id: str
    number: int
    run_id: str
    name: str
    project: str
    config: dict[str, Any]
    store: str
    metric: str | None

    def to_env(self) -> str:
        return json.dumps(self.__dict__)

    @classmethod
    def from_env(cls, text: str) -> AgentTrial:
        try:
            data = json.loads(text)
            return cls(**data)
        except (TypeError, ValueError) as exc:
            raise NbtrackError(f"{TRIAL_ENV} does not hold a trial from `nbtrack agent` ({exc}); unset it "
                               "to run the script on its own") from None


class ScriptTrialRun(TrialRun):
    """The trial's run inside the script: a :class:`TrialRun` the script itself finishes.

    ``finish()`` (or the script's exit) ends it; when the sweep stopped it, it ends
    with that reason (``pruned``) whatever status the exit would give.
    """

    def __init__(self, trial: AgentTrial, name: str | None) -> None:
        task = TrialTask(sweep_id=trial.sweep_id, number=trial.number, run_id=trial.run_id,
                         name=name or trial.name, project=trial.project, config=trial.config,
                         function=_no_function, store=trial.store, metric=trial.metric,
                         parent_pid=os.getpid())
        super().__init__(task)
        self._in_trial = False  # no function around it: the script's finish() ends the run
        _quiet_stop()

    def finish(self, status: str = "finished", error: str | None = None, *, exit_code: int | None = None,
               quiet: bool | None = None) -> None:
        status, error = _run._exit_status(status, error, exit_code)
        if self.stop_reason is not None and not self._finished:
            status, error = self.stop_reason, None  # the TrialStopped that ended the script
        super().finish(status, error)


def _quiet_stop() -> None:
    """The sweep stopping the script (a TrialStopped out of its ``log``) is one line, not a
    traceback: the run ends with the stop's reason at exit all the same."""
    previous = sys.excepthook

    def excepthook(etype: Any, value: Any, tb: Any) -> None:
        if isinstance(value, TrialStopped):
            print(f"nbtrack: {value}", file=sys.stderr)
        else:
            previous(etype, value, tb)

    sys.excepthook = excepthook


def _no_function() -> None:
    """The trial's code is the script itself, not a function."""


def join(name: str | None, project: str | None, config: Any, tags: Any, notes: str | None,
         group: str | None, job_type: str | None, run_id: str | None, resume: Any) -> _run.Run | None:
    """``init()`` in a script started by ``nbtrack agent``: the trial's run, made active.

    None when the script is not an agent's trial, or already made its trial's run (a
    later ``init()`` starts a run outside the sweep, as W&B allows one run per trial).
    """
    text = os.environ.get(TRIAL_ENV)
    if not text:
        return None
    if _joined[0]:
        warn_once("agent-trial-second-init", "nbtrack.init: this script already made its sweep trial's "
                  "run; this new run is not part of the sweep")
        return None
    trial = AgentTrial.from_env(text)
    if run_id is not None and run_id != trial.run_id:
        raise NbtrackError(f"this script runs trial {trial.number} of sweep {trial.sweep_id}, run "
                           f"{trial.run_id!r}: drop id= from nbtrack.init() (the agent chose the id)")
    if resume not in (None, False, "never", "allow", "auto"):
        raise NbtrackError(f"this script runs trial {trial.number} of sweep {trial.sweep_id}: drop "
                           f"resume={resume!r} from nbtrack.init() (the agent starts each trial afresh)")
    if project not in (None, trial.project):
        warn_once("agent-trial-project", f"nbtrack.init: this trial of sweep {trial.sweep_id} is in the "
                  f"sweep's project {trial.project!r}; project={project!r} is not used")
    _joined[0] = True
    run = ScriptTrialRun(trial, name)
    if config is not None:
        run.config.fill(config)  # W&B: the sweep's values win over init's defaults
    if tags:
        run.set_tags(tags)
    if notes:
        run.set_notes(notes)
    if job_type is not None:
        run._set_job_type(job_type)
    if group is not None:
        warn_once("agent-trial-group", "nbtrack.init: a sweep trial's run is grouped by its sweep; "
                  f"group={group!r} is not used")
    _run.activate(run)
    return run
