"""A PyTorch Lightning logger: ``Trainer(logger=NbtrackLogger())``.

Works with ``lightning`` (``lightning.pytorch``) and, when only that is installed,
the older ``pytorch_lightning`` package.
"""

from __future__ import annotations

import os
from argparse import Namespace
from typing import Any

from ..errors import NbtrackError
from ..values import finite_float
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
        As W&B's ``WandbLogger``: ``True`` logs the checkpoints a ``ModelCheckpoint``
        callback kept (its top-k and ``last``) as versions of the model artifact
        when training ends successfully; ``"all"`` logs each checkpoint as soon as
        it is saved; ``False`` (default) logs none. Each version's metadata holds
        the checkpoint's ``score`` (the monitored value), ``epoch``, ``step``,
        ``original_filename`` and the callback's settings; the best one carries
        the alias ``"best"``.
    checkpoint_name
        The model artifact's name (default ``model-<run id>``, as W&B).

    Example
    -------
    >>> from nbtrack.integrations.lightning import NbtrackLogger  # doctest: +SKIP
    >>> trainer = L.Trainer(max_epochs=3, logger=NbtrackLogger(name="baseline"))  # doctest: +SKIP
    >>> trainer.fit(model, train_loader)  # doctest: +SKIP
    >>> NbtrackLogger(log_model="all")  # every checkpoint as a model artifact  # doctest: +SKIP
    """

    def __init__(self, name: str | None = None, project: str | None = None,
                 config: Any = None, log_model: bool | str = False,
                 checkpoint_name: str | None = None, **init_kw: Any) -> None:
        super().__init__()
        if log_model not in (False, True, "all"):
            raise NbtrackError(f"log_model must be False, True or 'all'; got {log_model!r}")
        self._slot = RunSlot(name, project, config, **init_kw)
        self._log_model = log_model
        self._checkpoint_name = checkpoint_name
        self._checkpoint_callback: Any = None  # kept for log_model=True, logged at the end
        self._logged_checkpoints: dict[str, float] = {}  # path -> mtime when logged
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
    @guarded("lightning optimizer")
    def log_graph(self, model: Any, input_array: Any = None) -> None:
        """Called by Lightning as each stage starts: when fitting, record how it trains.

        As MLflow's autolog: ``epochs`` (``max_epochs``) and each optimizer's class and
        settings (``optimizer.name``, ``optimizer.lr``, ...; ``optimizer.<i>.*`` for
        several). Keys already in the config stay as the user set them.
        """
        trainer = getattr(model, "_trainer", None)
        if trainer is None or getattr(getattr(trainer.state, "fn", None), "value", None) != "fit":
            return  # validate/test/predict: no optimizer to describe
        config: dict[str, Any] = {"epochs": trainer.max_epochs}
        optimizers = list(trainer.optimizers)
        for i, optimizer in enumerate(optimizers):
            prefix = "optimizer" if len(optimizers) == 1 else f"optimizer.{i}"
            config[f"{prefix}.name"] = type(optimizer).__name__
            for key, value in getattr(optimizer, "defaults", {}).items():
                if isinstance(value, tuple) and all(isinstance(v, (int, float)) for v in value):
                    value = list(value)
                if value is None or isinstance(value, (bool, int, float, str, list)):
                    config[f"{prefix}.{key}"] = value
        run = self._slot.get()
        for key, value in config.items():
            if value is not None and key not in run.config:
                run.config[key] = value

    def watch(self, model: Any, log: str = "gradients", log_freq: int = 100) -> Any:
        """Log per-layer gradient/parameter histograms while training, as ``WandbLogger.watch``.

        The points go to the run this logger logs to once training starts; see
        :func:`nbtrack.integrations.torch.watch` for ``log`` and ``log_freq``.
        """
        from .torch import watch

        return watch(model, log=log, log_freq=log_freq)

    @rank_zero_only
    @guarded("lightning checkpoint")
    def after_save_checkpoint(self, checkpoint_callback: Any) -> None:
        """Called by ``ModelCheckpoint`` after each save: log it now, or remember it for the end."""
        if self._log_model == "all" or (self._log_model is True and checkpoint_callback.save_top_k == -1):
            self._log_checkpoints(checkpoint_callback)
        elif self._log_model is True:
            self._checkpoint_callback = checkpoint_callback

    @rank_zero_only
    def finalize(self, status: str) -> None:
        """Finish a run this logger started: ``"success"`` as finished, ``"failed"`` as failed.

        With ``log_model=True`` the kept checkpoints are logged first, on success only
        (as W&B: a failed fit's checkpoints are not a model worth keeping).
        """
        callback, self._checkpoint_callback = self._checkpoint_callback, None
        if callback is not None and status == "success":
            self._end_checkpoints(callback)
        self._finish(status)

    @guarded("lightning checkpoint")
    def _end_checkpoints(self, callback: Any) -> None:
        self._log_checkpoints(callback)

    @guarded("lightning finalize")
    def _finish(self, status: str) -> None:
        self._slot.finish(_STATUS.get(status, "finished"))
        self._epoch_at = None
        self._logged_checkpoints.clear()

    def _log_checkpoints(self, callback: Any) -> None:
        """Log the callback's checkpoints not logged yet (or rewritten since, like ``last.ckpt``)."""
        run = self._slot.get()
        name = self._checkpoint_name or f"model-{run.id}"
        settings = {key: getattr(callback, key, None) for key in _CHECKPOINT_SETTINGS}
        for mtime, path, score in _checkpoints(callback):
            if self._logged_checkpoints.get(path, -1.0) >= mtime:
                continue
            metadata = {"score": score, "original_filename": os.path.basename(path),
                        **_epoch_and_step(path), callback.__class__.__name__: settings}
            best = os.path.abspath(path) == os.path.abspath(callback.best_model_path or "")
            run.log_artifact(path, name=name, type="model", metadata=metadata,
                             aliases=["best"] if best else [])
            self._logged_checkpoints[path] = mtime


_CHECKPOINT_SETTINGS = ("monitor", "mode", "save_last", "save_top_k", "save_weights_only",
                        "_every_n_train_steps")


def _checkpoints(callback: Any) -> list[tuple[float, str, float | None]]:
    """``(mtime, path, score)`` of each checkpoint file the callback keeps, oldest first."""
    scores: dict[str, Any] = {}
    if getattr(callback, "last_model_path", ""):
        scores[callback.last_model_path] = getattr(callback, "current_score", None)
    if getattr(callback, "best_model_path", ""):
        scores[callback.best_model_path] = callback.best_model_score
    scores.update(getattr(callback, "best_k_models", {}) or {})
    found = [(os.path.getmtime(path), path, _number(score))
             for path, score in scores.items() if os.path.isfile(path)]
    return sorted(found)


def _number(score: Any) -> float | None:
    """A finite score as a float; None for none, NaN or inf (metadata is JSON)."""
    if score is None:
        return None
    return finite_float(score.item() if hasattr(score, "item") else score)


def _epoch_and_step(path: str) -> dict[str, int]:
    """The epoch and global step written in the checkpoint (none if it cannot be read).

    ``mmap`` leaves the tensors on disk: only the small pickled header is read.
    ``weights_only=False`` because Lightning pickles hyperparameters and loop state
    into it; the file is the one this process's Trainer has just written.
    """
    import torch

    try:
        state = torch.load(path, map_location="cpu", mmap=True, weights_only=False)
    except Exception:  # not a torch zip file (a sharded strategy's folder, a remote path)
        return {}
    return {key: int(state[src]) for key, src in (("epoch", "epoch"), ("step", "global_step"))
            if isinstance(state, dict) and isinstance(state.get(src), int)}
