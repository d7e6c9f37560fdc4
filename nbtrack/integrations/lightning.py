"""A PyTorch Lightning logger: ``Trainer(logger=NbtrackLogger())``.

Works with ``lightning`` (``lightning.pytorch``) and, when only that is installed,
the older ``pytorch_lightning`` package.
"""

from __future__ import annotations

from argparse import Namespace
from typing import Any

from ..errors import NbtrackError
from ._common import RunSlot, flatten, guarded

try:
    from lightning.pytorch.loggers import Logger
    from lightning.pytorch.utilities import rank_zero_only
except ImportError:
    try:
        from pytorch_lightning.loggers import Logger  # type: ignore[assignment]
        from pytorch_lightning.utilities import rank_zero_only
    except ImportError:
        raise NbtrackError(
            "nbtrack.integrations.lightning needs PyTorch Lightning; install it with: pip install lightning"
        ) from None

__all__ = ["NbtrackLogger"]

_STATUS = {"success": "finished", "finished": "finished", "failed": "failed"}


class NbtrackLogger(Logger):
    """Log a Lightning ``Trainer``'s metrics and hyperparameters to nbtrack.

    Inside a ``%%track`` cell (or after ``nbtrack.init``) it logs to that run and
    leaves finishing it to its owner. Otherwise each Trainer stage (``fit``,
    ``test``, ...) gets its own run, finished with Lightning's outcome; wrap several
    stages in ``with nbtrack.init(...):`` to keep them in one run.

    Parameters
    ----------
    name, project, config
        For the run this logger starts (``config`` is merged into a joined run's).
    log_model
        Accepted for W&B compatibility; checkpoints stay where Lightning saves them.

    Example
    -------
    >>> from nbtrack.integrations.lightning import NbtrackLogger  # doctest: +SKIP
    >>> trainer = L.Trainer(max_epochs=3, logger=NbtrackLogger(name="baseline"))  # doctest: +SKIP
    >>> trainer.fit(model, train_loader)  # doctest: +SKIP
    """

    def __init__(self, name: str | None = None, project: str | None = None,
                 config: Any = None, log_model: bool = False, **init_kw: Any) -> None:
        super().__init__()
        self._slot = RunSlot(name, project, config, **init_kw)
        self._log_model = log_model
        self._epoch_at: tuple[int, Any] | None = None  # (step, epoch) last logged

    @property
    def experiment(self) -> Any:
        """The :class:`nbtrack.Run` of this logger (started on first use).

        After a stage finished it, this stays that finished run; the next stage's
        first metrics start a fresh one.
        """
        return self._slot.current()

    @property
    def name(self) -> str:
        run = self._slot.run
        return run.name if run is not None else (self._slot.name or "nbtrack")

    @property
    def version(self) -> str:
        run = self._slot.run
        return run.id if run is not None else ""

    @rank_zero_only
    @guarded("lightning hyperparameters")
    def log_hyperparams(self, params: dict[str, Any] | Namespace, *args: Any, **kwargs: Any) -> None:
        """Nested hyperparameters become dotted config keys (``model.depth``)."""
        self._slot.get().config.update(flatten(params))

    @rank_zero_only
    @guarded("lightning metrics")
    def log_metrics(self, metrics: dict[str, float], step: int | None = None) -> None:
        values = dict(metrics)
        # Lightning adds "epoch" to each call; train, validation and epoch-end calls
        # at one step would store the same epoch point several times.
        if step is not None and "epoch" in values:
            if self._epoch_at == (step, values["epoch"]):
                del values["epoch"]
            else:
                self._epoch_at = (step, values["epoch"])
        if values:
            self._slot.get().log(values, step=step)

    @rank_zero_only
    @guarded("lightning finalize")
    def finalize(self, status: str) -> None:
        """Finish a run this logger started: ``"success"`` as finished, ``"failed"`` as failed."""
        self._slot.finish(_STATUS.get(status, "finished"))
        self._epoch_at = None
