"""Still pictures (SVG, PNG) drawn by vl-convert, in a helper process while a kernel has live views.

vl-convert holds the GIL while it draws, and its first drawing in a process starts its
JavaScript runtime (about 0.5 s; measured: a Python thread spinning beside it ran at 1 %
of its speed). In a kernel, that stops the user's code: the panel's picture at the end of
a cell, the compare widget's picture on each change. So a kernel that shows a live view
starts one helper process (:mod:`._render_worker`, run by path: a plain subprocess, so
nothing of the user's ``__main__`` runs again, nothing is forked from a kernel's threads,
and it imports vl-convert alone), which warms vl-convert at once on another core; every
picture is drawn there, one at a time, specs in and pictures out over its stdin and
stdout. Without it (scripts, reports, tests, the CLI) pictures are drawn in the calling
process as before.

A helper that cannot start, dies or hangs is given up, with one warning, and pictures are
drawn in-process from then on: no picture is lost to the helper. It exits when its kernel
does (its stdin closes).
"""

from __future__ import annotations

import atexit
import contextlib
import json
import os
import select
import struct
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import IO, Any

from ..errors import NbtrackError, warn_once
from . import _render_worker as worker
from ._render_worker import HEADER

__all__ = ["draw", "helper_pid", "start", "stop"]

#: Seconds the helper may take to start and warm, and to draw one picture, before the
#: picture is drawn in-process instead.
TIMEOUT_S = 60.0
_WORKER = Path(__file__).with_name("_render_worker.py")

_lock = threading.Lock()
_helper: _Helper | None = None


class HelperFailed(Exception):
    """The helper process failed (not the spec): draw in-process."""


class _Helper:
    def __init__(self) -> None:
        self.process = subprocess.Popen(
            [sys.executable, str(_WORKER)], stdin=subprocess.PIPE,
            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, close_fds=True)
        self.ready = False
        self.pid: int | None = None

    def request(self, kind: str, payload: bytes) -> Any:
        stdin, stdout = self.process.stdin, self.process.stdout
        assert stdin is not None and stdout is not None
        deadline = time.monotonic() + TIMEOUT_S
        if not self.ready:
            self._read(stdout, deadline)  # b"r": warm
            self.ready = True
        try:
            stdin.write(struct.pack(">I", len(payload)) + payload)
            stdin.flush()
        except OSError as exc:
            raise HelperFailed(f"could not send it a picture ({exc!r})") from None
        status, body = self._read(stdout, deadline)
        if status == b"e":
            raise ValueError(body.decode("utf-8", "replace"))
        return body.decode("utf-8") if kind == "svg" else body

    def _read(self, stdout: IO[bytes], deadline: float) -> tuple[bytes, bytes]:
        header = self._exactly(stdout, HEADER.size, deadline)
        status, length = HEADER.unpack(header)
        body = self._exactly(stdout, length, deadline)
        if status == b"r":
            self.pid = int(body)
        return status, body

    def _exactly(self, stdout: IO[bytes], size: int, deadline: float) -> bytes:
        chunks, left, fd = [], size, stdout.fileno()
        poller = select.poll()  # not select(): a kernel may hold more than 1,024 descriptors
        poller.register(fd, select.POLLIN)
        while left:
            wait = deadline - time.monotonic()
            if wait <= 0 or not poller.poll(wait * 1000):
                raise HelperFailed(f"no answer within {TIMEOUT_S:.0f} s")
            chunk = os.read(fd, left)
            if not chunk:
                raise HelperFailed(f"it exited (code {self.process.poll()})")
            chunks.append(chunk)
            left -= len(chunk)
        return b"".join(chunks)

    def close(self) -> None:
        for pipe in (self.process.stdin, self.process.stdout):
            with contextlib.suppress(OSError):
                if pipe is not None:
                    pipe.close()
        if self.process.poll() is None:
            self.process.kill()
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.process.wait(timeout=5)


