"""Plain PyTorch: ``watch(model)`` logs gradients and parameters per layer, like ``wandb.watch``."""

from __future__ import annotations

import threading
from typing import Any

from .. import _run
from ..errors import NbtrackError
from ._common import guarded, requires

__all__ = ["Watch", "unwatch", "watch"]

_LOG = {"gradients": (True, False), "parameters": (False, True), "all": (True, True)}
_watches: dict[int, Watch] = {}  # id(model) -> its watch


class Watch:
    """The hooks :func:`watch` put on a model; :meth:`remove` takes them off."""

    def __init__(self, model: Any, log: str, log_freq: int, run: Any, histograms: bool) -> None:
        self.model = model
        self.log_freq = log_freq
        self.run = run
        self.histograms = histograms and _histogram_class() is not None
        self._handles: list[Any] = []
        self._calls: dict[str, int] = {}
        self._lock = threading.Lock()  # backward hooks may run on autograd's threads
        gradients, parameters = _LOG[log]
        if gradients:
            for name, param in model.named_parameters():
                if param.requires_grad:
                    self._handles.append(param.register_post_accumulate_grad_hook(self._gradient_hook(name)))
        if parameters:
            self._handles.append(model.register_forward_hook(self._forward_hook))

    def remove(self) -> None:
        """Stop logging: remove every hook (``unwatch(model)`` does this too)."""
        for handle in self._handles:
            handle.remove()
        self._handles.clear()
        if _watches.get(id(self.model)) is self:
            del _watches[id(self.model)]

    def _due(self, key: str) -> bool:
        with self._lock:
            calls = self._calls[key] = self._calls.get(key, 0) + 1
        return calls % self.log_freq == 0

    def _target(self) -> Any:
        run = self.run if self.run is not None else _run.active_run()
        return None if run is None or run._finished else run

    def _gradient_hook(self, name: str) -> Any:
        @guarded("torch watch gradients")
        def hook(param: Any) -> None:
            run = self._target()
            if run is not None and param.grad is not None and self._due(f"g:{name}"):
                run.log(self._summaries(f"gradients/{name}", param.grad), commit=False)

        return hook

    @guarded("torch watch parameters")
    def _forward_hook(self, module: Any, inputs: Any, output: Any) -> None:
        run = self._target()
        if run is None or not self._due("forward"):
            return
        values: dict[str, Any] = {}
        for name, param in module.named_parameters():
            values.update(self._summaries(f"parameters/{name}", param))
        run.log(values, commit=False)

    def _summaries(self, key: str, tensor: Any) -> dict[str, Any]:
        """A histogram and the norm; without histograms, norm, mean and std as numbers."""
        data = tensor.detach()
        out: dict[str, Any] = {f"{key}/norm": float(data.norm())}
        if self.histograms:
            histogram = _histogram_class()
            out[key] = histogram(data.float().cpu().numpy())
        else:
            out[f"{key}/mean"] = float(data.mean())
            out[f"{key}/std"] = float(data.std(unbiased=False))
        return out


def _histogram_class() -> Any:
    import nbtrack

    try:
        return nbtrack.Histogram
    except (AttributeError, ImportError):  # a core without rich values: numbers only
        return None


def watch(model: Any, log: str = "gradients", log_freq: int = 100, *, run: Any = None,
          histograms: bool = True) -> Watch:
    """Log per-layer gradients and/or parameters of ``model`` every ``log_freq`` calls.

    Points go to ``run``, or to whichever run is active when they are taken (a
    ``%%track`` cell's, or one from ``nbtrack.init``); with no run active nothing is
    logged. They are logged with ``commit=False``, so they share the step of your
    next ``nbtrack.log`` call. Keys: ``gradients/<param>`` (a histogram) and
    ``gradients/<param>/norm``; ``parameters/...`` likewise. With
    ``histograms=False`` (or a core without ``nbtrack.Histogram``) you get
    ``/norm``, ``/mean`` and ``/std`` numbers instead of the histogram.

    Parameters
    ----------
    log
        ``"gradients"`` (after each backward), ``"parameters"`` (after each forward of
        ``model``) or ``"all"``.
    log_freq
        Log every ``log_freq``-th backward (per parameter) or forward pass.

    Example
    -------
    >>> from nbtrack.integrations.torch import watch  # doctest: +SKIP
    >>> watch(model, log="all", log_freq=50)          # doctest: +SKIP
    """
    requires("torch", "torch", "nbtrack.integrations.torch.watch")
    if log not in _LOG:
        raise NbtrackError(f"watch: log must be 'gradients', 'parameters' or 'all'; got {log!r}")
    if isinstance(log_freq, bool) or not isinstance(log_freq, int) or log_freq < 1:
        raise NbtrackError(f"watch: log_freq must be a positive integer; got {log_freq!r}")
    if not hasattr(model, "named_parameters"):
        raise NbtrackError(f"watch needs a torch.nn.Module; got {type(model).__name__}")
    unwatch(model)  # watching twice would log everything twice
    handle = Watch(model, log, log_freq, run, histograms)
    _watches[id(model)] = handle
    return handle


def unwatch(model: Any = None) -> None:
    """Remove the hooks :func:`watch` put on ``model`` (on every watched model if None)."""
    targets = list(_watches.values()) if model is None else [w for w in [_watches.get(id(model))] if w]
    for handle in targets:
        handle.remove()
