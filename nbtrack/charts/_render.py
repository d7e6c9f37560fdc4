"""Still pictures (SVG, PNG) drawn by vl-convert, in a helper process while a kernel has live views.

vl-convert holds the GIL while it draws, and its first drawing in a process starts its
JavaScript runtime (about 0.5 s; measured: a Python thread spinning beside it ran at 1 %
of its speed, and a 1 ms ticker thread ticked once in a 1.9 s PNG). In a kernel, that stops
the user's code: the panel's picture at the end of a cell, the compare widget's picture on
each change; and a drawing that never returns would hold the process for good, past
Ctrl-C, timeouts and every other thread. So pictures are drawn in a helper process
(:mod:`._render_worker`, run by path: a plain subprocess, so nothing of the user's
``__main__`` runs again, nothing is forked from a process's threads, and it imports
vl-convert alone), one at a time, each waited for with a deadline. In JupyterLab the
server starts it (:func:`warm_shared`, run with the kernel's Python) as a notebook that
loads nbtrack gets its kernel; else a kernel's first live view starts it early, so it
warms vl-convert on another core meanwhile; anywhere else (scripts, reports, the CLI) the
first picture starts one. Only where no helper can be
started, or after :func:`stop`, are pictures drawn in the calling process.

The helper is this user's, shared by their kernels over a Unix socket (in
``$XDG_RUNTIME_DIR/nbtrack`` or ``/tmp/nbtrack-<uid>``, a folder only they can enter; one
per Python environment and helper version), in a session of its own, so a restarted
kernel's first cell finds vl-convert warm (the warm-up is most of a short first cell's
cost). It exits once no kernel has been connected for ``NBTRACK_RENDER_IDLE_S`` seconds
(1,800 by default). Where no such socket can be had, and in every process that is not a
kernel, the process starts a helper of its own that speaks over its stdin and stdout and
exits with it.

A helper that cannot start, dies or hangs is given up, with one warning, and pictures are
drawn in-process from then on: no picture is lost to the helper.
"""

from __future__ import annotations

import atexit
import contextlib
import hashlib
import json
import os
import select
import socket
import stat
import struct
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

from ..errors import NbtrackError, warn_once
from . import _render_worker as worker
from ._render_worker import HEADER

__all__ = ["draw", "helper_pid", "start", "stop", "warm_shared"]

#: Seconds the helper may take to start and warm, and to draw one picture, before the
#: picture is drawn in-process instead.
TIMEOUT_S = 60.0
#: Seconds a kernel waits for a shared helper it started to listen, before it starts its own.
CONNECT_S = 10.0
_WORKER = Path(__file__).with_name("_render_worker.py")

_lock = threading.Lock()
_helper: _Helper | None = None
#: Set by :func:`stop` (and by a helper that failed): pictures are drawn in-process until
#: :func:`start`, not by a helper started for the next picture.
_in_process = False


class HelperFailed(Exception):
    """The helper process failed (not the spec): draw in-process."""


class HelperGone(HelperFailed):
    """The helper closed its end (it exited, or was killed): a new one can draw."""


#: Shared helpers this process started, kept so that they are reaped (no zombie, and no
#: ResourceWarning for a child still running when its Popen is collected).
_started: list[subprocess.Popen[bytes]] = []


