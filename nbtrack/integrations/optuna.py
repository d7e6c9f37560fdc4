"""Optuna: every trial an nbtrack run, with its params, its value(s) and its real status.

Two ways, one line each; use either or both::

    study.optimize(objective, n_trials=50, callbacks=[nbtrack.integrations.optuna.callback()])
    study.optimize(nbtrack.integrations.optuna.track(objective), n_trials=50)

``callback()`` records each trial when it ends: ``trial.params`` as config, the
values ``trial.report`` gave as the metric ``intermediate_value`` at their steps,
the objective's value as ``value`` (``value_0``, ``value_1`` ... or the study's
``metric_names`` for several objectives) for a completed trial only (Optuna counts a
pruned trial's last report as its value, which would rank it among the results),
and the status: COMPLETE -> ``finished``,
PRUNED -> ``pruned``, FAIL -> ``failed``. NaN and inf reports and values are stored
as they are. Optuna calls callbacks only for trials it
goes on after, so a trial whose exception stops ``optimize`` (one not in ``catch=``)
is recorded by ``track`` only.

``track(objective)`` runs each trial inside its run: ``nbtrack.log`` works in the
objective, ``trial.report(value, step)`` is logged as it happens, and the run ends
with the status Optuna gives the trial (a raised exception: ``failed`` with its
traceback; a returned NaN: ``failed``). W&B-shaped code in the objective joins the
trial's run, as in nbtrack's sweeps: ``nbtrack.init(config=defaults)`` (Optuna's
suggested values win), ``with nbtrack.init(...)`` and ``nbtrack.finish()`` end nothing
before the trial does (logging after that ``finish()`` is refused, as W&B does). A
failure inside nbtrack warns once; ``optimize`` goes on. The run is active in the
objective's thread only, so ``n_jobs > 1`` keeps trials apart.
Runs are named ``trial-<number>``, grouped by the study's name and tagged ``optuna``.
"""

from __future__ import annotations

import functools
import math
import traceback
from collections.abc import Callable, Sequence
from typing import Any

from .. import _run
from ..errors import NbtrackError
from ..sweeps.trial import TrialRun
from ._common import guarded, plain_params, requires

__all__ = ["callback", "track"]

_STATUS = {"COMPLETE": "finished", "PRUNED": "pruned", "FAIL": "failed"}
#: The user attribute a tracked trial carries, so the callback does not record it twice.
RUN_ATTR = "nbtrack_run_id"
INTERMEDIATE = "intermediate_value"


def _optuna() -> Any:
    return requires("optuna", "optuna", "nbtrack.integrations.optuna")


class _OptunaTrialRun(TrialRun):
    """A trial's run, as nbtrack's own sweeps make them: W&B-shaped code in the objective
    (``nbtrack.init(config=defaults)``, a ``with`` block, ``nbtrack.finish()``) joins it,
    and its finish waits for the trial's end (:class:`TrialRun`'s ``finish``/``__exit__``);
    :meth:`TrialRun.end` gives it the status Optuna gave the trial.

    Not a sweep's trial: no sweep id, no stop file to look for, and the parameters Optuna
    suggests later are written over init's defaults at the end (so no config lock).
    """

    _CODE, _ENDS = "the objective's code", "the trial's run ends when the objective returns"

    def _push(self, data: dict[str, Any], step: Any, commit: bool) -> None:
        # No sweep to stop it: a plain run's log, refused once the objective called finish()
        # (TrialRun.finish stored its open step and set _finish_asked), as in a sweep trial.
        self._refuse_after_finish()
        _run.Run._push(self, data, step, commit)

    def __init__(self, study_name: str, number: int, project: str | None, params: dict[str, Any]) -> None:
        self._in_trial = True
        _run.Run.__init__(self, f"trial-{number}", project=project, config=plain_params(params) or None,
                          group=study_name, tags=["optuna"], kind="sweep-trial")


def _new_run(study_name: str, number: int, project: str | None, params: dict[str, Any]) -> _OptunaTrialRun:
    return _OptunaTrialRun(study_name, number, project, params)


def _value_names(study: Any, count: int, metric_name: str | Sequence[str] | None) -> list[str]:
    if metric_name is not None:
        names = [metric_name] if isinstance(metric_name, str) else list(metric_name)
    else:
        names = list(getattr(study, "metric_names", None) or [])
    if len(names) == count:
        return names
    if metric_name is not None:
        raise NbtrackError(f"metric_name gives {len(names)} name(s) for a study with {count} objective(s)")
    return ["value"] if count == 1 else [f"value_{i}" for i in range(count)]


def _log_values(run: _run.Run, names: list[str], values: Sequence[Any] | None, step: int) -> None:
    # NaN and inf are stored as they are (nbtrack keeps non-finite points); what is no number is not
    numbers = {name: float(v) for name, v in zip(names, values or []) if _is_number(v)}
    if numbers:
        run.log(numbers, step=step)


def _is_number(value: Any) -> bool:
    try:
        float(value)
    except (TypeError, ValueError):
        return False
    return not isinstance(value, (bool, str, bytes))


