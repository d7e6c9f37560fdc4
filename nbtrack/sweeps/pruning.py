"""Early termination: W&B's ``hyperband`` as Optuna's successive-halving pruner.

W&B's hyperband checks a running trial at a few iterations, the *bands*
(``min_iter * eta**k``, or ``max_iter / eta**i`` for ``i = 1..s``), and stops it if its
metric there is not in the best ``1/eta`` of every trial's value at that band. That is
one bracket of asynchronous successive halving, which is Optuna's
:class:`~optuna.pruners.SuccessiveHalvingPruner` with ``min_resource`` the first band
and ``reduction_factor`` eta. (Optuna's ``HyperbandPruner`` runs several such
brackets that start pruning at different iterations, and its ``s`` is not W&B's.)
Iterations are the steps the metric is logged at.

The parent process owns the study and the pruner. :class:`TrialReporter` feeds one
trial's metric points to Optuna in the order they arrive and asks the pruner each
time a point reaches a new band, so a trial is judged at the band, as in W&B, even
when several points arrive at once. Inline trials call it from ``nbtrack.log``;
trials elsewhere are fed from the store by the sweep's polling loop.

Differences from W&B: with ``max_iter``, the bands are ``first * eta**k`` up to the
last W&B band (W&B rounds each ``max_iter / eta**i`` down separately, so e.g.
max_iter=100, s=3, eta=3 gives 3, 11, 33 there and 3, 9, 27 here); a trial at a band
is compared with the trials that reached it before (W&B compares again later); a
NaN value at a band stops the trial (a diverged run).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .config import HyperbandSpec

if TYPE_CHECKING:
    import optuna

__all__ = ["TrialReporter", "make_pruner"]


def make_pruner(spec: HyperbandSpec | None) -> optuna.pruners.BasePruner:
    """The Optuna pruner for an ``early_terminate`` section (a no-op pruner for none)."""
    import optuna

    if spec is None:
        return optuna.pruners.NopPruner()
    return optuna.pruners.SuccessiveHalvingPruner(
        min_resource=spec.first_band, reduction_factor=spec.eta, min_early_stopping_rate=0
    )


class TrialReporter:
    """Feeds one trial's metric points to Optuna and asks the pruner at each band.

    Example
    -------
    >>> reporter = TrialReporter(trial, spec)       # doctest: +SKIP
    >>> stop = reporter.feed(step=3, value=0.52)    # doctest: +SKIP
    """

    def __init__(self, trial: optuna.trial.Trial, spec: HyperbandSpec | None) -> None:
        self.trial = trial
        self.spec = spec
        self._seen: set[int] = set()
        self._next_band = spec.first_band if spec is not None else None
        #: the latest step fed, so a poller can ask only for newer points
        self.cursor = -(2**63)
        self.pruned = False

    def feed(self, step: int, value: Any) -> bool:
        """Report one point; return True when the pruner says stop (once per trial)."""
        if step > self.cursor:
            self.cursor = step
        if self.spec is None or step < 0 or step in self._seen:
            return False
        try:
            number = float(value)
        except (TypeError, ValueError):
            return False
        self._seen.add(step)
        self.trial.report(number, step)
        crossed = False
        while self._next_band is not None and step >= self._next_band:
            crossed = True
            last = self.spec.last_band
            following = self._next_band * self.spec.eta
            self._next_band = following if last is None or following <= last else None
        if not crossed:
            return False
        # Asked at every band (even after a stop) so the pruner records this trial's
        # value at each band it reached for later trials to be compared with.
        stop = self.trial.should_prune()
        if stop and not self.pruned:
            self.pruned = True
            return True
        return False