class _Helper:
    """One kernel's line to a helper: this user's shared one (a socket) or its own (pipes)."""

    def __init__(self, fds: tuple[int, ...], close: Any, *, shared: bool) -> None:
        self.fds = fds  # to read from first, then to write to (the same for a socket)
        self._fd, self._out, self._close = fds[0], fds[-1], close
        for fd in set(fds):  # every wait below has the request's deadline, writes too
            os.set_blocking(fd, False)
        self.shared = shared
        self.ready = False
        self.pid: int | None = None

    @classmethod
    def own(cls) -> _Helper:
        """A helper of this kernel's, over its stdin and stdout; it exits with the kernel."""
        process = subprocess.Popen(
            [sys.executable, str(_WORKER)], stdin=subprocess.PIPE,
            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, close_fds=True)
        stdin, stdout = process.stdin, process.stdout
        assert stdin is not None and stdout is not None

        def close() -> None:
            for pipe in (stdin, stdout):
                with contextlib.suppress(OSError):
                    pipe.close()
            if process.poll() is None:
                process.kill()
            with contextlib.suppress(subprocess.TimeoutExpired):
                process.wait(timeout=5)

        return cls((stdout.fileno(), stdin.fileno()), close, shared=False)

    @classmethod
    def shared_one(cls) -> _Helper | None:
        """A line to this user's shared helper, started if none listens; ``None`` where no
        socket can be had."""
        path = socket_path()
        if path is None:
            return None
        conn = worker.connect(path)
        deadline = time.monotonic() + CONNECT_S
        for _ in range(2):  # twice: one that found an old helper leaving quits at once
            if conn is not None:
                break
            for process in [p for p in _started if p.poll() is not None]:
                _started.remove(process)
            # Its own session: a kernel's restart (which kills the kernel's process group)
            # leaves it for the next kernel. No end of any pipe of ours, and the socket's
            # folder as its working folder: it holds nothing of this kernel's.
            process = subprocess.Popen(
                [sys.executable, str(_WORKER), "--socket", path], stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, close_fds=True,
                start_new_session=True, cwd=os.path.dirname(path))
            _started.append(process)
            while conn is None and time.monotonic() < deadline and process.poll() is None:
                time.sleep(0.02)
                conn = worker.connect(path)
            conn = conn or worker.connect(path)  # it quit: another helper listens there
        if conn is None:
            raise OSError(f"no picture helper listened at {path}")

        def close() -> None:
            with contextlib.suppress(OSError):
                conn.close()

        return cls((conn.fileno(),), close, shared=True)

    def request(self, kind: str, payload: bytes) -> Any:
        deadline = time.monotonic() + TIMEOUT_S
        if not self.ready:
            self._read(self._fd, deadline)  # b"r": warm
            self.ready = True
        self._write(struct.pack(">I", len(payload)) + payload, deadline)
        status, body = self._read(self._fd, deadline)
        if status == b"e":
            raise ValueError(body.decode("utf-8", "replace"))
        return body.decode("utf-8") if kind == "svg" else body

    def _read(self, fd: int, deadline: float) -> tuple[bytes, bytes]:
        header = self._exactly(fd, HEADER.size, deadline)
        status, length = HEADER.unpack(header)
        body = self._exactly(fd, length, deadline)
        if status == b"r":
            self.pid = int(body)
        return status, body

    def _write(self, data: bytes, deadline: float) -> None:
        """All of ``data``, by the deadline (a helper that stopped reading would otherwise
        hold the kernel once the request outgrows the pipe's or socket's buffer)."""
        view, poller = memoryview(data), select.poll()
        poller.register(self._out, select.POLLOUT)
        while view:
            wait = deadline - time.monotonic()
            if wait <= 0 or not poller.poll(wait * 1000):
                raise HelperFailed(f"it took no picture within {TIMEOUT_S:.0f} s")
            try:
                view = view[os.write(self._out, view):]
            except BlockingIOError:
                continue
            except OSError as exc:  # a broken pipe, a reset socket: it went
                raise HelperGone(f"it went ({exc!r})") from None

    def _exactly(self, fd: int, size: int, deadline: float) -> bytes:
        chunks, left = [], size
        poller = select.poll()  # not select(): a kernel may hold more than 1,024 descriptors
        poller.register(fd, select.POLLIN)
        while left:
            wait = deadline - time.monotonic()
            if wait <= 0 or not poller.poll(wait * 1000):
                raise HelperFailed(f"no answer within {TIMEOUT_S:.0f} s")
            try:
                chunk = os.read(fd, left)
            except BlockingIOError:
                continue
            except OSError as exc:  # a socket reset by a helper that went
                raise HelperGone(f"it went ({exc!r})") from None
            if not chunk:
                raise HelperGone("it exited")
            chunks.append(chunk)
            left -= len(chunk)
        return b"".join(chunks)

    def close(self) -> None:
        self._close()


def socket_path() -> str | None:
    """Where this user's shared helper for this Python environment listens, or ``None``
    (no Unix sockets here, ``NBTRACK_RENDER_SHARED=0``, or no folder only this user enters).

    Example
    -------
    >>> socket_path()  # doctest: +SKIP
    '/run/user/1000/nbtrack/render-3f2a9c0b1d4e.sock'
    """
    if not hasattr(socket, "AF_UNIX") or os.environ.get("NBTRACK_RENDER_SHARED") == "0":
        return None
    runtime = os.environ.get("XDG_RUNTIME_DIR")
    folder = (Path(runtime) / "nbtrack" if runtime and os.path.isdir(runtime)
              else Path(tempfile.gettempdir()) / f"nbtrack-{os.getuid()}")
    try:
        folder.mkdir(mode=0o700, exist_ok=True)
        info = folder.lstat()
    except OSError:
        return None
    if not stat.S_ISDIR(info.st_mode) or info.st_uid != os.getuid() or info.st_mode & 0o077:
        return None  # not a folder of this user's alone: another could answer in the helper's place
    try:
        from importlib.metadata import version

        drawer = version("vl-convert-python")
    except Exception:
        drawer = "?"
    key = hashlib.sha1(b"\0".join([sys.executable.encode(), _WORKER.read_bytes(), drawer.encode()]))
    path = str(folder / f"render-{key.hexdigest()[:12]}.sock")
    return path if len(os.fsencode(path)) < 100 else None  # a socket's path: 107 bytes at most


