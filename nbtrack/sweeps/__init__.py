"""Hyperparameter sweeps from a notebook in W&B's config format, searched by Optuna.

``nbtrack.sweep(config, function, count=None, executor=None, project=None)`` runs one;
:class:`Sweep` inspects, resumes and stops it. Modules: :mod:`.config` (reading the
W&B config), :mod:`.space` (W&B distributions as Optuna's), :mod:`.pruning`
(hyperband), :mod:`.study` (the Optuna study), :mod:`.trial` (one trial, wherever it
runs), :mod:`.executors` (inline, processes, Dask), :mod:`.driver` (the loop),
:mod:`.analysis` (importance, best), :mod:`.records` (the store).
"""

from __future__ import annotations

from .config import SweepSpec, parse_config
from .driver import TrialEvent
from .sweep import Sweep, sweep

__all__ = ["Sweep", "SweepSpec", "TrialEvent", "parse_config", "sweep"]
