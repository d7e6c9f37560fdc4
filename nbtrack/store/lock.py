"""An advisory file lock shared by every process that opens the store.

DuckDB lets one process hold a file read-write and then refuses every other
process, readers included. So nobody keeps the file open: folds and management
writes open, write and close under an exclusive ``flock``; readers open read-only
under a shared one. ``flock`` locks are dropped by the kernel when a process dies,
so a ``kill -9`` never leaves the store locked. Logging never takes this lock (see
:mod:`nbtrack.store.journal`).
"""

from __future__ import annotations

import errno
import fcntl
import os
import time

from ..errors import StoreBusy, StoreError, warn

__all__ = ["acquire", "holders", "release", "try_acquire"]

#: Seconds of waiting for the lock after which a warning names who holds it.
WARN_AFTER = 1.0
_BUSY = (errno.EAGAIN, errno.EACCES, errno.EWOULDBLOCK)


def _open(path: str, shared: bool) -> int | None:
    """The lock file's descriptor; None for a reader on a read-only file system.

    Nobody can write a store on a read-only file system, so its readers need no lock.
    """
    try:
        return os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    except OSError as exc:
        if not shared or exc.errno not in (errno.EROFS, errno.EACCES, errno.EPERM):
            raise StoreError(f"cannot open the store lock {path}: {exc.strerror}") from None
    try:
        return os.open(path, os.O_RDONLY)
    except OSError:
        return None


def try_acquire(path: str, *, shared: bool) -> int | None:
    """Take the lock if it is free right now: its descriptor, or None when it is held."""
    fd = _open(path, shared)
    if fd is None:
        return -1
    try:
        fcntl.flock(fd, (fcntl.LOCK_SH if shared else fcntl.LOCK_EX) | fcntl.LOCK_NB)
        return fd
    except OSError as exc:
        os.close(fd)
        if exc.errno in _BUSY:
            return None
        raise


def acquire(path: str, *, shared: bool, timeout: float) -> int:
    """Take the lock at ``path`` and return its file descriptor.

    Polls with a short, growing sleep rather than blocking, so a caller can give up
    after ``timeout`` seconds with a clear error instead of hanging forever behind a
    process that is stopped in a debugger. Past :data:`WARN_AFTER` seconds it warns
    once, naming the processes that hold the lock.
    """
    fd = _open(path, shared)
    if fd is None:
        return -1
    mode = (fcntl.LOCK_SH if shared else fcntl.LOCK_EX) | fcntl.LOCK_NB
    started = time.monotonic()
    deadline = started + timeout
    delay = 0.001
    warned = False
    while True:
        try:
            fcntl.flock(fd, mode)
            return fd
        except OSError as exc:
            if exc.errno not in _BUSY:
                os.close(fd)
                raise
        now = time.monotonic()
        if now >= deadline:
            os.close(fd)
            raise StoreBusy(
                f"the nbtrack store lock {path} has been held by another process for "
                f"{timeout:.0f} s ({holders(path)}); a process may be stuck holding it. Raise "
                "nbtrack.settings(lock_timeout=...) or stop that process."
            )
        if not warned and now - started >= WARN_AFTER:
            warned = True
            warn(f"nbtrack has waited {now - started:.1f} s to {'read' if shared else 'write'} the "
                 f"store: its lock {path} is held by {holders(path)}; waiting up to {timeout:g} s")
        time.sleep(delay)
        # Short sleeps: a writer waiting behind another's one-transaction hold should
        # get in as soon as it is free.
        delay = min(delay * 2, 0.005)


def release(fd: int) -> None:
    if fd < 0:
        return
    try:
        fcntl.flock(fd, fcntl.LOCK_UN)
    finally:
        os.close(fd)


def holders(path: str) -> str:
    """Who holds the lock, from the kernel's lock table: 'pid 123 (python train.py)'."""
    try:
        inode = os.stat(path).st_ino
        with open("/proc/locks") as f:
            table = f.read().splitlines()
    except OSError:
        return "another process"
    found = []
    for line in table:
        parts = line.split()
        # "1: FLOCK  ADVISORY  WRITE 1234 08:01:5678 0 EOF"; blocked waiters start with "->"
        if (len(parts) >= 6 and parts[1] == "FLOCK" and "->" not in parts[:2]
                and parts[5].rsplit(":", 1)[-1] == str(inode) and parts[4] != str(os.getpid())):
            found.append(f"pid {parts[4]} ({_command(parts[4])}, {parts[3].lower()})")
    return ", ".join(dict.fromkeys(found)) or "another process"


def _command(pid: str) -> str:
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            text = f.read().replace(b"\0", b" ").decode(errors="replace")
    except OSError:
        return "?"
    return " ".join(text.split())[:80] or "?"
