"""Heavy modules for the logging path, imported on first use and kept.

An ``import`` statement inside a function takes the module's import lock every time
it runs (Python 3.11 does so even for a module already loaded). A process forked
while one of nbtrack's threads is in such a statement inherits the lock held, and
its first log would wait forever: so the logging path imports through here, once.
"""

from __future__ import annotations

import importlib
from typing import Any

__all__ = ["numpy"]

_modules: dict[str, Any] = {}


def numpy() -> Any:
    """The ``numpy`` module."""
    module = _modules.get("numpy")
    if module is None:
        module = _modules["numpy"] = importlib.import_module("numpy")
    return module
