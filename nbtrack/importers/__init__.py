"""Bring runs from other trackers into the store: TensorBoard, MLflow, W&B offline.

Each importer reads its tool's files with that tool's own reader (imported only when
used), keeps the original names, times, steps, status and config, tags the runs
``imported:<tool>``, and gives each source run a fixed id so that importing again
replaces the earlier copy instead of adding a second one::

    nbtrack import tensorboard runs/
    nbtrack import mlflow sqlite:///mlflow.db
    nbtrack import wandb-offline wandb/

or ``nbtrack.importers.import_tensorboard("runs/")`` and its siblings, which return
an :class:`ImportReport`.
"""

from __future__ import annotations

import os
from typing import Any

from ._base import ImportReport

__all__ = ["ImportReport", "import_mlflow", "import_tensorboard", "import_wandb_offline"]

PathLike = str | os.PathLike[str]


def import_tensorboard(path: PathLike, project: str | None = None, dir: Any = None) -> ImportReport:
    """Import every TensorBoard run (a folder holding event files) under ``path``.

    Scalars (``add_scalar``, ``add_scalars``) become metrics with their steps and wall
    times; ``add_hparams`` values become the run's config; histograms, images and
    text become media (``nbtrack.media``) at their steps and times. The project
    defaults to the name of ``path``.

    Example
    -------
    >>> report = nbtrack.importers.import_tensorboard("runs/")  # doctest: +SKIP
    >>> print(report)                                           # doctest: +SKIP
    tensorboard runs/: 3 runs imported, 0 updated, 0 skipped; 4,500 points in 0.4s
    """
    from .tensorboard import TensorBoardImporter

    return TensorBoardImporter(os.fspath(path), project=project, dir=dir).run()


def import_mlflow(uri: str | None = None, experiment: str | None = None,
                  project: str | None = None, dir: Any = None) -> ImportReport:
    """Import MLflow runs from a tracking URI (``sqlite:///mlflow.db``, ``./mlruns``).

    ``uri`` defaults to the one MLflow itself would use (``MLFLOW_TRACKING_URI``, else
    its default). ``experiment`` (a name or id) imports only that experiment. Params
    become config, metric histories become metrics with their steps and timestamps;
    each run's project is its experiment's name unless ``project`` is given.

    Example
    -------
    >>> nbtrack.importers.import_mlflow("sqlite:///mlflow.db", experiment="mnist")  # doctest: +SKIP
    """
    from .mlflow import MlflowImporter

    return MlflowImporter(uri, experiment=experiment, project=project, dir=dir).run()


def import_wandb_offline(path: PathLike, project: str | None = None, dir: Any = None) -> ImportReport:
    """Import W&B offline runs: a ``wandb/`` folder, or one ``offline-run-*`` folder in it.

    Reads each ``run-*.wandb`` record log: run name, config, history (with ``_step``
    and ``_timestamp``), summary, tags, notes and exit status; histograms, images and
    tables (from the run's ``files/`` folder) and strings become media. The project
    is the one given to ``wandb.init``.

    Example
    -------
    >>> nbtrack.importers.import_wandb_offline("wandb/")  # doctest: +SKIP
    """
    from .wandb_offline import WandbOfflineImporter

    return WandbOfflineImporter(os.fspath(path), project=project, dir=dir).run()