def start() -> None:
    """Start the helper process, which warms vl-convert at once (returns at once; once per
    process; again after :func:`stop`).

    Example
    -------
    >>> start()  # doctest: +SKIP
    """
    global _helper
    with _lock:
        if _helper is not None:
            return
        try:
            _helper = _Helper()
        except OSError as exc:
            warn_once("render-helper", f"nbtrack could not start its picture helper process "
                      f"({exc!r}); pictures are drawn in the kernel")


def stop() -> None:
    """Stop the helper; pictures are drawn in-process until :func:`start` is called again."""
    global _helper
    with _lock:
        helper, _helper = _helper, None
        if helper is not None:
            helper.close()


atexit.register(stop)


def _forget_in_child() -> None:
    """After ``os.fork()``: the parent's helper and lock are not the child's (a lock held by
    another of the parent's threads would never be released here), and the child lets go of
    the helper's pipes (else a child that outlives a killed kernel keeps the helper alive)."""
    global _lock, _helper
    helper, _helper, _lock = _helper, None, threading.Lock()
    if helper is not None:
        # Pointed at /dev/null rather than closed: a write the fork cut in two must not be
        # flushed into the helper, and a later close of these objects must not hit a reused fd.
        with contextlib.suppress(OSError):
            null = os.open(os.devnull, os.O_RDWR)
            for pipe in (helper.process.stdin, helper.process.stdout):
                if pipe is not None:
                    os.dup2(null, pipe.fileno())
            os.close(null)


os.register_at_fork(after_in_child=_forget_in_child)


def helper_pid() -> int | None:
    """The helper's process id once it has answered, else ``None``."""
    helper = _helper
    return helper.pid if helper is not None else None


def draw(kind: str, spec: dict[str, Any] | str, *, scale: float = 1.0) -> Any:
    """``spec`` (Vega-Lite, a dict) as an SVG string (``kind="svg"``) or PNG bytes (``"png"``);
    an SVG drawn already (a string) as PNG bytes.

    Example
    -------
    >>> draw("svg", {"mark": "point"})[:4]  # doctest: +SKIP
    '<svg'
    """
    if kind not in ("svg", "png") or (isinstance(spec, str) and kind != "png"):
        raise ValueError(f"kind must be 'svg' or 'png' (an SVG string: 'png'); got {kind!r}")
    with _lock:
        helper = _helper
        payload = _payload(kind, spec, scale) if helper is not None else None
        if helper is not None and payload is not None:  # a forked child has none: _forget_in_child
            try:
                return helper.request(kind, payload)
            except HelperFailed as exc:
                warn_once("render-helper", f"nbtrack's picture helper process failed ({exc}); "
                          "pictures are drawn in the kernel from now on")
                _drop(helper)
            except ValueError:
                raise  # vl-convert's answer about the spec: the helper is fine
            except BaseException:
                # Interrupted (Ctrl-C) between a request and its answer: that answer would be
                # read as the next picture's. This helper goes; the next live cell starts one.
                _drop(helper)
                raise
    return _draw(kind, spec, scale)


def _payload(kind: str, spec: dict[str, Any] | str, scale: float) -> bytes | None:
    """The request for the helper; ``None`` for a spec JSON cannot carry (drawn in-process).
    NaN travels as JSON's NaN token, which the helper reads back (vl-convert draws it
    in-process too)."""
    try:
        return json.dumps({"kind": kind, "scale": scale, "spec": spec}).encode()
    except (TypeError, ValueError):
        return None


def _drop(helper: _Helper) -> None:
    global _helper
    if _helper is helper:
        _helper = None
    helper.close()


def _draw(kind: str, spec: dict[str, Any] | str, scale: float) -> Any:
    try:
        import vl_convert  # noqa: F401
    except ImportError:
        raise NbtrackError("still charts need vl-convert: pip install vl-convert-python") from None
    return worker.draw(kind, spec, scale)
