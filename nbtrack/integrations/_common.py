"""What every integration shares: the run it logs to, and never breaking training."""

from __future__ import annotations

import argparse
import dataclasses
import functools
import sys
import traceback
from collections.abc import Callable, Mapping
from typing import Any, TypeVar

from .. import _run
from ..errors import NbtrackError, warn_once

__all__ = ["RunSlot", "flatten", "guarded", "plain_params", "requires"]

F = TypeVar("F", bound=Callable[..., Any])


def requires(module: str, pip: str, what: str) -> Any:
    """Import ``module`` or raise an :class:`NbtrackError` naming the pip command."""
    from importlib import import_module

    try:
        return import_module(module)
    except ImportError as exc:
        raise NbtrackError(f"{what} needs {module!r} ({exc}); install it with: pip install {pip}") from None


def guarded(kind: str) -> Callable[[F], F]:
    """Run a framework hook so that an nbtrack failure warns once instead of raising.

    Training code calls these hooks; tracking problems must never stop it.
    """

    def decorate(hook: F) -> F:
        @functools.wraps(hook)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            try:
                return hook(*args, **kwargs)
            except Exception as exc:
                warn_once(f"integration:{kind}",
                          f"nbtrack ({kind}) could not record this ({exc!r}); training goes on")
                return None

        return wrapper  # type: ignore[return-value]

    return decorate


class RunSlot:
    """The run an integration logs to: the active one (joined) or one of its own.

    A joined run (a ``%%track`` cell's, or one from ``nbtrack.init``) is left to its
    owner. An own run is started on first use and finished by :meth:`finish`; using
    the slot again afterwards starts a fresh run with the same settings.
    """

    def __init__(self, name: str | None = None, project: str | None = None,
                 config: Any = None, **init_kw: Any) -> None:
        self.name = name
        self.project = project
        self.config = dict(flatten(config)) if config is not None else None
        self.init_kw = init_kw
        self.run: _run.Run | None = None
        self.own = False

    def get(self) -> _run.Run:
        """The run to log to now, starting one when none is active."""
        if self.run is not None and not self.run._finished:
            return self.run
        active = _run.active_run()
        if active is not None and not active._finished:
            self.run, self.own = active, False
            if self.config:
                active.config.update(self.config)
        else:
            self.run = _run.init(self.name, project=self.project, config=self.config, **self.init_kw)
            self.own = True
        return self.run

    def current(self) -> _run.Run:
        """The run logged to last, even when finished; else the one to log to now."""
        return self.run if self.run is not None else self.get()

    def finish(self, status: str = "finished") -> None:
        """Finish the run if this slot started it; a joined run is left to its owner."""
        run = self.run
        if run is None or not self.own or run._finished:
            return
        error = None
        if status != "finished":
            exc = sys.exc_info()[1]
            if exc is not None:  # called while the framework handles the training's error
                error = "".join(traceback.format_exception(type(exc), exc, exc.__traceback__))
                if isinstance(exc, KeyboardInterrupt):
                    status = "interrupted"
        run.finish(status, error)


def flatten(params: Any, prefix: str = "", sep: str = ".") -> dict[str, Any]:
    """Hyperparameters as one flat dict: Namespaces and dataclasses open, nested keys joined.

    Example
    -------
    >>> flatten({"model": {"depth": 2}, "lr": 0.1})
    {'model.depth': 2, 'lr': 0.1}
    """
    if isinstance(params, argparse.Namespace):
        params = vars(params)
    elif dataclasses.is_dataclass(params) and not isinstance(params, type):
        params = dataclasses.asdict(params)
    if not isinstance(params, Mapping):
        if prefix:
            return {prefix: params}
        raise NbtrackError(
            f"hyperparameters must be a dict or argparse.Namespace; got {type(params).__name__}")
    out: dict[str, Any] = {}
    for key, value in params.items():
        name = f"{prefix}{sep}{key}" if prefix else str(key)
        if isinstance(value, (Mapping, argparse.Namespace)) and value:
            out.update(flatten(value, name, sep))
        else:
            out[name] = value
    return out


def plain_params(params: Mapping[str, Any]) -> dict[str, Any]:
    """Only the values a config can hold as they are: numbers, text, booleans, None."""
    return {k: v for k, v in params.items() if v is None or isinstance(v, (bool, int, float, str))}
