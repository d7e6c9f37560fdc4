"""A Keras 3 callback: ``model.fit(..., callbacks=[NbtrackCallback()])``."""

from __future__ import annotations

from typing import Any

from ..errors import NbtrackError
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

    The run's config gets ``model.name``, ``model.params``,
    ``model.trainable_params``, ``optimizer.*`` (the optimizer's ``get_config()``) and
    ``epochs``. Inside a ``%%track`` cell or after ``nbtrack.init`` it logs to that run
    and leaves it open; otherwise its own run is finished when training ends.

    Example
    -------
    >>> from nbtrack.integrations.keras import NbtrackCallback  # doctest: +SKIP
    >>> model.fit(x, y, epochs=5, callbacks=[NbtrackCallback(name="mlp")])  # doctest: +SKIP
    """

    def __init__(self, log_freq: str | int = "epoch", name: str | None = None,
                 project: str | None = None, config: Any = None) -> None:
        super().__init__()
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
        run.config.update(_model_config(self.model))
        epochs = (self.params or {}).get("epochs")
        if epochs is not None and "epochs" not in run.config:
            run.config["epochs"] = epochs

    @guarded("keras batch")
    def on_train_batch_end(self, batch: int, logs: dict[str, Any] | None = None) -> None:
        self._batches += 1
        if self._every and logs and self._batches % self._every == 0:
            self._slot.get().log({f"batch/{k}": v for k, v in logs.items()}, step=self._batches - 1)

    @guarded("keras epoch")
    def on_epoch_end(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
        if logs:
            step = max(self._batches - 1, 0) if self._every else epoch
            self._slot.get().log(dict(logs), step=step)

    @guarded("keras train end")
    def on_train_end(self, logs: dict[str, Any] | None = None) -> None:
        self._slot.finish()


def _model_config(model: Any) -> dict[str, Any]:
    """What describes the model being trained: its size and its optimizer's settings."""
    import math

    trainable = sum(math.prod(w.shape) for w in model.trainable_weights)
    config: dict[str, Any] = {"model": {"name": model.name, "params": int(model.count_params()),
                                        "trainable_params": int(trainable)}}
    optimizer = getattr(model, "optimizer", None)
    if optimizer is not None:
        config["optimizer"] = {k: v for k, v in optimizer.get_config().items() if v is not None}
    return config
