"""The Optuna study behind a sweep, kept in memory and rebuilt from the store.

``method`` picks the sampler: ``random`` is Optuna's RandomSampler, ``bayes`` its
TPESampler (multivariate, with the constant liar for parallel trials), and ``grid``
enqueues each grid point in turn (so a resumed grid skips the points already done).
The store is the source of truth: :func:`rebuild` replays every recorded trial (its
search values, its metric history through the pruner, its outcome) into a fresh
study, so sampler and pruner continue as if the kernel had never stopped.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any, Literal

from .config import SweepSpec
from .pruning import TrialReporter, make_pruner
from .space import SearchSpace

if TYPE_CHECKING:
    import optuna

__all__ = ["DONE", "new_study", "objective_value", "quiet", "rebuild"]

#: Trial outcomes that count as done: a resumed sweep does not run their grid points again.
#: ``failed`` is done too (the function raised: running it again gives the same error);
#: ``crashed`` and ``interrupted`` trials were cut short by something else and run again.
DONE = ("finished", "pruned", "failed")


@contextmanager
def quiet() -> Iterator[None]:
    """Keep Optuna's per-trial log lines out of the notebook while the sweep talks to it."""
    import optuna

    level = optuna.logging.get_verbosity()
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    try:
        yield
    finally:
        optuna.logging.set_verbosity(level)


def new_study(spec: SweepSpec, seed: int | None) -> optuna.Study:
    """An in-memory study with the sampler and pruner the config asks for."""
    import optuna

    if spec.method == "bayes":
        sampler: optuna.samplers.BaseSampler = optuna.samplers.TPESampler(seed=seed)
    else:
        sampler = optuna.samplers.RandomSampler(seed=seed)
    with quiet():
        return optuna.create_study(direction=_direction(spec), sampler=sampler,
                                   pruner=make_pruner(spec.early_terminate))


def objective_value(row: dict[str, Any], metric: str | None) -> float | None:
    """A trial's metric value for the search: the run's summary (last logged) value."""
    if metric is None:
        return None
    value = row.get("summary", {}).get(metric)
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return number if math.isfinite(number) else None


def rebuild(spec: SweepSpec, space: SearchSpace, rows: Sequence[dict[str, Any]],
            points: dict[str, list[tuple[int, float]]], seed: int | None) -> optuna.Study:
    """A study holding every recorded trial that started, replayed in order.

    ``points`` holds each run's metric history (for the pruner's bands); the sampler is
    seeded past the replayed trials so a resumed random search does not repeat itself.
    """
    import optuna
    from optuna.trial import TrialState

    distributions = space.distributions()
    metric = spec.metric.name if spec.metric is not None else None
    with quiet():
        # Replay with a cheap sampler (every value is fixed), then copy the trials over.
        scratch = optuna.create_study(
            direction=_direction(spec), sampler=optuna.samplers.RandomSampler(0),
            pruner=make_pruner(spec.early_terminate)) if rows else None
        for row in rows:
            if row.get("status") is None or scratch is None:
                continue  # recorded, but its run never started
            params = row["params"]
            if set(params) != set(distributions):
                continue  # from a different search space; nothing to learn from it
            scratch.enqueue_trial(params)
            trial = scratch.ask(distributions)
            reporter = TrialReporter(trial, spec.early_terminate)
            for step, value in points.get(row["run_id"], []):
                reporter.feed(step, value)
            objective = objective_value(row, metric)
            if row["status"] == "finished" and objective is not None:
                scratch.tell(trial, objective)
            elif row["status"] == "pruned":
                scratch.tell(trial, state=TrialState.PRUNED)
            else:
                scratch.tell(trial, state=TrialState.FAIL)
        started = len(scratch.trials) if scratch is not None else 0
        study = new_study(spec, None if seed is None else seed + started)
        if scratch is not None:
            study.add_trials(scratch.trials)
    return study


def _direction(spec: SweepSpec) -> Literal["minimize", "maximize"]:
    return "maximize" if spec.metric is not None and spec.metric.goal == "maximize" else "minimize"
