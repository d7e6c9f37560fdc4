"""IPython front-end: ``%load_ext nbtrack`` registers the ``%%track`` cell magic."""

from __future__ import annotations

from typing import Any

from .track import load, unload

__all__ = ["load", "unload"]


def _ipython_shell() -> Any:
    from IPython import get_ipython

    return get_ipython()
