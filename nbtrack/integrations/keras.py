"""A Keras 3 callback: ``model.fit(..., callbacks=[NbtrackCallback()])``."""

from __future__ import annotations

import math
import sys
import tempfile
from pathlib import Path
from typing import Any

from ..errors import NbtrackError
from ..values import finite_float
from ._common import RunSlot, guarded, requires

_Callback: Any = requires("keras", "keras", "nbtrack.integrations.keras").callbacks.Callback

__all__ = ["NbtrackCallback"]


class NbtrackCallback(_Callback):  # type: ignore[misc]
    """Log what ``model.fit`` reports (``loss``, metrics, ``val_*``) to nbtrack.

    Parameters
    ----------
    log_freq
        ``"epoch"`` (default): one point per epoch at step = epoch number.
        ``"batch"`` or an integer ``n``: also the running batch metrics every ``n``
        batches as ``batch/<name>``; then every step counts batches (the epoch's
        points sit at the step of its last batch), so both share one axis.
    name, project, config
        For the run the callback starts when no run is active.
    log_model
        ``False`` (default), ``True`` (the trained model once, when ``fit`` ends, as
        MLflow's autolog) or ``"epoch"`` (after every epoch, as W&B's
        ``WandbModelCheckpoint``): saved with ``model.save`` as ``model.keras`` and
        logged as a version of the ``"model"`` artifact ``model_name`` (default
        ``model-<run id>``), with the epoch and its metrics as metadata.
    monitor, mode
        With ``log_model="epoch"``: the metric (e.g. ``"val_loss"``) whose best
        epoch (``"min"`` or ``"max"``) carries the alias ``"best"``.

    Each epoch's point also holds ``learning_rate``, the optimizer's rate at the
    end of the epoch (a schedule's value at that step), and with batch logging
    ``batch/learning_rate``, as W&B's ``WandbMetricsLogger``. The run's config gets
    ``model.name``, ``model.params``, ``model.trainable_params``, ``optimizer.*``
    (the optimizer's ``get_config()``) and the arguments ``fit`` ran with, as
    MLflow's autolog: ``epochs``, ``batch_size`` (Keras's effective one),
    ``steps_per_epoch``, ``validation_split``, ``validation_steps``,
    ``validation_batch_size``, ``validation_freq``, ``shuffle``, ``initial_epoch``
    (keys already in the config stay as the user set them). Inside a ``%%track``
    cell or after ``nbtrack.init`` it logs to that run and leaves it open;
    otherwise its own run is finished when training ends.

    Example
    -------
    >>> from nbtrack.integrations.keras import NbtrackCallback  # doctest: +SKIP
    >>> model.fit(x, y, epochs=5, callbacks=[NbtrackCallback(name="mlp")])  # doctest: +SKIP
    """

    def __init__(self, log_freq: str | int = "epoch", name: str | None = None,
                 project: str | None = None, config: Any = None, *, log_model: bool | str = False,
                 model_name: str | None = None, monitor: str | None = None, mode: str = "min") -> None:
        super().__init__()
        if log_model not in (False, True, "epoch"):
            raise NbtrackError(f"log_model must be False, True or 'epoch'; got {log_model!r}")
        if mode not in ("min", "max"):
            raise NbtrackError(f"mode must be 'min' or 'max'; got {mode!r}")
        self._log_model = log_model
        self._model_name = model_name
        self._monitor = monitor
        self._sign = 1.0 if mode == "min" else -1.0
        self._best = math.inf
        self._last_epoch: tuple[int, dict[str, Any]] | None = None
        if log_freq == "epoch":
            self._every = 0
        elif log_freq == "batch":
            self._every = 1
        elif isinstance(log_freq, int) and not isinstance(log_freq, bool) and log_freq > 0:
            self._every = log_freq
        else:
            raise NbtrackError(f"log_freq must be 'epoch', 'batch' or a positive integer; got {log_freq!r}")
        self._slot = RunSlot(name, project, config)
        self._batches = 0  # batches trained in this fit, over all epochs

    @property
    def run(self) -> Any:
        """The :class:`nbtrack.Run` this callback logs to (None before training)."""
        return self._slot.run

    @guarded("keras train begin")
    def on_train_begin(self, logs: dict[str, Any] | None = None) -> None:
        self._slot.finish("failed")  # an own run still open here: the last fit raised
        run = self._slot.get()
        self._batches = 0
        self._best = math.inf
        self._last_epoch = None
        run.config.update(_model_config(self.model))
        fit_args = {"epochs": (self.params or {}).get("epochs"),
                    "steps_per_epoch": (self.params or {}).get("steps")}
        fit_args.update(_fit_arguments(self.model))
        for key, value in fit_args.items():
            if value is not None and key not in run.config:
                run.config[key] = value

    @guarded("keras batch")
    def on_train_batch_end(self, batch: int, logs: dict[str, Any] | None = None) -> None:
        self._batches += 1
        if self._every and logs and self._batches % self._every == 0:
            values = {f"batch/{k}": v for k, v in logs.items()}
            values.setdefault("batch/learning_rate", _learning_rate(self.model))
            self._slot.get().log(_numbers(values), step=self._batches - 1)

    @guarded("keras epoch")
    def on_epoch_end(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
        values = dict(logs or {})
        values.setdefault("learning_rate", _learning_rate(self.model))
        values = _numbers(values)
        step = max(self._batches - 1, 0) if self._every else epoch
        self._slot.get().log(values, step=step)
        self._last_epoch = (epoch, values)
        if self._log_model == "epoch":
            self._save_model(epoch, values)

    @guarded("keras train end")
    def on_train_end(self, logs: dict[str, Any] | None = None) -> None:
        if self._log_model is True and self._last_epoch is not None:
            self._save_model(*self._last_epoch)
        self._slot.finish()

    @guarded("keras model")
    def _save_model(self, epoch: int, values: dict[str, Any]) -> None:
        """``model.save`` into a temporary folder, then log the file as a version of the model."""
        run = self._slot.get()
        aliases = []
        score = values.get(self._monitor) if self._monitor else None
        if score is not None and self._sign * score < self._best:
            self._best = self._sign * score
            aliases.append("best")
        with tempfile.TemporaryDirectory(prefix="nbtrack-keras-") as folder:
            path = Path(folder) / "model.keras"
            self.model.save(path)
            metrics = {k: v for k, v in values.items() if finite_float(v) is not None}  # metadata is JSON
            run.log_artifact(path, name=self._model_name or f"model-{run.id}", type="model",
                             metadata={"epoch": epoch, **metrics}, aliases=aliases)


_FIT_ARGUMENTS = ("batch_size", "validation_split", "validation_steps", "validation_batch_size",
                  "validation_freq", "shuffle", "initial_epoch")


def _fit_arguments(model: Any) -> dict[str, Any]:
    """The arguments of the ``model.fit`` call that is running this callback.

    Keras hands callbacks only ``epochs`` and ``steps``; the rest are read from the
    ``fit`` frame on the stack (as MLflow reads them by patching ``fit``). The
    batch size is the one Keras uses (32 when ``fit`` got none for arrays).
    """
    frame = sys._getframe(1)
    while frame is not None:
        if frame.f_code.co_name == "fit" and frame.f_locals.get("self") is model:
            found = {k: frame.f_locals.get(k) for k in _FIT_ARGUMENTS}
            adapter = getattr(frame.f_locals.get("epoch_iterator"), "data_adapter", None)
            used = getattr(adapter, "batch_size", None)
            if isinstance(used, int):
                found["batch_size"] = used
            return {k: v for k, v in found.items() if v is None or isinstance(v, (bool, int, float, str))}
        frame = frame.f_back  # type: ignore[assignment]
    return {}


def _learning_rate(model: Any) -> float | None:
    """The optimizer's current learning rate (a schedule evaluated at the current step)."""
    optimizer = getattr(model, "optimizer", None)
    if optimizer is None or not hasattr(optimizer, "learning_rate"):
        return None
    from keras import ops

    try:
        return float(ops.convert_to_numpy(optimizer.learning_rate))
    except Exception:  # an optimizer without one plain rate: the epoch's metrics still count
        return None


def _numbers(values: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in values.items() if v is not None}


def _model_config(model: Any) -> dict[str, Any]:
    """What describes the model being trained: its size and its optimizer's settings."""
    trainable = sum(math.prod(w.shape) for w in model.trainable_weights)
    config: dict[str, Any] = {"model": {"name": model.name, "params": int(model.count_params()),
                                        "trainable_params": int(trainable)}}
    optimizer = getattr(model, "optimizer", None)
    if optimizer is not None:
        config["optimizer"] = {k: v for k, v in optimizer.get_config().items() if v is not None}
    return config