def callback(project: str | None = None, metric_name: str | Sequence[str] | None = None
             ) -> Callable[[Any, Any], None]:
    """A ``study.optimize`` callback that records every finished trial as a run.

    Parameters
    ----------
    project
        The runs' project (default: nbtrack's current project).
    metric_name
        Name(s) for the objective value(s); default the study's ``metric_names``, else
        ``value`` (``value_0``, ``value_1``, ... for several objectives).

    Example
    -------
    >>> study.optimize(objective, n_trials=20, callbacks=[callback()])  # doctest: +SKIP
    """
    _optuna()

    @guarded("optuna callback")
    def record(study: Any, trial: Any) -> None:
        if trial.user_attrs.get(RUN_ATTR):
            return  # track() recorded it while it ran
        status = _STATUS.get(trial.state.name)
        if status is None:
            return  # still running or waiting: not a trial that ended
        run = _new_run(study.study_name, trial.number, project, trial.params)
        steps = sorted(trial.intermediate_values)
        for step in steps:
            run.log({INTERMEDIATE: float(trial.intermediate_values[step])}, step=step)  # NaN too
        if status == "finished":  # Optuna gives a pruned trial its last report as value: not a result
            values = trial.values
            _log_values(run, _value_names(study, len(values), metric_name), values,
                        steps[-1] if steps else 0)
        error = None
        if status == "failed":
            error = trial.system_attrs.get("fail_reason") or (
                "Optuna marked the trial FAIL and keeps no reason (its log shows the exception); wrap "
                "the objective in nbtrack.integrations.optuna.track to record the traceback")
        run.end(status, error)

    return record


class _ReportingTrial:
    """The trial the objective gets from :func:`track`: Optuna's own, whose ``report``
    also logs. ``isinstance(trial, optuna.Trial)`` still holds."""

    def __init__(self, trial: Any, run: _run.Run) -> None:
        object.__setattr__(self, "_trial", trial)
        object.__setattr__(self, "_run", run)

    @property  # type: ignore[misc]
    def __class__(self) -> Any:  # isinstance() looks here
        return type(self._trial)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._trial, name)

    def __setattr__(self, name: str, value: Any) -> None:
        setattr(self._trial, name, value)

    def report(self, value: float, step: int) -> None:
        self._trial.report(value, step)  # Optuna checks the value and step first
        _report(self._run, self._trial, value, step)


@guarded("optuna report")
def _report(run: _run.Run, trial: Any, value: float, step: int) -> None:
    run.config.update(plain_params(trial.params))
    run.log({INTERMEDIATE: float(value)}, step=step)  # NaN too: Optuna keeps it, so does the run


def track(objective: Callable[[Any], Any] | None = None, *, project: str | None = None,
          metric_name: str | Sequence[str] | None = None) -> Any:
    """Run each trial of ``objective`` inside its own nbtrack run (a decorator, or a wrapper).

    Example
    -------
    >>> @track
    ... def objective(trial):
    ...     lr = trial.suggest_float("lr", 1e-4, 1e-1, log=True)
    ...     for epoch in range(10):
    ...         trial.report(train_one_epoch(lr), epoch)   # logged as intermediate_value
    ...         if trial.should_prune():
    ...             raise optuna.TrialPruned()                # the run ends as pruned
    ...     return evaluate()                                 # doctest: +SKIP
    """
    if objective is None:
        return functools.partial(track, project=project, metric_name=metric_name)
    optuna = _optuna()

    @functools.wraps(objective)
    def tracked(trial: Any) -> Any:
        run = _start(trial, project)
        if run is None:  # nbtrack could not start the run (it warned): the trial goes on untracked
            return objective(trial)
        restore = _run.activate(run, process_wide=False)  # n_jobs threads keep their own trial
        try:
            result = objective(_ReportingTrial(trial, run))
        except optuna.TrialPruned:
            _end(run, trial, "pruned", None)
            raise
        except BaseException as exc:
            status = "interrupted" if isinstance(exc, KeyboardInterrupt) else "failed"
            _end(run, trial, status, "".join(traceback.format_exception(type(exc), exc, exc.__traceback__)))
            raise
        finally:
            restore()
        _returned(run, trial, result, metric_name)
        return result

    return tracked


@guarded("optuna trial")
def _start(trial: Any, project: str | None) -> _OptunaTrialRun:
    run = _new_run(trial.study.study_name, trial.number, project, trial.params)
    trial.set_user_attr(RUN_ATTR, run.id)
    return run


@guarded("optuna trial")
def _returned(run: _OptunaTrialRun, trial: Any, result: Any, metric_name: str | Sequence[str] | None) -> None:
    """End the run of a trial whose objective returned ``result``, as Optuna will judge it."""
    values = list(result) if isinstance(result, (list, tuple)) else [result]
    run._finish_asked = False  # the objective is over: its finish() does not refuse the trial's value
    try:
        _log_values(run, _value_names(trial.study, len(values), metric_name), values, max(run.step - 1, 0))
    finally:
        problem = _infeasible(trial.study, values)
        _end(run, trial, "failed" if problem else "finished",
             f"the objective returned {result!r}, which Optuna fails: {problem}" if problem else None)


def _infeasible(study: Any, values: list[Any]) -> str | None:
    """Why Optuna fails a trial that returned ``values`` (None: it completes it)."""
    try:
        from optuna.study._tell import _check_values_are_feasible
    except ImportError:  # a private helper: its rule, as of Optuna 3 to 5
        for v in values:
            try:
                if math.isnan(float(v)):
                    return f"The value {v} is not acceptable"
            except (TypeError, ValueError):
                return f"The value {v!r} could not be cast to float"
        if len(study.directions) != len(values):
            return f"{len(values)} value(s) for {len(study.directions)} objective(s)"
        return None
    problem: str | None = _check_values_are_feasible(study, values)
    return problem


@guarded("optuna trial")
def _end(run: _OptunaTrialRun, trial: Any, status: str, error: str | None) -> None:
    if not run._finished:
        try:
            run.config.update(plain_params(trial.params))
        finally:
            run.end(status, error)  # the trial's end: a finish() in the objective only waited for it
