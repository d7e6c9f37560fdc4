"""Heavy modules for the logging path, imported on first use and kept.

An ``import`` statement inside a function takes the module's import lock every time
it runs (Python 3.11 does so even for a module already loaded), and a process forked
while another thread holds that lock inherits it held: a DataLoader worker forked
while nbtrack's writer thread imports numpy would hang at its first log. So the
logging path imports through here: once, under a lock that ``os.fork`` waits for.

The live panel's warm-up threads (:func:`nbtrack.widgets.warm_up`) imports its heavy modules
(anywidget, Altair, pandas) through :func:`warm_import`, under a second lock that a fork
waits for too; it is taken before the first, never after, so the two cannot deadlock.
"""

from __future__ import annotations

import importlib
import os
import threading
from typing import Any

__all__ = ["numpy", "warm_import"]

_modules: dict[str, Any] = {}
_importing = threading.Lock()
_warming = threading.Lock()


def numpy() -> Any:
    """The ``numpy`` module."""
    module = _modules.get("numpy")
    if module is None:
        with _importing:
            module = _modules.get("numpy") or importlib.import_module("numpy")
            _modules["numpy"] = module
    return module


def warm_import(name: str) -> Any:
    """Import ``name`` (a module and what it imports) in a background thread, fork-safely:
    a fork in another thread waits until this import is done."""
    with _warming:
        return importlib.import_module(name)


def _before_fork() -> None:
    _warming.acquire()
    _importing.acquire()


def _after_fork() -> None:
    _importing.release()
    _warming.release()


if hasattr(os, "register_at_fork"):
    # A fork waits for an import under way to finish, so no child inherits it half done;
    # the forking thread holds the lock across the fork, and both sides let it go.
    os.register_at_fork(before=_before_fork, after_in_parent=_after_fork, after_in_child=_after_fork)
