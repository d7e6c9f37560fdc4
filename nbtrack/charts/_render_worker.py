"""The picture helper process of :mod:`nbtrack.charts._render`, run by path (``python
_render_worker.py``): it imports vl-convert and nothing of nbtrack, so it starts quickly.

Protocol, per connection, one request at a time: in, a 4-byte big-endian length and a JSON
object ``{"kind": "svg" | "png", "scale": float, "spec": {...} | "<svg ..."}``; out, a 1-byte
status (``r`` ready, with the process id; ``o`` the picture, UTF-8 SVG or PNG bytes; ``e``
vl-convert's error message), a 4-byte length and the body.

Two ways to run: ``python _render_worker.py`` serves its stdin and stdout and exits when its
stdin closes (one kernel's own helper); ``python _render_worker.py --socket PATH`` serves every
kernel of this user that connects to the Unix socket ``PATH`` (mode 0600 in a 0700 folder)
and exits once no kernel has been connected for ``NBTRACK_RENDER_IDLE_S`` seconds (1,800
by default), so a restarted kernel finds vl-convert warm.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import struct
import sys
import threading
import time
from collections.abc import Callable
from typing import Any

HEADER = struct.Struct(">cI")
#: Drawn once at the start: a picture's shape (title lines, layers, an area, a concatenation),
#: so the first real picture does not pay for vl-convert's first compile of each (0.24 s
#: against 0.12 s after a one-point warm-up). The shared helper draws it after that warm-up,
#: unless a kernel has asked for a picture by then.
WARM_SPEC = {
    "title": {"text": "warm", "subtitle": ["a", "b"]},
    "vconcat": [{"hconcat": [{
        "data": {"values": [{"step": 0, "value": 1.0, "min": 0.5, "max": 1.5},
                            {"step": 1, "value": 2.0, "min": 1.5, "max": 2.5}]},
        "layer": [{"mark": {"type": "line", "clip": True},
                   "encoding": {"x": {"field": "step", "type": "quantitative"},
                                "y": {"field": "value", "type": "quantitative"}}},
                  {"mark": {"type": "area", "opacity": 0.15},
                   "encoding": {"x": {"field": "step", "type": "quantitative"},
                                "y": {"field": "min", "type": "quantitative"}, "y2": {"field": "max"}}}],
        "title": "loss", "width": 100, "height": 60}]},
        {"data": {"values": [{"gauge": "CPU", "fraction": 0.5}]},
         "layer": [{"mark": "bar", "encoding": {"x": {"field": "fraction", "type": "quantitative"},
                                                "y": {"field": "gauge", "type": "nominal"}}},
                   {"mark": {"type": "text", "dx": 6}, "encoding": {"text": {"field": "gauge"}}}]}],
}


def draw(kind: str, spec: dict[str, Any] | str, scale: float) -> Any:
    """A Vega-Lite spec (a dict) as SVG or PNG; an SVG (a string) as PNG."""
    import vl_convert as vlc

    if isinstance(spec, str):
        return _smaller(vlc.svg_to_png(spec, scale=scale))
    if kind == "svg":
        return vlc.vegalite_to_svg(spec)
    return vlc.vegalite_to_png(spec, scale=scale)


def _smaller(png: bytes) -> bytes:
    """``png`` in 256 colours when that is smaller (a run's picture: 158 KB to 13 KB, 0.07 s),
    for the PNG that rides beside a picture's SVG in every saved notebook."""
    import io

    try:
        from PIL import Image

        image = Image.open(io.BytesIO(png))
        out = io.BytesIO()
        image.quantize(colors=256, method=Image.Quantize.FASTOCTREE).save(out, format="PNG", optimize=True)
    except Exception:  # no Pillow, or an image it cannot read: the PNG as drawn
        return png
    return out.getvalue() if out.tell() < len(png) else png


def _answer_requests(read: Callable[[int], bytes], write: Callable[[bytes], None],
                     drawing: threading.Lock, asked: threading.Event | None = None) -> None:
    """Say ready, then draw each request read until the other end closes (setting ``asked``
    at the first)."""

    def answer(status: bytes, body: bytes) -> None:
        write(HEADER.pack(status, len(body)) + body)

    answer(b"r", str(os.getpid()).encode())
    while True:
        head = read(4)
        if len(head) < 4:
            return
        body = read(struct.unpack(">I", head)[0])
        if asked is not None:
            asked.set()
        try:
            request = json.loads(body)
            with drawing:  # one picture at a time (vl-convert holds the GIL anyway)
                picture = draw(request["kind"], request["spec"], request["scale"])
        except Exception as exc:  # the spec's fault: the caller gets it as in-process
            answer(b"e", str(exc).encode("utf-8", "replace"))
            continue
        answer(b"o", picture.encode("utf-8") if isinstance(picture, str) else picture)


def serve() -> None:
    """Warm vl-convert, say so, then draw each spec read from stdin until EOF."""
    # Ctrl-C in a terminal signals the whole process group, this helper too: the script
    # that caught its KeyboardInterrupt still wants its pictures. Its EOF ends this one.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    stdin, stdout = sys.stdin.buffer, sys.stdout.buffer

    def write(data: bytes) -> None:
        stdout.write(data)
        stdout.flush()

    draw("svg", WARM_SPEC, 1.0)
    _answer_requests(stdin.read, write, threading.Lock())


def _read_exactly(conn: socket.socket) -> Callable[[int], bytes]:
    def read(size: int) -> bytes:
        chunks, left = [], size
        while left:
            chunk = conn.recv(min(left, 1 << 20))
            if not chunk:
                break
            chunks.append(chunk)
            left -= len(chunk)
        return b"".join(chunks)

    return read


def connect(path: str) -> socket.socket | None:
    """A connection to the helper listening at ``path``, or ``None`` when none does."""
    conn = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        conn.connect(path)
    except OSError:
        conn.close()
        return None
    return conn


def listening_pid(path: str, timeout: float = 10.0) -> int | None:
    """The process id of the helper listening at ``path``, from its ready answer (which
    comes once it has warmed vl-convert's runtime), or ``None`` when none answers within
    ``timeout`` seconds. For tests and benchmarks that stop the helpers they started."""
    conn = connect(path)
    if conn is None:
        return None
    with conn:
        conn.settimeout(timeout)
        try:
            read = _read_exactly(conn)
            status, length = HEADER.unpack(read(HEADER.size))
            return int(read(length)) if status == b"r" else None
        except (OSError, ValueError, struct.error):
            return None


def _bind(path: str) -> socket.socket | None:
    """The listening socket at ``path``, or ``None`` when another helper serves there. Under
    a lock beside it: two kernels starting helpers at once leave one."""
    import fcntl  # here: the stdin-and-stdout helper runs where there is none

    with open(path + ".lock", "a") as guard:
        fcntl.flock(guard, fcntl.LOCK_EX)
        if os.path.exists(path):
            probe = connect(path)
            if probe is not None:
                probe.close()
                return None  # alive: that one serves
            os.unlink(path)  # left by a helper that was killed
        server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        old = os.umask(0o177)
        try:
            server.bind(path)
        finally:
            os.umask(old)
        server.listen(64)
        return server


def serve_socket(path: str, idle_s: float) -> None:
    """Serve every connection to ``path`` until none has been open for ``idle_s`` seconds."""
    # A kill(1) takes the socket along: held back until the code that removes it runs.
    signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGTERM})
    server = _bind(path)
    if server is None:
        return
    identity = os.stat(path).st_ino
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    try:
        signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGTERM})
        _serve_connections(server, idle_s)
    finally:
        with contextlib.suppress(OSError):
            if os.stat(path).st_ino == identity:  # not a newer helper's socket
                os.unlink(path)
        server.close()


