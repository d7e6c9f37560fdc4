"""Heavy modules for the logging path, imported on first use and kept.

An ``import`` statement inside a function takes the module's import lock every time
it runs (Python 3.11 does so even for a module already loaded), and a process forked
while another thread holds that lock inherits it held: a DataLoader worker forked
while nbtrack's writer thread imports numpy would hang at its first log. So the
logging path imports through here: once, under a lock that ``os.fork`` waits for.
"""

from __future__ import annotations

import importlib
import os
import threading
from typing import Any

__all__ = ["numpy"]

_modules: dict[str, Any] = {}
_importing = threading.Lock()


def numpy() -> Any:
    """The ``numpy`` module."""
    module = _modules.get("numpy")
    if module is None:
        with _importing:
            module = _modules.get("numpy") or importlib.import_module("numpy")
            _modules["numpy"] = module
    return module


if hasattr(os, "register_at_fork"):
    # A fork waits for an import under way to finish, so no child inherits it half done;
    # the forking thread holds the lock across the fork, and both sides let it go.
    os.register_at_fork(before=_importing.acquire, after_in_parent=_importing.release,
                        after_in_child=_importing.release)
