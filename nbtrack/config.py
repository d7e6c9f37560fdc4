"""A run's config: a mapping with attribute access, shaped like ``wandb.config``."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, MutableMapping
from typing import Any

from .errors import NbtrackError, warn_once
from .values import jsonable

__all__ = ["Config", "ConfigProxy"]


class Config(MutableMapping[str, Any]):
    """The hyperparameters of one run.

    Values are stored as JSON-ready copies (tuples become lists, numpy scalars
    Python numbers, other objects their ``repr``).

    Example
    -------
    >>> cfg = Config({"lr": 0.1})
    >>> cfg.update(epochs=3); cfg.lr, cfg["epochs"]
    (0.1, 3)
    """

    def __init__(
        self, values: Mapping[str, Any] | None = None, on_change: Callable[[], None] | None = None
    ) -> None:
        object.__setattr__(self, "_data", {})
        object.__setattr__(self, "_on_change", None)
        object.__setattr__(self, "_locked", frozenset())
        if values:
            self.update(values)
        object.__setattr__(self, "_on_change", on_change)

    def __getitem__(self, key: str) -> Any:
        return self._data[key]

    def __setitem__(self, key: str, value: Any) -> None:
        if not isinstance(key, str) or not key:
            raise NbtrackError(f"config keys must be non-empty strings; got {key!r}")
        value = jsonable(value)
        if key in self._locked:
            if value != self._data.get(key):
                warn_once(f"config-locked:{key}",
                          f"nbtrack: config key {key!r} is set by the sweep ({self._data.get(key)!r}); "
                          f"the new value {value!r} is ignored, as in W&B. Change the sweep's "
                          "parameters to train with other values")
            return
        self._data[key] = value
        if self._on_change is not None:
            self._on_change()

    def __delitem__(self, key: str) -> None:
        del self._data[key]
        if self._on_change is not None:
            self._on_change()

    def __iter__(self) -> Iterator[str]:
        return iter(self._data)

    def __len__(self) -> int:
        return len(self._data)

    def __getattr__(self, name: str) -> Any:
        try:
            return self._data[name]
        except KeyError:
            raise AttributeError(f"config has no key {name!r}") from None

    def __setattr__(self, name: str, value: Any) -> None:
        self[name] = value

    def update(self, *args: Any, allow_val_change: bool | None = None, **kwargs: Any) -> None:
        """Add or change several keys; also accepts an ``argparse.Namespace``.

        ``allow_val_change`` is W&B's; nbtrack always lets a value change, so it changes
        nothing (and never becomes a key).
        """
        if len(args) == 1 and hasattr(args[0], "__dict__") and not isinstance(args[0], Mapping):
            args = (vars(args[0]),)
        on_change = self._on_change
        object.__setattr__(self, "_on_change", None)
        try:
            for key, value in dict(*args, **kwargs).items():
                self[key] = value
        finally:
            object.__setattr__(self, "_on_change", on_change)
        if on_change is not None:
            on_change()

    def setdefaults(self, defaults: Mapping[str, Any]) -> None:
        """Set the keys of ``defaults`` this config does not have yet (W&B's ``setdefaults``).

        Example
        -------
        >>> cfg = Config({"lr": 0.1}); cfg.setdefaults({"lr": 1.0, "epochs": 3}); cfg.as_dict()
        {'lr': 0.1, 'epochs': 3}
        """
        self.update({k: v for k, v in dict(defaults).items() if k not in self._data})

    def fill(self, defaults: Mapping[str, Any]) -> None:
        """Like :meth:`setdefaults`, and into nested dicts too: a sweep trial's
        ``init(config=defaults)`` fills in what the sweep does not set."""
        merged = _fill(self._data, jsonable(dict(defaults)))
        changed = {k: v for k, v in merged.items() if self._data.get(k) != v}
        for key in changed:
            if not isinstance(key, str) or not key:
                raise NbtrackError(f"config keys must be non-empty strings; got {key!r}")
        self._data.update(changed)  # past the lock: a default fills a locked dict's gaps
        if changed and self._on_change is not None:
            self._on_change()

    def _lock(self, keys: Any) -> None:
        """Keys whose value stays put (a sweep's): later writes warn once and are ignored."""
        object.__setattr__(self, "_locked", self._locked | frozenset(keys))

    def as_dict(self) -> dict[str, Any]:
        return dict(self._data)

    def __repr__(self) -> str:
        return f"Config({self._data!r})"


def _fill(values: dict[str, Any], defaults: dict[str, Any]) -> dict[str, Any]:
    out = dict(values)
    for key, default in defaults.items():
        if key not in out:
            out[key] = default
        elif isinstance(out[key], dict) and isinstance(default, dict):
            out[key] = _fill(out[key], default)
    return out


class ConfigProxy(MutableMapping[str, Any]):
    """``nbtrack.config``: the active run's config, or an empty mapping with no run."""

    def __init__(self, active: Callable[[], Any]) -> None:
        object.__setattr__(self, "_active", active)

    def _config(self, writing: bool) -> Config:
        run = self._active()
        if run is None:
            if writing:
                raise NbtrackError(
                    "nbtrack.config has no active run to write to: call nbtrack.init() "
                    "first or use it inside a %%track cell"
                )
            return Config()
        config: Config = run.config
        return config

    def __getitem__(self, key: str) -> Any:
        return self._config(False)[key]

    def __setitem__(self, key: str, value: Any) -> None:
        self._config(True)[key] = value

    def __delitem__(self, key: str) -> None:
        del self._config(True)[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self._config(False))

    def __len__(self) -> int:
        return len(self._config(False))

    def __getattr__(self, name: str) -> Any:
        if name.startswith("_"):
            raise AttributeError(name)
        return getattr(self._config(False), name)

    def __setattr__(self, name: str, value: Any) -> None:
        # config.lr = 0.01 goes to the active run, never onto this module-level object.
        self._config(True)[name] = value

    def __delattr__(self, name: str) -> None:
        del self._config(True)[name]

    def update(self, *args: Any, allow_val_change: bool | None = None, **kwargs: Any) -> None:
        self._config(True).update(*args, **kwargs)

    def setdefaults(self, defaults: Mapping[str, Any]) -> None:
        self._config(True).setdefaults(defaults)

    def as_dict(self) -> dict[str, Any]:
        return self._config(False).as_dict()

    def __repr__(self) -> str:
        run = self._active()
        if run is None:
            return "<nbtrack.config: no active run>"
        return f"<nbtrack.config of {run.name!r}: {self.as_dict()!r}>"