def _serve_connections(server: socket.socket, idle_s: float) -> None:
    # Connections wait in the backlog meanwhile: vl-convert's runtime first (0.37-0.40 s),
    # then the picture-shaped warm-up (0.1 s more) in the background, unless a kernel asked
    # for a picture already (a short first cell: its picture pays for its shapes itself and
    # comes 0.08 s sooner; measured, 3 runs each).
    draw("svg", {"mark": "point"}, 1.0)
    drawing, count, asked = threading.Lock(), threading.Lock(), threading.Event()
    state = {"open": 0, "last": time.monotonic()}

    def warm_shapes() -> None:
        if not asked.wait(0.05):
            with drawing:
                draw("svg", WARM_SPEC, 1.0)

    threading.Thread(target=warm_shapes, daemon=True).start()

    def handle(conn: socket.socket) -> None:
        try:
            _answer_requests(_read_exactly(conn), conn.sendall, drawing, asked)
        except OSError:
            pass  # the kernel went mid-answer
        finally:
            conn.close()
            with count:
                state["open"] -= 1
                state["last"] = time.monotonic()

    server.settimeout(min(1.0, idle_s))
    while True:
        try:
            conn, _ = server.accept()
        except TimeoutError:
            with count:
                if state["open"] == 0 and time.monotonic() - state["last"] >= idle_s:
                    return  # a kernel connecting meanwhile finds it gone and starts another
            continue
        conn.settimeout(None)
        with count:
            state["open"] += 1
        threading.Thread(target=handle, args=(conn,), daemon=True).start()


if __name__ == "__main__":
    if len(sys.argv) == 3 and sys.argv[1] == "--socket":
        serve_socket(sys.argv[2], float(os.environ.get("NBTRACK_RENDER_IDLE_S") or 1800))
    else:
        serve()