def start() -> None:
    """Start the helper process, which warms vl-convert at once (returns at once; once per
    process; again after :func:`stop`).

    Example
    -------
    >>> start()  # doctest: +SKIP
    """
    global _in_process
    with _lock:
        _in_process = False
        _start(shared=True)


def _start(*, shared: bool) -> None:
    """A helper in ``_helper`` (this user's shared one if ``shared`` and one can be had, else
    one of this process's own), under ``_lock``; one warning and in-process drawing if none."""
    global _helper, _in_process
    if _helper is not None:
        return
    try:
        _helper = (shared and _shared_or_none()) or _Helper.own()
    except OSError as exc:
        _in_process = True
        warn_once("render-helper", f"nbtrack could not start its picture helper process "
                  f"({exc!r}); pictures are drawn in this process")


def warm_shared() -> bool:
    """Start this user's shared helper for this Python environment if none listens (it warms
    vl-convert at once) and let go of it; whether one listens. JupyterLab's nbtrack server
    extension runs this with a kernel's Python as a notebook that uses nbtrack gets its
    kernel, so that kernel's first live cell finds vl-convert warm (0.4-0.5 s of a short
    first cell's cost otherwise). The helper leaves after its idle time, as ever.

    Example
    -------
    >>> warm_shared()  # doctest: +SKIP
    True
    """
    helper = _shared_or_none()
    if helper is None:
        return False
    helper.close()
    return True


def _shared_or_none() -> _Helper | None:
    """A line to the shared helper; ``None`` where there is none to be had (the caller starts
    a helper of the kernel's own)."""
    try:
        return _Helper.shared_one()
    except OSError:
        return None


def stop() -> None:
    """Stop the helper; pictures are drawn in-process until :func:`start` is called again."""
    global _helper, _in_process
    with _lock:
        helper, _helper, _in_process = _helper, None, True
        if helper is not None:
            helper.close()


atexit.register(stop)


@atexit.register
def _leave_running() -> None:
    """The shared helpers this process started serve other kernels after it: marked as let go
    (else each one's Popen warns, at exit, that it is still running)."""
    for process in _started:
        if process.poll() is None:
            process.returncode = 0


def _forget_in_child() -> None:
    """After ``os.fork()``: the parent's helper and lock are not the child's (a lock held by
    another of the parent's threads would never be released here), and the child lets go of
    the helper's pipes or socket (else a child that outlives a killed kernel keeps the helper
    alive)."""
    global _lock, _helper, _forked
    helper, _helper, _lock, _forked = _helper, None, threading.Lock(), True
    if helper is not None:
        # Pointed at /dev/null rather than closed: a write the fork cut in two must not be
        # flushed into the helper, and a later close of these objects must not hit a reused fd.
        with contextlib.suppress(OSError):
            null = os.open(os.devnull, os.O_RDWR)
            for fd in helper.fds:
                os.dup2(null, fd)
            os.close(null)


#: Whether this process is a fork (a DataLoader worker, say): vl-convert, if the parent ever
#: drew in-process, hangs in it, so it draws through a helper (see :func:`draw`).
_forked = False

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
    global _forked, _in_process
    with _lock:
        if _helper is None and (_forked or not _in_process):
            # A kernel's is shared; a script's is its own, gone with it. A fork's child asks
            # for one even where its parent draws in-process (vl-convert would hang in it).
            _forked = False
            _start(shared=_in_kernel())
        for attempt in range(3):
            helper = _helper
            payload = _payload(kind, spec, scale) if helper is not None else None
            if helper is None or payload is None:
                break
            try:
                return helper.request(kind, payload)
            except HelperFailed as exc:
                _drop(helper)
                # It left (its idle time) or was killed: a new one draws. Once more where the
                # next line went before it said ready (to one still dying).
                again = attempt == 0 or (attempt == 1 and not helper.ready)
                if again and helper.shared and isinstance(exc, HelperGone) and _another_shared():
                    continue
                _in_process = True
                until = ("until a live cell starts another" if _in_kernel()
                         else "from now on")  # a script has no live cell to start one
                warn_once("render-helper", f"nbtrack's picture helper process failed ({exc}); "
                          f"pictures are drawn in this process {until}")
                break
            except ValueError:
                raise  # vl-convert's answer about the spec: the helper is fine
            except BaseException:
                # Interrupted (Ctrl-C) between a request and its answer: that answer would be
                # read as the next picture's. This line goes; the next live cell opens one.
                _drop(helper)
                raise
    return _draw(kind, spec, scale)


def _in_kernel() -> bool:
    """Whether this process is a Jupyter kernel (whose helper is shared with its restarts)."""
    if "IPython" not in sys.modules:  # a script: not even IPython's import
        return False
    from ..widgets import _kernel_shell

    return _kernel_shell() is not None


def _another_shared() -> bool:
    """A new line to the shared helper (one started if none listens), in ``_helper``."""
    global _helper
    _helper = _shared_or_none()
    return _helper is not None


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
