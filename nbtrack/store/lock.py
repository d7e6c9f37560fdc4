"""An advisory file lock shared by every process that opens the store.

DuckDB lets one process hold a file read-write and then refuses every other
process, readers included. So nobody keeps the file open: writers open, write
and close under an exclusive ``flock``; readers open read-only under a shared one.
``flock`` locks are dropped by the kernel when a process dies, so a ``kill -9``
never leaves the store locked.
"""

from __future__ import annotations

import errno
import fcntl
import os
import time

from ..errors import StoreError

__all__ = ["acquire", "release"]


def acquire(path: str, *, shared: bool, timeout: float) -> int:
    """Take the lock at ``path`` and return its file descriptor.

    Polls with a short, growing sleep rather than blocking, so a caller can give up
    after ``timeout`` seconds with a clear error instead of hanging forever behind a
    process that is stopped in a debugger.
    """
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    mode = (fcntl.LOCK_SH if shared else fcntl.LOCK_EX) | fcntl.LOCK_NB
    deadline = time.monotonic() + timeout
    delay = 0.001
    while True:
        try:
            fcntl.flock(fd, mode)
            return fd
        except OSError as exc:
            if exc.errno not in (errno.EAGAIN, errno.EACCES, errno.EWOULDBLOCK):
                os.close(fd)
                raise
        if time.monotonic() >= deadline:
            os.close(fd)
            raise StoreError(
                f"the nbtrack store lock {path} has been held by another process for "
                f"{timeout:.0f} s; a process may be stuck holding it. Raise "
                "nbtrack.settings(lock_timeout=...) or stop that process."
            )
        time.sleep(delay)
        # Short sleeps: a writer waiting behind another's one-transaction hold should
        # get in as soon as it is free (sweep workers finishing together queue here).
        delay = min(delay * 2, 0.005)


def release(fd: int) -> None:
    try:
        fcntl.flock(fd, fcntl.LOCK_UN)
    finally:
        os.close(fd)
