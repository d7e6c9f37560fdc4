"""Errors raised by nbtrack and the warn-once channel for failures inside a user's run.

API misuse raises an :class:`NbtrackError` whose message says what happened, the
offending value and what to do. Failures inside nbtrack while the user's code is
running (a full disk, a locked store) never raise into that code: they are reported
once per kind through :func:`warn_once` and tracking carries on as far as it can.
"""

from __future__ import annotations

import os
import sys
import threading
import warnings

__all__ = ["MetricValueError", "NbtrackError", "NbtrackWarning", "StoreBusy", "StoreError", "warn_once"]


class NbtrackError(Exception):
    """Root of every error nbtrack raises on purpose."""


class MetricValueError(NbtrackError, TypeError):
    """A value passed to ``log`` cannot be stored as a metric."""


class StoreError(NbtrackError):
    """The store could not be opened, locked or read."""


class StoreBusy(StoreError):
    """Another process held the store's lock for longer than the caller would wait."""


class NbtrackWarning(UserWarning):
    """Something went wrong inside nbtrack; the user's code keeps running."""


_warned: set[str] = set()
_warned_lock = threading.Lock()


def _after_fork_in_child() -> None:
    global _warned_lock
    _warned_lock = threading.Lock()  # a parent's thread may have held it at the fork


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_after_fork_in_child)


def warn_once(kind: str, message: str) -> bool:
    """Warn about ``kind`` the first time only; return whether a warning was issued.

    Example
    -------
    >>> warn_once("disk-full", "nbtrack: could not write ...")  # doctest: +SKIP
    """
    with _warned_lock:
        if kind in _warned:
            return False
        _warned.add(kind)
    warn(message)
    return True


def warn(message: str) -> None:
    """Issue an :class:`NbtrackWarning` that can never raise into the caller."""
    try:
        warnings.warn(message, NbtrackWarning, stacklevel=2)
    except Exception:
        # Warnings turned into errors must not turn a tracking problem into a crash
        # of the user's code (or of the writer thread): say it on stderr instead.
        print(f"NbtrackWarning: {message}", file=sys.stderr)


def reset_warnings() -> None:
    """Forget which warnings were given (tests, and a fresh store after ``settings``)."""
    with _warned_lock:
        _warned.clear()
